"""The command line: subcommands, config loading, logging setup, errors mapped to exit codes.

Exit codes: 0 success, 1 thresholds or orders failed, 2 bad config or input.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import NoReturn, Protocol

from driver_agent import __version__
from driver_agent.core.config import Config, load_config
from driver_agent.core.errors import ConfigError
from driver_agent.core.logs import configure_logging
from driver_agent.geo.roadfile import BUNDLED, DEFAULT_MAP

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_BAD_INPUT = 2


class Command(Protocol):
    def add_arguments(self, parser: argparse.ArgumentParser) -> None: ...

    def run(self, args: argparse.Namespace) -> int: ...


# subcommand -> (module, help); modules are imported only when used.
COMMANDS: dict[str, tuple[str, str]] = {
    "demo": ("driver_agent.commands.demo", "run the demo fleet against the embedded sandbox"),
    "run": ("driver_agent.commands.run", "run a fleet of drivers (embedded sandbox or remote API)"),
    "sandbox": ("driver_agent.commands.sandbox", "serve the embedded Bringg sandbox on a port"),
    "bridge": ("driver_agent.commands.bridge", "run the telematics bridge daemon"),
    "roads": ("driver_agent.commands.roads", "build a road graph from OpenStreetMap, route on it"),
}


class ArgumentParser(argparse.ArgumentParser):
    """argparse that fails with exit code 2 and one line naming the bad flag."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_BAD_INPUT, f"{self.prog}: error: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    parser = ArgumentParser(
        prog="driver-agent",
        description="The driver's side of Bringg's fleet API: simulated drivers, load tests, "
        "a telematics bridge and an embedded sandbox.",
    )
    parser.add_argument("--version", action="version", version=f"driver-agent {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=ArgumentParser)
    for name, (module_name, help_text) in COMMANDS.items():
        module: Command = importlib.import_module(module_name)
        p = sub.add_parser(name, help=help_text, description=help_text)
        module.add_arguments(p)
        p.set_defaults(_module=module)
    return parser


def add_config_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--config", type=Path, metavar="FILE", help="TOML config file (see config.example.toml)"
    )


def add_map_arguments(parser: argparse._ActionsContainer) -> None:
    """`--map NAME` (a bundled road network) or `--road-network PATH` (one `driver-agent roads
    build` made): where the drivers drive and the sandbox's addresses lie (`run.road_network`)."""
    group = parser.add_mutually_exclusive_group()
    names = ", ".join(BUNDLED)
    group.add_argument(
        "--map",
        dest="road_network",
        metavar="NAME",
        choices=tuple(BUNDLED),
        help=f"a bundled road network: {names}; default {DEFAULT_MAP} (run.road_network)",
    )
    group.add_argument(
        "--road-network",
        dest="road_network",
        metavar="PATH",
        help="a road graph from `driver-agent roads build` (run.road_network)",
    )


def config_from_args(args: argparse.Namespace, overrides: dict[str, object]) -> Config:
    """Load the config file named by --config, the environment's secrets, then the flags."""
    config = load_config(getattr(args, "config", None), env=os.environ, overrides=overrides)
    configure_logging(config.log.level, config.log.format)
    return config


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    module: Command | None = getattr(args, "_module", None)
    if module is None:
        parser.print_help()
        return EXIT_BAD_INPUT
    try:
        return module.run(args)
    except ConfigError as exc:
        print(f"driver-agent: error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        return 130

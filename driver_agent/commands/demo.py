"""`driver-agent demo`: the embedded fleet with demo sizes, the command `make demo` runs."""

from __future__ import annotations

import argparse

from driver_agent.cli import add_config_argument, config_from_args
from driver_agent.commands.run import execute

DEMO = {"run.drivers": 20, "run.orders": 40, "run.speed": 60.0, "run.live_map": True}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_config_argument(parser)
    parser.add_argument("--report", metavar="DIR", help="where report.json/html go")


def run(args: argparse.Namespace) -> int:
    config = config_from_args(args, {**DEMO, "run.report_dir": args.report})
    return execute(config)

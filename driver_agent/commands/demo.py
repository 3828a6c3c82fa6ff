"""`driver-agent demo`: the embedded fleet with demo sizes, the command `make demo` runs."""

from __future__ import annotations

import argparse

from driver_agent.cli import add_config_argument, add_map_arguments, config_from_args
from driver_agent.commands.run import add_output_arguments, add_route_argument, execute

DEMO = {"run.drivers": 20, "run.orders": 40, "run.speed": 60.0, "run.live_map": True}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_config_argument(parser)
    parser.add_argument(
        "--report",
        metavar="DIR",
        help="where report.json/html, requests.csv, orders.csv, junit.xml go (run.report_dir)",
    )
    add_map_arguments(parser)
    add_route_argument(parser)
    add_output_arguments(parser)


def run(args: argparse.Namespace) -> int:
    overrides = {
        **DEMO,
        "run.report_dir": args.report,
        "run.road_network": args.road_network,
        "run.routes": args.routes,
    }
    config = config_from_args(args, overrides)
    return execute(config, summary_json=args.summary_json, quiet=args.quiet)

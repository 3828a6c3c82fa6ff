"""`driver-agent run`: a fleet of drivers against the embedded sandbox or a remote Bringg API."""

from __future__ import annotations

import argparse
import signal
import sys
from pathlib import Path

import anyio
import structlog

from driver_agent.cli import EXIT_OK, add_config_argument, add_map_arguments, config_from_args
from driver_agent.commands.fleetrun import RunResult, RunStopper, run_fleet, settle_collector
from driver_agent.core.clock import RealClock
from driver_agent.core.config import Config
from driver_agent.report.summary import render_summary

log = structlog.get_logger("driver_agent.run")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_config_argument(parser)
    parser.add_argument("--api-url", metavar="URL", help="Bringg API base URL (default: embedded)")
    parser.add_argument("--token-url", metavar="URL", help="OAuth2 token URL")
    parser.add_argument("--client-id", metavar="ID", help="the fleet's OAuth2 client id")
    parser.add_argument("--webhook-host", metavar="H", help="where the webhook receiver listens")
    parser.add_argument("--webhook-port", metavar="P", type=int, help="its port")
    parser.add_argument("--drivers", metavar="N", type=int, help="simulated drivers")
    parser.add_argument("--orders", metavar="N", type=int, help="orders to complete")
    parser.add_argument("--speed", metavar="X", type=float, help="simulated s per real s")
    parser.add_argument(
        "--ping-interval", metavar="S", type=float, help="location update interval (sim s)"
    )
    parser.add_argument("--seed", metavar="N", type=int, help="random seed")
    parser.add_argument(
        "--run-id", metavar="ID", help="in the created orders' ids (default: random per run)"
    )
    parser.add_argument("--duration", metavar="S", type=float, help="stop after S real seconds")
    parser.add_argument("--report", metavar="DIR", help="where report.json/html go")
    add_map_arguments(parser)
    parser.add_argument(
        "--live-map", action="store_true", default=None, help="serve a live map of the drivers"
    )


def overrides(args: argparse.Namespace) -> dict[str, object]:
    return {
        "api.api_url": args.api_url,
        "api.token_url": args.token_url,
        "api.client_id": args.client_id,
        "webhooks.host": args.webhook_host,
        "webhooks.port": args.webhook_port,
        "run.drivers": args.drivers,
        "run.orders": args.orders,
        "run.speed": args.speed,
        "driver.ping_interval_s": args.ping_interval,
        "run.seed": args.seed,
        "run.run_id": args.run_id,
        "run.duration_s": args.duration,
        "run.report_dir": args.report,
        "run.live_map": args.live_map,
        "run.road_network": args.road_network,
    }


def run(args: argparse.Namespace) -> int:
    config = config_from_args(args, overrides(args))
    return execute(config)


def execute(config: Config) -> int:
    result = anyio.run(_main, config)
    print(render_summary(result.report))
    print(f"report: {Path(result.html_path).resolve()}")
    if result.exit_code != EXIT_OK:
        why = "thresholds failed" if not result.report.passed else "orders failed"
        print(f"driver-agent: {why}", file=sys.stderr)
    return result.exit_code


async def _main(config: Config) -> RunResult:
    stopper = RunStopper()
    async with anyio.create_task_group() as tg:
        tg.start_soon(_signals, stopper)
        clock = RealClock(speed=config.run.speed)
        result = await run_fleet(config, clock, stopper=stopper, on_spawned=settle_collector)
        tg.cancel_scope.cancel()
    return result


async def _signals(stopper: RunStopper) -> None:
    with anyio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
        async for signum in signals:
            graceful = not stopper.graceful.is_set()
            log.warning(
                "stop_requested",
                signal=signal.Signals(signum).name,
                mode="graceful" if graceful else "now",
            )
            stopper.stop()

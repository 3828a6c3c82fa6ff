"""`driver-agent run`: a fleet of drivers against the embedded sandbox or a remote Bringg API."""

from __future__ import annotations

import argparse
import signal
import sys
from pathlib import Path

import anyio
import structlog

from driver_agent.cli import EXIT_OK, add_config_argument, add_map_arguments, config_from_args
from driver_agent.commands import distributed, preflight
from driver_agent.commands.fleetrun import RunResult, RunStopper, run_fleet
from driver_agent.core.clock import RealClock
from driver_agent.core.config import Config
from driver_agent.geo.roads import RoadNetwork
from driver_agent.report.exports import summary_line, write_exports
from driver_agent.report.summary import render_summary
from driver_agent.sim.routebook import RouteBook, load_routes

log = structlog.get_logger("driver_agent.run")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_config_argument(parser)
    api = parser.add_argument_group("the API (default: the embedded sandbox)")
    api.add_argument("--api-url", metavar="URL", help="Bringg API base URL (api.api_url)")
    api.add_argument("--token-url", metavar="URL", help="OAuth2 token URL (api.token_url)")
    api.add_argument(
        "--client-id", metavar="ID", help="the fleet's OAuth2 client id (api.client_id)"
    )
    api.add_argument(
        "--webhook-host", metavar="HOST", help="where the webhook receiver listens (webhooks.host)"
    )
    api.add_argument("--webhook-port", metavar="PORT", type=int, help="its port (webhooks.port)")
    fleet = parser.add_argument_group("the fleet")
    fleet.add_argument("--drivers", metavar="N", type=int, help="simulated drivers (run.drivers)")
    fleet.add_argument("--orders", metavar="N", type=int, help="orders to complete (run.orders)")
    fleet.add_argument(
        "--speed", metavar="X", type=float, help="simulated seconds per real second (run.speed)"
    )
    fleet.add_argument(
        "--ping-interval",
        metavar="S",
        type=float,
        help="location update interval, simulated s (driver.ping_interval_s)",
    )
    fleet.add_argument(
        "--ramp-up",
        metavar="N",
        type=float,
        help="drivers started per real second (run.ramp_up_per_s)",
    )
    fleet.add_argument(
        "--rate",
        metavar="N",
        type=float,
        help="cap on requests per real second, 0 = none (run.max_request_rate)",
    )
    add_profile_argument(fleet)
    fleet.add_argument("--seed", metavar="N", type=int, help="random seed (run.seed)")
    fleet.add_argument(
        "--run-id", metavar="ID", help="in the created orders' ids; default random (run.run_id)"
    )
    fleet.add_argument(
        "--duration", metavar="S", type=float, help="stop after S real seconds (run.duration_s)"
    )
    add_map_arguments(fleet)
    add_route_argument(fleet)
    output = parser.add_argument_group("output")
    output.add_argument(
        "--report",
        metavar="DIR",
        help="where report.json/html, requests.csv, orders.csv, junit.xml go (run.report_dir)",
    )
    output.add_argument(
        "--live-map",
        action="store_true",
        default=None,
        help="serve a live map of the drivers on loopback (run.live_map)",
    )
    add_output_arguments(output)
    workers = parser.add_argument_group(
        "more than one core (Ray: pip install 'driver-agent[ray]'; docs/distributed.md)"
    )
    workers.add_argument(
        "--workers",
        metavar="N",
        type=int,
        help="split the run across N Ray workers, one shard of the drivers each; 1 = one "
        "process, no Ray (distributed.workers)",
    )
    workers.add_argument(
        "--ray-address",
        metavar="ADDRESS",
        help="join this Ray cluster instead of starting one on this machine "
        "(distributed.ray_address)",
    )


def add_route_argument(parser: argparse._ActionsContainer) -> None:
    """`--route FILE`, repeatable, for `run` and `demo`."""
    parser.add_argument(
        "--route",
        dest="routes",
        action="append",
        metavar="FILE",
        help="a GPX/GeoJSON route, or a directory of them, the orders follow; repeatable "
        "(run.routes)",
    )


def add_profile_argument(parser: argparse._ActionsContainer) -> None:
    """`--profile`: whose drivers: a delivery provider's (the fleet API) or the customer's own
    (the developer API, seed 001)."""
    parser.add_argument(
        "--profile",
        metavar="NAME",
        choices=("fleet", "own-fleet"),
        help="fleet (a delivery provider's drivers, the default) or own-fleet (a Bringg "
        "customer's own drivers on the developer API) (api.profile)",
    )


def add_output_arguments(parser: argparse._ActionsContainer) -> None:
    """`--summary-json` and `--quiet`, for `run` and `demo`."""
    parser.add_argument(
        "--summary-json",
        action="store_true",
        help="print one JSON summary line on stdout (the table goes to stderr)",
    )
    parser.add_argument(
        "--quiet", action="store_true", help="no live status line while the run goes"
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
        "run.ramp_up_per_s": args.ramp_up,
        "run.max_request_rate": args.rate,
        "run.seed": args.seed,
        "run.run_id": args.run_id,
        "run.duration_s": args.duration,
        "run.report_dir": args.report,
        "run.live_map": args.live_map,
        "run.road_network": args.road_network,
        "run.routes": args.routes,
        "api.profile": args.profile.replace("-", "_") if args.profile else None,
        "distributed.workers": getattr(args, "workers", None),
        "distributed.ray_address": getattr(args, "ray_address", None),
    }


def run(args: argparse.Namespace) -> int:
    config = config_from_args(args, overrides(args))
    return execute(config, summary_json=args.summary_json, quiet=args.quiet)


def execute(config: Config, *, summary_json: bool = False, quiet: bool = False) -> int:
    """Preflight (exit 2 with one line on a mistake), the run, the report and exports."""
    routes = load_routes(config.run.routes)  # a bad route file: one line, exit 2, before the run
    network = preflight.check_run(config, embedded=preflight.is_embedded(config))
    try:
        if config.distributed.enabled:
            result = distributed.execute(config, network, routes, not quiet)
        else:
            result = anyio.run(_main, config, network, routes, not quiet)
    except BaseExceptionGroup as group:
        error = preflight.listen_error(group)
        if error is None:
            raise
        raise error from None
    report_dir = Path(config.run.report_dir)
    write_exports(result.report, report_dir)
    table = sys.stderr if summary_json else sys.stdout
    print(render_summary(result.report), file=table)
    print(f"report: {Path(result.html_path).resolve()}", file=table)
    if summary_json:
        print(summary_line(result.report, result.exit_code, report_dir.resolve()), flush=True)
    if result.exit_code != EXIT_OK:
        why = "thresholds failed" if not result.report.passed else "orders failed"
        print(f"driver-agent: {why}", file=sys.stderr)
    return result.exit_code


async def _main(
    config: Config, network: RoadNetwork, routes: RouteBook, show_progress: bool
) -> RunResult:
    stopper = RunStopper()
    async with anyio.create_task_group() as tg:
        tg.start_soon(_signals, stopper)
        clock = RealClock(speed=config.run.speed)
        result = await run_fleet(
            config,
            clock,
            stopper=stopper,
            settle_gc=True,
            network=network,
            routes=routes,
            show_progress=show_progress,
        )
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

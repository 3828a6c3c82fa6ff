"""`driver-agent run`, composed: sandbox (embedded mode), webhook receiver, client, fleet, report.

Embedded mode (no api_url): the sandbox starts in-process on loopback with its fleet webhook
pointed at our receiver; orders are created through its merchant side (Create Order and
Manhattan payloads) and reach the fleet as Delivery Created webhooks, the documented way.
Remote mode: the receiver listens where Bringg sends webhooks; with merchant credentials the
run also creates its own orders on the remote sandbox. The orders' external ids carry the seed
and a run id (`run.run_id`, random per run unless given: `da-<seed>-<run id>-00001`), so runs can
be repeated against one sandbox; the seed alone decides everything else.
"""

from __future__ import annotations

import random
import secrets
import sys
from collections.abc import Callable, Sequence
from contextlib import AsyncExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

import anyio
import msgspec
import structlog

from driver_agent.commands.collector import keep_settled, settle_collector
from driver_agent.commands.merchant_orders import create_orders
from driver_agent.commands.preflight import own_fleet_urls
from driver_agent.commands.runreport import build_run_report
from driver_agent.commands.runservices import open_run_services
from driver_agent.core.clock import Clock
from driver_agent.core.config import ApiConfig, Config
from driver_agent.core.serving import serve_app
from driver_agent.fleetapi.client import FleetClient, open_fleet_client
from driver_agent.fleetapi.devapi import DevApiClient, open_devapi_client
from driver_agent.fleetapi.webhooks import WebhookReceiver
from driver_agent.geo.roads import RoadNetwork
from driver_agent.metrics.stats import StatsCollector
from driver_agent.report.document import write_report
from driver_agent.report.livemap import create_live_map_app
from driver_agent.report.progress import ProgressView
from driver_agent.report.recorder import TrackRecorder
from driver_agent.report.run import RunReport
from driver_agent.sandbox.app import SandboxApp
from driver_agent.sim.context import DriverContext, DriverSpec
from driver_agent.sim.fleet import Fleet
from driver_agent.sim.navigator import Navigator
from driver_agent.sim.own_fleet import OwnFleetProfile
from driver_agent.sim.pacing import RatePacer
from driver_agent.sim.roster import driver_specs, proof_assets, relocator
from driver_agent.sim.routebook import RouteBook, load_routes

log = structlog.get_logger("driver_agent.run")


class RunStopper:
    """First `stop()`: graceful (no new orders, drivers finish or cancel); second: at once."""

    def __init__(self) -> None:
        self.graceful = anyio.Event()
        self.scope: anyio.CancelScope | None = None
        self.forced = False

    def stop(self) -> None:
        if not self.graceful.is_set():
            self.graceful.set()
            return
        self.forced = True
        if self.scope is not None:
            self.scope.cancel()


@dataclass
class RunResult:
    report: RunReport
    json_path: Path
    html_path: Path
    orders_expected: int
    outcomes: dict[str, int]
    driver_errors: int
    api_url: str = ""

    @property
    def orders_ok(self) -> bool:
        failed = sum(self.outcomes.get(k, 0) for k in ("failed", "not_started", "interrupted"))
        return failed == 0 and self.driver_errors == 0

    @property
    def exit_code(self) -> int:
        return 0 if self.report.passed and self.orders_ok else 1


def new_run_id() -> str:
    """A random run id (8 hex digits), from the OS: it must differ between runs of one seed."""
    return secrets.token_hex(4)


async def run_fleet(
    config: Config,
    clock: Clock,
    *,
    out: TextIO | None = None,
    stopper: RunStopper | None = None,
    show_progress: bool = True,
    on_sandbox: Callable[[SandboxApp, str], None] | None = None,
    settle_gc: bool = False,
    network: RoadNetwork | None = None,
    routes: RouteBook | None = None,
) -> RunResult:
    """Run the configured fleet to the end; write the report; return what happened. `network`:
    the road network the preflight loaded (loaded here when not given); `routes`: `run.routes`,
    likewise. `settle_gc`: keep the garbage collector out of a large fleet's way
    (`commands.collector`): the process owner's choice, as it changes the whole process's
    collector."""
    if not config.run.run_id:  # recorded in the report's config
        config = msgspec.structs.replace(
            config, run=msgspec.structs.replace(config.run, run_id=new_run_id())
        )
    if routes is None:
        routes = load_routes(config.run.routes)
    log.info("run_started", run_id=config.run.run_id, seed=config.run.seed)
    if network is None:
        network = RoadNetwork.load(config.run.road_network)
    stats, recorder = StatsCollector(), TrackRecorder()
    started_ms = clock.now_ms()
    started_real = clock.monotonic()
    async with open_run_services(config, clock, network, on_sandbox=on_sandbox) as services:
        api, rx, embedded = services.api, services.receiver, services.embedded
        stopper = stopper or RunStopper()
        own_urls = own_fleet_urls(config, services.sandbox_paths, api.api_url)
        async with AsyncExitStack() as stack:
            client, profile = await open_client(stack, config, api, clock, stats, own_urls)
            fleet = build_fleet(
                config, client, profile, clock, network, routes, stats, recorder,
                started_real, settle_collector if settle_gc else None,
            )  # fmt: skip
            if config.run.live_map:
                live_url = await services.task_group.start(
                    serve_app,
                    create_live_map_app(fleet, network),
                    "127.0.0.1",
                    config.run.live_map_port,
                )
                print(f"live map: {live_url}/", file=out or sys.stderr, flush=True)
            with anyio.CancelScope() as stopper.scope:
                await _drive(config, api, clock, network, fleet, rx, embedded, out, stopper,
                             show_progress, settle_gc)  # fmt: skip
            if stopper.forced:
                log.warning("run_forced_stop", interrupted=fleet.interrupted())
    progress = fleet.progress()
    report = build_run_report(
        config, clock, stats, recorder, network,
        embedded=embedded, started_ms=started_ms, started_real=started_real,
        drivers=progress.drivers_started, relocations=progress.relocations,
    )  # fmt: skip
    json_path, html_path = write_report(report, Path(config.run.report_dir))
    return RunResult(
        report, json_path, html_path, config.run.orders, dict(progress.outcomes),
        progress.driver_errors, api.api_url,
    )  # fmt: skip


async def open_client(
    stack: AsyncExitStack,
    config: Config,
    api: ApiConfig,
    clock: Clock,
    stats: StatsCollector,
    own_urls: dict[str, str] | None,
) -> tuple[FleetClient | DevApiClient, OwnFleetProfile | None]:
    """The fleet API's client, or the developer API's and its profile (`api.profile`); the
    client's resends and reconciliations count in this run's stats."""
    rng, retries = random.Random(f"{config.run.seed}:client"), stats.record_retry
    if own_urls is None:
        opened = open_fleet_client(api, clock, rng=rng, on_retry=retries)
        return await stack.enter_async_context(opened), None
    dev = await stack.enter_async_context(
        open_devapi_client(own_urls, api, clock, rng=rng, on_retry=retries)
    )
    return dev, OwnFleetProfile(dev, shift_length_s=config.own_fleet.shift_length_s)


def build_fleet(
    config: Config,
    client: FleetClient | DevApiClient,
    profile: OwnFleetProfile | None,
    clock: Clock,
    network: RoadNetwork,
    routes: RouteBook,
    stats: StatsCollector,
    recorder: TrackRecorder,
    started_real: float,
    on_spawned: Callable[[], None] | None,
    specs: Sequence[DriverSpec] | None = None,
) -> Fleet:
    """The run's fleet: `specs` (default: all `run.drivers` of the seed) with one context."""
    run = config.run
    ctx = DriverContext(
        client=client,
        clock=clock,
        stats=stats,
        navigator=Navigator(network, config.driver.geofence_radius_m, routes),
        config=config.driver,
        proof=proof_assets(),
        seed=run.seed,
        run_started_real=started_real,
        recorder=recorder,
        pacer=RatePacer(run.max_request_rate) if run.max_request_rate > 0 else None,
        profile=profile,
    )
    return Fleet(
        ctx,
        driver_specs(network, run.drivers, run.seed) if specs is None else specs,
        ramp_up_per_s=run.ramp_up_per_s,
        fail_fast=run.fail_fast,
        relocate_beyond_m=run.relocate_beyond_km * 1000.0,
        relocate=relocator(network),
        on_stop=run.on_stop,
        cancel_reason_id=config.driver.cancel_reason_id,
        on_spawned=on_spawned,
    )


async def _drive(
    config: Config,
    api: ApiConfig,
    clock: Clock,
    network: RoadNetwork,
    fleet: Fleet,
    rx: WebhookReceiver,
    embedded: bool,
    out: TextIO | None,
    stopper: RunStopper,
    show_progress: bool,
    settle_gc: bool,
) -> None:
    run = config.run
    creates_orders = embedded or bool(config.merchant.client_id)
    expected = run.orders
    ctx = fleet.context
    view = ProgressView(fleet, ctx.stats, clock, out or sys.stderr, ctx.run_started_real)
    try:
        async with anyio.create_task_group() as tg:
            if creates_orders:
                routes = ctx.navigator.routes.routes  # orders follow the run's recorded routes
                tg.start_soon(create_orders, config, api, clock, network, routes, fleet.expect)
            if run.duration_s > 0:
                tg.start_soon(_stop_after, clock, run.duration_s, fleet)
            tg.start_soon(_stop_on, stopper.graceful, fleet)
            if show_progress:
                tg.start_soon(view.run)
            if settle_gc:
                tg.start_soon(keep_settled, fleet, clock)
            await fleet.run(
                rx.receive_stream,
                expected_orders=expected if expected > 0 else None,
                hold_until_orders=expected if embedded else None,
            )
            tg.cancel_scope.cancel()
    finally:
        view.finish()


async def _stop_after(clock: Clock, duration_s: float, fleet: Fleet) -> None:
    await clock.sleep_real(duration_s)
    log.info("duration_reached", duration_s=duration_s)
    fleet.stop()


async def _stop_on(event: anyio.Event, fleet: Fleet) -> None:
    await event.wait()
    fleet.stop()

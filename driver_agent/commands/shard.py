"""One worker of a distributed run: a shard of the fleet in its own process (a Ray actor).

The head (`commands.distributed`) creates one `Shard` per worker with a `ShardPlan`: which of the
seed's drivers are its own, the API to call (the embedded sandbox's or Bringg's), its share of
the request rate, and the head's clocks so that every worker's simulated and real run time agree.
`run()` drives the shard's own `Fleet` (own event loop, HTTP pool, token, statistics) until the
head stops it, and returns a `ShardResult`: its statistics made portable, its map tracks and how
it ended. While it runs, the head calls `deliver()` with the orders routed to it and `poll()` for
a `ShardStatus` (its idle drivers' changes, its outcomes, its live figures); `stop()` is the
graceful stop, `stop(forced=True)` the immediate one. Ray calls these methods concurrently on the
actor's event loop; none of them blocks it.
"""

from __future__ import annotations

import itertools
import math
import os
import resource
import socket
from contextlib import AsyncExitStack
from dataclasses import dataclass, field

import anyio
import msgspec
import structlog

from driver_agent.commands.collector import keep_settled, settle_collector
from driver_agent.commands.fleetrun import build_fleet, open_client
from driver_agent.core.clock import RealClock, wall_time_s
from driver_agent.core.config import ApiConfig, Config
from driver_agent.core.logs import configure_logging
from driver_agent.fleetapi.webhook_payloads import WebhookEvent
from driver_agent.geo.roads import RoadNetwork
from driver_agent.metrics.histogram import Histogram
from driver_agent.metrics.stats import StatsCollector
from driver_agent.metrics.stats_merge import live_figures, portable
from driver_agent.report.recorder import TrackRecorder
from driver_agent.sim.fleet import Fleet, FleetProgress
from driver_agent.sim.roster import driver_specs
from driver_agent.sim.routebook import load_routes

log = structlog.get_logger("driver_agent.shard")


@dataclass(frozen=True)
class ShardPlan:
    index: int
    config: Config  # run.max_request_rate is already this shard's share
    api: ApiConfig  # resolved: the embedded sandbox's URL and client, or the configured API
    own_urls: dict[str, str] | None  # the developer API's services (own-fleet profile)
    first: int  # its drivers are the seed's drivers [first, first + count)
    count: int
    origin_wall_s: float  # the head's wall clock when the run began
    origin_sim_s: float  # the head's simulated clock then
    log_format: str = "json"  # the head's, resolved ("auto" is the head's terminal's choice)
    log_level: str = "info"


@dataclass
class ShardStatus:
    """What the head polls: changes since the last poll, running totals, and (on a live poll,
    once a second) the fleet's progress and the live figures."""

    index: int
    outcomes: dict[str, int] = field(default_factory=dict)  # orders ended so far, by outcome
    drivers_started: int = 0
    idle: list[tuple[str, float, float]] = field(default_factory=list)  # became idle, where
    busy: list[str] = field(default_factory=list)  # no longer idle
    progress: FleetProgress | None = None
    calls: int = 0
    errors: int = 0
    pings: int = 0
    worst_gap_s: float = 0.0
    latency_ms: dict[str, Histogram] = field(default_factory=dict)  # per endpoint

    @property
    def orders_final(self) -> int:
        return sum(self.outcomes.values())


@dataclass
class ShardResult:
    index: int
    node: str
    pid: int
    stats: StatsCollector
    recorder: TrackRecorder
    progress: FleetProgress
    cpu_s: float
    forced: bool


def shard_plans(
    config: Config,
    api: ApiConfig,
    own_urls: dict[str, str] | None,
    workers: int,
    origin_wall_s: float,
    origin_sim_s: float,
    log_format: str = "json",
    log_level: str = "info",
) -> list[ShardPlan]:
    """The fleet cut into `workers` contiguous slices of drivers, the rate cap shared evenly."""
    drivers = config.run.drivers
    rate = config.run.max_request_rate / workers
    run = msgspec.structs.replace(config.run, max_request_rate=rate)
    shared = msgspec.structs.replace(config, run=run)
    bounds = [drivers * i // workers for i in range(workers + 1)]
    first, count = bounds[:-1], [b - a for a, b in itertools.pairwise(bounds)]
    return [
        ShardPlan(
            i,
            shared,
            api,
            own_urls,
            first[i],
            count[i],
            origin_wall_s,
            origin_sim_s,
            log_format,
            log_level,
        )
        for i in range(workers)
    ]


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


class Shard:
    def __init__(self, plan: ShardPlan) -> None:
        self.plan = plan
        configure_logging(plan.log_level, plan.log_format, fields={"worker": plan.index + 1})
        self._send, self._receive = anyio.create_memory_object_stream[WebhookEvent](math.inf)
        self._fleet: Fleet | None = None
        self._stats: StatsCollector | None = None
        self._scope: anyio.CancelScope | None = None
        self._stop_requested = False
        self._forced = False

    def where(self) -> tuple[str, int]:
        """(host name, process id): what a report row shows of this worker."""
        return socket.gethostname(), os.getpid()

    async def run(self) -> ShardResult:
        """Drive the shard's drivers until the head stops them; the shard's result."""
        plan, config = self.plan, self.plan.config
        cpu_start = cpu_seconds()
        # this process's clocks, set on the head's: simulated and real run time agree
        late_s = max(wall_time_s() - plan.origin_wall_s, 0.0)
        clock = RealClock(config.run.speed, start=plan.origin_sim_s + late_s * config.run.speed)
        started_real = clock.monotonic() - late_s
        network = RoadNetwork.load(config.run.road_network)
        routes = load_routes(config.run.routes)
        specs = driver_specs(network, config.run.drivers, config.run.seed)
        specs = specs[plan.first : plan.first + plan.count]
        stats, recorder = StatsCollector(), TrackRecorder()
        self._stats = stats
        log.info("shard_started", shard=plan.index, drivers=len(specs), pid=os.getpid())
        async with AsyncExitStack() as stack:
            opened = open_client(stack, config, plan.api, clock, stats, plan.own_urls)
            client, profile = await opened
            fleet = build_fleet(
                config, client, profile, clock, network, routes, stats, recorder,
                started_real, settle_collector, specs,
            )  # fmt: skip
            self._fleet = fleet
            if self._stop_requested:
                fleet.stop()
            with anyio.CancelScope() as self._scope:
                if self._forced:
                    self._scope.cancel()
                async with anyio.create_task_group() as tg:
                    tg.start_soon(keep_settled, fleet, clock)
                    await fleet.run(self._receive)
                    tg.cancel_scope.cancel()
            if self._forced:
                interrupted = fleet.interrupted()
                log.warning("shard_forced_stop", shard=plan.index, interrupted=interrupted)
        host, pid = self.where()
        return ShardResult(
            plan.index, host, pid, portable(stats), recorder, fleet.progress(),
            cpu_seconds() - cpu_start, self._forced,
        )  # fmt: skip

    async def deliver(self, events: list[WebhookEvent]) -> None:
        """Webhook events the head routed here (orders, their updates and cancellations)."""
        for event in events:
            self._send.send_nowait(event)

    async def poll(self, live: bool = True) -> ShardStatus:
        """Idle drivers' changes since the last poll and the running totals; with `live` the
        progress and live figures too (they walk every driver: once a second, not every poll)."""
        status = ShardStatus(self.plan.index)
        fleet, stats = self._fleet, self._stats
        if fleet is None or stats is None:
            return status
        for driver_id, where in fleet.dispatcher.idle_changes().items():
            if where is None:
                status.busy.append(driver_id)
            else:
                status.idle.append((driver_id, *where))
        status.outcomes = dict(fleet.outcomes)
        status.drivers_started = len(fleet.drivers)
        if live:
            status.progress = fleet.progress()  # walks every driver (the busy count)
            figures = live_figures(stats)
            status.calls, status.errors, status.pings = figures.calls, figures.errors, figures.pings
            status.worst_gap_s, status.latency_ms = figures.worst_gap_s, figures.latency_ms
        return status

    async def stop(self, forced: bool = False) -> None:
        """Graceful: no new orders, drivers finish or cancel what they hold (`run.on_stop`);
        forced: at once, the orders in hand count as interrupted."""
        self._stop_requested = True
        if self._fleet is not None:
            self._fleet.stop()
        if forced:
            self._forced = True
            if self._scope is not None:
                self._scope.cancel()

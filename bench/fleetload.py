"""Workload (b) on the real driver lifecycle, one point per process: prints one `RESULT {json}`.

    python -m bench.fleetload busy --url URL --drivers 50000 --interval-s 30 --window-s 60
    python -m bench.fleetload idle --url URL --drivers 50000

`busy`: K real `Driver`s run by the real `Fleet` (one `DriverContext`: one `FleetClient` on the
builtin transport, a `RealClock` at speed 1.0, a `StatsCollector`, no recorder). Each gets one
order through a memory stream of `DeliveryCreated` events. Drivers spawn at K / P per second
(ramp-up over one interval, so their ticks spread evenly over P); each is relocated 50 km from
its pickup (the Fleet's own relocation, with `relocate_beyond_m=0`) and the navigator has no road
network, so the first leg is a straight 50 km drive: the measured window is driving + pinging.
Setup (spawn, assign_driver, start_task) is outside the window, which opens once every driver
has started its order (and `--settle-s` more).

Figures over the window: pings acknowledged; ping gaps as the stats collector counts them
(`record_ping` / `driver_busy`, on `reported_time`, i.e. the scheduled ticks, gaps > 30 s), and
as the API would see them arrive (acknowledgements of one driver more than 30 s apart, strict,
and more than 31 s); ping lateness from the scheduled tick (the stats' histogram: when the call
went out), delivery lateness (the stats' `update_driver_location` latency: tick to answer) and
the API latency alone (the client's `on_response`); client CPU per request (getrusage); RSS per
driver.

`idle`: K drivers spawned with no orders (each waits on its idle timer); RSS growth / K after
`gc.collect()`.

The collector is handled as `driver-agent run` does it (`commands.collector`; `--no-freeze` to
compare): `gc.collect(); gc.freeze()` once the Fleet has spawned its last driver (its
`on_spawned` hook), and `keep_settled` freezing again at each new high of busy drivers 1.5x the
last: at 50,000 drivers a full collection otherwise walks every driver's objects and stalls the
loop for over a second. Before the run did the second part, a one-time `--refreeze` settled it once
more when every driver has started its order (the legs and orders made since then are not
frozen otherwise: at 100,000 drivers a full collection in the window took 3.3 s).
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import random
import sys
import time
from typing import Any

import anyio

from bench.loadgen import api_config, cpu_s, rss_kb, summary_ms
from driver_agent.commands.collector import keep_settled, settle_collector
from driver_agent.core.clock import RealClock
from driver_agent.core.config import DriverConfig
from driver_agent.core.model import MAX_PING_GAP_S, Order, Stop, StopKind
from driver_agent.fleetapi.client import FleetClient
from driver_agent.fleetapi.webhook_payloads import DeliveryCreated, WebhookEvent
from driver_agent.geo.geometry import destination
from driver_agent.geo.nearest import CELL_DEG  # one driver per cell: the nearest search is O(1)
from driver_agent.metrics.histogram import Histogram
from driver_agent.metrics.stats import StatsCollector
from driver_agent.sim.context import DriverContext, DriverSpec
from driver_agent.sim.fleet import Fleet
from driver_agent.sim.navigator import Navigator
from driver_agent.sim.roster import proof_assets

GRID_COLUMNS = 500
LEG_M = 50_000.0  # relocation distance from the pickup: about an hour of straight driving
ARRIVAL_TOLERANCE_S = 1.0


class GcPauses:
    """Collector pauses by generation (gc.callbacks), counted while `measuring`."""

    def __init__(self) -> None:
        self.measuring = False
        self.pauses: dict[int, list[float]] = {}
        self._started = 0.0
        gc.callbacks.append(self._callback)

    def _callback(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._started = time.perf_counter()
        elif self.measuring:
            ms = (time.perf_counter() - self._started) * 1000.0
            self.pauses.setdefault(info["generation"], []).append(ms)

    def summary(self) -> dict[str, dict[str, float]]:
        return {
            f"gen{generation}": {
                "count": len(ms),
                "total_ms": round(sum(ms), 1),
                "max_ms": round(max(ms), 1),
            }
            for generation, ms in sorted(self.pauses.items())
        }


class WindowStats(StatsCollector):
    """The real collector, plus window-only copies of the figures the benchmark reports."""

    def __init__(self) -> None:
        super().__init__()
        self.started = 0
        self.measuring = False
        self.window_calls = 0
        self.window_errors = 0
        self.window_pings = 0
        self.window_gaps = 0
        self.window_max_gap_s = 0.0
        self.arrival_strict = 0
        self.arrival_tolerant = 0
        self.max_arrival_gap_s = 0.0
        self.ping_lateness_ms = Histogram()
        self.delivery_lateness_ms = Histogram()
        self._arrived: dict[str, float] = {}
        self.late_by_second: dict[int, float] = {}  # window second -> worst lateness over 100 ms
        self.window_started = 0.0

    def driver_busy(self, driver_id: str, busy: bool, at_ms: int | None = None) -> None:
        super().driver_busy(driver_id, busy, at_ms)
        if busy:
            self.started += 1

    def record_call(
        self,
        endpoint: str,
        latency_ms: float,
        error: str | None,
        at_s: float,
        status: int | None = None,
        message: str = "",
        order_id: int | None = None,
    ) -> None:
        super().record_call(endpoint, latency_ms, error, at_s, status, message, order_id)
        if self.measuring:
            self.window_calls += 1
            if error is not None:
                self.window_errors += 1
            elif endpoint == "update_driver_location":
                self.delivery_lateness_ms.record(latency_ms)

    def record_ping(self, driver_id: str, reported_time_ms: int, lateness_ms: float) -> None:
        super().record_ping(driver_id, reported_time_ms, lateness_ms)
        answered = time.monotonic()  # record_ping runs right after the answer arrived
        previous = self._arrived.get(driver_id)
        self._arrived[driver_id] = answered
        if not self.measuring:
            return
        self.window_pings += 1
        self.ping_lateness_ms.record(max(lateness_ms, 0.0))
        if lateness_ms > 100.0:
            second = int(answered - self.window_started)
            self.late_by_second[second] = max(self.late_by_second.get(second, 0.0), lateness_ms)
        if previous is not None:
            gap_s = answered - previous
            self.max_arrival_gap_s = max(self.max_arrival_gap_s, gap_s)
            if gap_s > MAX_PING_GAP_S:
                self.arrival_strict += 1
                if gap_s > MAX_PING_GAP_S + ARRIVAL_TOLERANCE_S:
                    self.arrival_tolerant += 1

    def _gap(self, driver: Any, last_ms: int, t_ms: int) -> None:
        before = driver.gaps_over_limit
        super()._gap(driver, last_ms, t_ms)
        if self.measuring:
            self.window_max_gap_s = max(self.window_max_gap_s, (t_ms - last_ms) / 1000.0)
            self.window_gaps += driver.gaps_over_limit - before

    def pending_over(self, now_ms: int, limit_s: float) -> int:
        """Busy drivers whose last acknowledged tick is more than `limit_s` before `now_ms`."""
        return sum(
            1
            for d in self._drivers.values()
            if d.busy and d.last_ms is not None and now_ms - d.last_ms > limit_s * 1000.0
        )

    def arrivals_pending_over(self, now: float, limit_s: float) -> int:
        return sum(1 for t in self._arrived.values() if now - t > limit_s)


def home(index: int) -> tuple[float, float]:
    """Driver `index`'s start: the middle of its own dispatcher cell, far from any road map."""
    row, column = divmod(index, GRID_COLUMNS)
    return 20.0 + (row + 0.5) * CELL_DEG, 10.0 + (column + 0.5) * CELL_DEG


def far_from_pickup(lat: float, lng: float, rng: random.Random) -> tuple[float, float]:
    """The Fleet's relocation hook: place the driver LEG_M north of the pickup."""
    return destination(lat, lng, 0.0, LEG_M)


def orders_for(count: int) -> list[Order]:
    orders = []
    for index in range(count):
        lat, lng = home(index)
        pickup = Stop(StopKind.PICKUP, lat + 0.001, lng)
        dropoff_lat, dropoff_lng = destination(lat, lng, 180.0, LEG_M)
        dropoff = Stop(StopKind.DROPOFF, dropoff_lat, dropoff_lng)
        orders.append(Order(1_000_000 + index, pickup, dropoff))
    return orders


def context(args: argparse.Namespace, stats: StatsCollector, api_latency: Histogram) -> Any:
    clock = RealClock(speed=1.0)
    config = api_config(args.url, "builtin", args.max_in_flight)

    def on_response(endpoint: str, status: int | None, latency_s: float) -> None:
        if endpoint == "update_driver_location" and getattr(stats, "measuring", False):
            api_latency.record(latency_s * 1000.0)

    client = FleetClient(
        config,
        clock,
        rng=random.Random(args.seed),
        on_response=on_response,
        on_retry=stats.record_retry,
    )
    driver_config = DriverConfig(
        ping_interval_s=args.interval_s, idle_ping_interval_s=args.idle_interval_s
    )
    ctx = DriverContext(
        client=client,
        clock=clock,
        stats=stats,
        navigator=Navigator(None),
        config=driver_config,
        proof=proof_assets(),
        seed=args.seed,
        run_started_real=clock.monotonic(),
    )
    return ctx


def freeze() -> None:
    """The Fleet's `on_spawned`, as `driver-agent run` does it (collector.settle_collector)."""
    settle_collector()


def specs_for(count: int) -> list[DriverSpec]:
    return [DriverSpec(f"drv-{i:06d}", "Bench Driver", *home(i)) for i in range(count)]


async def busy(args: argparse.Namespace) -> dict[str, Any]:
    stats = WindowStats()
    api_latency = Histogram()
    ctx = context(args, stats, api_latency)
    clock, client = ctx.clock, ctx.client
    await client.update_driver_location(user_external_id="warm-up", lat=20.0, lng=10.0)
    specs = specs_for(args.drivers)
    orders = orders_for(args.drivers)
    gc.collect()
    rss_before = rss_kb()
    ramp_up_per_s = args.drivers / args.interval_s
    fleet = Fleet(ctx, specs, ramp_up_per_s=ramp_up_per_s, relocate_beyond_m=0.0,
                  relocate=far_from_pickup, on_spawned=freeze if args.freeze else None)  # fmt: skip
    send, receive = anyio.create_memory_object_stream[WebhookEvent](len(orders))
    for order in orders:
        send.send_nowait(DeliveryCreated(order, {}))
    setup_started = time.monotonic()
    result: dict[str, Any] = {}
    async with anyio.create_task_group() as group:
        group.start_soon(fleet.run, receive)
        if args.freeze:  # as driver-agent run: freeze again as the fleet gets busy
            group.start_soon(keep_settled, fleet, clock)
        while stats.started < args.drivers:
            await anyio.sleep(0.2)
            if time.monotonic() - setup_started > args.interval_s * 4 + 120:
                raise RuntimeError(f"only {stats.started} of {args.drivers} drivers started")
        setup_s = time.monotonic() - setup_started
        await anyio.sleep(args.settle_s)
        rss_busy = rss_kb()
        pauses = GcPauses()
        stats.measuring = pauses.measuring = True
        cpu0, wall0 = cpu_s(), time.monotonic()
        stats.window_started = wall0
        await anyio.sleep(args.window_s)
        cpu1, wall1, now_ms = cpu_s(), time.monotonic(), clock.now_ms()
        stats.measuring = pauses.measuring = False
        pending_ticks = stats.pending_over(now_ms, MAX_PING_GAP_S + ARRIVAL_TOLERANCE_S)
        pending_arrivals = stats.arrivals_pending_over(wall1, MAX_PING_GAP_S)
        pending_tolerant = stats.arrivals_pending_over(wall1, MAX_PING_GAP_S + ARRIVAL_TOLERANCE_S)
        result["progress"] = {
            "drivers_busy": fleet.progress().drivers_busy,
            "driver_errors": fleet.driver_errors,
            "relocations": fleet.relocations,
        }
        group.cancel_scope.cancel()
    await client.aclose()
    cpu, wall = cpu1 - cpu0, wall1 - wall0
    requests = stats.window_calls
    pings = stats.window_pings
    expected = round(args.drivers * args.window_s / args.interval_s)
    lag_p99 = stats.ping_lateness_ms.percentile(99.0) if pings else 0.0
    result.update(
        drivers=args.drivers,
        interval_s=args.interval_s,
        window_s=args.window_s,
        setup_s=round(setup_s, 2),
        pings=pings,
        pings_expected=expected,
        requests=requests,
        errors=stats.window_errors,
        gaps_over_30s_reported=stats.window_gaps,
        max_gap_s_reported=round(stats.window_max_gap_s, 3),
        pending_over_31s_reported=pending_ticks,
        acks_over_30s_apart_strict=stats.arrival_strict,
        acks_over_31s_apart=stats.arrival_tolerant,
        max_ack_gap_s=round(stats.max_arrival_gap_s, 3),
        pending_acks_over_30s=pending_arrivals,
        pending_acks_over_31s=pending_tolerant,
        ping_lateness_ms=summary_ms(stats.ping_lateness_ms),
        delivery_lateness_ms=summary_ms(stats.delivery_lateness_ms),
        api_latency_ms=summary_ms(api_latency),
        cpu_s=round(cpu, 3),
        wall_s=round(wall, 3),
        cpu_share=round(cpu / wall, 3) if wall > 0 else 0.0,
        cpu_ms_per_10k=round(cpu * 1000.0 / requests * 10_000, 1) if requests else 0.0,
        requests_per_cpu_s=round(requests / cpu, 1) if cpu > 0 else 0.0,
        requests_per_wall_s=round(requests / wall, 1) if wall > 0 else 0.0,
        rss_kb_per_busy_driver=round((rss_busy - rss_before) / args.drivers, 2),
        gc_frozen=args.freeze,
        gc_kept_settled=args.freeze,
        gc_pauses=pauses.summary(),
        late_over_100ms_by_second={
            str(k): round(v, 1) for k, v in sorted(stats.late_by_second.items())
        },
        generator_saturated=lag_p99 > 1000.0 or cpu / max(wall, 1e-9) > 0.9,
    )
    return result


async def idle(args: argparse.Namespace) -> dict[str, Any]:
    stats = StatsCollector()
    ctx = context(args, stats, Histogram())
    specs = specs_for(args.drivers)
    fleet = Fleet(ctx, specs, ramp_up_per_s=0)
    gc.collect()
    rss_before = rss_kb()
    async with anyio.create_task_group() as group:
        group.start_soon(fleet.run, None)
        spawn_started = time.monotonic()
        while len(fleet.drivers) < args.drivers:
            await anyio.sleep(0.05)
            if time.monotonic() - spawn_started > 300:
                raise RuntimeError(f"only {len(fleet.drivers)} of {args.drivers} drivers spawned")
        await anyio.sleep(0.5)  # every driver task has reached its idle sleep
        gc.collect()
        rss_collected = rss_kb()
        group.cancel_scope.cancel()
    await ctx.client.aclose()
    return {
        "drivers": args.drivers,
        "rss_kb_per_idle_driver": round((rss_collected - rss_before) / args.drivers, 2),
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("mode", choices=("busy", "idle"))
    parser.add_argument("--url", required=True)
    parser.add_argument("--cpu", type=int, default=None, help="pin to this core if it exists")
    parser.add_argument("--max-in-flight", type=int, default=64)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--drivers", type=int, default=1000)
    parser.add_argument("--interval-s", type=float, default=30.0)
    parser.add_argument("--idle-interval-s", type=float, default=60.0)
    parser.add_argument("--window-s", type=float, default=60.0)
    parser.add_argument("--settle-s", type=float, default=2.0, help="after setup, before window")
    parser.add_argument("--no-freeze", dest="freeze", action="store_false")
    args = parser.parse_args(argv)
    if args.cpu is not None and args.cpu in os.sched_getaffinity(0):
        os.sched_setaffinity(0, {args.cpu})
    run = busy if args.mode == "busy" else idle
    result = anyio.run(run, args, backend="asyncio")
    result["mode"] = f"fleet-{args.mode}"
    sys.stdout.write("RESULT " + json.dumps(result) + "\n")


if __name__ == "__main__":
    main()

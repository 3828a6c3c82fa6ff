"""One measured point of driver-agent's load, in its own process: prints one `RESULT {json}` line.

    python -m bench.loadgen closed --url URL --concurrency 500 --warmup-s 2 --window-s 8
    python -m bench.loadgen cadence --url URL --drivers 50000 --interval-s 30 --window-s 65

`closed` (workload a): N callers share one FleetClient and post update_driver_location back to
back. Requests, latency and client CPU (getrusage user+sys of this process) are counted only in
the window after the warm-up, so start-up and imports are not in the figures.

`cadence` (workload b): K driver tasks, each posting its location every P seconds on drift-free
deadlines (tick n = first tick + n * P; first ticks spread evenly over the first P seconds by a
seeded RNG). For every ping: wake lateness = when the task ran minus its tick (the generator's
own lag), delivery lateness = when the answer arrived minus its tick (lag + API latency). A gap
is more than max(MAX_PING_GAP_S, P) + 1 s between a driver's consecutive acknowledged pings (or
from its last one to the end of the run); the strict count (more than 30 s) is reported too: at
P = 30 s about half of all pings land microseconds past 30 s by construction.
RSS per driver = VmRSS growth from spawning the K tasks, measured
once they all wait for their first tick, after gc.freeze().
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import random
import resource
import sys
import time
from collections.abc import Awaitable, Callable
from typing import Any

import anyio
import anyio.lowlevel

from driver_agent.core.clock import RealClock
from driver_agent.core.config import ApiConfig
from driver_agent.core.errors import ApiError
from driver_agent.core.model import MAX_PING_GAP_S, Secret
from driver_agent.fleetapi.client import FleetClient
from driver_agent.metrics.histogram import Histogram

LAT, LNG = 40.77, -73.97
GAP_TOLERANCE_S = 1.0  # a ping due every 30 s lands 30 s + jitter after the last: see README


def cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def rss_kb() -> int:
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def summary_ms(histogram: Histogram) -> dict[str, float]:
    if histogram.count == 0:
        return {"count": 0, "p50": 0.0, "p90": 0.0, "p99": 0.0, "max": 0.0}
    p50, p90, p99 = histogram.percentiles((50.0, 90.0, 99.0))
    return {
        "count": histogram.count,
        "p50": round(p50, 3),
        "p90": round(p90, 3),
        "p99": round(p99, 3),
        "max": round(histogram.max, 3),
    }


def api_config(url: str, transport: str, max_in_flight: int) -> ApiConfig:
    return ApiConfig(
        api_url=url,
        client_id="bench",
        client_secret=Secret("bench-secret"),
        transport=transport,
        max_in_flight=max_in_flight,
        max_retries=0,
    )


async def closed(args: argparse.Namespace) -> dict[str, Any]:
    clock = RealClock()
    config = api_config(args.url, args.transport, args.max_in_flight)
    client = FleetClient(config, clock, rng=random.Random(args.seed))
    latency = Histogram()
    state = {"done": 0, "errors": 0, "measuring": False}
    perf = time.perf_counter

    async def caller(index: int) -> None:
        external_id = f"d-{index}"
        update = client.update_driver_location
        while True:
            started = perf()
            try:
                await update(
                    user_external_id=external_id, lat=LAT, lng=LNG, reported_time_ms=clock.now_ms()
                )
            except ApiError:
                state["errors"] += 1
                continue
            if state["measuring"]:
                latency.record((perf() - started) * 1000.0)
            state["done"] += 1

    async with anyio.create_task_group() as group:
        for index in range(args.concurrency):
            group.start_soon(caller, index)
        await anyio.sleep(args.warmup_s)
        done0, errors0, cpu0, wall0 = state["done"], state["errors"], cpu_s(), perf()
        state["measuring"] = True
        await anyio.sleep(args.window_s)
        done1, errors1, cpu1, wall1 = state["done"], state["errors"], cpu_s(), perf()
        group.cancel_scope.cancel()
    await client.aclose()
    requests = int(done1) - int(done0)
    cpu = cpu1 - cpu0
    wall = wall1 - wall0
    return {
        "requests": requests,
        "errors": int(errors1) - int(errors0),
        "cpu_s": round(cpu, 4),
        "wall_s": round(wall, 4),
        "requests_per_cpu_s": round(requests / cpu, 1) if cpu > 0 else 0.0,
        "requests_per_wall_s": round(requests / wall, 1) if wall > 0 else 0.0,
        "cpu_ms_per_10k": round(cpu * 1000.0 / requests * 10_000, 1) if requests else 0.0,
        "latency_ms": summary_ms(latency),
        "rss_kb": rss_kb(),
    }


async def cadence(args: argparse.Namespace) -> dict[str, Any]:
    clock = RealClock()
    config = api_config(args.url, args.transport, args.max_in_flight)
    client = FleetClient(config, clock, rng=random.Random(args.seed))
    interval_s = float(args.interval_s)
    rng = random.Random(args.seed)
    offsets = [rng.random() * interval_s for _ in range(args.drivers)]
    wake_late = Histogram()
    delivered_late = Histogram()
    latency = Histogram()
    counts = {"pings": 0, "errors": 0, "gaps": 0, "strict": 0, "missed": 0}
    gap_limit_s = max(MAX_PING_GAP_S, interval_s) + GAP_TOLERANCE_S
    last_ok: list[float] = [0.0] * args.drivers
    monotonic = time.monotonic
    await client.update_driver_location(user_external_id="warm-up", lat=LAT, lng=LNG)

    async def driver(index: int, first_tick: float, end: float) -> None:
        external_id = f"d-{index}"
        update = client.update_driver_location
        tick = first_tick
        previous_ok = first_tick
        while tick < end:
            delay = tick - monotonic()
            if delay > 0:
                await anyio.sleep(delay)
            woke = monotonic()
            wake_late.record(max(woke - tick, 0.0) * 1000.0)
            try:
                await update(
                    user_external_id=external_id, lat=LAT, lng=LNG, reported_time_ms=clock.now_ms()
                )
            except ApiError:
                counts["errors"] += 1
            else:
                answered = monotonic()
                latency.record((answered - woke) * 1000.0)
                delivered_late.record(max(answered - tick, 0.0) * 1000.0)
                if answered - previous_ok > MAX_PING_GAP_S:
                    counts["strict"] += 1
                    if answered - previous_ok > gap_limit_s:
                        counts["gaps"] += 1
                previous_ok = answered
                counts["pings"] += 1
            tick += interval_s
            if tick < monotonic() - interval_s:  # more than a whole interval behind: skip, count
                behind = int((monotonic() - tick) // interval_s)
                counts["missed"] += behind
                tick += behind * interval_s
        last_ok[index] = previous_ok

    gc.collect()
    rss_before = rss_kb()
    spawn_started = monotonic()
    start_in_s = 1.0 + args.drivers / 50_000.0 * 2.0  # time to spawn them all before tick one
    base = monotonic() + start_in_s
    end = base + args.window_s
    cpu_at_start = 0.0
    async with anyio.create_task_group() as group:
        for index in range(args.drivers):
            group.start_soon(driver, index, base + offsets[index], end)
        await anyio.lowlevel.checkpoint()  # every task has run up to its first sleep
        gc.collect()
        gc.freeze()
        spawn_s = monotonic() - spawn_started
        rss_after = rss_kb()
        if monotonic() < base:
            await anyio.sleep(base - monotonic())
        cpu_at_start = cpu_s()
    window_cpu = cpu_s() - cpu_at_start
    window_wall = monotonic() - base
    tail_gaps = sum(1 for t in last_ok if end - t > gap_limit_s)
    await client.aclose()
    pings = counts["pings"]
    expected = sum(len(range(0, int((end - (base + o)) // interval_s) + 1)) for o in offsets)
    lag_p99 = wake_late.percentile(99.0) if wake_late.count else 0.0
    return {
        "drivers": args.drivers,
        "interval_s": interval_s,
        "window_s": args.window_s,
        "pings": pings,
        "pings_expected": expected,
        "errors": counts["errors"],
        "missed_ticks": counts["missed"],
        "gaps_over_30s": counts["gaps"] + tail_gaps,
        "acks_over_30s_apart_strict": counts["strict"],
        "wake_lateness_ms": summary_ms(wake_late),
        "delivery_lateness_ms": summary_ms(delivered_late),
        "latency_ms": summary_ms(latency),
        "cpu_s": round(window_cpu, 3),
        "wall_s": round(window_wall, 3),
        "cpu_share": round(window_cpu / window_wall, 3) if window_wall > 0 else 0.0,
        "cpu_ms_per_10k": round(window_cpu * 1000.0 / pings * 10_000, 1) if pings else 0.0,
        "requests_per_wall_s": round(pings / window_wall, 1) if window_wall > 0 else 0.0,
        "rss_kb_per_driver": round((rss_after - rss_before) / args.drivers, 2),
        "spawn_s": round(spawn_s, 3),
        "generator_saturated": lag_p99 > 1000.0 or window_cpu / max(window_wall, 1e-9) > 0.9,
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("mode", choices=("closed", "cadence"))
    parser.add_argument("--url", required=True)
    parser.add_argument("--transport", default="builtin")
    parser.add_argument("--loop", choices=("asyncio", "uvloop"), default="asyncio")
    parser.add_argument("--cpu", type=int, default=None, help="pin to this core if it exists")
    parser.add_argument("--max-in-flight", type=int, default=64)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--concurrency", type=int, default=50)
    parser.add_argument("--warmup-s", type=float, default=2.0)
    parser.add_argument("--window-s", type=float, default=8.0)
    parser.add_argument("--drivers", type=int, default=1000)
    parser.add_argument("--interval-s", type=float, default=30.0)
    args = parser.parse_args(argv)
    if args.cpu is not None and args.cpu in os.sched_getaffinity(0):
        os.sched_setaffinity(0, {args.cpu})
    run: Callable[[argparse.Namespace], Awaitable[dict[str, Any]]] = (
        closed if args.mode == "closed" else cadence
    )
    options = {"use_uvloop": args.loop == "uvloop"}
    result = anyio.run(run, args, backend="asyncio", backend_options=options)
    result.update(mode=args.mode, transport=args.transport, loop=args.loop)
    if args.mode == "closed":
        result["concurrency"] = args.concurrency
    sys.stdout.write("RESULT " + json.dumps(result) + "\n")


if __name__ == "__main__":
    main()

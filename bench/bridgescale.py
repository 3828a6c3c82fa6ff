"""The bridge at fleet scale: accept latency at a paced load, the drain after an outage, RSS.

`latency()`: per input kind, the capacity (the positions per second the closed-loop run of
`bridgeload.run_kind` got through on the bridge's core as it is, shared with whatever else runs
there; or `--capacity`), then a fresh bridge paced open loop at each `--levels` fraction of it
(and at each of `--rates`, positions/s) for `--window-s`: accept latency p50 / p99 (from each
request's due time, so queueing in the generator counts), the bridge's CPU share of its core
and positions per CPU-second at that rate, the outbox depth at the window's end.

`drain()`: the fleet API down (the sandbox's fault injection: every fleet call answered 503)
while `--outage-rate` x `--outage-s` positions arrive. The bridge's clock is the wall clock
(its sender's backoff and the outbox's ages run on it), so the outage is not compressed in time:
the same COUNT of positions is sent as fast as the bridge takes them (a closed loop) instead.
Then the fault is cleared and the drain is timed: from the API's return and from the first
call it acknowledged, to the outbox gauge at 0; the outbox file's rows are counted at the end.

`rss()`: for each `--device-counts` N, a fresh bridge mapping N devices: its RSS once started,
then after every device sent `--positions-each` positions (all acknowledged); the growth per
device between the counts.
"""

from __future__ import annotations

import asyncio
import json
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx

from bench.bridgepaced import Paced, paced
from bench.bridgerig import (
    KINDS,
    Load,
    bridge_process,
    loadavg,
    metric,
    outbox_rows,
    proc_cpu_s,
    proc_rss_kb,
    read_answer,
    sandbox_process,
    start_profile,
    wait_drained,
)

if TYPE_CHECKING:
    import argparse

SENT = "driver_agent_bridge_updates_sent_total"
DEPTH = "driver_agent_bridge_outbox_depth"
HTTP_KINDS = [kind for kind in KINDS if kind != "ndjson"]


def _kinds(args: argparse.Namespace) -> list[str]:
    """The HTTP input kinds of `--kind` (all four for "all"; NDJSON has no HTTP answer)."""
    kinds = HTTP_KINDS if args.kind == "all" else args.kind.split(",")
    return [kind for kind in kinds if kind != "ndjson"]


async def latency(args: argparse.Namespace) -> list[dict[str, Any]]:
    from bench.bridgeload import run_kind

    results = []
    levels = [float(level) for level in args.levels.split(",") if level]
    rates = [float(rate) for rate in args.rates.split(",")] if args.rates else []
    with tempfile.TemporaryDirectory(prefix="bridgelat-") as tmp:
        work = Path(tmp)
        async with sandbox_process(work, args.devices) as sandbox_url:
            for kind in _kinds(args):
                measured = {} if args.capacity else await run_kind(args, kind, sandbox_url, work)
                capacity = args.capacity or measured["positions_per_s"]
                for level, rate in [(level, capacity * level) for level in levels] + [
                    (rate / capacity, rate) for rate in rates
                ]:
                    name = f"{kind}-{round(rate)}"
                    async with (
                        bridge_process(
                            work, name, sandbox_url, args.devices, args.bridge_core
                        ) as bridge,
                        httpx.AsyncClient(base_url=bridge.url, trust_env=False) as http,
                    ):
                        pid = bridge.process.pid
                        runner = Paced(Load(kind, args.devices, bridge.port), rate)
                        await paced(runner, args.warmup_s, args.connections)
                        runner = Paced(runner.load, rate)
                        load_before = loadavg()
                        cpu_before = proc_cpu_s(pid)
                        if args.profile:
                            start_profile(args.profile, name, pid, args.window_s)
                        start = time.perf_counter()
                        await paced(runner, args.window_s, args.connections)
                        wall_s = time.perf_counter() - start
                        cpu_s = proc_cpu_s(pid) - cpu_before
                        depth = await metric(http, DEPTH)
                        await wait_drained(http, 300)
                    result = {
                        "run": "latency",
                        "kind": kind,
                        "capacity_positions_per_s": capacity,
                        "capacity_run": measured,
                        "level": level,
                        "rate_per_s": round(rate),
                        "window_s": round(wall_s, 2),
                        "achieved_rate_per_s": round(runner.tally.accepted / wall_s),
                        "bridge_core_share": round(cpu_s / wall_s, 3),
                        "positions_per_cpu_s": round(runner.tally.accepted / cpu_s),
                        "outbox_depth_at_window_end": int(depth),
                        "connections": args.connections,
                        "loadavg_before": load_before,
                        "loadavg_after": loadavg(),
                        **runner.tally.summary(),
                    }
                    print("RESULT " + json.dumps(result), flush=True)
                    results.append(result)
    return results


async def _fill(port: int, load: Load, count: int, connections: int) -> None:
    """Send `count` positions in a closed loop over `connections` connections, all 200."""

    async def one() -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            while load.sent < count:
                load.sent += 1
                writer.write(load.request())
                if await read_answer(reader):
                    load.accepted += 1
                else:
                    load.failed += 1
        finally:
            writer.close()

    await asyncio.gather(*(one() for _ in range(connections)))


async def drain(args: argparse.Namespace) -> dict[str, Any]:
    count = round(args.outage_rate * args.outage_s)
    kind = _kinds(args)[0]
    with tempfile.TemporaryDirectory(prefix="bridgedrain-") as tmp:
        work = Path(tmp)
        async with (
            sandbox_process(work, args.devices) as sandbox_url,
            httpx.AsyncClient(base_url=sandbox_url, trust_env=False) as sandbox,
            bridge_process(work, "drain", sandbox_url, args.devices, args.bridge_core) as bridge,
            httpx.AsyncClient(base_url=bridge.url, trust_env=False, timeout=30) as http,
        ):
            pid = bridge.process.pid
            rss_start = proc_rss_kb(pid)
            down = await sandbox.post("/_sandbox/faults", json={"status": 503, "duration_s": 86400})
            assert down.status_code == 200, down.text
            load = Load(kind, args.devices, bridge.port)
            start = time.perf_counter()
            await _fill(bridge.port, load, count, args.connections)
            fill_s = time.perf_counter() - start
            await asyncio.sleep(1.0)  # the last commits' gauge
            backlog = int(await metric(http, DEPTH))
            sent_down = int(await metric(http, SENT))
            rss_backlog = proc_rss_kb(pid)
            cpu_before = proc_cpu_s(pid)
            load_before = loadavg()
            up = await sandbox.post("/_sandbox/faults", json={"clear": True})
            assert up.status_code == 200, up.text
            back = time.perf_counter()
            first_ack = None
            while (depth := await metric(http, DEPTH)) > 0:
                if first_ack is None and await metric(http, SENT) > sent_down:
                    first_ack = time.perf_counter()
                if time.perf_counter() - back > args.drain_timeout_s:
                    raise RuntimeError(f"{depth:g} calls left after {args.drain_timeout_s:g} s")
                await asyncio.sleep(0.1)
            empty = time.perf_counter()
            first_ack = first_ack or empty
            cpu_s = proc_cpu_s(pid) - cpu_before
            drained = int(await metric(http, SENT)) - sent_down
            result = {
                "run": "drain",
                "kind": kind,
                "outage": f"{args.outage_s:g} s at {args.outage_rate:g} positions/s",
                "outage_how": "sandbox fault 503 on every fleet call; the count sent at full rate",
                "devices": args.devices,
                "positions": count,
                "accepted": load.accepted,
                "refused": load.failed,
                "fill_s": round(fill_s, 1),
                "backlog_calls": backlog,
                "sent_during_outage": sent_down,
                "drained_calls": drained,
                "first_ack_after_back_s": round(first_ack - back, 2),
                "drain_s_from_back": round(empty - back, 2),
                "drain_s_from_first_ack": round(empty - first_ack, 2),
                "drain_per_s_from_back": round(drained / (empty - back)),
                "drain_per_s_from_first_ack": round(drained / max(empty - first_ack, 1e-3)),
                "drain_bridge_cpu_s": round(cpu_s, 2),
                "drain_per_cpu_s": round(drained / cpu_s) if cpu_s else 0,
                "errors": int(await metric(http, "driver_agent_bridge_errors_total")),
                "dropped": int(await metric(http, "driver_agent_bridge_dropped_total")),
                "outbox_depth_end": int(await metric(http, DEPTH)),
                "outbox_rows_end": outbox_rows(bridge.outbox),
                "bridge_rss_kb_start": rss_start,
                "bridge_rss_kb_backlog": rss_backlog,
                "bridge_rss_kb_end": proc_rss_kb(pid),
                "loadavg_before_drain": load_before,
                "loadavg_after": loadavg(),
            }
    return result


async def rss(args: argparse.Namespace) -> list[dict[str, Any]]:
    counts = [int(n) for n in args.device_counts.split(",")]
    kind = _kinds(args)[0]
    results: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="bridgerss-") as tmp:
        work = Path(tmp)
        async with sandbox_process(work, max(counts)) as sandbox_url:
            for n in counts:
                async with (
                    bridge_process(work, f"rss-{n}", sandbox_url, n, args.bridge_core) as bridge,
                    httpx.AsyncClient(base_url=bridge.url, trust_env=False, timeout=30) as http,
                ):
                    pid = bridge.process.pid
                    await asyncio.sleep(1.0)
                    started = proc_rss_kb(pid)
                    load = Load(kind, n, bridge.port)
                    await _fill(bridge.port, load, n * args.positions_each, args.connections)
                    await wait_drained(http, 600)
                    await asyncio.sleep(1.0)
                    after = proc_rss_kb(pid)
                    result = {
                        "run": "rss",
                        "kind": kind,
                        "devices": n,
                        "positions_each": args.positions_each,
                        "accepted": load.accepted,
                        "bridge_rss_kb_started": started,
                        "bridge_rss_kb_after_positions": after,
                        "kb_per_device_in_process": round((after - started) / n, 2),
                    }
                if results:
                    prev = results[-1]
                    grew = after - prev["bridge_rss_kb_after_positions"]
                    result["kb_per_device_vs_previous"] = round(grew / (n - prev["devices"]), 2)
                print("RESULT " + json.dumps(result), flush=True)
                results.append(result)
    return results

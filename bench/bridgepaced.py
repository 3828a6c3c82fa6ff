"""An open-loop paced sender for the bridge, and the one-hour soak built on it.

`paced()` sends positions at a fixed rate whatever the bridge answers: request k is due at
t0 + k / rate; `connections` keep-alive HTTP/1.1 connections take the due requests in order
(a connection busy with a slow answer does not hold the schedule back, the next free one sends).
Accept latency is counted from the request's DUE time to its answer read, so time a request
waited for a free connection is in it (no coordinated omission); the service time (written to
read) is kept beside it.

`soak()`: `--rate` positions/s of OsmAnd GET for `--duration-s`, one sample every
`--sample-s` (bridge RSS, CPU, load average, outbox depth, the segment's accept p50 / p99), then
the outbox drained and its rows counted in the file; the result is rewritten to `--out` at every
sample, so a cut-short soak still leaves its figures.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx

from bench.bridgerig import (
    Load,
    bridge_process,
    loadavg,
    metric,
    outbox_rows,
    percentile_ms,
    proc_cpu_s,
    proc_rss_kb,
    read_answer,
    sandbox_process,
    wait_drained,
    write_result,
)

if TYPE_CHECKING:
    import argparse


@dataclass
class Tally:
    """What the paced sender saw over one stretch: 200s, others, latencies (s)."""

    accepted: int = 0
    failed: int = 0
    latencies: list[float] = field(default_factory=list)
    service: list[float] = field(default_factory=list)
    behind_max: int = 0

    def summary(self) -> dict[str, Any]:
        lat = sorted(self.latencies)
        svc = sorted(self.service)
        return {
            "accepted": self.accepted,
            "refused": self.failed,
            "accept_ms_p50": percentile_ms(lat, 0.50),
            "accept_ms_p99": percentile_ms(lat, 0.99),
            "accept_ms_max": percentile_ms(lat, 1.0),
            "service_ms_p50": percentile_ms(svc, 0.50),
            "service_ms_p99": percentile_ms(svc, 0.99),
            "service_ms_max": percentile_ms(svc, 1.0),
            "queued_max": self.behind_max,
        }


@dataclass
class Paced:
    """A running paced sender; `tally` can be swapped for a fresh one between stretches."""

    load: Load
    rate: float
    tally: Tally = field(default_factory=Tally)
    scheduled: int = 0
    stopped: bool = False


async def _connection(paced: Paced, due: asyncio.Queue[float | None]) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", paced.load.port)
    try:
        while (due_at := await due.get()) is not None:
            start = time.perf_counter()
            writer.write(paced.load.request())
            ok = await read_answer(reader)
            now = time.perf_counter()
            tally = paced.tally
            if ok:
                tally.accepted += 1
                tally.latencies.append(now - due_at)
                tally.service.append(now - start)
            else:
                tally.failed += 1
    finally:
        writer.close()


async def paced(paced: Paced, duration_s: float, connections: int) -> None:
    """Send at `paced.rate` for `duration_s` (or until `paced.stopped`), then wait for answers."""
    due: asyncio.Queue[float | None] = asyncio.Queue()
    workers = [asyncio.create_task(_connection(paced, due)) for _ in range(connections)]
    t0 = time.perf_counter()
    total = round(paced.rate * duration_s)
    try:
        while paced.scheduled < total and not paced.stopped:
            now = time.perf_counter()
            up_to = min(total, int((now - t0) * paced.rate) + 1)
            for k in range(paced.scheduled, up_to):
                due.put_nowait(t0 + k / paced.rate)
            paced.scheduled = max(paced.scheduled, up_to)
            paced.tally.behind_max = max(paced.tally.behind_max, due.qsize())
            await asyncio.sleep(max(0.0, t0 + paced.scheduled / paced.rate - time.perf_counter()))
        for _ in workers:
            due.put_nowait(None)
        await asyncio.gather(*workers)
    finally:
        for worker in workers:
            worker.cancel()


async def soak(args: argparse.Namespace) -> dict[str, Any]:
    out = Path(args.out)
    with tempfile.TemporaryDirectory(prefix="bridgesoak-") as tmp:
        work = Path(tmp)
        async with (
            sandbox_process(work, args.devices) as sandbox_url,
            bridge_process(work, "soak", sandbox_url, args.devices, args.bridge_core) as bridge,
            httpx.AsyncClient(base_url=bridge.url, trust_env=False, timeout=30) as http,
        ):
            pid = bridge.process.pid
            result: dict[str, Any] = {
                "run": "soak",
                "command": "python -m bench.bridgeload " + " ".join(sys.argv[1:]),
                "kind": "osmand-get",
                "rate_per_s": args.rate,
                "devices": args.devices,
                "duration_s": args.duration_s,
                "connections": args.connections,
                "bridge_core": args.bridge_core,
                "started_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                "samples": [],
            }
            runner = Paced(Load("osmand-get", args.devices, bridge.port), args.rate)
            sending = asyncio.create_task(paced(runner, args.duration_s, args.connections))
            start = time.perf_counter()
            cpu_before = last_cpu = proc_cpu_s(pid)

            async def sample(at_s: float) -> None:
                nonlocal last_cpu
                tally, runner.tally = runner.tally, Tally()
                cpu = proc_cpu_s(pid)
                result["samples"].append(
                    {
                        "t_s": round(at_s),
                        "bridge_rss_kb": proc_rss_kb(pid),
                        "bridge_cpu_s": round(cpu - last_cpu, 2),
                        "loadavg": loadavg(),
                        "outbox_depth": int(await metric(http, "driver_agent_bridge_outbox_depth")),
                        **tally.summary(),
                    }
                )
                last_cpu = cpu
                write_result(out, result)

            await sample(0.0)
            next_at = args.sample_s
            while not sending.done():
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(
                        asyncio.shield(sending), next_at - (time.perf_counter() - start)
                    )
                if time.perf_counter() - start >= next_at or sending.done():
                    await sample(time.perf_counter() - start)
                    next_at += args.sample_s
            await sending
            if runner.tally.accepted or runner.tally.failed:  # answers after the last sample
                await sample(time.perf_counter() - start)
            drain_s = await wait_drained(http, 600)
            rss = [s["bridge_rss_kb"] for s in result["samples"]]
            accepted = sum(s["accepted"] for s in result["samples"])
            result |= {
                "ended_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                "wall_s": round(time.perf_counter() - start, 1),
                "accepted": accepted,
                "refused": sum(s["refused"] for s in result["samples"]),
                "achieved_rate_per_s": round(accepted / args.duration_s, 1),
                "calls_sent": int(await metric(http, "driver_agent_bridge_updates_sent_total")),
                "errors": int(await metric(http, "driver_agent_bridge_errors_total")),
                "dropped": int(await metric(http, "driver_agent_bridge_dropped_total")),
                "drain_after_end_s": round(drain_s, 2),
                "outbox_depth_end": int(await metric(http, "driver_agent_bridge_outbox_depth")),
                "outbox_rows_end": outbox_rows(bridge.outbox),
                "bridge_cpu_s": round(proc_cpu_s(pid) - cpu_before, 1),
                "bridge_rss_kb_end": proc_rss_kb(pid),
                "rss_kb_first_sample_after_start": rss[1] if len(rss) > 1 else rss[0],
                "rss_kb_max": max(rss),
                "loadavg_end": loadavg(),
            }
            write_result(out, result)
            return result

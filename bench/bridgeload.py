"""The bridge's ingest capacity: positions per CPU-second of the bridge process, end to end.

    python -m bench.bridgeload --kind osmand-get --devices 2000 --connections 64 --window-s 20
    python -m bench.bridgeload --kind all          # every input kind, one fresh bridge each

What runs: the embedded sandbox (`driver-agent sandbox`, its own process) knows `--devices`
drivers (each was assigned an order through the fleet API, so their location updates are
accepted, not held); a `driver-agent bridge` process, pinned to core 0 (`--bridge-core`), maps
one device to each driver and sends to the sandbox; this process is the load generator, pinned
to another core, with `--connections` keep-alive HTTP/1.1 connections in a closed loop (each
sends a position, waits for the answer, sends the next), devices taken round robin with
increasing device times.

What is counted: the bridge's CPU (user + sys of every thread, from /proc/PID/stat) from the
start of the window until its outbox is empty again after the window (so every position counted
was accepted, committed and sent to the API and acknowledged); positions = the 200s the generator
got in the window. Accept latency (request written to answer read) p50 / p99 over the window.
`ndjson` writes lines to the bridge's stdin (`--ndjson -`) for the window instead.

Kinds: osmand-get (query string), osmand-post (form body), osmand-json (Traccar Client 9's JSON),
traccar (Traccar's forward JSON, POST /traccar), ndjson (stdin). Prints one `RESULT {json}` per
kind.

Split across Ray workers (`--workers N`, N > 1: `driver-agent bridge --workers N`, Ray's files
under a short /tmp/rb-* dir of their own): the bridge is a process tree (the head, Ray's
gcs_server, raylet and agents, the worker processes), which is not pinned unless
`--bridge-cores 0` / `0,1` (a taskset list for the whole tree; also for one process, instead of
`--bridge-core`). Its CPU is every process of the tree, from /proc at the window's start and
after the drain (ppid chains from the head; a process that ended between is counted through
its parent's cutime/cstime, `cpu.ended` says how many): the head's own, the workers' own (their
pids from /healthz) and the rest of Ray (`cpu.rest_by_name`); per position each of them, with
the head's and the workers' CPU by thread name and their context switches per position. The
outbox is empty when the gauge and every worker's file (`<stem>.<k>-of-<N><suffix>`) say so.

    python -m bench.bridgeload --kind osmand-get --devices 2000 --window-s 10 --workers 2 \
        --bridge-cores 0 --record bench/results.json --record-key workers_2_core0

The other runs (`--run`; the rig is bench/bridgerig.py):

    python -m bench.bridgeload --run latency --kind all        # p50/p99 at 50 % and 90 %
    python -m bench.bridgeload --run latency --kind osmand-get --capacity 3000 --levels "" \
        --rates 100,300,1000,2000                              # CPU share by rate
    python -m bench.bridgeload --run drain --outage-rate 1000 --outage-s 600
    python -m bench.bridgeload --run rss --device-counts 1000,5000,20000
    nohup python -m bench.bridgeload --run soak --rate 300 --devices 3000 --duration-s 3600 \
        --connections 16 --bridge-core 1 --load-core 0 --out soak.json &
    python -m bench.bridgeload --run record-soak --out soak.json --record bench/results.json

latency and drain and rss are bench/bridgescale.py, the paced sender and the soak
bench/bridgepaced.py. `--record FILE` puts the result under FILE's "bridge" key
(`--record-key`, default the run's name), leaving the other keys as they were.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx

from bench.bridgerig import (
    KINDS,
    Bridge,
    Load,
    bridge_process,
    loadavg,
    metric,
    outbox_files,
    outbox_rows,
    percentile_ms,
    proc_rss_kb,
    read_answer,
    sandbox_process,
    start_profile,
)
from bench.proctree import (
    context_switches,
    proc_table,
    proc_tree,
    processes_mentioning,
    thread_cpu,
    thread_cpu_between,
    tree_cpu,
)

if TYPE_CHECKING:
    from collections.abc import Iterable


async def connection(load: Load) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", load.port)
    try:
        while load.running:
            start = time.perf_counter()
            writer.write(load.request())
            ok = await read_answer(reader)
            if load.counting:
                load.sent += 1
                if ok:
                    load.accepted += 1
                    load.latencies.append(time.perf_counter() - start)
                else:
                    load.failed += 1
    finally:
        writer.close()


async def feed_stdin(load: Load, stdin: Any) -> None:
    loop = asyncio.get_running_loop()
    while load.running:
        chunk = b"".join(load.ndjson_line() for _ in range(200))
        await loop.run_in_executor(None, stdin.write, chunk)
        await loop.run_in_executor(None, stdin.flush)
        if load.counting:
            load.sent += 200


def bridge_cores(args: argparse.Namespace) -> str:
    """The taskset list for the bridge's whole process tree: `--bridge-cores`, else one process
    on `--bridge-core` as always, else (split across workers) none."""
    if args.bridge_cores is not None:
        return str(args.bridge_cores)
    return str(args.bridge_core) if args.workers == 1 else ""


async def worker_pids(http: httpx.AsyncClient) -> dict[int, int]:
    """Each worker's process (worker -> pid) from the head's /healthz; none for one process."""
    health = (await http.get("/healthz")).json()
    return {int(w["worker"]): int(w["pid"]) for w in health.get("workers", ())}


async def wait_empty(http: httpx.AsyncClient, bridge: Bridge, timeout_s: float) -> None:
    """Until the outbox gauge is 0 and so are the outbox files' rows (split across workers the
    head's gauge is the workers' last poll, which can be older than their last commits)."""
    deadline = time.perf_counter() + timeout_s
    while (
        await metric(http, "driver_agent_bridge_outbox_depth") > 0 or outbox_rows(bridge.outbox) > 0
    ):
        assert time.perf_counter() < deadline, "the outbox did not drain"
        await asyncio.sleep(0.05)


def tree_rss(pids: Iterable[int]) -> int:
    """The resident memory of these processes added up (one that ended counts 0)."""
    total = 0
    for pid in pids:
        with contextlib.suppress(OSError):
            total += proc_rss_kb(pid)
    return total


def cpu_figures(cpu: dict[str, Any], positions: float) -> dict[str, Any]:
    """Per position: all of the bridge's CPU, the head's, the workers', the rest of Ray's."""

    def us(seconds: float) -> float:
        return round(seconds * 1e6 / positions, 1) if positions else 0.0

    return {
        "positions_per_cpu_s": round(positions / cpu["total_s"]) if cpu["total_s"] else 0,
        "head_cpu_us_per_position": us(cpu["head_s"]),
        "workers_cpu_us_per_position": us(cpu["workers_s"]),
        "ray_rest_cpu_us_per_position": us(cpu["rest_s"]),
    }


async def run_kind(
    args: argparse.Namespace, kind: str, sandbox_url: str, work: Path
) -> dict[str, Any]:
    """Capacity: a closed loop as fast as the bridge answers; the CPU of the bridge's process
    tree (split across workers: the head, the workers and the rest of Ray) until the outbox
    drained."""
    cores = bridge_cores(args)
    async with (
        bridge_process(
            work, kind, sandbox_url, args.devices, cores, kind == "ndjson", args.workers
        ) as bridge,
        httpx.AsyncClient(base_url=bridge.url, trust_env=False) as http,
    ):
        pid = bridge.process.pid
        load = Load(kind, args.devices, bridge.port)
        if kind == "ndjson":
            tasks = [asyncio.create_task(feed_stdin(load, bridge.process.stdin))]
        else:
            tasks = [asyncio.create_task(connection(load)) for _ in range(args.connections)]
        await asyncio.sleep(args.warmup_s)
        workers = await worker_pids(http)
        load_before = loadavg()
        in_before = await metric(http, "driver_agent_bridge_positions_in_total")
        sent_before = await metric(http, "driver_agent_bridge_updates_sent_total")
        tree_before = proc_tree(pid, proc_table())
        head_threads, worker_threads = thread_cpu([pid]), thread_cpu(workers.values())
        switches = context_switches([pid]), context_switches(workers.values())
        wall_before = time.perf_counter()
        load.counting = True
        if args.profile:  # py-spy's collapsed stacks of the bridge (and each worker) in the window
            start_profile(args.profile, kind, pid, args.window_s)
            for k, worker in workers.items():
                start_profile(args.profile, f"{kind}-worker{k}", worker, args.window_s)
        await asyncio.sleep(args.window_s)
        load.counting = False
        load.running = False
        window_s = time.perf_counter() - wall_before
        if kind == "ndjson":
            tasks[0].cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        in_window = await metric(http, "driver_agent_bridge_positions_in_total") - in_before
        backlog = await metric(http, "driver_agent_bridge_outbox_depth")
        await wait_empty(http, bridge, 300)
        tree_after = proc_tree(pid, proc_table())
        head_threads = thread_cpu_between(head_threads, thread_cpu([pid]))
        worker_threads = thread_cpu_between(worker_threads, thread_cpu(workers.values()))
        head_switches = context_switches([pid]) - switches[0]
        worker_switches = context_switches(workers.values()) - switches[1]
        # Ray's processes name its dir: all of them should be in the tree
        ray_pids = processes_mentioning(bridge.ray_dir) if bridge.ray_dir else set()
        drained_s = time.perf_counter() - wall_before
        load_after = loadavg()
        if args.workers > 1:
            await asyncio.sleep(1.0)  # the workers' last counts reach the head's /metrics
        sent = await metric(http, "driver_agent_bridge_updates_sent_total") - sent_before
        errors = await metric(http, "driver_agent_bridge_errors_total")
        rss_kb = proc_rss_kb(pid)
        tree_rss_kb = tree_rss(tree_after)
        workers_after = await worker_pids(http)
        rows = outbox_rows(bridge.outbox)
        files = len(outbox_files(bridge.outbox))
    cpu = tree_cpu(tree_before, tree_after, pid, set(workers.values()))
    positions = in_window if kind == "ndjson" else load.accepted
    lat = sorted(load.latencies)
    return {
        "kind": kind,
        "devices": args.devices,
        "connections": 0 if kind == "ndjson" else args.connections,
        "workers": args.workers,
        "bridge_cores": cores or "any",
        "load_core": args.load_core,
        "window_s": round(window_s, 2),
        "positions": int(positions),
        "refused": load.failed,
        "backlog_at_window_end": int(backlog),
        "calls_sent": int(sent),
        "errors": int(errors),
        "outbox_files": files,
        "outbox_rows_after_drain": rows,
        "bridge_cpu_s": cpu["total_s"],
        "drained_s": round(drained_s, 2),
        **cpu_figures(cpu, positions),
        "positions_per_s": round(positions / window_s),
        "accept_ms_p50": percentile_ms(lat, 0.50),
        "accept_ms_p99": percentile_ms(lat, 0.99),
        "bridge_rss_kb": rss_kb,
        "bridge_tree_rss_kb": tree_rss_kb,
        "cpu": cpu,
        "head_switches_per_position": round(head_switches / positions, 2) if positions else 0,
        "workers_switches_per_position": round(worker_switches / positions, 2) if positions else 0,
        "head_cpu_s_by_thread": head_threads,
        "workers_cpu_s_by_thread": worker_threads,
        "worker_pids": workers,
        "ray_processes": len(ray_pids),  # naming its dir; those outside the tree: not counted
        "ray_processes_outside_tree": len(ray_pids - tree_after.keys()),
        "worker_restarted": workers_after != workers,
        "loadavg_before": load_before,
        "loadavg_after": load_after,
    }


async def capacity(args: argparse.Namespace) -> list[dict[str, Any]]:
    results = []
    with tempfile.TemporaryDirectory(prefix="bridgeload-") as tmp:
        work = Path(tmp)
        async with sandbox_process(work, args.devices) as sandbox_url:
            kinds = KINDS if args.kind == "all" else tuple(args.kind.split(","))
            for kind in kinds:
                result = await run_kind(args, kind, sandbox_url, work)
                print("RESULT " + json.dumps(result), flush=True)
                results.append(result)
    return results


def record(path: Path, run: str, result: Any) -> None:
    """Put `result` under results.json's "bridge" key, next to what the other runs left there."""
    results = json.loads(path.read_text()) if path.exists() else {}
    bridge = results.setdefault("bridge", {})
    bridge[run] = {
        "command": "python -m bench.bridgeload " + " ".join(sys.argv[1:]),
        # a soak ran apart: its own command is in its result
        "measured_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "cores": os.cpu_count(),
        "result": result,
    }
    path.write_text(json.dumps(results, indent=2) + "\n")


async def main_async(args: argparse.Namespace) -> Any:
    from bench import bridgepaced, bridgescale

    result: Any
    if args.run == "capacity":
        result = await capacity(args)
    elif args.run == "latency":
        result = await bridgescale.latency(args)
    elif args.run == "drain":
        result = await bridgescale.drain(args)
        print("RESULT " + json.dumps(result), flush=True)
    elif args.run == "rss":
        result = await bridgescale.rss(args)
    elif args.run == "soak":
        result = await bridgepaced.soak(args)
        print("RESULT " + json.dumps(result), flush=True)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    runs = ("capacity", "latency", "drain", "rss", "soak", "record-soak")
    parser.add_argument("--run", choices=runs, default="capacity")
    parser.add_argument("--kind", default="all", help=f"all or a comma list of {', '.join(KINDS)}")
    parser.add_argument("--devices", type=int, default=2000)
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--window-s", type=float, default=20.0)
    parser.add_argument("--warmup-s", type=float, default=3.0)
    parser.add_argument("--bridge-core", type=int, default=0, help="one process: its core")
    parser.add_argument(
        "--bridge-cores",
        help="taskset list for the bridge's whole tree, e.g. 0 or 0,1 (default: --bridge-core "
        "for one process, none with --workers N > 1)",
    )
    parser.add_argument("--load-core", type=int, default=1)
    parser.add_argument(
        "--workers", type=int, default=1, help="split the bridge across N Ray workers"
    )
    parser.add_argument("--profile", default="", help="py-spy the bridge into PREFIX-KIND.txt")
    parser.add_argument("--record", default="", help="put the result under FILE's bridge key")
    parser.add_argument("--record-key", default="", help="the name under bridge (default: --run)")
    group = parser.add_argument_group("latency")
    group.add_argument("--levels", default="0.5,0.9", help="fractions of the capacity")
    group.add_argument("--capacity", type=float, default=0.0, help="positions/s (0: measure)")
    group.add_argument("--rates", default="", help="paced rates (positions/s) besides --levels")
    group = parser.add_argument_group("drain")
    group.add_argument("--outage-rate", type=float, default=1000.0, help="positions/s")
    group.add_argument("--outage-s", type=float, default=600.0)
    group.add_argument("--drain-timeout-s", type=float, default=1800.0)
    group = parser.add_argument_group("rss")
    group.add_argument("--device-counts", default="1000,5000,20000")
    group.add_argument("--positions-each", type=int, default=3)
    group = parser.add_argument_group("soak")
    group.add_argument("--rate", type=float, default=300.0, help="positions per second")
    group.add_argument("--duration-s", type=float, default=3600.0)
    group.add_argument("--sample-s", type=float, default=300.0, help="one sample every")
    group.add_argument("--out", default="", help="the result file, rewritten at every sample")
    args = parser.parse_args()
    for kind in args.kind.split(","):
        if kind not in (*KINDS, "all"):
            parser.error(f"--kind: {kind!r} is not one of all, {', '.join(KINDS)}")
    if args.workers > 1 and args.run != "capacity":  # the other runs start one process
        parser.error(f"--workers {args.workers}: only --run capacity measures split bridges")
    if args.workers < 1:
        parser.error(f"--workers: at least 1, got {args.workers}")
    if args.run in ("soak", "record-soak") and not args.out:
        parser.error(f"--run {args.run} needs --out FILE")
    with contextlib.suppress(OSError):
        os.sched_setaffinity(0, {args.load_core})
    if args.run == "record-soak":  # a soak's --out file (it ran apart, for an hour)
        result = json.loads(Path(args.out).read_text())
    else:
        result = asyncio.run(main_async(args))
    if args.record:
        record(Path(args.record), args.record_key or args.run.removeprefix("record-"), result)


if __name__ == "__main__":
    main()

"""`python -m bench` (`make bench`): driver-agent vs Locust, throughput and cadence, on loopback.

A fast responder (`bench.responder`) runs in its own process pinned to the last core; every load
generator runs in a fresh process pinned to core 0 (`bench.loadgen` for driver-agent's closed
loop and the bare ping loop, `bench.fleetload` for workload (b) on real drivers,
`bench.locust_run` for Locust FastHttpUser), measures itself over a window after a warm-up and
prints one RESULT line. Points are interleaved across repetitions, and the table shows medians
with the spread (min-max). Everything goes to `bench/results.json` with how it was measured.

    python -m bench                      # the full run, about 14 minutes
    python -m bench --quick              # the smoke: a few seconds, a few thousand requests
    python -m bench --workloads a --reps 5
    python -m bench --workloads b --reps-b 3
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from importlib import metadata
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_OUT = ROOT / "bench" / "results.json"
PACKAGES = ("httpx", "anyio", "aiohttp", "httpx-aiohttp", "uvloop", "locust", "gevent")

METHOD = {
    "server": "bench/responder.py: asyncio(+uvloop) HTTP/1.1 keep-alive responder answering "
    '{"success":true,"rc":0} to every POST (a token to POST /oauth/token), in its own process '
    "pinned to the last core, so the figures are the client's cost",
    "client_process": "each point is a fresh Python process pinned to core 0 "
    "(os.sched_setaffinity); imports and start-up are outside the measured window",
    "requests_per_cpu_s": "requests completed in the window / (user+sys CPU of the generator "
    "process in the window, from getrusage(RUSAGE_SELF))",
    "requests_per_wall_s": "requests completed in the window / window wall seconds",
    "cpu_ms_per_10k": "generator CPU in the window, ms, per 10,000 requests",
    "latency_ms": "per request, from the caller's await to its return (driver-agent: "
    "FleetClient.update_driver_location; Locust: its own response_time), log-linear histogram",
    "workload_a": "closed loop: N callers share one client and post update_driver_location "
    "back to back; driver-agent through FleetClient (token, Authorization header, answer "
    "parsed) on api.transport=builtin; Locust FastHttpUser with wait_time=constant(0) run as a "
    "library in its own process, the same window and getrusage method",
    "ratio": "median requests_per_cpu_s of driver-agent / median of Locust FastHttpUser, same "
    "concurrency, same invocation, interleaved repetitions",
    "workload_b": "bench/fleetload.py busy: K real driver_agent Drivers run by the real Fleet "
    "(one DriverContext: FleetClient on the builtin transport, RealClock speed 1.0, "
    "StatsCollector, no recorder), one order each fed as DeliveryCreated through a memory "
    "stream; ramp-up K/P drivers per second (drift-free) so ticks spread over P; the Fleet "
    "relocates each driver 50 km from its pickup (relocate_beyond_m=0) and the navigator has no "
    "road network, so the window (after every driver started its order + 2 s) is straight-line "
    "driving with a drift-free ping every P s (position on the leg, GPS noise, lifecycle, stats)",
    "responder_lifecycle": "assign_driver/start_task/checkin/checkout/end_task/cancel_delivery "
    'answer {"success":true,"task":{"id":<posted task_id>,"status":n}}; other calls '
    '{"success":true,"rc":0}',
    "ping_lateness_ms": "the stats collector's ping lateness: when the location call went out "
    "minus its scheduled tick (the generator's own lag)",
    "delivery_lateness_ms": "the stats collector's update_driver_location latency: answer "
    "minus scheduled tick (generator lag + API latency)",
    "api_latency_ms": "the HTTP attempt alone (FleetClient on_response): API latency",
    "gaps_over_30s": "gaps_over_30s_reported: the stats collector's own count (record_ping / "
    "driver_busy): consecutive reported_time values (the scheduled ticks) of a busy driver "
    "more than 30.000 s apart, as the sandbox counts them; a tick exactly 30 s after the last "
    "is not a gap. acks_over_30s_apart_strict: the same driver's acknowledgements more than "
    "30.000 s apart in real time (at P = 30 s about half by construction: jitter of a few ms); "
    "acks_over_31s_apart: more than 31 s apart",
    "rss_kb_per_driver": "idle: VmRSS growth from spawning K drivers with no orders (each on "
    "its idle timer), after gc.collect(), / K; busy: VmRSS growth from before the Fleet to the "
    "start of the window (drivers, legs, stats, in-flight buffers), / K",
    "gc_freeze": "the benchmark calls gc.freeze() once all drivers started (the process owner's "
    "decision, not the Fleet's: it changes the whole process's collector)",
    "bare_loop": "bench/loadgen.py cadence: one task per driver posting its location on "
    "drift-free ticks through the same FleetClient, no driver logic: the floor",
    "wake_lateness_ms": "bare loop: when the task ran minus its scheduled tick",
    "cpu_share": "generator CPU / wall over the window (1.0 = one core)",
    "generator_saturated": "true when ping lateness p99 > 1 s or cpu_share > 0.9: the "
    "generator, not the API, is then the limit",
    "cpu_linearity": "cpu_ms_per_10k at K, divided by the same at the smallest K, same P",
    "scale_out": "bench/scaleout.py: for 1 and 2 workers, each a Ray actor (the layer of "
    "`driver-agent run --workers N`) running workload (b)'s busy drivers for its share, against "
    "one responder left unpinned (it shares the 2 cores with the workers); a point passes with 0 "
    "gaps over 30 s, the worst worker's ping lateness p99 < 1 s, no failed call and >= 97 % of "
    "the expected pings; the search grows by 1.25x from --start while points pass; most_drivers "
    "is the largest passing point, bounded by the first failing one",
}


def _median_spread(values: Sequence[float]) -> dict[str, float]:
    return {
        "median": round(statistics.median(values), 2),
        "min": round(min(values), 2),
        "max": round(max(values), 2),
    }


def machine() -> dict[str, Any]:
    model = ""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as info:
            for line in info:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    versions = {}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return {
        "nproc": os.cpu_count(),
        "usable_cores": sorted(os.sched_getaffinity(0)),
        "cpu_model": model,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "packages": versions,
    }


def loadavg() -> list[float]:
    try:
        with open("/proc/loadavg", encoding="ascii") as file:
            return [float(x) for x in file.read().split()[:3]]
    except OSError:
        return []


def cores() -> tuple[int | None, int | None]:
    """(generator core, server core); None where the machine has only one."""
    usable = sorted(os.sched_getaffinity(0))
    if len(usable) < 2:
        return None, None
    return usable[0], usable[-1]


@contextmanager
def responder(server_cpu: int | None) -> Iterator[str]:
    command = [sys.executable, "-m", "bench.responder", "--port", "0"]
    if server_cpu is not None:
        command += ["--cpu", str(server_cpu)]
    process = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        if not line.startswith("READY "):
            raise RuntimeError(f"responder did not start: {line!r}")
        yield f"http://127.0.0.1:{int(line.split()[1])}"
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def run_point(
    module: str, arguments: list[str], timeout_s: float, *, show_progress: bool = False
) -> dict[str, Any]:
    """One generator process; its RESULT line. `show_progress`: its stderr goes to ours as it
    comes (the long scale-out search logs each point)."""
    command = [sys.executable, "-m", module, *arguments]
    stderr = None if show_progress else subprocess.PIPE
    done = subprocess.run(
        command, cwd=ROOT, stdout=subprocess.PIPE, stderr=stderr, text=True, timeout=timeout_s,
        check=False,
    )  # fmt: skip
    for line in done.stdout.splitlines():
        if line.startswith("RESULT "):
            result: dict[str, Any] = json.loads(line[7:])
            return result
    raise RuntimeError(
        f"{module} {' '.join(arguments)} gave no result:\n{(done.stderr or '')[-2000:]}"
    )


def installed(package: str) -> bool:
    try:
        metadata.version(package)
    except metadata.PackageNotFoundError:
        return False
    return True


def locust_available() -> bool:
    return installed("locust")


def workload_a(url: str, cpu: int | None, args: argparse.Namespace, log: Any) -> dict[str, Any]:
    pin = [] if cpu is None else ["--cpu", str(cpu)]
    timing = ["--warmup-s", str(args.warmup_s), "--window-s", str(args.window_s)]
    clients: list[tuple[str, str, list[str]]] = [
        ("driver-agent builtin/asyncio", "bench.loadgen", ["closed", "--transport", "builtin"]),
    ]
    if installed("uvloop"):
        clients.append(
            (
                "driver-agent builtin/uvloop",
                "bench.loadgen",
                ["closed", "--transport", "builtin", "--loop", "uvloop"],
            )
        )
    else:
        log("uvloop is not installed (pip install -e '.[bench]'): no uvloop rows")
    if args.compare_transports:
        clients += [
            ("driver-agent aiohttp/asyncio", "bench.loadgen", ["closed", "--transport", "aiohttp"]),
            ("driver-agent httpx/asyncio", "bench.loadgen", ["closed", "--transport", "httpx"]),
        ]
    if locust_available():
        clients.append(("locust FastHttpUser", "bench.locust_run", []))
    else:
        log("locust is not installed (pip install -e '.[bench]'): no Locust ratio")
    runs: dict[str, dict[int, list[dict[str, Any]]]] = {}
    for rep in range(args.reps):
        for concurrency in args.concurrency:
            for name, module, base in clients:
                flag = "--users" if module == "bench.locust_run" else "--concurrency"
                argv = [*base, "--url", url, flag, str(concurrency), *pin, *timing]
                result = run_point(module, argv, timeout_s=60 + args.warmup_s + args.window_s)
                runs.setdefault(name, {}).setdefault(concurrency, []).append(result)
                log(
                    f"  a rep {rep + 1} c={concurrency} {name}: "
                    f"{result['requests_per_cpu_s']:.0f} req/CPU-s, {result['requests']} requests"
                )
    table: dict[str, Any] = {}
    for name, by_c in runs.items():
        table[name] = {
            str(c): {
                "requests_per_cpu_s": _median_spread([r["requests_per_cpu_s"] for r in rs]),
                "requests_per_wall_s": _median_spread([r["requests_per_wall_s"] for r in rs]),
                "cpu_ms_per_10k": _median_spread([r["cpu_ms_per_10k"] for r in rs]),
                "latency_p50_ms": _median_spread([r["latency_ms"]["p50"] for r in rs]),
                "latency_p99_ms": _median_spread([r["latency_ms"]["p99"] for r in rs]),
                "errors": sum(r["errors"] for r in rs),
                "requests": sum(r["requests"] for r in rs),
                "runs": rs,
            }
            for c, rs in by_c.items()
        }
    ratios: dict[str, dict[str, float]] = {}
    locust = table.get("locust FastHttpUser")
    if locust is not None:
        for name in ("driver-agent builtin/asyncio", "driver-agent builtin/uvloop"):
            if name not in table:
                continue
            ratios[name] = {
                c: round(
                    table[name][c]["requests_per_cpu_s"]["median"]
                    / locust[c]["requests_per_cpu_s"]["median"],
                    2,
                )
                for c in locust
            }
    return {"clients": table, "ratio_vs_locust": ratios}


def _cpu_linearity(points: list[dict[str, Any]]) -> dict[str, dict[str, float]]:
    """cpu_ms_per_10k at each K over the same at the smallest K, per interval (medians)."""
    linearity: dict[str, dict[str, float]] = {}
    for interval_s in sorted({p["interval_s"] for p in points}):
        by_k: dict[int, list[float]] = {}
        for p in points:
            if p["interval_s"] == interval_s and p.get("cpu_ms_per_10k", 0) > 0:
                by_k.setdefault(p["drivers"], []).append(p["cpu_ms_per_10k"])
        if not by_k:
            continue
        base = statistics.median(by_k[min(by_k)])
        linearity[f"{interval_s:g}s"] = {
            str(k): round(statistics.median(v) / base, 2) for k, v in sorted(by_k.items())
        }
    return linearity


def workload_b(url: str, cpu: int | None, args: argparse.Namespace, log: Any) -> dict[str, Any]:
    pin = [] if cpu is None else ["--cpu", str(cpu)]
    fleet: list[dict[str, Any]] = []
    idle: list[dict[str, Any]] = []
    bare: list[dict[str, Any]] = []
    for rep in range(args.reps_b):
        for drivers in args.idle_drivers:
            argv = ["idle", "--url", url, "--drivers", str(drivers), *pin]
            result = run_point("bench.fleetload", argv, timeout_s=300)
            result["rep"] = rep + 1
            idle.append(result)
            log(
                f"  b idle rep {rep + 1} K={drivers}: "
                f"{result['rss_kb_per_idle_driver']:.1f} KB/idle driver"
            )
        for drivers, interval_s, window_s in args.fleet_points:
            argv = [
                "busy", "--url", url, "--drivers", str(drivers), "--interval-s", str(interval_s),
                "--window-s", str(window_s), *pin,
            ]  # fmt: skip
            try:
                result = run_point(
                    "bench.fleetload", argv, timeout_s=window_s + 6 * interval_s + 240
                )
            except RuntimeError as exc:  # e.g. the generator could not even start them all
                said = [line for line in str(exc).splitlines() if "Error: " in line]
                reason = (said[-1] if said else str(exc).splitlines()[0]).strip(" |")[:200]
                fleet.append({"drivers": drivers, "interval_s": interval_s, "failed": reason})
                log(f"  b fleet rep {rep + 1} K={drivers} P={interval_s:g}s: failed: {reason}")
                continue
            result["rep"] = rep + 1
            fleet.append(result)
            log(
                f"  b fleet rep {rep + 1} K={drivers} P={interval_s:g}s: {result['pings']}/"
                f"{result['pings_expected']} pings, gaps {result['gaps_over_30s_reported']}, "
                f"lateness p99 {result['ping_lateness_ms']['p99']:.1f} ms, "
                f"cpu share {result['cpu_share']:.2f}, {result['cpu_ms_per_10k']:.0f} ms/10k"
            )
        for drivers, interval_s, window_s in args.cadence_points:
            argv = [
                "cadence", "--url", url, "--transport", "builtin", "--drivers", str(drivers),
                "--interval-s", str(interval_s), "--window-s", str(window_s), *pin,
            ]  # fmt: skip
            result = run_point("bench.loadgen", argv, timeout_s=window_s + 120)
            result["rep"] = rep + 1
            bare.append(result)
            log(
                f"  b bare loop rep {rep + 1} K={drivers} P={interval_s:g}s: {result['pings']}/"
                f"{result['pings_expected']} pings, cpu share {result['cpu_share']:.2f}, "
                f"{result['cpu_ms_per_10k']:.0f} ms/10k"
            )
    return {
        "fleet": fleet,
        "idle": idle,
        "bare_loop": bare,
        "cpu_linearity": _cpu_linearity(fleet),
        "cpu_linearity_bare_loop": _cpu_linearity(bare),
    }


def render(results: dict[str, Any]) -> str:
    lines: list[str] = []
    a = results.get("workload_a")
    if a:
        lines.append("Workload (a): location updates, closed loop, requests per client CPU-second")
        lines.append("(medians of reps, min-max in brackets; client pinned to one core)")
        header = f"{'client':32} {'c':>4} {'req/CPU-s':>24} {'req/s':>8} {'CPU ms/10k':>10}"
        lines += [header + f" {'p50 ms':>7} {'p99 ms':>7} {'err':>4}", "-" * 104]
        for name, by_c in a["clients"].items():
            for c, row in by_c.items():
                rate = row["requests_per_cpu_s"]
                spread = f"{rate['median']:.0f} [{rate['min']:.0f}-{rate['max']:.0f}]"
                lines.append(
                    f"{name:32} {c:>4} {spread:>24} "
                    f"{row['requests_per_wall_s']['median']:>8.0f} "
                    f"{row['cpu_ms_per_10k']['median']:>10.0f} "
                    f"{row['latency_p50_ms']['median']:>7.2f} "
                    f"{row['latency_p99_ms']['median']:>7.2f} {row['errors']:>4}"
                )
        for name, by_c in a["ratio_vs_locust"].items():
            pairs = ", ".join(f"c={c}: {ratio:.2f}" for c, ratio in by_c.items())
            lines.append(f"ratio {name} / Locust FastHttpUser (req per CPU-s): {pairs}")
        lines.append("")
    b = results.get("workload_b")
    if b:
        lines += render_b(b)
    c = results.get("scale_out")
    if c:
        lines += render_c(c)
    return "\n".join(lines)


def render_c(c: dict[str, Any]) -> list[str]:
    lines = ["", "Workload (c): scale-out over Ray workers, the most drivers at P with 0 gaps "
             "and lateness p99 < 1 s (responder on the same cores)"]  # fmt: skip
    for run in c["runs"]:
        best = run["best"] or {}
        per = best.get("per_worker", [])
        cpu = ", ".join(f"{w['cpu_ms_per_10k']:.0f}" for w in per) or "-"
        bound = "" if run["bounded_by_a_failing_point"] else " (every point passed: at least)"
        lines.append(
            f"{run['workers']} worker(s): {run['most_drivers']:,} drivers{bound}; "
            f"lateness p99 {best.get('worst_lateness_p99_ms', '-')} ms; CPU ms/10k pings per "
            f"worker: {cpu}"
        )
    if "ratio_2_vs_1" in c:
        lines.append(f"2 workers / 1 worker: {c['ratio_2_vs_1']:.2f}x")
    return lines


def render_b(b: dict[str, Any]) -> list[str]:
    lines = [
        "Workload (b): K real drivers (Driver + Fleet + FleetClient), one order each, pinging",
        "every P s while driving; figures over the window after setup; one process, one core",
    ]
    lines.append(
        f"{'K':>6} {'P':>3} {'pings':>15} {'gaps':>4} {'ack>30s':>7} {'ack>31s':>7} "
        f"{'lateness p50/p99/max ms':>24} {'API p99':>7} {'CPU':>5} {'ms/10k':>6} "
        f"{'req/CPU-s':>9} {'KB':>5} {'sat':>3}"
    )
    lines.append("-" * 114)
    for p in b["fleet"]:
        if "failed" in p:
            lines.append(f"{p['drivers']:>6} {p['interval_s']:>3g} failed: {p['failed']}")
            continue
        late = p["ping_lateness_ms"]
        lines.append(
            f"{p['drivers']:>6} {p['interval_s']:>3g} "
            f"{str(p['pings']) + '/' + str(p['pings_expected']):>15} "
            f"{p['gaps_over_30s_reported']:>4} {p['acks_over_30s_apart_strict']:>7} "
            f"{p['acks_over_31s_apart']:>7} "
            f"{late['p50']:>7.1f}/{late['p99']:>7.1f}/{late['max']:>8.1f} "
            f"{p['api_latency_ms']['p99']:>7.1f} {p['cpu_share']:>5.2f} "
            f"{p['cpu_ms_per_10k']:>6.0f} {p['requests_per_cpu_s']:>9.0f} "
            f"{p['rss_kb_per_busy_driver']:>5.1f} {'yes' if p['generator_saturated'] else 'no':>3}"
        )
    for interval, ratios in b["cpu_linearity"].items():
        pairs = ", ".join(f"K={k}: {r:.2f}" for k, r in ratios.items())
        lines.append(f"CPU per request relative to the smallest K (P={interval}): {pairs}")
    for p in b["idle"]:
        lines.append(
            f"idle-waiting drivers, K={p['drivers']}: {p['rss_kb_per_idle_driver']:.1f} KB RSS "
            "per driver"
        )
    if b["bare_loop"]:
        lines.append("")
        lines.append("For comparison, the bare ping loop (bench.loadgen cadence: no driver logic,")
        lines.append("one task per driver posting through the same FleetClient): the floor")
        lines.append(
            f"{'K':>6} {'P':>3} {'pings':>15} {'wake p50/p99/max ms':>24} "
            f"{'CPU':>5} {'ms/10k':>6} {'KB':>5}"
        )
        for p in b["bare_loop"]:
            wake = p["wake_lateness_ms"]
            lines.append(
                f"{p['drivers']:>6} {p['interval_s']:>3g} "
                f"{str(p['pings']) + '/' + str(p['pings_expected']):>15} "
                f"{wake['p50']:>7.1f}/{wake['p99']:>7.1f}/{wake['max']:>8.1f} "
                f"{p['cpu_share']:>5.2f} {p['cpu_ms_per_10k']:>6.0f} "
                f"{p['rss_kb_per_driver']:>5.1f}"
            )
    return lines


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="the smoke run: a few seconds")
    parser.add_argument(
        "--workloads", default="a,b,c", help="a, b, c (scale-out over Ray workers), comma-separated"
    )
    parser.add_argument("--reps", type=int, default=3, help="repetitions of workload (a)")
    parser.add_argument("--reps-b", type=int, default=1, help="repetitions of workload (b)")
    parser.add_argument("--warmup-s", type=float, default=2.0)
    parser.add_argument("--window-s", type=float, default=5.0)
    parser.add_argument("--compare-transports", action="store_true", help="aiohttp, httpx too")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args(argv)
    args.concurrency = [50, 500]
    # real drivers (K, P, window): two whole intervals at 30 s, three at 10 s; the two target
    # points (50k at 30 s, 20k at 10 s) run long enough to include full garbage collections,
    # which at these sizes are rare but the longest pauses (fleetrun.settle_collector)
    args.fleet_points = [
        (1_000, 30.0, 60.0),
        (10_000, 30.0, 60.0),
        (50_000, 30.0, 300.0),
        (100_000, 30.0, 60.0),  # issue 13's one-core target: 0 gaps, lateness p99 < 1 s
        (1_000, 10.0, 30.0),
        (10_000, 10.0, 30.0),
        (20_000, 10.0, 180.0),
        (50_000, 10.0, 30.0),
    ]
    args.idle_drivers = [1_000, 10_000, 50_000]
    # the bare ping loop, as the floor the real driver is compared with
    args.cadence_points = [(50_000, 30.0, 65.0), (50_000, 10.0, 25.0)]
    # scale-out: drivers per worker to start the search from, at P = 30 s over 60 s windows
    args.scale_out = ["--start", "100000", "--max-points", "4"]
    if args.quick:
        args.scale_out = ["--start", "300", "--max-points", "1", "--interval-s", "1",
                          "--window-s", "2"]  # fmt: skip
        args.reps, args.reps_b = 1, 1
        args.warmup_s, args.window_s = 0.3, 0.7
        args.concurrency = [50]
        args.fleet_points = [(200, 1.0, 2.0)]
        args.idle_drivers = [200]
        args.cadence_points = [(200, 1.0, 2.0)]
    return args


WORKLOAD_KEYS = {"a": "workload_a", "b": "workload_b", "c": "scale_out"}
RUN_KEYS = ("command", "machine", "pinning", "loadavg_before", "loadavg_after", "duration_s",
            "machine_busy", "table")  # fmt: skip


def merged_results(path: Path, results: dict[str, Any], workloads: set[str]) -> dict[str, Any]:
    """results.json after a partial run (`--workloads c`): the workloads it ran replaced, the
    others kept with the full run's description; this run's own (command, machine, load
    average, table) is listed under `partial_runs`."""
    try:
        previous = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        previous = {}
    if not isinstance(previous, dict) or results.get("quick") or workloads >= set(WORKLOAD_KEYS):
        return results
    merged = {**previous}
    for workload in workloads:
        merged[WORKLOAD_KEYS[workload]] = results[WORKLOAD_KEYS[workload]]
    run = {key: results[key] for key in RUN_KEYS if key in results}
    run["workloads"] = sorted(workloads)
    merged["partial_runs"] = [*previous.get("partial_runs", []), run]
    return merged


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    workloads = {w.strip() for w in args.workloads.split(",") if w.strip()}
    if not workloads <= {"a", "b", "c"}:
        raise SystemExit(f"--workloads: a, b and/or c, comma-separated; got {args.workloads!r}")
    generator_cpu, server_cpu = cores()

    def log(text: str) -> None:
        sys.stderr.write(text + "\n")

    started = time.monotonic()
    results: dict[str, Any] = {
        "command": "python -m bench " + " ".join(argv if argv is not None else sys.argv[1:]),
        "quick": args.quick,
        "machine": machine(),
        "pinning": {"generator_core": generator_cpu, "server_core": server_cpu},
        "loadavg_before": loadavg(),
        "method": METHOD,
    }
    with responder(server_cpu) as url:
        if "a" in workloads:
            log("workload (a): closed loop")
            results["workload_a"] = workload_a(url, generator_cpu, args, log)
        if "b" in workloads:
            log("workload (b): K drivers on a fixed ping interval")
            results["workload_b"] = workload_b(url, generator_cpu, args, log)
    if "c" in workloads:
        log("workload (c): scale-out over Ray workers (responder unpinned: it shares the cores)")
        with responder(None) as url:
            results["scale_out"] = run_point(
                "bench.scaleout",
                ["--url", url, *args.scale_out],
                timeout_s=3600,
                show_progress=True,
            )
    results["loadavg_after"] = loadavg()
    results["duration_s"] = round(time.monotonic() - started, 1)
    busy = max(results["loadavg_before"] + results["loadavg_after"] or [0.0]) > 1.5
    results["machine_busy"] = busy
    table = render(results)
    results["table"] = table.splitlines()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    merged = merged_results(args.out, results, workloads)
    args.out.write_text(json.dumps(merged, indent=2) + "\n", encoding="utf-8")
    print(table)
    if busy:
        print("note: other processes were using the cores (load average above 1.5); see loadavg")
    print(f"wrote {args.out} in {results['duration_s']} s")


if __name__ == "__main__":
    main()

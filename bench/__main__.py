"""`python -m bench` (`make bench`): driver-agent vs Locust, throughput and cadence, on loopback.

A fast responder (`bench.responder`) runs in its own process pinned to the last core; every load
generator runs in a fresh process pinned to core 0 (`bench.loadgen` for driver-agent,
`bench.locust_run` for Locust FastHttpUser), measures itself over a window after a warm-up and
prints one RESULT line. Points are interleaved across repetitions, and the table shows medians
with the spread (min-max). Everything goes to `bench/results.json` with how it was measured.

    python -m bench                      # the full run, about 9 minutes
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
    "workload_b": "K driver tasks (anyio task group) each posting its location every P s on "
    "drift-free deadlines (tick n = first tick + n*P, first ticks spread by a seeded RNG over "
    "the first P s) through one FleetClient (builtin transport, asyncio loop)",
    "wake_lateness_ms": "when the driver task ran minus its scheduled tick: the generator's "
    "own lag",
    "delivery_lateness_ms": "when the answer arrived minus the scheduled tick: generator lag "
    "plus API latency",
    "gaps_over_30s": "acknowledged pings of one driver more than max(30 s, P) + 1 s apart, plus "
    "drivers whose last acknowledged ping was that long before the end of the window",
    "acks_over_30s_apart_strict": "acknowledged pings of one driver more than 30.000 s apart: "
    "at P = 30 s this is about half of all pings by construction (each lands 30 s plus "
    "microseconds of jitter after the last), which is why drivers should ping at P < 30 s",
    "rss_kb_per_driver": "VmRSS growth from spawning K tasks, read once all wait for their "
    "first tick, after gc.collect() and gc.freeze(), / K",
    "cpu_share": "generator CPU / wall over the window (1.0 = one core)",
    "generator_saturated": "true when wake lateness p99 > 1 s or cpu_share > 0.9: the "
    "generator, not the API, is then the limit",
    "cpu_linearity": "cpu_ms_per_10k at K, divided by the same at the smallest K, same P",
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


def run_point(module: str, arguments: list[str], timeout_s: float) -> dict[str, Any]:
    command = [sys.executable, "-m", module, *arguments]
    done = subprocess.run(
        command, cwd=ROOT, capture_output=True, text=True, timeout=timeout_s, check=False
    )
    for line in done.stdout.splitlines():
        if line.startswith("RESULT "):
            result: dict[str, Any] = json.loads(line[7:])
            return result
    raise RuntimeError(f"{module} {' '.join(arguments)} gave no result:\n{done.stderr[-2000:]}")


def locust_available() -> bool:
    try:
        metadata.version("locust")
    except metadata.PackageNotFoundError:
        return False
    return True


def workload_a(url: str, cpu: int | None, args: argparse.Namespace, log: Any) -> dict[str, Any]:
    pin = [] if cpu is None else ["--cpu", str(cpu)]
    timing = ["--warmup-s", str(args.warmup_s), "--window-s", str(args.window_s)]
    clients: list[tuple[str, str, list[str]]] = [
        ("driver-agent builtin/asyncio", "bench.loadgen", ["closed", "--transport", "builtin"]),
        (
            "driver-agent builtin/uvloop",
            "bench.loadgen",
            ["closed", "--transport", "builtin", "--loop", "uvloop"],
        ),
    ]
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
            ratios[name] = {
                c: round(
                    table[name][c]["requests_per_cpu_s"]["median"]
                    / locust[c]["requests_per_cpu_s"]["median"],
                    2,
                )
                for c in locust
            }
    return {"clients": table, "ratio_vs_locust": ratios}


def workload_b(url: str, cpu: int | None, args: argparse.Namespace, log: Any) -> dict[str, Any]:
    pin = [] if cpu is None else ["--cpu", str(cpu)]
    points: list[dict[str, Any]] = []
    for rep in range(args.reps_b):
        for drivers, interval_s, window_s in args.cadence_points:
            argv = [
                "cadence",
                "--url",
                url,
                "--transport",
                "builtin",
                "--drivers",
                str(drivers),
                "--interval-s",
                str(interval_s),
                "--window-s",
                str(window_s),
                *pin,
            ]
            result = run_point("bench.loadgen", argv, timeout_s=window_s + 120)
            result["rep"] = rep + 1
            points.append(result)
            log(
                f"  b rep {rep + 1} K={drivers} P={interval_s:g}s: {result['pings']}/"
                f"{result['pings_expected']} pings, gaps {result['gaps_over_30s']}, "
                f"wake p99 {result['wake_lateness_ms']['p99']:.1f} ms, "
                f"cpu share {result['cpu_share']:.2f}, "
                f"{result['rss_kb_per_driver']:.1f} KB/driver"
            )
    linearity: dict[str, dict[str, float]] = {}
    for interval_s in sorted({p["interval_s"] for p in points}):
        same = [p for p in points if p["interval_s"] == interval_s and p["cpu_ms_per_10k"] > 0]
        if not same:
            continue
        by_k: dict[int, list[float]] = {}
        for p in same:
            by_k.setdefault(p["drivers"], []).append(p["cpu_ms_per_10k"])
        smallest = min(by_k)
        base = statistics.median(by_k[smallest])
        linearity[f"{interval_s:g}s"] = {
            str(k): round(statistics.median(v) / base, 2) for k, v in sorted(by_k.items())
        }
    return {"points": points, "cpu_linearity": linearity}


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
        lines.append("Workload (b): K drivers pinging every P s (drift-free ticks), one process")
        lines.append(
            f"{'K':>6} {'P':>4} {'pings':>15} {'gaps>30s':>8} {'wake p50/p99/max ms':>22} "
            f"{'deliv p99 ms':>12} {'CPU':>5} {'CPU ms/10k':>10} {'KB/drv':>6} {'sat':>4}"
        )
        lines.append("-" * 104)
        for p in b["points"]:
            wake = p["wake_lateness_ms"]
            lines.append(
                f"{p['drivers']:>6} {p['interval_s']:>4g} "
                f"{str(p['pings']) + '/' + str(p['pings_expected']):>15} "
                f"{p['gaps_over_30s']:>8} "
                f"{wake['p50']:>6.1f}/{wake['p99']:>6.1f}/{wake['max']:>7.1f} "
                f"{p['delivery_lateness_ms']['p99']:>12.1f} {p['cpu_share']:>5.2f} "
                f"{p['cpu_ms_per_10k']:>10.0f} {p['rss_kb_per_driver']:>6.1f} "
                f"{'yes' if p['generator_saturated'] else 'no':>4}"
            )
        for interval, ratios in b["cpu_linearity"].items():
            pairs = ", ".join(f"K={k}: {r:.2f}" for k, r in ratios.items())
            lines.append(f"CPU per request relative to the smallest K (P={interval}): {pairs}")
    return "\n".join(lines)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="the smoke run: a few seconds")
    parser.add_argument("--workloads", default="a,b", help="a, b or a,b")
    parser.add_argument("--reps", type=int, default=3, help="repetitions of workload (a)")
    parser.add_argument("--reps-b", type=int, default=1, help="repetitions of workload (b)")
    parser.add_argument("--warmup-s", type=float, default=2.0)
    parser.add_argument("--window-s", type=float, default=5.0)
    parser.add_argument("--compare-transports", action="store_true", help="aiohttp, httpx too")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args(argv)
    args.concurrency = [50, 500]
    # (K, P, window): at least two whole intervals after the start; 50k at 30 s over 65 s
    args.cadence_points = [
        (1_000, 30.0, 65.0),
        (10_000, 30.0, 65.0),
        (50_000, 30.0, 65.0),
        (1_000, 10.0, 25.0),
        (10_000, 10.0, 25.0),
        (20_000, 10.0, 25.0),
        (50_000, 10.0, 25.0),
    ]
    if args.quick:
        args.reps, args.reps_b = 1, 1
        args.warmup_s, args.window_s = 0.3, 0.7
        args.concurrency = [50]
        args.cadence_points = [(200, 1.0, 2.0)]
    return args


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    workloads = {w.strip() for w in args.workloads.split(",") if w.strip()}
    if not workloads <= {"a", "b"}:
        raise SystemExit(f"--workloads: a, b or a,b; got {args.workloads!r}")
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
    results["loadavg_after"] = loadavg()
    results["duration_s"] = round(time.monotonic() - started, 1)
    busy = max(results["loadavg_before"] + results["loadavg_after"] or [0.0]) > 1.5
    results["machine_busy"] = busy
    table = render(results)
    results["table"] = table.splitlines()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    print(table)
    if busy:
        print("note: other processes were using the cores (load average above 1.5); see loadavg")
    print(f"wrote {args.out} in {results['duration_s']} s")


if __name__ == "__main__":
    main()

"""Scale-out: the most drivers at P = 30 s that 1 and 2 Ray workers carry on this machine.

`python -m bench.scaleout --url URL` (or `python -m bench --workloads c`, which starts the
responder). Each worker is a Ray actor (the distributed layer `driver-agent run --workers N`
stands on) running `bench.fleetload busy` for its share of the drivers: real Drivers run by the
real Fleet, one order each, a ping every P s, measured over a window after every driver started.
A point passes when, over all workers, there are 0 gaps over 30 s, the worst worker's ping
lateness p99 is under 1 s, no call failed and at least 97 % of the expected pings went out. For
each worker count the search starts at `--start` drivers per worker, grows by `--step` while
points pass and shrinks while they fail, at most `--max-points` points; the result is the largest
passing total, with each worker's CPU per 10,000 pings.

The responder shares the cores with the workers (this machine has two): the figure is what the
whole machine carries, server included.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from typing import Any

import anyio

from bench import fleetload

PASS_LATENESS_P99_MS = 1000.0
MIN_PING_SHARE = 0.97


class BenchWorker:
    """One worker: `fleetload.busy` for its drivers, in its own process and event loop."""

    def busy(self, url: str, drivers: int, interval_s: float, window_s: float) -> dict[str, Any]:
        args = argparse.Namespace(
            url=url, cpu=None, max_in_flight=64, seed=1, drivers=drivers,
            interval_s=interval_s, idle_interval_s=60.0, window_s=window_s, settle_s=2.0,
            freeze=True,
        )  # fmt: skip
        result: dict[str, Any] = anyio.run(fleetload.busy, args, backend="asyncio")
        result["pid"] = os.getpid()
        return result


def point(
    ray: Any, url: str, workers: int, per_worker: int, interval_s: float, window_s: float
) -> dict[str, Any]:
    actor = ray.remote(num_cpus=1)(BenchWorker)
    actors = [actor.remote() for _ in range(workers)]
    try:
        parts = ray.get([a.busy.remote(url, per_worker, interval_s, window_s) for a in actors])
    except ray.exceptions.RayTaskError as exc:  # e.g. the drivers could not even all start
        reason = str(exc).strip().splitlines()[-1]
        return {"workers": workers, "drivers": workers * per_worker, "interval_s": interval_s,
                "window_s": window_s, "passed": False, "error": reason, "pings": 0,
                "pings_expected": 0, "gaps_over_30s": None, "errors": None,
                "worst_lateness_p99_ms": None, "per_worker": []}  # fmt: skip
    finally:
        for a in actors:
            ray.kill(a)
    pings = sum(p["pings"] for p in parts)
    expected = sum(p["pings_expected"] for p in parts)
    worst_p99 = max(p["ping_lateness_ms"]["p99"] for p in parts)
    gaps = sum(p["gaps_over_30s_reported"] for p in parts)
    errors = sum(p["errors"] for p in parts)
    passed = (
        gaps == 0
        and worst_p99 < PASS_LATENESS_P99_MS
        and errors == 0
        and pings >= MIN_PING_SHARE * expected
    )
    return {
        "workers": workers,
        "drivers": workers * per_worker,
        "interval_s": interval_s,
        "window_s": window_s,
        "passed": passed,
        "pings": pings,
        "pings_expected": expected,
        "gaps_over_30s": gaps,
        "errors": errors,
        "worst_lateness_p99_ms": round(worst_p99, 1),
        "per_worker": [
            {
                "pid": p["pid"],
                "drivers": p["drivers"],
                "pings": p["pings"],
                "lateness_p99_ms": round(p["ping_lateness_ms"]["p99"], 1),
                "cpu_share": p["cpu_share"],
                "cpu_ms_per_10k": p["cpu_ms_per_10k"],
                "rss_kb_per_busy_driver": p["rss_kb_per_busy_driver"],
            }
            for p in parts
        ],
    }


def search(ray: Any, url: str, workers: int, args: argparse.Namespace, log: Any) -> dict[str, Any]:
    per_worker = args.start
    points: list[dict[str, Any]] = []
    best: dict[str, Any] | None = None
    direction = 0
    for _ in range(args.max_points):
        result = point(ray, url, workers, per_worker, args.interval_s, args.window_s)
        points.append(result)
        if "error" in result:
            log(f"  {workers} worker(s), {result['drivers']:,} drivers: FAIL, {result['error']}")
        else:
            log(
                f"  {workers} worker(s), {result['drivers']:,} drivers: "
                f"{'pass' if result['passed'] else 'FAIL'}, gaps {result['gaps_over_30s']}, "
                f"lateness p99 {result['worst_lateness_p99_ms']} ms, CPU/10k "
                f"{[w['cpu_ms_per_10k'] for w in result['per_worker']]}"
            )
        if result["passed"]:
            if best is None or result["drivers"] > best["drivers"]:
                best = result
            if direction < 0:
                break  # shrinking found the first passing point
            direction = 1
            per_worker = int(per_worker * args.step)
        else:
            if direction > 0:
                break  # growing found the first failing point
            direction = -1
            per_worker = int(per_worker / args.step)
    return {
        "workers": workers,
        "most_drivers": best["drivers"] if best else 0,
        # False: every point passed up to --max-points; the most is then a lower bound
        "bounded_by_a_failing_point": any(not p["passed"] for p in points),
        "best": best,
        "points": points,
    }


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.scaleout", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--url", required=True, help="the responder (bench/responder.py)")
    parser.add_argument("--workers", default="1,2", help="worker counts, e.g. 1,2")
    parser.add_argument("--start", type=int, default=60_000, help="first drivers per worker")
    parser.add_argument("--step", type=float, default=1.25)
    parser.add_argument("--max-points", type=int, default=4)
    parser.add_argument("--interval-s", type=float, default=30.0)
    parser.add_argument("--window-s", type=float, default=60.0)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    import ray

    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    counts = [int(n) for n in args.workers.split(",")]
    ray.init(num_cpus=max(counts), include_dashboard=False, _node_ip_address="127.0.0.1",
             logging_level=logging.WARNING, log_to_driver=False)  # fmt: skip

    def log(text: str) -> None:
        sys.stderr.write(text + "\n")
        sys.stderr.flush()

    try:
        runs = [search(ray, args.url, n, args, log) for n in counts]
    finally:
        ray.shutdown()
    result: dict[str, Any] = {"mode": "scale-out", "runs": runs}
    by_workers = {r["workers"]: r["most_drivers"] for r in runs}
    if by_workers.get(1) and 2 in by_workers:
        result["ratio_2_vs_1"] = round(by_workers[2] / by_workers[1], 2)
    sys.stdout.write("RESULT " + json.dumps(result) + "\n")


if __name__ == "__main__":
    main()

"""Locust FastHttpUser on workload (a), measured like `bench.loadgen closed`: one `RESULT` line.

    python -m bench.locust_run --url URL --users 500 --warmup-s 2 --window-s 8 --cpu 0

Locust runs in this process as a library (its own runner, stats and gevent loop, exactly what
its CLI runs), so requests and getrusage CPU are read over the same window after the warm-up as
for driver-agent; Locust's start-up and imports are not in its figures either.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import time

import gevent
from locust.env import Environment

from bench.locustfile import LocationUser


def cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", required=True)
    parser.add_argument("--users", type=int, default=50)
    parser.add_argument("--warmup-s", type=float, default=2.0)
    parser.add_argument("--window-s", type=float, default=8.0)
    parser.add_argument("--cpu", type=int, default=None)
    args = parser.parse_args(argv)
    if args.cpu is not None and args.cpu in os.sched_getaffinity(0):
        os.sched_setaffinity(0, {args.cpu})
    LocationUser.host = args.url
    env = Environment(user_classes=[LocationUser])
    runner = env.create_local_runner()
    runner.start(args.users, spawn_rate=args.users)
    gevent.sleep(args.warmup_s)
    total = env.stats.total
    done0, fail0, cpu0, wall0 = total.num_requests, total.num_failures, cpu_s(), time.perf_counter()
    gevent.sleep(args.window_s)
    done1, fail1, cpu1, wall1 = total.num_requests, total.num_failures, cpu_s(), time.perf_counter()
    runner.quit()
    requests = done1 - done0
    cpu = cpu1 - cpu0
    wall = wall1 - wall0
    result = {
        "mode": "closed",
        "transport": "locust-fasthttpuser",
        "loop": "gevent",
        "concurrency": args.users,
        "requests": requests,
        "errors": fail1 - fail0,
        "cpu_s": round(cpu, 4),
        "wall_s": round(wall, 4),
        "requests_per_cpu_s": round(requests / cpu, 1) if cpu > 0 else 0.0,
        "requests_per_wall_s": round(requests / wall, 1) if wall > 0 else 0.0,
        "cpu_ms_per_10k": round(cpu * 1000.0 / requests * 10_000, 1) if requests else 0.0,
        "latency_ms": {
            "count": total.num_requests,
            "p50": float(total.get_response_time_percentile(0.5) or 0.0),
            "p90": float(total.get_response_time_percentile(0.9) or 0.0),
            "p99": float(total.get_response_time_percentile(0.99) or 0.0),
            "max": float(total.max_response_time or 0.0),
        },
    }
    sys.stdout.write("RESULT " + json.dumps(result) + "\n")


if __name__ == "__main__":
    main()

"""Smoke run of the benchmark (`python -m bench --quick`): it runs, bounded, and reports figures.

No speed is asserted here: the figures depend on the machine. `make bench` measures.
"""

from __future__ import annotations

import json
import subprocess
import sys
from importlib import metadata
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _has_locust() -> bool:
    try:
        metadata.version("locust")
    except metadata.PackageNotFoundError:
        return False
    return True


def test_the_quick_benchmark_writes_positive_figures_and_prints_one_table(
    tmp_path: Path,
) -> None:
    out = tmp_path / "results.json"
    done = subprocess.run(
        [sys.executable, "-m", "bench", "--quick", "--workloads", "a,b", "--out", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=150,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert "Workload (a)" in done.stdout
    assert "Workload (b)" in done.stdout
    results = json.loads(out.read_text(encoding="utf-8"))
    assert results["quick"] is True
    assert results["machine"]["nproc"] >= 1
    assert set(results["method"]) >= {"requests_per_cpu_s", "ping_lateness_ms", "gaps_over_30s"}

    ours = results["workload_a"]["clients"]["driver-agent builtin/asyncio"]["50"]
    assert ours["requests"] > 100
    assert ours["errors"] == 0
    for figure in ("requests_per_cpu_s", "requests_per_wall_s", "cpu_ms_per_10k"):
        assert ours[figure]["median"] > 0, figure
    assert ours["latency_p99_ms"]["median"] >= ours["latency_p50_ms"]["median"] > 0
    if _has_locust():
        assert results["workload_a"]["ratio_vs_locust"]["driver-agent builtin/asyncio"]["50"] > 0

    b = results["workload_b"]
    (fleet,) = b["fleet"]
    assert fleet["progress"]["drivers_busy"] == fleet["drivers"] == 200
    assert fleet["progress"]["driver_errors"] == 0
    # one ping per driver per interval over the window, give or take the ones at its edges
    assert abs(fleet["pings"] - fleet["pings_expected"]) <= fleet["drivers"] * 0.05
    assert fleet["errors"] == 0
    assert fleet["gaps_over_30s_reported"] == 0
    assert fleet["acks_over_31s_apart"] == 0
    assert fleet["rss_kb_per_busy_driver"] > 0
    late = fleet["ping_lateness_ms"]
    assert late["max"] >= late["p99"] >= late["p50"] >= 0
    assert fleet["delivery_lateness_ms"]["p50"] >= late["p50"]
    assert fleet["cpu_ms_per_10k"] > 0
    (idle,) = b["idle"]
    assert idle["rss_kb_per_idle_driver"] > 0
    (point,) = b["bare_loop"]
    assert point["pings"] == point["pings_expected"] > 0
    assert point["gaps_over_30s"] == 0
    assert "real drivers" in done.stdout


def test_the_quick_benchmark_ran_its_scale_out_point_on_ray_workers(tmp_path: Path) -> None:
    out = tmp_path / "results.json"
    done = subprocess.run(
        [sys.executable, "-m", "bench", "--quick", "--workloads", "c", "--out", str(out)],
        cwd=ROOT, capture_output=True, text=True, timeout=150, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    runs = json.loads(out.read_text(encoding="utf-8"))["scale_out"]["runs"]
    assert [r["workers"] for r in runs] == [1, 2]
    for run in runs:
        (point,) = run["points"]
        assert len(point["per_worker"]) == run["workers"]
        assert len({w["pid"] for w in point["per_worker"]}) == run["workers"]
        assert point["pings"] > 0
        assert point["errors"] == 0

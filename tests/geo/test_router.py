"""Tests for driver_agent.geo.router: A* finds what the previous Dijkstra found, and caches."""

from __future__ import annotations

import json
import random
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from driver_agent.geo.roads import RoadNetwork
from driver_agent.geo.router import Router, adjacency_lists, dijkstra_search

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("name", ["helsinki", "liechtenstein"])
def test_astar_finds_the_same_routes_as_the_previous_dijkstra(name: str) -> None:
    network = RoadNetwork.bundled(name)
    edges = network.edges
    adjacency = adjacency_lists(
        network.node_count, [e.u for e in edges], [e.v for e in edges], [e.oneway for e in edges]
    )
    costs = [e.cost_s for e in edges]
    rng = random.Random(11)
    compared = 0
    for _ in range(150):
        a = network._snap(*network.random_point(rng))
        b = network._snap(*network.random_point(rng))
        assert a is not None
        assert b is not None
        starts, finishes, direct = network.search_ends(a, b)
        old = dijkstra_search(adjacency, costs, starts, finishes, direct)
        new = network.router.search(starts, finishes, direct)
        assert (old is None) == (new is None)
        if old is None or new is None:
            continue
        compared += 1
        assert new.cost_s == pytest.approx(old.cost_s, rel=1e-9)
        old_track = network._track(network.pieces(old, a, b, starts, finishes), a)
        new_track = network._track(network.pieces(new, a, b, starts, finishes), a)
        assert new_track.length_m == pytest.approx(old_track.length_m, rel=1e-6, abs=1e-3)
    assert compared > 100


def _line_graph(cache_size: int = 4) -> Router:
    # 0 -> 1 -> 2 -> 3, 100 m apart, 10 m/s; edge 1 (1->2) one-way
    x = np.array([0.0, 100.0, 200.0, 300.0])
    return Router(
        4,
        np.array([0, 1, 2]),
        np.array([1, 2, 3]),
        np.array([10.0, 10.0, 10.0]),
        np.array([100.0, 100.0, 100.0]),
        np.array([False, True, False]),
        x,
        np.zeros(4),
        cache_size=cache_size,
    )


def test_a_path_follows_one_way_rules_and_reports_its_steps() -> None:
    router = _line_graph()
    forward = router.search([(0, 0.0, 0.0)], {3: (0.0, 0.0)}, float("inf"))
    assert forward is not None
    assert forward.cost_s == pytest.approx(30.0)
    assert forward.steps == ((0, True), (1, True), (2, True))
    assert (forward.start, forward.end) == (0, 3)
    assert router.search([(3, 0.0, 0.0)], {0: (0.0, 0.0)}, float("inf")) is None  # 1->2 only


def test_the_cheaper_of_two_starts_and_finishes_wins() -> None:
    router = _line_graph()
    found = router.search([(0, 50.0, 0.0), (1, 1.0, 0.0)], {2: (12.0, 0.0), 3: (0.0, 0.0)}, 1e9)
    assert found is not None
    assert (found.start, found.end) == (1, 3)
    assert found.cost_s == pytest.approx(21.0)


def test_nothing_is_returned_when_the_bound_is_cheaper() -> None:
    router = _line_graph()
    assert router.search([(0, 0.0, 0.0)], {3: (0.0, 0.0)}, 29.0) is None
    assert router.search([(0, 0.0, 0.0)], {3: (0.0, 0.0)}, 31.0) is not None


def test_repeated_queries_hit_the_lru_cache_and_old_ones_fall_out() -> None:
    router = _line_graph(cache_size=2)
    queries = [([(0, 0.0, 0.0)], {n: (0.0, 0.0)}) for n in (1, 2, 3)]
    first = router.search(*queries[0], float("inf"))
    assert router.search(*queries[0], float("inf")) == first
    assert (router.hits, router.misses) == (1, 1)
    router.search(*queries[1], float("inf"))
    router.search(*queries[2], float("inf"))  # evicts the first
    router.search(*queries[0], float("inf"))
    assert (router.hits, router.misses) == (1, 4)


def test_the_routing_bench_runs_quick_and_its_routers_agree(tmp_path: Path) -> None:
    out = tmp_path / "routing.json"
    done = subprocess.run(
        [sys.executable, "-m", "bench.routing", "--quick", "--pairs", "10", "--out", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    results = json.loads(out.read_text())
    assert set(results) == {
        "synthetic grid 60x60, roads build",
        "synthetic grid 60x60, format 3",
        "Helsinki (bundled)",
        "Helsinki, roads build",
        "Liechtenstein (bundled)",
        "Liechtenstein, roads build",
    }
    routers = [figures["router"] for figures in results.values()]
    assert routers == ["CH", "ALT", "ALT", "CH", "ALT", "CH"]
    for figures in results.values():
        assert figures["same_cost_as_old"] == figures["old_pairs"] > 0
        assert figures["cache_hits"] >= figures["pairs"]  # the second pass is all hits
        assert 0 < figures["new_p50_ms"] <= figures["new_p95_ms"]

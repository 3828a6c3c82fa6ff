"""Tests for the landmark (ALT) router: the same travel times as Dijkstra on a grid with one-way
streets and on both bundled maps, and landmark bounds that never exceed the true cost."""

from __future__ import annotations

import random

import numpy as np
import pytest
from road_grid import grid_network

from driver_agent.geo import landmarks
from driver_agent.geo.roads import RoadNetwork
from driver_agent.geo.router import adjacency_lists, dijkstra_search


def compare_with_dijkstra(network: RoadNetwork, pairs: int, seed: int) -> int:
    """Route `pairs` random pairs with the router and with Dijkstra; the count compared."""
    assert network.router.landmarks is not None  # computed at load: a small graph
    edges = network.edges
    adjacency = adjacency_lists(
        network.node_count, [e.u for e in edges], [e.v for e in edges], [e.oneway for e in edges]
    )
    costs = [e.cost_s for e in edges]
    rng = random.Random(seed)
    compared = 0
    for _ in range(pairs):
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
    return compared


def test_alt_finds_the_same_travel_times_as_dijkstra_on_a_grid_with_one_way_streets() -> None:
    assert compare_with_dijkstra(grid_network(), 300, seed=5) > 250


@pytest.mark.parametrize("name", ["helsinki", "liechtenstein"])
def test_alt_finds_the_same_travel_times_as_dijkstra_on_the_bundled_maps(name: str) -> None:
    assert compare_with_dijkstra(RoadNetwork.bundled(name), 300, seed=17) > 250


def test_landmark_bounds_never_exceed_the_true_cost_and_are_tight_somewhere() -> None:
    network = grid_network()
    router = network.router
    marks = router.landmarks
    assert marks is not None
    assert len(marks.nodes) == landmarks.DEFAULT_COUNT
    rng = random.Random(3)
    tight = 0
    for _ in range(40):
        goal, extra = rng.randrange(network.node_count), rng.uniform(0.0, 20.0)
        for v in rng.sample(range(network.node_count), 20):
            # the true cost from v to the goal (plus what remains after it): Dijkstra
            truth = landmarks.travel_times(router._indptr, router._head, router._cost, v)[goal]
            truth += extra
            for to, a, back, b in marks.bounds(v, [(goal, extra)], active=len(marks.nodes)):
                bound = max(a - to[v], back[v] - b) * marks.scale
                assert bound <= truth
                tight += truth - bound < 1.0
    assert tight > 0  # the bounds are not trivially zero


def test_without_landmarks_the_router_falls_back_to_plain_astar_with_the_same_costs() -> None:
    network = grid_network()
    rng = random.Random(8)
    ends = []
    for _ in range(60):
        a = network._snap(*network.random_point(rng))
        b = network._snap(*network.random_point(rng))
        assert a is not None
        assert b is not None
        ends.append(network.search_ends(a, b))
    with_landmarks = [network.router.search(*e) for e in ends]
    network.router.landmarks = None
    network.router._cache.clear()
    plain = [network.router.search(*e) for e in ends]
    assert network.router.misses == 2 * len(ends)  # searched again, not served from the cache
    for x, y in zip(with_landmarks, plain, strict=True):
        assert (x is None) == (y is None)
        if x is not None and y is not None:
            assert x.cost_s == pytest.approx(y.cost_s, rel=1e-9)


def test_landmarks_sit_on_the_edge_of_the_map_in_different_directions() -> None:
    x = np.array([0.0, 10.0, -10.0, 0.0, 0.0, 1.0])
    y = np.array([0.0, 0.0, 0.0, 10.0, -10.0, 1.0])
    assert sorted(landmarks.pick_nodes(x, y, 4)) == [1, 2, 3, 4]
    assert landmarks.pick_nodes(x[:0], y[:0], 4) == []

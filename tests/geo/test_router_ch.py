"""Tests for the contraction hierarchy router (`geo.hierarchy`): the same travel times as
Dijkstra on a grid with one-way streets and on both bundled maps, paths that unpack into
connected original edges, no path where there is none; and the hierarchy in the graph file:
written by `roads build`'s fields, read back the same, checked, not used when stale."""

from __future__ import annotations

import base64
import gzip
import json
import random
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from road_grid import grid_network

from driver_agent.core.errors import ConfigError
from driver_agent.geo import contraction, hierarchy, roads
from driver_agent.geo.roadfile import (
    GRAPH_FORMAT_V3,
    bundled_graph_path,
    hierarchy_fields,
    landmark_fields,
    read_graph,
)
from driver_agent.geo.roads import RoadNetwork
from driver_agent.geo.router import Path as GraphPath
from driver_agent.geo.router import adjacency_lists, dijkstra_search


def with_hierarchy(network: RoadNetwork) -> RoadNetwork:
    router = network.router
    router.adopt(None, router.compute_hierarchy(), compute_landmarks=False)
    assert router.hierarchy is not None
    return network


def drives(network: RoadNetwork, path: GraphPath) -> float:
    """The cost of the path's edges, checking each starts where the previous ended and no
    one-way street is driven against its direction."""
    at, total = path.start, 0.0
    for index, forward in path.steps:
        edge = network.edges[index]
        assert forward or not edge.oneway
        u, v = (edge.u, edge.v) if forward else (edge.v, edge.u)
        assert u == at
        at, total = v, total + edge.cost_s
    assert at == path.end
    return total


def compare_with_dijkstra(network: RoadNetwork, pairs: int, seed: int) -> int:
    """Route `pairs` random pairs with the hierarchy and with Dijkstra; the count compared."""
    assert network.router.hierarchy is not None
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
        ends = dict((n, c) for n, c, _ in starts)[new.start] + finishes[new.end][0]
        assert drives(network, new) + ends == pytest.approx(new.cost_s, rel=1e-9)
    return compared


def test_ch_finds_the_same_travel_times_as_dijkstra_on_a_grid_with_one_way_streets() -> None:
    assert compare_with_dijkstra(with_hierarchy(grid_network()), 300, seed=5) > 250


@pytest.mark.parametrize("name", ["helsinki", "liechtenstein"])
def test_ch_finds_the_same_travel_times_as_dijkstra_on_the_bundled_maps(name: str) -> None:
    # a fresh network: the shared bundled one routes with landmarks
    network = with_hierarchy(RoadNetwork.from_data(read_graph(bundled_graph_path(name))))
    assert compare_with_dijkstra(network, 300, seed=17) > 250


def test_each_shortcut_joins_two_earlier_arcs_end_to_start_and_costs_what_they_cost() -> None:
    router = grid_network().router
    ranks = contraction.contract(router._indptr, router._head, router._cost, router.costs_sum)
    assert sorted(ranks.rank.tolist()) == list(range(len(router._indptr) - 1))
    assert ranks.arcs == len(router._head)
    indptr = np.frombuffer(router._indptr, dtype=np.int32)
    tail = np.concatenate([np.repeat(np.arange(len(indptr) - 1), np.diff(indptr)), ranks.tail])
    head = np.concatenate([np.frombuffer(router._head, dtype=np.int32), ranks.head])
    cost = np.concatenate([np.frombuffer(router._cost, dtype=np.float64), ranks.cost])
    shortcut = ranks.arcs + np.arange(len(ranks.tail))
    assert len(shortcut) > 100
    assert bool(np.all((ranks.first < shortcut) & (ranks.second < shortcut)))
    assert np.array_equal(tail[ranks.first], ranks.tail)
    assert np.array_equal(head[ranks.first], tail[ranks.second])
    assert np.array_equal(head[ranks.second], ranks.head)
    assert np.allclose(cost[ranks.first] + cost[ranks.second], ranks.cost, rtol=1e-12)
    # the junction a shortcut bypasses ranks below both its ends
    middle = ranks.rank[head[ranks.first]]
    assert bool(np.all((middle < ranks.rank[ranks.tail]) & (middle < ranks.rank[ranks.head])))


def test_no_path_between_two_separate_roads_is_none() -> None:
    nodes = [(60.0, 25.0), (60.0, 25.001), (60.01, 25.0), (60.01, 25.001)]
    edges = [(0, 1, "residential", 0.0, False, []), (2, 3, "residential", 0.0, True, [])]
    network = with_hierarchy(RoadNetwork(nodes, edges))
    ranks = network.router.hierarchy
    assert ranks is not None
    assert ranks.search([(0, 0.0, 0.0)], {3: (0.0, 0.0)}) is None
    assert ranks.search([(3, 0.0, 0.0)], {2: (0.0, 0.0)}) is None  # against the one-way
    found = ranks.search([(2, 1.0, 0.0)], {3: (2.0, 0.0)})
    assert found is not None
    assert found.cost_s == pytest.approx(3.0 + network.edges[1].cost_s)


def write(path: Path, doc: dict[str, Any]) -> Path:
    path.write_bytes(gzip.compress(json.dumps(doc).encode(), mtime=0))
    return path


def test_the_hierarchy_written_to_the_file_reads_back_the_same_and_is_used(
    tmp_path: Path,
) -> None:
    doc = grid_network().to_json()
    plain = RoadNetwork.load(write(tmp_path / "plain.roads.json.gz", doc))
    ranks = plain.router.compute_hierarchy()
    path = write(tmp_path / "grid.roads.json.gz", {**doc, "hierarchy": hierarchy_fields(ranks)})
    data = read_graph(path)
    assert data.hierarchy is not None
    assert data.hierarchy.tables() == ranks.tables()
    assert len(ranks.tables()["first"]) == ranks.shortcuts > 0
    assert (data.hierarchy.arcs, data.hierarchy.costs_sum) == (ranks.arcs, ranks.costs_sum)
    loaded = RoadNetwork.load(path)
    assert loaded.router.hierarchy is not None
    assert loaded.router.landmarks is None  # not computed beside it
    assert compare_with_dijkstra(loaded, 60, seed=2) > 40


def test_a_format_3_file_with_landmarks_still_loads_and_routes_with_them(tmp_path: Path) -> None:
    network = grid_network()
    fields = landmark_fields(network.router.compute_landmarks(6))
    doc = {**network.to_json(), "format": GRAPH_FORMAT_V3, "landmarks": fields}
    loaded = RoadNetwork.load(write(tmp_path / "v3.roads.json.gz", doc))
    assert loaded.router.hierarchy is None
    assert loaded.router.landmarks is not None
    assert len(loaded.router.landmarks.nodes) == 6
    assert loaded.route(60.001, 25.001, 60.018, 25.03) is not None


def test_a_hierarchy_made_on_other_costs_is_not_used(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    network = grid_network()
    fields = hierarchy_fields(network.router.compute_hierarchy())
    stale = {**fields, "costs_sum": fields["costs_sum"] * 0.9}  # as if cruise speeds changed
    path = write(tmp_path / "stale.roads.json.gz", {**network.to_json(), "hierarchy": stale})
    monkeypatch.setattr(roads, "LANDMARKS_AT_LOAD", 100)
    loaded = RoadNetwork.load(path)
    assert loaded.router.hierarchy is None  # big: plain A*, not stale shortcuts
    assert loaded.router.landmarks is None
    assert loaded.route(60.001, 25.001, 60.018, 25.03) is not None


def _b64(values: list[int], dtype: str = "<i4") -> str:
    return base64.b64encode(np.asarray(values, dtype=dtype).tobytes()).decode()


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"up_ptr": _b64([0, 1])}, "hierarchy: up_ptr: 8 bytes, expected 148"),
        ({"down_ptr": _b64([1] * 37)}, "hierarchy: down_ptr: not the rows' starts"),
        ({"up_head": _b64([1])}, "hierarchy: up_head: 4 bytes, expected"),
        ({"up_cost": _b64([1])}, "hierarchy: up_cost: 4 bytes, expected"),
        ({"first": _b64([1, 2, 3])}, "hierarchy: second: "),
        ({"arcs": -1}, "hierarchy: arcs -1, costs_sum"),
    ],
)
def test_a_bad_hierarchy_is_an_error_naming_the_file_and_the_key(
    tmp_path: Path, change: dict[str, Any], message: str
) -> None:
    network = grid_network(6)
    fields = hierarchy_fields(network.router.compute_hierarchy())
    doc = {**network.to_json(), "hierarchy": {**fields, **change}}
    path = write(tmp_path / "bad.roads.json.gz", doc)
    with pytest.raises(ConfigError) as caught:
        read_graph(path)
    assert str(path) in str(caught.value)
    assert message in str(caught.value)


def test_decode_rejects_junctions_and_arcs_that_do_not_exist_or_come_later() -> None:
    network = grid_network(6)
    ready = network.router.compute_hierarchy()
    assert ready.shortcuts > 1
    tables = hierarchy.encode(ready)
    count, arcs, costs_sum = network.node_count, ready.arcs, ready.costs_sum
    assert hierarchy.decode(tables, arcs, costs_sum, count).tables() == ready.tables()

    def changed(name: str, index: int, value: float) -> dict[str, bytes]:
        values = np.frombuffer(tables[name], dtype="<f8" if "cost" in name else "<i4").copy()
        values[index] = value
        return {**tables, name: values.tobytes()}

    cases = [
        (changed("up_head", 0, count), "up_head: a junction that does not exist"),
        (changed("down_arc", 0, arcs + ready.shortcuts), "down_arc: an arc that does not exist"),
        (changed("first", 0, arcs + 1), "first: an arc that does not precede its shortcut"),
        (changed("up_cost", 0, float("nan")), "up_cost: a cost that is not finite"),
    ]
    for bad, message in cases:
        with pytest.raises(ValueError, match=message):
            hierarchy.decode(bad, arcs, costs_sum, count)

"""Tests for driver_agent.geo.osm_graph: tag rules, splitting, strong components, depots."""

from __future__ import annotations

import random

import pytest

from driver_agent.geo.geometry import haversine_m
from driver_agent.geo.osm_graph import (
    Area,
    Graph,
    Way,
    WayRule,
    build_graph,
    largest_strong_component,
    pick_depots,
    ring_area_m2,
    way_rule,
)


@pytest.mark.parametrize(
    ("tags", "oneway"),
    [
        pytest.param({"highway": "residential"}, 0, id="two-way"),
        pytest.param({"highway": "residential", "oneway": "yes"}, 1, id="yes"),
        pytest.param({"highway": "residential", "oneway": "true"}, 1, id="true"),
        pytest.param({"highway": "residential", "oneway": "1"}, 1, id="1"),
        pytest.param({"highway": "residential", "oneway": "-1"}, -1, id="reverse"),
        pytest.param({"highway": "primary", "junction": "roundabout"}, 1, id="roundabout"),
        pytest.param({"highway": "motorway"}, 1, id="motorway-implied"),
        pytest.param({"highway": "motorway_link"}, 1, id="motorway-link-implied"),
        pytest.param({"highway": "motorway", "oneway": "no"}, 0, id="motorway-two-way"),
        pytest.param({"highway": "residential", "oneway": "no"}, 0, id="no"),
    ],
)
def test_one_way_rules(tags: dict[str, str], oneway: int) -> None:
    rule = way_rule(tags)
    assert rule is not None
    assert rule.oneway == oneway


@pytest.mark.parametrize(
    "tags",
    [
        pytest.param({"highway": "footway"}, id="footway"),
        pytest.param({"highway": "cycleway"}, id="cycleway"),
        pytest.param({"building": "yes"}, id="not-a-road"),
        pytest.param({"highway": "residential", "access": "private"}, id="private"),
        pytest.param({"highway": "primary", "motor_vehicle": "no"}, id="no-motor-vehicles"),
        pytest.param({"highway": "service", "service": "parking_aisle"}, id="parking-aisle"),
        pytest.param({"highway": "service", "area": "yes"}, id="area"),
    ],
)
def test_ways_a_van_may_not_drive_are_left_out(tags: dict[str, str]) -> None:
    assert way_rule(tags) is None


def test_speed_limits_and_classes_are_kept() -> None:
    assert way_rule({"highway": "primary", "maxspeed": "30 mph"}) == WayRule(
        "primary", pytest.approx(48.28, abs=0.01), 0
    )
    assert way_rule({"highway": "service"}) == WayRule("service", 0.0, 0)


def _way(rule: WayRule, *refs: int) -> Way:
    # node r sits at (0, r / 1000) degrees
    return Way(rule, tuple((r, 0.0, r / 1000.0) for r in refs))


TWO_WAY = WayRule("residential", 0.0, 0)


def test_ways_split_at_shared_nodes_and_keep_their_shape_between() -> None:
    graph = build_graph([_way(TWO_WAY, 1, 2, 3, 4, 5), _way(TWO_WAY, 3, 30, 31)])
    # junctions: 1, 3, 5 (way ends / shared) and 31; 2, 4 and 30 are shape points
    assert graph.nodes == [(0.0, 0.001), (0.0, 0.003), (0.0, 0.005), (0.0, 0.031)]
    ends = sorted((u, v, len(shape)) for u, v, *_, shape in graph.edges)
    assert ends == [(0, 1, 1), (1, 2, 1), (1, 3, 1)]
    assert graph.all_nodes == 4


def test_a_reversed_one_way_is_stored_in_its_driving_direction() -> None:
    graph = build_graph([_way(WayRule("residential", 50.0, -1), 1, 2, 3), _way(TWO_WAY, 3, 4, 1)])
    one_way = next(e for e in graph.edges if e[4])
    u, v = one_way[0], one_way[1]
    assert graph.nodes[u][1] > graph.nodes[v][1]  # from node 3 to node 1
    assert one_way[3] == pytest.approx(50.0 / 3.6)


def test_only_the_largest_strongly_connected_part_is_kept() -> None:
    one_way = WayRule("residential", 0.0, 1)
    graph = build_graph(
        [
            _way(TWO_WAY, 1, 2),
            _way(TWO_WAY, 2, 3),
            _way(TWO_WAY, 3, 4),
            _way(one_way, 4, 9),  # a one-way dead end: 9 can be reached but not left
            _way(TWO_WAY, 20, 21),  # an island
        ]
    )
    assert len(graph.nodes) == 4
    assert graph.all_nodes == 7
    assert len(graph.edges) == 3


def _brute_force_components(successors: list[list[int]]) -> list[set[int]]:
    n = len(successors)
    reach = []
    for s in range(n):
        seen, todo = {s}, [s]
        while todo:
            for nxt in successors[todo.pop()]:
                if nxt not in seen:
                    seen.add(nxt)
                    todo.append(nxt)
        reach.append(seen)
    return [{t for t in range(n) if t in reach[s] and s in reach[t]} for s in range(n)]


@pytest.mark.parametrize("seed", range(30))
def test_the_strong_component_matches_a_brute_force_search(seed: int) -> None:
    rng = random.Random(seed)
    n = rng.randint(1, 40)
    successors = [[rng.randrange(n) for _ in range(rng.randint(0, 3))] for _ in range(n)]
    found = largest_strong_component(successors)
    components = _brute_force_components(successors)
    biggest = max(len(c) for c in components)
    assert len(found) == biggest
    assert found in components


def test_a_deep_chain_does_not_hit_the_recursion_limit() -> None:
    n = 50_000
    successors = [[(i + 1) % n] for i in range(n)]
    assert len(largest_strong_component(successors)) == n


def _grid_graph() -> Graph:
    # a 5 x 5 grid of two-way streets, 0.01 degrees (about 1.1 km) apart
    ways = []
    for i in range(5):
        ways.append(Way(TWO_WAY, tuple((100 * i + j, i / 100, j / 100) for j in range(5))))
        ways.append(Way(TWO_WAY, tuple((100 * j + i, j / 100, i / 100) for j in range(5))))
    return build_graph(ways)


def test_depots_go_to_the_junctions_nearest_the_given_points() -> None:
    graph = _grid_graph()
    # corners join two streets only: a depot goes to a junction of three or more
    depots = pick_depots(graph, [(0.0201, 0.0299), (0.001, 0.0099)])
    assert [(round(lat, 4), round(lng, 4)) for _, lat, lng in depots] == [
        (0.02, 0.03),
        (0.0, 0.01),
    ]
    with pytest.raises(ValueError, match=r"depot 0.5,0.5 is \d+ m from the nearest road node"):
        pick_depots(graph, [(0.5, 0.5)])


def _square(lat: float, lng: float, side: float) -> Area:
    ring = ((lat, lng), (lat + side, lng), (lat + side, lng + side), (lat, lng + side), (lat, lng))
    return Area("industrial", ring)


def test_without_given_points_depots_go_to_the_largest_land_use_areas_spread_out() -> None:
    graph = _grid_graph()
    areas = [
        _square(0.008, 0.008, 0.004),  # the largest, around junction (0.01, 0.01)
        _square(0.019, 0.009, 0.002),  # next to it: skipped while farther ones remain
        _square(0.0295, 0.0295, 0.001),  # the smallest, at (0.03, 0.03)
        _square(5.0, 5.0, 0.02),  # far off the roads: never a depot
    ]
    depots = pick_depots(graph, areas=areas, count=2)
    assert [(round(lat, 2), round(lng, 2)) for _, lat, lng in depots] == [
        (0.01, 0.01),
        (0.03, 0.03),
    ]
    assert all("industrial" in name for name, _, _ in depots)


def test_without_land_use_depots_go_to_the_quantile_corners() -> None:
    graph = _grid_graph()
    depots = pick_depots(graph)
    assert [name for name, _, _ in depots] == ["Depot NW", "Depot NE", "Depot SW", "Depot SE"]
    assert len({(lat, lng) for _, lat, lng in depots}) == 4


def test_a_ring_area_is_close_to_the_true_area() -> None:
    ring = _square(47.0, 9.5, 0.01).ring
    side_ns = haversine_m(47.0, 9.5, 47.01, 9.5)
    side_ew = haversine_m(47.0, 9.5, 47.0, 9.51)
    assert ring_area_m2(ring) == pytest.approx(side_ns * side_ew, rel=0.01)
    assert ring_area_m2(ring[:2]) == 0.0

"""Tests for driver_agent.geo.roads: the committed Helsinki graph, its routes, and routing on it."""

from __future__ import annotations

import gzip
import json
import random
from pathlib import Path

import pytest
import shapely
from shapely.geometry import Point

from driver_agent.core.errors import ConfigError
from driver_agent.geo.geometry import haversine_m
from driver_agent.geo.roads import RoadNetwork, route_files, routes_dir, travel_track
from driver_agent.geo.tracks import Track, load_track

ON_GRAPH_M = 2.0


@pytest.fixture(scope="module")
def network() -> RoadNetwork:
    return RoadNetwork.load()


def _max_off_graph_m(network: RoadNetwork, track: Track) -> float:
    tree = shapely.STRtree([e.line for e in network.edges])
    worst = 0.0
    for lat, lng in track.latlngs():
        p = Point(network.projection.forward(lat, lng))
        _, dist = tree.query_nearest(p, return_distance=True)
        worst = max(worst, float(dist[0]))
    return worst


def test_the_committed_graph_covers_central_helsinki(network: RoadNetwork) -> None:
    min_lat, min_lng, max_lat, max_lng = network.bbox
    assert 60.15 < min_lat < max_lat < 60.19
    assert 24.92 < min_lng < max_lng < 24.97
    assert len(network.edges) > 500
    assert len(network.depots) >= 3
    for depot in network.depots:
        assert network.covers(depot.lat, depot.lng)
    assert RoadNetwork.load() is network  # loaded once


def test_at_least_fifty_committed_routes_lie_on_the_graph_at_plausible_lengths(
    network: RoadNetwork,
) -> None:
    files = route_files()
    assert len(files) >= 50
    assert routes_dir() == files[0].parent.parent
    for path in files:
        track = load_track(path)
        assert _max_off_graph_m(network, track) < ON_GRAPH_M, path.name
        ratio = track.length_m / track.straight_line_m()
        assert 1.1 <= ratio <= 2.5, f"{path.name}: {ratio:.2f}"
        assert track.road_classes is not None
        assert all(track.road_classes), path.name
        assert [w.name for w in track.waypoints][1] == "dropoff"


def test_routes_between_random_road_points_stay_on_roads(
    network: RoadNetwork,
) -> None:
    rng = random.Random(7)
    lengths = []
    for _ in range(60):
        a, b = network.random_point(rng), network.random_point(rng)
        track = network.route(*a, *b)
        assert track is not None
        assert haversine_m(*track.start, *a) < 0.5
        assert haversine_m(*track.end, *b) < 0.5
        lengths.append(track.length_m / max(track.straight_line_m(), 1.0))
        assert _max_off_graph_m(network, track) < 0.5
    assert all(r >= 0.99 for r in lengths)


def test_a_one_way_street_is_not_driven_backwards(network: RoadNetwork) -> None:
    edge = next(e for e in network.edges if e.oneway and e.length_m > 60.0 and e.u != e.v)
    proj = network.projection
    ahead = [
        proj.inverse(*edge.line.interpolate(f, normalized=True).coords[0]) for f in (0.25, 0.75)
    ]
    forward = network.route(*ahead[0], *ahead[1])
    backward = network.route(*ahead[1], *ahead[0])
    assert forward is not None
    assert backward is not None
    assert forward.length_m == pytest.approx(edge.length_m / 2, rel=1e-6)
    assert backward.length_m > edge.length_m  # around the block


def test_a_changed_dropoff_reroutes_from_where_the_driver_is(network: RoadNetwork) -> None:
    rng = random.Random(3)
    first = network.route(*network.random_point(rng), *network.random_point(rng))
    assert first is not None
    here = first.point_at(first.length_m / 3)
    new_dropoff = network.random_point(rng)
    second = network.route(*here, *new_dropoff)
    assert second is not None
    assert haversine_m(*second.start, *here) < 0.5
    assert haversine_m(*second.end, *new_dropoff) < 0.5


def test_fastest_route_prefers_the_faster_road_over_the_shorter_one() -> None:
    # a 1 km residential shortcut (30 km/h: 120 s) vs 1.4 km of primary road (50 km/h: ~101 s)
    nodes = [(0.0, 0.0), (0.0, 0.009), (0.0045, 0.0045)]
    net = RoadNetwork(
        nodes,
        [
            (0, 1, "residential", 0.0, False, []),
            (0, 2, "primary", 0.0, False, []),
            (2, 1, "primary", 0.0, False, []),
        ],
    )
    track = net.route(0.0, 0.0, 0.0, 0.009)
    assert track is not None
    assert track.road_classes == ("primary", "primary")
    assert track.junctions == frozenset({1})
    # capped to 25 km/h by a speed limit, the primary loses
    slow = RoadNetwork(
        nodes,
        [
            (0, 1, "residential", 0.0, False, []),
            (0, 2, "primary", 25 / 3.6, False, []),
            (2, 1, "primary", 25 / 3.6, False, []),
        ],
    )
    shortcut = slow.route(0.0, 0.0, 0.0, 0.009)
    assert shortcut is not None
    assert shortcut.road_classes == ("residential",)


@pytest.mark.parametrize(
    ("a", "b"),
    [
        pytest.param((35.68, 139.76), (34.69, 135.50), id="tokyo-osaka"),
        pytest.param((0.0, 179.99), (0.5, -179.9), id="across-antimeridian"),
        pytest.param((60.17, 24.94), (35.68, 139.76), id="helsinki-to-tokyo"),
        pytest.param((60.1700, 24.9400), (60.2000, 24.9400), id="leaves-the-map"),
    ],
)
def test_far_away_orders_fall_back_to_a_straight_line(
    network: RoadNetwork, a: tuple[float, float], b: tuple[float, float]
) -> None:
    assert network.route(*a, *b) is None
    track = travel_track(network, *a, *b)
    assert track.road_classes == ("straight",)
    assert track.length_m == pytest.approx(haversine_m(*a, *b), rel=1e-6)
    assert travel_track(None, *a, *b).length_m == pytest.approx(track.length_m)


def test_covers_is_true_near_roads_and_false_away(network: RoadNetwork) -> None:
    depot = network.depots[0]
    assert network.covers(depot.lat, depot.lng)
    assert not network.covers(60.2000, 24.9400)  # 2 km north of the extract
    assert not network.covers(-60.17, -155.06)  # the other side of the Earth


def test_random_points_are_on_roads_and_repeat_for_a_seed(network: RoadNetwork) -> None:
    points = [network.random_point(random.Random(5)) for _ in range(2)]
    assert points[0] == points[1]
    lat, lng = points[0]
    snapped = network.snap(lat, lng)
    assert snapped is not None
    assert haversine_m(lat, lng, *snapped) < 0.01


@pytest.mark.parametrize(
    ("content", "message"),
    [
        pytest.param(b"not json", "cannot read road graph", id="garbage"),
        pytest.param(gzip.compress(b"{}"), "not a road graph", id="wrong-format"),
        pytest.param(
            json.dumps({"format": "driver-agent-roads/1", "nodes": []}).encode(),
            "malformed road graph",
            id="missing-key",
        ),
        pytest.param(
            json.dumps(
                {
                    "format": "driver-agent-roads/1",
                    "classes": ["primary"],
                    "nodes": [0, 0, 0, 1],
                    "edges": [[0, 5, 0, 0, 0, []]],
                    "depots": [],
                }
            ).encode(),
            "edge 0 refers to a missing node",
            id="dangling-edge",
        ),
    ],
)
def test_a_broken_graph_file_fails_naming_the_file(
    tmp_path: Path, content: bytes, message: str
) -> None:
    path = tmp_path / "city.roads.json.gz"
    path.write_bytes(content)
    with pytest.raises(ConfigError, match=message) as info:
        RoadNetwork.load(path)
    assert info.value.where == str(path)


def test_the_graph_round_trips_through_its_file_format(
    tmp_path: Path, network: RoadNetwork
) -> None:
    path = tmp_path / "copy.json"
    path.write_text(json.dumps(network.to_json()))
    copy = RoadNetwork.load(path)
    assert len(copy.edges) == len(network.edges)
    assert copy.total_length_m == pytest.approx(network.total_length_m, rel=1e-6)
    assert copy.depots == network.depots

"""The bundled maps: Liechtenstein as a regional fleet's ground, and the names that find them."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from driver_agent.core.errors import ConfigError
from driver_agent.geo.geometry import haversine_m
from driver_agent.geo.roadfile import ATTRIBUTION, bundled_graph_path, graph_path, read_graph
from driver_agent.geo.roads import RoadNetwork, bundled_networks
from driver_agent.geo.routejson import route_feature, travel_time_s

SCHAAN_DEPOT = (47.1750, 9.5116)
TOWNS = {
    "Balzers": (47.0665, 9.5030),
    "Triesen": (47.1070, 9.5260),
    "Vaduz": (47.1390, 9.5220),
    "Eschen": (47.2110, 9.5230),
    "Ruggell": (47.2440, 9.5260),
}


@pytest.fixture(scope="module")
def liechtenstein() -> RoadNetwork:
    return RoadNetwork.bundled("liechtenstein")


def test_both_maps_are_bundled_and_helsinki_stays_the_default() -> None:
    assert bundled_networks() == ("helsinki", "liechtenstein")
    assert RoadNetwork.bundled("Helsinki") is RoadNetwork.load()
    with pytest.raises(ConfigError, match="unknown bundled map 'atlantis'"):
        RoadNetwork.bundled("atlantis")
    assert graph_path("liechtenstein") == bundled_graph_path("liechtenstein")
    assert str(graph_path("my.roads.json.gz")) == "my.roads.json.gz"


def test_liechtenstein_covers_the_country_with_depots_in_schaan(
    liechtenstein: RoadNetwork,
) -> None:
    min_lat, min_lng, max_lat, max_lng = liechtenstein.bbox
    assert 47.04 < min_lat < 47.07
    assert 47.24 < max_lat < 47.28
    assert 9.46 < min_lng < 9.50
    assert 9.60 < max_lng < 9.64
    assert liechtenstein.edge_count > 2000
    assert len(liechtenstein.depots) == 3
    for depot in liechtenstein.depots:
        assert haversine_m(*SCHAAN_DEPOT, depot.lat, depot.lng) < 1500
    for town in TOWNS.values():
        assert liechtenstein.covers(*town)
    assert read_graph(bundled_graph_path("liechtenstein")).name == "Liechtenstein"


@pytest.mark.parametrize("town", sorted(TOWNS))
def test_legs_from_the_schaan_depot_to_the_towns_are_5_to_25_km_at_road_speeds(
    liechtenstein: RoadNetwork, town: str
) -> None:
    depot = liechtenstein.depots[0]
    track = liechtenstein.route(depot.lat, depot.lng, *TOWNS[town])
    assert track is not None
    if town == "Vaduz":  # the capital is next door: the one short leg
        assert 2_000 < track.length_m < 6_000
    else:
        assert 5_000 < track.length_m < 25_000
    assert 1.0 <= track.length_m / track.straight_line_m() < 1.8
    kph = track.length_m / travel_time_s(track) * 3.6
    assert 30.0 < kph < 60.0  # towns joined by primary roads, driven at cruise speeds
    assert {"primary", "secondary"} & set(track.road_classes or ())


def test_a_one_way_street_in_liechtenstein_is_not_driven_backwards(
    liechtenstein: RoadNetwork,
) -> None:
    edge = next(e for e in liechtenstein.edges if e.oneway and e.length_m > 80.0 and e.u != e.v)
    proj = liechtenstein.projection
    ahead = [proj.inverse(*edge.line.interpolate(f, normalized=True).coords[0]) for f in (0.2, 0.8)]
    forward = liechtenstein.route(*ahead[0], *ahead[1])
    backward = liechtenstein.route(*ahead[1], *ahead[0])
    assert forward is not None
    assert backward is not None
    assert forward.length_m == pytest.approx(edge.length_m * 0.6, rel=1e-6)
    assert backward.length_m > edge.length_m


def test_the_feature_s_duration_is_what_the_router_minimised(liechtenstein: RoadNetwork) -> None:
    rng = random.Random(4)
    for _ in range(20):
        a = liechtenstein._snap(*liechtenstein.random_point(rng))
        b = liechtenstein._snap(*liechtenstein.random_point(rng))
        assert a is not None
        assert b is not None
        starts, finishes, direct = liechtenstein.search_ends(a, b)
        found = liechtenstein.router.search(starts, finishes, direct)
        cost = direct if found is None else found.cost_s
        pieces = liechtenstein._fastest(a, b)
        track = liechtenstein._track(pieces, a)
        assert travel_time_s(track) == pytest.approx(cost, rel=1e-6, abs=0.01)


def test_a_route_feature_is_geojson_with_lng_lat_and_the_snapped_ends(
    liechtenstein: RoadNetwork,
) -> None:
    track = liechtenstein.route(*SCHAAN_DEPOT, *TOWNS["Balzers"])
    assert track is not None
    feature = route_feature(track, SCHAAN_DEPOT, TOWNS["Balzers"], "Liechtenstein")
    assert feature["type"] == "Feature"
    assert feature["geometry"]["type"] == "LineString"
    lng, lat = feature["geometry"]["coordinates"][0]
    assert 9.4 < lng < 9.7
    assert 47.0 < lat < 47.3
    props = feature["properties"]
    assert props["length_m"] == round(track.length_m, 1)
    assert props["duration_s"] > 0
    assert props["from"]["asked"] == [9.5116, 47.175]
    assert haversine_m(*reversed(props["to"]["snapped"]), *TOWNS["Balzers"]) < 300
    assert props["attribution"] == ATTRIBUTION


def _v2(**edges: object) -> bytes:
    columns = {"u": [0], "v": [1], "class": [0], "kph": [0], "oneway": [0],
               "shape_points": [0], "shape": []}  # fmt: skip
    columns.update(edges)
    doc = {"format": "driver-agent-roads/2", "classes": ["primary"], "nodes": [0, 0, 0, 0.01],
           "edges": columns, "depots": []}  # fmt: skip
    return json.dumps(doc).encode()


@pytest.mark.parametrize(
    ("content", "message"),
    [
        pytest.param(_v2(v=[7]), "edge 0 refers to a missing node", id="dangling"),
        pytest.param(_v2(shape_points=[1]), "shape_points does not match", id="short-shape"),
        pytest.param(_v2(kph=[0, 0]), "the columns differ in length", id="ragged"),
        pytest.param(_v2(oneway=["no"]), r"edges.oneway\[0\]: expected an integer", id="type"),
        pytest.param(_v2(**{"class": [3]}), "edge 0 has an unknown class", id="class"),
        pytest.param(
            _v2(u=[], v=[], kph=[], oneway=[], shape_points=[], **{"class": []}),
            "no roads",
            id="no-edges",
        ),
    ],
)
def test_a_broken_format_2_graph_fails_naming_the_file_and_the_problem(
    tmp_path: Path, content: bytes, message: str
) -> None:
    path = tmp_path / "city.roads.json"
    path.write_bytes(content)
    with pytest.raises(ConfigError, match=message) as info:
        RoadNetwork.load(path)
    assert info.value.where == str(path)


def test_format_1_and_format_4_files_load_the_same_network(tmp_path: Path) -> None:
    helsinki = RoadNetwork.load()  # the committed file is format 1
    assert read_graph(bundled_graph_path("helsinki")).shape_points.sum() > 0
    path = tmp_path / "helsinki.roads.json"
    path.write_text(json.dumps(helsinki.to_json()))
    assert json.loads(path.read_text())["format"] == "driver-agent-roads/4"
    copy = RoadNetwork.load(path)
    assert copy.edge_count == helsinki.edge_count
    assert copy.total_length_m == pytest.approx(helsinki.total_length_m, rel=1e-9)
    rng = random.Random(9)
    for _ in range(10):
        a, b = helsinki.random_point(rng), helsinki.random_point(rng)
        one, two = helsinki.route(*a, *b), copy.route(*a, *b)
        assert one is not None
        assert two is not None
        assert two.length_m == pytest.approx(one.length_m, rel=1e-6)

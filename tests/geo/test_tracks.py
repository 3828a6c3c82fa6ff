"""Tests for geo.tracks: GPX and GeoJSON into one Track, errors naming file and feature."""

from __future__ import annotations

import json
import math
from itertools import pairwise
from pathlib import Path
from typing import Any

import pytest

from driver_agent.core.errors import TrackError
from driver_agent.geo.geometry import EARTH_RADIUS_M, LocalProjection, haversine_m
from driver_agent.geo.tracks import (
    MAX_PLAUSIBLE_SPEED_MPS,
    Track,
    load_track,
    parse_geojson,
    parse_gpx,
    straight_track,
    track_to_geojson,
)

DATA = Path(__file__).parent.parent / "data"
REAL_TRACES = Path("/work/shared/tracks")

GPX = """<?xml version="1.0" encoding="UTF-8"?>
<gpx version="1.1" xmlns="http://www.topografix.com/GPX/1/1">
  <wpt lat="60.1700" lon="24.9400"><name>Pickup</name></wpt>
  <wpt lat="60.1700" lon="24.9420"><name>Dropoff</name></wpt>
  <trk><name>test drive</name><trkseg>
    <trkpt lat="60.1700" lon="24.9400"><time>2024-01-01T00:00:00Z</time></trkpt>
    <trkpt lat="60.1700" lon="24.9410"><time>2024-01-01T00:00:10Z</time></trkpt>
    <trkpt lat="60.1700" lon="24.9410"><time>2024-01-01T00:00:12Z</time></trkpt>
    <trkpt lat="60.1800" lon="24.9410"><time>2024-01-01T00:00:14Z</time></trkpt>
    <trkpt lat="60.1700" lon="24.9420"><time>2024-01-01T00:00:20Z</time></trkpt>
  </trkseg></trk>
</gpx>
"""


def _line(coords: list[list[float]], **props: Any) -> dict[str, Any]:
    return {
        "type": "Feature",
        "properties": props,
        "geometry": {"type": "LineString", "coordinates": coords},
    }


def test_gpx_track_with_waypoints_times_and_a_spike_becomes_one_track() -> None:
    track = parse_gpx(GPX, "drive.gpx")
    # the repeated point is merged and the 1.1 km jump in 2 s is dropped as a spike
    assert len(track.line.coords) == 3
    expected = haversine_m(60.17, 24.94, 60.17, 24.942)
    assert track.length_m == pytest.approx(expected, rel=1e-6)
    assert track.times_s is not None
    assert track.times_s[0] == 1_704_067_200.0
    assert track.times_s[-1] - track.times_s[0] == 20.0
    assert [w.name for w in track.waypoints] == ["Pickup", "Dropoff"]
    assert track.name == "test drive"
    assert track.source == "drive.gpx"
    assert track.start == pytest.approx((60.17, 24.94))
    assert track.end == pytest.approx((60.17, 24.942))


@pytest.mark.parametrize(
    ("doc", "vertices", "length_m"),
    [
        pytest.param(
            {"type": "LineString", "coordinates": [[24.94, 60.17], [24.95, 60.17]]},
            2,
            haversine_m(60.17, 24.94, 60.17, 24.95),
            id="bare-linestring",
        ),
        pytest.param(
            _line([[24.94, 60.17, 12.0], [24.94, 60.18, 13.0]], name="north"),
            2,
            haversine_m(60.17, 24.94, 60.18, 24.94),
            id="feature-with-elevation",
        ),
        pytest.param(
            {
                "type": "Feature",
                "properties": {},
                "geometry": {
                    "type": "MultiLineString",
                    "coordinates": [[[0.0, 0.0], [0.0, 0.001]], [[0.0, 0.002], [0.0, 0.003]]],
                },
            },
            4,
            math.radians(0.003) * EARTH_RADIUS_M,
            id="multilinestring-joined",
        ),
        pytest.param(
            {
                "type": "FeatureCollection",
                "features": [
                    _line([[0.0, 0.0], [0.001, 0.0]]),
                    {"type": "Feature", "properties": {"name": "door"}, "geometry": None},
                    _line([[0.002, 0.0], [0.003, 0.0]]),
                ],
            },
            4,
            math.radians(0.003) * EARTH_RADIUS_M,
            id="collection-of-lines",
        ),
    ],
)
def test_geojson_lines_join_in_order(doc: dict[str, Any], vertices: int, length_m: float) -> None:
    track = parse_geojson(json.dumps(doc), "x.geojson")
    assert len(track.line.coords) == vertices
    assert track.length_m == pytest.approx(length_m, rel=1e-6)


def test_geojson_points_become_waypoints_and_properties_are_kept() -> None:
    doc = {
        "type": "FeatureCollection",
        "features": [
            _line(
                [[24.94, 60.17], [24.95, 60.17], [24.95, 60.18]],
                name="r1",
                road_classes=["primary", "residential"],
                speed_limits_kph=[40, 0],
                junctions=[1],
                coordTimes=["2024-01-01T00:00:00Z", 1_704_067_260, "2024-01-01T00:02:00Z"],
            ),
            {
                "type": "Feature",
                "properties": {"name": "Door"},
                "geometry": {"type": "Point", "coordinates": [24.95, 60.18]},
            },
        ],
    }
    track = parse_geojson(json.dumps(doc))
    assert track.road_classes == ("primary", "residential")
    assert track.speed_limits_mps == pytest.approx((40 / 3.6, 0.0))
    assert track.junctions == frozenset({1})
    assert track.times_s == (1_704_067_200.0, 1_704_067_260.0, 1_704_067_320.0)
    assert [(w.name, w.lat, w.lng) for w in track.waypoints] == [("Door", 60.18, 24.95)]
    assert track.name == "r1"


@pytest.mark.parametrize(
    ("text", "where", "message"),
    [
        pytest.param(
            '{\n"type": "Feature",\n"geometry": }', "f.geojson:3", "invalid JSON", id="syntax"
        ),
        pytest.param('{"type": "Topology"}', "f.geojson", "unsupported GeoJSON type", id="type"),
        pytest.param(
            json.dumps(
                {
                    "type": "FeatureCollection",
                    "features": [_line([[0, 0], [1, 1]]), _line([[0, 0], [1, 95]])],
                }
            ),
            "f.geojson: feature 1",
            "coordinate 1: lat 95.0 outside [-90, 90]",
            id="lat-out-of-range",
        ),
        pytest.param(
            json.dumps(_line([[0, 0], ["a", 1]])),
            "f.geojson: feature 0",
            "coordinate 1: expected [lng, lat]",
            id="non-numeric-coordinate",
        ),
        pytest.param(
            json.dumps(
                {
                    "type": "FeatureCollection",
                    "features": [
                        {"type": "Feature", "geometry": {"type": "Polygon", "coordinates": []}}
                    ],
                }
            ),
            "f.geojson: feature 0",
            "unsupported geometry type 'Polygon'",
            id="polygon",
        ),
        pytest.param(
            json.dumps(_line([[0, 0], [1, 1]], road_classes=["a", "b"])),
            "f.geojson: feature 0",
            "'road_classes' must be a list of 1 values",
            id="classes-length",
        ),
        pytest.param(
            json.dumps(_line([[0, 0], [1, 1]], times=["noon", "later"])),
            "f.geojson: feature 0",
            "times[0]: bad time 'noon'",
            id="bad-time",
        ),
        pytest.param(
            json.dumps({"type": "FeatureCollection", "features": [{"type": "Feature"}]}),
            "f.geojson",
            "no LineString",
            id="no-lines",
        ),
        pytest.param(
            json.dumps(_line([[1, 1], [1, 1]])), "f.geojson", "2 distinct points", id="one-place"
        ),
    ],
)
def test_broken_geojson_fails_naming_file_and_feature(text: str, where: str, message: str) -> None:
    with pytest.raises(TrackError) as info:
        parse_geojson(text, "f.geojson")
    assert info.value.where == where
    assert message in info.value.message


def test_load_track_dispatches_on_extension_and_content(tmp_path: Path) -> None:
    gpx = tmp_path / "a.gpx"
    gpx.write_text(GPX)
    sniffed = tmp_path / "a.track"
    sniffed.write_text(json.dumps(_line([[0, 0], [0, 1]])))
    assert load_track(gpx).name == "test drive"
    assert load_track(sniffed).length_m == pytest.approx(math.radians(1) * EARTH_RADIUS_M)
    other = tmp_path / "a.txt"
    other.write_text("lat,lng\n")
    with pytest.raises(TrackError, match=r"a\.txt: neither GPX nor GeoJSON"):
        load_track(other)
    with pytest.raises(TrackError, match=r"missing\.gpx: cannot read"):
        load_track(tmp_path / "missing.gpx")


def test_track_round_trips_through_geojson() -> None:
    track = parse_geojson(
        json.dumps(
            _line(
                [[24.94, 60.17], [24.95, 60.17], [24.95, 60.18]],
                name="rt",
                road_classes=["primary", "service"],
                junctions=[1],
                times=[0, 60, 120],
            )
        )
    )
    again = parse_geojson(json.dumps(track_to_geojson(track)))
    assert again.length_m == pytest.approx(track.length_m, abs=0.05)
    assert again.road_classes == track.road_classes
    assert again.junctions == track.junctions
    assert again.times_s == track.times_s
    assert again.name == "rt"


def test_repeated_vertices_merge_and_segment_facts_stay_aligned() -> None:
    proj = LocalProjection(0.0, 0.0)
    track = Track.from_xy(
        [(0.0, 0.0), (10.0, 0.0), (10.0, 0.0), (10.0, 20.0)],
        proj,
        road_classes=["a", "b", "c"],
        junctions=[1],
    )
    assert list(track.line.coords) == [(0.0, 0.0), (10.0, 0.0), (10.0, 20.0)]
    assert track.road_classes == ("a", "c")
    assert track.vertex_distances_m == (0.0, 10.0, 30.0)
    assert track.junctions == frozenset({1})
    with pytest.raises(ValueError, match="road_classes has 1 entries, expected 3"):
        Track.from_xy([(0, 0), (1, 0), (2, 0), (3, 0)], proj, road_classes=["a"])


def test_noisy_gappy_fixture_loads_without_spikes() -> None:
    track = load_track(DATA / "noisy-gappy.gpx")
    assert track.times_s is not None
    times = track.times_s
    steps = [b - a for a, b in pairwise(times)]
    assert min(steps) > 0
    assert max(steps) >= 15.0  # the gaps survive as long segments
    coords = list(track.line.coords)
    speeds = [math.dist(coords[i], coords[i + 1]) / steps[i] for i in range(len(steps))]
    assert max(speeds) <= MAX_PLAUSIBLE_SPEED_MPS  # the 400 m multipath spike is gone
    assert 1_000.0 < track.length_m < 1_500.0
    assert [w.name for w in track.waypoints] == ["pickup", "dropoff"]


@pytest.mark.parametrize(
    ("name", "min_points", "length_range_m", "waypoints"),
    [
        ("seattle-ridealong-test1.gpx", 200, (1_800.0, 2_600.0), 3),
        ("bayarea-ridealong-night.gpx", 200, (8_000.0, 10_500.0), 5),
    ],
)
def test_real_phone_traces_load_when_present(
    name: str, min_points: int, length_range_m: tuple[float, float], waypoints: int
) -> None:
    path = REAL_TRACES / name
    if not path.is_file():
        pytest.skip(f"{path} is not on this machine")
    track = load_track(path)
    assert len(track.line.coords) >= min_points
    assert length_range_m[0] <= track.length_m <= length_range_m[1]
    assert len(track.waypoints) == waypoints
    assert track.times_s is not None


@pytest.mark.parametrize(
    ("a", "b"),
    [
        pytest.param((35.68, 139.76), (34.69, 135.50), id="tokyo-osaka"),
        pytest.param((0.0, 179.99), (0.5, -179.9), id="across-antimeridian"),
        pytest.param((89.9, 0.0), (89.9, 180.0), id="over-the-north-pole"),
        pytest.param((90.0, 0.0), (-90.0, 0.0), id="pole-to-pole"),
        pytest.param((51.5, -0.12), (-33.86, 151.21), id="london-sydney"),
    ],
)
def test_straight_track_is_the_great_circle_anywhere(
    a: tuple[float, float], b: tuple[float, float]
) -> None:
    track = straight_track(*a, *b)
    assert track.length_m == pytest.approx(haversine_m(*a, *b), rel=1e-6)
    assert track.road_classes == ("straight",)
    assert haversine_m(*track.start, *a) < 0.01
    assert haversine_m(*track.end, *b) < 0.01
    mid = track.point_at(track.length_m / 2)
    assert haversine_m(*a, *mid) == pytest.approx(track.length_m / 2, rel=1e-6)


def test_straight_track_between_identical_points_is_a_one_metre_hop() -> None:
    track = straight_track(10.0, 10.0, 10.0, 10.0)
    assert track.length_m == pytest.approx(1.0)
    with pytest.raises(ValueError, match="lat 100"):
        straight_track(100.0, 0.0, 0.0, 0.0)

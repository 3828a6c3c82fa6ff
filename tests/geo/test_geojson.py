"""Tests for geo.geojson: the raw line read from a GeoJSON document, before it becomes a Track."""

from __future__ import annotations

import json
from typing import Any

import pytest

from driver_agent.core.errors import TrackError
from driver_agent.geo.geojson import GeoJsonPoint, read_geojson


def _line(coords: list[list[float]], **props: Any) -> dict[str, Any]:
    return {
        "type": "Feature",
        "properties": props,
        "geometry": {"type": "LineString", "coordinates": coords},
    }


def test_two_lines_join_with_an_unknown_hop_and_shifted_junctions() -> None:
    doc = {
        "type": "FeatureCollection",
        "features": [
            _line([[24.0, 60.0], [24.1, 60.0]], name="a", road_classes=["primary"], times=[0, 10]),
            _line([[24.2, 60.0], [24.3, 60.0]], speed_limits_kph=[36], junctions=[0, 1, 9]),
            {
                "type": "Feature",
                "properties": {},
                "geometry": {"type": "Point", "coordinates": [1, 2]},
            },
        ],
    }
    line = read_geojson(json.dumps(doc), "x.geojson")
    assert line.points == [(60.0, 24.0), (60.0, 24.1), (60.0, 24.2), (60.0, 24.3)]
    assert line.road_classes == ["primary", "", ""]  # the hop between the lines is unknown
    assert line.speed_limits_mps == pytest.approx([0.0, 0.0, 10.0])
    assert line.junctions == [2, 3]  # offset by the first line; 9 is out of range and ignored
    assert line.times is None  # the second line has none: no times at all
    assert line.waypoints == [GeoJsonPoint("", 2.0, 1.0)]
    assert line.name == "a"


def test_a_bare_geometry_is_one_feature_and_bad_properties_name_it() -> None:
    bare = {"type": "LineString", "coordinates": [[0, 0], [1, 1]]}
    assert read_geojson(json.dumps(bare)).points == [(0.0, 0.0), (1.0, 1.0)]
    with pytest.raises(TrackError) as info:
        read_geojson(json.dumps(_line([[0, 0], [1, 1]], speed_limits_kph=["fast"])), "f.json")
    assert (info.value.where, info.value.message) == (
        "f.json: feature 0",
        "speed_limits_kph must be numbers",
    )

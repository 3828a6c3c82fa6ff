"""Tests for driver_agent.geo.roadclass: cruise speeds per OSM road class and maxspeed parsing."""

from __future__ import annotations

import pytest

from driver_agent.geo.roadclass import cruise_mps, parse_maxspeed_kph


@pytest.mark.parametrize(
    ("road_class", "limit_mps", "expected_kph"),
    [
        ("residential", 0.0, 30.0),
        ("secondary", 0.0, 40.0),
        ("primary", 0.0, 50.0),
        ("motorway", 0.0, 80.0),
        ("primary", 30 / 3.6, 30.0),  # a known limit lowers the cruise
        ("residential", 50 / 3.6, 30.0),  # and never raises it
        ("", 0.0, 36.0),  # unknown class: urban driving
        ("straight", 0.0, 30.0),  # off the network
    ],
)
def test_cruise_speed_follows_class_and_limit(
    road_class: str, limit_mps: float, expected_kph: float
) -> None:
    assert cruise_mps(road_class, limit_mps) * 3.6 == pytest.approx(expected_kph)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("50", 50.0), ("30 mph", 48.28032), ("40 km/h", 40.0), ("FI:urban", 0.0), ("", 0.0)],
)
def test_maxspeed_parses_numbers_and_ignores_symbols(raw: str, expected: float) -> None:
    assert parse_maxspeed_kph(raw) == pytest.approx(expected)

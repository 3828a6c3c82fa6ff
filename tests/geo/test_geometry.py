"""Tests for geo.geometry: distances, bearings and the local projection, anywhere on Earth."""

from __future__ import annotations

import math

import pytest

from driver_agent.geo.geometry import (
    EARTH_RADIUS_M,
    LocalProjection,
    bearing_deg,
    centroid,
    check_lat_lng,
    destination,
    haversine_m,
    interpolate,
    normalize_lng,
)

ONE_DEGREE_M = math.pi * EARTH_RADIUS_M / 180.0


@pytest.mark.parametrize(
    ("a", "b", "expected_m"),
    [
        pytest.param((0.0, 0.0), (0.0, 1.0), ONE_DEGREE_M, id="one-degree-on-equator"),
        pytest.param((0.0, 0.0), (1.0, 0.0), ONE_DEGREE_M, id="one-degree-of-latitude"),
        pytest.param((90.0, 0.0), (-90.0, 0.0), math.pi * EARTH_RADIUS_M, id="pole-to-pole"),
        pytest.param((0.0, 179.5), (0.0, -179.5), ONE_DEGREE_M, id="across-antimeridian"),
        pytest.param((60.0, 0.0), (60.0, 1.0), 55_597.0, id="one-degree-lng-at-60N"),
        pytest.param((51.5007, -0.1246), (40.6892, -74.0445), 5_574_840.0, id="london-new-york"),
    ],
)
def test_haversine_matches_known_distances(
    a: tuple[float, float], b: tuple[float, float], expected_m: float
) -> None:
    assert haversine_m(*a, *b) == pytest.approx(expected_m, rel=1e-4)


@pytest.mark.parametrize(
    ("to", "expected_deg"),
    [((1.0, 0.0), 0.0), ((0.0, 1.0), 90.0), ((-1.0, 0.0), 180.0), ((0.0, -1.0), 270.0)],
    ids=["north", "east", "south", "west"],
)
def test_bearing_points_the_compass_way(to: tuple[float, float], expected_deg: float) -> None:
    assert bearing_deg(0.0, 0.0, *to) == pytest.approx(expected_deg, abs=1e-9)


@pytest.mark.parametrize(
    ("start", "bearing", "distance_m"),
    [
        ((60.17, 24.94), 33.0, 1234.5),
        ((-33.86, 151.21), 250.0, 80_000.0),
        ((0.0, 179.99), 90.0, 5_000.0),
        ((89.99, 0.0), 10.0, 3_000.0),
    ],
    ids=["helsinki", "sydney", "antimeridian", "near-pole"],
)
def test_destination_lands_at_the_asked_distance(
    start: tuple[float, float], bearing: float, distance_m: float
) -> None:
    lat, lng = destination(*start, bearing, distance_m)
    assert -180.0 <= lng < 180.0
    assert haversine_m(*start, lat, lng) == pytest.approx(distance_m, rel=1e-9)


@pytest.mark.parametrize(
    "ref",
    [(60.17, 24.94), (-33.86, 151.21), (0.0, 179.9), (0.0, -180.0), (90.0, 0.0), (-89.5, 45.0)],
    ids=["helsinki", "sydney", "antimeridian-east", "antimeridian-west", "north-pole", "south"],
)
def test_projection_round_trips_and_keeps_distances_from_its_centre(
    ref: tuple[float, float],
) -> None:
    proj = LocalProjection(*ref)
    for bearing in range(0, 360, 45):
        for distance_m in (10.0, 1_000.0, 50_000.0):
            lat, lng = destination(*ref, float(bearing), distance_m)
            x, y = proj.forward(lat, lng)
            assert math.hypot(x, y) == pytest.approx(distance_m, rel=1e-9, abs=1e-6)
            back_lat, back_lng = proj.inverse(x, y)
            assert haversine_m(lat, lng, back_lat, back_lng) < 1e-3


def test_projection_distances_in_a_city_agree_with_haversine() -> None:
    proj = LocalProjection(60.17, 24.94)
    a, b = (60.180, 24.920), (60.160, 24.965)
    (x0, y0), (x1, y1) = proj.forward(*a), proj.forward(*b)
    assert math.hypot(x1 - x0, y1 - y0) == pytest.approx(haversine_m(*a, *b), rel=1e-3)


def test_projection_of_the_antipode_does_not_crash() -> None:
    x, y = LocalProjection(10.0, 20.0).forward(-10.0, -160.0)
    assert math.hypot(x, y) == pytest.approx(math.pi * EARTH_RADIUS_M, rel=1e-6)


def test_projection_rejects_a_bad_reference_naming_the_field() -> None:
    with pytest.raises(ValueError, match="lat 91"):
        LocalProjection(91.0, 0.0)
    with pytest.raises(ValueError, match="lng"):
        check_lat_lng(0.0, math.nan)


def test_interpolate_follows_the_great_circle_across_the_antimeridian() -> None:
    lat, lng = interpolate(0.0, 179.0, 0.0, -179.0, 0.5)
    assert lat == pytest.approx(0.0, abs=1e-9)
    assert abs(lng) == pytest.approx(180.0, abs=1e-9)
    assert interpolate(1.0, 2.0, 1.0, 2.0, 0.3) == (1.0, 2.0)


def test_interpolate_between_antipodes_stays_on_earth() -> None:
    lat, lng = interpolate(0.0, 0.0, 0.0, 180.0, 0.5)
    assert haversine_m(0.0, 0.0, lat, lng) == pytest.approx(math.pi / 2 * EARTH_RADIUS_M, rel=1e-6)


def test_centroid_across_the_antimeridian_is_on_it() -> None:
    lat, lng = centroid([(10.0, 179.0), (-10.0, -179.0)])
    assert lat == pytest.approx(0.0, abs=1e-9)
    assert abs(lng) == pytest.approx(180.0, abs=1e-9)
    with pytest.raises(ValueError, match="no points"):
        centroid([])


@pytest.mark.parametrize(("lng", "expected"), [(190.0, -170.0), (-190.0, 170.0), (180.0, -180.0)])
def test_normalize_lng_folds_into_range(lng: float, expected: float) -> None:
    assert normalize_lng(lng) == pytest.approx(expected)

"""Tests for driver_agent.sim.motion: the speed profile along a track, turns and junction stops."""

from __future__ import annotations

import math
import random
from itertools import pairwise

import pytest

from driver_agent.geo.geometry import LocalProjection, haversine_m
from driver_agent.geo.roadclass import cruise_mps
from driver_agent.geo.roads import route_files
from driver_agent.geo.tracks import Track, load_track, straight_track
from driver_agent.sim.motion import MotionParams, Movement, turn_speed_mps

DT_S = 0.25
EPS = 1e-6


def _l_shaped(road_class: str = "primary") -> Track:
    """300 m east, then 300 m north: one right-angle corner at vertex 1."""
    return Track.from_xy(
        [(0.0, 0.0), (300.0, 0.0), (300.0, 300.0)],
        LocalProjection(60.17, 24.94),
        road_classes=[road_class, road_class],
        junctions=[1],
    )


def _samples(movement: Movement) -> list[tuple[float, float, float]]:
    out = []
    steps = int(movement.duration_s / DT_S) + 2
    for k in range(steps):
        t = k * DT_S
        s, v = movement.distance_at(t)
        out.append((t, s, v))
    return out


@pytest.mark.parametrize("index", range(0, 60, 6))
def test_speed_profile_on_committed_routes_respects_limits(index: int) -> None:
    params = MotionParams()
    track = load_track(route_files()[index])
    movement = Movement(track, random.Random(index), params)
    assert track.road_classes is not None
    top = max(cruise_mps(c) for c in track.road_classes) * params.pace_max
    samples = _samples(movement)
    assert samples[0][2] == 0.0
    assert samples[-1][1] == pytest.approx(track.length_m)
    assert samples[-1][2] == 0.0
    for (t0, s0, v0), (t1, s1, v1) in pairwise(samples):
        assert v1 <= top + EPS
        assert s1 >= s0 - EPS
        accel = (v1 - v0) / (t1 - t0)
        assert -params.brake_mps2 - EPS <= accel <= params.accel_mps2 + EPS
        # distance and speed agree (trapezoid rule, exact for constant acceleration)
        assert s1 - s0 == pytest.approx((v0 + v1) / 2 * (t1 - t0), abs=0.2)


def test_the_vehicle_slows_for_a_right_angle_turn() -> None:
    no_stops = MotionParams(junction_stop_p=0.0)
    movement = Movement(_l_shaped(), random.Random(1), no_stops)
    samples = _samples(movement)
    at_corner = min(samples, key=lambda row: abs(row[1] - 300.0))
    assert at_corner[2] <= turn_speed_mps(90.0) + 0.5
    assert max(v for _, _, v in samples) == pytest.approx(cruise_mps("primary") * movement.pace)
    assert movement.junction_stops == ()


def test_junction_stops_are_drawn_from_the_rng() -> None:
    always = MotionParams(junction_stop_p=1.0)
    movement = Movement(_l_shaped(), random.Random(1), always)
    assert len(movement.junction_stops) == 1
    stop = movement.junction_stops[0]
    assert stop.distance_m == pytest.approx(300.0)
    assert always.junction_stop_min_s <= stop.duration_s <= always.junction_stop_max_s
    assert movement.distance_at(stop.at_s + stop.duration_s / 2) == (pytest.approx(300.0), 0.0)
    no_stop = Movement(_l_shaped(), random.Random(1), MotionParams(junction_stop_p=0.0))
    assert movement.duration_s > no_stop.duration_s + stop.duration_s - 1.0


def test_the_same_seed_drives_the_same_way_and_another_does_not() -> None:
    track = load_track(route_files()[1])
    a, b, c = (Movement(track, random.Random(seed)) for seed in (4, 4, 5))
    times = [a.duration_s * k / 10 for k in range(11)]
    assert [a.position_at(t) for t in times] == [b.position_at(t) for t in times]
    assert a.duration_s != c.duration_s


def test_a_straight_line_far_away_is_driven_at_urban_pace() -> None:
    track = straight_track(35.68, 139.76, 34.69, 135.50)  # Tokyo to Osaka
    movement = Movement(track, random.Random(2))
    average_kph = movement.distance_m / movement.duration_s * 3.6
    assert 25.0 <= average_kph <= 30.0
    lat, lng, speed, heading = movement.position_at(movement.duration_s / 2)
    assert speed > 0.0
    assert 240.0 < heading < 270.0  # west-south-west
    assert haversine_m(lat, lng, *track.point_at(track.length_m / 2)) < 100.0


def test_positions_outside_the_drive_stand_at_its_ends() -> None:
    track = _l_shaped()
    movement = Movement(track, random.Random(3))
    start = movement.position_at(-5.0)
    end = movement.position_at(movement.duration_s + 60.0)
    assert start[:3] == pytest.approx((*track.start, 0.0))
    assert end[:3] == pytest.approx((*track.end, 0.0))
    assert start[3] == pytest.approx(90.0, abs=0.1)  # facing east
    assert end[3] == pytest.approx(0.0, abs=0.1) or end[3] == pytest.approx(360.0, abs=0.1)


def test_a_drive_can_end_short_of_the_track_end() -> None:
    track = _l_shaped()
    movement = Movement(track, random.Random(3), end_m=450.0)
    assert movement.distance_m == 450.0
    lat, lng, speed, _ = movement.position_at(movement.duration_s)
    assert speed == 0.0
    assert haversine_m(lat, lng, *track.point_at(450.0)) < 0.01


def test_a_tiny_track_does_not_break_the_profile() -> None:
    track = straight_track(60.17, 24.94, 60.17, 24.94)
    movement = Movement(track, random.Random(0))
    assert 0.0 < movement.duration_s < 5.0
    assert movement.position_at(movement.duration_s)[2] == 0.0


@pytest.mark.parametrize(
    ("angle", "expected"),
    [(0.0, math.inf), (20.0, math.inf), (45.0, 9.0), (90.0, 5.5), (67.5, 7.25), (180.0, 2.5)],
)
def test_turn_speed_falls_with_the_angle(angle: float, expected: float) -> None:
    assert turn_speed_mps(angle) == pytest.approx(expected)


def test_a_recorded_trace_without_road_classes_cruises_at_its_recorded_pace() -> None:
    xy = [(100.0 * k, 0.0) for k in range(21)]  # 2 km due east, recorded at 20 m/s
    proj = LocalProjection(60.17, 24.94)
    recorded = Track.from_xy(xy, proj, times_s=[5.0 * k for k in range(21)])
    unrecorded = Track.from_xy(xy, proj)
    params = MotionParams(junction_stop_p=0.0)
    fast = Movement(recorded, random.Random(1), params)
    slow = Movement(unrecorded, random.Random(1), params)
    assert fast.max_speed_mps() == pytest.approx(20.0 * fast.pace)
    assert slow.max_speed_mps() == pytest.approx(cruise_mps("") * slow.pace)


def test_lat_lng_at_is_position_at_without_speed_and_heading() -> None:
    track = straight_track(60.17, 24.94, 60.20, 24.99)
    movement = Movement(track, random.Random(3))
    for t_s in (-1.0, 0.0, 1.5, movement.duration_s / 2, movement.duration_s, 1e9):
        assert movement.lat_lng_at(t_s) == movement.position_at(t_s)[:2]


def test_the_movements_own_inverse_projection_is_the_geometry_ones_to_the_bit() -> None:
    from driver_agent.geo.geometry import LocalProjection
    from driver_agent.sim.motion import _Inverse

    rng = random.Random(11)
    refs = [(60.17, 24.94), (-33.9, 151.2), (89.9, 179.99), (0.0, -180.0), (-89.5, -0.01)]
    for ref_lat, ref_lng in refs:
        projection = LocalProjection(ref_lat, ref_lng)
        inverse = _Inverse(projection)
        points = [(0.0, 0.0), (1e-10, 0.0)] + [
            (rng.uniform(-60_000, 60_000), rng.uniform(-60_000, 60_000)) for _ in range(300)
        ]
        for x, y in points:
            assert inverse(x, y) == projection.inverse(x, y)

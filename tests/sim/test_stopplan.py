"""Tests for driver_agent.sim.stopplan: parking near a stop, the dwell, and one leg of a drive."""

from __future__ import annotations

import math
import random
import statistics

import pytest

from driver_agent.core.model import StopKind
from driver_agent.geo.geometry import LocalProjection, haversine_m
from driver_agent.geo.roads import route_files
from driver_agent.geo.tracks import Track, load_track, straight_track
from driver_agent.sim.stopplan import WALK_SPEED_MPS, Leg, draw_stop_plan


def _eastbound() -> Track:
    return Track.from_xy(
        [(0.0, 0.0), (500.0, 0.0)], LocalProjection(60.17, 24.94), road_classes=["residential"]
    )


def test_plans_repeat_for_a_seed_and_add_up() -> None:
    a = draw_stop_plan(StopKind.DROPOFF, random.Random(1))
    b = draw_stop_plan(StopKind.DROPOFF, random.Random(1))
    assert a == b
    assert a.dwell_s == pytest.approx(a.parking_s + a.walk_s + a.handover_s + a.proof_s)


@pytest.mark.parametrize(
    ("kind", "park_range_m", "median_dwell_range_s"),
    [
        (StopKind.PICKUP, (0.0, 15.0), (180.0, 480.0)),
        (StopKind.DROPOFF, (3.0, 120.0), (120.0, 360.0)),
    ],
)
def test_plans_per_stop_kind_have_plausible_distributions(
    kind: StopKind, park_range_m: tuple[float, float], median_dwell_range_s: tuple[float, float]
) -> None:
    rng = random.Random(42)
    plans = [draw_stop_plan(kind, rng) for _ in range(2_000)]
    for plan in plans:
        assert plan.kind is kind
        assert park_range_m[0] <= plan.park_before_m <= park_range_m[1]
        assert 2.0 <= plan.curb_offset_m <= 6.0
        assert min(plan.parking_s, plan.walk_s, plan.handover_s, plan.proof_s) > 0.0
    median = statistics.median(p.dwell_s for p in plans)
    assert median_dwell_range_s[0] <= median <= median_dwell_range_s[1]


def test_pickups_load_longer_than_dropoffs_hand_over() -> None:
    rng = random.Random(9)
    pickups = [draw_stop_plan(StopKind.PICKUP, rng).handover_s for _ in range(500)]
    dropoffs = [draw_stop_plan(StopKind.DROPOFF, rng).handover_s for _ in range(500)]
    assert statistics.median(pickups) > 2 * statistics.median(dropoffs)


def test_a_leg_parks_short_of_the_stop_on_the_right_and_dwells() -> None:
    track = _eastbound()
    leg = Leg(track, StopKind.DROPOFF, random.Random(3))
    plan = leg.plan
    # driving east, the right-hand curb is to the south
    assert leg.parked_at[0] < track.end[0]
    expected_m = (plan.park_before_m**2 + plan.curb_offset_m**2) ** 0.5
    assert haversine_m(*leg.parked_at, *track.end) == pytest.approx(expected_m, rel=1e-3)
    assert leg.depart_s == pytest.approx(leg.arrive_s + plan.dwell_s)
    before = leg.position_at(leg.arrive_s / 2)
    assert not before.parked
    assert before.speed_mps > 0.0
    assert not leg.arrived(leg.arrive_s - 0.1)
    assert leg.arrived(leg.arrive_s)
    for t in (leg.arrive_s, leg.arrive_s + leg.dwell_s / 2, leg.depart_s + 100.0):
        here = leg.position_at(t)
        assert here.parked
        assert (here.lat, here.lng, here.speed_mps) == (*leg.parked_at, 0.0)


def test_a_leg_on_a_committed_route_checks_in_near_the_stop() -> None:
    track = load_track(route_files()[0])
    leg = Leg(track, StopKind.PICKUP, random.Random(8))
    assert haversine_m(*leg.parked_at, *track.end) <= 20.0
    assert 60.0 < leg.arrive_s < 900.0


def test_a_leg_shorter_than_its_parking_gap_still_arrives() -> None:
    track = straight_track(60.17, 24.94, 60.17001, 24.94)  # about 1 m
    leg = Leg(track, StopKind.DROPOFF, random.Random(4))
    assert leg.movement.distance_m == pytest.approx(track.length_m / 2, rel=1e-3)
    assert leg.position_at(leg.arrive_s).parked


def test_lat_lng_at_is_the_positions_lat_lng_driving_and_parked() -> None:
    leg = Leg(_eastbound(), StopKind.DROPOFF, random.Random(5))
    for t_s in (0.0, 3.0, leg.arrive_s / 2, leg.arrive_s, leg.depart_s + 10.0):
        where = leg.position_at(t_s)
        assert leg.lat_lng_at(t_s) == (where.lat, where.lng)


def test_a_stop_off_the_road_is_reached_on_foot() -> None:
    track = _eastbound()  # the road ends 500 m east; the door is 200 m north of its end
    door = track.projection.inverse(500.0, 200.0)
    leg = Leg(track, StopKind.DROPOFF, random.Random(4), stop_at=door, walk_beyond_m=12.5)
    assert leg.walk_in is not None
    assert leg.walk_out is None
    assert leg.at_stop == door
    walk_m = haversine_m(*leg.parked_at, *door)
    assert leg.walk_in_s == pytest.approx(walk_m / WALK_SPEED_MPS)
    assert leg.arrive_s == pytest.approx(leg.drive_s + leg.walk_in_s)
    halfway = leg.position_at(leg.drive_s + leg.walk_in_s / 2)
    assert halfway.on_foot
    assert halfway.speed_mps == WALK_SPEED_MPS
    assert haversine_m(halfway.lat, halfway.lng, *door) == pytest.approx(walk_m / 2, rel=0.01)
    assert (halfway.lat, halfway.lng) == leg.lat_lng_at(leg.drive_s + leg.walk_in_s / 2)
    # at the stop from arrival on: check-in and check-out happen at the door
    for t in (leg.arrive_s, leg.depart_s, leg.depart_s + 60.0):
        assert leg.lat_lng_at(t) == door
    # the walk to the door and back is drawn now, so the dwell no longer holds it
    plain = Leg(track, StopKind.DROPOFF, random.Random(4))
    assert leg.plan.walk_s == pytest.approx(max(0.0, plain.plan.walk_s - 2 * leg.walk_in_s))
    assert leg.driven_m_at(leg.arrive_s) == pytest.approx(leg.movement.distance_m)


def test_a_stop_by_the_road_is_not_walked_to() -> None:
    track = _eastbound()
    leg = Leg(track, StopKind.PICKUP, random.Random(5), stop_at=track.end, walk_beyond_m=math.inf)
    assert leg.walk_in is None
    assert leg.at_stop == leg.parked_at
    assert leg.arrive_s == leg.drive_s


def test_a_leg_from_a_door_walks_back_to_the_van_first() -> None:
    track = _eastbound()
    door = track.projection.inverse(0.0, -80.0)  # 80 m south of where the van stands
    leg = Leg(track, StopKind.PICKUP, random.Random(6), walk_from=door)
    assert leg.walk_out is not None
    assert leg.walk_out_s == pytest.approx(80.0 / WALK_SPEED_MPS, rel=0.01)
    assert leg.lat_lng_at(0.0) == pytest.approx(door)
    first = leg.position_at(leg.walk_out_s / 2)
    assert first.on_foot
    assert leg.driven_m_at(leg.walk_out_s) == 0.0
    assert not leg.position_at(leg.walk_out_s + 1.0).on_foot
    assert leg.arrive_s == pytest.approx(leg.walk_out_s + leg.drive_s)
    assert leg.driven_m_at(leg.arrive_s) == pytest.approx(leg.movement.distance_m)


def test_a_time_before_departure_is_the_start_even_on_a_leg_that_walks_first() -> None:
    track = _eastbound()
    door = track.projection.inverse(0.0, -80.0)
    for leg in (
        Leg(track, StopKind.PICKUP, random.Random(6), walk_from=door),
        Leg(track, StopKind.PICKUP, random.Random(6)),
    ):
        assert leg.lat_lng_at(-5.0) == leg.lat_lng_at(0.0)
        early = leg.position_at(-5.0)
        assert (early.lat, early.lng) == leg.lat_lng_at(0.0)

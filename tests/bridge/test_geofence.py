"""Geofence check-in / check-out: dwell, drive-bys, hysteresis, sparse gaps, late fixes."""

from __future__ import annotations

import math
import random

import pytest

from driver_agent.bridge.geofence import (
    CheckIn,
    CheckOut,
    Decision,
    GeofenceConfig,
    Late,
    OrderGeofence,
    StopGeofence,
)
from driver_agent.bridge.positions import Position
from driver_agent.bridge.state import StopState
from driver_agent.core.errors import ConfigError
from driver_agent.core.model import Stop, StopKind

LAT, LNG = 52.52, 13.405
T0_MS = 1_714_564_800_000
M_PER_DEG_LAT = 6_371_008.8 * math.pi / 180


def at(x_m: float, t_s: float, speed: float | None = None, y_m: float = 0.0) -> Position:
    """A fix `x_m` metres east and `y_m` north of the stop at LAT, LNG, `t_s` after T0."""
    lat = LAT + y_m / M_PER_DEG_LAT
    lng = LNG + x_m / (M_PER_DEG_LAT * math.cos(math.radians(LAT)))
    return Position("van-1", lat, lng, T0_MS + round(t_s * 1000), speed)


def feed_all(fence: StopGeofence | OrderGeofence, fixes: list[Position]) -> list[Decision]:
    decisions: list[Decision] = []
    for p in fixes:
        decisions += fence.feed(p)
    return decisions


def kinds(decisions: list[Decision]) -> list[str]:
    return [type(d).__name__ for d in decisions]


def drive_by_trace(*, with_speed: bool) -> list[Position]:
    """1 Hz: 10 m/s from -300 m, brake at 2 m/s² to a halt at -20 m, stand 6 s, drive on."""
    fixes, t, x, v = [], 0.0, -300.0, 10.0
    phase = "cruise"
    stood = 0.0
    while x < 300:
        fixes.append(at(x, t, v if with_speed else None))
        brake_at = -20 - v * v / (2 * 2.0)
        if phase == "cruise" and x >= brake_at and stood == 0:
            phase = "brake"
        if phase == "brake":
            v = max(0.0, v - 2.0)
            x = min(x + v + 1.0, -20.0)
            if v == 0.0:
                phase = "stand"
        elif phase == "stand":
            stood += 1
            if stood >= 6:
                phase = "go"
        else:
            if phase == "go":
                v = min(10.0, v + 2.0)
            x += v
        t += 1
    return fixes


def test_standing_inside_for_min_dwell_checks_in_at_the_fix_that_completes_it() -> None:
    fence = StopGeofence(StopKind.PICKUP, LAT, LNG)
    fixes = [at(-100 + 10 * i, i, 10.0) for i in range(10)]
    fixes += [at(5.0, 10 + i, 0.0) for i in range(40)]
    decisions = feed_all(fence, fixes)
    assert kinds(decisions) == ["CheckIn"]
    check_in = decisions[0]
    assert isinstance(check_in, CheckIn)
    assert check_in.kind is StopKind.PICKUP
    assert check_in.at == at(5.0, 40, 0.0)  # standing from t=10 (the slack is 0 s)
    assert check_in.evidence.dwell_s == pytest.approx(30.0)
    assert check_in.evidence.distance_m == pytest.approx(5.0, abs=0.01)
    assert check_in.evidence.arrived_t_ms == T0_MS + 10_000
    assert not check_in.evidence.estimated
    assert fence.state is StopState.CHECKED_IN


@pytest.mark.parametrize("with_speed", [True, False], ids=["reported-speed", "implied-speed"])
def test_a_drive_by_that_stops_six_seconds_near_the_stop_does_not_check_in(
    with_speed: bool,
) -> None:
    stopped = [p for p in drive_by_trace(with_speed=True) if p.speed_mps == 0.0]
    assert (stopped[-1].t_ms - stopped[0].t_ms) / 1000 == 6.0
    m_per_deg_lng = M_PER_DEG_LAT * math.cos(math.radians(LAT))
    assert all(abs(p.lng - LNG) * m_per_deg_lng < 60 and p.lat == LAT for p in stopped)
    fixes = drive_by_trace(with_speed=with_speed)
    fence = StopGeofence(StopKind.DROPOFF, LAT, LNG)
    assert feed_all(fence, fixes) == []
    assert fence.state is StopState.APPROACHING
    # the same trace does stand long enough for a 5 s dwell, so the rule above is what refused it
    eager = StopGeofence(StopKind.DROPOFF, LAT, LNG, GeofenceConfig(min_dwell_s=5))
    assert kinds(feed_all(eager, fixes)) == ["CheckIn", "CheckOut"]


def test_standing_with_gps_jitter_and_no_speed_still_checks_in() -> None:
    rng = random.Random(7)
    fence = StopGeofence(StopKind.PICKUP, LAT, LNG)
    fixes = [at(rng.uniform(-4, 4), i, None, rng.uniform(-4, 4)) for i in range(35)]
    decisions = feed_all(fence, fixes)
    assert kinds(decisions) == ["CheckIn"]
    assert decisions[0].evidence.dwell_s == pytest.approx(30.0)  # type: ignore[union-attr]


def test_jitter_between_the_two_radii_does_not_check_out_and_leaving_does() -> None:
    fence = StopGeofence(StopKind.PICKUP, LAT, LNG)
    fixes = [at(0, i, 0.0) for i in range(31)]
    fixes += [at(r, 31 + i, 1.0) for i, r in enumerate([55, 40, 79, 60, 75, 45, 79.5])]
    decisions = feed_all(fence, fixes)
    assert kinds(decisions) == ["CheckIn"]
    out = fence.feed(at(81, 60, 8.0))
    assert kinds(out) == ["CheckOut"]
    assert isinstance(out[0], CheckOut)
    assert out[0].evidence.distance_m == pytest.approx(81.0, abs=0.01)
    assert out[0].evidence.dwell_s == pytest.approx(60.0)
    assert fence.feed(at(0, 70, 0.0)) == []  # checked out is final
    assert fence.state is StopState.CHECKED_OUT


@pytest.mark.parametrize(
    ("before", "after", "expected"),
    [
        pytest.param((-100, 10.0), (100, 10.0), ["CheckIn", "CheckOut"], id="jump-over-small"),
        pytest.param((-100, None), (100, None), ["CheckIn", "CheckOut"], id="jump-no-speeds"),
        pytest.param((-300, 10.0), (300, 10.0), [], id="drive-by-at-speed"),
        pytest.param((-90, 3.0), (90, 3.0), [], id="crawl-by"),
        pytest.param((-100, 10.0), (100, 10.0, 60.0), [], id="passes-60m-away"),
    ],
)
def test_a_sparse_gap_across_the_geofence_counts_only_with_time_to_stand(
    before: tuple[float, float | None],
    after: tuple[float, ...] | tuple[float, float | None],
    expected: list[str],
) -> None:
    fence = StopGeofence(StopKind.DROPOFF, LAT, LNG)
    y_m = after[2] if len(after) > 2 else 0.0
    p = at(before[0], 0, before[1], y_m)
    q = at(after[0], 60, after[1], y_m)  # type: ignore[arg-type]
    decisions = feed_all(fence, [p, q])
    assert kinds(decisions) == expected
    if expected:
        check_in = decisions[0]
        assert isinstance(check_in, CheckIn)
        assert check_in.evidence.estimated
        assert check_in.evidence.dwell_s == pytest.approx(40.0, abs=0.1)
        assert check_in.evidence.distance_m < 1.0
        assert check_in.at.t_ms == pytest.approx(T0_MS + 10_000, abs=50)
        assert decisions[1].at == q


def test_arriving_after_a_long_gap_credits_the_slack_as_standing() -> None:
    fence = StopGeofence(StopKind.DROPOFF, LAT, LNG)
    decisions = feed_all(fence, [at(-100, 0, 10.0), at(3, 60, 0.0)])
    assert kinds(decisions) == ["CheckIn"]
    assert decisions[0].evidence.estimated  # type: ignore[union-attr]
    assert decisions[0].evidence.dwell_s == pytest.approx(49.7, abs=0.1)  # type: ignore[union-attr]


def test_one_standing_fix_between_sparse_moving_fixes_checks_in_only_if_the_gaps_allow() -> None:
    short = StopGeofence(StopKind.DROPOFF, LAT, LNG)
    assert feed_all(short, [at(-500, 0, 10.0), at(0, 60, 0.0), at(500, 120, 10.0)]) == []
    long = StopGeofence(StopKind.DROPOFF, LAT, LNG)
    decisions = feed_all(long, [at(-500, 0, 10.0), at(0, 60, 0.0), at(200, 120, 10.0)])
    assert kinds(decisions) == ["CheckIn", "CheckOut"]
    assert decisions[0].at == at(0, 60, 0.0)
    assert decisions[0].evidence.dwell_s == pytest.approx(50.0, abs=0.1)  # type: ignore[union-attr]


def test_late_fixes_are_refused_and_never_flap_the_state_back() -> None:
    fence = StopGeofence(StopKind.PICKUP, LAT, LNG)
    feed_all(fence, [at(0, i, 0.0) for i in range(31)])
    out = fence.feed(at(200, 40, 10.0))
    assert kinds(out) == ["CheckOut"]
    late = fence.feed(at(0, 35, 0.0))
    assert late == [Late(at(0, 35, 0.0), T0_MS + 40_000)]
    assert fence.feed(at(200, 40, 10.0)) == []  # an exact duplicate is ignored silently
    assert fence.state is StopState.CHECKED_OUT


def order_trace() -> list[Position]:
    """Stand 40 s at the pickup (0 m), drive 2 km east at 10 m/s, stand at the dropoff."""
    fixes = [at(0, t, 0.0) for t in range(0, 40, 5)]
    fixes += [at(10 * (t - 40), t, 10.0) for t in range(40, 240, 5)]
    fixes += [at(2000, t, 0.0) for t in range(240, 300, 5)]
    return fixes


def order_fence() -> OrderGeofence:
    pickup = Stop(StopKind.PICKUP, LAT, LNG)
    drop = at(2000, 0)
    return OrderGeofence(pickup, Stop(StopKind.DROPOFF, drop.lat, drop.lng))


def test_an_order_checks_in_and_out_at_pickup_then_stays_checked_in_at_the_dropoff() -> None:
    fence = order_fence()
    decisions = feed_all(fence, order_trace())
    assert [(type(d).__name__, d.kind) for d in decisions] == [  # type: ignore[union-attr]
        ("CheckIn", StopKind.PICKUP),
        ("CheckOut", StopKind.PICKUP),
        ("CheckIn", StopKind.DROPOFF),
    ]
    assert fence.checked_in_at is StopKind.DROPOFF
    assert not fence.done
    out = fence.feed(at(2100, 400, 10.0))
    assert [(type(d).__name__, d.kind) for d in out] == [("CheckOut", StopKind.DROPOFF)]  # type: ignore[union-attr]
    assert fence.done
    assert fence.checked_in_at is None


def test_a_shuffled_batch_is_ordered_by_device_time_first() -> None:
    fixes = order_trace()
    shuffled = fixes[:]
    random.Random(42).shuffle(shuffled)
    assert order_fence().feed_many(shuffled) == feed_all(order_fence(), fixes)


def test_a_late_fix_for_the_order_is_reported_once() -> None:
    fence = order_fence()
    feed_all(fence, order_trace()[:5])
    assert kinds(fence.feed(at(0, 1, 0.0))) == ["Late"]


@pytest.mark.parametrize(
    ("kwargs", "where"),
    [
        pytest.param({"radius_in_m": 0}, "geofence.radius_in_m", id="radius-in-zero"),
        pytest.param({"radius_out_m": 40}, "geofence.radius_out_m", id="out-below-in"),
        pytest.param({"min_dwell_s": -1}, "geofence.min_dwell_s", id="negative-dwell"),
        pytest.param({"stop_speed_mps": math.nan}, "geofence.stop_speed_mps", id="nan-speed"),
        pytest.param({"jitter_m": -0.5}, "geofence.jitter_m", id="negative-jitter"),
    ],
)
def test_bad_config_names_the_key(kwargs: dict[str, float], where: str) -> None:
    with pytest.raises(ConfigError) as info:
        GeofenceConfig(**kwargs)
    assert info.value.where == where


def test_a_snapshot_keeps_stop_states_and_refuses_older_fixes_after_a_restore() -> None:
    pickup, dropoff = Stop(StopKind.PICKUP, LAT, LNG), Stop(StopKind.DROPOFF, LAT + 0.01, LNG)
    fence = OrderGeofence(pickup, dropoff)
    feed_all(fence, [at(0, t, speed=0.0) for t in range(0, 60, 10)])
    assert fence.checked_in_at is StopKind.PICKUP
    again = OrderGeofence(pickup, dropoff)
    again.restore(fence.snapshot())
    assert again.checked_in_at is StopKind.PICKUP
    assert again.pickup.arrived_t_ms == fence.pickup.arrived_t_ms
    assert isinstance(again.feed(at(500, 30, speed=10.0))[0], Late)
    (left,) = again.feed(at(500, 70, speed=10.0))
    assert isinstance(left, CheckOut)


def test_a_stop_moves_only_before_check_in() -> None:
    stop = StopGeofence(StopKind.PICKUP, LAT, LNG)
    assert stop.move(LAT + 0.001, LNG)
    feed_all(stop, [at(0, t, speed=0.0, y_m=111.2) for t in range(0, 60, 10)])
    assert stop.state is StopState.CHECKED_IN
    assert not stop.move(LAT, LNG)

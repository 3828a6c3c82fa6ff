"""The pure walker: assignment rules, queueing, late positions, the lifecycle calls, restore."""

from __future__ import annotations

import pytest

from driver_agent.bridge.geofence import GeofenceConfig
from driver_agent.bridge.positions import Position, PositionError
from driver_agent.bridge.state import StopState, WalkerState
from driver_agent.bridge.walker import AssignRule, FleetWalker
from driver_agent.core.endpoints import Endpoint
from driver_agent.core.errors import ConfigError
from driver_agent.core.model import Order, Stop, StopKind
from driver_agent.core.typed import convert, to_builtins
from driver_agent.fleetapi.webhook_payloads import DeliveryUpdated, WayPointChange

T0 = 1_714_564_800_000
PICKUP = (60.1700, 24.9400)
DROPOFF = (60.1690, 24.9600)
FENCE = GeofenceConfig(min_dwell_s=30.0)


def order(task_id: int, pickup: tuple[float, float] = PICKUP) -> Order:
    return Order(
        task_id,
        Stop(StopKind.PICKUP, *pickup),
        Stop(StopKind.DROPOFF, *DROPOFF),
    )


def walker(rule: AssignRule = AssignRule.NEAREST) -> FleetWalker:
    return FleetWalker({"van-1": "drv-1", "van-2": "drv-2"}, assign=rule, geofence=FENCE)


def at(device: str, where: tuple[float, float], t_s: float, speed: float | None = 0.0) -> Position:
    return Position(device, where[0], where[1], T0 + round(t_s * 1000), speed)


def endpoints(w: FleetWalker, positions: list[Position]) -> list[str]:
    return [c.endpoint.value for p in positions for c in w.feed(p).calls]


@pytest.mark.parametrize(
    ("rule", "expected"),
    [(AssignRule.NEAREST, "drv-2"), (AssignRule.CONFIG, "drv-1")],
    ids=["nearest-takes-the-van-at-the-pickup", "config-takes-the-first-idle-driver"],
)
def test_an_order_goes_to_the_driver_the_rule_picks(rule: AssignRule, expected: str) -> None:
    w = walker(rule)
    w.feed(at("van-1", (60.20, 24.90), 0))
    w.feed(at("van-2", PICKUP, 0))
    step = w.add_order(order(1), T0)
    assert [(c.driver_id, c.endpoint) for c in step.calls] == [
        (expected, Endpoint.ASSIGN_DRIVER),
        (expected, Endpoint.UPDATE_DRIVER_LOCATION),  # its freshest fix, now Bringg knows it
        (expected, Endpoint.START_TASK),
    ]
    assert step.calls[0].body["user"] == {"external_id": expected, "name": "Delivery Driver"}


def test_a_busy_fleet_queues_orders_and_starts_the_next_when_one_is_cancelled() -> None:
    w = walker(AssignRule.CONFIG)
    w.add_order(order(1), T0)
    w.add_order(order(2), T0)
    queued = w.add_order(order(3), T0)
    assert [c.endpoint for c in queued.calls] == [Endpoint.ASSIGN_DRIVER]  # not started yet
    assert w.orders() == {1: "drv-1", 2: "drv-2", 3: "drv-1"}
    cancelled = w.cancel_order(1, T0 + 1000)
    assert [(c.endpoint, c.body["task_id"]) for c in cancelled.calls] == [(Endpoint.START_TASK, 3)]
    assert w.active_order("drv-1") == 3
    assert w.add_order(order(2), T0).calls == []  # Bringg retried Delivery Created


def test_a_drive_through_both_stops_sends_the_lifecycle_in_order_with_device_times() -> None:
    w = walker()
    w.add_order(order(1), T0)
    trace = [
        at("van-1", (60.1650, 24.9300), 0, 10.0),
        *[at("van-1", PICKUP, t) for t in range(100, 160, 10)],
        at("van-1", (60.1695, 24.9500), 200, 10.0),
        *[at("van-1", DROPOFF, t) for t in range(260, 320, 10)],
        at("van-1", (60.1720, 24.9600), 340, 10.0),
    ]
    calls = [c for p in trace for c in w.feed(p).calls]
    lifecycle = [(c.endpoint.value, c.reported_time_ms - T0) for c in calls if "task_id" in c.body]
    assert [name for name, _ in lifecycle] == [
        "checkin",
        "checkout",
        "checkin",
        "checkout",
        "end_task",
    ]
    # check-ins carry the arrival: the 100 s gap before the pickup held about 30 s of standing
    # (about 70 s of it were needed to drive there at 10 m/s), the 60 s before the dropoff held
    # about 5 s; check-outs and end_task carry the time of the fix that left
    assert 70_000 <= lifecycle[0][1] <= 100_000
    assert 250_000 <= lifecycle[2][1] <= 260_000
    assert [lifecycle[i][1] for i in (1, 3, 4)] == [200_000, 340_000, 340_000]
    locations = [c for c in calls if c.endpoint is Endpoint.UPDATE_DRIVER_LOCATION]
    assert len(locations) == len(trace)
    assert locations[0].body["started_tasks"] == [{"task_id": 1}]
    assert w.orders() == {}
    assert w.finished == 1


def test_late_positions_are_counted_not_forwarded_and_never_move_a_stop_back() -> None:
    w = walker()
    w.add_order(order(1), T0)
    for t in range(100, 160, 10):
        w.feed(at("van-1", PICKUP, t))
    assert w.stop_state(1, StopKind.PICKUP) is StopState.CHECKED_IN
    late = w.feed(at("van-1", (60.1650, 24.9300), 90, 10.0))
    assert (late.late, late.calls) == (1, [])
    assert w.feed(at("van-1", PICKUP, 150)).calls == []  # an exact repeat is ignored silently
    assert w.stop_state(1, StopKind.PICKUP) is StopState.CHECKED_IN


def test_a_device_not_in_the_map_is_refused_naming_it() -> None:
    with pytest.raises(PositionError, match=r"stranger"):
        walker().feed(at("stranger", PICKUP, 0))
    with pytest.raises(ConfigError, match="device_map"):
        FleetWalker({})


def test_a_snapshot_restores_orders_queues_and_checked_in_stops() -> None:
    w = walker(AssignRule.CONFIG)
    w.add_order(order(1), T0)
    w.add_order(order(2), T0)
    w.add_order(order(3), T0)
    for t in range(100, 160, 10):
        w.feed(at("van-1", PICKUP, t))
    again = walker(AssignRule.CONFIG)
    again.restore(convert(to_builtins(w.snapshot()), WalkerState))  # as the outbox keeps it
    assert again.orders() == w.orders()
    assert again.active_order("drv-1") == 1
    assert again.stop_state(1, StopKind.PICKUP) is StopState.CHECKED_IN
    left = [at("van-1", (60.1695, 24.9500), 200, 10.0)]
    assert endpoints(again, left) == ["update_driver_location", "checkout"]


def test_an_update_moves_a_stop_that_was_not_checked_in_yet() -> None:
    w = walker()
    w.add_order(order(1, pickup=(60.18, 24.92)), T0)
    change = WayPointChange(id=5, position=1, lat=PICKUP[0], lng=PICKUP[1])
    assert w.update_order(DeliveryUpdated(1, "da-1", way_point=change)).changed
    for t in range(100, 160, 10):
        w.feed(at("van-1", PICKUP, t))
    assert w.stop_state(1, StopKind.PICKUP) is StopState.CHECKED_IN
    assert w.snapshot().walks[0].order.pickup.lat == PICKUP[0]


def test_resend_repeats_the_last_position_with_its_original_time() -> None:
    w = walker()
    assert w.resend_last("drv-1").calls == []
    w.feed(at("van-1", PICKUP, 10))
    w.feed(at("van-2", PICKUP, 10))
    assert w.hold("drv-2")
    assert w.resend_last("drv-2").calls == []  # held: Bringg does not know drv-2 yet
    (call,) = w.resend_last("drv-1").calls
    assert (call.endpoint, call.reported_time_ms) == (Endpoint.UPDATE_DRIVER_LOCATION, T0 + 10_000)


def test_every_call_carries_the_final_wire_body_with_its_device_time() -> None:
    """The outbox stores the body the API gets (the documented fields), built once: nothing is
    rebuilt at sending time."""
    w = walker()
    start = w.feed(at("van-1", (60.1650, 24.9300), 0, 10.0))
    created = w.add_order(order(1), T0 + 5_000)
    checked_in = [c for t in range(100, 160, 10) for c in w.feed(at("van-1", PICKUP, t)).calls]
    assign, held, started = created.calls
    assert assign.body == {
        "task_id": 1, "reported_time": T0 + 5_000,
        "user": {"external_id": "drv-1", "name": "Delivery Driver"},
    }  # fmt: skip
    assert started.body == {
        "task_id": 1, "lat": 60.1650, "lng": 24.9300, "reported_time": T0 + 5_000,
    }  # fmt: skip
    assert start.calls[0].body == held.body == {
        "user_external_id": "drv-1", "lat": 60.1650, "lng": 24.9300, "reported_time": T0,
    }  # fmt: skip
    checkin = next(c for c in checked_in if c.endpoint is Endpoint.CHECKIN)
    assert checkin.body["pickup_dropoff_option"] == "pickup"
    for call in [*start.calls, *created.calls, *checked_in]:
        assert call.body["reported_time"] == call.reported_time_ms


def test_when_every_driver_is_busy_the_nearest_of_the_shortest_queues_takes_the_order() -> None:
    w = FleetWalker({"van-1": "drv-1", "van-2": "drv-2", "van-3": "drv-3"}, geofence=FENCE)
    w.feed(at("van-1", PICKUP, 0))
    w.feed(at("van-2", (60.30, 24.90), 0))
    w.feed(at("van-3", (60.20, 24.90), 0))
    for task_id in (1, 2, 3):
        w.add_order(order(task_id, pickup=(60.30, 24.90)), T0)
    assert w.orders() == {1: "drv-2", 2: "drv-3", 3: "drv-1"}
    w.add_order(order(4, pickup=(60.30, 24.90)), T0)  # all queues equal: the nearest, drv-2
    w.add_order(order(5, pickup=(60.30, 24.90)), T0)  # drv-2 has two now: drv-3 is nearer
    assert (w.orders()[4], w.orders()[5]) == ("drv-2", "drv-3")


def test_a_driver_bringg_does_not_know_is_held_and_its_latest_fix_goes_with_the_order() -> None:
    """Positions are sent until Bringg refuses the driver (`hold`); then held (one slot, the
    latest), counted, and the first assignment sends the latest right after assign_driver."""
    w = walker(AssignRule.CONFIG)
    first = w.feed(at("van-1", PICKUP, 0))
    assert [c.endpoint for c in first.calls] == [Endpoint.UPDATE_DRIVER_LOCATION]
    assert w.hold("drv-1")  # Bringg answered 403 "User not found"
    assert not w.hold("drv-1")  # said once
    held = [w.feed(at("van-1", PICKUP, t)) for t in (10, 20)]
    assert [(s.calls, s.before_assignment) for s in held] == [([], 1), ([], 1)]
    assign, location, start = w.add_order(order(1), T0 + 30_000).calls
    assert (assign.endpoint, start.endpoint) == (Endpoint.ASSIGN_DRIVER, Endpoint.START_TASK)
    assert (location.endpoint, location.reported_time_ms) == (
        Endpoint.UPDATE_DRIVER_LOCATION,
        T0 + 20_000,
    )
    assert w.assigned("drv-1")
    assert not w.hold("drv-1")  # assigned: a late refusal holds nothing
    after = w.feed(at("van-1", PICKUP, 40))
    assert ([c.endpoint for c in after.calls], after.before_assignment) == (
        [Endpoint.UPDATE_DRIVER_LOCATION],
        0,
    )
    w.add_order(order(2), T0 + 50_000)  # to drv-2, idle
    queued = w.add_order(order(3), T0 + 50_000)  # behind order 1: drv-1 is known, no repeat
    assert [(c.driver_id, c.endpoint) for c in queued.calls] == [("drv-1", Endpoint.ASSIGN_DRIVER)]


def test_a_driver_once_assigned_stays_known_after_its_order_and_after_a_restore() -> None:
    w = walker(AssignRule.CONFIG)
    w.add_order(order(1), T0)
    w.cancel_order(1, T0 + 1_000)
    assert endpoints(w, [at("van-1", PICKUP, 10)]) == ["update_driver_location"]
    saved = convert(to_builtins(w.snapshot()), WalkerState)  # as the outbox keeps it
    assert saved.assigned == ["drv-1"]
    again = walker(AssignRule.CONFIG)
    again.restore(saved)
    assert again.assigned_drivers() == {"drv-1"}
    assert not again.hold("drv-1")


def test_a_state_kept_before_assigned_drivers_were_saved_knows_the_drivers_with_orders() -> None:
    w = walker(AssignRule.CONFIG)
    w.add_order(order(1), T0)
    old = to_builtins(w.snapshot())
    assert isinstance(old, dict)
    del old["assigned"]
    again = walker(AssignRule.CONFIG)
    again.restore(convert(old, WalkerState))
    assert again.assigned_drivers() == {"drv-1"}

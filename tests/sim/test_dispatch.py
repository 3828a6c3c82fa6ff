"""The dispatcher: nearest idle driver for a new order, the oldest order for a freed driver."""

from __future__ import annotations

import random

from driver_agent.core.model import Order, Stop, StopKind
from driver_agent.geo.geometry import destination
from driver_agent.sim.dispatch import Dispatcher

HEL = (60.17, 24.94)


def order(task_id: int, lat: float = HEL[0], lng: float = HEL[1]) -> Order:
    return Order(task_id, Stop(StopKind.PICKUP, lat, lng), Stop(StopKind.DROPOFF, lat, lng + 0.01))


def test_a_new_order_goes_to_the_nearest_idle_driver() -> None:
    d = Dispatcher()
    for i, km in enumerate((5.0, 0.8, 3.0, 12.0)):
        lat, lng = destination(*HEL, 45.0 * i, km * 1000)
        assert d.driver_idle(f"drv-{i}", lat, lng) is None
    assignment = d.order_arrived(order(1))
    assert assignment is not None
    assert assignment.driver_id == "drv-1"
    assert not assignment.relocate
    assert d.holder(1) == "drv-1"
    assert d.idle_count == 3


def test_nearest_search_agrees_with_a_full_scan_for_many_drivers() -> None:
    rng = random.Random(4)
    d = Dispatcher()
    drivers = {}
    for i in range(2000):
        lat, lng = destination(*HEL, rng.uniform(0, 360), rng.uniform(0, 60_000))
        drivers[f"drv-{i}"] = (lat, lng)
        d.driver_idle(f"drv-{i}", lat, lng)
    from driver_agent.geo.geometry import haversine_m

    for task_id in range(1, 200):
        lat, lng = destination(*HEL, rng.uniform(0, 360), rng.uniform(0, 80_000))
        expected = min(drivers, key=lambda k: (haversine_m(lat, lng, *drivers[k]), k))
        assignment = d.order_arrived(order(task_id, lat, lng))
        assert assignment is not None
        assert assignment.driver_id == expected
        del drivers[expected]


def test_orders_wait_when_nobody_is_idle_and_a_freed_driver_takes_the_oldest() -> None:
    d = Dispatcher()
    assert d.order_arrived(order(1)) is None
    assert d.order_arrived(order(2)) is None
    assert [o.task_id for o in d.waiting()] == [1, 2]
    first = d.driver_idle("drv-a", *HEL)
    assert first is not None
    assert first.order.task_id == 1
    assert [o.task_id for o in d.waiting()] == [2]


def test_a_far_away_driver_is_marked_for_relocation() -> None:
    d = Dispatcher(relocate_beyond_m=20_000)
    d.driver_idle("drv-a", 35.68, 139.69)  # Tokyo
    assignment = d.order_arrived(order(1))
    assert assignment is not None
    assert assignment.relocate


def test_a_repeated_order_is_ignored_and_a_cancel_finds_holder_or_queue() -> None:
    d = Dispatcher()
    d.driver_idle("drv-a", *HEL)
    assert d.order_arrived(order(1)) is not None
    assert d.order_arrived(order(1)) is None  # a webhook retry
    assert d.order_arrived(order(2)) is None
    assert d.withdraw(1) == "drv-a"
    withdrawn = d.withdraw(2)
    assert isinstance(withdrawn, Order)
    assert withdrawn.task_id == 2
    assert d.withdraw(3) is None


def test_closing_returns_the_orders_that_never_started() -> None:
    d = Dispatcher()
    d.order_arrived(order(1))
    d.order_arrived(order(2))
    assert [o.task_id for o in d.close()] == [1, 2]
    assert d.driver_idle("drv-a", *HEL) is None
    assert d.order_arrived(order(3)) is None


def test_idle_changes_say_who_came_and_who_went_since_the_last_read() -> None:
    d = Dispatcher()
    d.driver_idle("a", 60.17, 24.94)
    d.driver_idle("b", 60.20, 24.90)
    assert d.idle_changes() == {"a": (60.17, 24.94), "b": (60.20, 24.90)}
    assert d.idle_changes() == {}  # read once
    assignment = d.order_arrived(order(1))
    assert assignment is not None
    assert assignment.driver_id == "a"
    d.driver_idle("c", 60.30, 24.80)
    assert d.idle_changes() == {"a": None, "c": (60.30, 24.80)}
    d.driver_idle("c", 60.31, 24.81)  # came, went and came again: the last word counts
    d.order_arrived(order(2, 60.31, 24.81))
    d.driver_idle("c", 60.32, 24.82)
    assert d.idle_changes() == {"c": (60.32, 24.82)}

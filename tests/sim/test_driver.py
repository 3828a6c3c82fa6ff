"""One simulated driver walks real orders against the sandbox over loopback, in virtual time."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
from driver_walks import HAPPY_PATH, START_S, Walk, fault, run_driver, wait_for_state, walk
from shapely.geometry import Point

from driver_agent.core.model import Order, Stop, StopKind
from driver_agent.geo.geometry import haversine_m
from driver_agent.geo.roads import RoadNetwork
from driver_agent.geo.tracks import Track
from driver_agent.sim.context import DriverContext, DriverSpec
from driver_agent.sim.driver import Driver
from driver_agent.sim.lifecycle import TRANSITIONS, Lifecycle
from driver_agent.sim.lifecycle_messages import (
    ArrivedAtStop,
    CheckIn,
    OrderCancelled,
    OrderOffered,
    OrderUpdated,
    UpdateOrder,
)
from driver_agent.sim.lifecycle_states import DriverState


async def test_one_driver_completes_an_order_confirmed_by_the_sandbox(
    sandbox: str, network: RoadNetwork
) -> None:
    async with walk(sandbox, network) as w:
        await run_driver(w)
        order = await w.sandbox_order()
        state = await w.state()
    assert w.driver.lifecycle.state is DriverState.DONE
    assert order["status"] == 4
    assert order["driver"] == "drv-1"
    pickup, dropoff = order["way_points"]
    for wp in (pickup, dropoff):
        assert wp["checkin_time"]
        assert wp["checkout_time"]
        assert wp["done"]
    assert pickup["checkout_time"] < dropoff["checkin_time"]
    assert dropoff["notes"] >= 1
    [driver] = state["drivers"]
    assert driver["gaps_over_30s"] == 0
    assert 0 < driver["max_gap_s"] <= 10.0
    assert driver["location_count"] > 10
    # our own figures agree with the sandbox's
    [mine] = w.stats.statistics().drivers
    assert mine.pings == driver["location_count"]
    assert mine.max_gap_s == driver["max_gap_s"]
    assert mine.orders == {"completed": 1}
    assert mine.distance_m > 100
    # check-in happens where the van stands: inside the geofence, not on the stop itself
    checkins = [e for e in w.recorder.events if e.kind == "checkin"]
    assert len(checkins) == 2
    for event, stop in zip(checkins, (w.order.pickup, w.order.dropoff), strict=True):
        assert 0.5 < haversine_m(event.lat, event.lng, stop.lat, stop.lng) < 50.0


async def test_a_cancel_mid_route_stops_every_call_for_the_order(
    sandbox: str, network: RoadNetwork
) -> None:
    async def cancel_on_the_way(w: Walk) -> None:
        await wait_for_state(w, DriverState.EN_ROUTE_TO_DROPOFF)
        await w.http.post(f"{w.url}/_sandbox/orders/{w.order.task_id}/cancel", json={})
        w.driver.cancel(reason_id=1, reason="customer cancelled")

    async with walk(sandbox, network) as w:
        await run_driver(w, during=cancel_on_the_way)
        order = await w.sandbox_order()
        counts = {e: await w.calls(e) for e in ("checkin", "checkout", "end_task", "create_note")}
        pings_at_end = (await w.state())["drivers"][0]["location_count"]
        # time passes; an idle driver sends nothing for the order any more
        w.clock.advance(600)
        assert (await w.state())["drivers"][0]["location_count"] == pings_at_end
    assert w.driver.lifecycle.state is DriverState.CANCELLED
    assert order["status"] == 7
    assert counts["checkin"] == 1
    assert counts["checkout"] == 1
    assert counts["end_task"] == 0
    [mine] = w.stats.statistics().drivers
    assert mine.orders == {"cancelled": 1}
    assert [e.kind for e in w.recorder.events][-1] == "cancel"


async def test_an_address_change_mid_route_reroutes_along_the_new_roads(
    sandbox: str, network: RoadNetwork
) -> None:
    new_lat, new_lng = network.depots[3].lat, network.depots[3].lng
    changed: list[tuple[float, float, int]] = []

    async def move_the_dropoff(w: Walk) -> None:
        await wait_for_state(w, DriverState.EN_ROUTE_TO_DROPOFF, step_s=20.0)
        lat, lng = w.driver.where()
        changed.append((lat, lng, len(w.recorder.tracks["drv-1"])))
        w.driver.update(OrderUpdated(StopKind.DROPOFF, lat=new_lat, lng=new_lng))

    async with walk(sandbox, network, seed=5) as w:
        old = w.order.dropoff
        await run_driver(w, during=move_the_dropoff)
        updates = await w.calls("update_task")
    assert w.driver.lifecycle.state is DriverState.DONE
    assert updates == 1  # the new ETA went to Bringg
    dropoff_checkin = [e for e in w.recorder.events if e.kind == "checkin"][-1]
    assert haversine_m(dropoff_checkin.lat, dropoff_checkin.lng, new_lat, new_lng) < 50.0
    # positions after the change lie along the new route from where the driver was
    lat, lng, index = changed[0]
    new_route = network.route(lat, lng, new_lat, new_lng)
    old_route = network.route(lat, lng, old.lat, old.lng)
    assert new_route is not None
    assert old_route is not None
    after = w.recorder.tracks["drv-1"][index:]
    assert len(after) >= 3, "too few positions after the change"
    to_new = [_off_route_m(new_route, p) for p in after]
    to_old = [_off_route_m(old_route, p) for p in after]
    assert max(to_new) < 30.0  # GPS noise and parking, not another street
    assert max(to_old) > 100.0  # the old route would have gone elsewhere


def _off_route_m(track: Track, point: tuple[float, float]) -> float:
    return float(track.line.distance(Point(track.projection.forward(*point))))


async def test_an_early_driver_waits_for_the_delivery_window(
    sandbox: str, network: RoadNetwork
) -> None:
    async with walk(sandbox, network, window_in_s=3 * 3600) as w:
        await run_driver(w)
    dropoff_out = w.driver.lifecycle.checked_out_at_ms[StopKind.DROPOFF]
    assert dropoff_out >= (START_S + 3 * 3600) * 1000
    [mine] = w.stats.statistics().drivers
    assert mine.gaps_over_limit == 0  # it kept pinging while it waited


# -- the API loses an answer ----------------------------------------------------------------------


async def test_a_checkout_applied_but_answer_lost_is_one_transition_for_the_sandbox(
    sandbox: str, network: RoadNetwork
) -> None:
    async def lose_answers(w: Walk) -> None:
        await wait_for_state(w, DriverState.AT_PICKUP, step_s=1.0)
        for endpoint in ("checkout", "checkin", "end_task"):
            paths = [f"/open_fleet_services/{endpoint}"]
            await fault(w, {"lose_answer": True, "count": 1, "paths": paths})

    async with walk(sandbox, network) as w:
        await run_driver(w, during=lose_answers)
        order = await w.sandbox_order()
        state = await w.state()
    assert order["transitions"] == HAPPY_PATH
    assert state["repeats"][str(w.order.task_id)] == {
        "checkout:pickup": 1,
        "checkin:dropoff": 1,
        "end_task": 1,
    }
    assert w.stats.statistics().resilience.reconciled == 3
    assert w.stats.statistics().totals.orders == {"completed": 1}


# -- the flow, without a network -----------------------------------------------------------------

PU, DO = StopKind.PICKUP, StopKind.DROPOFF
NEAR_ORDER = Order(7, Stop(PU, 52.51, 13.41), Stop(DO, 52.52, 13.45))


async def test_a_batch_is_carried_out_before_the_outcome_of_its_first_command_is_applied(
    offline_context: DriverContext, fake_client: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # a batch of two calls whose first one's confirmation moves the state on: check in and,
    # in the same batch, send the dropoff's ETA. The ETA goes out while the driver still checks
    # in; the check-in's outcome (notes, dwell) follows the batch, not the middle of it.
    def check_in_and_send_eta(lifecycle: Lifecycle, event: ArrivedAtStop, now_ms: int) -> Any:
        task_id = NEAR_ORDER.task_id
        commands = (CheckIn(task_id, PU, event.lat, event.lng), UpdateOrder(task_id, DO, now_ms))
        return DriverState.CHECKING_IN_AT_PICKUP, commands

    key = (DriverState.EN_ROUTE_TO_PICKUP, ArrivedAtStop, PU)
    monkeypatch.setitem(TRANSITIONS, key, check_in_and_send_eta)
    driver = Driver(DriverSpec("drv-1", "Test Driver", 52.5, 13.4), offline_context)
    seen: list[tuple[str, DriverState]] = []
    fake_client.watch = lambda endpoint: seen.append((endpoint, driver.lifecycle.state))
    await driver.feed(OrderOffered(NEAR_ORDER), START_S)
    await driver.feed(ArrivedAtStop(PU, 52.51, 13.41), START_S + 600.0)
    assert seen == [
        ("assign_driver", DriverState.OFFERED),
        ("start_task", DriverState.ASSIGNED),
        ("checkin", DriverState.CHECKING_IN_AT_PICKUP),
        ("update_task", DriverState.CHECKING_IN_AT_PICKUP),
    ]
    assert driver.lifecycle.state is DriverState.AT_PICKUP
    assert driver.itinerary.dwell_until > START_S + 600.0


async def test_an_order_end_reaches_the_fleet_through_the_drivers_own_callback(
    offline_context: DriverContext,
) -> None:
    ended: list[tuple[str, int, str]] = []
    driver = Driver(
        DriverSpec("drv-1", "Test Driver", 52.5, 13.4),
        offline_context,
        on_order_end=lambda d, order, outcome: ended.append((d.driver_id, order.task_id, outcome)),
    )
    await driver.feed(OrderOffered(NEAR_ORDER), START_S)
    await driver.feed(OrderCancelled(1, "customer cancelled"), START_S + 60.0)
    assert ended == [("drv-1", 7, "cancelled")]
    with pytest.raises(dataclasses.FrozenInstanceError):
        offline_context.seed = 2  # type: ignore[misc]

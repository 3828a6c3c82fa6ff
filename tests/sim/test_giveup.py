"""A driver rides out an outage and gives orders up (walks against the sandbox, virtual time)."""

from __future__ import annotations

from typing import Any

from driver_walks import HAPPY_PATH, START_S, Walk, fault, outage, run_driver, wait_for_state, walk

from driver_agent.core.errors import RejectedError
from driver_agent.core.model import Order, Stop, StopKind
from driver_agent.geo.roads import RoadNetwork
from driver_agent.sim.context import DriverContext, DriverSpec
from driver_agent.sim.driver import Driver
from driver_agent.sim.lifecycle_messages import ArrivedAtStop, OrderOffered, OrderUpdated
from driver_agent.sim.lifecycle_states import DriverState


async def test_an_outage_mid_order_is_ridden_out_every_call_once_seen_as_latency(
    sandbox: str, network: RoadNetwork
) -> None:
    async with walk(sandbox, network) as w:  # the dropoff is reached while the API is away
        await run_driver(w, during=outage(DriverState.EN_ROUTE_TO_DROPOFF, 150.0))
        order = await w.sandbox_order()
        state = await w.state()
    assert w.driver.lifecycle.state is DriverState.DONE
    assert order["status_name"] == "done"
    assert order["transitions"] == HAPPY_PATH
    stats = w.stats.statistics()
    assert stats.totals.orders == {"completed": 1}
    assert stats.totals.errors == 0  # an outage is latency and retries, not failures
    outage_seen = stats.resilience
    assert outage_seen.queued_calls > outage_seen.queued_locations > 5  # the check-in waited
    assert outage_seen.thinned_locations > 0
    assert outage_seen.retries > 3
    assert outage_seen.given_up == 0
    checkin = next(e for e in stats.endpoints if e.endpoint == "checkin")
    assert checkin.count == 2
    assert checkin.latency_ms.max >= 20_000.0  # it waited for the API, from its scheduled time
    [driver] = state["drivers"]
    assert driver["gaps_over_30s"] == 0  # thinned positions keep the 30 s cadence
    assert driver["out_of_order"] == 0
    assert stats.totals.gaps_over_limit == 0  # and our own figures agree


async def test_an_outage_longer_than_give_up_after_s_fails_the_order_and_cancels_it_after(
    sandbox: str, network: RoadNetwork
) -> None:
    async with walk(sandbox, network, give_up_after_s=120.0) as w:
        await run_driver(w, during=outage(DriverState.EN_ROUTE_TO_DROPOFF, 200.0))
        order = await w.sandbox_order()
    assert order["status_name"] == "cancelled"  # not left checked out of the pickup, silently
    assert order["transitions"][-1] == "cancel_delivery"
    stats = w.stats.statistics()
    assert stats.totals.orders == {"failed": 1}
    resilience = stats.resilience
    assert (resilience.given_up, resilience.cancelled_after_give_up) == (1, 1)
    [given_up] = resilience.given_up_orders
    assert (given_up.task_id, given_up.status, given_up.reason) == (
        w.order.task_id,
        503,
        "no_progress",
    )
    assert "sandbox fault: HTTP 503" in given_up.message
    (row,), _ = w.stats.order_rows()
    assert (row.outcome, row.error_status, row.error_message) == ("failed", 503, given_up.message)


async def test_a_lifecycle_call_refused_for_good_gives_the_order_up_and_cancels_it(
    sandbox: str, network: RoadNetwork
) -> None:
    async def refuse_the_dropoff_checkin(w: Walk) -> None:
        await wait_for_state(w, DriverState.EN_ROUTE_TO_DROPOFF, step_s=1.0)
        paths = ["/open_fleet_services/checkin"]
        await fault(w, {"status": 400, "count": 1, "paths": paths})

    async with walk(sandbox, network) as w:
        await run_driver(w, during=refuse_the_dropoff_checkin)
        order = await w.sandbox_order()
    assert w.driver.lifecycle.state is DriverState.FAILED
    assert order["status_name"] == "cancelled"
    stats = w.stats.statistics()
    [given_up] = stats.resilience.given_up_orders
    assert (given_up.endpoint, given_up.status, given_up.reason) == ("checkin", 400, "refused")
    assert stats.resilience.cancelled_after_give_up == 1
    checkin = next(e for e in stats.endpoints if e.endpoint == "checkin")
    assert checkin.errors_by_status == {"400": 1}
    assert [m.count for m in checkin.top_messages] == [1]
    (row,), _ = w.stats.order_rows()  # the failed order's row names the refusal
    assert (row.order_id, row.outcome, row.error_endpoint, row.error_status) == (
        w.order.task_id, "failed", "checkin", 400,
    )  # fmt: skip
    assert row.error_message == checkin.top_messages[0].message
    assert "pickup_dwell" in row.stages_s  # it got as far as leaving the pickup


# -- without a network ---------------------------------------------------------------------------


async def test_a_refused_check_in_fails_the_order_first_then_gives_it_up_and_cancels_it(
    offline_context: DriverContext, fake_client: Any
) -> None:
    order = Order(7, Stop(StopKind.PICKUP, 52.51, 13.41), Stop(StopKind.DROPOFF, 52.52, 13.45))
    fake_client.fail["checkin"] = [RejectedError("checkin", 400, "not at the stop")]
    ended: list[tuple[str, list[str]]] = []
    driver = Driver(
        DriverSpec("drv-1", "Test Driver", 52.5, 13.4),
        offline_context,
        on_order_end=lambda d, o, outcome: ended.append((outcome, fake_client.endpoints())),
    )
    await driver.feed(OrderOffered(order), START_S)
    await driver.feed(ArrivedAtStop(StopKind.PICKUP, 52.51, 13.41), START_S + 300.0)
    assert driver.lifecycle.state is DriverState.FAILED
    # the fleet hears the failure before the cancel goes out, as one flow, once
    assert ended == [("failed", ["assign_driver", "start_task", "checkin"])]
    assert fake_client.endpoints()[-1] == "cancel_delivery"
    resilience = offline_context.stats.statistics().resilience
    assert (resilience.given_up, resilience.cancelled_after_give_up) == (1, 1)
    [given_up] = resilience.given_up_orders
    assert (given_up.endpoint, given_up.status, given_up.reason) == ("checkin", 400, "refused")


async def test_a_refused_eta_update_is_counted_and_the_order_goes_on(
    offline_context: DriverContext, fake_client: Any
) -> None:
    order = Order(7, Stop(StopKind.PICKUP, 52.51, 13.41), Stop(StopKind.DROPOFF, 52.52, 13.45))
    fake_client.fail["update_task"] = [RejectedError("update_task", 422, "no eta today")]
    driver = Driver(DriverSpec("drv-1", "Test Driver", 52.5, 13.4), offline_context)
    await driver.feed(OrderOffered(order), START_S)
    # the pickup moved while the driver heads there: a re-route, and its ETA is refused
    await driver.feed(OrderUpdated(StopKind.PICKUP, lat=52.515, lng=13.415), START_S + 60.0)
    assert fake_client.endpoints()[-1] == "update_task"
    assert driver.lifecycle.state is DriverState.EN_ROUTE_TO_PICKUP
    assert driver.lifecycle.refused_calls == 1
    assert offline_context.stats.statistics().resilience.given_up == 0

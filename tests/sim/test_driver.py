"""One simulated driver walks real orders against the sandbox over loopback, in virtual time."""

from __future__ import annotations

import dataclasses
import random
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest
from shapely.geometry import Point

import driver_agent.sim
from driver_agent.core.clock import VirtualClock
from driver_agent.core.config import ApiConfig, DriverConfig
from driver_agent.core.model import Order, Secret, Stop, StopKind
from driver_agent.fleetapi.client import FleetClient
from driver_agent.fleetapi.merchant import MerchantClient
from driver_agent.fleetapi.wire import Note
from driver_agent.geo.geometry import haversine_m
from driver_agent.geo.roads import RoadNetwork
from driver_agent.geo.tracks import Track
from driver_agent.metrics.stats import StatsCollector
from driver_agent.report.recorder import TrackRecorder
from driver_agent.sandbox.app import serve_sandbox_in_thread
from driver_agent.sandbox.settings import SandboxSettings
from driver_agent.sim.context import DriverContext, DriverSpec, ProofAssets
from driver_agent.sim.driver import Driver
from driver_agent.sim.lifecycle import TRANSITIONS, DriverState, Lifecycle
from driver_agent.sim.lifecycle_messages import (
    ArrivedAtStop,
    CheckIn,
    OrderCancelled,
    OrderOffered,
    OrderUpdated,
    UpdateOrder,
)
from driver_agent.sim.navigator import Navigator
from driver_agent.sim.orders import plan_orders

START_S = 1_760_000_000.0
ASSETS = Path(driver_agent.sim.__file__).parent / "pod_assets"


@pytest.fixture(scope="module")
def network() -> RoadNetwork:
    return RoadNetwork.load()


@pytest.fixture
def sandbox(network: RoadNetwork) -> Iterator[str]:
    with serve_sandbox_in_thread(SandboxSettings(area=network.bbox)) as url:
        yield url


@dataclass
class Walk:
    url: str
    http: httpx.AsyncClient
    clock: VirtualClock
    driver: Driver
    order: Order
    stats: StatsCollector
    recorder: TrackRecorder

    async def state(self) -> dict[str, Any]:
        answer: dict[str, Any] = (await self.http.get(self.url + "/_sandbox/state")).json()
        return answer

    async def sandbox_order(self) -> dict[str, Any]:
        for order in (await self.state())["orders"]:
            if order["task_id"] == self.order.task_id:
                found: dict[str, Any] = order
                return found
        raise AssertionError(f"order {self.order.task_id} not in the sandbox")

    async def calls(self, endpoint: str) -> int:
        counts = (await self.state())["calls"].get(f"/open_fleet_services/{endpoint}", {})
        count: int = counts.get("count", 0)
        return count


@asynccontextmanager
async def walk(
    url: str,
    network: RoadNetwork,
    *,
    seed: int = 3,
    window_in_s: float | None = None,
    **api: Any,
) -> AsyncIterator[Walk]:
    clock = VirtualClock(start=START_S)
    config = ApiConfig(
        api_url=url, client_id="sandbox-fleet", client_secret=Secret("sandbox-fleet-secret"), **api
    )
    proof = ProofAssets(
        Note.photo((ASSETS / "photo.jpg").read_bytes()),
        Note.signature((ASSETS / "signature.png").read_bytes()),
    )
    stats, recorder = StatsCollector(), TrackRecorder()
    async with httpx.AsyncClient() as http:
        merchant = MerchantClient(
            http, url, "sandbox-merchant", Secret("sandbox-merchant-secret"), clock
        )
        [request] = plan_orders(
            network, 1, random.Random(seed), manhattan_share=0.0, now_s=clock.now()
        )
        task_id = await merchant.create(request)
        pickup, dropoff = request.body["way_points"]  # type: ignore[misc]
        opens = int((START_S + window_in_s) * 1000) if window_in_s is not None else None
        order = Order(
            task_id,
            Stop(StopKind.PICKUP, pickup["lat"], pickup["lng"]),
            Stop(StopKind.DROPOFF, dropoff["lat"], dropoff["lng"], no_earlier_than_ms=opens),
        )
        client = FleetClient(config, clock, on_retry=stats.record_retry)
        ctx = DriverContext(
            client, clock, stats, Navigator(network), DriverConfig(), proof, 1, 0.0, recorder
        )
        depot = network.depots[0]
        spec = DriverSpec("drv-1", "Delivery Driver", depot.lat, depot.lng)
        driver = Driver(spec, ctx, on_order_end=lambda d, o, outcome: d.close())
        try:
            yield Walk(url, http, clock, driver, order, stats, recorder)
        finally:
            await client.aclose()


async def run_driver(w: Walk, *, during: Callable[[Walk], Awaitable[None]] | None = None) -> None:
    """Run the driver until its order ends; `during` runs alongside as a clock participant."""
    driver_member = w.clock.join()
    other = w.clock.join() if during is not None else None

    async def drive() -> None:
        with driver_member:
            await w.driver.run()

    async def alongside() -> None:
        assert during is not None
        assert other is not None
        with other:
            await during(w)

    with anyio.fail_after(60):
        async with anyio.create_task_group() as tg:
            tg.start_soon(drive)
            if during is not None:
                tg.start_soon(alongside)
            w.driver.offer(w.order)


async def wait_for_state(w: Walk, state: DriverState, step_s: float = 5.0) -> None:
    while w.driver.lifecycle.state is not state:
        await w.clock.sleep(step_s)


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


# -- the API goes away ---------------------------------------------------------------------------

HAPPY_PATH = [
    "assign_driver", "start_task", "checkin:pickup", "checkout:pickup", "checkin:dropoff",
    "checkout:dropoff", "end_task",
]  # fmt: skip


async def fault(w: Walk, body: dict[str, Any]) -> None:
    (await w.http.post(w.url + "/_sandbox/faults", json=body)).raise_for_status()


def outage(state: DriverState, seconds: float) -> Callable[[Walk], Awaitable[None]]:
    """Every API call answers 503 for `seconds` of simulated time once the driver is in
    `state`."""

    async def go(w: Walk) -> None:
        await wait_for_state(w, state, step_s=1.0)
        await fault(w, {"status": 503, "duration_s": 1e9})
        await w.clock.sleep(seconds)
        await fault(w, {"clear": True})

    return go


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

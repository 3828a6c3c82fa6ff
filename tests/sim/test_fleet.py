"""The fleet scheduler: a failing driver is counted and the fleet goes on (or stops: fail-fast)."""

from __future__ import annotations

import random

import anyio
import httpx
import pytest

from driver_agent.core.clock import RealClock, VirtualClock
from driver_agent.core.config import ApiConfig, DriverConfig
from driver_agent.core.model import Order, Secret, Stop, StopKind
from driver_agent.fleetapi.client import FleetClient
from driver_agent.fleetapi.merchant import MerchantClient
from driver_agent.fleetapi.webhook_payloads import DeliveryCreated, WebhookEvent
from driver_agent.geo.roads import RoadNetwork
from driver_agent.metrics.stats import StatsCollector
from driver_agent.sim.context import DriverContext, DriverSpec
from driver_agent.sim.fleet import Fleet
from driver_agent.sim.navigator import Navigator
from driver_agent.sim.orders import plan_orders
from driver_agent.sim.roster import proof_assets
from driver_agent.sim.stopplan import Leg


class BrokenRoads(Navigator):
    """Fault injection: routing to one stop fails, as a corrupt road graph would."""

    def __init__(self, network: RoadNetwork, broken: Stop) -> None:
        super().__init__(network)
        self.broken = broken

    def leg(
        self,
        from_lat: float,
        from_lng: float,
        stop: Stop,
        rng: random.Random,
        *,
        van_at: tuple[float, float] | None = None,
    ) -> Leg:
        if (stop.lat, stop.lng) == (self.broken.lat, self.broken.lng):
            raise RuntimeError("road graph corrupted")
        return super().leg(from_lat, from_lng, stop, rng, van_at=van_at)


async def make_orders(url: str, network: RoadNetwork, clock: VirtualClock, n: int) -> list[Order]:
    orders = []
    async with httpx.AsyncClient() as http:
        merchant = MerchantClient(
            http, url, "sandbox-merchant", Secret("sandbox-merchant-secret"), clock
        )
        for request in plan_orders(
            network, n, random.Random(2), manhattan_share=0, now_s=clock.now()
        ):
            task_id = await merchant.create(request)
            pickup, dropoff = request.body["way_points"]  # type: ignore[misc]
            orders.append(
                Order(
                    task_id,
                    Stop(StopKind.PICKUP, pickup["lat"], pickup["lng"]),
                    Stop(StopKind.DROPOFF, dropoff["lat"], dropoff["lng"]),
                )
            )
    return orders


async def run_fleet_with_a_broken_route(
    url: str, network: RoadNetwork, *, fail_fast: bool
) -> Fleet:
    clock = VirtualClock(start=1_760_000_000.0)
    orders = await make_orders(url, network, clock, 3)
    config = ApiConfig(
        api_url=url, client_id="sandbox-fleet", client_secret=Secret("sandbox-fleet-secret")
    )
    stats = StatsCollector()
    client = FleetClient(config, clock, on_retry=stats.record_retry)
    ctx = DriverContext(
        client,
        clock,
        stats,
        BrokenRoads(network, orders[1].dropoff),
        DriverConfig(),
        proof_assets(),
    )
    depot = network.depots[0]
    specs = [DriverSpec(f"drv-{i}", "Delivery Driver", depot.lat, depot.lng) for i in range(3)]
    fleet = Fleet(ctx, specs, ramp_up_per_s=0, fail_fast=fail_fast)
    send, receive = anyio.create_memory_object_stream[WebhookEvent](10)
    try:
        with send, receive:
            for order in orders:
                send.send_nowait(DeliveryCreated(order, {}))
            with anyio.fail_after(60):
                await fleet.run(receive, expected_orders=3, hold_until_orders=3)
    finally:
        await client.aclose()
    return fleet


async def test_one_drivers_failure_is_counted_and_the_fleet_goes_on(
    sandbox: str, network: RoadNetwork
) -> None:
    fleet = await run_fleet_with_a_broken_route(sandbox, network, fail_fast=False)
    progress = fleet.progress()
    assert progress.driver_errors == 1
    assert progress.outcomes == {"completed": 2, "failed": 1}


async def test_fail_fast_stops_the_fleet_at_the_first_driver_error(
    sandbox: str, network: RoadNetwork
) -> None:
    with pytest.RaisesGroup(
        pytest.RaisesExc(RuntimeError, match="road graph corrupted"), flatten_subgroups=True
    ):
        await run_fleet_with_a_broken_route(sandbox, network, fail_fast=True)


async def test_on_spawned_is_called_once_after_the_last_driver_is_spawned(
    sandbox: str, network: RoadNetwork
) -> None:
    clock = RealClock(speed=1000.0)  # idle drivers make no calls; the ramp takes 3 ms
    config = ApiConfig(
        api_url=sandbox, client_id="sandbox-fleet", client_secret=Secret("sandbox-fleet-secret")
    )
    stats = StatsCollector()
    client = FleetClient(config, clock, on_retry=stats.record_retry)
    ctx = DriverContext(client, clock, stats, Navigator(network), DriverConfig(), proof_assets())
    depot = network.depots[0]
    specs = [DriverSpec(f"drv-{i}", "Delivery Driver", depot.lat, depot.lng) for i in range(4)]
    spawned_when: list[int] = []
    spawned = anyio.Event()

    def on_spawned() -> None:
        spawned_when.append(len(fleet.drivers))
        spawned.set()

    fleet = Fleet(ctx, specs, ramp_up_per_s=1000.0, on_spawned=on_spawned)
    try:
        with anyio.fail_after(30):
            async with anyio.create_task_group() as group:
                group.start_soon(fleet.run, None)
                await spawned.wait()
                fleet.stop()
    finally:
        await client.aclose()
    assert spawned_when == [4]

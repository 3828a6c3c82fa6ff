"""A simulated driver walking a real order against the sandbox over loopback, in virtual time.

Shared by the tests of the driver and of its outage handling (tests/sim); `network` and
`sandbox` are fixtures in tests/sim/conftest.py.
"""

from __future__ import annotations

import random
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio
import httpx

import driver_agent.sim
from driver_agent.core.clock import VirtualClock
from driver_agent.core.config import ApiConfig, DriverConfig
from driver_agent.core.model import Order, Secret, Stop, StopKind
from driver_agent.fleetapi.client import FleetClient
from driver_agent.fleetapi.merchant import MerchantClient
from driver_agent.fleetapi.wire import Note
from driver_agent.geo.roads import RoadNetwork
from driver_agent.metrics.stats import StatsCollector
from driver_agent.report.recorder import TrackRecorder
from driver_agent.sim.context import DriverContext, DriverSpec, ProofAssets
from driver_agent.sim.driver import Driver
from driver_agent.sim.lifecycle_states import DriverState
from driver_agent.sim.navigator import Navigator
from driver_agent.sim.orders import plan_orders

START_S = 1_760_000_000.0
ASSETS = Path(driver_agent.sim.__file__).parent / "pod_assets"


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

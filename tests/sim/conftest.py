"""The sandbox on loopback for walks (tests/driver_walks.py), and a driver without a network: a
fake fleet client that answers at once and records each call."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from driver_agent.core.clock import VirtualClock
from driver_agent.core.config import ApiConfig, DriverConfig
from driver_agent.core.errors import ApiError
from driver_agent.fleetapi.wire import Note
from driver_agent.geo.roads import RoadNetwork
from driver_agent.metrics.stats import StatsCollector
from driver_agent.sandbox.app import serve_sandbox_in_thread
from driver_agent.sandbox.settings import SandboxSettings
from driver_agent.sim.context import DriverContext, ProofAssets
from driver_agent.sim.navigator import Navigator

START_S = 1_760_000_000.0


class FakeClient:
    """The FleetClient methods a driver calls. Each call is recorded as (endpoint, arguments);
    `fail[endpoint]` lists errors its next calls raise (then it answers again); `watch` is told
    each endpoint as its call starts."""

    def __init__(self) -> None:
        self.config = ApiConfig(give_up_after_s=60.0)
        self.rate_limit = None
        self.on_retry = None
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.fail: dict[str, list[ApiError]] = {}
        self.watch: Callable[[str], None] | None = None

    async def _answer(self, endpoint: str, **arguments: Any) -> dict[str, Any]:
        self.calls.append((endpoint, arguments))
        if self.watch is not None:
            self.watch(endpoint)
        errors = self.fail.get(endpoint)
        if errors:
            raise errors.pop(0)
        return {}

    def endpoints(self) -> list[str]:
        return [endpoint for endpoint, _ in self.calls]

    async def assign_driver(self, task_id: int, **kw: Any) -> dict[str, Any]:
        return await self._answer("assign_driver", task_id=task_id, **kw)

    async def start_task(self, task_id: int, **kw: Any) -> dict[str, Any]:
        return await self._answer("start_task", task_id=task_id, **kw)

    async def checkin(self, task_id: int, **kw: Any) -> dict[str, Any]:
        return await self._answer("checkin", task_id=task_id, **kw)

    async def checkout(self, task_id: int, **kw: Any) -> dict[str, Any]:
        return await self._answer("checkout", task_id=task_id, **kw)

    async def end_task(self, task_id: int, **kw: Any) -> dict[str, Any]:
        return await self._answer("end_task", task_id=task_id, **kw)

    async def cancel_delivery(self, task_id: int, **kw: Any) -> dict[str, Any]:
        return await self._answer("cancel_delivery", task_id=task_id, **kw)

    async def update_task(self, task_id: int, **kw: Any) -> dict[str, Any]:
        return await self._answer("update_task", task_id=task_id, **kw)

    async def create_note(self, task_id: int, note: Note, **kw: Any) -> dict[str, Any]:
        return await self._answer("create_note", task_id=task_id, note=note, **kw)

    async def update_driver_location(self, **kw: Any) -> dict[str, Any]:
        return await self._answer("update_driver_location", **kw)


@pytest.fixture
def fake_client() -> FakeClient:
    return FakeClient()


@pytest.fixture
def offline_context(fake_client: FakeClient) -> DriverContext:
    """One driver's world in virtual time: the fake client, straight-line legs, no recorder."""
    clock = VirtualClock(start=START_S)
    proof = ProofAssets(Note.text_note("photo"), Note.text_note("signature"))
    stats = StatsCollector()
    return DriverContext(
        fake_client,  # type: ignore[arg-type]
        clock,
        stats,
        Navigator(None),
        DriverConfig(),
        proof,
        seed=7,
    )


@pytest.fixture(scope="module")
def network() -> RoadNetwork:
    return RoadNetwork.load()


@pytest.fixture
def sandbox(network: RoadNetwork) -> Iterator[str]:
    with serve_sandbox_in_thread(SandboxSettings(area=network.bbox)) as url:
        yield url

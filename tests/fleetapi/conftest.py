"""Fixtures of the fleet API client tests: the fake fleet server, a virtual clock, engines."""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

import pytest
import uvicorn
from fleet_fakes import FakeFleet, build_app

from driver_agent.core.clock import VirtualClock

if TYPE_CHECKING:
    from collections.abc import Iterator


@pytest.fixture(scope="module")
def fake_fleet_server() -> Iterator[FakeFleet]:
    fleet = FakeFleet()
    server = uvicorn.Server(
        uvicorn.Config(
            build_app(fleet), host="127.0.0.1", port=0, log_level="warning", lifespan="off"
        )
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    started = threading.Event()
    while not started.wait(0.01):  # readiness poll of another thread, not a test sleep
        if server.started:
            started.set()
        if not thread.is_alive():
            raise RuntimeError("fake fleet server did not start")
    port = server.servers[0].sockets[0].getsockname()[1]
    fleet.url = f"http://127.0.0.1:{port}"
    yield fleet
    server.should_exit = True
    thread.join(timeout=10)


@pytest.fixture
def fleet(fake_fleet_server: FakeFleet) -> FakeFleet:
    fake_fleet_server.reset()
    return fake_fleet_server


@pytest.fixture
def clock() -> VirtualClock:
    return VirtualClock()


@pytest.fixture(params=["httpx", "aiohttp"])
def transport(request: pytest.FixtureRequest) -> str:
    return str(request.param)

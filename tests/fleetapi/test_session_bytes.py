"""The session counts the bytes of request and answer bodies (for the report's data charts)."""

from __future__ import annotations

import json

import httpx
from fleet_fakes import FakeFleet, fake_config

from driver_agent.core.clock import VirtualClock
from driver_agent.fleetapi.client import FleetClient, open_fleet_client


async def test_bytes_are_the_request_and_answer_bodies_the_transport_saw() -> None:
    sent: list[int] = []
    answered: list[int] = []

    def handler(request: httpx.Request) -> httpx.Response:
        sent.append(len(request.content))
        if request.url.path.endswith("/token"):
            body = {"access_token": "t", "token_type": "Bearer", "expires_in": 1800}
        else:
            body = {"success": True}
        text = json.dumps(body).encode()
        answered.append(len(text))
        return httpx.Response(200, content=text, headers={"Content-Type": "application/json"})

    clock = VirtualClock()
    http = httpx.AsyncClient(transport=httpx.MockTransport(handler))
    config = fake_config("http://127.0.0.1:9", token_url="http://127.0.0.1:9/oauth/token")
    client = FleetClient(config, clock, http=http)
    try:
        for step in range(3):
            await client.update_driver_location(user_id=1, lat=1.0, lng=float(step))
    finally:
        await http.aclose()
    assert len(sent) == 4  # the token, three locations
    assert (client.bytes_sent, client.bytes_received) == (sum(sent), sum(answered))
    assert client.bytes_sent > 0


async def test_our_engine_counts_the_same_bytes_as_httpx(fleet: FakeFleet) -> None:
    counts = []
    for engine in ("builtin", "httpx"):
        fleet.reset()
        async with open_fleet_client(
            fake_config(fleet.url, transport=engine), VirtualClock()
        ) as client:
            for step in range(5):
                await client.update_driver_location(user_id=1, lat=1.0, lng=float(step))
            counts.append((client.bytes_sent, client.bytes_received))
    assert counts[0] == counts[1]
    assert min(counts[0]) > 0

"""On our own engine a plain success is read off the engine's answer without an httpx.Response
(`session.plain_answer`); everything else takes the Response path. Both engines must agree."""

from __future__ import annotations

import pytest
from fleet_fakes import FakeFleet, Fault, fake_config

from driver_agent.core.clock import VirtualClock
from driver_agent.core.errors import RejectedError
from driver_agent.fleetapi.client import FleetClient, open_fleet_client

ENGINES = ["builtin", "httpx"]


async def _locations(client: FleetClient, count: int) -> None:
    for step in range(count):
        await client.update_driver_location(user_id=1, lat=1.0, lng=float(step))


@pytest.mark.parametrize("engine", ENGINES)
async def test_plain_successes_count_their_bytes_as_the_response_path_does(
    fleet: FakeFleet, clock: VirtualClock, engine: str
) -> None:
    async with open_fleet_client(fake_config(fleet.url, transport=engine), clock) as client:
        await _locations(client, 3)
        stats = client.statistics()
        sent, received = client.bytes_sent, client.bytes_received
    assert (stats.requests, stats.retries, stats.in_flight) == (4, 0, 0)  # the token's, too
    assert received > len(b'{"success":true,"rc":0}') * 3  # and the token's answer
    async with open_fleet_client(fake_config(fleet.url, transport="httpx"), clock) as other:
        await _locations(other, 3)
        assert (other.bytes_sent, other.bytes_received) == (sent, received)


@pytest.mark.parametrize("engine", ENGINES)
async def test_rate_limit_headers_on_a_success_are_read(
    fleet: FakeFleet, clock: VirtualClock, engine: str
) -> None:
    fleet.rate_headers = {"RateLimit-Limit": "100", "RateLimit-Remaining": "42"}
    async with open_fleet_client(fake_config(fleet.url, transport=engine), clock) as client:
        assert client.rate_limit is None
        await _locations(client, 1)
        budget = client.rate_limit
    assert budget is not None
    assert budget.remaining == 42


@pytest.mark.parametrize("engine", ENGINES)
async def test_a_200_that_says_success_false_is_refused_with_its_message(
    fleet: FakeFleet, clock: VirtualClock, engine: str
) -> None:
    fleet.script(Fault(200, {"success": False, "message": "driver unknown"}))
    async with open_fleet_client(fake_config(fleet.url, transport=engine), clock) as client:
        with pytest.raises(RejectedError, match="driver unknown"):
            await _locations(client, 1)


@pytest.mark.parametrize("engine", ENGINES)
async def test_an_expired_token_is_refreshed_once_and_the_call_goes_through(
    fleet: FakeFleet, clock: VirtualClock, engine: str
) -> None:
    async with open_fleet_client(fake_config(fleet.url, transport=engine), clock) as client:
        await _locations(client, 1)
        fleet.expire_tokens()
        await _locations(client, 1)
        stats = client.statistics()
    assert stats.token_refreshes == 2  # the first token, then the one after the 401
    assert fleet.endpoints_called() == ["update_driver_location"] * 3


@pytest.mark.parametrize("engine", ENGINES)
async def test_a_server_error_is_retried_and_the_success_after_it_returned(
    fleet: FakeFleet, clock: VirtualClock, engine: str
) -> None:
    fleet.script(Fault(503, {"message": "busy"}))
    async with open_fleet_client(fake_config(fleet.url, transport=engine), clock) as client:
        await _locations(client, 1)
        stats = client.statistics()
    assert (stats.requests, stats.retries) == (3, 1)  # the token, the 503, the success

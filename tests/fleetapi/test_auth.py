"""Tests for driver_agent.fleetapi.auth: the bearer token, fetched once, refreshed early."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import anyio
import anyio.lowlevel
import httpx
import pytest

from driver_agent.core.clock import VirtualClock
from driver_agent.core.config import ApiConfig
from driver_agent.core.errors import ApiUnavailable, AuthError
from driver_agent.core.model import TOKEN_TTL_S, Secret
from driver_agent.fleetapi.auth import TOKEN_ENDPOINT, BearerToken

SECRET = "s3cr3t-value"


class TokenServer:
    """The token endpoint as a `Post`: answers from a script, counts requests, yields once."""

    def __init__(self, *answers: tuple[int, object]) -> None:
        self.answers = list(answers)
        self.requests: list[Mapping[str, object]] = []
        self.issued = 0

    async def post(
        self,
        endpoint: str,
        url: httpx.URL,
        body: Mapping[str, object],
        auth: dict[str, str] | None,
    ) -> httpx.Response:
        assert (endpoint, auth) == (TOKEN_ENDPOINT, None)
        self.requests.append(body)
        await anyio.lowlevel.checkpoint()  # let other callers queue behind the refresh
        if self.answers:
            status, payload = self.answers.pop(0)
        else:
            self.issued += 1
            status, payload = 200, {"access_token": f"t{self.issued}", "expires_in": 1800}
        return httpx.Response(
            status, content=json.dumps(payload).encode(), request=httpx.Request("POST", url)
        )


def _token(server: TokenServer, clock: VirtualClock, **settings: Any) -> BearerToken:
    config = ApiConfig(
        api_url="https://api.example",
        client_id="fleet",
        client_secret=Secret(SECRET),
        token_refresh_margin_s=60.0,
        **settings,
    )
    return BearerToken(config, clock, server.post, lambda text: text.replace(SECRET, "***"))


async def test_one_token_serves_until_the_margin_before_it_expires() -> None:
    server, clock = TokenServer(), VirtualClock()
    token = _token(server, clock)
    first = await token.header()
    clock.advance(1800 - 60 - 1)
    assert await token.header() is first
    clock.advance(1)
    assert await token.header() == {"Authorization": "Bearer t2"}
    assert (len(server.requests), token.refreshes, token.token) == (2, 2, "t2")
    assert server.requests[0]["client_secret"] == SECRET


async def test_a_hundred_callers_at_once_cause_one_token_request() -> None:
    server, clock = TokenServer(), VirtualClock()
    token = _token(server, clock)
    headers: list[dict[str, str]] = []

    async def caller() -> None:
        headers.append(await token.header())

    async with anyio.create_task_group() as group:
        for _ in range(100):
            group.start_soon(caller)
    assert len(server.requests) == 1
    assert all(header is headers[0] for header in headers)


async def test_callers_queued_behind_a_failed_refresh_share_its_verdict() -> None:
    server, clock = TokenServer((503, {})), VirtualClock()
    token = _token(server, clock)
    failures: list[BaseException] = []

    async def caller() -> None:
        try:
            await token.header()
        except ApiUnavailable as exc:
            failures.append(exc)

    async with anyio.create_task_group() as group:
        for _ in range(10):
            group.start_soon(caller)
    assert len(server.requests) == 1
    assert len(failures) == 10
    assert len({id(exc) for exc in failures}) == 10  # copies: each task raises its own
    assert (await token.header()) == {"Authorization": "Bearer t1"}  # a later call tries again


async def test_retire_forces_a_refresh_unless_someone_already_refreshed() -> None:
    server, clock = TokenServer(), VirtualClock()
    token = _token(server, clock)
    stale = await token.header()
    token.retire(stale)
    fresh = await token.header()
    token.retire(stale)  # a second 401 on the old token: the new one stays
    assert await token.header() is fresh
    assert len(server.requests) == 2


@pytest.mark.parametrize(
    "expires_in", [None, 0, -5, True, "3600", [1]], ids=["null", "0", "<0", "bool", "str", "list"]
)
async def test_an_unusable_lifetime_means_the_documented_one(expires_in: object) -> None:
    server, clock = (
        TokenServer((200, {"access_token": "t", "expires_in": expires_in})),
        VirtualClock(),
    )
    token = _token(server, clock)
    first = await token.header()
    clock.advance(TOKEN_TTL_S - 60 - 1)
    assert await token.header() is first
    clock.advance(1)
    assert await token.header() is not first


@pytest.mark.parametrize(
    ("answer", "words"),
    [
        ((401, {"error": "invalid_client", "error_description": f"bad {SECRET}"}),
         "credentials for client_id 'fleet' refused: bad ***"),
        ((200, {"token_type": "bearer"}), "no access_token in the answer"),
        ((200, {"access_token": ""}), "no access_token in the answer"),
        ((200, {"error": "temporarily_unavailable"}), "temporarily_unavailable"),
    ],
)  # fmt: skip
async def test_a_refused_or_empty_token_answer_is_an_auth_error(
    answer: tuple[int, object], words: str
) -> None:
    token = _token(TokenServer(answer), VirtualClock())
    with pytest.raises(AuthError) as caught:
        await token.header()
    assert caught.value.message == words
    assert SECRET not in str(caught.value)

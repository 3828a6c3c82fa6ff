"""sandbox.admin: the /_sandbox/ endpoints over the app's state, clock and webhook sender,
with typed bodies whose errors name the field and the value."""

from __future__ import annotations

import json
from collections.abc import MutableMapping
from typing import Any

import pytest

from driver_agent.sandbox.admin import MAX_CLOCK_OFFSET_S, AdminEndpoints
from driver_agent.sandbox.clock import SandboxClock
from driver_agent.sandbox.rules import SandboxState
from driver_agent.sandbox.settings import SandboxSettings
from driver_agent.sandbox.webhook_sender import WebhookSender
from driver_agent.sandbox.world import Reply, Violation

NOW = 1_800_000_000.0
Message = MutableMapping[str, Any]


class RecordingClock(SandboxClock):
    def __init__(self) -> None:
        super().__init__()
        self.slept: list[float] = []

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)


def admin(clock: SandboxClock | None = None) -> AdminEndpoints:
    settings = SandboxSettings(fleet_webhook_url="")
    state = SandboxState(settings, token_part=lambda: "opaque")
    webhooks = WebhookSender(settings, state.webhook_done)
    return AdminEndpoints(state, clock or SandboxClock(), webhooks)


async def post(endpoints: AdminEndpoints, path: str, body: object) -> Reply:
    raw = json.dumps(body).encode()

    async def receive() -> Message:
        return {"type": "http.request", "body": raw, "more_body": False}

    asked = {"method": "POST", "headers": [(b"content-type", b"application/json")]}
    return await endpoints.handle(asked, receive, path, NOW)


async def refused(endpoints: AdminEndpoints, path: str, body: object) -> str:
    with pytest.raises(Violation) as caught:
        await post(endpoints, path, body)
    assert caught.value.status == 400
    return caught.value.message


async def test_the_clock_moves_forward_by_a_number_of_seconds() -> None:
    endpoints = admin()
    reply = await post(endpoints, "/_sandbox/clock", {"advance_s": 60})
    assert reply.status == 200
    assert endpoints.clock.offset_s == 60.0
    too_far = await refused(endpoints, "/_sandbox/clock", {"advance_s": MAX_CLOCK_OFFSET_S})
    assert "100 years" in too_far
    assert endpoints.clock.offset_s == 60.0


BAD_BODIES: list[tuple[str, object, str]] = [
    ("clock", {"advance_s": "10"}, "advance_s: expected a number, got '10' (a string)"),
    ("clock", {}, "advance_s: missing (required)"),
    ("clock", {"advance_s": -5}, "advance_s must be >= 0: the sandbox clock only moves forward"),
    ("settle", {"timeout_s": True}, "timeout_s: expected a number, got True (a boolean)"),
    ("webhook_url", {"url": 5}, "url: expected a string, got 5 (an integer)"),
    ("webhook_url", {"url": "ftp://x"}, "url must be an http(s) URL, or empty to send no webhooks"),
    (
        "faults",
        {"status": 503, "count": "2"},
        "count: expected a number or null, got '2' (a string)",
    ),
]


@pytest.mark.parametrize(("endpoint", "body", "message"), BAD_BODIES)
async def test_bad_admin_bodies_are_400_naming_the_field(
    endpoint: str, body: object, message: str
) -> None:
    assert await refused(admin(), f"/_sandbox/{endpoint}", body) == message


async def test_the_webhook_url_is_set_and_settle_answers_idle() -> None:
    endpoints = admin()
    reply = await post(endpoints, "/_sandbox/webhook_url", {"url": "http://127.0.0.1:9/hooks"})
    assert reply.body == {"success": True, "fleet_webhook_url": "http://127.0.0.1:9/hooks"}
    assert endpoints.webhooks.settings.fleet_webhook_url == "http://127.0.0.1:9/hooks"
    assert (await post(endpoints, "/_sandbox/settle", {})).body == {"success": True, "idle": True}


async def test_an_admin_path_named_in_a_delay_fault_waits_through_the_clock() -> None:
    clock = RecordingClock()
    endpoints = admin(clock)
    fault = {"delay_s": 1.5, "count": 1, "paths": ["/_sandbox/clock"]}
    assert (await post(endpoints, "/_sandbox/faults", fault)).status == 200
    await post(endpoints, "/_sandbox/clock", {"advance_s": 1})
    await post(endpoints, "/_sandbox/clock", {"advance_s": 1})
    assert clock.slept == [1.5]

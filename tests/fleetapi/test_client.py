"""Tests for fleetapi.client: against the embedded sandbox, and a scriptable fake server.

End to end, the sandbox (`sandbox_url` fixture) plays Bringg: every documented call, token expiry
by advancing its clock, 401/403/success:false, and its 503/429 faults. A small Starlette app run by
uvicorn in a background thread covers what the sandbox cannot be told to do: record exact request
bodies, reject every token, answer with exhausted RateLimit budgets or HTTP-date Retry-After, and
count token requests when the client's own clock says the token expired.
"""

from __future__ import annotations

import contextlib
import json
import random
import socket
import threading
from dataclasses import dataclass, field
from functools import partial
from typing import TYPE_CHECKING, Any

import anyio
import httpx
import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from driver_agent.core.clock import VirtualClock
from driver_agent.core.config import ApiConfig
from driver_agent.core.errors import (
    ApiUnavailable,
    AuthError,
    ConfigError,
    ForbiddenError,
    OutcomeUnknown,
    RejectedError,
)
from driver_agent.core.model import NoteKind, Secret, StopKind, TaskStatus
from driver_agent.core.redaction import redact_text
from driver_agent.fleetapi.client import FleetClient, open_fleet_client
from driver_agent.fleetapi.wire import DriverProfile, IntegrationEvent, Note, WayPointUpdate

if TYPE_CHECKING:
    from collections.abc import Iterator

CLIENT_ID = "fleet-test"
SECRET = "s3cr3t-value-never-shown"
UNKNOWN_TASK = 404404
JPEG = b"\xff\xd8\xff\xe0" + b"\x00" * 32


@dataclass
class Fault:
    status: int
    body: dict[str, Any] = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class FakeFleet:
    """What the server saw and what it will do next; shared with the server thread."""

    url: str = ""
    lock: threading.Lock = field(default_factory=threading.Lock)
    token_requests: int = 0
    token_bodies: list[dict[str, Any]] = field(default_factory=list)
    valid_tokens: set[str] = field(default_factory=set)
    expires_in: int = 1800
    calls: list[tuple[str, dict[str, Any], str]] = field(default_factory=list)
    faults: list[Fault] = field(default_factory=list)
    reject_every_token: bool = False
    rate_headers: dict[str, str] = field(default_factory=dict)

    def reset(self) -> None:
        with self.lock:
            self.token_requests = 0
            self.token_bodies.clear()
            self.valid_tokens.clear()
            self.expires_in = 1800
            self.calls.clear()
            self.faults.clear()
            self.reject_every_token = False
            self.rate_headers = {}

    def expire_tokens(self) -> None:
        """What advancing the sandbox clock past 1800 s does to every token issued so far."""
        with self.lock:
            self.valid_tokens.clear()

    def script(self, *faults: Fault) -> None:
        with self.lock:
            self.faults.extend(faults)

    def endpoints_called(self) -> list[str]:
        with self.lock:
            return [name for name, _, _ in self.calls]


def _task(task_id: int, status: TaskStatus, **extra: Any) -> dict[str, Any]:
    return {
        "id": task_id,
        "status": int(status),
        "user_id": 77,
        "active_way_point_id": 9002 if status is TaskStatus.ON_THE_WAY else 9001,
        "way_points": [
            {"id": 9001, "position": 1, "lat": 40.7, "lng": -73.9},
            {"id": 9002, "position": 2, "lat": 40.8, "lng": -73.95},
        ],
        **extra,
    }


STATUS_AFTER = {
    "assign_driver": TaskStatus.ASSIGNED,
    "start_task": TaskStatus.ON_THE_WAY,
    "checkin": TaskStatus.CHECKED_IN,
    "checkout": TaskStatus.ON_THE_WAY,
    "end_task": TaskStatus.DONE,
    "complete_task": TaskStatus.DONE,  # the python SDK's name, for the path-override test
    "cancel_delivery": TaskStatus.CANCELLED,
}


def _build_app(fleet: FakeFleet) -> Starlette:
    async def token(request: Request) -> JSONResponse:
        body = await request.json()
        with fleet.lock:
            fleet.token_requests += 1
            fleet.token_bodies.append(body)
            good = body.get("client_id") == CLIENT_ID and body.get("client_secret") == SECRET
            if body.get("grant_type") != "client_credentials" or not good:
                return JSONResponse({"error": "invalid_client"}, status_code=401)
            issued = f"tok-{fleet.token_requests}"
            if not fleet.reject_every_token:
                fleet.valid_tokens.add(issued)
            expires_in = fleet.expires_in
        return JSONResponse(
            {
                "access_token": issued,
                "token_type": "Bearer",
                "expires_in": expires_in,
                "created_at": 1591084369,
            }
        )

    async def fleet_call(request: Request) -> JSONResponse:
        name = request.path_params["name"]
        body = await request.json()
        bearer = request.headers.get("authorization", "").removeprefix("Bearer ")
        with fleet.lock:
            fleet.calls.append((name, body, bearer))
            if bearer not in fleet.valid_tokens:
                return JSONResponse({"success": False, "message": "Unauthorized"}, 401)
            fault = fleet.faults.pop(0) if fleet.faults else None
            rate_headers = dict(fleet.rate_headers)
        if fault is not None:
            return JSONResponse(fault.body, fault.status, headers=fault.headers)
        if body.get("task_id") == UNKNOWN_TASK:
            return JSONResponse({"success": False, "message": "Task not found"}, 403)
        answer: dict[str, Any] = {"success": True}
        if name in STATUS_AFTER:
            answer["task"] = _task(body["task_id"], STATUS_AFTER[name])
        elif name == "update_driver_location":
            answer["rc"] = 0
        elif name == "create_note":
            answer["note"] = {"id": 5, "type": body.get("type"), "task_id": body["task_id"]}
        elif name == "update_task":
            answer["task"] = _task(body["task_id"], TaskStatus.ON_THE_WAY)
        elif name == "cluster_check_in":
            answer["way_points_checked_in"] = [t * 10 + 1 for t in body["task_ids"]]
        elif name == "cluster_check_out":
            answer["way_points_checked_out"] = [t * 10 + 1 for t in body["task_ids"]]
        return JSONResponse(answer, headers=rate_headers)

    return Starlette(
        routes=[
            Route("/oauth/token", token, methods=["POST"]),
            Route("/open_fleet_services/{name}", fleet_call, methods=["POST"]),
            Route("/custom/{name}", fleet_call, methods=["POST"]),
        ]
    )


@pytest.fixture(scope="module")
def fake_fleet_server() -> Iterator[FakeFleet]:
    fleet = FakeFleet()
    server = uvicorn.Server(
        uvicorn.Config(
            _build_app(fleet), host="127.0.0.1", port=0, log_level="warning", lifespan="off"
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


def _config(url: str, **overrides: Any) -> ApiConfig:
    settings: dict[str, Any] = {
        "api_url": url,
        "client_id": CLIENT_ID,
        "client_secret": Secret(SECRET),
        "max_retries": 3,
        "backoff_base_s": 0.5,
        "backoff_cap_s": 4.0,
        "transport": "httpx",
    }
    settings.update(overrides)
    return ApiConfig(**settings)


@pytest.fixture
def clock() -> VirtualClock:
    return VirtualClock()


@pytest.fixture(params=["httpx", "aiohttp"])
def transport(request: pytest.FixtureRequest) -> str:
    return str(request.param)


# -- the documented calls -------------------------------------------------------------------


async def test_every_documented_call_posts_its_documented_body_and_parses_the_answer(
    fleet: FakeFleet, clock: VirtualClock, transport: str
) -> None:
    config = _config(fleet.url, transport=transport)
    async with open_fleet_client(config, clock, rng=random.Random(1)) as client:
        assigned = await client.assign_driver(
            11, user=DriverProfile("d-1", name="Ann"), delivery_cost_cents=1299
        )
        again = await client.assign_driver(11, user_external_id="d-1", green_delivery=True)
        started = await client.start_task(11, lat=40.7, lng=-73.9, reported_time_ms=1_000)
        await client.update_driver_location(
            user_external_id="d-1",
            lat=40.71,
            lng=-73.91,
            reported_time_ms=2_000,
            started_tasks=[11],
        )
        arrived = await client.checkin(11, kind=StopKind.PICKUP, lat=40.7, lng=-73.9)
        note = await client.create_note(11, Note.photo(JPEG), kind=StopKind.PICKUP)
        left = await client.checkout(11, kind=StopKind.PICKUP, reported_time_ms=3_000)
        done = await client.end_task(11, lat=40.8, lng=-73.95, delivery_cost_cents=1500)
        updated = await client.update_task(
            12,
            way_points=[WayPointUpdate(StopKind.DROPOFF, eta="2024-01-01T10:00:00Z")],
            integration_event=IntegrationEvent("HUB", "at the hub"),
            fleet_extras={"van": "7"},
        )
        cancelled = await client.cancel_delivery(12, reason_id=0, reason="customer away")
        checked_in = await client.cluster_check_in([21, 22], lat=1.0, lng=2.0)
        checked_out = await client.cluster_check_out([21, 22])

    assert (assigned.task_id, assigned.status, assigned.user_id) == (11, TaskStatus.ASSIGNED, 77)
    assert again.status is TaskStatus.ASSIGNED
    assert started.status is TaskStatus.ON_THE_WAY
    assert arrived.status is TaskStatus.CHECKED_IN
    assert note["note"] == {"id": 5, "type": "TaskPhoto", "task_id": 11}
    assert (left.status, left.active_way_point_id) == (TaskStatus.ON_THE_WAY, 9002)
    assert done.status is TaskStatus.DONE
    assert updated["success"] is True
    assert cancelled.status is TaskStatus.CANCELLED
    assert checked_in == [211, 221]
    assert checked_out == [211, 221]

    bodies = {name: body for name, body, _ in fleet.calls}
    assert [name for name, _, _ in fleet.calls] == [
        "assign_driver",
        "assign_driver",
        "start_task",
        "update_driver_location",
        "checkin",
        "create_note",
        "checkout",
        "end_task",
        "update_task",
        "cancel_delivery",
        "cluster_check_in",
        "cluster_check_out",
    ]
    assert fleet.calls[0][1] == {
        "task_id": 11,
        "user": {"external_id": "d-1", "name": "Ann"},
        "delivery_cost": 1299,
    }
    assert bodies["assign_driver"] == {
        "task_id": 11,
        "user_external_id": "d-1",
        "green_delivery": True,
    }
    assert bodies["start_task"] == {"task_id": 11, "lat": 40.7, "lng": -73.9, "reported_time": 1000}
    assert bodies["update_driver_location"] == {
        "user_external_id": "d-1",
        "lat": 40.71,
        "lng": -73.91,
        "reported_time": 2000,
        "started_tasks": [{"task_id": 11}],
    }
    assert bodies["checkin"] == {
        "task_id": 11,
        "lat": 40.7,
        "lng": -73.9,
        "pickup_dropoff_option": "pickup",
    }
    assert bodies["create_note"]["type"] == "TaskPhoto"
    assert bodies["create_note"]["image"].startswith("data:image/jpeg;base64,")
    assert bodies["create_note"]["way_point_position"] == 1
    assert bodies["checkout"] == {
        "task_id": 11,
        "reported_time": 3000,
        "pickup_dropoff_option": "pickup",
    }
    assert bodies["end_task"] == {"task_id": 11, "lat": 40.8, "lng": -73.95, "delivery_cost": 1500}
    assert bodies["update_task"] == {
        "task_id": 12,
        "way_points": [{"way_point_position": 2, "eta": "2024-01-01T10:00:00Z"}],
        "integration_event": {"status_code": "HUB", "description": "at the hub"},
        "fleet_extras": {"van": "7"},
    }
    assert bodies["cancel_delivery"] == {"task_id": 12, "reason_id": 0, "reason": "customer away"}
    assert bodies["cluster_check_in"] == {
        "task_ids": [21, 22],
        "pickup_dropoff_option": "pickup",
        "lat": 1.0,
        "lng": 2.0,
    }
    assert fleet.token_bodies == [
        {"grant_type": "client_credentials", "client_id": CLIENT_ID, "client_secret": SECRET}
    ]


async def test_path_overrides_are_used(fleet: FakeFleet, clock: VirtualClock) -> None:
    config = _config(fleet.url, paths={"end_task": "/custom/complete_task"})
    async with open_fleet_client(config, clock) as client:
        done = await client.end_task(5)
    assert done.status is TaskStatus.DONE
    assert fleet.endpoints_called() == ["complete_task"]


async def test_a_bad_note_is_refused_before_anything_is_sent(
    fleet: FakeFleet, clock: VirtualClock
) -> None:
    async with open_fleet_client(_config(fleet.url), clock) as client:
        with pytest.raises(ValueError, match=r"^note\.image"):
            await client.create_note(1, Note(NoteKind.PHOTO, image=b"GIF89a-not-allowed"))
    assert fleet.calls == []
    assert fleet.token_requests == 0


# -- token cache ----------------------------------------------------------------------------


async def test_one_token_serves_many_calls(fleet: FakeFleet, clock: VirtualClock) -> None:
    async with open_fleet_client(_config(fleet.url), clock) as client:
        for step in range(20):
            await client.update_driver_location(user_id=1, lat=1.0, lng=float(step))
        stats = client.statistics()
    assert fleet.token_requests == 1
    assert {bearer for _, _, bearer in fleet.calls} == {"tok-1"}
    assert (stats.requests, stats.retries, stats.token_refreshes) == (21, 0, 1)


@pytest.mark.parametrize(
    ("elapsed_s", "token_requests"),
    [
        pytest.param(1739.0, 1, id="inside the refresh margin: reuse"),
        pytest.param(1741.0, 2, id="within 60 s of expiry: refresh first"),
    ],
)
async def test_the_token_is_refreshed_before_it_expires(
    fleet: FakeFleet, clock: VirtualClock, elapsed_s: float, token_requests: int
) -> None:
    async with open_fleet_client(_config(fleet.url), clock) as client:
        await client.start_task(1)
        clock.advance(elapsed_s)
        await client.start_task(1)
    assert fleet.token_requests == token_requests
    assert [bearer for _, _, bearer in fleet.calls][-1] == f"tok-{token_requests}"


async def test_expires_in_from_the_server_is_honoured(
    fleet: FakeFleet, clock: VirtualClock
) -> None:
    fleet.expires_in = 300
    async with open_fleet_client(_config(fleet.url), clock) as client:
        await client.start_task(1)
        clock.advance(250.0)  # 300 s lifetime less the 60 s margin has passed
        await client.start_task(1)
    assert fleet.token_requests == 2


async def test_a_thousand_callers_meeting_an_expired_token_cause_one_token_request(
    fleet: FakeFleet, clock: VirtualClock, transport: str
) -> None:
    config = _config(fleet.url, transport=transport)
    async with open_fleet_client(config, clock) as client:
        await client.update_driver_location(user_id=0, lat=0.0, lng=0.0)
        clock.advance(1801.0)
        async with anyio.create_task_group() as group:
            for driver in range(1000):
                group.start_soon(
                    partial(client.update_driver_location, user_id=driver, lat=1.0, lng=2.0)
                )
    assert fleet.token_requests == 2
    assert len(fleet.calls) == 1001


async def test_still_401_after_one_refresh_raises_auth_error(
    fleet: FakeFleet, clock: VirtualClock
) -> None:
    fleet.reject_every_token = True
    async with open_fleet_client(_config(fleet.url), clock) as client:
        with pytest.raises(AuthError) as caught:
            await client.start_task(1)
    assert (caught.value.endpoint, caught.value.status) == ("start_task", 401)
    assert fleet.token_requests == 2
    assert len(fleet.calls) == 2


async def test_a_wrong_secret_raises_auth_error_without_showing_the_secret(
    fleet: FakeFleet, clock: VirtualClock
) -> None:
    config = _config(fleet.url, client_secret=Secret("wrong-" + SECRET))
    async with open_fleet_client(config, clock) as client:
        with pytest.raises(AuthError) as caught:
            await client.start_task(1)
        async with anyio.create_task_group() as group:
            for _ in range(50):
                group.start_soon(_expect_auth_error, client)
        text = f"{caught.value} {caught.value!r} {client!r} {client} {config!r}"
    assert caught.value.endpoint == "token"
    assert caught.value.status == 401
    assert "invalid_client" in str(caught.value)
    assert SECRET not in text
    assert fleet.calls == []
    assert fleet.token_requests <= 2  # queued callers share a failed refresh, no stampede


async def _expect_auth_error(client: FleetClient) -> None:
    with pytest.raises(AuthError):
        await client.start_task(1)


# -- error mapping and retries ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("fault", "message"),
    [
        pytest.param(
            Fault(400, {"status": 400, "title": "user.name is null"}), "user.name is null"
        ),
        pytest.param(Fault(404, {}), "Not Found", id="404 falls back to the reason phrase"),
        pytest.param(Fault(200, {"success": True}), "unreadable answer: task: missing"),
        pytest.param(Fault(200, {"success": True, "task": {"id": 1}}), "task.status: missing"),
    ],
)
async def test_other_refusals_raise_rejected_error_without_retry(
    fleet: FakeFleet, clock: VirtualClock, fault: Fault, message: str
) -> None:
    fleet.script(fault)
    async with open_fleet_client(_config(fleet.url), clock) as client:
        with pytest.raises(RejectedError) as caught:
            await client.start_task(3)
    assert message in caught.value.message
    assert len(fleet.calls) == 1


async def test_a_refusal_that_echoes_secrets_is_masked_by_the_one_redaction(
    fleet: FakeFleet, clock: VirtualClock
) -> None:
    echo = f"bad request from https://bob:pw@x.example/ with {SECRET} and Bearer abc.def"
    fleet.script(Fault(400, {"status": 400, "title": echo}))
    async with open_fleet_client(_config(fleet.url), clock) as client:
        with pytest.raises(RejectedError) as caught:
            await client.start_task(3)
    assert caught.value.message == redact_text(echo, SECRET)
    assert caught.value.message == (
        "bad request from https://[secure]@x.example/ with [secure] and Bearer [secure]"
    )


async def test_5xx_forever_raises_api_unavailable_after_max_retries(
    fleet: FakeFleet, clock: VirtualClock
) -> None:
    fleet.script(*[Fault(500, {"message": "boom"})] * 10)
    async with open_fleet_client(_config(fleet.url, max_retries=3), clock) as client:
        with pytest.raises(ApiUnavailable) as caught:
            await client.end_task(8)
        stats = client.statistics()
    assert (caught.value.status, caught.value.message) == (500, "boom")
    assert len(fleet.calls) == 4
    assert stats.retries == 3
    assert clock.monotonic() <= 0.5 + 1.0 + 2.0


async def test_429_with_an_exhausted_budget_waits_for_the_reset(
    fleet: FakeFleet, clock: VirtualClock
) -> None:
    headers = {"RateLimit-Limit": "100", "RateLimit-Remaining": "0", "RateLimit-Reset": "11"}
    fleet.script(Fault(429, {}, headers))
    async with open_fleet_client(_config(fleet.url), clock) as client:
        await client.update_driver_location(user_id=1, lat=1.0, lng=1.0)
    assert clock.monotonic() >= 11.0


async def test_retry_after_as_an_http_date_is_measured_from_the_servers_date(
    fleet: FakeFleet, clock: VirtualClock
) -> None:
    headers = {
        "Date": "Tue, 14 Nov 2023 22:13:20 GMT",
        "Retry-After": "Tue, 14 Nov 2023 22:13:29 GMT",
    }
    fleet.script(Fault(503, {}, headers))
    async with open_fleet_client(_config(fleet.url), clock) as client:
        await client.start_task(2)
    assert clock.monotonic() >= 9.0


async def test_network_errors_are_retried_then_raise_api_unavailable(clock: VirtualClock) -> None:
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    statuses: list[int | None] = []
    config = _config(f"http://127.0.0.1:{port}", max_retries=2)
    client = FleetClient(config, clock, on_response=lambda _e, s, _l: statuses.append(s))
    try:
        with pytest.raises(ApiUnavailable) as caught:
            await client.start_task(1)
    finally:
        await client.aclose()
    assert caught.value.status is None
    assert caught.value.endpoint == "token"
    assert statuses == [None, None, None]


async def test_the_rate_limit_budget_is_exposed_to_callers(
    fleet: FakeFleet, clock: VirtualClock
) -> None:
    async with open_fleet_client(_config(fleet.url), clock) as client:
        await client.start_task(1)
        assert client.rate_limit is None
        fleet.rate_headers = {
            "RateLimit-Limit": "100",
            "RateLimit-Remaining": "99",
            "RateLimit-Reset": "30",
        }
        clock.advance(5.0)
        await client.start_task(1)
        budget = client.rate_limit
    assert budget is not None
    assert (budget.limit, budget.remaining, budget.reset_s) == (100, 99, 30.0)
    assert budget.observed_at == 5.0


# -- construction ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("overrides", "where"),
    [
        pytest.param({"api_url": "http://api.example.com"}, "api.api_url", id="plain http remote"),
        pytest.param(
            {"api_url": "https://a.example.com", "token_url": "http://auth.example.com/token"},
            "api.token_url",
            id="plain http token url",
        ),
        pytest.param({"api_url": "ftp://127.0.0.1"}, "api.api_url", id="not http"),
        pytest.param({"api_url": ""}, "api.api_url", id="missing"),
        pytest.param(
            {"api_url": "https://user:pw@api.example.com"}, "api.api_url", id="credentials in url"
        ),
        pytest.param({"client_id": ""}, "api.client_id", id="no client id"),
        pytest.param({"client_secret": Secret("")}, "api.client_secret", id="no secret"),
        pytest.param({"paths": {"fly": "/x"}}, "api.paths.fly", id="unknown endpoint"),
        pytest.param({"max_in_flight": 0}, "api.max_in_flight", id="no capacity"),
        pytest.param({"transport": "curl"}, "api.transport", id="unknown transport"),
    ],
)
def test_bad_configuration_is_refused_naming_the_key(
    clock: VirtualClock, overrides: dict[str, Any], where: str
) -> None:
    config = _config("https://api.example.com", **overrides)
    with pytest.raises(ConfigError) as caught:
        FleetClient(config, clock)
    assert caught.value.where == where
    assert SECRET not in str(caught.value)


@pytest.mark.parametrize(
    ("url", "allow_insecure_http"),
    [
        pytest.param("http://127.0.0.1:9", False, id="loopback v4"),
        pytest.param("http://127.3.2.1:9", False, id="loopback /8"),
        pytest.param("http://[::1]:9", False, id="loopback v6"),
        pytest.param("http://localhost:9", False, id="localhost"),
        pytest.param("http://fleet.internal:9", True, id="opted in"),
        pytest.param("https://us2-admin-api.bringg.com", False, id="https"),
    ],
)
async def test_allowed_urls_build_a_client(
    clock: VirtualClock, url: str, allow_insecure_http: bool
) -> None:
    client = FleetClient(_config(url, allow_insecure_http=allow_insecure_http), clock)
    await client.aclose()
    assert SECRET not in repr(client)


# -- end to end against the embedded sandbox ---------------------------------------------------

FLEET_CREDENTIALS = ("sandbox-fleet", "sandbox-fleet-secret")
MERCHANT_CREDENTIALS = ("sandbox-merchant", "sandbox-merchant-secret")
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32


def _sandbox_config(url: str, **overrides: Any) -> ApiConfig:
    settings: dict[str, Any] = {
        "api_url": url,
        "client_id": FLEET_CREDENTIALS[0],
        "client_secret": Secret(FLEET_CREDENTIALS[1]),
        "max_retries": 3,
        "backoff_base_s": 0.5,
        "backoff_cap_s": 4.0,
        "transport": "aiohttp",
    }
    settings.update(overrides)
    return ApiConfig(**settings)


async def _sandbox(url: str, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
    """An admin call (`/_sandbox/...`): GET without a body, POST with one."""
    async with httpx.AsyncClient(base_url=url, trust_env=False) as http:
        response = await http.get(path) if body is None else await http.post(path, json=body)
    response.raise_for_status()
    answer: dict[str, Any] = response.json()
    return answer


async def _merchant_orders(url: str, count: int) -> list[int]:
    """Create `count` orders the way a merchant does; returns their task ids."""
    async with httpx.AsyncClient(base_url=url, trust_env=False) as http:
        token = await http.post(
            "/oauth/token",
            json={
                "grant_type": "client_credentials",
                "client_id": MERCHANT_CREDENTIALS[0],
                "client_secret": MERCHANT_CREDENTIALS[1],
            },
        )
        auth = {"Authorization": f"Bearer {token.json()['access_token']}"}
        task_ids = []
        for n in range(count):
            created = await http.post(
                "/services/create_task",
                headers=auth,
                json={
                    "title": f"order {n}",
                    "external_id": f"ext-{n}",
                    "customer": {"name": f"Customer {n}", "phone": "+358401234567"},
                    "way_points": [
                        {"address": "Mannerheimintie 1", "lat": 60.17, "lng": 24.94},
                        {"address": "Aleksanterinkatu 5", "lat": 60.169, "lng": 24.95},
                    ],
                },
            )
            assert created.status_code == 200, created.text
            task_ids.append(created.json()["task"]["id"])
    return task_ids


async def _calls(url: str, path: str) -> int:
    state = await _sandbox(url, "/_sandbox/state")
    return int(state["calls"].get(path, {}).get("count", 0))


async def test_a_driver_walks_every_documented_call_on_the_sandbox(
    sandbox_url: str, clock: VirtualClock, transport: str
) -> None:
    first, second, third = await _merchant_orders(sandbox_url, 3)
    config = _sandbox_config(sandbox_url, transport=transport)
    async with open_fleet_client(config, clock) as client:
        assigned = await client.assign_driver(first, user=DriverProfile("d-1", name="Ann"))
        user_id = assigned.user_id
        assert (assigned.status, user_id is not None) == (TaskStatus.ASSIGNED, True)
        repriced = await client.assign_driver(
            first, user_external_id="d-1", delivery_cost_cents=1299, green_delivery=True
        )
        assert repriced.user_id == user_id
        started = await client.start_task(first, lat=60.17, lng=24.94)
        assert started.status is TaskStatus.ON_THE_WAY
        await client.update_driver_location(
            user_external_id="d-1", lat=60.171, lng=24.941, started_tasks=[first]
        )
        await client.update_driver_location(user_id=user_id, lat=60.172, lng=24.942)
        arrived = await client.checkin(first, kind=StopKind.PICKUP, lat=60.17, lng=24.94)
        assert arrived.status is TaskStatus.CHECKED_IN
        await client.create_note(first, Note.text_note("parcel collected"), kind=StopKind.PICKUP)
        left = await client.checkout(first, kind=StopKind.PICKUP)
        dropoff = left.way_point(StopKind.DROPOFF)
        assert dropoff is not None
        assert (left.status, left.active_way_point_id) == (TaskStatus.ON_THE_WAY, dropoff.id)
        await client.checkin(first, kind=StopKind.DROPOFF)
        await client.create_note(first, Note.photo(JPEG), kind=StopKind.DROPOFF)
        await client.create_note(first, Note.signature(PNG, "B. Doe"), kind=StopKind.DROPOFF)
        done = await client.end_task(first, lat=60.169, lng=24.95, delivery_cost_cents=1500)
        assert done.status is TaskStatus.DONE

        await client.assign_driver(second, user_external_id="d-1")
        updated = await client.update_task(
            second,
            way_points=[WayPointUpdate(StopKind.DROPOFF, eta="2030-01-01T10:00:00Z")],
            integration_event=IntegrationEvent("AT_HUB", "at the hub"),
            fleet_extras={"van": "7"},
        )
        assert updated["success"] is True
        cancelled = await client.cancel_delivery(second, reason_id=0, reason="customer away")
        assert cancelled.status is TaskStatus.CANCELLED

        await client.assign_driver(third, user_external_id="d-1")
        checked_in = await client.cluster_check_in([third], lat=60.17, lng=24.94)
        checked_out = await client.cluster_check_out([third])
        assert checked_in == checked_out
        assert len(checked_in) == 1
        stats = client.statistics()

    state = await _sandbox(sandbox_url, "/_sandbox/state")
    orders = {order["task_id"]: order for order in state["orders"]}
    assert orders[first]["status"] == TaskStatus.DONE
    assert orders[first]["notes"] == 3
    assert orders[first]["delivery_cost"] == 1500
    assert orders[second]["status"] == TaskStatus.CANCELLED
    assert orders[third]["way_points"][0]["checkout_time"] is not None
    assert (stats.token_refreshes, stats.retries) == (1, 0)
    assert state["calls"]["/oauth/token"]["count"] == 2  # the merchant's and ours


async def test_expired_sandbox_token_gets_401_then_refresh_succeeds(
    sandbox_url: str, clock: VirtualClock
) -> None:
    (task_id,) = await _merchant_orders(sandbox_url, 1)
    statuses: list[tuple[str, int | None]] = []
    client = FleetClient(
        _sandbox_config(sandbox_url),
        clock,
        on_response=lambda endpoint, status, _: statuses.append((endpoint, status)),
    )
    try:
        await client.assign_driver(task_id, user=DriverProfile("d-9"))
        await _sandbox(sandbox_url, "/_sandbox/clock", {"advance_s": 1801})
        started = await client.start_task(task_id)
    finally:
        await client.aclose()
    assert started.status is TaskStatus.ON_THE_WAY
    assert statuses == [
        ("token", 200),
        ("assign_driver", 200),
        ("start_task", 401),
        ("token", 200),
        ("start_task", 200),
    ]
    assert await _calls(sandbox_url, "/oauth/token") == 1 + 2  # the merchant's, then ours


async def test_a_thousand_sandbox_callers_meeting_an_expired_token_cause_one_token_request(
    sandbox_url: str, clock: VirtualClock
) -> None:
    (task_id,) = await _merchant_orders(sandbox_url, 1)
    async with open_fleet_client(_sandbox_config(sandbox_url), clock) as client:
        await client.assign_driver(task_id, user=DriverProfile("d-7"))
        await _sandbox(sandbox_url, "/_sandbox/clock", {"advance_s": 1801})
        async with anyio.create_task_group() as group:
            for step in range(1000):
                group.start_soon(
                    partial(
                        client.update_driver_location,
                        user_external_id="d-7",
                        lat=60.17,
                        lng=24.94 + step * 1e-6,
                    )
                )
    assert await _calls(sandbox_url, "/oauth/token") == 1 + 2  # the merchant's, then ours
    assert await _calls(sandbox_url, "/open_fleet_services/update_driver_location") == 2000


async def test_a_wrong_secret_is_an_auth_error_on_the_sandbox(
    sandbox_url: str, clock: VirtualClock
) -> None:
    config = _sandbox_config(sandbox_url, client_secret=Secret("not-the-secret"))
    async with open_fleet_client(config, clock) as client:
        with pytest.raises(AuthError) as caught:
            await client.start_task(1)
    assert caught.value.endpoint == "token"
    assert "not-the-secret" not in f"{caught.value} {caught.value!r} {client!r}"
    assert await _calls(sandbox_url, "/oauth/token") == 1


async def test_403_on_an_unknown_sandbox_task_is_not_retried(
    sandbox_url: str, clock: VirtualClock
) -> None:
    async with open_fleet_client(_sandbox_config(sandbox_url), clock) as client:
        with pytest.raises(ForbiddenError) as caught:
            await client.checkin(987654321)
        assert client.statistics().retries == 0
    assert caught.value.status == 403
    assert caught.value.message  # the sandbox's reason, carried through
    assert await _calls(sandbox_url, "/open_fleet_services/checkin") == 1
    assert clock.monotonic() == 0.0


async def test_a_refusal_with_success_false_carries_the_sandbox_message(
    sandbox_url: str, clock: VirtualClock
) -> None:
    (task_id,) = await _merchant_orders(sandbox_url, 1)
    async with open_fleet_client(_sandbox_config(sandbox_url), clock) as client:
        with pytest.raises(RejectedError) as caught:
            await client.start_task(task_id)  # no driver assigned yet
    assert caught.value.status == 200
    assert caught.value.message == "Can not start a task with no driver assigned"


async def test_sandbox_5xx_is_retried_then_succeeds(sandbox_url: str, clock: VirtualClock) -> None:
    (task_id,) = await _merchant_orders(sandbox_url, 1)
    async with open_fleet_client(_sandbox_config(sandbox_url), clock) as client:
        await client.assign_driver(task_id, user=DriverProfile("d-5"))
        await _sandbox(sandbox_url, "/_sandbox/faults", {"status": 503, "count": 2})
        started = await client.start_task(task_id)
        stats = client.statistics()
    assert started.status is TaskStatus.ON_THE_WAY
    assert stats.retries == 2
    assert await _calls(sandbox_url, "/open_fleet_services/start_task") == 3
    assert 0.0 < clock.monotonic() <= 0.5 + 1.0


async def test_sandbox_429_is_retried_after_retry_after(
    sandbox_url: str, clock: VirtualClock
) -> None:
    (task_id,) = await _merchant_orders(sandbox_url, 1)
    async with open_fleet_client(_sandbox_config(sandbox_url), clock) as client:
        await client.assign_driver(task_id, user=DriverProfile("d-4"))
        fault = {"status": 429, "count": 1, "retry_after_s": 3}
        await _sandbox(sandbox_url, "/_sandbox/faults", fault)
        await client.update_driver_location(user_external_id="d-4", lat=60.17, lng=24.94)
        budget = client.rate_limit
    assert clock.monotonic() >= 3.0
    assert await _calls(sandbox_url, "/open_fleet_services/update_driver_location") == 2
    assert budget is not None
    assert budget.limit is not None
    assert budget.remaining is not None
    assert budget.remaining < budget.limit


# -- outcome unknown, resend and reconciliation ----------------------------------------------


async def test_a_lifecycle_call_whose_answer_was_lost_is_reconciled_not_applied_twice(
    fleet: FakeFleet, clock: VirtualClock
) -> None:
    """A 502 after the API applied the check-in, then the resend is refused as a repeat."""
    seen: list[tuple[str, bool]] = []
    fleet.script(
        Fault(502, {"message": "bad gateway"}),
        Fault(200, {"success": False, "rc": 1, "message": "Already checked in at pickup"}),
    )
    config = _config(fleet.url)
    async with open_fleet_client(
        config, clock, on_retry=lambda e, reconciled: seen.append((e, reconciled))
    ) as client:
        view = await client.checkin(31, kind=StopKind.PICKUP)
        stats = client.statistics()
    assert (view.task_id, view.status) == (31, TaskStatus.CHECKED_IN)
    assert fleet.endpoints_called() == ["checkin", "checkin"]
    assert (stats.retries, stats.reconciled) == (1, 1)
    assert seen == [("checkin", False), ("checkin", True)]


@pytest.mark.parametrize(
    ("first", "refusal"),
    [
        pytest.param(Fault(429, {}), "Already checked in at pickup", id="429 was never applied"),
        pytest.param(None, "Already checked in at pickup", id="no earlier attempt"),
        pytest.param(Fault(503, {}), "Can not checkin of a done task", id="not the target state"),
    ],
)
async def test_a_refusal_is_a_refusal_unless_an_earlier_attempt_may_have_been_applied(
    fleet: FakeFleet, clock: VirtualClock, first: Fault | None, refusal: str
) -> None:
    if first is not None:
        fleet.script(first)
    fleet.script(Fault(200, {"success": False, "message": refusal}))
    async with open_fleet_client(_config(fleet.url), clock) as client:
        with pytest.raises(RejectedError) as caught:
            await client.checkin(32, kind=StopKind.PICKUP)
        assert client.statistics().reconciled == 0
    assert caught.value.message == refusal


async def test_retries_running_out_on_a_maybe_applied_call_raise_outcome_unknown_and_a_later_resend_reconciles(  # noqa: E501
    fleet: FakeFleet, clock: VirtualClock
) -> None:
    fleet.script(*[Fault(500, {"message": "boom"})] * 4)
    async with open_fleet_client(_config(fleet.url, max_retries=3), clock) as client:
        with pytest.raises(OutcomeUnknown) as caught:
            await client.end_task(33)
        # the caller (a driver after the outage) sends the same call again, later
        fleet.script(Fault(200, {"success": False, "message": "Can not end of a done task"}))
        done = await client.end_task(33)
        # a further refusal of the same call, with nothing unknown any more, is a refusal
        fleet.script(Fault(200, {"success": False, "message": "Can not end of a done task"}))
        with pytest.raises(RejectedError):
            await client.end_task(33)
        stats = client.statistics()
    assert caught.value.status == 500
    assert done.status is TaskStatus.DONE
    assert stats.reconciled == 1


async def test_a_location_update_is_resent_freely_and_never_reported_as_outcome_unknown(
    fleet: FakeFleet, clock: VirtualClock
) -> None:
    fleet.script(*[Fault(500, {"message": "boom"})] * 4)
    async with open_fleet_client(_config(fleet.url, max_retries=3), clock) as client:
        with pytest.raises(ApiUnavailable) as caught:
            await client.update_driver_location(user_id=1, lat=1.0, lng=2.0, reported_time_ms=5)
    assert type(caught.value) is ApiUnavailable


async def test_a_connection_refused_is_never_sent_not_outcome_unknown(clock: VirtualClock) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    config = _config(f"http://127.0.0.1:{port}", max_retries=0, token_url="")
    async with open_fleet_client(config, clock) as client:
        with pytest.raises(ApiUnavailable) as caught:
            await client.checkin(1)
    assert type(caught.value) is ApiUnavailable


async def test_the_same_note_sent_twice_carries_the_same_external_id(
    fleet: FakeFleet, clock: VirtualClock
) -> None:
    async with open_fleet_client(_config(fleet.url), clock) as client:
        for _ in range(2):
            await client.create_note(9, Note.text_note("left at door"), reported_time_ms=7)
        await client.create_note(9, Note.text_note("other"), reported_time_ms=7)
    keys = [body["external_id"] for name, body, _ in fleet.calls if name == "create_note"]
    assert keys[0] == keys[1] != keys[2]
    assert keys[0].startswith("da-note-")


async def _walk_to_dropoff(client: FleetClient, task_id: int, driver: str) -> None:
    await client.assign_driver(task_id, user=DriverProfile(driver))
    await client.start_task(task_id)
    await client.checkin(task_id, kind=StopKind.PICKUP)
    await client.checkout(task_id, kind=StopKind.PICKUP)
    await client.checkin(task_id, kind=StopKind.DROPOFF)


async def test_an_end_task_applied_but_answer_lost_ends_as_success_and_the_sandbox_applied_it_once(
    sandbox_url: str, clock: VirtualClock
) -> None:
    (task_id,) = await _merchant_orders(sandbox_url, 1)
    async with open_fleet_client(_sandbox_config(sandbox_url), clock) as client:
        await _walk_to_dropoff(client, task_id, "d-lost")
        await client.checkout(task_id, kind=StopKind.DROPOFF)
        fault = {"lose_answer": True, "count": 1, "paths": ["/open_fleet_services/end_task"]}
        await _sandbox(sandbox_url, "/_sandbox/faults", fault)
        done = await client.end_task(task_id)
        stats = client.statistics()
    state = await _sandbox(sandbox_url, "/_sandbox/state")
    [order] = [o for o in state["orders"] if o["task_id"] == task_id]
    assert done.status is TaskStatus.DONE
    assert (stats.retries, stats.reconciled) == (1, 1)
    assert order["status_name"] == "done"
    assert order["transitions"] == [
        "assign_driver", "start_task", "checkin:pickup", "checkout:pickup", "checkin:dropoff",
        "checkout:dropoff", "end_task",
    ]  # fmt: skip
    assert state["repeats"] == {str(task_id): {"end_task": 1}}
    assert state["calls"]["/open_fleet_services/end_task"]["by_status"] == {"503": 1, "200": 1}


async def test_a_note_whose_answer_was_lost_is_kept_once_by_the_sandbox(
    sandbox_url: str, clock: VirtualClock
) -> None:
    (task_id,) = await _merchant_orders(sandbox_url, 1)
    async with open_fleet_client(_sandbox_config(sandbox_url), clock) as client:
        await _walk_to_dropoff(client, task_id, "d-note")
        fault = {"lose_answer": True, "count": 1, "paths": ["/open_fleet_services/create_note"]}
        await _sandbox(sandbox_url, "/_sandbox/faults", fault)
        answer = await client.create_note(
            task_id, Note.signature(PNG, "B. Doe"), kind=StopKind.DROPOFF, reported_time_ms=1
        )
    state = await _sandbox(sandbox_url, "/_sandbox/state")
    [order] = [o for o in state["orders"] if o["task_id"] == task_id]
    assert answer["success"] is True
    assert order["notes"] == 1
    assert state["repeats"] == {str(task_id): {"create_note": 1}}


class _LosingProxy:
    """A raw-socket proxy to the sandbox that forwards each request and, for the first
    `lose` requests to `path`, closes the connection instead of answering: the request was
    applied, the answer never came (every answer it does give says Connection: close)."""

    def __init__(self, upstream: str, path: str, lose: int) -> None:
        self.upstream = httpx.URL(upstream)
        self.path = path
        self.lose = lose
        self.lost = 0
        self.server = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.server.getsockname()[1]}"
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.server.accept()
            except OSError:
                return
            with conn:
                self._one(conn)

    def _one(self, conn: socket.socket) -> None:
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = conn.recv(65536)
            if not chunk:
                return
            data += chunk
        head, _, body = data.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        method, target, _ = lines[0].split(" ", 2)
        headers = dict(line.split(": ", 1) for line in lines[1:] if ": " in line)
        length = int({k.lower(): v for k, v in headers.items()}.get("content-length", "0"))
        while len(body) < length:
            body += conn.recv(65536)
        forwarded = {
            k: v for k, v in headers.items() if k.lower() in ("authorization", "content-type")
        }
        with httpx.Client(base_url=self.upstream, trust_env=False) as upstream:
            answer = upstream.request(method, target, content=body, headers=forwarded)
        if target == self.path and self.lost < self.lose:
            self.lost += 1
            return  # applied upstream; the connection closes without a byte of answer
        payload = answer.content
        conn.sendall(
            f"HTTP/1.1 {answer.status_code} OK\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(payload)}\r\nConnection: close\r\n\r\n".encode()
            + payload
        )

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.server.shutdown(socket.SHUT_RDWR)  # wakes the accept() on Linux
        self.server.close()
        self.thread.join(timeout=5)
        assert not self.thread.is_alive()


async def test_a_checkin_whose_connection_died_after_it_was_applied_is_reconciled(
    sandbox_url: str, clock: VirtualClock
) -> None:
    (task_id,) = await _merchant_orders(sandbox_url, 1)
    proxy = _LosingProxy(sandbox_url, "/open_fleet_services/checkin", lose=1)
    try:
        config = _sandbox_config(proxy.url, transport="builtin", allow_insecure_http=True)
        async with open_fleet_client(config, clock) as client:
            await client.assign_driver(task_id, user=DriverProfile("d-proxy"))
            await client.start_task(task_id)
            arrived = await client.checkin(task_id, kind=StopKind.PICKUP)
            stats = client.statistics()
    finally:
        proxy.close()
    state = await _sandbox(sandbox_url, "/_sandbox/state")
    [order] = [o for o in state["orders"] if o["task_id"] == task_id]
    assert proxy.lost == 1
    assert arrived.status is TaskStatus.CHECKED_IN
    assert stats.reconciled == 1
    assert order["transitions"] == ["assign_driver", "start_task", "checkin:pickup"]
    assert state["repeats"] == {str(task_id): {"checkin:pickup": 1}}


# -- send: a finished wire body posted as is --------------------------------------------------


async def test_a_stored_body_sent_twice_after_a_lost_answer_is_reconciled_and_applied_once(
    sandbox_url: str, clock: VirtualClock
) -> None:
    """What the bridge's outbox does: a body built once, stored as JSON, posted with `send`;
    the answer is lost and retries run out; the same stored body sent later reconciles."""
    (task_id,) = await _merchant_orders(sandbox_url, 1)
    config = _sandbox_config(sandbox_url, max_retries=0)
    stored = json.dumps({"task_id": task_id, "pickup_dropoff_option": "pickup"})
    async with open_fleet_client(config, clock) as client:
        await client.send(
            "assign_driver", {"task_id": task_id, "user": {"external_id": "d-s", "name": "S"}}
        )
        await client.send("start_task", {"task_id": task_id})
        fault = {"lose_answer": True, "count": 1, "paths": ["/open_fleet_services/checkin"]}
        await _sandbox(sandbox_url, "/_sandbox/faults", fault)
        with pytest.raises(OutcomeUnknown):
            await client.send("checkin", json.loads(stored))
        answer = await client.send("checkin", json.loads(stored))
        stats = client.statistics()
    state = await _sandbox(sandbox_url, "/_sandbox/state")
    [order] = [o for o in state["orders"] if o["task_id"] == task_id]
    assert answer == {"success": True, "reconciled": True}
    assert stats.reconciled == 1
    assert order["transitions"] == ["assign_driver", "start_task", "checkin:pickup"]
    assert state["repeats"] == {str(task_id): {"checkin:pickup": 1}}


async def test_send_posts_the_body_as_is_and_returns_the_answer(
    fleet: FakeFleet, clock: VirtualClock
) -> None:
    body = {"task_id": 5, "way_points": [{"way_point_position": 2, "eta": "x"}], "odd": [1]}
    async with open_fleet_client(_config(fleet.url), clock) as client:
        answer = await client.send("update_task", body)
        with pytest.raises(ValueError, match="'nope'"):
            await client.send("nope", body)
    assert answer["success"] is True
    assert [(name, sent) for name, sent, _ in fleet.calls] == [("update_task", body)]

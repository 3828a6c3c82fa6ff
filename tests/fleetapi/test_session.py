"""Tests for fleetapi.session: how every call travels (token, 401, retries, rate limits,
outcome unknown and reconciliation, and `send` for a body built earlier).

Against the fake fleet (tests/fleet_fakes.py) for what the sandbox cannot be told to do, and
end to end against the embedded sandbox (`sandbox_url`): token expiry by advancing its clock,
403/success:false, its 503/429 faults and lost answers.
"""

from __future__ import annotations

import contextlib
import json
import socket
import threading
from functools import partial
from typing import TYPE_CHECKING

import anyio
import httpx
import pytest
from fleet_fakes import (
    PNG,
    SECRET,
    FakeFleet,
    Fault,
    fake_config,
    merchant_orders,
    sandbox_admin,
    sandbox_calls,
    sandbox_config,
)

from driver_agent.core.clock import VirtualClock
from driver_agent.core.errors import (
    ApiUnavailable,
    AuthError,
    ForbiddenError,
    OutcomeUnknown,
    RejectedError,
)
from driver_agent.core.model import Secret, StopKind, TaskStatus
from driver_agent.core.redaction import redact_text
from driver_agent.fleetapi.client import FleetClient, open_fleet_client
from driver_agent.fleetapi.wire import DriverProfile, Note

if TYPE_CHECKING:
    pass


# -- token cache ----------------------------------------------------------------------------


async def test_one_token_serves_many_calls(fleet: FakeFleet, clock: VirtualClock) -> None:
    async with open_fleet_client(fake_config(fleet.url), clock) as client:
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
    async with open_fleet_client(fake_config(fleet.url), clock) as client:
        await client.start_task(1)
        clock.advance(elapsed_s)
        await client.start_task(1)
    assert fleet.token_requests == token_requests
    assert [bearer for _, _, bearer in fleet.calls][-1] == f"tok-{token_requests}"


async def test_expires_in_from_the_server_is_honoured(
    fleet: FakeFleet, clock: VirtualClock
) -> None:
    fleet.expires_in = 300
    async with open_fleet_client(fake_config(fleet.url), clock) as client:
        await client.start_task(1)
        clock.advance(250.0)  # 300 s lifetime less the 60 s margin has passed
        await client.start_task(1)
    assert fleet.token_requests == 2


async def test_a_thousand_callers_meeting_an_expired_token_cause_one_token_request(
    fleet: FakeFleet, clock: VirtualClock, transport: str
) -> None:
    config = fake_config(fleet.url, transport=transport)
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
    async with open_fleet_client(fake_config(fleet.url), clock) as client:
        with pytest.raises(AuthError) as caught:
            await client.start_task(1)
    assert (caught.value.endpoint, caught.value.status) == ("start_task", 401)
    assert fleet.token_requests == 2
    assert len(fleet.calls) == 2


async def test_a_wrong_secret_raises_auth_error_without_showing_the_secret(
    fleet: FakeFleet, clock: VirtualClock
) -> None:
    config = fake_config(fleet.url, client_secret=Secret("wrong-" + SECRET))
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
    async with open_fleet_client(fake_config(fleet.url), clock) as client:
        with pytest.raises(RejectedError) as caught:
            await client.start_task(3)
    assert message in caught.value.message
    assert len(fleet.calls) == 1


async def test_a_refusal_that_echoes_secrets_is_masked_by_the_one_redaction(
    fleet: FakeFleet, clock: VirtualClock
) -> None:
    echo = f"bad request from https://bob:pw@x.example/ with {SECRET} and Bearer abc.def"
    fleet.script(Fault(400, {"status": 400, "title": echo}))
    async with open_fleet_client(fake_config(fleet.url), clock) as client:
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
    async with open_fleet_client(fake_config(fleet.url, max_retries=3), clock) as client:
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
    async with open_fleet_client(fake_config(fleet.url), clock) as client:
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
    async with open_fleet_client(fake_config(fleet.url), clock) as client:
        await client.start_task(2)
    assert clock.monotonic() >= 9.0


async def test_network_errors_are_retried_then_raise_api_unavailable(clock: VirtualClock) -> None:
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    statuses: list[int | None] = []
    config = fake_config(f"http://127.0.0.1:{port}", max_retries=2)
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
    async with open_fleet_client(fake_config(fleet.url), clock) as client:
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


# -- end to end against the embedded sandbox ---------------------------------------------------


async def test_expired_sandbox_token_gets_401_then_refresh_succeeds(
    sandbox_url: str, clock: VirtualClock
) -> None:
    (task_id,) = await merchant_orders(sandbox_url, 1)
    statuses: list[tuple[str, int | None]] = []
    client = FleetClient(
        sandbox_config(sandbox_url),
        clock,
        on_response=lambda endpoint, status, _: statuses.append((endpoint, status)),
    )
    try:
        await client.assign_driver(task_id, user=DriverProfile("d-9"))
        await sandbox_admin(sandbox_url, "/_sandbox/clock", {"advance_s": 1801})
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
    assert await sandbox_calls(sandbox_url, "/oauth/token") == 1 + 2  # the merchant's, then ours


async def test_a_thousand_sandbox_callers_meeting_an_expired_token_cause_one_token_request(
    sandbox_url: str, clock: VirtualClock
) -> None:
    (task_id,) = await merchant_orders(sandbox_url, 1)
    async with open_fleet_client(sandbox_config(sandbox_url), clock) as client:
        await client.assign_driver(task_id, user=DriverProfile("d-7"))
        await sandbox_admin(sandbox_url, "/_sandbox/clock", {"advance_s": 1801})
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
    assert await sandbox_calls(sandbox_url, "/oauth/token") == 1 + 2  # the merchant's, then ours
    assert await sandbox_calls(sandbox_url, "/open_fleet_services/update_driver_location") == 2000


async def test_a_wrong_secret_is_an_auth_error_on_the_sandbox(
    sandbox_url: str, clock: VirtualClock
) -> None:
    config = sandbox_config(sandbox_url, client_secret=Secret("not-the-secret"))
    async with open_fleet_client(config, clock) as client:
        with pytest.raises(AuthError) as caught:
            await client.start_task(1)
    assert caught.value.endpoint == "token"
    assert "not-the-secret" not in f"{caught.value} {caught.value!r} {client!r}"
    assert await sandbox_calls(sandbox_url, "/oauth/token") == 1


async def test_403_on_an_unknown_sandbox_task_is_not_retried(
    sandbox_url: str, clock: VirtualClock
) -> None:
    async with open_fleet_client(sandbox_config(sandbox_url), clock) as client:
        with pytest.raises(ForbiddenError) as caught:
            await client.checkin(987654321)
        assert client.statistics().retries == 0
    assert caught.value.status == 403
    assert caught.value.message  # the sandbox's reason, carried through
    assert await sandbox_calls(sandbox_url, "/open_fleet_services/checkin") == 1
    assert clock.monotonic() == 0.0


async def test_a_refusal_with_success_false_carries_the_sandbox_message(
    sandbox_url: str, clock: VirtualClock
) -> None:
    (task_id,) = await merchant_orders(sandbox_url, 1)
    async with open_fleet_client(sandbox_config(sandbox_url), clock) as client:
        with pytest.raises(RejectedError) as caught:
            await client.start_task(task_id)  # no driver assigned yet
    assert caught.value.status == 200
    assert caught.value.message == "Can not start a task with no driver assigned"


async def test_sandbox_5xx_is_retried_then_succeeds(sandbox_url: str, clock: VirtualClock) -> None:
    (task_id,) = await merchant_orders(sandbox_url, 1)
    async with open_fleet_client(sandbox_config(sandbox_url), clock) as client:
        await client.assign_driver(task_id, user=DriverProfile("d-5"))
        await sandbox_admin(sandbox_url, "/_sandbox/faults", {"status": 503, "count": 2})
        started = await client.start_task(task_id)
        stats = client.statistics()
    assert started.status is TaskStatus.ON_THE_WAY
    assert stats.retries == 2
    assert await sandbox_calls(sandbox_url, "/open_fleet_services/start_task") == 3
    assert 0.0 < clock.monotonic() <= 0.5 + 1.0


async def test_sandbox_429_is_retried_after_retry_after(
    sandbox_url: str, clock: VirtualClock
) -> None:
    (task_id,) = await merchant_orders(sandbox_url, 1)
    async with open_fleet_client(sandbox_config(sandbox_url), clock) as client:
        await client.assign_driver(task_id, user=DriverProfile("d-4"))
        fault = {"status": 429, "count": 1, "retry_after_s": 3}
        await sandbox_admin(sandbox_url, "/_sandbox/faults", fault)
        await client.update_driver_location(user_external_id="d-4", lat=60.17, lng=24.94)
        budget = client.rate_limit
    assert clock.monotonic() >= 3.0
    assert await sandbox_calls(sandbox_url, "/open_fleet_services/update_driver_location") == 2
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
    config = fake_config(fleet.url)
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
    async with open_fleet_client(fake_config(fleet.url), clock) as client:
        with pytest.raises(RejectedError) as caught:
            await client.checkin(32, kind=StopKind.PICKUP)
        assert client.statistics().reconciled == 0
    assert caught.value.message == refusal


async def test_retries_running_out_on_a_maybe_applied_call_raise_outcome_unknown_and_a_later_resend_reconciles(  # noqa: E501
    fleet: FakeFleet, clock: VirtualClock
) -> None:
    fleet.script(*[Fault(500, {"message": "boom"})] * 4)
    async with open_fleet_client(fake_config(fleet.url, max_retries=3), clock) as client:
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
    async with open_fleet_client(fake_config(fleet.url, max_retries=3), clock) as client:
        with pytest.raises(ApiUnavailable) as caught:
            await client.update_driver_location(user_id=1, lat=1.0, lng=2.0, reported_time_ms=5)
    assert type(caught.value) is ApiUnavailable


async def test_a_connection_refused_is_never_sent_not_outcome_unknown(clock: VirtualClock) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    config = fake_config(f"http://127.0.0.1:{port}", max_retries=0, token_url="")
    async with open_fleet_client(config, clock) as client:
        with pytest.raises(ApiUnavailable) as caught:
            await client.checkin(1)
    assert type(caught.value) is ApiUnavailable


async def test_the_same_note_sent_twice_carries_the_same_external_id(
    fleet: FakeFleet, clock: VirtualClock
) -> None:
    async with open_fleet_client(fake_config(fleet.url), clock) as client:
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
    (task_id,) = await merchant_orders(sandbox_url, 1)
    async with open_fleet_client(sandbox_config(sandbox_url), clock) as client:
        await _walk_to_dropoff(client, task_id, "d-lost")
        await client.checkout(task_id, kind=StopKind.DROPOFF)
        fault = {"lose_answer": True, "count": 1, "paths": ["/open_fleet_services/end_task"]}
        await sandbox_admin(sandbox_url, "/_sandbox/faults", fault)
        done = await client.end_task(task_id)
        stats = client.statistics()
    state = await sandbox_admin(sandbox_url, "/_sandbox/state")
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
    (task_id,) = await merchant_orders(sandbox_url, 1)
    async with open_fleet_client(sandbox_config(sandbox_url), clock) as client:
        await _walk_to_dropoff(client, task_id, "d-note")
        fault = {"lose_answer": True, "count": 1, "paths": ["/open_fleet_services/create_note"]}
        await sandbox_admin(sandbox_url, "/_sandbox/faults", fault)
        answer = await client.create_note(
            task_id, Note.signature(PNG, "B. Doe"), kind=StopKind.DROPOFF, reported_time_ms=1
        )
    state = await sandbox_admin(sandbox_url, "/_sandbox/state")
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
    (task_id,) = await merchant_orders(sandbox_url, 1)
    proxy = _LosingProxy(sandbox_url, "/open_fleet_services/checkin", lose=1)
    try:
        config = sandbox_config(proxy.url, transport="builtin", allow_insecure_http=True)
        async with open_fleet_client(config, clock) as client:
            await client.assign_driver(task_id, user=DriverProfile("d-proxy"))
            await client.start_task(task_id)
            arrived = await client.checkin(task_id, kind=StopKind.PICKUP)
            stats = client.statistics()
    finally:
        proxy.close()
    state = await sandbox_admin(sandbox_url, "/_sandbox/state")
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
    (task_id,) = await merchant_orders(sandbox_url, 1)
    config = sandbox_config(sandbox_url, max_retries=0)
    stored = json.dumps({"task_id": task_id, "pickup_dropoff_option": "pickup"})
    async with open_fleet_client(config, clock) as client:
        await client.send(
            "assign_driver", {"task_id": task_id, "user": {"external_id": "d-s", "name": "S"}}
        )
        await client.send("start_task", {"task_id": task_id})
        fault = {"lose_answer": True, "count": 1, "paths": ["/open_fleet_services/checkin"]}
        await sandbox_admin(sandbox_url, "/_sandbox/faults", fault)
        with pytest.raises(OutcomeUnknown):
            await client.send("checkin", json.loads(stored))
        answer = await client.send("checkin", json.loads(stored))
        stats = client.statistics()
    state = await sandbox_admin(sandbox_url, "/_sandbox/state")
    [order] = [o for o in state["orders"] if o["task_id"] == task_id]
    assert answer == {"success": True, "reconciled": True}
    assert stats.reconciled == 1
    assert order["transitions"] == ["assign_driver", "start_task", "checkin:pickup"]
    assert state["repeats"] == {str(task_id): {"checkin:pickup": 1}}


async def test_send_posts_the_body_as_is_and_returns_the_answer(
    fleet: FakeFleet, clock: VirtualClock
) -> None:
    body = {"task_id": 5, "way_points": [{"way_point_position": 2, "eta": "x"}], "odd": [1]}
    async with open_fleet_client(fake_config(fleet.url), clock) as client:
        answer = await client.send("update_task", body)
        with pytest.raises(ValueError, match="'nope'"):
            await client.send("nope", body)
    assert answer["success"] is True
    assert [(name, sent) for name, sent, _ in fleet.calls] == [("update_task", body)]

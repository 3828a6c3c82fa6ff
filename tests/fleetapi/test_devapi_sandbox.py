"""The developer API client end to end over HTTP against the embedded sandbox (seed 001).

Every service is called at the URL the sandbox lists (`GET /_sandbox/services`), a driver's
working day is confirmed by the sandbox's state (shift, home events, the order's transitions),
and the documented refusals come back as our errors with the server's words.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from driver_agent.core.clock import VirtualClock
from driver_agent.core.config import ApiConfig
from driver_agent.core.errors import RejectedError
from driver_agent.core.model import TaskStatus
from driver_agent.fleetapi import devapi_bodies as b
from driver_agent.fleetapi.devapi import DevApiClient, open_devapi_client
from driver_agent.fleetapi.devapi_services import SERVICES
from driver_agent.fleetapi.devapi_session import service_urls
from driver_agent.metrics.stats import StatsCollector
from driver_agent.metrics.thresholds import evaluate, metrics_from_stats, parse_thresholds
from driver_agent.sandbox import SandboxSettings

START_S = 1_767_225_600.0  # 2026-01-01T00:00Z
HOUR_S = 3600


@pytest.fixture
def sandbox_settings() -> SandboxSettings:
    return SandboxSettings(webhook_retry_delay_s=0, start_s=START_S, seed=3)


@pytest.fixture(params=["builtin", "httpx"])
def transport(request: pytest.FixtureRequest) -> str:
    return str(request.param)


class Seen:
    def __init__(self) -> None:
        self.calls: list[tuple[str, int | None]] = []

    def __call__(self, name: str, status: int | None, _latency_s: float) -> None:
        self.calls.append((name, status))


@pytest.fixture
def seen() -> Seen:
    return Seen()


@pytest.fixture
async def client(sandbox_url: str, transport: str, seen: Seen) -> AsyncIterator[DevApiClient]:
    async with httpx.AsyncClient(base_url=sandbox_url) as http:
        listed = (await http.get("/_sandbox/services")).json()
    urls = service_urls(listed["services"])
    api = ApiConfig(transport=transport, max_retries=1)
    async with open_devapi_client(urls, api, VirtualClock(), on_response=seen) as dev:
        yield dev


async def state(sandbox_url: str) -> dict[str, object]:
    async with httpx.AsyncClient(base_url=sandbox_url) as http:
        data: dict[str, object] = (await http.get("/_sandbox/state")).json()
    return data


def new_order(**fields: object) -> b.CreateOrderBody:
    return b.CreateOrderBody(
        title="Rush delivery",
        customer={"name": "Mr. Customer", "address": "1900 Wall st, New York, NY"},
        way_points=[{"address": "4196 Water St. New York"}, {"address": "416 Water St. New York"}],
        **fields,  # type: ignore[arg-type]
    )


async def test_a_drivers_working_day_as_the_sandbox_records_it(
    client: DevApiClient, sandbox_url: str, seen: Seen
) -> None:
    user = await client.create_user(b.CreateUserBody(name="Dave Smithson", driver=True))
    shift = await client.start_shift(user.id)
    assert shift is not None
    assert shift.start_shift
    assert "left home" in await client.driver_home_event(user.id, at_home=False)
    order = await client.create_order(new_order())
    assert order.status is TaskStatus.CREATED
    assigned = await client.update_order(b.UpdateOrderBody(id=order.id, user_id=user.id))
    assert (assigned.status, assigned.user_id) == (TaskStatus.ASSIGNED, user.id)
    assert order.id in [o.id for o in await client.open_orders()]
    started = await client.start_order(order.id)
    assert started is not None
    assert started.status is TaskStatus.ON_THE_WAY
    first, last = (wp.id for wp in started.way_points)
    arrived = await client.checkin(
        order.id, user_id=user.id, way_point_id=first, lat=40.7101, lng=-74.0102
    )
    assert arrived is not None
    assert arrived.status is TaskStatus.CHECKED_IN
    note = await client.create_note(
        b.CreateNoteBody(task_id=order.id, way_point_id=first, note="parcel collected")
    )
    assert (await client.update_note(note.id, note="2 parcels collected")).note == (
        "2 parcels collected"
    )
    left = await client.checkout(order.id)
    assert left is not None
    assert left.active_way_point_id == last
    await client.checkin(order.id)
    await client.create_note(
        b.CreateNoteBody(
            task_id=order.id, way_point_id=last, note="", type="Signature", url="https://x/s.png"
        )
    )
    done = await client.end_order(order.id)  # at the last way point: End Order completes it
    assert done is not None
    assert done.status is TaskStatus.DONE
    with pytest.raises(RejectedError, match="Can't update a done order"):
        await client.checkout(order.id)  # the seed's own Left Location refusal
    assert (await client.get_order(order.id)).status is TaskStatus.DONE
    with pytest.raises(RejectedError, match="Can't update a done order"):
        await client.update_order(b.UpdateOrderBody(id=order.id, title="late change"))
    ended = await client.end_shift(user.id)
    assert ended is not None
    assert ended.end_shift
    assert "got home" in await client.driver_home_event(user.id, at_home=True)

    seen_state = await state(sandbox_url)
    (row,) = (o for o in seen_state["orders"] if o["task_id"] == order.id)  # type: ignore[attr-defined]
    assert row["status"] == TaskStatus.DONE
    assert row["transitions"][0] == f"assign:{user.id}"
    assert all(wp["done"] for wp in row["way_points"])
    assert (row["way_points"][0]["checkin_lat"], row["way_points"][0]["checkin_lng"]) == (
        40.7101,
        -74.0102,
    )
    (who,) = (u for u in seen_state["users"] if u["id"] == user.id)  # type: ignore[attr-defined]
    assert [e["event"] for e in who["home_events"]] == ["left_home", "got_home"]
    assert who["at_home"] is True
    (day,) = (s for s in seen_state["shifts"] if s["user_id"] == user.id)  # type: ignore[attr-defined]
    assert day["end_shift"] is not None
    assert ("start_order", 200) in seen.calls  # statistics see each service under its name


async def test_the_documented_refusals_come_back_with_their_words(client: DevApiClient) -> None:
    with pytest.raises(RejectedError, match="ActiveRecord::RecordNotFound") as info:
        await client.get_order(987654)
    assert info.value.endpoint == "get_order"
    user = await client.create_user(b.CreateUserBody(name="Ann", driver=True))
    order = await client.create_order(new_order(user_id=user.id))
    with pytest.raises(RejectedError, match="no open shift"):
        await client.start_order(order.id)
    with pytest.raises(RejectedError, match="eempty message"):
        await client.create_note(b.CreateNoteBody(task_id=order.id, note=" ", type="TaskNote"))
    with pytest.raises(RejectedError, match="has no open shift"):
        await client.end_shift(user.id)
    cancelled = await client.cancel_order(order.id, reason_id=163, reason="Customer not home")
    assert cancelled is not None
    assert cancelled.status is TaskStatus.CANCELLED
    with pytest.raises(RejectedError, match="Can't update a cancelled order"):
        await client.checkin(order.id)


async def test_delivery_blocks_schedules_and_availability(client: DevApiClient, seen: Seen) -> None:
    user = await client.create_user(b.CreateUserBody(name="Tom", driver=True, team_ids=[15130]))
    block = await client.create_delivery_block(
        b.CreateBlockBody(
            team_id=15130,
            name="Morning Shift 005",
            start_time="2026-01-01 08:00:00",
            end_time="2026-01-01 13:00:00",
            original_capacity=2,
        )
    )
    assert block.original_capacity == 2
    assert await client.assign_delivery_block(block.id, user.id) is True
    with pytest.raises(RejectedError, match="Driver already assigned to block"):
        await client.assign_delivery_block(block.id, user.id)
    assert (await client.get_delivery_block(block.id)).user_ids == (user.id,)
    changed = await client.update_delivery_block(
        b.UpdateBlockBody(id=block.id, name="Morning Shift 006", original_capacity=3)
    )
    assert (changed.name, changed.original_capacity) == ("Morning Shift 006", 3)
    window = {"start_time": int(START_S), "end_time": int(START_S) + 24 * HOUR_S}
    assert [x.id for x in await client.delivery_blocks_by_driver([user.id], **window)] == [block.id]
    assert [x.id for x in await client.delivery_blocks_by_team(15130, **window)] == [block.id]
    with pytest.raises(RejectedError, match="driver assigned"):
        await client.delete_delivery_block(block.id)
    assert await client.unassign_delivery_block(block.id, user.id) is True
    assert await client.delete_delivery_block(block.id) is True
    with pytest.raises(RejectedError, match="Couldn't find delivery block"):
        await client.get_delivery_block(block.id)
    assert isinstance(await client.get_shifts_schedule(), list)
    await client.start_shift(user.id)
    available = await client.driver_availability([15130])
    assert user.id in [d.id for d in available]
    assert ("driver_availability", 200) in seen.calls


async def test_every_service_is_served_at_its_listed_url(client: DevApiClient) -> None:
    assert client.services == set(SERVICES)


async def test_per_service_statistics_feed_thresholds_and_the_report(sandbox_url: str) -> None:
    stats = StatsCollector()

    def record(name: str, status: int | None, latency_s: float) -> None:
        error = None if status == 200 else ("network" if status is None else f"HTTP {status}")
        stats.record_call(name, latency_s * 1000, error, 0.0)

    async with httpx.AsyncClient(base_url=sandbox_url) as http:
        listed = (await http.get("/_sandbox/services")).json()
    urls = service_urls(listed["services"])
    async with open_devapi_client(urls, ApiConfig(), VirtualClock(), on_response=record) as dev:
        user = await dev.create_user(b.CreateUserBody(name="Eli", driver=True))
        await dev.start_shift(user.id)
        order = await dev.create_order(new_order(user_id=user.id))
        await dev.start_order(order.id)
        with pytest.raises(RejectedError):
            await dev.start_order(987654)
    metrics = metrics_from_stats(stats.statistics())
    checks = parse_thresholds(
        ["start_order.p95_ms < 500", "start_order.requests == 2", "start_order.error_rate == 0.5"]
    )
    results = evaluate(checks, metrics)
    assert [(r.expr, r.passed) for r in results] == [(c.expr, True) for c in checks]
    assert metrics["create_user.requests"] == 1


async def test_a_sandbox_outage_is_retried_with_the_fleet_clients_back_off(
    client: DevApiClient, sandbox_url: str, seen: Seen
) -> None:
    user = await client.create_user(b.CreateUserBody(name="Steven", driver=True))
    async with httpx.AsyncClient(base_url=sandbox_url) as http:
        fault = {"status": 503, "count": 1, "paths": ["/services/start_shift"]}
        assert (await http.post("/_sandbox/faults", json=fault)).status_code == 200
    shift = await client.start_shift(user.id)
    assert shift is not None
    assert [c for c in seen.calls if c[0] == "start_shift"] == [
        ("start_shift", 503),
        ("start_shift", 200),
    ]
    assert client.statistics().retries == 1

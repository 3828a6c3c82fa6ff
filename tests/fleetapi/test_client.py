"""Tests for fleetapi.client: every documented call's body and answer, and construction.

Against the fake fleet (tests/fleet_fakes.py: exact request bodies) and end to end against the
embedded sandbox (`sandbox_url`): a driver walks every documented call. How the calls travel
(token, retries, rate limits, reconciliation, `send`) is tests/fleetapi/test_session.py.
"""

from __future__ import annotations

import random
from typing import TYPE_CHECKING, Any

import pytest
from fleet_fakes import (
    CLIENT_ID,
    JPEG,
    PNG,
    SECRET,
    FakeFleet,
    fake_config,
    merchant_orders,
    sandbox_admin,
    sandbox_config,
)

from driver_agent.core.clock import VirtualClock
from driver_agent.core.errors import (
    ConfigError,
)
from driver_agent.core.model import NoteKind, Secret, StopKind, TaskStatus
from driver_agent.fleetapi.client import FleetClient, open_fleet_client
from driver_agent.fleetapi.wire import DriverProfile, IntegrationEvent, Note, WayPointUpdate

if TYPE_CHECKING:
    pass


# -- the documented calls -------------------------------------------------------------------


async def test_every_documented_call_posts_its_documented_body_and_parses_the_answer(
    fleet: FakeFleet, clock: VirtualClock, transport: str
) -> None:
    config = fake_config(fleet.url, transport=transport)
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
    config = fake_config(fleet.url, paths={"end_task": "/custom/complete_task"})
    async with open_fleet_client(config, clock) as client:
        done = await client.end_task(5)
    assert done.status is TaskStatus.DONE
    assert fleet.endpoints_called() == ["complete_task"]


async def test_a_bad_note_is_refused_before_anything_is_sent(
    fleet: FakeFleet, clock: VirtualClock
) -> None:
    async with open_fleet_client(fake_config(fleet.url), clock) as client:
        with pytest.raises(ValueError, match=r"^note\.image"):
            await client.create_note(1, Note(NoteKind.PHOTO, image=b"GIF89a-not-allowed"))
    assert fleet.calls == []
    assert fleet.token_requests == 0


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
    config = fake_config("https://api.example.com", **overrides)
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
    client = FleetClient(fake_config(url, allow_insecure_http=allow_insecure_http), clock)
    await client.aclose()
    assert SECRET not in repr(client)


# -- end to end against the embedded sandbox ---------------------------------------------------


async def test_a_driver_walks_every_documented_call_on_the_sandbox(
    sandbox_url: str, clock: VirtualClock, transport: str
) -> None:
    first, second, third = await merchant_orders(sandbox_url, 3)
    config = sandbox_config(sandbox_url, transport=transport)
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

    state = await sandbox_admin(sandbox_url, "/_sandbox/state")
    orders = {order["task_id"]: order for order in state["orders"]}
    assert orders[first]["status"] == TaskStatus.DONE
    assert orders[first]["notes"] == 3
    assert orders[first]["delivery_cost"] == 1500
    assert orders[second]["status"] == TaskStatus.CANCELLED
    assert orders[third]["way_points"][0]["checkout_time"] is not None
    assert (stats.token_refreshes, stats.retries) == (1, 0)
    assert state["calls"]["/oauth/token"]["count"] == 2  # the merchant's and ours

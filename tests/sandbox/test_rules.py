"""Pure tests of the sandbox rules: lifecycle, refusals, ping gaps, tokens, limits, orders,
faults.
"""

from __future__ import annotations

import base64
from typing import Any

import pytest
from sandbox_pure import CREATE

from driver_agent.core.model import Secret, TaskStatus
from driver_agent.sandbox.faults import FaultBook
from driver_agent.sandbox.geocode import geocode, normalise_address
from driver_agent.sandbox.merchant_orders import MAX_WAY_POINTS_MESSAGE
from driver_agent.sandbox.records import DateError, iso_ms, parse_date
from driver_agent.sandbox.rules import SandboxState, TokenScope
from driver_agent.sandbox.settings import SandboxSettings
from driver_agent.sandbox.world import Reply, Violation, WebhookKind

NOW = 1_800_000_000.0
NOW_MS = int(NOW * 1000)
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32
JPEG = b"\xff\xd8\xff\xe0" + b"\x00" * 32


def state_for(**overrides: Any) -> SandboxState:
    return SandboxState(SandboxSettings(**overrides), token_part=lambda: "opaque")


def create(state: SandboxState, **fields: Any) -> int:
    reply = state.create_task({**CREATE, **fields}, NOW)
    assert reply.status == 200, reply.body
    assert reply.body["success"] is True
    task: dict[str, Any] = reply.body["task"]  # type: ignore[assignment]
    return int(task["id"])


def call(state: SandboxState, name: str, **body: Any) -> Reply:
    return state.fleet(name, body, NOW)


STAGES = [
    "created",
    "assigned",
    "started",
    "at_pickup",
    "left_pickup",
    "at_dropoff",
    "left_dropoff",
    "done",
]
STEPS: list[tuple[str, dict[str, Any]]] = [
    ("assign_driver", {"user": {"external_id": "d1", "name": "Driver One"}}),
    ("start_task", {"reported_time": NOW_MS}),
    ("checkin", {"pickup_dropoff_option": "pickup"}),
    ("checkout", {"pickup_dropoff_option": "pickup"}),
    ("checkin", {"pickup_dropoff_option": "dropoff"}),
    ("checkout", {"pickup_dropoff_option": "dropoff"}),
    ("end_task", {}),
]


def walk_to(state: SandboxState, task_id: int, stage: str) -> None:
    if stage == "cancelled":
        assert call(state, "cancel_delivery", task_id=task_id, reason_id=0).body["success"]
        return
    for name, body in STEPS[: STAGES.index(stage)]:
        reply = call(state, name, task_id=task_id, **body)
        assert reply.body["success"] is True, (name, reply.body)


def status_of(state: SandboxState, task_id: int) -> TaskStatus:
    return state.world.orders[task_id].status


@pytest.mark.parametrize(
    ("stage", "status", "active"),
    [
        ("assigned", TaskStatus.ASSIGNED, 1),
        ("started", TaskStatus.ON_THE_WAY, 1),
        ("at_pickup", TaskStatus.CHECKED_IN, 1),
        ("left_pickup", TaskStatus.ON_THE_WAY, 2),
        ("at_dropoff", TaskStatus.CHECKED_IN, 2),
        ("left_dropoff", TaskStatus.CHECKED_IN, 2),
        ("done", TaskStatus.DONE, None),
    ],
)
def test_each_documented_step_moves_the_order_to_its_status(
    stage: str, status: TaskStatus, active: int | None
) -> None:
    state = state_for()
    task_id = create(state)
    walk_to(state, task_id, stage)
    order = state.world.orders[task_id]
    assert order.status is status
    view = order.view()
    if active is None:
        assert view["active_way_point_id"] is None
    else:
        assert view["active_way_point_id"] == order.way_points[active - 1].id


@pytest.mark.parametrize(
    ("stage", "name", "body", "message"),
    [
        ("created", "start_task", {}, "Can not start a task with no driver assigned"),
        ("assigned", "checkin", {}, "Can not checkin of a task that was not started"),
        ("assigned", "end_task", {}, "Can not end of a task that was not started"),
        ("started", "start_task", {}, "Task already started"),
        ("started", "checkout", {}, "Can not checkout of pickup before checking in"),
        ("started", "end_task", {}, "Can not end a task before checking in at the dropoff"),
        (
            "started",
            "checkin",
            {"pickup_dropoff_option": "dropoff"},
            "Can not checkin at dropoff before checking out of pickup",
        ),
        ("at_pickup", "checkin", {}, "Already checked in at pickup"),
        (
            "left_pickup",
            "checkin",
            {"pickup_dropoff_option": "pickup"},
            "Can not checkin at pickup: already checked out of pickup",
        ),
        ("left_pickup", "checkout", {}, "Can not checkout of dropoff before checking in"),
        ("at_dropoff", "checkin", {}, "Already checked in at dropoff"),
        ("left_dropoff", "checkout", {}, "Already checked out of dropoff"),
        ("done", "checkin", {}, "Can not checkin of a done task"),
        ("done", "end_task", {}, "Can not end of a done task"),
        ("done", "cancel_delivery", {"reason_id": 0}, "Can not cancel of a done task"),
        ("done", "update_task", {}, "Can't update a done order"),
        ("cancelled", "start_task", {}, "Can not start of a cancelled task"),
        ("cancelled", "cancel_delivery", {"reason_id": 0}, "Task already cancelled"),
        ("started", "assign_driver", {"user_external_id": "d2"}, "Can not reassign a started task"),
        (
            "assigned",
            "assign_driver",
            {"user_external_id": "d1"},
            "Task is already assigned to this driver",
        ),
        (
            "assigned",
            "create_note",
            {"note": "x"},
            "Can not add a note before the driver arrived at a stop",
        ),
    ],
)
def test_out_of_order_and_repeated_calls_are_refused_and_change_nothing(
    stage: str, name: str, body: dict[str, Any], message: str
) -> None:
    state = state_for()
    other = create(state, external_id="other")
    call(state, "assign_driver", task_id=other, user={"external_id": "d2", "name": "Two"})
    task_id = create(state)
    walk_to(state, task_id, stage)
    before = state.world.orders[task_id].view()
    reply = call(state, name, task_id=task_id, **body)
    assert (reply.status, reply.body) == (200, {"success": False, "message": message, "rc": 1})
    assert state.world.orders[task_id].view() == before


@pytest.mark.parametrize("stage", ["created", *STAGES[1:-1]])
def test_cancel_works_from_every_state_before_done(stage: str) -> None:
    state = state_for()
    task_id = create(state)
    walk_to(state, task_id, stage)
    reply = call(
        state,
        "cancel_delivery",
        task_id=task_id,
        reason_id=3,
        lat=60.1,
        lng=24.9,
        reported_time=NOW_MS + 5000,
    )
    task: dict[str, Any] = reply.body["task"]  # type: ignore[assignment]
    assert task["status"] == 7
    assert task["cancelled_at"] == task["ended_time"] == iso_ms(NOW + 5)
    assert (task["cancellation_lat"], task["cancellation_lng"]) == (60.1, 24.9)
    driver = next(iter(state.world.drivers.values()), None)
    assert driver is None or task_id not in driver.started


@pytest.mark.parametrize(
    ("body", "status", "message"),
    [
        ({}, 400, "param is missing or the value is empty: task_id"),
        ({"task_id": "abc"}, 400, "task_id must be an integer"),
        ({"task_id": 1}, 403, "Task not found"),
    ],
)
def test_task_id_problems_answer_400_or_403(
    body: dict[str, Any], status: int, message: str
) -> None:
    state = state_for()
    reply = state.fleet("start_task", body, NOW)
    assert (reply.status, reply.body) == (status, {"success": False, "message": message})


@pytest.mark.parametrize(
    ("body", "status", "message"),
    [
        (
            {"user": {"external_id": "d1", "name": None}},
            400,
            "param is missing or the value is empty: user.name",
        ),
        ({"user": {"name": "x"}}, 400, "param is missing or the value is empty: user.external_id"),
        ({"user_external_id": "ghost"}, 403, "Driver with external_id ghost was not found"),
        (
            {"user": {"external_id": "d1", "name": "x", "phone": "0501234"}},
            400,
            "user.phone must be in international format: +<country code>...",
        ),
        ({}, 400, "param is missing or the value is empty: user"),
    ],
)
def test_assign_driver_refuses_bad_drivers(body: dict[str, Any], status: int, message: str) -> None:
    state = state_for()
    task_id = create(state)
    reply = call(state, "assign_driver", task_id=task_id, **body)
    assert (reply.status, reply.body["message"]) == (status, message)
    assert status_of(state, task_id) is TaskStatus.CREATED


def test_reassign_before_start_moves_the_order_to_the_new_driver() -> None:
    state = state_for()
    task_id = create(state)
    first = call(state, "assign_driver", task_id=task_id, user={"external_id": "a", "name": "A"})
    second = call(state, "assign_driver", task_id=task_id, user={"external_id": "b", "name": "B"})
    first_task: dict[str, Any] = first.body["task"]  # type: ignore[assignment]
    second_task: dict[str, Any] = second.body["task"]  # type: ignore[assignment]
    assert first_task["user_id"] != second_task["user_id"]
    call(state, "start_task", task_id=task_id)
    drivers = {d.external_id: d for d in state.world.drivers.values()}
    assert drivers["b"].started == {task_id}
    assert drivers["a"].started == set()


def test_known_driver_can_be_assigned_by_user_external_id() -> None:
    state = state_for()
    first, second = create(state, external_id="1"), create(state, external_id="2")
    call(state, "assign_driver", task_id=first, user={"external_id": "d", "name": "D"})
    reply = call(state, "assign_driver", task_id=second, user_external_id="d", delivery_cost=560)
    task: dict[str, Any] = reply.body["task"]  # type: ignore[assignment]
    assert task["user_id"] == state.world.orders[first].user_id
    assert task["delivery_cost"] == 560


def test_end_task_before_dropoff_checkin_is_allowed_when_not_strict() -> None:
    state = state_for(strict_complete=False)
    task_id = create(state)
    walk_to(state, task_id, "started")
    assert call(state, "end_task", task_id=task_id).body["success"] is True


@pytest.mark.parametrize(
    ("times_s", "max_gap_s", "over_30", "out_of_order", "gaps"),
    [
        ([10, 20, 30], 10.0, 0, 0, 3),
        ([10, 55, 60], 45.0, 1, 0, 3),
        ([31], 31.0, 1, 0, 1),
        ([30], 30.0, 0, 0, 1),
        ([10, 5, 20], 10.0, 0, 1, 2),
        ([-5, 10], 10.0, 0, 1, 1),
    ],
    ids=["steady", "one-45s-gap", "just-over", "exactly-30", "out-of-order", "before-start"],
)
def test_ping_gaps_are_measured_from_start_between_reported_times(
    times_s: list[int], max_gap_s: float, over_30: int, out_of_order: int, gaps: int
) -> None:
    state = state_for()
    task_id = create(state)
    walk_to(state, task_id, "started")  # start_task at NOW_MS
    for t in times_s:
        reply = call(
            state,
            "update_driver_location",
            user_external_id="d1",
            lat=60.1,
            lng=24.9,
            reported_time=NOW_MS + t * 1000,
        )
        assert reply.body == {"success": True, "rc": 0}
    view = next(iter(state.world.drivers.values())).view()
    assert (view["max_gap_s"], view["gaps_over_30s"], view["out_of_order"]) == (
        max_gap_s,
        over_30,
        out_of_order,
    )
    assert (view["gap_count"], view["location_count"]) == (gaps, len(times_s))


def test_ping_gaps_are_not_counted_without_a_started_order() -> None:
    state = state_for()
    task_id = create(state)
    walk_to(state, task_id, "assigned")
    for t in (0, 100):
        call(
            state,
            "update_driver_location",
            user_external_id="d1",
            lat=1,
            lng=2,
            reported_time=NOW_MS + t * 1000,
        )
    walk_to_done = [("start_task", NOW_MS + 200_000)]
    for name, t in walk_to_done:
        call(state, name, task_id=task_id, reported_time=t)
    call(
        state,
        "update_driver_location",
        user_external_id="d1",
        lat=1,
        lng=2,
        reported_time=NOW_MS + 210_000,
    )
    view = next(iter(state.world.drivers.values())).view()
    assert (view["gap_count"], view["max_gap_s"], view["gaps_over_30s"]) == (1, 10.0, 0)


@pytest.mark.parametrize(
    ("body", "status", "message"),
    [
        ({"lat": 1, "lng": 2}, 403, "Missing user id/external_id"),
        ({"user_external_id": "nobody", "lat": 1, "lng": 2}, 403, "User not found"),
        ({"user_external_id": "d1", "lat": "x", "lng": 2}, 400, "lat must be a number"),
        (
            {"user_external_id": "d1", "lat": 1, "lng": 2, "reported_time": "soon"},
            400,
            "reported_time must be an integer epoch in milliseconds",
        ),
    ],
)
def test_update_driver_location_refuses_bad_payloads(
    body: dict[str, Any], status: int, message: str
) -> None:
    state = state_for()
    walk_to(state, create(state), "assigned")
    reply = state.fleet("update_driver_location", body, NOW)
    assert (reply.status, reply.body) == (status, {"success": False, "message": message})


def _data_url(mime: str, raw: bytes) -> str:
    return f"data:{mime};base64,{base64.b64encode(raw).decode()}"


@pytest.mark.parametrize(
    ("body", "status", "message"),
    [
        ({"type": "TaskPhoto", "image": _data_url("image/png", PNG)}, 200, None),
        ({"type": "Signature", "image": _data_url("image/jpeg", JPEG)}, 200, None),
        ({"type": "TaskNote", "note": "Left at the door"}, 200, None),
        ({"type": "Form", "form": {"age_checked": True}}, 200, None),
        ({"type": "Document", "document": _data_url("application/pdf", b"%PDF-1.4")}, 200, None),
        (
            {"type": "TaskPhoto", "image": _data_url("image/png", JPEG)},
            400,
            "image: the data is not a PNG image",
        ),
        (
            {"type": "TaskPhoto", "image": _data_url("image/gif", b"GIF89a")},
            400,
            "image: only JPEG and PNG images are accepted, got image/gif",
        ),
        (
            {"type": "TaskPhoto", "image": _data_url("image/jpeg", JPEG + b"\x00" * 2048)},
            400,
            "image is larger than the limit of 1024 bytes",
        ),
        (
            {"type": "TaskPhoto", "image": "data:image/png;base64,@@@"},
            400,
            "image is not valid base64",
        ),
        ({"type": "TaskNote", "note": ""}, 400, "Can't create eempty message"),
        (
            {"type": "Video"},
            400,
            "type must be one of Document, Form, FormattedTaskNote, HtmlTaskNote, Signature, "
            "TaskNote, TaskPhoto",
        ),
    ],
)
def test_notes_and_pod_are_checked_by_type_magic_bytes_and_size(
    body: dict[str, Any], status: int, message: str | None
) -> None:
    state = state_for(max_note_bytes=1024)
    task_id = create(state)
    walk_to(state, task_id, "at_dropoff")
    reply = call(state, "create_note", task_id=task_id, **body)
    assert reply.status == status, reply.body
    if message is None:
        note: dict[str, Any] = reply.body["task"]  # type: ignore[assignment]
        assert note["type"] == body["type"]
        assert note["way_point_id"] == state.world.orders[task_id].dropoff.id
    else:
        assert reply.body["message"] == message


def test_notes_are_accepted_after_completion_but_not_after_cancellation() -> None:
    state = state_for()
    done, cancelled = create(state, external_id="a"), create(state, external_id="b")
    walk_to(state, done, "done")
    assert call(state, "create_note", task_id=done, note="late POD").body["success"] is True
    walk_to(state, cancelled, "cancelled")
    reply = call(state, "create_note", task_id=cancelled, note="x")
    assert reply.body["message"] == "Can not add a note of a cancelled task"


def test_cancel_without_reason_id_is_a_400_naming_reason_id() -> None:
    state = state_for()
    task_id = create(state)
    reply = call(state, "cancel_delivery", task_id=task_id)
    assert reply.status == 400
    assert "reason_id" in str(reply.body["message"])
    assert status_of(state, task_id) is TaskStatus.CREATED


def test_update_task_changes_the_window_and_cost() -> None:
    state = state_for()
    task_id = create(state)
    reply = call(
        state,
        "update_task",
        task_id=task_id,
        delivery_cost=1299,
        way_points=[
            {
                "way_point_position": 2,
                "no_earlier_than": "2027-01-01T10:00:00Z",
                "no_later_than": "2027-01-01T12:00:00.000Z",
            },
        ],
    )
    task: dict[str, Any] = reply.body["task"]  # type: ignore[assignment]
    assert task["delivery_cost"] == 1299
    assert task["way_points"][1]["no_earlier_than"] == "2027-01-01T10:00:00.000Z"
    bad = call(state, "update_task", task_id=task_id, way_points=[{"scheduled_at": "x"}])
    assert (
        bad.body["message"]
        == "param is missing or the value is empty: way_points[0].way_point_position"
    )


# -- tokens and limits ---------------------------------------------------------------------------


def test_tokens_expire_and_are_scoped_to_fleet_or_merchant() -> None:
    state = state_for(token_ttl_s=1800)
    reply = state.issue_token(
        {
            "grant_type": "client_credentials",
            "client_id": "sandbox-fleet",
            "client_secret": "sandbox-fleet-secret",
        },
        NOW,
    )
    assert reply.body["token_type"] == "Bearer"
    assert reply.body["expires_in"] == 1800
    assert reply.body["created_at"] == int(NOW)
    header = f"Bearer {reply.body['access_token']}"
    assert state.authorize(header, TokenScope.FLEET, NOW + 1799).client_id == "sandbox-fleet"
    with pytest.raises(Violation, match="Token expired"):
        state.authorize(header, TokenScope.FLEET, NOW + 1800)
    with pytest.raises(Violation, match="not valid for merchant calls"):
        state.authorize(header, TokenScope.MERCHANT, NOW)
    with pytest.raises(Violation, match="Invalid token"):
        state.authorize("Bearer nope", TokenScope.FLEET, NOW)


@pytest.mark.parametrize(
    "body",
    [
        {"grant_type": "client_credentials", "client_id": "sandbox-fleet", "client_secret": "no"},
        {"grant_type": "client_credentials", "client_id": "who", "client_secret": "x"},
        {"grant_type": "client_credentials", "client_id": "sandbox-fleet"},
    ],
)
def test_wrong_credentials_get_401_without_echoing_the_secret(body: dict[str, Any]) -> None:
    state = state_for(client_secret=Secret("s3cr3t-value"))
    reply = state.issue_token(body, NOW)
    assert reply.status == 401
    assert "s3cr3t" not in str(reply.body)


def test_rate_limit_counts_per_credential_and_resets_with_the_window() -> None:
    state = state_for(rate_limit_per_window=2, rate_window_s=60)
    t0 = 1_800_000_040.0  # 40 s into a 60 s window
    first, second, third = (state.rate("fleet", t0) for _ in range(3))
    assert (first.remaining, second.remaining, third.exceeded) == (1, 0, True)
    assert third.reset_s == 20
    assert state.rate("merchant", t0).exceeded is False
    assert state.rate("fleet", t0 + 20).exceeded is False


# -- merchant orders -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2017-10-31T12:00:00-5", 1509469200.0),
        ("2020-06-02T11:43:28.866Z", 1591098208.866),
        ("2020-06-02T11:43:28+02:00", 1591091008.0),
        ("2020-06-02", 1591056000.0),
    ],
)
def test_merchant_dates_parse_in_their_offsets(value: str, expected: float) -> None:
    assert parse_date(value, "scheduled_at", NOW) == pytest.approx(expected)


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (
            "+92022-02-01T00:00:00Z",
            "One of the parameters is incorrect: [Time '+92022-02-01T00:00:00Z' is out of range "
            "'10 years' for 'no_earlier_than']",
        ),
        (
            "2040-01-01T00:00:00Z",
            "One of the parameters is incorrect: [Time '2040-01-01T00:00:00Z' is out of range "
            "'10 years' for 'no_earlier_than']",
        ),
        (
            "tomorrow",
            "One of the parameters is incorrect: [Time 'tomorrow' is invalid for "
            "'no_earlier_than']",
        ),
        (
            "2020-02-30T00:00:00Z",
            "One of the parameters is incorrect: [Time '2020-02-30T00:00:00Z' is invalid for "
            "'no_earlier_than']",
        ),
    ],
)
def test_bad_merchant_dates_get_the_documented_message(value: str, message: str) -> None:
    with pytest.raises(DateError) as caught:
        parse_date(value, "no_earlier_than", NOW)
    assert caught.value.message == message


def test_more_than_two_way_points_is_a_400_with_the_documented_message() -> None:
    state = state_for()
    reply = state.create_task(
        {"customer": {"name": "A"}, "way_points": [{"address": str(i)} for i in range(3)]}, NOW
    )
    assert (reply.status, reply.body) == (
        400,
        {"success": False, "message": MAX_WAY_POINTS_MESSAGE},
    )
    assert state.world.orders == {}


def test_duplicate_external_id_and_unknown_customer_are_refused_with_200() -> None:
    state = state_for()
    create(state, external_id="EXT1")
    dup = state.create_task(
        {"external_id": "EXT1", "customer": {"name": "A"}, "way_points": [{"address": "x"}]}, NOW
    )
    assert (dup.status, dup.body) == (
        200,
        {"success": False, "message": "Task with external id EXT1 exists already"},
    )
    unknown = state.create_task({"customer_id": 99999, "way_points": [{"address": "x"}]}, NOW)
    assert unknown.body == {"success": False, "message": "Customer 99999 does not exist"}
    assert len(state.world.orders) == 1


def test_addresses_without_coordinates_are_geocoded_inside_the_area() -> None:
    area = (60.160, 24.900, 60.200, 24.980)
    state = state_for(area=area)
    task_id = create(state, way_points=[{"address": "Kauppatori"}, {"address": "Töölöntori 1"}])
    for wp in state.world.orders[task_id].way_points:
        assert area[0] < wp.lat < area[2]
        assert area[1] < wp.lng < area[3]
        assert (wp.lat, wp.lng) == geocode(str(wp.address), area)


def test_with_places_every_address_lands_on_one_of_them() -> None:
    # the places are what the command layer samples on the active road network
    places = ((60.1651, 24.9402), (60.1702, 24.9455), (60.1733, 24.9381))
    state = state_for(area=(60.160, 24.930, 60.180, 24.960), places=places)
    addresses = [f"Street {i}" for i in range(30)]
    task_ids = [create(state, way_points=[{"address": a}]) for a in addresses]
    used = set()
    for task_id in task_ids:
        for wp in state.world.orders[task_id].way_points:  # the depot pickup too
            assert (wp.lat, wp.lng) in places
            used.add((wp.lat, wp.lng))
    assert len(used) == len(places)  # spread over them, not all on one
    update = geocode("Street 7", state.settings.area, places)
    assert update == geocode(" street  7 ", state.settings.area, places)


def test_places_outside_the_area_are_refused() -> None:
    with pytest.raises(ValueError, match=r"places: \(61\.0, 24\.94\) lies outside the area"):
        state_for(area=(60.160, 24.930, 60.180, 24.960), places=((61.0, 24.94),))


def test_a_lone_way_point_becomes_the_dropoff_with_the_depot_as_pickup() -> None:
    state = state_for()
    task_id = create(state, way_points=[{"address": "Kallio", "note": "Knock"}])
    order = state.world.orders[task_id]
    assert [wp.position for wp in order.way_points] == [1, 2]
    assert order.pickup.address == "Sandbox depot"
    assert order.dropoff.address == "Kallio"
    assert order.dropoff.notes[0]["note"] == "Knock"


def test_created_orders_queue_a_delivery_created_webhook_with_two_way_points() -> None:
    state = state_for()
    task_id = create(state, external_id="E1")
    (job,) = state.take_outbox()
    assert job.kind is WebhookKind.CREATED
    assert job.task_id == task_id
    way_points: list[dict[str, Any]] = job.payload["way_points"]  # type: ignore[assignment]
    assert [wp["pickup_dropoff_option"] for wp in way_points] == ["pickup", "dropoff"]
    assert job.payload["id"] == task_id
    assert job.payload["external_id"] == "E1"


@pytest.mark.parametrize(
    ("reply", "status", "delivery_id", "fleet_error"),
    [
        ({"success": True, "delivery_id": "D-1"}, TaskStatus.ACCEPTED, "D-1", None),
        (
            {"success": False, "error_message": "no drivers"},
            TaskStatus.REJECTED,
            None,
            "no drivers",
        ),
        (
            {"success": True},
            TaskStatus.CREATED,
            None,
            "Delivery Created failed: reply lacks success and a string delivery_id",
        ),
    ],
)
def test_the_fleet_reply_to_delivery_created_is_recorded(
    reply: dict[str, Any], status: TaskStatus, delivery_id: str | None, fleet_error: str | None
) -> None:
    state = state_for()
    task_id = create(state)
    (job,) = state.take_outbox()
    state.webhook_done(job, 1, 200, reply)
    order = state.world.orders[task_id]
    assert (order.status, order.delivery_id, order.fleet_error) == (
        status,
        delivery_id,
        fleet_error,
    )


def test_merchant_update_of_an_address_geocodes_it_and_builds_the_partial_payload() -> None:
    state = state_for()
    task_id = create(state)
    job = state.update_order(task_id, {"way_point": {"position": 2, "address": "Hakaniemi"}}, NOW)
    assert not isinstance(job, Reply)
    wp = state.world.orders[task_id].dropoff
    assert job.payload == {
        "task_id": task_id,
        "delivery_id": None,
        "way_point": {
            "address": "Hakaniemi",
            "lat": wp.lat,
            "lng": wp.lng,
            "id": wp.id,
            "position": 2,
        },
    }
    assert (wp.lat, wp.lng) == geocode("Hakaniemi", state.settings.area)


def test_normalised_addresses_geocode_to_the_same_point() -> None:
    area = (60.160, 24.900, 60.200, 24.980)
    assert normalise_address("  Main St.,  HELSINKI ") == "main st helsinki"
    assert geocode("Main St., Helsinki", area) == geocode("main st helsinki", area)
    assert geocode("Main St., Helsinki", area) != geocode("Side St., Helsinki", area)


# -- faults --------------------------------------------------------------------------------------


def test_faults_by_count_by_duration_and_by_path() -> None:
    book = FaultBook()
    book.add({"status": 503, "count": 2}, NOW)
    fleet = "/open_fleet_services/checkin"
    assert [getattr(book.take(fleet, NOW, api=True), "status", None) for _ in range(3)] == [
        503,
        503,
        None,
    ]
    book.add({"status": 502, "duration_s": 10}, NOW)
    assert book.take("/oauth/token", NOW, api=False) is None
    assert book.take(fleet, NOW + 9, api=True) is not None
    assert book.take(fleet, NOW + 10, api=True) is None
    book.add({"status": 429, "count": 1, "retry_after_s": 1, "paths": ["/oauth/token"]}, NOW)
    assert book.take(fleet, NOW, api=True) is None
    fault = book.take("/oauth/token", NOW, api=False)
    assert fault is not None
    assert fault.retry_after_s == 1
    book.add({"delay_s": 0.5, "count": 3}, NOW)
    book.add({"clear": True}, NOW)
    assert not book


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"status": 200, "count": 1}, "status must be an HTTP error status (400-599)"),
        ({"status": 503}, "a fault needs count or duration_s"),
        ({"count": 1}, "a fault needs a status or a delay_s (or clear: true)"),
        ({"status": 503, "count": -1}, "count must be a number >= 1"),
        (
            {"lose_answer": "yes", "count": 1},
            "lose_answer: expected true or false, got 'yes' (a string)",
        ),
        (
            {"status": "503", "count": 1},
            "status: expected an integer or null, got '503' (a string)",
        ),
        ({"status": 503, "count": True}, "count: expected a number or null, got True (a boolean)"),
        (
            {"status": 503, "count": 1, "paths": ["/a", 7]},
            "paths[1]: expected a string, got 7 (an integer)",
        ),
        ({"clear": "yes"}, "clear: expected true or false, got 'yes' (a string)"),
        ({"delay_s": -1, "count": 1}, "delay_s must be a number >= 0"),
    ],
)
def test_bad_fault_descriptions_are_refused(body: dict[str, Any], message: str) -> None:
    with pytest.raises(Violation) as caught:
        FaultBook().add(body, NOW)
    assert caught.value.message == message


# ----------------------------------------------------------------------------- repeats


HAPPY_PATH = [
    "assign_driver", "start_task", "checkin:pickup", "checkout:pickup", "checkin:dropoff",
    "checkout:dropoff", "end_task",
]  # fmt: skip


@pytest.mark.parametrize(
    ("stage", "index", "repeat"),
    [
        ("assigned", 0, "assign_driver"),
        ("started", 1, "start_task"),
        ("at_pickup", 2, "checkin:pickup"),
        ("left_pickup", 3, "checkout:pickup"),
        ("at_dropoff", 4, "checkin:dropoff"),
        ("left_dropoff", 5, "checkout:dropoff"),
        ("done", 6, "end_task"),
    ],
)
def test_an_exact_repeat_is_refused_counted_and_never_applied_twice(
    stage: str, index: int, repeat: str
) -> None:
    state = state_for()
    task_id = create(state)
    walk_to(state, task_id, stage)
    name, body = STEPS[index]
    reply = call(state, name, task_id=task_id, **body)
    assert (reply.status, reply.body["success"]) == (200, False)
    order = state.world.orders[task_id]
    assert order.transitions == HAPPY_PATH[: index + 1]
    assert order.repeats == {repeat: 1}
    snapshot = state.snapshot(NOW)
    [seen] = [o for o in snapshot["orders"] if o["task_id"] == task_id]
    assert seen["transitions"] == HAPPY_PATH[: index + 1]
    assert snapshot["repeats"] == {str(task_id): {repeat: 1}}


def test_a_repeated_cancel_is_counted_and_a_merchant_cancel_is_named_apart() -> None:
    state = state_for()
    mine, theirs = create(state, external_id="a"), create(state, external_id="b")
    walk_to(state, mine, "started")
    walk_to(state, mine, "cancelled")
    call(state, "cancel_delivery", task_id=mine, reason_id=0)
    state.cancel_order(theirs, {"reason_id": 1}, NOW)
    assert state.world.orders[mine].transitions == ["assign_driver", "start_task",
                                                    "cancel_delivery"]  # fmt: skip
    assert state.world.orders[mine].repeats == {"cancel_delivery": 1}
    assert state.world.orders[theirs].transitions == ["cancelled_by_merchant"]


def test_a_note_sent_again_with_its_external_id_is_kept_once() -> None:
    state = state_for()
    task_id = create(state)
    walk_to(state, task_id, "at_pickup")
    first = call(state, "create_note", task_id=task_id, note="sealed", external_id="n-1")
    again = call(state, "create_note", task_id=task_id, note="sealed", external_id="n-1")
    other = call(state, "create_note", task_id=task_id, note="sealed", external_id="n-2")
    plain = call(state, "create_note", task_id=task_id, note="sealed")
    assert first.body == again.body
    assert first.body["task"]["external_id"] == "n-1"  # type: ignore[index]
    assert other.body["task"]["id"] != first.body["task"]["id"]  # type: ignore[index]
    assert plain.body["success"] is True
    order = state.world.orders[task_id]
    assert order.notes_count() == 3
    assert order.repeats == {"create_note": 1}
    bad = call(state, "create_note", task_id=task_id, note="x", external_id=7)
    assert (bad.status, bad.body["message"]) == (
        400,
        "external_id must be a string of 1 to 255 characters",
    )


def test_a_lost_answer_fault_applies_the_call_then_answers_the_error() -> None:
    state = state_for()
    task_id = create(state)
    walk_to(state, task_id, "started")
    state.faults.add({"lose_answer": True, "count": 1}, NOW)
    refused_first = call(state, "checkout", task_id=task_id)  # refused: nothing to lose
    assert refused_first.body["success"] is False
    lost = call(state, "checkin", task_id=task_id)
    assert lost.status == 503
    assert lost.body == {
        "success": False,
        "message": "sandbox fault: HTTP 503 (the call was applied)",
    }
    assert state.world.orders[task_id].transitions[-1] == "checkin:pickup"
    again = call(state, "checkin", task_id=task_id)
    assert again.body == {"success": False, "message": "Already checked in at pickup", "rc": 1}
    assert not state.faults


def test_lost_answer_faults_are_not_taken_before_the_call_and_keep_to_their_paths() -> None:
    book = FaultBook()
    book.add({"lose_answer": True, "status": 504, "count": 1, "paths": ["/a"]}, NOW)
    assert book.take("/a", NOW, api=True) is None  # the shell's check before applying
    assert book.take_lost("/b", NOW) is None
    fault = book.take_lost("/a", NOW)
    assert fault is not None
    assert (fault.status, fault.view(NOW)["lose_answer"]) == (504, True)
    assert not book

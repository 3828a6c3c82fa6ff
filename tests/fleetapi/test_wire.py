"""Tests for driver_agent.fleetapi.wire: request bodies, note payloads and the task view."""

from __future__ import annotations

import base64
import json
import re
from typing import TYPE_CHECKING

import pytest

from driver_agent.core.model import NoteKind, StopKind, TaskStatus
from driver_agent.fleetapi.wire import (
    MAX_NOTE_FILE_BYTES,
    DriverProfile,
    IntegrationEvent,
    Note,
    TaskView,
    WayPointUpdate,
    WayPointView,
    cluster_body,
    error_message,
    location_body,
    parse_id_list,
    parse_task,
    parse_task_answer,
    task_body,
)

if TYPE_CHECKING:
    from collections.abc import Callable

JPEG = b"\xff\xd8\xff\xe0" + b"\x00" * 60
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 60
PDF = b"%PDF-1.7\n" + b"\x00" * 60


def test_task_body_leaves_out_what_was_not_given() -> None:
    assert task_body(7) == {"task_id": 7}
    assert task_body(
        7, lat=40.5, lng=-73.9, reported_time_ms=1591272971000, kind=StopKind.PICKUP
    ) == {
        "task_id": 7,
        "lat": 40.5,
        "lng": -73.9,
        "reported_time": 1591272971000,
        "pickup_dropoff_option": "pickup",
    }


@pytest.mark.parametrize(
    ("lat", "lng", "field"),
    [
        pytest.param(40.0, None, "lat/lng", id="lat without lng"),
        pytest.param(None, 3.0, "lat/lng", id="lng without lat"),
        pytest.param(91.0, 3.0, "lat", id="latitude out of range"),
        pytest.param(10.0, -180.5, "lng", id="longitude out of range"),
        pytest.param(float("nan"), 3.0, "lat", id="nan latitude"),
    ],
)
def test_bad_positions_are_refused_naming_the_field(
    lat: float | None, lng: float | None, field: str
) -> None:
    with pytest.raises(ValueError, match="^" + re.escape(field)):
        task_body(1, lat=lat, lng=lng)


def test_location_body_matches_the_documented_shape() -> None:
    body = location_body(
        user_external_id="d-17",
        user_id=None,
        lat=40.77,
        lng=-73.97,
        reported_time_ms=1595592696000,
        started_tasks=[11, 12],
    )
    assert body == {
        "user_external_id": "d-17",
        "lat": 40.77,
        "lng": -73.97,
        "reported_time": 1595592696000,
        "started_tasks": [{"task_id": 11}, {"task_id": 12}],
    }
    by_id = location_body(
        user_external_id=None, user_id=5, lat=1.0, lng=2.0, reported_time_ms=None, started_tasks=()
    )
    assert by_id == {"user_id": 5, "lat": 1.0, "lng": 2.0}


def test_location_body_needs_a_driver_identifier() -> None:
    with pytest.raises(ValueError, match="user_external_id/user_id"):
        location_body(
            user_external_id=None,
            user_id=None,
            lat=1.0,
            lng=2.0,
            reported_time_ms=None,
            started_tasks=(),
        )


def test_cluster_body_carries_ids_and_the_stop() -> None:
    body = cluster_body([1, 2], kind=StopKind.PICKUP, lat=None, lng=None, reported_time_ms=5)
    assert body == {"task_ids": [1, 2], "pickup_dropoff_option": "pickup", "reported_time": 5}
    with pytest.raises(ValueError, match="task_ids"):
        cluster_body([], kind=StopKind.PICKUP, lat=None, lng=None, reported_time_ms=None)


@pytest.mark.parametrize(
    ("note", "expected"),
    [
        pytest.param(Note.text_note("left at door"), {"type": "TaskNote", "note": "left at door"}),
        pytest.param(
            Note.photo(JPEG),
            {
                "type": "TaskPhoto",
                "image": "data:image/jpeg;base64," + base64.b64encode(JPEG).decode(),
            },
            id="jpeg photo",
        ),
        pytest.param(
            Note.signature(PNG, signer="J. Doe"),
            {
                "type": "Signature",
                "note": "J. Doe",
                "image": "data:image/png;base64," + base64.b64encode(PNG).decode(),
            },
            id="png signature",
        ),
        pytest.param(
            Note(NoteKind.FORM, form={"age_checked": True}),
            {"type": "Form", "form": {"age_checked": True}},
            id="form",
        ),
        pytest.param(
            Note(NoteKind.DOCUMENT, document=PDF, document_name="pod.pdf"),
            {
                "type": "Document",
                "document": "data:application/pdf;base64," + base64.b64encode(PDF).decode(),
                "document_name": "pod.pdf",
            },
            id="pdf document",
        ),
    ],
)
def test_notes_render_their_documented_fields(note: Note, expected: dict[str, object]) -> None:
    fields = note.fields()
    assert fields == expected
    json.dumps(fields)  # ready for the wire


@pytest.mark.parametrize(
    ("build", "field"),
    [
        pytest.param(lambda: Note(NoteKind.TEXT), "note.text", id="text without text"),
        pytest.param(lambda: Note(NoteKind.PHOTO), "note.image", id="photo without image"),
        pytest.param(lambda: Note.photo(b"GIF89a" + b"\x00" * 10), "note.image", id="gif"),
        pytest.param(
            lambda: Note.photo(JPEG + b"\x00" * MAX_NOTE_FILE_BYTES), "note.image", id="too big"
        ),
        pytest.param(lambda: Note.photo(b""), "note.image", id="empty image"),
        pytest.param(
            lambda: Note(NoteKind.TEXT, text="x", image=JPEG), "note.image", id="image on text"
        ),
        pytest.param(lambda: Note(NoteKind.FORM), "note.form", id="empty form"),
        pytest.param(lambda: Note(NoteKind.DOCUMENT), "note.document", id="no document"),
        pytest.param(
            lambda: Note(NoteKind.DOCUMENT, document=b"\x00" * (MAX_NOTE_FILE_BYTES + 1)),
            "note.document",
            id="document too big",
        ),
    ],
)
def test_bad_notes_are_refused_before_sending_naming_the_field(
    build: Callable[[], object], field: str
) -> None:
    with pytest.raises(ValueError, match="^" + re.escape(field)):
        build()


def test_an_image_of_exactly_the_limit_is_accepted() -> None:
    image = JPEG + b"\x00" * (MAX_NOTE_FILE_BYTES - len(JPEG))
    assert len(Note.photo(image).image or b"") == MAX_NOTE_FILE_BYTES


def test_driver_profile_renders_only_what_is_known() -> None:
    assert DriverProfile("d-1").to_json() == {"external_id": "d-1", "name": "Delivery Driver"}
    full = DriverProfile("d-2", name="Ann", phone="+15551234567", email="a@example.com")
    assert full.to_json() == {
        "external_id": "d-2",
        "name": "Ann",
        "phone": "+15551234567",
        "email": "a@example.com",
    }


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        pytest.param({"external_id": ""}, "user.external_id", id="empty id"),
        pytest.param({"external_id": "x" * 256}, "user.external_id", id="id too long"),
        pytest.param({"external_id": "d", "name": ""}, "user.name", id="empty name"),
        pytest.param({"external_id": "d", "phone": "5551234"}, "user.phone", id="local phone"),
        pytest.param({"external_id": "d", "phone": "+1 555 1234"}, "user.phone", id="spaces"),
    ],
)
def test_bad_driver_profiles_are_refused_naming_the_field(
    kwargs: dict[str, str], field: str
) -> None:
    with pytest.raises(ValueError, match="^" + re.escape(field)):
        DriverProfile(**kwargs)


def test_update_order_parts_render_their_wire_keys() -> None:
    update = WayPointUpdate(StopKind.DROPOFF, eta="2024-01-01T10:00:00Z", note="traffic")
    assert update.to_json() == {
        "way_point_position": 2,
        "eta": "2024-01-01T10:00:00Z",
        "note": "traffic",
    }
    event = IntegrationEvent("HUB", "at the hub")
    assert event.to_json() == {"status_code": "HUB", "description": "at the hub"}


TASK = {
    "id": 4242,
    "status": 2,
    "user_id": "77",
    "active_way_point_id": 9002,
    "external_id": "order-1",
    "started_time": "2020-06-02T11:43:28.866Z",
    "way_points": [
        {
            "id": 9001,
            "position": 1,
            "lat": 40.7,
            "lng": -73.9,
            "checkout_time": "2020-06-02T12:00Z",
        },
        {"id": 9002, "position": 2, "lat": "40.8", "lng": None, "done": False, "extra": [1]},
    ],
    "customer": {"name": "someone"},
}


def test_task_answer_parses_into_a_view_ignoring_extra_fields() -> None:
    view = parse_task_answer({"success": True, "task": TASK})
    assert view == TaskView(
        task_id=4242,
        status=TaskStatus.ON_THE_WAY,
        user_id=77,
        active_way_point_id=9002,
        external_id="order-1",
        way_points=(
            WayPointView(9001, 1, 40.7, -73.9, checkout_time="2020-06-02T12:00Z"),
            WayPointView(9002, 2, 40.8, None, done=False),
        ),
    )
    assert view.way_point(StopKind.DROPOFF) == view.way_points[1]


def test_task_with_only_id_and_status_parses() -> None:
    assert parse_task({"id": 1, "status": 4}) == TaskView(1, TaskStatus.DONE)


@pytest.mark.parametrize(
    ("raw", "field"),
    [
        pytest.param({"status": 2}, "task.id", id="missing id"),
        pytest.param({"id": 1}, "task.status", id="missing status"),
        pytest.param({"id": "abc", "status": 2}, "task.id", id="non-numeric id"),
        pytest.param({"id": 1, "status": 5}, "task.status", id="unknown status"),
        pytest.param({"id": True, "status": 2}, "task.id", id="boolean id"),
        pytest.param(
            {"id": 1, "status": 2, "way_points": [{"position": 1}]}, "task.way_points[0].id"
        ),
        pytest.param([1, 2], "task", id="not an object"),
    ],
)
def test_task_parsing_is_strict_on_id_and_status(raw: object, field: str) -> None:
    with pytest.raises(ValueError, match="^" + re.escape(field)):
        parse_task(raw)


def test_task_answer_without_task_is_refused() -> None:
    with pytest.raises(ValueError, match=r"^task: missing"):
        parse_task_answer({"success": True})


def test_cluster_answers_give_way_point_ids() -> None:
    body = {"success": True, "way_points_checked_in": [3, "4"]}
    assert parse_id_list(body, "way_points_checked_in") == [3, 4]
    assert parse_id_list({"success": True}, "way_points_checked_out") == []
    with pytest.raises(ValueError, match="way_points_checked_in"):
        parse_id_list({"way_points_checked_in": "3"}, "way_points_checked_in")


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        pytest.param({"success": False, "message": "Task not found"}, "Task not found"),
        pytest.param({"status": 400, "title": "Bad value"}, "Bad value"),
        pytest.param({"error": "invalid_client"}, "invalid_client"),
        pytest.param({"success": False}, "fallback"),
        pytest.param("<html>oops</html>", "fallback"),
        pytest.param(None, "fallback"),
    ],
)
def test_error_message_finds_the_servers_reason(body: object, expected: str) -> None:
    assert error_message(body, "fallback") == expected

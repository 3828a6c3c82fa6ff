"""The developer API's answers as typed values, read from the seed's own examples (seed 001)."""

from __future__ import annotations

import re

import msgspec
import pytest

from driver_agent.core.model import TaskStatus
from driver_agent.fleetapi import devapi_views as v

# Update Order's answer in the seed, trimmed (the views ignore the fields they do not keep).
UPDATE_ORDER = b"""{
    "success": true,
    "task": {
        "title": "Daily Delivery", "user_id": 81029, "lat": null, "lng": null, "status": 4,
        "id": 8497619, "active_way_point_id": null, "external_id": "123456",
        "ready_to_execute": true, "extras": null, "delivery_price": 250,
        "task_notes": [{"title": "12 Dec, 2017 08:45 AM, Avi Eliav", "note": "Drop at dock 3",
            "id": 9487200, "way_point_id": 10633064, "url": null, "type": "TaskNote",
            "user_id": 59172, "lat": 32.1068165, "lng": 34.8348318}],
        "way_points": [{"id": 10633064, "task_id": 8497619, "done": false, "lat": 40.442228,
            "lng": -80.003107, "position": 1, "checkin_time": null, "checkout_time": null,
            "customer": {"id": 4652688, "name": "Beverage Brothers"}}],
        "team_ids": [7990], "task_inventories": [], "scans": []
    }
}"""


def decode(raw: bytes) -> dict[str, object]:
    answer: dict[str, object] = msgspec.json.decode(raw)
    return answer


def test_an_order_answer_keeps_what_a_driver_needs() -> None:
    order = v.order(decode(UPDATE_ORDER))
    assert order.id == 8497619
    assert order.status is TaskStatus.DONE
    assert order.user_id == 81029
    assert order.team_ids == (7990,)
    assert order.task_notes[0].note == "Drop at dock 3"
    way_point = order.way_point_by_id(10633064)
    assert way_point is not None
    assert way_point.position == 1
    assert way_point.done is False
    assert order.way_point_by_id(1) is None


def test_open_orders_reads_the_list_of_tasks() -> None:
    answer = {"success": True, "items": [decode(UPDATE_ORDER)["task"]]}
    assert [o.id for o in v.many(answer, "items", v.OrderView)] == [8497619]
    assert v.many({"success": True}, "items", v.OrderView) == []


def test_create_note_answers_its_note_under_task_and_update_note_under_task_note() -> None:
    created = decode(
        b'{"success": true, "task": {"id": 10416492, "note": "Google", "user_id": 44444,'
        b' "task_id": 12345, "url": "https://www.google.com", "way_point_id": 56789,'
        b' "pending_upload": false, "type": "HtmlTaskNote"}}'
    )
    note = v.one(created, "task", v.NoteView)
    assert (note.id, note.type, note.way_point_id) == (10416492, "HtmlTaskNote", 56789)
    updated = decode(
        b'{"task_note": {"note": "Changed note", "id": 12345678, "way_point_id": 87654321,'
        b' "url": "https://www.bringg.com", "type": "TaskNote", "user_id": 12345},'
        b' "success": true}'
    )
    assert v.one(updated, "task_note", v.NoteView).note == "Changed note"


def test_create_user_keeps_no_authentication_token() -> None:
    answer = decode(
        b'{"success": true, "user": {"id": 7, "name": "Manager One",'
        b' "authentication_token": "tok-SECRET", "status": "offline", "merchant_id": 9931,'
        b' "driver": true, "external_id": "1", "at_home": false}}'
    )
    user = v.one(answer, "user", v.UserView)
    assert (user.id, user.driver, user.at_home) == (7, True, False)
    assert "tok-SECRET" not in repr(user)


def test_shifts_schedules_and_availability() -> None:
    shift = v.one(
        decode(
            b'{"success": true, "shift": {"start_shift": "2018-01-15T17:23:13.688Z",'
            b' "end_shift": "2018-01-15T17:38:58.811Z", "id": 1807547}}'
        ),
        "shift",
        v.ShiftView,
    )
    assert shift.end_shift == "2018-01-15T17:38:58.811Z"
    schedules = v.many(
        decode(
            b'{"success": true, "shift_schedules": [{"id": 712761, "user_id": 58182,'
            b' "merchant_id": 11263, "start_hour": 7, "end_hour": 22}]}'
        ),
        "shift_schedules",
        v.ShiftScheduleView,
    )
    assert schedules[0].end_hour == 22
    drivers = v.many(
        {"drivers": [{"id": 1, "name": "Michael", "lat": 32.2, "lng": 34.2, "team_ids": [1, 2]}]},
        "drivers",
        v.DriverView,
    )
    assert drivers[0].team_ids == (1, 2)


def test_delivery_blocks() -> None:
    block = v.one(
        decode(
            b'{"success": true, "delivery_block": {"id": 1285, "name": "Morning Shift 005",'
            b' "start_time": "2018-07-23T08:00:00.000Z", "end_time": "2018-07-23T13:00:00.000Z",'
            b' "capacity": 2, "original_capacity": 10, "user_ids": [81617, 77509],'
            b' "users": [{"id": 81617, "name": "Dave Smithson", "email": "b@example.com"}]}}'
        ),
        "delivery_block",
        v.DeliveryBlockView,
    )
    assert block.user_ids == (81617, 77509)
    assert block.users[0].name == "Dave Smithson"


def test_home_events_answer_with_a_message() -> None:
    text = "Driver Dave Smithson (ID: 81617) got home"
    assert v.message({"success": True, "message": text}) == text
    assert v.message({"success": True}) == ""


@pytest.mark.parametrize(
    ("answer", "message"),
    [
        ({"success": True}, "task: missing from the answer"),
        ({"task": {"status": 1}}, "task.id: missing (required)"),
        ({"task": {"id": 1, "status": 5}}, "task.status"),
        ({"task": {"id": 1, "status": 1, "way_points": [{"position": 1}]}},
         "task.way_points[0].id: missing (required)"),
    ],
)  # fmt: skip
def test_a_malformed_answer_names_the_field(answer: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        v.order(answer)

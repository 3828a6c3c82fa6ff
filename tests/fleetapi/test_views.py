"""Tests for driver_agent.fleetapi.views: the task view, way points and id lists from answers."""

from __future__ import annotations

import re

import pytest

from driver_agent.core.model import StopKind, TaskStatus
from driver_agent.fleetapi.views import (
    TaskView,
    WayPointView,
    error_message,
    parse_id_list,
    parse_task,
    parse_task_answer,
)

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


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        pytest.param({"id": "x", "status": 2}, "task.id: expected an integer, got 'x'", id="id"),
        pytest.param(
            {"id": 1, "status": 2, "way_points": [{"id": 3, "lat": 91}]},
            "task.way_points[0].lat: ",
            id="latitude out of range",
        ),
        pytest.param(
            {"id": 1, "status": 2, "way_points": [{"id": 3, "done": "yes"}]},
            "task.way_points[0].done: expected true or false or null, got 'yes'",
            id="done not a boolean",
        ),
        pytest.param({"id": 1, "status": 2, "user_id": False}, "task.user_id: ", id="bool id"),
    ],
)
def test_a_malformed_field_is_named_with_its_value(raw: object, expected: str) -> None:
    with pytest.raises(ValueError, match="^" + re.escape(expected)):
        parse_task(raw)


def test_numbers_sent_as_strings_are_read_as_numbers() -> None:
    view = parse_task({"id": "5", "status": "3", "way_points": [{"id": "6", "lng": "24.9"}]})
    assert view == TaskView(5, TaskStatus.CHECKED_IN, way_points=(WayPointView(6, lng=24.9),))

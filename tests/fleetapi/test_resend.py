"""Which fleet calls are resent freely, and which refusals of a resend mean success (pure)."""

from __future__ import annotations

import json

import pytest

from driver_agent.core.endpoints import ENDPOINTS, Resend
from driver_agent.core.model import StopKind, TaskStatus
from driver_agent.fleetapi.resend import (
    call_key,
    is_already_done,
    may_have_applied,
    note_external_id,
    reconciled_status,
    resend_policy,
)


def test_every_fleet_endpoint_has_a_policy_and_only_idempotent_ones_are_free() -> None:
    free = {e for e in ENDPOINTS if resend_policy(e) is Resend.FREE}
    assert free == {"update_driver_location", "update_task"}
    assert resend_policy("some_new_call") is Resend.RECONCILED  # unknown: the careful way


@pytest.mark.parametrize(
    ("endpoint", "message", "done"),
    [
        ("checkin", "Already checked in at pickup", True),
        ("checkin", "Can not checkin of a done task", False),
        ("checkin", "Can not checkin at pickup: already checked out of pickup", False),
        ("checkout", "Can not checkout at pickup: already checked out of pickup", True),
        ("checkout", "Already checked out of dropoff", True),
        ("start_task", "Task already started", True),
        ("assign_driver", "Task is already assigned to this driver", True),
        ("assign_driver", "Can not reassign a started task", False),
        ("end_task", "Can not end of a done task", True),
        ("end_task", "Can not end a task before checking in at the dropoff", False),
        ("cancel_delivery", "Task already cancelled", True),
        ("cancel_delivery", "Can not cancel of a done task", False),
        ("cluster_check_in", "Already checked in at pickup (task 7)", True),
        ("update_driver_location", "Already checked in at pickup", False),
    ],
)
def test_only_a_refusal_naming_the_target_state_means_already_done(
    endpoint: str, message: str, done: bool
) -> None:
    assert is_already_done(endpoint, message) is done


@pytest.mark.parametrize(
    ("status", "unknown", "maybe"),
    [(None, True, True), (None, False, False), (503, False, True), (502, False, True),
     (429, False, False), (400, False, False)],
)  # fmt: skip
def test_what_may_have_been_applied(status: int | None, unknown: bool, maybe: bool) -> None:
    assert may_have_applied(status, unknown) is maybe


def test_reconciled_status_is_what_the_refusal_said() -> None:
    assert reconciled_status("checkin", StopKind.PICKUP) is TaskStatus.CHECKED_IN
    assert reconciled_status("checkout", StopKind.PICKUP) is TaskStatus.ON_THE_WAY
    assert reconciled_status("checkout", StopKind.DROPOFF) is TaskStatus.CHECKED_IN
    assert reconciled_status("end_task", None) is TaskStatus.DONE


def test_a_note_key_is_stable_for_the_same_note_and_differs_otherwise() -> None:
    key = note_external_id(1, StopKind.DROPOFF, 5, {"type": "TaskNote", "note": "hi"})
    assert key == note_external_id(1, StopKind.DROPOFF, 5, {"note": "hi", "type": "TaskNote"})
    others = {
        note_external_id(2, StopKind.DROPOFF, 5, {"type": "TaskNote", "note": "hi"}),
        note_external_id(1, StopKind.PICKUP, 5, {"type": "TaskNote", "note": "hi"}),
        note_external_id(1, StopKind.DROPOFF, 6, {"type": "TaskNote", "note": "hi"}),
        note_external_id(1, StopKind.DROPOFF, 5, {"type": "TaskNote", "note": "ho"}),
    }
    assert key not in others
    assert len(others) == 4
    assert len(key) <= 255


def test_a_call_key_names_the_order_the_stop_and_the_note_and_survives_a_json_round_trip() -> None:
    checkin = {"task_id": 7, "pickup_dropoff_option": "pickup", "lat": 1.0, "lng": 2.0}
    key = call_key("checkin", checkin)
    assert key == call_key("checkin", json.loads(json.dumps(checkin)))
    assert key == call_key("checkin", {**checkin, "lat": 3.0, "reported_time": 9})
    others = [
        call_key("checkout", checkin),
        call_key("checkin", {**checkin, "task_id": 8}),
        call_key("checkin", {**checkin, "pickup_dropoff_option": "dropoff"}),
        call_key("create_note", {"task_id": 7, "external_id": "da-note-1"}),
        call_key("create_note", {"task_id": 7, "external_id": "da-note-2"}),
        call_key(
            "create_note", {"task_id": 7, "external_id": "da-note-1", "way_point_position": 2}
        ),
    ]
    assert len({key, *others}) == 1 + len(others)
    cluster = {"task_ids": [1, 2], "pickup_dropoff_option": "pickup"}
    assert call_key("cluster_check_in", cluster) == call_key(
        "cluster_check_in", json.loads(json.dumps(cluster))
    )
    assert call_key("cluster_check_in", cluster) != call_key(
        "cluster_check_in", {**cluster, "task_ids": [1, 3]}
    )
    assert call_key("checkin", {"task_id": {"odd": [1]}}) is not None  # unhashable: still a key


def test_freely_resent_calls_have_no_key() -> None:
    assert call_key("update_driver_location", {"lat": 1.0, "lng": 2.0, "user_id": 1}) is None
    assert call_key("update_task", {"task_id": 7}) is None

"""The developer API's answers as typed values (seed 001): orders, notes, users, shifts, blocks.

Pure. As in `views.py`: msgspec decodes and checks in one pass, ids are required and the rest is
optional, numbers sent as strings are read as numbers, unknown fields are ignored, and a
malformed answer raises ValueError naming the field (`task.way_points[0].id: missing
(required)`), which the client turns into an ApiError. What a view keeps is what a driver or a
dispatcher needs; the user's `authentication_token` in Create User's answer is never kept.

Where the seed's answers put things:

    order services            {"success": true, "task": {...}}
    Open Orders               a bare list of tasks (the session wraps it as {"items": [...]})
    Create Note               {"success": true, "task": {the note}}   (sic: under "task")
    Update Note               {"success": true, "task_note": {...}}
    Create User               {"success": true, "user": {...}}
    Start / End Shift         {"success": true, "shift": {...}}
    Driver Home Events        {"success": true, "message": "Driver ... got home"}
    Get Shifts Schedule       {"success": true, "shift_schedules": [...]}
    Driver Availability       {"success": true, "drivers": [...]}
    delivery block services   {"success": true, "delivery_block": {...}} or "delivery_blocks"
    Assign / Unassign / Delete a Delivery Block   {"success": true}
    Create Customer (partner) {"success": true, "customer": {...}}
"""

from __future__ import annotations

from typing import TYPE_CHECKING, TypeVar

import msgspec

from driver_agent.core.model import TaskStatus
from driver_agent.fleetapi.views import Latitude, Longitude, WayPointView, read

if TYPE_CHECKING:
    from collections.abc import Mapping

T = TypeVar("T")


class NoteView(msgspec.Struct, frozen=True):
    id: int
    note: str | None = None
    type: str | None = None
    task_id: int | None = None
    way_point_id: int | None = None
    user_id: int | None = None
    url: str | None = None


class OrderView(msgspec.Struct, frozen=True):
    """A `task` answer: strict on `id`/`status`, lenient on the rest."""

    id: int
    status: TaskStatus
    user_id: int | None = None
    active_way_point_id: int | None = None
    external_id: str | None = None
    title: str | None = None
    ready_to_execute: bool | None = None
    team_ids: tuple[int, ...] = ()
    way_points: tuple[WayPointView, ...] = ()
    task_notes: tuple[NoteView, ...] = ()

    def way_point_by_id(self, way_point_id: int) -> WayPointView | None:
        for way_point in self.way_points:
            if way_point.id == way_point_id:
                return way_point
        return None


class UserView(msgspec.Struct, frozen=True):
    id: int
    name: str | None = None
    external_id: str | None = None
    email: str | None = None
    status: str | None = None
    driver: bool | None = None
    at_home: bool | None = None
    merchant_id: int | None = None
    team_ids: tuple[int, ...] = ()


class ShiftView(msgspec.Struct, frozen=True):
    id: int
    start_shift: str | None = None
    end_shift: str | None = None
    user_id: int | None = None


class ShiftScheduleView(msgspec.Struct, frozen=True):
    """Hours count from the start of the work week (39 is Tuesday 15:00)."""

    id: int
    user_id: int | None = None
    merchant_id: int | None = None
    team_id: int | None = None
    start_hour: int | None = None
    end_hour: int | None = None


class DriverView(msgspec.Struct, frozen=True):
    """One driver of Get Real-time Driver Availability."""

    id: int
    name: str | None = None
    lat: Latitude | None = None
    lng: Longitude | None = None
    team_ids: tuple[int, ...] = ()


class BlockUserView(msgspec.Struct, frozen=True):
    id: int
    name: str | None = None
    email: str | None = None


class DeliveryBlockView(msgspec.Struct, frozen=True):
    id: int
    name: str | None = None
    description: str | None = None
    team_id: int | None = None
    start_time: str | None = None
    end_time: str | None = None
    capacity: int | None = None
    original_capacity: int | None = None
    user_ids: tuple[int, ...] = ()
    users: tuple[BlockUserView, ...] = ()


class CustomerView(msgspec.Struct, frozen=True):
    id: int
    name: str | None = None
    external_id: str | None = None
    company_id: int | None = None
    phone: str | None = None
    email: str | None = None
    lat: Latitude | None = None
    lng: Longitude | None = None


def one(answer: Mapping[str, object], key: str, type_: type[T]) -> T:
    """`answer[key]` as a `type_`; ValueError names the field."""
    if answer.get(key) is None:
        raise ValueError(f"{key}: missing from the answer")
    return read(answer[key], type_, key)


def many(answer: Mapping[str, object], key: str, type_: type[T]) -> list[T]:
    """`answer[key]`, a list, as `type_`s (an absent or null list is empty)."""
    raw = answer.get(key)
    if raw is None:
        return []
    return read(raw, list[type_], key)  # type: ignore[valid-type]


def order(answer: Mapping[str, object]) -> OrderView:
    return one(answer, "task", OrderView)


def message(answer: Mapping[str, object]) -> str:
    """Driver Home Events' confirmation ("Driver Dave Smithson (ID: 81617) got home")."""
    text = answer.get("message")
    return text if isinstance(text, str) else ""

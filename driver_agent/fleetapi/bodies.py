"""The fleet calls' request bodies: one msgspec Struct per call, checked and built here (pure).

Each builder checks its input (ValueError naming the field), fills the call's Struct and returns
the plain dict `FleetClient.send` posts. Optional fields that are None are left out of the JSON
(`omit_defaults`), so Bringg applies its documented defaults (an omitted `reported_time` means
"now"). The bridge's outbox stores these dicts as they are and posts them later.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import msgspec

from driver_agent.fleetapi.resend import note_external_id

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from driver_agent.core.model import StopKind
    from driver_agent.fleetapi.wire import DriverProfile, IntegrationEvent, Note, WayPointUpdate

Json = dict[str, object]


class _OrderCall(msgspec.Struct, omit_defaults=True, kw_only=True):
    """The fields every per-order call shares: which order, where and when."""

    task_id: int
    lat: float | None = None
    lng: float | None = None
    reported_time: int | None = None


class AssignDriverBody(_OrderCall, omit_defaults=True, kw_only=True):
    user: Json | None = None
    user_external_id: str | None = None
    delivery_cost: float | None = None
    green_delivery: bool | None = None


class StartTaskBody(_OrderCall, omit_defaults=True, kw_only=True):
    delivery_cost: float | None = None
    green_delivery: bool | None = None


class StopBody(_OrderCall, omit_defaults=True, kw_only=True):
    """Check-in and check-out."""

    pickup_dropoff_option: str | None = None


class NoteBody(_OrderCall, omit_defaults=True, kw_only=True):
    """Add Note/POD: the stop, the note's own fields and its idempotency key."""

    pickup_dropoff_option: str | None = None
    way_point_position: int | None = None
    type: str
    note: str | None = None
    image: str | None = None
    form: Json | None = None
    document: str | None = None
    document_name: str | None = None
    external_id: str


class EndTaskBody(_OrderCall, omit_defaults=True, kw_only=True):
    delivery_cost: float | None = None


class CancelBody(_OrderCall, omit_defaults=True, kw_only=True):
    reason_id: int
    reason: str | None = None


class UpdateTaskBody(_OrderCall, omit_defaults=True, kw_only=True):
    way_points: list[Json] | None = None
    integration_event: Json | None = None
    fleet_extras: Json | None = None
    delivery_cost: float | None = None
    green_delivery: bool | None = None


class ClusterBody(msgspec.Struct, omit_defaults=True, kw_only=True):
    task_ids: list[int]
    pickup_dropoff_option: str
    lat: float | None = None
    lng: float | None = None
    reported_time: int | None = None


_as_dict = msgspec.to_builtins


def check_position(lat: float | None, lng: float | None) -> None:
    if (lat is None) != (lng is None):
        raise ValueError("lat/lng: send both or neither")
    if lat is not None and not (math.isfinite(lat) and -90.0 <= lat <= 90.0):
        raise ValueError(f"lat: {lat!r} is not a latitude")
    if lng is not None and not (math.isfinite(lng) and -180.0 <= lng <= 180.0):
        raise ValueError(f"lng: {lng!r} is not a longitude")


def _cost(delivery_cost_cents: float | None) -> float | None:
    if delivery_cost_cents is not None and not (
        math.isfinite(delivery_cost_cents) and delivery_cost_cents >= 0
    ):
        raise ValueError(f"delivery_cost_cents: {delivery_cost_cents!r} is not a cost")
    return delivery_cost_cents


def assign_driver(
    task_id: int,
    *,
    user: DriverProfile | None,
    user_external_id: str | None,
    delivery_cost_cents: float | None,
    green_delivery: bool | None,
    reported_time_ms: int | None,
) -> Json:
    if (user is None) == (user_external_id is None):
        raise ValueError("assign_driver: give exactly one of user, user_external_id")
    body = AssignDriverBody(
        task_id=task_id,
        reported_time=reported_time_ms,
        user=user.to_json() if user is not None else None,
        user_external_id=user_external_id,
        delivery_cost=_cost(delivery_cost_cents),
        green_delivery=green_delivery,
    )
    return _as_dict(body)  # type: ignore[no-any-return]


def start_task(
    task_id: int,
    *,
    lat: float | None,
    lng: float | None,
    reported_time_ms: int | None,
    delivery_cost_cents: float | None,
    green_delivery: bool | None,
) -> Json:
    check_position(lat, lng)
    body = StartTaskBody(
        task_id=task_id,
        lat=lat,
        lng=lng,
        reported_time=reported_time_ms,
        delivery_cost=_cost(delivery_cost_cents),
        green_delivery=green_delivery,
    )
    return _as_dict(body)  # type: ignore[no-any-return]


def stop(
    task_id: int,
    *,
    kind: StopKind | None,
    lat: float | None,
    lng: float | None,
    reported_time_ms: int | None,
) -> Json:
    """Check-in or check-out at `kind` (None: the API picks the active way point)."""
    check_position(lat, lng)
    body = StopBody(
        task_id=task_id,
        lat=lat,
        lng=lng,
        reported_time=reported_time_ms,
        pickup_dropoff_option=kind.value if kind is not None else None,
    )
    return _as_dict(body)  # type: ignore[no-any-return]


def note(
    task_id: int,
    note: Note,
    *,
    kind: StopKind | None,
    lat: float | None,
    lng: float | None,
    reported_time_ms: int | None,
) -> Json:
    """Add Note/POD; `external_id` is derived from the note (`resend.note_external_id`)."""
    check_position(lat, lng)
    fields = note.fields()
    body = NoteBody(
        task_id=task_id,
        lat=lat,
        lng=lng,
        reported_time=reported_time_ms,
        pickup_dropoff_option=kind.value if kind is not None else None,
        way_point_position=kind.position if kind is not None else None,
        type=note.kind.value,
        note=note.text,
        image=_str_field(fields, "image"),
        form=note.form,
        document=_str_field(fields, "document"),
        document_name=note.document_name if note.document is not None else None,
        external_id=note_external_id(task_id, kind, reported_time_ms, fields),
    )
    return _as_dict(body)  # type: ignore[no-any-return]


def _str_field(fields: Mapping[str, object], key: str) -> str | None:
    value = fields.get(key)
    return str(value) if value is not None else None


def end_task(
    task_id: int,
    *,
    lat: float | None,
    lng: float | None,
    reported_time_ms: int | None,
    delivery_cost_cents: float | None,
) -> Json:
    check_position(lat, lng)
    body = EndTaskBody(
        task_id=task_id,
        lat=lat,
        lng=lng,
        reported_time=reported_time_ms,
        delivery_cost=_cost(delivery_cost_cents),
    )
    return _as_dict(body)  # type: ignore[no-any-return]


def cancel_delivery(
    task_id: int,
    *,
    reason_id: int,
    reason: str | None,
    lat: float | None,
    lng: float | None,
    reported_time_ms: int | None,
) -> Json:
    check_position(lat, lng)
    body = CancelBody(
        task_id=task_id,
        lat=lat,
        lng=lng,
        reported_time=reported_time_ms,
        reason_id=reason_id,
        reason=reason,
    )
    return _as_dict(body)  # type: ignore[no-any-return]


def update_task(
    task_id: int,
    *,
    way_points: Sequence[WayPointUpdate],
    delivery_cost_cents: float | None,
    reported_time_ms: int | None,
    integration_event: IntegrationEvent | None,
    fleet_extras: Mapping[str, object] | None,
    green_delivery: bool | None,
) -> Json:
    body = UpdateTaskBody(
        task_id=task_id,
        reported_time=reported_time_ms,
        way_points=[way_point.to_json() for way_point in way_points] if way_points else None,
        integration_event=integration_event.to_json() if integration_event is not None else None,
        fleet_extras=dict(fleet_extras) if fleet_extras is not None else None,
        delivery_cost=_cost(delivery_cost_cents),
        green_delivery=green_delivery,
    )
    return _as_dict(body)  # type: ignore[no-any-return]


def location(
    *,
    user_external_id: str | None,
    user_id: int | None,
    lat: float,
    lng: float,
    reported_time_ms: int | None,
    started_tasks: Sequence[int],
) -> Json:
    """Update Driver Location; kept flat and cheap, it is the hot call."""
    if user_external_id is None and user_id is None:
        raise ValueError("user_external_id/user_id: one of them is required")
    check_position(lat, lng)
    # a dict built by hand (a Struct and to_builtins cost twice as much): the fields set, in
    # this order
    body: dict[str, object] = {"lat": lat, "lng": lng}
    if user_external_id is not None:
        body["user_external_id"] = user_external_id
    if user_id is not None:
        body["user_id"] = user_id
    if reported_time_ms is not None:
        body["reported_time"] = reported_time_ms
    if started_tasks:
        body["started_tasks"] = [{"task_id": task_id} for task_id in started_tasks]
    return body


def cluster(
    task_ids: Sequence[int],
    *,
    kind: StopKind,
    lat: float | None,
    lng: float | None,
    reported_time_ms: int | None,
) -> Json:
    if not task_ids:
        raise ValueError("task_ids: at least one task id is required")
    check_position(lat, lng)
    body = ClusterBody(
        task_ids=list(task_ids),
        pickup_dropoff_option=kind.value,
        lat=lat,
        lng=lng,
        reported_time=reported_time_ms,
    )
    return _as_dict(body)  # type: ignore[no-any-return]

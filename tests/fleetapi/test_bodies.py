"""Tests for driver_agent.fleetapi.bodies: every call's body, checked and built as a Struct.

The bodies moved from hand-built dicts to msgspec Structs; `_before_*` below is the dict
building they replaced (client.py and wire.py before the move), kept here as the reference: for
every endpoint and a spread of arguments, the JSON sent has the same fields and values.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

import msgspec
import pytest

from driver_agent.core.model import NoteKind, StopKind
from driver_agent.fleetapi import bodies
from driver_agent.fleetapi.resend import note_external_id
from driver_agent.fleetapi.wire import DriverProfile, IntegrationEvent, Note, WayPointUpdate

JPEG = b"\xff\xd8\xff\xe0" + b"\x00" * 60
PDF = b"%PDF-1.7\n" + b"\x00" * 60


# -- the reference: how the bodies were built before --------------------------------------------


def _before_task(
    task_id: int,
    lat: float | None = None,
    lng: float | None = None,
    reported_time_ms: int | None = None,
    kind: StopKind | None = None,
) -> dict[str, Any]:
    body: dict[str, Any] = {"task_id": task_id}
    if lat is not None:
        body["lat"] = lat
        body["lng"] = lng
    if reported_time_ms is not None:
        body["reported_time"] = reported_time_ms
    if kind is not None:
        body["pickup_dropoff_option"] = kind.value
    return body


def _before_extras(body: dict[str, Any], cost: float | None, green: bool | None) -> None:
    if cost is not None:
        body["delivery_cost"] = cost
    if green is not None:
        body["green_delivery"] = green


def _before_note(task_id: int, note: Note, kind: StopKind | None, t: int | None) -> dict[str, Any]:
    body = _before_task(task_id, reported_time_ms=t, kind=kind)
    if kind is not None:
        body["way_point_position"] = kind.position
    fields = note.fields()
    body.update(fields)
    body["external_id"] = note_external_id(task_id, kind, t, fields)
    return body


def _sent(body: dict[str, object]) -> Any:
    """What goes on the wire, decoded: the transport encodes the dict with msgspec."""
    return json.loads(msgspec.json.encode(body))


TIMES = [None, 1591272971000]
KINDS = [None, StopKind.PICKUP, StopKind.DROPOFF]
POSITIONS = [(None, None), (60.17, 24.94)]


@pytest.mark.parametrize("t", TIMES)
@pytest.mark.parametrize("cost", [None, 0.0, 1299])
@pytest.mark.parametrize("green", [None, False, True])
def test_assign_driver_and_start_task_send_what_they_sent_before(
    t: int | None, cost: float | None, green: bool | None
) -> None:
    profile = DriverProfile("d-1", name="Ann", phone="+358401234567")
    for user, external_id in ((profile, None), (None, "d-1")):
        expected = _before_task(7, reported_time_ms=t)
        if user is not None:
            expected["user"] = user.to_json()
        else:
            expected["user_external_id"] = external_id
        _before_extras(expected, cost, green)
        body = bodies.assign_driver(
            7,
            user=user,
            user_external_id=external_id,
            delivery_cost_cents=cost,
            green_delivery=green,
            reported_time_ms=t,
        )
        assert _sent(body) == body == expected
    for lat, lng in POSITIONS:
        expected = _before_task(7, lat, lng, t)
        _before_extras(expected, cost, green)
        body = bodies.start_task(
            7, lat=lat, lng=lng, reported_time_ms=t, delivery_cost_cents=cost, green_delivery=green
        )
        assert _sent(body) == body == expected


@pytest.mark.parametrize("t", TIMES)
@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize(("lat", "lng"), POSITIONS)
def test_stops_end_cancel_and_notes_send_what_they_sent_before(
    t: int | None, kind: StopKind | None, lat: float | None, lng: float | None
) -> None:
    stop = bodies.stop(7, kind=kind, lat=lat, lng=lng, reported_time_ms=t)
    assert _sent(stop) == stop == _before_task(7, lat, lng, t, kind)

    for cost in (None, 1500):
        expected = _before_task(7, lat, lng, t)
        _before_extras(expected, cost, None)
        end = bodies.end_task(7, lat=lat, lng=lng, reported_time_ms=t, delivery_cost_cents=cost)
        assert _sent(end) == end == expected

    for reason in (None, "customer away"):
        expected = {**_before_task(7, lat, lng, t), "reason_id": 3}
        if reason is not None:
            expected["reason"] = reason
        cancel = bodies.cancel_delivery(
            7, reason_id=3, reason=reason, lat=lat, lng=lng, reported_time_ms=t
        )
        assert _sent(cancel) == cancel == expected

    notes = [
        Note.text_note("left at door"),
        Note.photo(JPEG),
        Note.photo(JPEG, caption="porch"),
        Note.signature(JPEG, "B. Doe"),
        Note(NoteKind.FORM, text="form", form={"a": 1}),
        Note(NoteKind.DOCUMENT, document=PDF, document_name="pod.pdf"),
        Note(NoteKind.DOCUMENT, document=PDF),
    ]
    for note in notes:
        body = bodies.note(7, note, kind=kind, lat=None, lng=None, reported_time_ms=t)
        assert _sent(body) == body == _before_note(7, note, kind, t)


@pytest.mark.parametrize("t", TIMES)
def test_update_task_sends_what_it_sent_before(t: int | None) -> None:
    way_points = [WayPointUpdate(StopKind.DROPOFF, eta="2030-01-01T10:00:00Z", note="gate")]
    event = IntegrationEvent("AT_HUB", "at the hub")
    for points, ev, extras, cost, green in [
        ((), None, None, None, None),
        (way_points, event, {"van": "7"}, 100, False),
    ]:
        expected = _before_task(7, reported_time_ms=t)
        if points:
            expected["way_points"] = [p.to_json() for p in points]
        if ev is not None:
            expected["integration_event"] = ev.to_json()
        if extras is not None:
            expected["fleet_extras"] = dict(extras)
        _before_extras(expected, cost, green)
        body = bodies.update_task(
            7,
            way_points=points,
            delivery_cost_cents=cost,
            reported_time_ms=t,
            integration_event=ev,
            fleet_extras=extras,
            green_delivery=green,
        )
        assert _sent(body) == body == expected


@pytest.mark.parametrize("t", TIMES)
@pytest.mark.parametrize("started", [(), (11, 12)])
def test_location_and_cluster_send_what_they_sent_before(
    t: int | None, started: tuple[int, ...]
) -> None:
    for external_id, user_id in (("d-17", None), (None, 5), ("d-17", 5)):
        expected: dict[str, Any] = {"lat": 40.77, "lng": -73.97}
        if external_id is not None:
            expected["user_external_id"] = external_id
        if user_id is not None:
            expected["user_id"] = user_id
        if t is not None:
            expected["reported_time"] = t
        if started:
            expected["started_tasks"] = [{"task_id": task_id} for task_id in started]
        body = bodies.location(
            user_external_id=external_id,
            user_id=user_id,
            lat=40.77,
            lng=-73.97,
            reported_time_ms=t,
            started_tasks=started,
        )
        assert _sent(body) == body == expected
    for lat, lng in POSITIONS:
        expected = {"task_ids": [1, 2], "pickup_dropoff_option": "dropoff"}
        if lat is not None:
            expected |= {"lat": lat, "lng": lng}
        if t is not None:
            expected["reported_time"] = t
        body = bodies.cluster([1, 2], kind=StopKind.DROPOFF, lat=lat, lng=lng, reported_time_ms=t)
        assert _sent(body) == body == expected


# -- checks before anything is sent ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("lat", "lng", "field"),
    [
        pytest.param(40.0, None, "lat/lng", id="lat without lng"),
        pytest.param(None, 3.0, "lat/lng", id="lng without lat"),
        pytest.param(91.0, 3.0, "lat", id="latitude out of range"),
        pytest.param(10.0, -180.5, "lng", id="longitude out of range"),
        pytest.param(math.nan, 3.0, "lat", id="nan latitude"),
    ],
)
def test_bad_positions_are_refused_naming_the_field(
    lat: float | None, lng: float | None, field: str
) -> None:
    with pytest.raises(ValueError, match="^" + re.escape(field)):
        bodies.stop(1, kind=None, lat=lat, lng=lng, reported_time_ms=None)


@pytest.mark.parametrize("cost", [-1.0, math.inf, math.nan])
def test_a_cost_that_is_not_a_cost_is_refused(cost: float) -> None:
    with pytest.raises(ValueError, match=r"^delivery_cost_cents"):
        bodies.end_task(1, lat=None, lng=None, reported_time_ms=None, delivery_cost_cents=cost)


def test_assign_driver_needs_exactly_one_driver() -> None:
    for user, external_id in ((None, None), (DriverProfile("d"), "d")):
        with pytest.raises(ValueError, match="exactly one of user, user_external_id"):
            bodies.assign_driver(
                1,
                user=user,
                user_external_id=external_id,
                delivery_cost_cents=None,
                green_delivery=None,
                reported_time_ms=None,
            )


def test_location_needs_a_driver_identifier() -> None:
    with pytest.raises(ValueError, match="user_external_id/user_id"):
        bodies.location(
            user_external_id=None,
            user_id=None,
            lat=1.0,
            lng=2.0,
            reported_time_ms=None,
            started_tasks=(),
        )


def test_a_cluster_needs_task_ids() -> None:
    with pytest.raises(ValueError, match="task_ids"):
        bodies.cluster([], kind=StopKind.PICKUP, lat=None, lng=None, reported_time_ms=None)

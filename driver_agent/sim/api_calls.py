"""The API call that carries out each lifecycle command: which endpoint, with which arguments.

`request_for` maps a command (assign, start, check in, check out, complete, cancel, ETA update)
to a `Request`: the endpoint and a `send` that makes the call (made again, unchanged, when it was
queued while the API was away), with the position the call reports. Building a request calls
nothing; the driver makes the call (`calls.Calls.call`) and feeds the outcome back to the
lifecycle. The position comes from `reported(at)`, the phone's fix at the scheduled time; it is
drawn only for the calls that carry one, in the same order as the commands, so a seed gives the
same fixes every time.
"""

from __future__ import annotations

import datetime
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

from driver_agent.core.endpoints import Endpoint
from driver_agent.core.model import NoteKind
from driver_agent.fleetapi.client import FleetClient
from driver_agent.fleetapi.wire import DriverProfile, Note, WayPointUpdate
from driver_agent.sim.calls import Send
from driver_agent.sim.context import DriverSpec, ProofAssets
from driver_agent.sim.lifecycle_messages import (
    AddNote,
    AssignDriver,
    CancelOrder,
    CheckIn,
    CheckOut,
    CompleteOrder,
    StartOrder,
    UpdateOrder,
)

ApiCommand = (
    AssignDriver | StartOrder | CheckIn | CheckOut | CompleteOrder | CancelOrder | UpdateOrder
)
Fix = Callable[[float], tuple[float, float]]
GIVEN_UP_REASON = "driver-agent gave the order up"


@dataclass(frozen=True, slots=True)
class Request:
    """One call ready to go: its endpoint, how to make it, the position it reports."""

    endpoint: str  # the fleet API's endpoint, or the developer API's service name
    send: Send
    lat: float = 0.0
    lng: float = 0.0


def request_for(
    command: ApiCommand,
    client: FleetClient,
    spec: DriverSpec,
    *,
    known_to_api: bool,
    at: float,
    reported: Fix,
) -> Request:
    """The call for `command`, scheduled at simulated time `at`. A driver the API does not know
    yet is assigned with its profile (name, phone), after that by its external id."""
    task_id, at_ms = command.task_id, ms(at)
    send: Send
    if isinstance(command, AssignDriver):
        if known_to_api:
            send = partial(client.assign_driver, task_id, user_external_id=spec.driver_id)
        else:
            profile = DriverProfile(external_id=spec.driver_id, name=spec.name, phone=spec.phone)
            send = partial(client.assign_driver, task_id, user=profile)
        return Request(Endpoint.ASSIGN_DRIVER, send)
    if isinstance(command, CheckIn):
        lat, lng = command.lat, command.lng  # where the geofence was entered
        send = partial(
            client.checkin, task_id, kind=command.kind, lat=lat, lng=lng, reported_time_ms=at_ms
        )
        return Request(Endpoint.CHECKIN, send, lat, lng)
    if isinstance(command, UpdateOrder):
        eta = WayPointUpdate(command.kind, eta=iso(command.eta_ms))
        send = partial(client.update_task, task_id, way_points=[eta], reported_time_ms=at_ms)
        return Request(Endpoint.UPDATE_TASK, send)
    lat, lng = reported(at)
    if isinstance(command, StartOrder):
        send = partial(client.start_task, task_id, lat=lat, lng=lng, reported_time_ms=at_ms)
        return Request(Endpoint.START_TASK, send, lat, lng)
    if isinstance(command, CheckOut):
        send = partial(
            client.checkout, task_id, kind=command.kind, lat=lat, lng=lng, reported_time_ms=at_ms
        )
        return Request(Endpoint.CHECKOUT, send, lat, lng)
    if isinstance(command, CompleteOrder):
        send = partial(client.end_task, task_id, lat=lat, lng=lng, reported_time_ms=at_ms)
        return Request(Endpoint.END_TASK, send, lat, lng)
    send = partial(
        client.cancel_delivery,
        task_id,
        reason_id=command.reason_id,
        reason=command.reason or None,
        lat=lat,
        lng=lng,
        reported_time_ms=at_ms,
    )
    return Request(Endpoint.CANCEL_DELIVERY, send, lat, lng)


def note_request(
    command: AddNote, client: FleetClient, proof: ProofAssets, *, at: float, reported: Fix
) -> Request:
    """A note during the dwell: the proof images, or its text."""
    planned = command.note
    if planned.kind is NoteKind.PHOTO:
        note = proof.photo
    elif planned.kind is NoteKind.SIGNATURE:
        note = proof.signature
    else:
        note = Note.text_note(planned.text or "note")
    lat, lng = reported(at)
    send = partial(
        client.create_note,
        command.task_id, note, kind=command.kind, lat=lat, lng=lng, reported_time_ms=ms(at),
    )  # fmt: skip
    return Request(Endpoint.CREATE_NOTE, send, lat, lng)


def ms(t: float) -> int:
    """Simulated epoch seconds as the API's epoch milliseconds."""
    return round(t * 1000)


def iso(epoch_ms: int) -> str:
    moment = datetime.datetime.fromtimestamp(epoch_ms / 1000, tz=datetime.UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")

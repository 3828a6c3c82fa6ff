"""The own-fleet profile: a Bringg customer's own driver on the developer API (seed 001).

The lifecycle is the same as a delivery provider's driver's; the calls are not. A day:

    create_user (or a known user id) -> start_shift -> driver_home_event (left home)
    per order: update_order (user_id: the run's dispatcher assigns it) -> start_order
               -> checkin (Arrived to Location) -> create_note ... -> checkout (Left Location)
               ... -> end_order;  cancel_order at any point
    end_shift -> driver_home_event (got home)

The developer API has no location call (the driver app sends positions), so this profile sends
none: the tracks still drive the simulation, the maps and the report, and no ping-gap figures
are measured. ETA changes have no call either. Statistics are kept per service name, so
thresholds read `start_order.p95_ms < 500`.
"""

from __future__ import annotations

from functools import partial

from driver_agent.core.model import NoteKind
from driver_agent.fleetapi import devapi_bodies as b
from driver_agent.fleetapi.devapi import DevApiClient
from driver_agent.sim.api_calls import ApiCommand, Fix, Request
from driver_agent.sim.context import DriverSpec, ProofAssets
from driver_agent.sim.lifecycle_messages import (
    AddNote,
    AssignDriver,
    CancelOrder,
    CheckIn,
    CheckOut,
    CompleteOrder,
    StartOrder,
)


class OwnFleetProfile:
    """The developer API's calls for every driver of a run; `user_ids` maps each driver's
    external id to its Bringg user id (created at the start of its day, or given)."""

    name = "own_fleet"
    sends_locations = False

    def __init__(
        self,
        client: DevApiClient,
        user_ids: dict[str, int] | None = None,
        shift_length_s: float = 8 * 3600.0,
    ) -> None:
        self.client = client
        self.user_ids: dict[str, int] = dict(user_ids or {})
        self.shift_length_s = shift_length_s
        self.on_shift: dict[str, float] = {}  # driver id -> when its shift started (sim s)

    def shift_over(self, spec: DriverSpec, now: float) -> bool:
        """Whether the driver has been on shift for `shift_length_s` (it then takes no more
        orders: its day ends after the one in hand)."""
        started = self.on_shift.get(spec.driver_id)
        return started is not None and now - started >= self.shift_length_s

    def start_day(self, spec: DriverSpec, at: float) -> list[Request]:
        """The calls that start a driver's day, in order: create the user (unless mapped to an
        existing one), open its shift, leave home."""
        client = self.client
        day: list[Request] = []
        if spec.driver_id not in self.user_ids:
            body = b.CreateUserBody(
                name=spec.name, phone=spec.phone, external_id=spec.driver_id, driver=True
            )

            async def create_user() -> None:
                self.user_ids[spec.driver_id] = (await client.create_user(body)).id

            day.append(Request("create_user", create_user))

        async def start_shift() -> None:
            await client.start_shift(self.user_ids[spec.driver_id])
            self.on_shift[spec.driver_id] = at

        async def left_home() -> None:
            await client.driver_home_event(self.user_ids[spec.driver_id], at_home=False)

        day += [Request("start_shift", start_shift), Request("driver_home_event", left_home)]
        return day

    def end_day(self, spec: DriverSpec) -> list[Request]:
        """The calls that end it (after its last order: the run stops, or the shift is over):
        end the shift, get home. None when the shift never opened."""
        if spec.driver_id not in self.on_shift:
            return []
        client, user_id = self.client, self.user_ids[spec.driver_id]

        async def end_shift() -> None:
            await client.end_shift(user_id)
            self.on_shift.pop(spec.driver_id, None)

        async def got_home() -> None:
            await client.driver_home_event(user_id, at_home=True)

        return [Request("end_shift", end_shift), Request("driver_home_event", got_home)]

    def request_for(
        self, command: ApiCommand, spec: DriverSpec, *, at: float, reported: Fix
    ) -> Request | None:
        """The service for `command`, or None when the developer API has none (ETA updates)."""
        client, task_id = self.client, command.task_id
        user_id = self.user_ids[spec.driver_id]
        if isinstance(command, AssignDriver):  # the run's dispatcher assigns through Update Order
            body = b.UpdateOrderBody(id=task_id, user_id=user_id)
            return Request("update_order", partial(client.update_order, body))
        if isinstance(command, CheckIn):
            lat, lng = command.lat, command.lng
            send = partial(client.checkin, task_id, user_id=user_id, lat=lat, lng=lng)
            return Request("checkin", send, lat, lng)
        if not isinstance(command, StartOrder | CheckOut | CompleteOrder | CancelOrder):
            return None  # an ETA change: the developer API takes none
        lat, lng = reported(at)
        if isinstance(command, StartOrder):
            send = partial(client.start_order, task_id, user_id=user_id, lat=lat, lng=lng)
            return Request("start_order", send, lat, lng)
        if isinstance(command, CheckOut):
            send = partial(client.checkout, task_id, user_id=user_id, lat=lat, lng=lng)
            return Request("checkout", send, lat, lng)
        if isinstance(command, CompleteOrder):
            send = partial(client.end_order, task_id, user_id=user_id, lat=lat, lng=lng)
            return Request("end_order", send, lat, lng)
        send = partial(
            client.cancel_order, task_id, reason_id=command.reason_id, reason=command.reason or None
        )
        return Request("cancel_order", send, lat, lng)

    def note_request(
        self, command: AddNote, spec: DriverSpec, proof: ProofAssets, *, at: float, reported: Fix
    ) -> Request:
        """Create Note: a TaskNote with the text, or a TaskPhoto / Signature with the image."""
        planned = command.note
        image: str | None = None
        if planned.kind is NoteKind.PHOTO:
            text, image = "Photo at the door", str(proof.photo.fields()["image"])
        elif planned.kind is NoteKind.SIGNATURE:
            text, image = "Customer signature", str(proof.signature.fields()["image"])
        else:
            text = planned.text or "note"
        body = b.CreateNoteBody(
            task_id=command.task_id,
            note=text,
            type=planned.kind.value,
            image=image,
            user_id=self.user_ids[spec.driver_id],
        )
        lat, lng = reported(at)
        return Request("create_note", partial(self.client.create_note, body), lat, lng)

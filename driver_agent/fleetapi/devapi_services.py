"""The developer API's services (seed 001): the one table of names, methods and resend kinds (pure).

Each service has its own secret URL (`/services/{serviceId}/{uuid1}/{uuid2}`, `own_fleet.services`
in the config); the name is what statistics, thresholds (`start_order.p95_ms < 500`) and errors
call it. The methods are the seed's: most services are POSTs with a JSON body; Get Shifts
Schedule, Get Real-time Driver Availability and Get Delivery Block are GETs whose parameters
travel in the query string. Delete a Delivery Block is documented as a GET with a body; a GET
body is dropped by proxies, so we POST its documented body (`id`, `recurring`).

How a service may be resent after `ApiUnavailable` (`Kind`):

- `READ` and `SET`: a read, or a call that sets values (the same title twice is one title): resent
  after any failure.
- `MOVE`: a step of a shift, an order or a block (start, arrive, leave, end, assign...). Resent
  too, but once an attempt's outcome is unknown (a lost answer or a 5xx), a refusal that says the
  step is already taken (`already`) is the proof the first attempt was applied: the call counts
  as done, *reconciled*, never as a second step.
- `CREATE`: a new user, note or block. Without an idempotency key a resend after a lost answer
  could create a second one, so it is resent only when the attempt surely was not applied (never
  sent, 429, 5xx); a lost answer raises OutcomeUnknown to the caller.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from types import MappingProxyType
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Mapping


class Service(StrEnum):
    """A developer API service; the values are `own_fleet.services` keys."""

    CREATE_ORDER = "create_order"
    CREATE_USER = "create_user"
    START_SHIFT = "start_shift"
    END_SHIFT = "end_shift"
    DRIVER_HOME_EVENT = "driver_home_event"
    OPEN_ORDERS = "open_orders"
    GET_ORDER = "get_order"
    UPDATE_ORDER = "update_order"
    START_ORDER = "start_order"
    CHECKIN = "checkin"
    CREATE_NOTE = "create_note"
    UPDATE_NOTE = "update_note"
    CHECKOUT = "checkout"
    END_ORDER = "end_order"
    CANCEL_ORDER = "cancel_order"
    GET_SHIFTS_SCHEDULE = "get_shifts_schedule"
    DRIVER_AVAILABILITY = "driver_availability"
    CREATE_DELIVERY_BLOCK = "create_delivery_block"
    GET_DELIVERY_BLOCK = "get_delivery_block"
    UPDATE_DELIVERY_BLOCK = "update_delivery_block"
    DELETE_DELIVERY_BLOCK = "delete_delivery_block"
    ASSIGN_DELIVERY_BLOCK = "assign_delivery_block"
    UNASSIGN_DELIVERY_BLOCK = "unassign_delivery_block"
    DELIVERY_BLOCKS_BY_DRIVER = "delivery_blocks_by_driver"
    DELIVERY_BLOCKS_BY_TEAM = "delivery_blocks_by_team"


CREATE_CUSTOMER = "create_customer"  # the partner API's signed call (statistics name)


class Kind(StrEnum):
    READ = "read"
    SET = "set"
    MOVE = "move"
    CREATE = "create"


@dataclass(frozen=True, slots=True)
class ServiceSpec:
    """One row of the table; `already`: refusals (lower case substrings) meaning "already done"."""

    name: Service
    method: str
    kind: Kind
    already: tuple[str, ...] = ()


_DONE = "can't update a done order"  # seed 001, Left Location's documented refusal
# a resent Left Location whose first attempt moved the order on: the sandbox's words for "that
# way point is behind you" (with `way_point_id`) and "you have not arrived at the next one"
_LEFT = ("not the order's next way point", "before arriving there")

_TABLE = (
    ServiceSpec(Service.CREATE_ORDER, "POST", Kind.CREATE),
    ServiceSpec(Service.CREATE_USER, "POST", Kind.CREATE),
    ServiceSpec(
        Service.START_SHIFT, "POST", Kind.MOVE, ("already has an open shift", "already on shift")
    ),
    ServiceSpec(Service.END_SHIFT, "POST", Kind.MOVE, ("no open shift", "already ended")),
    ServiceSpec(Service.DRIVER_HOME_EVENT, "POST", Kind.SET),
    ServiceSpec(Service.OPEN_ORDERS, "POST", Kind.READ),
    ServiceSpec(Service.GET_ORDER, "POST", Kind.READ),
    ServiceSpec(Service.UPDATE_ORDER, "POST", Kind.SET),
    ServiceSpec(Service.START_ORDER, "POST", Kind.MOVE, ("already started",)),
    ServiceSpec(Service.CHECKIN, "POST", Kind.MOVE, ("already checked in", "already arrived")),
    ServiceSpec(Service.CREATE_NOTE, "POST", Kind.CREATE),
    ServiceSpec(Service.UPDATE_NOTE, "POST", Kind.SET),
    ServiceSpec(Service.CHECKOUT, "POST", Kind.MOVE, ("already checked out", _DONE, *_LEFT)),
    ServiceSpec(Service.END_ORDER, "POST", Kind.MOVE, ("already done", "already ended", _DONE)),
    ServiceSpec(
        Service.CANCEL_ORDER,
        "POST",
        Kind.MOVE,
        ("already cancelled", "can't update a cancelled order"),
    ),
    ServiceSpec(Service.GET_SHIFTS_SCHEDULE, "GET", Kind.READ),
    ServiceSpec(Service.DRIVER_AVAILABILITY, "GET", Kind.READ),
    ServiceSpec(Service.CREATE_DELIVERY_BLOCK, "POST", Kind.CREATE),
    ServiceSpec(Service.GET_DELIVERY_BLOCK, "GET", Kind.READ),
    ServiceSpec(Service.UPDATE_DELIVERY_BLOCK, "POST", Kind.SET),
    ServiceSpec(
        Service.DELETE_DELIVERY_BLOCK, "POST", Kind.MOVE, ("couldn't find delivery block",)
    ),
    ServiceSpec(Service.ASSIGN_DELIVERY_BLOCK, "POST", Kind.MOVE, ("driver already assigned",)),
    ServiceSpec(Service.UNASSIGN_DELIVERY_BLOCK, "POST", Kind.MOVE, ("driver is not assigned",)),
    ServiceSpec(Service.DELIVERY_BLOCKS_BY_DRIVER, "POST", Kind.READ),
    ServiceSpec(Service.DELIVERY_BLOCKS_BY_TEAM, "POST", Kind.READ),
)
SERVICES: Mapping[str, ServiceSpec] = MappingProxyType({str(s.name): s for s in _TABLE})


def is_already_done(spec: ServiceSpec, message: str) -> bool:
    """True when `message`, a refusal of the service, says its step is already taken."""
    lowered = message.lower()
    return any(phrase in lowered for phrase in spec.already)

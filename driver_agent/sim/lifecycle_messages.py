"""The messages of the lifecycle machine: events fed in, commands handed back to the runner.

Frozen values only; `lifecycle.py` holds the machine, `lifecycle_states.py` its states. Messages
of the same shape share a small base (no data, a stop kind, a task id); each keeps its own type.
"""

from __future__ import annotations

from dataclasses import dataclass

from driver_agent.core.model import NoteKind, Order, Stop, StopKind


@dataclass(frozen=True, slots=True)
class PlannedNote:
    """One note / proof of delivery the runner wants sent at a stop; it builds the payload."""

    kind: NoteKind = NoteKind.TEXT
    text: str = ""


# ---- shared shapes ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Signal:
    """A message without data: its type says it all."""


@dataclass(frozen=True, slots=True)
class _AtStop:
    """A message about one stop of the order."""

    kind: StopKind


@dataclass(frozen=True, slots=True)
class _OfOrder:
    """A command about the order `task_id`."""

    task_id: int


# ---- events -------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class OrderOffered:
    order: Order


class Assigned(_Signal):
    """Assign Driver succeeded."""

    __slots__ = ()


class Started(_Signal):
    """Start Order succeeded."""

    __slots__ = ()


@dataclass(frozen=True, slots=True)
class ArrivedAtStop(_AtStop):
    """The driver entered the stop's geofence at (lat, lng)."""

    lat: float
    lng: float


@dataclass(frozen=True, slots=True)
class CheckedIn(_AtStop):
    """Check In succeeded; `notes` is the runner's proof-of-delivery plan for this stop."""

    notes: tuple[PlannedNote, ...] = ()


class DwellFinished(_AtStop):
    __slots__ = ()


class CheckedOut(_AtStop):
    """Check Out succeeded."""

    __slots__ = ()


class Completed(_Signal):
    """Complete Order succeeded."""

    __slots__ = ()


@dataclass(frozen=True, slots=True)
class OrderCancelled:
    """`by_api`: the driver side cancels (emit Cancel Order); else Bringg told us (webhook)."""

    reason_id: int = 0
    reason: str = ""
    by_api: bool = False


@dataclass(frozen=True, slots=True)
class OrderUpdated:
    """Changed fields of one stop (None = unchanged) and/or a note, as the update webhook sends."""

    kind: StopKind = StopKind.DROPOFF
    lat: float | None = None
    lng: float | None = None
    address: str | None = None
    no_earlier_than_ms: int | None = None
    no_later_than_ms: int | None = None
    note: str | None = None

    def __post_init__(self) -> None:
        if (self.lat is None) != (self.lng is None):
            raise ValueError("OrderUpdated: lat and lng must be given together")


@dataclass(frozen=True, slots=True)
class Reassigned:
    """The order went to another driver."""

    to_driver: str = ""


@dataclass(frozen=True, slots=True)
class CommandFailed:
    """A call was refused for good (the client already retried what was retryable)."""

    command: Command
    reason: str = ""


@dataclass(frozen=True, slots=True)
class LocationTick:
    """The ping cadence fired; the driver is at (lat, lng)."""

    lat: float
    lng: float


@dataclass(frozen=True, slots=True)
class EtaChanged(_AtStop):
    """The runner re-estimated its arrival at a stop it has not reached yet."""

    eta_ms: int


Event = (
    OrderOffered | Assigned | Started | ArrivedAtStop | CheckedIn | DwellFinished | CheckedOut
    | Completed | OrderCancelled | OrderUpdated | Reassigned | CommandFailed | LocationTick
    | EtaChanged
)  # fmt: skip

# ---- commands -----------------------------------------------------------------------------------


class AssignDriver(_OfOrder):
    __slots__ = ()


class StartOrder(_OfOrder):
    __slots__ = ()


@dataclass(frozen=True, slots=True)
class SendLocation(_OfOrder):
    lat: float
    lng: float


@dataclass(frozen=True, slots=True)
class CheckIn(_OfOrder):
    kind: StopKind
    lat: float
    lng: float


@dataclass(frozen=True, slots=True)
class AddNote(_OfOrder):
    kind: StopKind
    note: PlannedNote


class Dwell(_AtStop):
    """Stay at the stop for the runner's dwell time, then feed `DwellFinished(kind)`."""

    __slots__ = ()


@dataclass(frozen=True, slots=True)
class CheckOut(_OfOrder):
    kind: StopKind


class CompleteOrder(_OfOrder):
    __slots__ = ()


@dataclass(frozen=True, slots=True)
class CancelOrder(_OfOrder):
    reason_id: int
    reason: str


@dataclass(frozen=True, slots=True)
class UpdateOrder(_OfOrder):
    """Update Order with a new ETA for one stop (`way_points[].eta`)."""

    kind: StopKind
    eta_ms: int


@dataclass(frozen=True, slots=True)
class DriveTo:
    """Drive (or re-route) to this stop; feed `ArrivedAtStop` on entering its geofence."""

    stop: Stop


class StopWork(_Signal):
    """No more calls and no more driving for this order."""

    __slots__ = ()


Command = (
    AssignDriver | StartOrder | SendLocation | CheckIn | AddNote | Dwell | CheckOut
    | CompleteOrder | CancelOrder | UpdateOrder | DriveTo | StopWork
)  # fmt: skip
Commands = tuple[Command, ...]

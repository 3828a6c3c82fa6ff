"""The messages of the lifecycle machine: events fed in, commands handed back to the runner.

Frozen values only; `driver_agent.lifecycle` holds the machine and re-exports all of these.
"""

from __future__ import annotations

from dataclasses import dataclass

from driver_agent.core.model import NoteKind, Order, Stop, StopKind


@dataclass(frozen=True, slots=True)
class PlannedNote:
    """One note / proof of delivery the runner wants sent at a stop; it builds the payload."""

    kind: NoteKind = NoteKind.TEXT
    text: str = ""


# ---- events -------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class OrderOffered:
    order: Order


@dataclass(frozen=True, slots=True)
class Assigned:
    """Assign Driver succeeded."""


@dataclass(frozen=True, slots=True)
class Started:
    """Start Order succeeded."""


@dataclass(frozen=True, slots=True)
class ArrivedAtStop:
    """The driver entered the stop's geofence at (lat, lng)."""

    kind: StopKind
    lat: float
    lng: float


@dataclass(frozen=True, slots=True)
class CheckedIn:
    """Check In succeeded; `notes` is the runner's proof-of-delivery plan for this stop."""

    kind: StopKind
    notes: tuple[PlannedNote, ...] = ()


@dataclass(frozen=True, slots=True)
class DwellFinished:
    kind: StopKind


@dataclass(frozen=True, slots=True)
class CheckedOut:
    """Check Out succeeded."""

    kind: StopKind


@dataclass(frozen=True, slots=True)
class Completed:
    """Complete Order succeeded."""


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
class EtaChanged:
    """The runner re-estimated its arrival at a stop it has not reached yet."""

    kind: StopKind
    eta_ms: int


Event = (
    OrderOffered
    | Assigned
    | Started
    | ArrivedAtStop
    | CheckedIn
    | DwellFinished
    | CheckedOut
    | Completed
    | OrderCancelled
    | OrderUpdated
    | Reassigned
    | CommandFailed
    | LocationTick
    | EtaChanged
)

# ---- commands -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class AssignDriver:
    task_id: int


@dataclass(frozen=True, slots=True)
class StartOrder:
    task_id: int


@dataclass(frozen=True, slots=True)
class SendLocation:
    task_id: int
    lat: float
    lng: float


@dataclass(frozen=True, slots=True)
class CheckIn:
    task_id: int
    kind: StopKind
    lat: float
    lng: float


@dataclass(frozen=True, slots=True)
class AddNote:
    task_id: int
    kind: StopKind
    note: PlannedNote


@dataclass(frozen=True, slots=True)
class Dwell:
    """Stay at the stop for the runner's dwell time, then feed `DwellFinished(kind)`."""

    kind: StopKind


@dataclass(frozen=True, slots=True)
class CheckOut:
    task_id: int
    kind: StopKind


@dataclass(frozen=True, slots=True)
class CompleteOrder:
    task_id: int


@dataclass(frozen=True, slots=True)
class CancelOrder:
    task_id: int
    reason_id: int
    reason: str


@dataclass(frozen=True, slots=True)
class UpdateOrder:
    """Update Order with a new ETA for one stop (`way_points[].eta`)."""

    task_id: int
    kind: StopKind
    eta_ms: int


@dataclass(frozen=True, slots=True)
class DriveTo:
    """Drive (or re-route) to this stop; feed `ArrivedAtStop` on entering its geofence."""

    stop: Stop


@dataclass(frozen=True, slots=True)
class StopWork:
    """No more calls and no more driving for this order."""


Command = (
    AssignDriver
    | StartOrder
    | SendLocation
    | CheckIn
    | AddNote
    | Dwell
    | CheckOut
    | CompleteOrder
    | CancelOrder
    | UpdateOrder
    | DriveTo
    | StopWork
)
Commands = tuple[Command, ...]

"""Frozen value types shared by every layer: orders, stops, fixes, note kinds, status codes."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import IntEnum, StrEnum

MAX_PING_GAP_S = 30.0
TOKEN_TTL_S = 30 * 60


class TaskStatus(IntEnum):
    """Bringg order (task) status codes, as on the wire."""

    CREATED = 0
    ASSIGNED = 1
    ON_THE_WAY = 2
    CHECKED_IN = 3
    DONE = 4
    ACCEPTED = 6
    CANCELLED = 7
    REJECTED = 8
    UNACKNOWLEDGED = 9


class StopKind(StrEnum):
    """`pickup_dropoff_option` on fleet requests."""

    PICKUP = "pickup"
    DROPOFF = "dropoff"

    @property
    def position(self) -> int:
        """`way_point_position`: 1 pickup, 2 dropoff."""
        return 1 if self is StopKind.PICKUP else 2


class NoteKind(StrEnum):
    """Note / proof-of-delivery types; values are the API's `type` strings."""

    TEXT = "TaskNote"
    PHOTO = "TaskPhoto"
    SIGNATURE = "Signature"
    FORM = "Form"
    DOCUMENT = "Document"


@dataclass(frozen=True, slots=True)
class Fix:
    """One position: degrees, simulated epoch milliseconds, optional accuracy and speed."""

    lat: float
    lng: float
    t_ms: int
    accuracy_m: float | None = None
    speed_mps: float | None = None


@dataclass(frozen=True, slots=True)
class Stop:
    """One way point of an order."""

    kind: StopKind
    lat: float
    lng: float
    way_point_id: int | None = None
    address: str = ""
    no_earlier_than_ms: int | None = None
    no_later_than_ms: int | None = None


@dataclass(frozen=True, slots=True)
class Order:
    """A delivery as the fleet knows it: Bringg's `task_id` and the two stops."""

    task_id: int
    pickup: Stop
    dropoff: Stop
    external_id: str = ""
    delivery_id: str = ""
    title: str = ""
    extras: dict[str, object] = field(default_factory=dict, compare=False, hash=False)

    def stop(self, kind: StopKind) -> Stop:
        return self.pickup if kind is StopKind.PICKUP else self.dropoff


MASK = "[secure]"  # how a secret shows wherever it would appear


class Secret:
    """A secret string that never shows itself in reprs, logs or reports."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __bool__(self) -> bool:
        return bool(self._value)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)

    def __repr__(self) -> str:
        return MASK

    __str__ = __repr__

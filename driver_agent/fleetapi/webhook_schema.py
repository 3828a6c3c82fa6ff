"""The webhook bodies' wire shapes, decoded by msgspec, and the checks a schema cannot say (pure).

`read(doc, RawX, prefix)` decodes one JSON object in one pass, not strictly: ids may come as
numbers or digit strings ("7" is 7), strings as numbers (7 is "7"), coordinates as numeric
strings; JSON `null` is absent. The helpers then say what msgspec cannot: a required id
(`required`), 1 or 2 for a position, coordinate ranges, ISO-8601 times (a missing zone means
UTC) as epoch milliseconds. Every error is a `PayloadError` naming the dotted field
(`way_points[1].lat`, list indexes zero-based) and the value.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated, TypeAlias, TypeVar

import msgspec

from driver_agent.core.errors import ConfigError
from driver_agent.core.typed import describe, join

Json: TypeAlias = dict[str, object]
T = TypeVar("T")

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_ONE_MS = timedelta(milliseconds=1)


class PayloadError(ConfigError):
    """A webhook body that cannot be used; `field` is the dotted path of the culprit."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(field, message)
        self.field = field


class UndrivableOrderError(PayloadError):
    """A well-formed order this fleet cannot drive (a way point without coordinates)."""


# -- the wire's shapes ------------------------------------------------------------------------

Int64 = Annotated[int, msgspec.Meta(ge=-(2**63), le=2**63 - 1)]
Text = str | Int64  # a string; Bringg sends some ids as numbers


class RawStop(msgspec.Struct):
    id: Int64 | None = None
    position: Int64 | None = None
    pickup_dropoff_option: Text | None = None
    lat: float | None = None
    lng: float | None = None
    address: Text | None = None
    scheduled_at: str | None = None
    no_earlier_than: str | None = None
    no_later_than: str | None = None


class RawOrder(msgspec.Struct):
    id: Int64 | None = None
    way_points: list[RawStop] | None = None
    external_id: Text | None = None
    title: Text | None = None


class RawWayPointChange(msgspec.Struct):
    id: Int64 | None = None
    position: Int64 | None = None
    address: Text | None = None
    address_second_line: Text | None = None
    city: Text | None = None
    zipcode: Text | None = None
    lat: float | None = None
    lng: float | None = None
    scheduled_at: str | None = None
    no_earlier_than: str | None = None
    no_later_than: str | None = None
    phone: Text | None = None
    email: Text | None = None
    name: Text | None = None


class RawInventory(msgspec.Struct):
    id: Int64 | None = None
    original_quantity: Int64 | None = None
    name: Text | None = None


class RawNote(msgspec.Struct):
    id: Int64 | None = None
    note: Text | None = None
    type: Text | None = None
    way_point_id: Int64 | None = None
    user_id: Int64 | None = None
    created_at: str | None = None


class RawTask(msgspec.Struct):
    id: Int64 | None = None
    packages: list[Json] | None = None
    preparation_status: Text | None = None
    preparation_status_id: Int64 | None = None


class RawUpdated(msgspec.Struct):
    task_id: Int64 | None = None
    delivery_id: Text | None = None
    way_point: RawWayPointChange | None = None
    task_inventory: RawInventory | None = None
    task_note: RawNote | None = None
    task: Json | None = None  # a partial task, or with `way_points` the whole order


class RawCancelled(msgspec.Struct):
    id: Int64 | None = None
    task_id: Int64 | None = None
    delivery_id: Text | None = None
    reason_id: Int64 | None = None
    reason: Text | None = None
    request_id: Text | None = None


class RawReturn(msgspec.Struct):
    return_task_id: Int64 | None = None


class RawMerchant(msgspec.Struct):
    merchant_uuid: Text | None = None


# -- checks a schema cannot say ---------------------------------------------------------------


def read(doc: object, type_: type[T], prefix: str = "") -> T:
    try:
        return msgspec.convert(doc, type_, strict=False)
    except msgspec.ValidationError as exc:
        place, message = describe(str(exc), doc)
        raise PayloadError(join(prefix, place), message) from None


def required(value: T | None, where: str) -> T:
    if value is None or value == "":
        raise PayloadError(where, "missing")
    return value


def text(value: str | int | None) -> str | None:
    return None if value is None else str(value)


def coordinate(value: float | None, where: str, limit: float) -> float | None:
    if value is not None and not -limit <= value <= limit:
        raise PayloadError(where, f"{value} is outside [-{limit:g}, {limit:g}]")
    return value


def time_ms(value: str | None, where: str) -> int | None:
    if value is None or value == "":
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        shown = repr(value) if len(repr(value)) <= 40 else repr(value)[:37] + "..."
        raise PayloadError(where, f"expected an ISO-8601 time, got {shown}") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return (moment - _EPOCH) // _ONE_MS


def position(value: int | None, where: str) -> int | None:
    if value is not None and value not in (1, 2):
        raise PayloadError(where, f"expected 1 or 2, got {value}")
    return value

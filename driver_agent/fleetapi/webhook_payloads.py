"""Webhook payloads Bringg sends to the fleet, parsed into typed values (pure: no I/O).

One parser per webhook (fleet-api.md §8): Delivery Created, Delivery Updated (every partial shape
and the full-payload wrapper), Delivery Cancelled, Return Delivery Created, Merchant Registered.
Unknown keys are ignored and kept in `raw`; JSON `null` counts as absent for optional fields.

Errors: `PayloadError(field, message)` names the dotted field path (`way_points[1].lat`, list
indexes zero-based) and becomes a 400. `UndrivableOrderError`, a subclass, marks a well-formed
Delivery Created that this fleet cannot drive: a way point without `lat`/`lng` (address only). We
have no geocoder and `model.Stop` needs coordinates, so such an order is refused with the field
named, and the receiver answers Bringg's documented rejection (HTTP 200, `success: false`) instead
of a 400. Times are ISO-8601 (`2020-06-30T11:00:00.000Z`; a missing zone means UTC) and become
epoch milliseconds.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import TYPE_CHECKING, TypeAlias

from driver_agent.core.errors import ConfigError
from driver_agent.core.jsonbody import BodyError, decode_json
from driver_agent.core.model import NoteKind, Order, Stop, StopKind

if TYPE_CHECKING:
    from collections.abc import Callable

Json: TypeAlias = dict[str, object]

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_INT64 = 2**63
_INTEGER = re.compile(r"[+-]?[0-9]{1,19}")  # ASCII digits only: "²".isdigit() is true
_ONE_MS = timedelta(milliseconds=1)


class PayloadError(ConfigError):
    """A webhook body that cannot be used; `field` is the dotted path of the culprit."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(field, message)
        self.field = field


class UndrivableOrderError(PayloadError):
    """A well-formed order this fleet cannot drive (a way point without coordinates)."""


class WebhookKind(StrEnum):
    """The webhooks Bringg sends to a fleet; values are the default path segments."""

    DELIVERY_CREATED = "delivery_created"
    DELIVERY_UPDATED = "delivery_updated"
    DELIVERY_CANCELLED = "delivery_cancelled"
    RETURN_DELIVERY_CREATED = "return_delivery_created"
    MERCHANT_REGISTERED = "merchant_registered"


@dataclass(frozen=True, slots=True)
class DeliveryCreated:
    """A new order for the fleet; `order.delivery_id` is filled in by the receiver."""

    order: Order
    raw: Json = field(compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class WayPointChange:
    """Changed fields of one way point; only `id` is always there."""

    id: int
    position: int | None = None
    address: str | None = None
    address_second_line: str | None = None
    city: str | None = None
    zipcode: str | None = None
    lat: float | None = None
    lng: float | None = None
    scheduled_at_ms: int | None = None
    no_earlier_than_ms: int | None = None
    no_later_than_ms: int | None = None
    phone: str | None = None
    email: str | None = None
    name: str | None = None

    @property
    def kind(self) -> StopKind | None:
        """Pickup for position 1, dropoff for 2, None when the position is not given."""
        if self.position is None:
            return None
        return StopKind.PICKUP if self.position == 1 else StopKind.DROPOFF


@dataclass(frozen=True, slots=True)
class InventoryChange:
    """`task_inventory`: a changed quantity (or name) of one inventory item."""

    id: int
    original_quantity: int | None = None
    name: str | None = None


@dataclass(frozen=True, slots=True)
class NoteChange:
    """`task_note`: a note added on Bringg's side. `kind` is None for an unknown `type`."""

    id: int
    note: str = ""
    kind: NoteKind | None = None
    way_point_id: int | None = None
    user_id: int | None = None
    created_at_ms: int | None = None


@dataclass(frozen=True, slots=True)
class TaskChange:
    """`task` without way points: packages and preparation status."""

    id: int
    packages: tuple[Json, ...] = ()
    preparation_status: str | None = None
    preparation_status_id: int | None = None


@dataclass(frozen=True, slots=True)
class DeliveryUpdated:
    """A change to a delivery; exactly the parts Bringg sent are set.

    With "full payload update" configured, `task` holds the whole order: then `full_order` is it
    parsed like a Delivery Created and `task` is None.
    """

    task_id: int
    delivery_id: str
    way_point: WayPointChange | None = None
    inventory: InventoryChange | None = None
    note: NoteChange | None = None
    task: TaskChange | None = None
    full_order: Order | None = None
    raw: Json = field(default_factory=dict, compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class DeliveryCancelled:
    """Bringg cancelled the delivery; reason fields may be absent."""

    task_id: int
    delivery_id: str
    reason_id: int | None = None
    reason: str | None = None
    request_id: str | None = None


@dataclass(frozen=True, slots=True)
class ReturnDeliveryCreated:
    """A return task (body mostly undocumented: only `return_task_id` is relied on)."""

    return_task_id: int
    raw: Json = field(compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class MerchantRegistered:
    """A merchant added this fleet."""

    merchant_uuid: str
    raw: Json = field(compare=False, repr=False)


WebhookEvent: TypeAlias = (
    DeliveryCreated
    | DeliveryUpdated
    | DeliveryCancelled
    | ReturnDeliveryCreated
    | MerchantRegistered
)


# -- reading fields -------------------------------------------------------------------------


def _path(prefix: str, key: str) -> str:
    return f"{prefix}.{key}" if prefix else key


def _int(doc: Json, key: str, prefix: str = "") -> int | None:
    value = doc.get(key)
    where = _path(prefix, key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise PayloadError(where, f"expected an integer, got {type(value).__name__}")
    if isinstance(value, float):
        if not value.is_integer():
            raise PayloadError(where, f"expected an integer, got {value!r}")
        value = int(value)
    elif isinstance(value, str):
        if not _INTEGER.fullmatch(value.strip()):
            raise PayloadError(where, f"expected an integer, got {_show(value)}")
        value = int(value)
    if not -_INT64 <= value < _INT64:
        raise PayloadError(where, "does not fit in 64 bits")
    return value


def _req_int(doc: Json, key: str, prefix: str = "") -> int:
    value = _int(doc, key, prefix)
    if value is None:
        raise PayloadError(_path(prefix, key), "missing")
    return value


def _str(doc: Json, key: str, prefix: str = "") -> str | None:
    value = doc.get(key)
    where = _path(prefix, key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise PayloadError(where, f"expected a string, got {type(value).__name__}")
    return str(value)


def _req_str(doc: Json, key: str, prefix: str = "") -> str:
    value = _str(doc, key, prefix)
    if not value:
        raise PayloadError(_path(prefix, key), "missing")
    return value


def _coordinate(doc: Json, key: str, prefix: str, limit: float) -> float | None:
    value = doc.get(key)
    where = _path(prefix, key)
    if value is None:
        return None
    if isinstance(value, str):
        text = value
        try:
            value = float(text)
        except ValueError:
            raise PayloadError(where, f"expected a number, got {_show(text)}") from None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise PayloadError(where, f"expected a number, got {type(value).__name__}")
    number = float(value)
    if not -limit <= number <= limit:
        raise PayloadError(where, f"{number} is outside [-{limit:g}, {limit:g}]")
    return number


def _time_ms(doc: Json, key: str, prefix: str = "") -> int | None:
    value = doc.get(key)
    where = _path(prefix, key)
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise PayloadError(where, f"expected an ISO-8601 time, got {type(value).__name__}")
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise PayloadError(where, f"expected an ISO-8601 time, got {_show(value)}") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return (moment - _EPOCH) // _ONE_MS


def _object(doc: Json, key: str, prefix: str = "") -> Json | None:
    value = doc.get(key)
    where = _path(prefix, key)
    if value is None:
        return None
    if not isinstance(value, dict):
        raise PayloadError(where, f"expected an object, got {type(value).__name__}")
    return value


def _list(doc: Json, key: str, prefix: str = "", *, required: bool = False) -> list[object]:
    value = doc.get(key)
    where = _path(prefix, key)
    if value is None:
        if required:
            raise PayloadError(where, "missing")
        return []
    if not isinstance(value, list):
        raise PayloadError(where, f"expected a list, got {type(value).__name__}")
    return value


# -- whole bodies ---------------------------------------------------------------------------


def decode_body(body: bytes) -> Json:
    """The JSON object of a webhook body (`jsonbody`'s limits); `PayloadError("body", ...)`."""
    try:
        doc = decode_json(body)
    except BodyError as exc:
        raise PayloadError("body", exc.message) from None
    if not isinstance(doc, dict):
        raise PayloadError("body", f"expected a JSON object, got {type(doc).__name__}")
    return doc


def _stop_kind(wp: Json, prefix: str) -> StopKind:
    option = wp.get("pickup_dropoff_option")
    if isinstance(option, str) and option in (StopKind.PICKUP, StopKind.DROPOFF):
        return StopKind(option)
    if isinstance(option, int) and not isinstance(option, bool) and option in (0, 1):
        return StopKind.PICKUP if option == 0 else StopKind.DROPOFF  # merchant-webhook integers
    if option is not None:
        raise PayloadError(_path(prefix, "pickup_dropoff_option"), f"unsupported {option!r}")
    position = _req_int(wp, "position", prefix)
    if position not in (1, 2):
        raise PayloadError(_path(prefix, "position"), f"expected 1 or 2, got {position}")
    return StopKind.PICKUP if position == 1 else StopKind.DROPOFF


def _stop(wp: Json, prefix: str) -> Stop:
    kind = _stop_kind(wp, prefix)
    lat = _coordinate(wp, "lat", prefix, 90.0)
    lng = _coordinate(wp, "lng", prefix, 180.0)
    if lat is None or lng is None:
        where = _path(prefix, "lat" if lat is None else "lng")
        raise UndrivableOrderError(
            where, "missing: this fleet drives to coordinates, not addresses"
        )
    return Stop(
        kind=kind,
        lat=lat,
        lng=lng,
        way_point_id=_int(wp, "id", prefix),
        address=_str(wp, "address", prefix) or "",
        no_earlier_than_ms=_time_ms(wp, "no_earlier_than", prefix),
        no_later_than_ms=_time_ms(wp, "no_later_than", prefix),
    )


def parse_order(doc: Json, prefix: str = "") -> Order:
    """The Delivery Created order object (also the `task` of a full-payload update)."""
    task_id = _req_int(doc, "id", prefix)
    way_points_key = _path(prefix, "way_points")
    way_points = _list(doc, "way_points", prefix, required=True)
    if len(way_points) != 2:
        raise PayloadError(way_points_key, f"expected exactly 2 way points, got {len(way_points)}")
    stops: dict[StopKind, Stop] = {}
    scheduled: dict[str, int] = {}
    for index, wp in enumerate(way_points):
        wp_prefix = f"{way_points_key}[{index}]"
        if not isinstance(wp, dict):
            raise PayloadError(wp_prefix, f"expected an object, got {type(wp).__name__}")
        stop = _stop(wp, wp_prefix)
        if stop.kind in stops:
            raise PayloadError(wp_prefix, f"a second {stop.kind} way point; need one of each")
        stops[stop.kind] = stop
        at_ms = _time_ms(wp, "scheduled_at", wp_prefix)
        if at_ms is not None:
            scheduled[stop.kind.value] = at_ms
    extras: dict[str, object] = {}
    for key in ("request_id", "customer", "priority", "type"):
        if doc.get(key) is not None:
            extras[key] = doc[key]
    if scheduled:
        extras["scheduled_at_ms"] = scheduled
    return Order(
        task_id=task_id,
        pickup=stops[StopKind.PICKUP],
        dropoff=stops[StopKind.DROPOFF],
        external_id=_str(doc, "external_id", prefix) or "",
        title=_str(doc, "title", prefix) or "",
        extras=extras,
    )


def parse_delivery_created(doc: Json) -> DeliveryCreated:
    return DeliveryCreated(order=parse_order(doc), raw=doc)


def _way_point_change(wp: Json) -> WayPointChange:
    p = "way_point"
    position = _int(wp, "position", p)
    if position is not None and position not in (1, 2):
        raise PayloadError(f"{p}.position", f"expected 1 or 2, got {position}")
    return WayPointChange(
        id=_req_int(wp, "id", p),
        position=position,
        address=_str(wp, "address", p),
        address_second_line=_str(wp, "address_second_line", p),
        city=_str(wp, "city", p),
        zipcode=_str(wp, "zipcode", p),
        lat=_coordinate(wp, "lat", p, 90.0),
        lng=_coordinate(wp, "lng", p, 180.0),
        scheduled_at_ms=_time_ms(wp, "scheduled_at", p),
        no_earlier_than_ms=_time_ms(wp, "no_earlier_than", p),
        no_later_than_ms=_time_ms(wp, "no_later_than", p),
        phone=_str(wp, "phone", p),
        email=_str(wp, "email", p),
        name=_str(wp, "name", p),
    )


def _inventory_change(item: Json) -> InventoryChange:
    p = "task_inventory"
    return InventoryChange(
        id=_req_int(item, "id", p),
        original_quantity=_int(item, "original_quantity", p),
        name=_str(item, "name", p),
    )


def _note_change(note: Json) -> NoteChange:
    p = "task_note"
    type_ = _str(note, "type", p)
    kinds = {kind.value: kind for kind in NoteKind}
    return NoteChange(
        id=_req_int(note, "id", p),
        note=_str(note, "note", p) or "",
        kind=kinds.get(type_) if type_ is not None else None,
        way_point_id=_int(note, "way_point_id", p),
        user_id=_int(note, "user_id", p),
        created_at_ms=_time_ms(note, "created_at", p),
    )


def _task_change(task: Json) -> TaskChange:
    p = "task"
    packages = _list(task, "packages", p)
    for index, package in enumerate(packages):
        if not isinstance(package, dict):
            raise PayloadError(f"{p}.packages[{index}]", "expected an object")
    return TaskChange(
        id=_req_int(task, "id", p),
        packages=tuple(package for package in packages if isinstance(package, dict)),
        preparation_status=_str(task, "preparation_status", p),
        preparation_status_id=_int(task, "preparation_status_id", p),
    )


def parse_delivery_updated(doc: Json) -> DeliveryUpdated:
    task_id = _req_int(doc, "task_id")
    delivery_id = _req_str(doc, "delivery_id")
    way_point = _object(doc, "way_point")
    inventory = _object(doc, "task_inventory")
    note = _object(doc, "task_note")
    task = _object(doc, "task")
    if way_point is None and inventory is None and note is None and task is None:
        raise PayloadError(
            "way_point", "missing: expected way_point, task_inventory, task_note or task"
        )
    full = task is not None and "way_points" in task
    return DeliveryUpdated(
        task_id=task_id,
        delivery_id=delivery_id,
        way_point=_way_point_change(way_point) if way_point is not None else None,
        inventory=_inventory_change(inventory) if inventory is not None else None,
        note=_note_change(note) if note is not None else None,
        task=_task_change(task) if task is not None and not full else None,
        full_order=parse_order(task, "task") if task is not None and full else None,
        raw=doc,
    )


def parse_delivery_cancelled(doc: Json) -> DeliveryCancelled:
    key = "id" if doc.get("id") is not None or doc.get("task_id") is None else "task_id"
    return DeliveryCancelled(
        task_id=_req_int(doc, key),
        delivery_id=_req_str(doc, "delivery_id"),
        reason_id=_int(doc, "reason_id"),
        reason=_str(doc, "reason"),
        request_id=_str(doc, "request_id"),
    )


def parse_return_delivery_created(doc: Json) -> ReturnDeliveryCreated:
    return ReturnDeliveryCreated(return_task_id=_req_int(doc, "return_task_id"), raw=doc)


def parse_merchant_registered(doc: Json) -> MerchantRegistered:
    return MerchantRegistered(merchant_uuid=_req_str(doc, "merchant_uuid"), raw=doc)


_PARSERS: dict[WebhookKind, Callable[[Json], WebhookEvent]] = {
    WebhookKind.DELIVERY_CREATED: parse_delivery_created,
    WebhookKind.DELIVERY_UPDATED: parse_delivery_updated,
    WebhookKind.DELIVERY_CANCELLED: parse_delivery_cancelled,
    WebhookKind.RETURN_DELIVERY_CREATED: parse_return_delivery_created,
    WebhookKind.MERCHANT_REGISTERED: parse_merchant_registered,
}


def parse_webhook(kind: WebhookKind, body: bytes) -> WebhookEvent:
    """Decode and parse one webhook body; raises `PayloadError` naming the field."""
    return _PARSERS[kind](decode_body(body))


def _show(value: str) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."

"""Webhook payloads Bringg sends to the fleet, parsed into typed values (pure: no I/O).

One parser per webhook (fleet-api.md §8): Delivery Created, Delivery Updated (every partial shape
and the full-payload wrapper), Delivery Cancelled, Return Delivery Created, Merchant Registered.
Unknown keys are ignored and kept in `raw`; JSON `null` counts as absent for optional fields.

Each body is decoded in one pass by msgspec into a Struct that mirrors the wire
(`webhook_schema.py`: ids may come as numbers or digit strings, strings as numbers, coordinates as
numeric strings), checked for what a schema cannot say (required ids, 1 or 2 for a position,
coordinate ranges, ISO-8601 times) and turned into the typed events below.

Errors: `PayloadError(field, message)` names the dotted field path (`way_points[1].lat`, list
indexes zero-based) and the value, and becomes a 400. `UndrivableOrderError`, a subclass, marks
a well-formed Delivery Created that this fleet cannot drive: a way point without `lat`/`lng`
(address only). We have no geocoder and `model.Stop` needs coordinates, so such an order is
refused with the field named, and the receiver answers Bringg's documented rejection (HTTP 200,
`success: false`) instead of a 400. Times are ISO-8601 (`2020-06-30T11:00:00.000Z`; a missing
zone means UTC) and become epoch milliseconds.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING, TypeAlias

from driver_agent.core.jsonbody import BodyError, decode_json
from driver_agent.core.model import NoteKind, Order, Stop, StopKind
from driver_agent.core.typed import join
from driver_agent.fleetapi import webhook_schema as schema
from driver_agent.fleetapi.webhook_schema import Json, PayloadError, UndrivableOrderError

if TYPE_CHECKING:
    from collections.abc import Callable

__all__ = [
    "DeliveryCancelled",
    "DeliveryCreated",
    "DeliveryUpdated",
    "InventoryChange",
    "MerchantRegistered",
    "NoteChange",
    "PayloadError",
    "ReturnDeliveryCreated",
    "TaskChange",
    "UndrivableOrderError",
    "WayPointChange",
    "WebhookEvent",
    "WebhookKind",
    "decode_body",
    "parse_order",
    "parse_webhook",
]


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


_OPTIONS: dict[str | int, StopKind] = {
    StopKind.PICKUP.value: StopKind.PICKUP,
    StopKind.DROPOFF.value: StopKind.DROPOFF,
    0: StopKind.PICKUP,  # merchant-webhook integers
    1: StopKind.DROPOFF,
}


def _stop_kind(wp: schema.RawStop, prefix: str) -> StopKind:
    option = wp.pickup_dropoff_option
    if option is not None:
        kind = _OPTIONS.get(option)
        if kind is None:
            raise PayloadError(join(prefix, "pickup_dropoff_option"), f"unsupported {option!r}")
        return kind
    where = join(prefix, "position")
    position = schema.position(schema.required(wp.position, where), where)
    return StopKind.PICKUP if position == 1 else StopKind.DROPOFF


def _stop(wp: schema.RawStop, prefix: str) -> Stop:
    kind = _stop_kind(wp, prefix)
    lat = schema.coordinate(wp.lat, join(prefix, "lat"), 90.0)
    lng = schema.coordinate(wp.lng, join(prefix, "lng"), 180.0)
    if lat is None or lng is None:
        where = join(prefix, "lat" if lat is None else "lng")
        raise UndrivableOrderError(
            where, "missing: this fleet drives to coordinates, not addresses"
        )
    return Stop(
        kind=kind,
        lat=lat,
        lng=lng,
        way_point_id=wp.id,
        address=schema.text(wp.address) or "",
        no_earlier_than_ms=schema.time_ms(wp.no_earlier_than, join(prefix, "no_earlier_than")),
        no_later_than_ms=schema.time_ms(wp.no_later_than, join(prefix, "no_later_than")),
    )


def parse_order(doc: Json, prefix: str = "") -> Order:
    """The Delivery Created order object (also the `task` of a full-payload update)."""
    raw = schema.read(doc, schema.RawOrder, prefix)
    task_id = schema.required(raw.id, join(prefix, "id"))
    way_points_key = join(prefix, "way_points")
    way_points = schema.required(raw.way_points, way_points_key)
    if len(way_points) != 2:
        raise PayloadError(way_points_key, f"expected exactly 2 way points, got {len(way_points)}")
    stops: dict[StopKind, Stop] = {}
    scheduled: dict[str, int] = {}
    for index, wp in enumerate(way_points):
        wp_prefix = f"{way_points_key}[{index}]"
        stop = _stop(wp, wp_prefix)
        if stop.kind in stops:
            raise PayloadError(wp_prefix, f"a second {stop.kind} way point; need one of each")
        stops[stop.kind] = stop
        at_ms = schema.time_ms(wp.scheduled_at, join(wp_prefix, "scheduled_at"))
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
        external_id=schema.text(raw.external_id) or "",
        title=schema.text(raw.title) or "",
        extras=extras,
    )


def parse_delivery_created(doc: Json) -> DeliveryCreated:
    return DeliveryCreated(order=parse_order(doc), raw=doc)


def _way_point_change(wp: schema.RawWayPointChange) -> WayPointChange:
    p = "way_point"
    return WayPointChange(
        id=schema.required(wp.id, f"{p}.id"),
        position=schema.position(wp.position, f"{p}.position"),
        address=schema.text(wp.address),
        address_second_line=schema.text(wp.address_second_line),
        city=schema.text(wp.city),
        zipcode=schema.text(wp.zipcode),
        lat=schema.coordinate(wp.lat, f"{p}.lat", 90.0),
        lng=schema.coordinate(wp.lng, f"{p}.lng", 180.0),
        scheduled_at_ms=schema.time_ms(wp.scheduled_at, f"{p}.scheduled_at"),
        no_earlier_than_ms=schema.time_ms(wp.no_earlier_than, f"{p}.no_earlier_than"),
        no_later_than_ms=schema.time_ms(wp.no_later_than, f"{p}.no_later_than"),
        phone=schema.text(wp.phone),
        email=schema.text(wp.email),
        name=schema.text(wp.name),
    )


def _inventory_change(item: schema.RawInventory) -> InventoryChange:
    return InventoryChange(
        id=schema.required(item.id, "task_inventory.id"),
        original_quantity=item.original_quantity,
        name=schema.text(item.name),
    )


_NOTE_KINDS: dict[str, NoteKind] = {kind.value: kind for kind in NoteKind}


def _note_change(note: schema.RawNote) -> NoteChange:
    return NoteChange(
        id=schema.required(note.id, "task_note.id"),
        note=schema.text(note.note) or "",
        kind=_NOTE_KINDS.get(str(note.type)) if note.type is not None else None,
        way_point_id=note.way_point_id,
        user_id=note.user_id,
        created_at_ms=schema.time_ms(note.created_at, "task_note.created_at"),
    )


def _task_change(doc: Json) -> TaskChange:
    task = schema.read(doc, schema.RawTask, "task")
    return TaskChange(
        id=schema.required(task.id, "task.id"),
        packages=tuple(task.packages or ()),
        preparation_status=schema.text(task.preparation_status),
        preparation_status_id=task.preparation_status_id,
    )


def parse_delivery_updated(doc: Json) -> DeliveryUpdated:
    raw = schema.read(doc, schema.RawUpdated)
    task_id = schema.required(raw.task_id, "task_id")
    delivery_id = schema.required(schema.text(raw.delivery_id), "delivery_id")
    way_point, inventory, note, task = raw.way_point, raw.task_inventory, raw.task_note, raw.task
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
    raw = schema.read(doc, schema.RawCancelled)
    by_id = raw.id is not None or raw.task_id is None
    return DeliveryCancelled(
        task_id=schema.required(raw.id if by_id else raw.task_id, "id" if by_id else "task_id"),
        delivery_id=schema.required(schema.text(raw.delivery_id), "delivery_id"),
        reason_id=raw.reason_id,
        reason=schema.text(raw.reason),
        request_id=schema.text(raw.request_id),
    )


def parse_return_delivery_created(doc: Json) -> ReturnDeliveryCreated:
    raw = schema.read(doc, schema.RawReturn)
    return ReturnDeliveryCreated(
        return_task_id=schema.required(raw.return_task_id, "return_task_id"), raw=doc
    )


def parse_merchant_registered(doc: Json) -> MerchantRegistered:
    raw = schema.read(doc, schema.RawMerchant)
    return MerchantRegistered(
        merchant_uuid=schema.required(schema.text(raw.merchant_uuid), "merchant_uuid"), raw=doc
    )


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

"""The merchant side, so that orders exist: Create Order (seeds 001, 004) and order changes (pure).

Every created order gets exactly two way points (a lone way point is the dropoff, with the
sandbox depot as pickup) and coordinates (the geocoding stand-in fills missing ones), so every
order can be driven. Creation, updates and cancellations queue the matching fleet webhook.
"""

from __future__ import annotations

from driver_agent.core.model import TaskStatus
from driver_agent.sandbox.fleet import cancel_order, refuse_uncancellable
from driver_agent.sandbox.geocode import geocode
from driver_agent.sandbox.records import DateError, Order, WayPoint, iso_ms, parse_date
from driver_agent.sandbox.requests import CancelReason, Place, Quantity, decode_api
from driver_agent.sandbox.world import (
    JsonDict,
    Reply,
    Violation,
    WebhookJob,
    WebhookKind,
    World,
    missing,
)

MAX_WAY_POINTS_MESSAGE = (
    "An order can not include more than 2 way points. Please remove additional destinations."
)
QUANTITY_MESSAGE = "task_inventory.original_quantity must be a non-negative integer"
DEPOT_ADDRESS = "Sandbox depot"
WAY_POINT_EXTRAS = (
    "address_second_line",
    "city",
    "state",
    "zipcode",
    "phone",
    "email",
    "name",
    "location_name",
    "address_type",
    "house_number",
    "company_name",
    "delivery_confirmation_signature",
    "must_approve_inventory",
)
DATE_FIELDS = ("scheduled_at", "no_earlier_than", "no_later_than")
CUSTOMER_FIELDS = ("name", "address", "address_second_line", "phone", "email", "lat", "lng")


def refused_200(message: str) -> Violation:
    """Seed 004's business errors: HTTP 200 with success false."""
    return Violation(200, message)


def date_iso(value: object, field_name: str, now_s: float) -> str:
    try:
        return iso_ms(parse_date(value, field_name, now_s))
    except DateError as e:
        raise refused_200(e.message) from None


class _Draft:
    """Customers made while reading a request; committed only if the whole request is valid."""

    def __init__(self, world: World) -> None:
        self.world = world
        self.customers: list[JsonDict] = []

    def customer(self, raw: object, where: str) -> JsonDict:
        given = decode_api(raw, JsonDict, where=where)
        customer: JsonDict = {"id": self.world.customer_id()}
        customer.update({k: given.get(k) for k in CUSTOMER_FIELDS})
        customer["external_id"] = str(given.get("external_id") or customer["id"])
        self.customers.append(customer)
        return customer

    def known_customer(self, customer_id: object) -> JsonDict:
        found = self.world.customers.get(customer_id) if isinstance(customer_id, int) else None
        if found is None:
            raise refused_200(f"Customer {customer_id} does not exist")
        return found

    def commit(self) -> None:
        for customer in self.customers:
            self.world.customers[int(customer["id"])] = customer  # type: ignore[call-overload]


def _inventory(
    world: World, items: object, where: str, parent: int | None = None
) -> list[JsonDict]:
    if items is None:
        return []
    out: list[JsonDict] = []
    for i, item in enumerate(decode_api(items, list[JsonDict], where=where)):
        row_id = world.inventory_id()
        row: JsonDict = {
            "id": row_id,
            "inventory_id": item.get("id"),
            "name": item.get("name"),
            "original_quantity": item.get("original_quantity", 1),
            "quantity": 0,
            "price": item.get("price"),
            "external_id": item.get("external_id"),
            "scan_string": item.get("scan_string"),
            "pending": item.get("pending"),
            "note": item.get("note"),
            "weight": item.get("weight"),
            "parent_task_inventory_id": parent,
        }
        out.append(row)
        out.extend(_inventory(world, item.get("inventory"), f"{where}[{i}].inventory", row_id))
    return out


def _way_point(
    draft: _Draft, given: object, i: int, position: int, now_s: float, key: str
) -> WayPoint:
    world, where = draft.world, f"way_points[{i}]"
    raw = decode_api(given, JsonDict, where=where)
    customer: JsonDict | None = None
    if raw.get("customer") is not None:
        customer = draft.customer(raw["customer"], f"{where}.customer")
    elif raw.get("customer_id") is not None:
        customer = draft.known_customer(raw["customer_id"])
    address = raw.get("address") or (customer or {}).get("address")
    if address is not None and not isinstance(address, str):
        raise Violation(400, f"{where}.address must be a string")
    place = decode_api(raw, Place, where=where)
    lat, lng = place.lat, place.lng
    if lat is None or lng is None:
        lat, lng = geocode(
            address or f"{key} way point {position}", world.settings.area, world.settings.places
        )
    wp = WayPoint(world.way_point_id(), position, lat, lng, address, customer=customer)
    for name in DATE_FIELDS:
        if raw.get(name) is not None:
            setattr(wp, name, date_iso(raw[name], name, now_s))
    wp.extra = {k: raw[k] for k in WAY_POINT_EXTRAS if k in raw}
    for row in _inventory(world, raw.get("inventory"), f"{where}.inventory"):
        row["way_point_id"] = wp.id
        wp.inventory.append(row)
    note = raw.get("note")
    if isinstance(note, str) and note:
        wp.notes.append(merchant_note(world, wp, note, now_s))
    return wp


def merchant_note(world: World, wp: WayPoint, text: str, now_s: float) -> JsonDict:
    note_id, created = world.note_id(), iso_ms(now_s)
    return {
        "id": note_id,
        "note": text,
        "type": "TaskNote",
        "way_point_id": wp.id,
        "user_id": None,
        "created_at": created,
        "updated_at": created,
        "external_id": str(note_id),
    }


def new_order(
    world: World, draft: _Draft, raw_way_points: list[object], body: JsonDict, now_s: float
) -> Order:
    """Build (not yet store) an order from create_task-shaped fields."""
    external_id = body.get("external_id")
    if external_id is not None:
        external_id = str(external_id)
        if external_id in world.by_external_id:
            raise refused_200(f"Task with external id {external_id} exists already")
    title = body.get("title") or ""
    if not isinstance(title, str):
        raise Violation(400, "title must be a string")
    customer: JsonDict | None = None
    if body.get("customer") is not None:
        customer = draft.customer(body["customer"], "customer")
    elif body.get("customer_id") is not None:
        customer = draft.known_customer(body["customer_id"])
    if len(raw_way_points) > 2:
        raise Violation(400, MAX_WAY_POINTS_MESSAGE)
    key = f"task {external_id or title}"
    raw = list(raw_way_points)
    if not raw:
        if customer is None or not customer.get("address"):
            raise missing("way_points")
        raw = [
            {"address": customer["address"], "lat": customer.get("lat"), "lng": customer.get("lng")}
        ]
    way_points = [
        _way_point(draft, r, i, i + 1 + (2 - len(raw)), now_s, key) for i, r in enumerate(raw)
    ]
    if len(way_points) == 1:
        lat, lng = geocode(DEPOT_ADDRESS, world.settings.area, world.settings.places)
        way_points.insert(0, WayPoint(world.way_point_id(), 1, lat, lng, DEPOT_ADDRESS))
    if customer is None:
        customer = way_points[-1].customer
    if customer is None:
        raise missing("customer")
    for name in DATE_FIELDS:
        if body.get(name) is not None:
            value = date_iso(body[name], name, now_s)
            if getattr(way_points[-1], name) is None:
                setattr(way_points[-1], name, value)
    extras = body.get("extras")
    return Order(
        id=world.task_id(),
        uuid=world.new_uuid(),
        external_id=external_id,
        title=title,
        created_at=now_s,
        way_points=way_points,
        customer=customer,
        extras=extras if isinstance(extras, dict) else None,
        request_id=world.new_uuid(),
    )


def store_order(world: World, draft: _Draft, order: Order) -> None:
    draft.commit()
    world.add_order(order)
    world.outbox.append(WebhookJob(WebhookKind.CREATED, order.id, order.delivery_created()))


def create_task(world: World, body: JsonDict, now_s: float) -> Reply:
    """POST /services/create_task."""
    raw = decode_api(body.get("way_points", []), list[object], where="way_points")
    draft = _Draft(world)
    order = new_order(world, draft, raw, body, now_s)
    store_order(world, draft, order)
    return Reply(200, {"success": True, "task": order.view()})


UPDATABLE_WAY_POINT_FIELDS = frozenset({"address", "lat", "lng", *DATE_FIELDS, *WAY_POINT_EXTRAS})


def _updated_way_point(world: World, order: Order, raw: JsonDict, now_s: float) -> JsonDict:
    wp = next(
        (w for w in order.way_points if raw.get("id") == w.id or raw.get("position") == w.position),
        None,
    )
    if wp is None:
        raise Violation(400, "way_point: give position 1 or 2, or the way point id")
    unknown = set(raw) - UPDATABLE_WAY_POINT_FIELDS - {"id", "position"}
    if unknown:
        raise Violation(400, f"way_point: cannot update {', '.join(sorted(unknown))}")
    change: JsonDict = {}
    for name in DATE_FIELDS:
        if raw.get(name) is not None:
            change[name] = date_iso(raw[name], name, now_s)
    place = decode_api(raw, Place, where="way_point")
    lat, lng = place.lat, place.lng
    if "address" in raw:
        if not isinstance(raw["address"], str):
            raise Violation(400, "way_point.address must be a string")
        change["address"] = raw["address"]
        if lat is None or lng is None:
            lat, lng = geocode(raw["address"], world.settings.area, world.settings.places)
    for name in WAY_POINT_EXTRAS:
        if name in raw:
            change[name] = raw[name]
    if lat is not None and lng is not None:
        change["lat"], change["lng"] = lat, lng
    for name, value in change.items():
        if name in ("address", "lat", "lng", *DATE_FIELDS):
            setattr(wp, name, value)
        else:
            wp.extra[name] = value
    return {**change, "id": wp.id, "position": wp.position}


def _updated_inventory(order: Order, raw: JsonDict) -> JsonDict:
    rows = [row for wp in order.way_points for row in wp.inventory]
    row = next((r for r in rows if r["id"] == raw.get("id") or r["name"] == raw.get("name")), None)
    if row is None:
        raise Violation(400, "task_inventory: no inventory item with that id or name")
    words = {"task_inventory.original_quantity": QUANTITY_MESSAGE}
    quantity = decode_api(raw, Quantity, words, where="task_inventory").original_quantity
    if quantity is None or quantity < 0:
        raise Violation(400, QUANTITY_MESSAGE)
    row["original_quantity"] = quantity
    return {"original_quantity": quantity, "id": row["id"], "name": row["name"]}


def merchant_update(world: World, task_id: int, body: JsonDict, now_s: float) -> WebhookJob:
    """Apply a seed-002 shaped change to an order; the Delivery Updated webhook to send."""
    order = world.orders.get(task_id)
    if order is None:
        raise Violation(404, f"no order with task_id {task_id}")
    if order.finished:
        raise Violation(409, f"order {task_id} is {order.status.name.lower()}; it takes no updates")
    part: JsonDict
    if isinstance(body.get("way_point"), dict):
        part = {"way_point": _updated_way_point(world, order, body["way_point"], now_s)}  # type: ignore[arg-type]
    elif isinstance(body.get("task_inventory"), dict):
        part = {"task_inventory": _updated_inventory(order, body["task_inventory"])}  # type: ignore[arg-type]
    elif isinstance(body.get("task_note"), dict):
        raw: JsonDict = body["task_note"]  # type: ignore[assignment]
        text = raw.get("note")
        if not isinstance(text, str) or not text:
            raise missing("task_note.note")
        wp = order.pickup if raw.get("position") == 1 else order.dropoff
        note = merchant_note(world, wp, text, now_s)
        wp.notes.append(note)
        part = {"task_note": {**note, "task_id": order.id}}
    elif isinstance(body.get("task"), dict):
        raw = body["task"]  # type: ignore[assignment]
        packages = raw.get("packages", order.packages)
        if not isinstance(packages, list):
            raise Violation(400, "task.packages must be an array")
        order.packages = packages
        for name in ("preparation_status", "preparation_status_id"):
            if name in raw:
                setattr(order, name, raw[name])
        part = {"task": {"id": order.id, **{k: raw[k] for k in raw if k != "id"}}}
    elif body.get("full") is True:
        part = {}
    else:
        raise Violation(400, "expected one of way_point, task_inventory, task_note, task, full")
    if body.get("full") is True:
        part = {"task": order.delivery_created()}
    payload: JsonDict = {"task_id": order.id, "delivery_id": order.delivery_id, **part}
    return WebhookJob(WebhookKind.UPDATED, order.id, payload)


def cancelled_job(world: World, order: Order, reason_id: object, reason: object) -> WebhookJob:
    payload: JsonDict = {
        "delivery_id": order.delivery_id,
        "id": order.id,
        "reason_id": reason_id,
        "reason": reason,
        "request_id": world.new_uuid(),
    }
    return WebhookJob(WebhookKind.CANCELLED, order.id, payload)


def merchant_cancel(world: World, task_id: int, body: JsonDict, now_s: float) -> WebhookJob:
    """Cancel an order from the merchant side; the Delivery Cancelled webhook to send."""
    order = world.orders.get(task_id)
    if order is None:
        raise Violation(404, f"no order with task_id {task_id}")
    why = decode_api(body, CancelReason)
    reason_id, reason = why.reason_id, why.reason
    refuse_uncancellable(order)
    cancel_order(order, world, now_s, by=7)
    order.cancel_reason_id, order.cancel_reason = reason_id, reason
    return cancelled_job(world, order, reason_id, reason)


def record_fleet_reply(world: World, task_id: int, accepted: bool, value: str | None) -> None:
    """The fleet answered Delivery Created: accepted with its delivery_id, or rejected."""
    order = world.orders.get(task_id)
    if order is None:
        return
    if accepted:
        order.delivery_id = value
        if order.status is TaskStatus.CREATED:
            order.status = TaskStatus.ACCEPTED
    else:
        order.fleet_error = value
        if order.status is TaskStatus.CREATED:
            order.status = TaskStatus.REJECTED

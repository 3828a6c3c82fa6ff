"""The fleet calls (`/open_fleet_services/<name>`) and the order lifecycle they walk (pure).

assigned (1) -> started / on the way (2) -> checked in at pickup (3) -> checked out (2, the active
way point moves to the dropoff) -> checked in at dropoff (3) -> [checked out of dropoff (3)] ->
done (4); cancelled (7) from any state before done. A call the state does not allow is refused
with HTTP 200, `success: false`, a message and `rc`, and changes nothing.

Repeats. Bringg's pages do not say what a repeated call gets; the one known answer is a refusal
("Can not checkin of a done task", python SDK). The sandbox therefore answers an exact repeat of
the call that produced the current state the same way, HTTP 200 with `success: false`, `rc: 1`
and a message that names the state, and applies nothing:

    assign_driver, same driver      "Task is already assigned to this driver"
    start_task                      "Task already started"
    checkin, same stop              "Already checked in at pickup|dropoff"
    checkout, same stop             "Already checked out of pickup|dropoff" (after the pickup's
                                    checkout moved on: "Can not checkout at pickup: already
                                    checked out of pickup")
    end_task of a done order        "Can not end of a done task"
    cancel_delivery of a cancelled  "Task already cancelled"
    create_note, same external_id   200, success true, the note created the first time

Notes are the exception: `external_id` (the note object's own field, seed 002) given with
create_note is the note's key within the order; a second create_note with the same key answers
the existing note instead of adding one. Every order keeps the list of transitions applied
(`transitions`, e.g. `checkin:pickup`) and the count of repeats answered (`repeats`), shown by
`GET /_sandbox/state`: the oracle a run's report is checked against (each transition once).
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Callable

from driver_agent.core.model import TaskStatus
from driver_agent.sandbox.records import DateError, Driver, Order, WayPoint, iso_ms, parse_date
from driver_agent.sandbox.world import (
    JsonDict,
    Reply,
    Violation,
    World,
    missing,
    optional_bool,
    optional_number,
    refused,
    reported_ms,
)

STARTED = (TaskStatus.ON_THE_WAY, TaskStatus.CHECKED_IN)
NOTE_TYPES = frozenset(
    {"TaskNote", "TaskPhoto", "Signature", "Form", "Document", "HtmlTaskNote", "FormattedTaskNote"}
)
TEXT_NOTE_TYPES = frozenset({"TaskNote", "HtmlTaskNote", "FormattedTaskNote"})
IMAGE_MAGIC = {"image/jpeg": b"\xff\xd8\xff", "image/png": b"\x89PNG\r\n\x1a\n"}
_DATA_URL = re.compile(r"^data:(?P<mime>[\w.+-]+/[\w.+-]+);base64,(?P<data>.*)$", re.DOTALL)
_PHONE = re.compile(r"^\+\d{6,15}$")
LOCATION_OK = Reply(200, {"success": True, "rc": 0})

Handler = Callable[[World, JsonDict, float], Reply]


def _task_reply(order: Order) -> Reply:
    return Reply(200, {"success": True, "task": order.view()})


def _refuse_finished(order: Order, verb: str) -> None:
    if order.status is TaskStatus.DONE:
        raise refused(f"Can not {verb} of a done task")
    if order.status is TaskStatus.CANCELLED:
        raise refused(f"Can not {verb} of a cancelled task")


def _require_started(order: Order, verb: str) -> None:
    _refuse_finished(order, verb)
    if order.status not in STARTED:
        raise refused(f"Can not {verb} of a task that was not started")


def _requested_stop(body: JsonDict) -> int | None:
    """Which stop the call names (1 pickup, 2 dropoff), from either documented field."""
    option = body.get("pickup_dropoff_option")
    if option is not None:
        if option not in ("pickup", "dropoff", "both"):
            raise Violation(400, "pickup_dropoff_option must be one of pickup, dropoff, both")
        return {"pickup": 1, "dropoff": 2}.get(option)
    position = body.get("way_point_position")
    if position is not None:
        if position not in (1, 2) or isinstance(position, bool):
            raise Violation(400, "way_point_position must be 1 (pickup) or 2 (dropoff)")
        return int(position)
    return None


def _driver_of(world: World, order: Order) -> Driver | None:
    return None if order.user_id is None else world.drivers.get(order.user_id)


def assign_driver(world: World, body: JsonDict, now_s: float) -> Reply:
    order = world.order(body.get("task_id"))
    _refuse_finished(order, "assign driver")
    if order.status is TaskStatus.REJECTED:
        raise refused("Can not assign driver of a rejected task")
    cost = optional_number(body, "delivery_cost")
    green = optional_bool(body, "green_delivery")
    user = body.get("user")
    driver: Driver | None
    if user is not None:
        if not isinstance(user, dict):
            raise Violation(400, "user must be an object")
        external_id = user.get("external_id")
        if not isinstance(external_id, str) or not external_id:
            raise missing("user.external_id")
        if len(external_id) > 255:
            raise Violation(400, "user.external_id is longer than 255 characters")
        name = user.get("name")
        if not isinstance(name, str) or not name:
            raise missing("user.name")
        phone = user.get("phone")
        if phone is not None and (not isinstance(phone, str) or not _PHONE.match(phone)):
            raise Violation(400, "user.phone must be in international format: +<country code>...")
        profile = {
            k: user[k] for k in ("job_description", "profile_image", "phone", "email") if k in user
        }
        known = world.drivers_by_external_id.get(external_id)
        driver = world.drivers[known] if known is not None else None
        new_driver = driver is None
    else:
        external_id = body.get("user_external_id", body.get("external_id"))
        if external_id is None:
            raise missing("user")
        if not isinstance(external_id, str):
            raise Violation(400, "user_external_id must be a string")
        known = world.drivers_by_external_id.get(external_id)
        if known is None:
            raise Violation(403, f"Driver with external_id {external_id} was not found")
        driver, new_driver, name, profile = world.drivers[known], False, "", {}
    same_driver = driver is not None and order.user_id == driver.user_id
    changes_cost = cost is not None or green is not None
    if order.status in STARTED and not same_driver:
        raise refused("Can not reassign a started task")
    if same_driver and not changes_cost:
        order.repeated("assign_driver")
        raise refused("Task is already assigned to this driver")
    # Valid: from here on, apply.
    if driver is None:
        driver = Driver(world.user_id(), external_id, name, profile)
        world.drivers[driver.user_id] = driver
        world.drivers_by_external_id[external_id] = driver.user_id
    elif user is not None and not new_driver:
        driver.name = name
        driver.profile.update(profile)
    previous = _driver_of(world, order)
    if previous is not None and previous is not driver:
        previous.order_stopped(order.id)
    if not same_driver:
        order.transitions.append("assign_driver")
    order.user_id = driver.user_id
    if order.status not in STARTED:
        order.status = TaskStatus.ASSIGNED
    if cost is not None:
        order.delivery_cost = cost
    if green is not None:
        order.green_delivery = green
    return _task_reply(order)


def start_task(world: World, body: JsonDict, now_s: float) -> Reply:
    order = world.order(body.get("task_id"))
    _refuse_finished(order, "start")
    if order.status in STARTED:
        order.repeated("start_task")
        raise refused("Task already started")
    driver = _driver_of(world, order)
    if driver is None or order.status is not TaskStatus.ASSIGNED:
        raise refused("Can not start a task with no driver assigned")
    lat, lng = optional_number(body, "lat"), optional_number(body, "lng")
    t_ms = reported_ms(body, now_s)
    cost = optional_number(body, "delivery_cost")
    green = optional_bool(body, "green_delivery")
    wp = order.active_way_point
    at_stop = wp.checkin_time is not None and wp.checkout_time is None
    order.status = TaskStatus.CHECKED_IN if at_stop else TaskStatus.ON_THE_WAY
    order.started_time = t_ms / 1000
    order.start_lat, order.start_lng = lat, lng
    if cost is not None:
        order.delivery_cost = cost
    if green is not None:
        order.green_delivery = green
    driver.order_started(order.id, t_ms)
    order.transitions.append("start_task")
    return _task_reply(order)


def _check_stop(order: Order, body: JsonDict, verb: str) -> WayPoint:
    wp = order.active_way_point
    wanted = _requested_stop(body)
    if wanted is not None and wanted != wp.position:
        if wanted < wp.position:
            order.repeated(f"{verb}:pickup")  # the pickup is behind: this was done already
            raise refused(f"Can not {verb} at pickup: already checked out of pickup")
        raise refused(f"Can not {verb} at dropoff before checking out of pickup")
    return wp


def checkin(world: World, body: JsonDict, now_s: float) -> Reply:
    order = world.order(body.get("task_id"))
    _require_started(order, "checkin")
    wp = _check_stop(order, body, "checkin")
    if wp.checkin_time is not None:
        order.repeated(f"checkin:{wp.option}")
        raise refused(f"Already checked in at {wp.option}")
    lat, lng = optional_number(body, "lat"), optional_number(body, "lng")
    t_ms = reported_ms(body, now_s)
    wp.checkin_time, wp.checkin_lat, wp.checkin_lng = iso_ms(t_ms / 1000), lat, lng
    order.status = TaskStatus.CHECKED_IN
    order.transitions.append(f"checkin:{wp.option}")
    return _task_reply(order)


def checkout(world: World, body: JsonDict, now_s: float) -> Reply:
    order = world.order(body.get("task_id"))
    _require_started(order, "checkout")
    wp = _check_stop(order, body, "checkout")
    if wp.checkin_time is None:
        raise refused(f"Can not checkout of {wp.option} before checking in")
    if wp.checkout_time is not None:
        order.repeated(f"checkout:{wp.option}")
        raise refused(f"Already checked out of {wp.option}")
    lat, lng = optional_number(body, "lat"), optional_number(body, "lng")
    t_ms = reported_ms(body, now_s)
    wp.checkout_time, wp.checkout_lat, wp.checkout_lng = iso_ms(t_ms / 1000), lat, lng
    wp.done = True
    order.transitions.append(f"checkout:{wp.option}")
    if order.active < len(order.way_points) - 1:
        order.active += 1
        order.status = TaskStatus.ON_THE_WAY
    return _task_reply(order)


def end_task(world: World, body: JsonDict, now_s: float) -> Reply:
    order = world.order(body.get("task_id"))
    if order.status is TaskStatus.DONE:
        order.repeated("end_task")
    _require_started(order, "end")
    dropoff = order.dropoff
    at_dropoff = order.active_way_point is dropoff and dropoff.checkin_time is not None
    if world.settings.strict_complete and not at_dropoff:
        raise refused("Can not end a task before checking in at the dropoff")
    lat, lng = optional_number(body, "lat"), optional_number(body, "lng")
    cost = optional_number(body, "delivery_cost")
    t_ms = reported_ms(body, now_s)
    order.status = TaskStatus.DONE
    order.ended_time = t_ms / 1000
    dropoff.done = True
    if lat is not None and lng is not None and dropoff.checkout_lat is None:
        dropoff.checkout_lat, dropoff.checkout_lng = lat, lng
    if cost is not None:
        order.delivery_cost = cost
    driver = _driver_of(world, order)
    if driver is not None:
        driver.order_stopped(order.id)
    order.transitions.append("end_task")
    return _task_reply(order)


def cancel_order(order: Order, world: World, t_s: float, *, by: int) -> None:
    """Cancel `order` (already checked cancellable); `by` is `automatically_cancelled`."""
    order.status = TaskStatus.CANCELLED
    order.cancelled_at = order.ended_time = t_s
    order.automatically_cancelled = by
    order.transitions.append("cancel_delivery" if by == 5 else "cancelled_by_merchant")
    driver = _driver_of(world, order)
    if driver is not None:
        driver.order_stopped(order.id)


def refuse_uncancellable(order: Order) -> None:
    if order.status is TaskStatus.DONE:
        raise refused("Can not cancel of a done task")
    if order.status is TaskStatus.CANCELLED:
        raise refused("Task already cancelled")


def cancel_delivery(world: World, body: JsonDict, now_s: float) -> Reply:
    if body.get("task_id") is None and body.get("task_external_id") is not None:
        found = world.by_external_id.get(str(body["task_external_id"]))
        if found is None:
            raise Violation(403, "Task not found")
        order = world.orders[found]
    else:
        order = world.order(body.get("task_id"))
    reason_id = body.get("reason_id")
    if reason_id is None:
        raise missing("reason_id")
    if isinstance(reason_id, bool) or not isinstance(reason_id, int):
        raise Violation(400, "reason_id must be an integer")
    reason = body.get("reason")
    if reason is not None and not isinstance(reason, str):
        raise Violation(400, "reason must be a string")
    if order.status is TaskStatus.CANCELLED:
        order.repeated("cancel_delivery")
    refuse_uncancellable(order)
    lat, lng = optional_number(body, "lat"), optional_number(body, "lng")
    t_ms = reported_ms(body, now_s)
    cancel_order(order, world, t_ms / 1000, by=5)
    order.cancellation_lat, order.cancellation_lng = lat, lng
    order.cancel_reason_id, order.cancel_reason = reason_id, reason
    return _task_reply(order)


def _size_text(limit: int) -> str:
    mb = 1024 * 1024
    return f"{limit // mb} MB" if limit % mb == 0 else f"{limit} bytes"


def _decode_data_url(value: object, key: str, limit: int, *, images_only: bool) -> int:
    """Validate a base64 data URL; returns the decoded size in bytes."""
    if not isinstance(value, str):
        raise missing(key)
    m = _DATA_URL.match(value)
    if m is None:
        raise Violation(400, f"{key} must be a data URL: data:image/jpeg;base64,... or image/png")
    mime, data = m["mime"], m["data"]
    if images_only and mime not in IMAGE_MAGIC:
        raise Violation(400, f"{key}: only JPEG and PNG images are accepted, got {mime}")
    if len(data) * 3 // 4 > limit + 3:
        raise Violation(400, f"{key} is larger than the limit of {_size_text(limit)}")
    try:
        raw = base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError):
        raise Violation(400, f"{key} is not valid base64") from None
    if len(raw) > limit:
        raise Violation(400, f"{key} is larger than the limit of {_size_text(limit)}")
    magic = IMAGE_MAGIC.get(mime)
    if magic is not None and not raw.startswith(magic):
        raise Violation(400, f"{key}: the data is not a {mime.split('/')[1].upper()} image")
    return len(raw)


def create_note(world: World, body: JsonDict, now_s: float) -> Reply:
    order = world.order(body.get("task_id"))
    if order.status is TaskStatus.CANCELLED:
        raise refused("Can not add a note of a cancelled task")
    key = body.get("external_id")
    if key is not None and (not isinstance(key, str) or not key or len(key) > 255):
        raise Violation(400, "external_id must be a string of 1 to 255 characters")
    if key is not None and key in order.note_ids:
        order.repeated("create_note")
        note_id = order.note_ids[key]
        existing = next(n for wp in order.way_points for n in wp.notes if n["id"] == note_id)
        return Reply(200, {"success": True, "task": existing})
    kind = body.get("type", "TaskNote")
    if not isinstance(kind, str) or kind not in NOTE_TYPES:
        raise Violation(400, f"type must be one of {', '.join(sorted(NOTE_TYPES))}")
    wanted = _requested_stop(body)
    visited = [wp for wp in order.way_points if wp.checkin_time is not None]
    if not visited:
        raise refused("Can not add a note before the driver arrived at a stop")
    if wanted is not None:
        wp = order.way_points[0] if wanted == 1 else order.dropoff
        if wp.checkin_time is None:
            raise refused(f"Can not add a note at {wp.option} before checking in there")
    else:
        wp = visited[-1]
    limit = world.settings.max_note_bytes
    text = body.get("note")
    size: int | None = None
    if kind in TEXT_NOTE_TYPES:
        if not isinstance(text, str) or not text.strip():
            raise Violation(400, "Can't create eempty message", rc=1)
    elif kind in ("TaskPhoto", "Signature"):
        size = _decode_data_url(body.get("image"), "image", limit, images_only=True)
    elif kind == "Form":
        form = body.get("form", text)
        if not isinstance(form, dict | list | str) or not form:
            raise missing("form")
    else:  # Document
        key = next((k for k in ("document", "file", "image") if k in body), "document")
        if isinstance(body.get("url"), str) and key not in body:
            size = None
        else:
            size = _decode_data_url(body.get(key), key, limit, images_only=False)
    lat, lng = optional_number(body, "lat"), optional_number(body, "lng")
    created = iso_ms(reported_ms(body, now_s) / 1000)
    note_id = world.note_id()
    note: JsonDict = {
        "id": note_id,
        "task_id": order.id,
        "way_point_id": wp.id,
        "type": kind,
        "note": text if isinstance(text, str) else None,
        "form": body.get("form") if kind == "Form" else None,
        "url": body.get("url") or (f"sandbox://notes/{note_id}" if size is not None else None),
        "size_bytes": size,
        "user_id": order.user_id,
        "created_at": created,
        "updated_at": created,
        "lat": lat,
        "lng": lng,
        "pending_upload": False,
        "external_id": key if key is not None else str(note_id),
    }
    wp.notes.append(note)
    if key is not None:
        order.note_ids[key] = note_id
    return Reply(200, {"success": True, "task": note})  # seed 001: the note under "task"


def update_task(world: World, body: JsonDict, now_s: float) -> Reply:
    order = world.order(body.get("task_id"))
    if order.status is TaskStatus.DONE:
        raise refused("Can't update a done order")
    if order.status is TaskStatus.CANCELLED:
        raise refused("Can't update a cancelled order")
    changes: list[tuple[WayPoint, dict[str, str]]] = []
    way_points = body.get("way_points", [])
    if not isinstance(way_points, list):
        raise Violation(400, "way_points must be an array")
    for i, entry in enumerate(way_points):
        if not isinstance(entry, dict):
            raise Violation(400, f"way_points[{i}] must be an object")
        position = entry.get("way_point_position")
        if position is None:
            raise missing(f"way_points[{i}].way_point_position")
        if position not in (1, 2) or isinstance(position, bool):
            raise Violation(400, f"way_points[{i}].way_point_position must be 1 or 2")
        fields: dict[str, str] = {}
        for key in ("scheduled_at", "no_earlier_than", "no_later_than", "eta"):
            if entry.get(key) is not None:
                try:
                    fields[key] = iso_ms(parse_date(entry[key], key, now_s))
                except DateError as e:
                    raise Violation(400, f"way_points[{i}]: {e.message}") from None
        changes.append((order.way_points[0] if position == 1 else order.dropoff, fields))
    cost = optional_number(body, "delivery_cost")
    green = optional_bool(body, "green_delivery")
    event = body.get("integration_event")
    if event is not None and not isinstance(event, dict):
        raise Violation(400, "integration_event must be an object")
    extras = body.get("fleet_extras")
    if extras is not None and not isinstance(extras, dict):
        raise Violation(400, "fleet_extras must be an object")
    for wp, fields in changes:
        for key, value in fields.items():
            setattr(wp, key, value)
    if cost is not None:
        order.delivery_cost = cost
    if green is not None:
        order.green_delivery = green
    if event is not None:
        order.integration_events.append(event)
    if extras is not None:
        order.fleet_extras = extras
    return _task_reply(order)


def update_driver_location(world: World, body: JsonDict, now_s: float) -> Reply:
    external_id = body.get("user_external_id", body.get("external_id"))
    if external_id is not None:
        user_id = world.drivers_by_external_id.get(str(external_id))
    else:
        raw = body.get("user_id")
        if raw is None:
            raise Violation(403, "Missing user id/external_id")
        user_id = raw if isinstance(raw, int) else None
    driver = world.drivers.get(user_id) if user_id is not None else None
    if driver is None:
        raise Violation(403, "User not found")
    lat, lng = body.get("lat"), body.get("lng")
    if isinstance(lat, bool) or not isinstance(lat, int | float):
        raise Violation(400, "lat must be a number")
    if isinstance(lng, bool) or not isinstance(lng, int | float):
        raise Violation(400, "lng must be a number")
    driver.record_fix(float(lat), float(lng), reported_ms(body, now_s))
    return LOCATION_OK


def _cluster_orders(world: World, body: JsonDict) -> list[Order]:
    task_ids = body.get("task_ids")
    if not isinstance(task_ids, list) or not task_ids:
        raise missing("task_ids")
    orders = [world.order(t) for t in task_ids]
    for order in orders:
        if order.finished:
            raise refused(
                f"Can not cluster check of a {order.status.name.lower()} task ({order.id})"
            )
        if order.user_id is None:
            raise refused(f"Assign a driver before cluster check-in (task {order.id})")
    return orders


def cluster_check_in(world: World, body: JsonDict, now_s: float) -> Reply:
    orders = _cluster_orders(world, body)
    for order in orders:
        if order.pickup.checkin_time is not None:
            order.repeated("checkin:pickup")
            raise refused(f"Already checked in at pickup (task {order.id})")
    lat, lng = optional_number(body, "lat"), optional_number(body, "lng")
    when = iso_ms(reported_ms(body, now_s) / 1000)
    for order in orders:
        wp = order.pickup
        wp.checkin_time, wp.checkin_lat, wp.checkin_lng = when, lat, lng
        order.transitions.append("checkin:pickup")
        if order.status is TaskStatus.ON_THE_WAY:
            order.status = TaskStatus.CHECKED_IN
    return Reply(200, {"success": True, "way_points_checked_in": [o.pickup.id for o in orders]})


def cluster_check_out(world: World, body: JsonDict, now_s: float) -> Reply:
    orders = _cluster_orders(world, body)
    for order in orders:
        if order.pickup.checkin_time is None:
            raise refused(f"Can not checkout of pickup before checking in (task {order.id})")
        if order.pickup.checkout_time is not None:
            order.repeated("checkout:pickup")
            raise refused(f"Already checked out of pickup (task {order.id})")
    lat, lng = optional_number(body, "lat"), optional_number(body, "lng")
    when = iso_ms(reported_ms(body, now_s) / 1000)
    for order in orders:
        wp = order.pickup
        wp.checkout_time, wp.checkout_lat, wp.checkout_lng = when, lat, lng
        wp.done = True
        order.transitions.append("checkout:pickup")
        order.active = 1
        if order.status is TaskStatus.CHECKED_IN:
            order.status = TaskStatus.ON_THE_WAY
    return Reply(200, {"success": True, "way_points_checked_out": [o.pickup.id for o in orders]})


FLEET_HANDLERS: dict[str, Handler] = {
    "assign_driver": assign_driver,
    "start_task": start_task,
    "update_driver_location": update_driver_location,
    "checkin": checkin,
    "create_note": create_note,
    "checkout": checkout,
    "end_task": end_task,
    "cancel_delivery": cancel_delivery,
    "update_task": update_task,
    "cluster_check_in": cluster_check_in,
    "cluster_check_out": cluster_check_out,
}

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

import re
from collections.abc import Callable

from driver_agent.core.model import TaskStatus
from driver_agent.sandbox.clusters import cluster_check_in, cluster_check_out
from driver_agent.sandbox.fleet_checks import (
    STARTED,
    check_stop,
    driver_of,
    refuse_finished,
    require_started,
    task_reply,
)
from driver_agent.sandbox.notes import create_note
from driver_agent.sandbox.records import DateError, Driver, Order, WayPoint, iso_ms, parse_date
from driver_agent.sandbox.requests import (
    ASSIGNEE_WORDS,
    LOCATION_WORDS,
    TASK_UPDATE_WORDS,
    Assignee,
    CancelReason,
    Location,
    TaskUpdate,
    cost,
    decode_api,
    fix,
)
from driver_agent.sandbox.world import (
    JsonDict,
    Reply,
    Violation,
    World,
    missing,
    refused,
)

_PHONE = re.compile(r"^\+\d{6,15}$")
LOCATION_OK = Reply(200, {"success": True, "rc": 0})

Handler = Callable[[World, JsonDict, float], Reply]


def assign_driver(world: World, body: JsonDict, now_s: float) -> Reply:
    order = world.order(body.get("task_id"))
    refuse_finished(order, "assign driver")
    if order.status is TaskStatus.REJECTED:
        raise refused("Can not assign driver of a rejected task")
    changed = cost(body)
    new_cost, green = changed.delivery_cost, changed.green_delivery
    user = decode_api(body, Assignee, ASSIGNEE_WORDS).user
    driver: Driver | None
    if user is not None:
        external_id = user.external_id
        if not external_id:
            raise missing("user.external_id")
        if len(external_id) > 255:
            raise Violation(400, "user.external_id is longer than 255 characters")
        name = user.name
        if not name:
            raise missing("user.name")
        if isinstance(user.phone, str) and not _PHONE.match(user.phone):
            raise Violation(400, ASSIGNEE_WORDS["user.phone"])
        profile = user.profile()
        known = world.drivers_by_external_id.get(external_id)
        driver = world.drivers[known] if known is not None else None
        new_driver = driver is None
    else:
        given_id = body.get("user_external_id", body.get("external_id"))
        if given_id is None:
            raise missing("user")
        if not isinstance(given_id, str):  # either key: one message, Bringg's
            raise Violation(400, "user_external_id must be a string")
        external_id = given_id
        known = world.drivers_by_external_id.get(external_id)
        if known is None:
            raise Violation(403, f"Driver with external_id {external_id} was not found")
        driver, new_driver, name, profile = world.drivers[known], False, "", {}
    same_driver = driver is not None and order.user_id == driver.user_id
    changes_cost = new_cost is not None or green is not None
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
    previous = driver_of(world, order)
    if previous is not None and previous is not driver:
        previous.order_stopped(order.id)
    if not same_driver:
        order.transitions.append("assign_driver")
    order.user_id = driver.user_id
    if order.status not in STARTED:
        order.status = TaskStatus.ASSIGNED
    if new_cost is not None:
        order.delivery_cost = new_cost
    if green is not None:
        order.green_delivery = green
    return task_reply(order)


def start_task(world: World, body: JsonDict, now_s: float) -> Reply:
    order = world.order(body.get("task_id"))
    refuse_finished(order, "start")
    if order.status in STARTED:
        order.repeated("start_task")
        raise refused("Task already started")
    driver = driver_of(world, order)
    if driver is None or order.status is not TaskStatus.ASSIGNED:
        raise refused("Can not start a task with no driver assigned")
    at = fix(body)
    lat, lng, t_ms = at.lat, at.lng, at.ms(now_s)
    changed = cost(body)
    new_cost, green = changed.delivery_cost, changed.green_delivery
    wp = order.active_way_point
    at_stop = wp.checkin_time is not None and wp.checkout_time is None
    order.status = TaskStatus.CHECKED_IN if at_stop else TaskStatus.ON_THE_WAY
    order.started_time = t_ms / 1000
    order.start_lat, order.start_lng = lat, lng
    if new_cost is not None:
        order.delivery_cost = new_cost
    if green is not None:
        order.green_delivery = green
    driver.order_started(order.id, t_ms)
    order.transitions.append("start_task")
    return task_reply(order)


def checkin(world: World, body: JsonDict, now_s: float) -> Reply:
    order = world.order(body.get("task_id"))
    require_started(order, "checkin")
    wp = check_stop(order, body, "checkin")
    if wp.checkin_time is not None:
        order.repeated(f"checkin:{wp.option}")
        raise refused(f"Already checked in at {wp.option}")
    at = fix(body)
    lat, lng, t_ms = at.lat, at.lng, at.ms(now_s)
    wp.checkin_time, wp.checkin_lat, wp.checkin_lng = iso_ms(t_ms / 1000), lat, lng
    order.status = TaskStatus.CHECKED_IN
    order.transitions.append(f"checkin:{wp.option}")
    return task_reply(order)


def checkout(world: World, body: JsonDict, now_s: float) -> Reply:
    order = world.order(body.get("task_id"))
    require_started(order, "checkout")
    wp = check_stop(order, body, "checkout")
    if wp.checkin_time is None:
        raise refused(f"Can not checkout of {wp.option} before checking in")
    if wp.checkout_time is not None:
        order.repeated(f"checkout:{wp.option}")
        raise refused(f"Already checked out of {wp.option}")
    at = fix(body)
    lat, lng, t_ms = at.lat, at.lng, at.ms(now_s)
    wp.checkout_time, wp.checkout_lat, wp.checkout_lng = iso_ms(t_ms / 1000), lat, lng
    wp.done = True
    order.transitions.append(f"checkout:{wp.option}")
    if order.active < len(order.way_points) - 1:
        order.active += 1
        order.status = TaskStatus.ON_THE_WAY
    return task_reply(order)


def end_task(world: World, body: JsonDict, now_s: float) -> Reply:
    order = world.order(body.get("task_id"))
    if order.status is TaskStatus.DONE:
        order.repeated("end_task")
    require_started(order, "end")
    dropoff = order.dropoff
    at_dropoff = order.active_way_point is dropoff and dropoff.checkin_time is not None
    if world.settings.strict_complete and not at_dropoff:
        raise refused("Can not end a task before checking in at the dropoff")
    at = fix(body)
    new_cost = cost(body).delivery_cost
    lat, lng, t_ms = at.lat, at.lng, at.ms(now_s)
    order.status = TaskStatus.DONE
    order.ended_time = t_ms / 1000
    dropoff.done = True
    if lat is not None and lng is not None and dropoff.checkout_lat is None:
        dropoff.checkout_lat, dropoff.checkout_lng = lat, lng
    if new_cost is not None:
        order.delivery_cost = new_cost
    driver = driver_of(world, order)
    if driver is not None:
        driver.order_stopped(order.id)
    order.transitions.append("end_task")
    return task_reply(order)


def cancel_order(order: Order, world: World, t_s: float, *, by: int) -> None:
    """Cancel `order` (already checked cancellable); `by` is `automatically_cancelled`."""
    order.status = TaskStatus.CANCELLED
    order.cancelled_at = order.ended_time = t_s
    order.automatically_cancelled = by
    order.transitions.append("cancel_delivery" if by == 5 else "cancelled_by_merchant")
    driver = driver_of(world, order)
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
    why = decode_api(body, CancelReason)
    reason_id, reason = why.reason_id, why.reason
    if reason_id is None:
        raise missing("reason_id")
    if order.status is TaskStatus.CANCELLED:
        order.repeated("cancel_delivery")
    refuse_uncancellable(order)
    at = fix(body)
    lat, lng, t_ms = at.lat, at.lng, at.ms(now_s)
    cancel_order(order, world, t_ms / 1000, by=5)
    order.cancellation_lat, order.cancellation_lng = lat, lng
    order.cancel_reason_id, order.cancel_reason = reason_id, reason
    return task_reply(order)


def update_task(world: World, body: JsonDict, now_s: float) -> Reply:
    order = world.order(body.get("task_id"))
    if order.status is TaskStatus.DONE:
        raise refused("Can't update a done order")
    if order.status is TaskStatus.CANCELLED:
        raise refused("Can't update a cancelled order")
    update = decode_api(body, TaskUpdate, TASK_UPDATE_WORDS)
    changes: list[tuple[WayPoint, dict[str, str]]] = []
    for i, entry in enumerate(update.way_points):
        position = entry.way_point_position
        if position is None:
            raise missing(f"way_points[{i}].way_point_position")
        if position not in (1, 2):
            raise Violation(400, f"way_points[{i}].way_point_position must be 1 or 2")
        fields: dict[str, str] = {}
        for key in ("scheduled_at", "no_earlier_than", "no_later_than", "eta"):
            value = getattr(entry, key)
            if value is not None:
                try:
                    fields[key] = iso_ms(parse_date(value, key, now_s))
                except DateError as e:
                    raise Violation(400, f"way_points[{i}]: {e.message}") from None
        changes.append((order.way_points[0] if position == 1 else order.dropoff, fields))
    changed = cost(body)
    new_cost, green = changed.delivery_cost, changed.green_delivery
    event, extras = update.integration_event, update.fleet_extras
    for wp, fields in changes:
        for key, value in fields.items():
            setattr(wp, key, value)
    if new_cost is not None:
        order.delivery_cost = new_cost
    if green is not None:
        order.green_delivery = green
    if event is not None:
        order.integration_events.append(event)
    if extras is not None:
        order.fleet_extras = extras
    return task_reply(order)


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
    at = decode_api(body, Location, LOCATION_WORDS)
    if at.lat is None:
        raise Violation(400, LOCATION_WORDS["lat"])
    if at.lng is None:
        raise Violation(400, LOCATION_WORDS["lng"])
    t_ms = int(now_s * 1000) if at.reported_time is None else int(at.reported_time)
    driver.record_fix(at.lat, at.lng, t_ms)
    return LOCATION_OK


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

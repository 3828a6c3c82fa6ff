"""The developer API's order edits: Create Order (the merchant body, plus `user_id` and
`teams`), Update Order (assignment, fields, way points; all checked before any is applied) and
the notes they add (pure). The walk itself is in `devapi_orders`."""

from __future__ import annotations

import copy

from driver_agent.sandbox.devapi_orders import (
    PRICE_FIELDS,
    assign,
    assignee,
    check_assign,
    order_of,
    refuse_finished,
    task_reply,
)
from driver_agent.sandbox.devapi_world import (
    DevWorld,
    int_list,
    not_found,
    opt_int,
    opt_number,
    opt_str,
    refused,
)
from driver_agent.sandbox.merchant_orders import _inventory as inventory_rows
from driver_agent.sandbox.merchant_orders import _updated_way_point as updated_way_point
from driver_agent.sandbox.merchant_orders import create_task
from driver_agent.sandbox.records import Order, iso_ms
from driver_agent.sandbox.world import JsonDict, Reply, Violation


def create_order(dev: DevWorld, body: JsonDict, now_s: float) -> Reply:
    world = dev.world
    user_id = opt_int(body, "user_id")
    if user_id is not None:
        assignee(dev, user_id)
    teams = int_list(body["teams"], "teams") if body.get("teams") is not None else []
    reply = create_task(world, body, now_s)
    task = reply.body.get("task")
    if not isinstance(task, dict):
        return reply
    order = world.orders[int(task["id"])]
    # an own-fleet order is not offered to a delivery provider: no Delivery Created webhook
    world.outbox = type(world.outbox)(j for j in world.outbox if j.task_id != order.id)
    order.source = "developer_api"
    dev.order_teams[order.id] = teams
    assign(dev, order, user_id)
    return task_reply(dev, order)


def update_order(dev: DevWorld, body: JsonDict, now_s: float) -> Reply:
    order = order_of(dev, body)
    refuse_finished(order)
    status = opt_int(body, "status")
    if status is not None and status != int(order.status):
        raise Violation(
            400,
            "status is not changed by Update Order: use Start Order, Arrived to Location, "
            "Left Location, End Order or Cancel Order",
            rc=0,
        )
    title, external_id = opt_str(body, "title"), opt_str(body, "external_id")
    if external_id is not None and dev.world.by_external_id.get(external_id, order.id) != order.id:
        raise refused(f"Task with external id {external_id} exists already")
    prices = {name: opt_number(body, name) for name in PRICE_FIELDS}
    teams = body.get("team_ids")
    team_ids = int_list(teams, "team_ids") if teams is not None else None
    note = opt_str(body, "note", 10_000)
    has_user = "user_id" in body
    user_id = opt_int(body, "user_id") if has_user else order.user_id
    check_assign(dev, order, user_id)
    changes = body.get("way_points")
    if changes is not None:
        _change_way_points(dev, order, changes, now_s)
    if has_user:
        assign(dev, order, user_id)
    if title is not None:
        order.title = title
    if external_id is not None:
        if order.external_id:
            dev.world.by_external_id.pop(order.external_id, None)
        order.external_id = external_id
        dev.world.by_external_id[external_id] = order.id
    extra = dict(order.fleet_extras or {})
    extra.update({k: v for k, v in prices.items() if v is not None})
    order.fleet_extras = extra
    if team_ids is not None:
        dev.order_teams[order.id] = team_ids
    if note:
        add_note(dev, order, {"note": note, "type": "TaskNote"}, order.active_way_point.id, now_s)
    return task_reply(dev, order)


def _change_way_points(dev: DevWorld, order: Order, changes: object, now_s: float) -> None:
    """Update Order's `way_points`: each names a way point by `id` (or `position`) and gives
    new fields; `inventory` items are added to it. All are checked before any is applied."""
    if not isinstance(changes, list):
        raise Violation(400, "way_points must be an array of objects", rc=0)
    for i, raw in enumerate(changes):
        if not isinstance(raw, dict):
            raise Violation(400, f"way_points[{i}] must be an object", rc=0)
        if not any(raw.get("id") == wp.id or raw.get("position") == wp.position
                   for wp in order.way_points):  # fmt: skip
            raise not_found()
    saved = [copy.deepcopy(wp) for wp in order.way_points]
    try:
        for i, raw in enumerate(changes):
            fields = {k: v for k, v in raw.items() if k != "inventory"}
            part = updated_way_point(dev.world, order, fields, now_s)
            wp = next(w for w in order.way_points if w.id == part["id"])
            where = f"way_points[{i}].inventory"
            for row in inventory_rows(dev.world, raw.get("inventory"), where):
                row["way_point_id"] = wp.id
                wp.inventory.append(row)
    except Violation:
        order.way_points[:] = saved
        raise


def add_note(dev: DevWorld, order: Order, given: JsonDict, wp_id: int, now_s: float) -> JsonDict:
    """Store a note on way point `wp_id` of `order` (checked by the caller)."""
    wp = next(w for w in order.way_points if w.id == wp_id)
    note_id, created = dev.world.note_id(), iso_ms(now_s)
    note: JsonDict = {
        "id": note_id,
        "task_id": order.id,
        "way_point_id": wp.id,
        "customer_id": None,
        "user_id": given.get("user_id", order.user_id),
        "note": given.get("note"),
        "url": given.get("url"),
        "form": given.get("form"),
        "type": given.get("type", "TaskNote"),
        "created_at": created,
        "updated_at": created,
        "pending_upload": False,
        "lat": given.get("lat"),
        "lng": given.get("lng"),
        "external_id": str(note_id),
    }
    wp.notes.append(note)
    dev.notes[note_id] = (order.id, note)
    return note


EDIT_HANDLERS = {"create_order": create_order, "update_order": update_order}

"""`cluster_check_in` / `cluster_check_out`: several orders' pickups at once (pure)."""

from __future__ import annotations

from driver_agent.core.model import TaskStatus
from driver_agent.sandbox.records import Order, iso_ms
from driver_agent.sandbox.requests import Cluster, decode_api, fix, missing_words
from driver_agent.sandbox.world import (
    JsonDict,
    Reply,
    World,
    missing,
    refused,
)


def _cluster_orders(world: World, body: JsonDict) -> list[Order]:
    task_ids = decode_api(body, Cluster, missing_words("task_ids")).task_ids
    if not task_ids:
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
    at = fix(body)
    lat, lng, when = at.lat, at.lng, iso_ms(at.ms(now_s) / 1000)
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
    at = fix(body)
    lat, lng, when = at.lat, at.lng, iso_ms(at.ms(now_s) / 1000)
    for order in orders:
        wp = order.pickup
        wp.checkout_time, wp.checkout_lat, wp.checkout_lng = when, lat, lng
        wp.done = True
        order.transitions.append("checkout:pickup")
        order.active = 1
        if order.status is TaskStatus.CHECKED_IN:
            order.status = TaskStatus.ON_THE_WAY
    return Reply(200, {"success": True, "way_points_checked_out": [o.pickup.id for o in orders]})

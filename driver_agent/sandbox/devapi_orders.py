"""The developer API's order walk: Get, Open Orders, Start, Arrived to Location (check-in),
Left Location (check-out), End and Cancel, and the assignment rules Create and Update Order use
(`devapi_order_edits`) (pure).

The walk: an order is assigned to a user (Update Order `user_id`, Create Order `user_id`, or
started by a driver of a delivery block running now); Start Order needs the assigned driver on
an open shift; check-in and check-out act on the active way point, so way points are arrived at
and left in order; leaving the last way point completes the order (seed: "Will update task
status to done"), and End Order then acknowledges it once; End Order also completes an order
whose driver arrived at its last way point. A done order takes no change ("Can't update a done
order"), a cancelled one neither; Cancel Order works from any state before done.
"""

from __future__ import annotations

from driver_agent.core.model import TaskStatus
from driver_agent.sandbox.devapi_world import (
    DevWorld,
    User,
    int_param,
    not_found,
    opt_int,
    opt_number,
    opt_str,
    refused,
)
from driver_agent.sandbox.records import Order, iso_ms
from driver_agent.sandbox.world import JsonDict, Reply, Violation

STARTED = (TaskStatus.ON_THE_WAY, TaskStatus.CHECKED_IN)
DONE_MESSAGE = "Can't update a done order"
CANCELLED_MESSAGE = "Can't update a cancelled order"
PRICE_FIELDS = (
    "delivery_price", "discount", "left_to_be_paid", "post_delivery_tip_cash",
    "post_delivery_tip_credit", "pre_delivery_tip", "price_before_tax", "tax_price", "tip",
    "total_price",
)  # fmt: skip


def order_of(dev: DevWorld, body: JsonDict, key: str = "id") -> Order:
    found = dev.world.orders.get(int_param(body, key))
    if found is None:
        raise not_found()
    return found


def refuse_finished(order: Order) -> None:
    if order.status is TaskStatus.DONE:
        raise refused(DONE_MESSAGE, rc=None)
    if order.status is TaskStatus.CANCELLED:
        raise refused(CANCELLED_MESSAGE, rc=None)


def task_view(dev: DevWorld, order: Order) -> JsonDict:
    view = order.view()
    view["team_ids"] = list(dev.order_teams.get(order.id, []))
    extra = order.fleet_extras or {}
    for name in PRICE_FIELDS:
        view[name] = extra.get(name)
    for name in ("payment_method", "priority", "ready_to_execute", "tip_driver_enabled"):
        if name in extra:
            view[name] = extra[name]
    return view


def task_reply(dev: DevWorld, order: Order) -> Reply:
    return Reply(200, {"success": True, "task": task_view(dev, order)})


def assignee(dev: DevWorld, user_id: int) -> User:
    user = dev.users.get(user_id)
    if user is None:
        raise Violation(404, f"Couldn't find user with id {user_id}, merchant_id {dev.merchant_id}")
    if not user.driver:
        raise refused(f"User {user_id} is not a driver")
    return user


def check_assign(dev: DevWorld, order: Order, user_id: int | None) -> None:
    if user_id == order.user_id:
        return
    if order.status in STARTED:
        raise refused("Can't reassign a started order")
    if user_id is not None:
        assignee(dev, user_id)


def assign(dev: DevWorld, order: Order, user_id: int | None) -> None:
    check_assign(dev, order, user_id)
    if user_id == order.user_id:
        return
    if user_id is None:
        order.user_id = None
        order.status = TaskStatus.CREATED
        order.transitions.append("unassign")
        return
    order.user_id = user_id
    order.status = TaskStatus.ASSIGNED
    order.transitions.append(f"assign:{user_id}")


def get_order(dev: DevWorld, body: JsonDict, now_s: float) -> Reply:
    return task_reply(dev, order_of(dev, body))


def open_orders(dev: DevWorld, body: JsonDict, now_s: float) -> Reply:
    """A bare array of the orders not done and not cancelled, as the seed shows."""
    items: list[object] = [task_view(dev, o) for o in dev.world.orders.values() if not o.finished]
    return Reply(200, {}, items=items)


def _caller(dev: DevWorld, order: Order, body: JsonDict) -> None:
    """The optional `user_id` of a driver's call must be the order's driver."""
    user_id = opt_int(body, "user_id")
    if user_id is not None and order.user_id is not None and user_id != order.user_id:
        raise refused(f"Order {order.id} is assigned to another driver")


def _position(dev: DevWorld, order: Order, body: JsonDict) -> None:
    lat, lng = opt_number(body, "lat"), opt_number(body, "lng")
    user = dev.users.get(order.user_id) if order.user_id is not None else None
    if user is not None and lat is not None and lng is not None:
        user.lat, user.lng = lat, lng


def _block_driver(dev: DevWorld, order: Order, user_id: int, now_s: float) -> bool:
    teams = set(dev.order_teams.get(order.id, []))
    return any(
        user_id in b.user_ids and b.running(now_s) and (not teams or b.team_id in teams)
        for b in dev.blocks.values()
    )


def start_order(dev: DevWorld, body: JsonDict, now_s: float) -> Reply:
    order = order_of(dev, body)
    refuse_finished(order)
    if order.status in STARTED:
        order.repeated("start_order")
        raise refused("Order already started")
    starter = opt_int(body, "user_id")
    if order.user_id is None:
        if starter is None or not _block_driver(dev, order, starter, now_s):
            raise refused("Can't start an order with no driver assigned")
        assign(dev, order, starter)
    _caller(dev, order, body)
    user = dev.users.get(order.user_id) if order.user_id is not None else None
    if user is None:  # assigned by a fleet call: not a developer-API user
        raise refused("Can't start an order with no driver assigned")
    if user.shift is None:
        raise refused(f"Driver {user.id} has no open shift: start a shift first")
    _position(dev, order, body)
    wp = order.active_way_point
    at_stop = wp.checkin_time is not None and wp.checkout_time is None
    order.status = TaskStatus.CHECKED_IN if at_stop else TaskStatus.ON_THE_WAY
    order.started_time = now_s
    order.start_lat, order.start_lng = user.lat, user.lng
    order.transitions.append("start_order")
    return task_reply(dev, order)


def _started(dev: DevWorld, body: JsonDict) -> Order:
    order = order_of(dev, body)
    refuse_finished(order)
    if order.status not in STARTED:
        raise refused("Order was not started: Start Order first")
    _caller(dev, order, body)
    way_point_id = opt_int(body, "way_point_id")
    if way_point_id is not None and way_point_id != order.active_way_point.id:
        if not any(wp.id == way_point_id for wp in order.way_points):
            raise not_found()
        raise refused(f"Way point {way_point_id} is not the order's next way point")
    _position(dev, order, body)
    return order


def checkin(dev: DevWorld, body: JsonDict, now_s: float) -> Reply:
    order = _started(dev, body)
    wp = order.active_way_point
    if wp.checkin_time is not None:
        order.repeated(f"checkin:{wp.position}")
        raise refused(f"Already arrived at way point {wp.position}: leave it first")
    user = dev.users.get(order.user_id) if order.user_id is not None else None
    wp.checkin_time = iso_ms(now_s)
    wp.checkin_lat, wp.checkin_lng = (user.lat, user.lng) if user else (None, None)
    order.status = TaskStatus.CHECKED_IN
    order.transitions.append(f"checkin:{wp.position}")
    return task_reply(dev, order)


def _complete(dev: DevWorld, order: Order, now_s: float) -> None:
    order.status = TaskStatus.DONE
    order.ended_time = now_s


def checkout(dev: DevWorld, body: JsonDict, now_s: float) -> Reply:
    order = _started(dev, body)
    wp = order.active_way_point
    if wp.checkin_time is None:
        raise refused(f"Can't leave way point {wp.position} before arriving there")
    user = dev.users.get(order.user_id) if order.user_id is not None else None
    wp.checkout_time = iso_ms(now_s)
    wp.checkout_lat, wp.checkout_lng = (user.lat, user.lng) if user else (None, None)
    wp.done = True
    order.transitions.append(f"checkout:{wp.position}")
    if order.active < len(order.way_points) - 1:
        order.active += 1
        order.status = TaskStatus.ON_THE_WAY
    else:
        _complete(dev, order, now_s)
        dev.ended_by_checkout.add(order.id)
    return task_reply(dev, order)


def end_order(dev: DevWorld, body: JsonDict, now_s: float) -> Reply:
    order = order_of(dev, body)
    if order.id in dev.ended_by_checkout:  # End Order after the last Left Location: once
        _caller(dev, order, body)
        dev.ended_by_checkout.discard(order.id)
        order.transitions.append("end_order")
        return task_reply(dev, order)
    if order.status is TaskStatus.DONE:
        order.repeated("end_order")
    refuse_finished(order)
    if order.status not in STARTED:
        raise refused("Order was not started: Start Order first")
    _caller(dev, order, body)
    last = order.dropoff
    at_last = order.active_way_point is last and last.checkin_time is not None
    if dev.world.settings.strict_complete and not at_last:
        raise refused("Can't end an order before arriving at its last way point")
    _position(dev, order, body)
    last.done = True
    _complete(dev, order, now_s)
    order.transitions.append("end_order")
    return task_reply(dev, order)


def cancel_order(dev: DevWorld, body: JsonDict, now_s: float) -> Reply:
    if body.get("id") is None and body.get("external_id") is not None:
        found = dev.world.by_external_id.get(str(body["external_id"]))
        if found is None:
            raise not_found()
        order = dev.world.orders[found]
    else:
        order = order_of(dev, body)
    reason_id, reason = opt_int(body, "reason_id"), opt_str(body, "reason", 1024)
    if order.status is TaskStatus.CANCELLED:
        order.repeated("cancel_order")
    refuse_finished(order)
    order.status = TaskStatus.CANCELLED
    order.cancelled_at = order.ended_time = now_s
    order.cancel_reason_id, order.cancel_reason = reason_id, reason
    order.transitions.append("cancel_order")
    dev.ended_by_checkout.discard(order.id)
    view = task_view(dev, order)
    view["task_cancellation_reason"] = reason
    view["cancel_reason_id"] = reason_id
    return Reply(200, {"success": True, "task": view})


ORDER_HANDLERS = {
    "get_order": get_order,
    "open_orders": open_orders,
    "start_order": start_order,
    "checkin": checkin,
    "checkout": checkout,
    "end_order": end_order,
    "cancel_order": cancel_order,
}

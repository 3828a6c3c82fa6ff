"""What the fleet calls share (pure): the task answer, the refusals by state, the stop a call
names and the order's driver. The lifecycle itself is told in `sandbox.fleet`."""

from __future__ import annotations

from driver_agent.core.model import TaskStatus
from driver_agent.sandbox.records import Driver, Order, WayPoint
from driver_agent.sandbox.world import JsonDict, Reply, Violation, World, refused

STARTED = (TaskStatus.ON_THE_WAY, TaskStatus.CHECKED_IN)


def task_reply(order: Order) -> Reply:
    return Reply(200, {"success": True, "task": order.view()})


def refuse_finished(order: Order, verb: str) -> None:
    if order.status is TaskStatus.DONE:
        raise refused(f"Can not {verb} of a done task")
    if order.status is TaskStatus.CANCELLED:
        raise refused(f"Can not {verb} of a cancelled task")


def require_started(order: Order, verb: str) -> None:
    refuse_finished(order, verb)
    if order.status not in STARTED:
        raise refused(f"Can not {verb} of a task that was not started")


def requested_stop(body: JsonDict) -> int | None:
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


def driver_of(world: World, order: Order) -> Driver | None:
    return None if order.user_id is None else world.drivers.get(order.user_id)


def check_stop(order: Order, body: JsonDict, verb: str) -> WayPoint:
    wp = order.active_way_point
    wanted = requested_stop(body)
    if wanted is not None and wanted != wp.position:
        if wanted < wp.position:
            order.repeated(f"{verb}:pickup")  # the pickup is behind: this was done already
            raise refused(f"Can not {verb} at pickup: already checked out of pickup")
        raise refused(f"Can not {verb} at dropoff before checking out of pickup")
    return wp

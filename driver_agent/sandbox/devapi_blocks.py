"""The developer API's delivery blocks: create, get, update, delete, assign and unassign a
driver, and the blocks of some drivers or of a team over a time range (pure).

A delivery block is a work time slot for drivers of a team. `capacity` is the number of drivers
assigned, `original_capacity` how many should work it: assigning beyond it is refused, as is
unassigning after the block ended ("Not allowed, unassign time has passed") and deleting a block
that still has a driver.
"""

from __future__ import annotations

from driver_agent.sandbox.devapi_world import (
    DeliveryBlock,
    DevWorld,
    as_int,
    int_list,
    int_param,
    missing,
    opt_int,
    opt_str,
    refused,
)
from driver_agent.sandbox.records import DateError, parse_date
from driver_agent.sandbox.world import JsonDict, Reply, Violation

OK = Reply(200, {"success": True})


def _time(body: JsonDict, name: str, now_s: float) -> float | None:
    value = body.get(name)
    if value is None or value == "":
        return None
    try:
        return parse_date(value, name, now_s)
    except DateError as e:
        raise Violation(400, e.message, rc=0) from None


def _epoch(body: JsonDict, name: str) -> float:
    """The list calls' range bounds: epoch seconds, a number or digits in a string."""
    value = body.get(name)
    if value is None or value == "":
        raise missing(name)
    return float(as_int(value, name))


def _block_reply(dev: DevWorld, block: DeliveryBlock) -> Reply:
    return Reply(200, {"success": True, "delivery_block": dev.block_view(block)})


def _check_times(block: DeliveryBlock) -> None:
    if block.end_s <= block.start_s:
        raise Violation(400, "end_time must be after start_time", rc=0)
    if (block.break_start_s is None) != (block.break_end_s is None):
        raise Violation(400, "break_start_time and break_end_time go together", rc=0)
    start, end = block.break_start_s, block.break_end_s
    if start is not None and end is not None and not block.start_s <= start < end <= block.end_s:
        raise Violation(400, "the break must lie within the delivery block", rc=0)


def _capacity(body: JsonDict) -> int | None:
    capacity = opt_int(body, "original_capacity")
    if capacity is not None and capacity < 0:
        raise Violation(400, "original_capacity must be >= 0", rc=0)
    return capacity


def _assign(dev: DevWorld, block: DeliveryBlock, user_id: int) -> None:
    dev.block_user(user_id)
    if user_id in block.user_ids:
        raise refused("Driver already assigned to block", rc=2)
    if len(block.user_ids) >= block.original_capacity:
        raise refused(
            f"Delivery block {block.id} is full: {block.original_capacity} drivers assigned"
        )
    block.user_ids.append(user_id)
    block.schedule_ids[user_id] = dev.schedule_id()


def create_delivery_block(dev: DevWorld, body: JsonDict, now_s: float) -> Reply:
    team_id = int_param(body, "team_id")
    capacity = _capacity(body)
    if capacity is None:
        raise missing("original_capacity")
    start_s, end_s = _time(body, "start_time", now_s), _time(body, "end_time", now_s)
    if start_s is None:
        raise missing("start_time")
    if end_s is None:
        raise missing("end_time")
    users = body.get("users")
    user_ids = int_list(body["user_ids"], "user_ids") if body.get("user_ids") is not None else []
    if isinstance(users, list):
        for i, u in enumerate(users):
            if not isinstance(u, dict) or "id" not in u:
                raise Violation(400, f"users[{i}] must be an object with an id", rc=0)
            user_ids.append(as_int(u["id"], f"users[{i}].id"))
    elif users is not None:
        raise Violation(400, "users must be an array of objects", rc=0)
    block = DeliveryBlock(
        id=0,
        team_id=team_id,
        name=opt_str(body, "name") or "",
        description=opt_str(body, "description", 1024),
        start_s=start_s,
        end_s=end_s,
        original_capacity=capacity,
        break_start_s=_time(body, "break_start_time", now_s),
        break_end_s=_time(body, "break_end_time", now_s),
    )
    _check_times(block)
    for user_id in dict.fromkeys(user_ids):
        dev.block_user(user_id)
    if len(set(user_ids)) > capacity:
        raise refused(f"Delivery block is full: {capacity} drivers at most")
    block.id = dev.block_id()
    for user_id in dict.fromkeys(user_ids):
        _assign(dev, block, user_id)
    dev.blocks[block.id] = block
    return _block_reply(dev, block)


def get_delivery_block(dev: DevWorld, body: JsonDict, now_s: float) -> Reply:
    return _block_reply(dev, dev.block(int_param(body, "id")))


def _or(given: float | None, kept: float | None) -> float | None:
    return kept if given is None else given


def update_delivery_block(dev: DevWorld, body: JsonDict, now_s: float) -> Reply:
    block = dev.block(int_param(body, "id"))
    team_id, capacity = opt_int(body, "team_id"), _capacity(body)
    name, description = opt_str(body, "name"), opt_str(body, "description", 1024)
    times = {
        k: _time(body, k, now_s)
        for k in ("start_time", "end_time", "break_start_time", "break_end_time")
    }
    start_s, end_s = times["start_time"], times["end_time"]
    recurring = body.get("recurring")
    if recurring is not None and recurring not in ("all", "future"):
        raise Violation(400, "recurring must be all or future", rc=0)
    changed = DeliveryBlock(
        id=block.id,
        team_id=block.team_id if team_id is None else team_id,
        name=block.name if name is None else name,
        description=block.description if description is None else description,
        start_s=block.start_s if start_s is None else start_s,
        end_s=block.end_s if end_s is None else end_s,
        original_capacity=block.original_capacity if capacity is None else capacity,
        user_ids=block.user_ids,
        break_start_s=_or(times["break_start_time"], block.break_start_s),
        break_end_s=_or(times["break_end_time"], block.break_end_s),
        schedule_ids=block.schedule_ids,
    )
    _check_times(changed)
    if changed.original_capacity < len(block.user_ids):
        raise refused(
            f"original_capacity {changed.original_capacity} is below the "
            f"{len(block.user_ids)} drivers assigned"
        )
    dev.blocks[block.id] = changed
    return _block_reply(dev, changed)


def delete_delivery_block(dev: DevWorld, body: JsonDict, now_s: float) -> Reply:
    block = dev.block(int_param(body, "id"))
    if block.user_ids:
        raise refused("cannot delete delivery block, driver assigned", rc=None)
    del dev.blocks[block.id]
    return OK


def _block_and_user(dev: DevWorld, body: JsonDict) -> tuple[DeliveryBlock, int]:
    block_id, user_id = int_param(body, "delivery_block_id"), int_param(body, "user_id")
    dev.block_user(user_id)
    return dev.block(block_id), user_id


def assign_delivery_block(dev: DevWorld, body: JsonDict, now_s: float) -> Reply:
    block, user_id = _block_and_user(dev, body)
    _assign(dev, block, user_id)
    return OK


def unassign_delivery_block(dev: DevWorld, body: JsonDict, now_s: float) -> Reply:
    block, user_id = _block_and_user(dev, body)
    if user_id not in block.user_ids:
        raise refused("Driver is not assigned to block", rc=2)
    if now_s >= block.end_s:
        raise refused("Not allowed, unassign time has passed", rc=1)
    block.user_ids.remove(user_id)
    del block.schedule_ids[user_id]
    return OK


def _listed(dev: DevWorld, blocks: list[DeliveryBlock]) -> Reply:
    rows = [dev.block_view(b) for b in sorted(blocks, key=lambda b: (b.start_s, b.id))]
    return Reply(200, {"success": True, "delivery_blocks": rows})


def _range(body: JsonDict) -> tuple[float, float]:
    start_s, end_s = _epoch(body, "start_time"), _epoch(body, "end_time")
    if end_s < start_s:
        raise Violation(400, "end_time must not be before start_time", rc=0)
    return start_s, end_s


def delivery_blocks_by_driver(dev: DevWorld, body: JsonDict, now_s: float) -> Reply:
    if body.get("user_ids") is None or body.get("user_ids") == []:
        raise missing("user_ids")
    wanted = set(int_list(body["user_ids"], "user_ids"))
    start_s, end_s = _range(body)
    found = [
        b
        for b in dev.blocks.values()
        if wanted & set(b.user_ids) and b.start_s < end_s and b.end_s > start_s
    ]
    return _listed(dev, found)


def delivery_blocks_by_team(dev: DevWorld, body: JsonDict, now_s: float) -> Reply:
    team_id = int_param(body, "team_id")
    start_s, end_s = _range(body)
    found = [
        b
        for b in dev.blocks.values()
        if b.team_id == team_id and b.start_s < end_s and b.end_s > start_s
    ]
    return _listed(dev, found)


BLOCK_HANDLERS = {
    "create_delivery_block": create_delivery_block,
    "get_delivery_block": get_delivery_block,
    "update_delivery_block": update_delivery_block,
    "delete_delivery_block": delete_delivery_block,
    "assign_delivery_block": assign_delivery_block,
    "unassign_delivery_block": unassign_delivery_block,
    "delivery_blocks_by_driver": delivery_blocks_by_driver,
    "delivery_blocks_by_team": delivery_blocks_by_team,
}

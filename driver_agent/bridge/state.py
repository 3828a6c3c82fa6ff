"""The walk's durable state as typed values: what the outbox file keeps next to the calls.

`FleetWalker.snapshot()` returns a `WalkerState` and `restore()` takes one; the outbox writes it
as JSON in the same transaction as the calls it implied and reads it back with
`core.typed.convert`, so a damaged state names the dotted key and the value. A stand in progress
at a stop is not kept (it starts afresh), nor the drivers' last positions.
"""

from __future__ import annotations

from enum import StrEnum

import msgspec

from driver_agent.core.model import Order


class StopState(StrEnum):
    APPROACHING = "approaching"
    CHECKED_IN = "checked_in"
    CHECKED_OUT = "checked_out"


class StopFence(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """One stop's geofence: where it is in the lifecycle and when the vehicle arrived."""

    state: StopState = StopState.APPROACHING
    arrived_t_ms: int | None = None


class OrderFence(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Both stops, and the device time of the last fix (older fixes stay late)."""

    pickup: StopFence = StopFence()
    dropoff: StopFence = StopFence()
    last_t_ms: int | None = None


class WalkState(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """One order's walk: its driver, whether it was started, its geofence."""

    order: Order  # without the webhook's extras (the walk does not need them)
    driver_id: str
    started: bool = False
    geofence: OrderFence = OrderFence()


class WalkerState(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Every known order, each driver's queue (active order first), orders finished so far,
    and the drivers ever assigned an order (Bringg knows them: their positions are sent)."""

    finished: int = 0
    assigned: list[str] = []
    queues: dict[str, list[int]] = {}
    walks: list[WalkState] = []

"""The states of the lifecycle machine and what they mean: active, busy, how an order ended.

Values only; `lifecycle.py` holds the machine that moves between them.
"""

from __future__ import annotations

from enum import StrEnum


class DriverState(StrEnum):
    IDLE = "idle"
    OFFERED = "offered"
    ASSIGNED = "assigned"
    EN_ROUTE_TO_PICKUP = "en_route_to_pickup"
    CHECKING_IN_AT_PICKUP = "checking_in_at_pickup"
    AT_PICKUP = "at_pickup"
    CHECKING_OUT_OF_PICKUP = "checking_out_of_pickup"
    EN_ROUTE_TO_DROPOFF = "en_route_to_dropoff"
    CHECKING_IN_AT_DROPOFF = "checking_in_at_dropoff"
    AT_DROPOFF = "at_dropoff"
    CHECKING_OUT_OF_DROPOFF = "checking_out_of_dropoff"
    COMPLETING = "completing"
    DONE = "done"
    CANCELLED = "cancelled"
    FAILED = "failed"
    REASSIGNED = "reassigned"


class OrderOutcome(StrEnum):
    COMPLETED = "completed"
    CANCELLED = "cancelled"
    REASSIGNED = "reassigned"
    FAILED = "failed"


class Stage(StrEnum):
    """Named stage durations, in simulated seconds, for the stats."""

    ASSIGN_TO_START = "assign_to_start"
    START_TO_PICKUP = "start_to_pickup"
    PICKUP_DWELL = "pickup_dwell"
    PICKUP_TO_DROPOFF = "pickup_to_dropoff"
    DROPOFF_DWELL = "dropoff_dwell"
    END_TO_END = "end_to_end"
    # not a span of the lifecycle: the time on foot (to stops off the road, back to the van),
    # which lies inside the stages above; recorded only for orders that had a walk
    ON_FOOT = "on_foot"


_S = DriverState
ACTIVE_STATES: tuple[DriverState, ...] = (
    _S.OFFERED,
    _S.ASSIGNED,
    _S.EN_ROUTE_TO_PICKUP,
    _S.CHECKING_IN_AT_PICKUP,
    _S.AT_PICKUP,
    _S.CHECKING_OUT_OF_PICKUP,
    _S.EN_ROUTE_TO_DROPOFF,
    _S.CHECKING_IN_AT_DROPOFF,
    _S.AT_DROPOFF,
    _S.CHECKING_OUT_OF_DROPOFF,
    _S.COMPLETING,
)
BUSY_STATES: frozenset[DriverState] = frozenset(ACTIVE_STATES[2:])
TERMINAL_STATES: dict[DriverState, OrderOutcome] = {
    _S.DONE: OrderOutcome.COMPLETED,
    _S.CANCELLED: OrderOutcome.CANCELLED,
    _S.FAILED: OrderOutcome.FAILED,
    _S.REASSIGNED: OrderOutcome.REASSIGNED,
}

"""The calls the bridge sends, built once as final wire bodies when the walker decides them (pure).

A `Call` is what the outbox stores and the sender posts as is (`FleetClient.send`): whose queue,
which endpoint, the request body exactly as `fleetapi.bodies` builds it for the typed client,
and the device time, which is also the body's `reported_time`. Nothing reads the body back to
rebuild it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import msgspec

from driver_agent.core.endpoints import Endpoint
from driver_agent.fleetapi import bodies
from driver_agent.fleetapi.wire import DriverProfile

if TYPE_CHECKING:
    from collections.abc import Sequence

    from driver_agent.core.model import StopKind


class Call(msgspec.Struct, frozen=True):
    """One fleet API call: whose queue, which endpoint, the final wire body, its device time."""

    driver_id: str
    endpoint: Endpoint
    body: dict[str, object]
    reported_time_ms: int


def assign(driver_id: str, task_id: int, t_ms: int) -> Call:
    """Assign Driver for a driver Bringg may not know yet (name: the documented default)."""
    body = bodies.assign_driver(
        task_id,
        user=DriverProfile(external_id=driver_id),
        user_external_id=None,
        delivery_cost_cents=None,
        green_delivery=None,
        reported_time_ms=t_ms,
    )
    return Call(driver_id, Endpoint.ASSIGN_DRIVER, body, t_ms)


def start(driver_id: str, task_id: int, t_ms: int, at: tuple[float, float] | None) -> Call:
    """Start Order, with the vehicle's last known place when there is one."""
    lat, lng = at if at is not None else (None, None)
    body = bodies.start_task(
        task_id,
        lat=lat,
        lng=lng,
        reported_time_ms=t_ms,
        delivery_cost_cents=None,
        green_delivery=None,
    )
    return Call(driver_id, Endpoint.START_TASK, body, t_ms)


def at_stop(
    endpoint: Endpoint,
    driver_id: str,
    task_id: int,
    *,
    lat: float,
    lng: float,
    t_ms: int,
    kind: StopKind | None = None,
) -> Call:
    """Check-in or check-out of the stop `kind`, or Complete Order (no kind), at a place and
    time."""
    if endpoint is Endpoint.END_TASK:
        body = bodies.end_task(
            task_id, lat=lat, lng=lng, reported_time_ms=t_ms, delivery_cost_cents=None
        )
    else:
        body = bodies.stop(task_id, kind=kind, lat=lat, lng=lng, reported_time_ms=t_ms)
    return Call(driver_id, endpoint, body, t_ms)


def location(driver_id: str, lat: float, lng: float, t_ms: int, started: Sequence[int]) -> Call:
    """Update Driver Location with the device time and the driver's started order, if any."""
    body = bodies.location(
        user_external_id=driver_id,
        user_id=None,
        lat=lat,
        lng=lng,
        reported_time_ms=t_ms,
        started_tasks=started,
    )
    return Call(driver_id, Endpoint.UPDATE_DRIVER_LOCATION, body, t_ms)

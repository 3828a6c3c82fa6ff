"""The calls the bridge sends, built once as final wire bodies when the walker decides them (pure).

A `Call` is what the outbox stores and the sender posts as is (`FleetClient.send`): whose queue,
which endpoint, the request body exactly as `fleetapi.wire` builds it, and the device time,
which is also the body's `reported_time`. Nothing reads the body back to rebuild it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import msgspec

from driver_agent.core.endpoints import Endpoint
from driver_agent.fleetapi import wire

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
    body = wire.task_body(task_id, reported_time_ms=t_ms)
    body["user"] = wire.DriverProfile(external_id=driver_id).to_json()
    return Call(driver_id, Endpoint.ASSIGN_DRIVER, body, t_ms)


def start(driver_id: str, task_id: int, t_ms: int, at: tuple[float, float] | None) -> Call:
    """Start Order, with the vehicle's last known place when there is one."""
    lat, lng = at if at is not None else (None, None)
    body = wire.task_body(task_id, lat=lat, lng=lng, reported_time_ms=t_ms)
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
    """Check-in, check-out (of the stop `kind`) or Complete Order at a place and time."""
    body = wire.task_body(task_id, lat=lat, lng=lng, reported_time_ms=t_ms, kind=kind)
    return Call(driver_id, endpoint, body, t_ms)


def location(driver_id: str, lat: float, lng: float, t_ms: int, started: Sequence[int]) -> Call:
    """Update Driver Location with the device time and the driver's started order, if any."""
    body = wire.location_body(
        user_external_id=driver_id,
        user_id=None,
        lat=lat,
        lng=lng,
        reported_time_ms=t_ms,
        started_tasks=started,
    )
    return Call(driver_id, Endpoint.UPDATE_DRIVER_LOCATION, body, t_ms)

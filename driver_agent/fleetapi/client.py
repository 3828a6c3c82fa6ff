"""The fleet API client: one typed method per documented call.

Each method checks its arguments and builds the call's body (`bodies.py`), posts it with
`FleetSession.send` (session.py: token, retries, rate limits, reconciliation) and reads the answer
(`views.py`). A reconciled call (applied earlier, its answer lost) returns a `TaskView` with the
task id and the status the refusal named (cluster calls: no way point ids). `create_note` carries
a client-made `external_id` derived from the note, by which a resend is recognised rather than
added twice. `send` itself is public: the bridge posts the bodies its outbox stored with it.
"""

from __future__ import annotations

import random
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING

from driver_agent.core.endpoints import Endpoint
from driver_agent.core.errors import RejectedError
from driver_agent.core.model import StopKind
from driver_agent.fleetapi import bodies
from driver_agent.fleetapi.auth import TOKEN_ENDPOINT
from driver_agent.fleetapi.resend import reconciled_status
from driver_agent.fleetapi.session import (
    RECONCILED,
    ClientStatistics,
    FleetSession,
    OnResponse,
    OnRetry,
)
from driver_agent.fleetapi.views import TaskView, parse_id_list, parse_task_answer

if TYPE_CHECKING:
    from collections.abc import Sequence

    from driver_agent.core.clock import Clock
    from driver_agent.core.config import ApiConfig
    from driver_agent.fleetapi.wire import DriverProfile, IntegrationEvent, Note, WayPointUpdate

__all__ = ["TOKEN_ENDPOINT", "ClientStatistics", "FleetClient", "open_fleet_client"]


class FleetClient(FleetSession):
    """The documented calls of one fleet API account; safe for many tasks."""

    # -- the documented calls ---------------------------------------------------------------

    async def assign_driver(
        self,
        task_id: int,
        *,
        user: DriverProfile | None = None,
        user_external_id: str | None = None,
        delivery_cost_cents: float | None = None,
        green_delivery: bool | None = None,
        reported_time_ms: int | None = None,
    ) -> TaskView:
        """Assign a new driver (`user`) or a known one (`user_external_id`) to the order."""
        body = bodies.assign_driver(
            task_id,
            user=user,
            user_external_id=user_external_id,
            delivery_cost_cents=delivery_cost_cents,
            green_delivery=green_delivery,
            reported_time_ms=reported_time_ms,
        )
        answer = await self.send(Endpoint.ASSIGN_DRIVER, body)
        return self._task(Endpoint.ASSIGN_DRIVER, answer, task_id)

    async def start_task(
        self,
        task_id: int,
        *,
        lat: float | None = None,
        lng: float | None = None,
        reported_time_ms: int | None = None,
        delivery_cost_cents: float | None = None,
        green_delivery: bool | None = None,
    ) -> TaskView:
        body = bodies.start_task(
            task_id,
            lat=lat,
            lng=lng,
            reported_time_ms=reported_time_ms,
            delivery_cost_cents=delivery_cost_cents,
            green_delivery=green_delivery,
        )
        answer = await self.send(Endpoint.START_TASK, body)
        return self._task(Endpoint.START_TASK, answer, task_id)

    async def update_driver_location(
        self,
        *,
        user_external_id: str | None = None,
        user_id: int | None = None,
        lat: float,
        lng: float,
        reported_time_ms: int | None = None,
        started_tasks: Sequence[int] = (),
    ) -> None:
        body = bodies.location(
            user_external_id=user_external_id,
            user_id=user_id,
            lat=lat,
            lng=lng,
            reported_time_ms=reported_time_ms,
            started_tasks=started_tasks,
        )
        await self.send(Endpoint.UPDATE_DRIVER_LOCATION, body)

    async def checkin(
        self,
        task_id: int,
        *,
        kind: StopKind | None = None,
        lat: float | None = None,
        lng: float | None = None,
        reported_time_ms: int | None = None,
    ) -> TaskView:
        body = bodies.stop(task_id, kind=kind, lat=lat, lng=lng, reported_time_ms=reported_time_ms)
        answer = await self.send(Endpoint.CHECKIN, body)
        return self._task(Endpoint.CHECKIN, answer, task_id)

    async def checkout(
        self,
        task_id: int,
        *,
        kind: StopKind | None = None,
        lat: float | None = None,
        lng: float | None = None,
        reported_time_ms: int | None = None,
    ) -> TaskView:
        body = bodies.stop(task_id, kind=kind, lat=lat, lng=lng, reported_time_ms=reported_time_ms)
        answer = await self.send(Endpoint.CHECKOUT, body)
        return self._task(Endpoint.CHECKOUT, answer, task_id, kind)

    async def create_note(
        self,
        task_id: int,
        note: Note,
        *,
        kind: StopKind | None = None,
        lat: float | None = None,
        lng: float | None = None,
        reported_time_ms: int | None = None,
    ) -> dict[str, object]:
        """Add a note / proof of delivery; the Note was size- and type-checked when built."""
        body = bodies.note(
            task_id, note, kind=kind, lat=lat, lng=lng, reported_time_ms=reported_time_ms
        )
        return await self.send(Endpoint.CREATE_NOTE, body)

    async def end_task(
        self,
        task_id: int,
        *,
        lat: float | None = None,
        lng: float | None = None,
        reported_time_ms: int | None = None,
        delivery_cost_cents: float | None = None,
    ) -> TaskView:
        """Complete Order."""
        body = bodies.end_task(
            task_id,
            lat=lat,
            lng=lng,
            reported_time_ms=reported_time_ms,
            delivery_cost_cents=delivery_cost_cents,
        )
        answer = await self.send(Endpoint.END_TASK, body)
        return self._task(Endpoint.END_TASK, answer, task_id)

    async def cancel_delivery(
        self,
        task_id: int,
        *,
        reason_id: int,
        reason: str | None = None,
        lat: float | None = None,
        lng: float | None = None,
        reported_time_ms: int | None = None,
    ) -> TaskView:
        body = bodies.cancel_delivery(
            task_id,
            reason_id=reason_id,
            reason=reason,
            lat=lat,
            lng=lng,
            reported_time_ms=reported_time_ms,
        )
        answer = await self.send(Endpoint.CANCEL_DELIVERY, body)
        return self._task(Endpoint.CANCEL_DELIVERY, answer, task_id)

    async def update_task(
        self,
        task_id: int,
        *,
        way_points: Sequence[WayPointUpdate] = (),
        delivery_cost_cents: float | None = None,
        reported_time_ms: int | None = None,
        integration_event: IntegrationEvent | None = None,
        fleet_extras: Mapping[str, object] | None = None,
        green_delivery: bool | None = None,
    ) -> dict[str, object]:
        body = bodies.update_task(
            task_id,
            way_points=way_points,
            delivery_cost_cents=delivery_cost_cents,
            reported_time_ms=reported_time_ms,
            integration_event=integration_event,
            fleet_extras=fleet_extras,
            green_delivery=green_delivery,
        )
        return await self.send(Endpoint.UPDATE_TASK, body)

    async def cluster_check_in(
        self,
        task_ids: Sequence[int],
        *,
        kind: StopKind = StopKind.PICKUP,
        lat: float | None = None,
        lng: float | None = None,
        reported_time_ms: int | None = None,
    ) -> list[int]:
        """Check in many orders at one place; returns the way point ids checked in."""
        body = bodies.cluster(
            task_ids, kind=kind, lat=lat, lng=lng, reported_time_ms=reported_time_ms
        )
        answer = await self.send(Endpoint.CLUSTER_CHECK_IN, body)
        return self._ids(Endpoint.CLUSTER_CHECK_IN, answer, "way_points_checked_in")

    async def cluster_check_out(
        self,
        task_ids: Sequence[int],
        *,
        kind: StopKind = StopKind.PICKUP,
        lat: float | None = None,
        lng: float | None = None,
        reported_time_ms: int | None = None,
    ) -> list[int]:
        """Check out many orders at one place; returns the way point ids checked out."""
        body = bodies.cluster(
            task_ids, kind=kind, lat=lat, lng=lng, reported_time_ms=reported_time_ms
        )
        answer = await self.send(Endpoint.CLUSTER_CHECK_OUT, body)
        return self._ids(Endpoint.CLUSTER_CHECK_OUT, answer, "way_points_checked_out")

    # -- reading answers --------------------------------------------------------------------

    def _task(
        self,
        endpoint: str,
        answer: Mapping[str, object],
        task_id: int,
        kind: StopKind | None = None,
    ) -> TaskView:
        if answer is RECONCILED:
            return TaskView(task_id, reconciled_status(endpoint, kind))
        try:
            return parse_task_answer(answer)
        except ValueError as exc:
            raise RejectedError(endpoint, 200, f"unreadable answer: {exc}") from None

    def _ids(self, endpoint: str, answer: Mapping[str, object], key: str) -> list[int]:
        if answer is RECONCILED:
            return []  # already applied: the API's refusal names no way point ids
        try:
            return parse_id_list(answer, key)
        except ValueError as exc:
            raise RejectedError(endpoint, 200, f"unreadable answer: {exc}") from None


@asynccontextmanager
async def open_fleet_client(
    config: ApiConfig,
    clock: Clock,
    *,
    rng: random.Random | None = None,
    on_response: OnResponse | None = None,
    on_retry: OnRetry | None = None,
) -> AsyncIterator[FleetClient]:
    """A FleetClient over the process's one HTTP pool, closed on the way out."""
    client = FleetClient(config, clock, rng=rng, on_response=on_response, on_retry=on_retry)
    try:
        yield client
    finally:
        await client.aclose()

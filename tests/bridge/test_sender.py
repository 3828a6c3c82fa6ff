"""The outbox sender against the sandbox: acked calls leave the file, a refused call is
discarded and counted without blocking the driver's later calls."""

from __future__ import annotations

from pathlib import Path

import anyio
import httpx

from driver_agent.bridge import calls as build
from driver_agent.bridge.metrics import BridgeMetrics
from driver_agent.bridge.outbox import Outbox, PendingCall
from driver_agent.bridge.sender import OutboxSender
from driver_agent.core.clock import RealClock
from driver_agent.core.config import ApiConfig
from driver_agent.core.endpoints import Endpoint
from driver_agent.core.errors import ApiError
from driver_agent.core.model import Secret, StopKind
from driver_agent.fleetapi.client import open_fleet_client

T_MS = 1_900_000_000_000


async def test_a_refused_call_is_discarded_and_counted_and_the_queue_moves_on(
    tmp_path: Path, sandbox_url: str
) -> None:
    config = ApiConfig(
        api_url=sandbox_url,
        client_id="sandbox-fleet",
        client_secret=Secret("sandbox-fleet-secret"),
        max_retries=0,
    )
    calls = [
        build.at_stop(
            Endpoint.CHECKIN, "drv-9", 424242, lat=60.17, lng=24.94, t_ms=T_MS, kind=StopKind.PICKUP
        ),
        build.location("drv-9", 60.17, 24.94, T_MS + 1, []),
    ]
    metrics = BridgeMetrics()
    with Outbox(tmp_path / "outbox.sqlite3") as outbox:
        outbox.append_many(calls, T_MS)
        clock = RealClock()
        async with open_fleet_client(config, clock) as client:
            sender = OutboxSender(
                outbox, client, clock, metrics, db_limiter=anyio.CapacityLimiter(1)
            )
            async with anyio.create_task_group() as tg:
                await tg.start(sender.run)
                with anyio.fail_after(10):
                    await sender.wait_idle()
                tg.cancel_scope.cancel()
        assert outbox.depth() == 0
        assert outbox.dropped_counts() == {"rejected": 2}
    assert (sender.sent, sender.refused) == (0, 2)
    assert 'errors_total{class="ForbiddenError"} 2' in metrics.render()
    async with httpx.AsyncClient(base_url=sandbox_url, trust_env=False) as http:
        seen = (await http.get("/_sandbox/state")).json()["calls"]
    # the location update was sent (and refused: drv-9 is unknown), not stuck behind the checkin
    assert seen["/open_fleet_services/checkin"]["count"] == 1
    assert seen["/open_fleet_services/update_driver_location"]["count"] == 1


async def test_a_refusal_the_daemon_expected_leaves_quietly_and_others_still_count(
    tmp_path: Path, sandbox_url: str
) -> None:
    """The daemon says which refusals are expected (a location update before the driver's first
    order): those leave the outbox without counting as errors or drops."""
    config = ApiConfig(
        api_url=sandbox_url,
        client_id="sandbox-fleet",
        client_secret=Secret("sandbox-fleet-secret"),
        max_retries=0,
    )
    calls = [
        build.location("drv-9", 60.17, 24.94, T_MS, []),
        build.at_stop(
            Endpoint.CHECKIN, "drv-9", 424242, lat=60.17, lng=24.94, t_ms=T_MS, kind=StopKind.PICKUP
        ),
    ]
    asked: list[tuple[Endpoint, int | None]] = []

    def expected(call: PendingCall, exc: ApiError) -> bool:
        asked.append((call.endpoint, exc.status))
        return call.endpoint is Endpoint.UPDATE_DRIVER_LOCATION

    metrics = BridgeMetrics()
    with Outbox(tmp_path / "outbox.sqlite3") as outbox:
        outbox.append_many(calls, T_MS)
        clock = RealClock()
        async with open_fleet_client(config, clock) as client:
            sender = OutboxSender(
                outbox,
                client,
                clock,
                metrics,
                db_limiter=anyio.CapacityLimiter(1),
                expected=expected,
            )
            async with anyio.create_task_group() as tg:
                await tg.start(sender.run)
                with anyio.fail_after(10):
                    await sender.wait_idle()
                tg.cancel_scope.cancel()
        assert outbox.depth() == 0
        assert outbox.dropped_counts() == {"rejected": 1}  # the checkin only
    assert asked == [(Endpoint.UPDATE_DRIVER_LOCATION, 403), (Endpoint.CHECKIN, 403)]
    assert (sender.sent, sender.refused) == (0, 1)
    assert 'errors_total{class="ForbiddenError"} 1' in metrics.render()


async def test_acknowledged_calls_leave_the_outbox_in_order(
    tmp_path: Path, sandbox_url: str
) -> None:
    config = ApiConfig(
        api_url=sandbox_url,
        client_id="sandbox-fleet",
        client_secret=Secret("sandbox-fleet-secret"),
    )
    async with httpx.AsyncClient(base_url=sandbox_url, trust_env=False) as http:
        token = await http.post("/oauth/token", json={
            "grant_type": "client_credentials", "client_id": "sandbox-merchant",
            "client_secret": "sandbox-merchant-secret",
        })  # fmt: skip
        created = await http.post(
            "/services/create_task",
            headers={"Authorization": f"Bearer {token.json()['access_token']}"},
            json={
                "customer": {"name": "C", "phone": "+358401234567"},
                "way_points": [{"lat": 60.17, "lng": 24.94}, {"lat": 60.169, "lng": 24.95}],
            },
        )
    task_id = created.json()["task"]["id"]
    calls = [
        build.assign("drv-1", task_id, T_MS),
        build.start("drv-1", task_id, T_MS, None),
        *[build.location("drv-1", 60.17, 24.94, T_MS + k * 1000, [task_id]) for k in range(1, 6)],
    ]
    with Outbox(tmp_path / "outbox.sqlite3") as outbox:
        outbox.append_many(calls, T_MS)
        clock = RealClock()
        async with open_fleet_client(config, clock) as client:
            sender = OutboxSender(
                outbox, client, clock, BridgeMetrics(), db_limiter=anyio.CapacityLimiter(1)
            )
            async with anyio.create_task_group() as tg:
                await tg.start(sender.run)  # picks up what is already in the file
                with anyio.fail_after(10):
                    await sender.wait_idle()
                tg.cancel_scope.cancel()
        assert outbox.depth() == 0
    async with httpx.AsyncClient(base_url=sandbox_url, trust_env=False) as http:
        state = (await http.get("/_sandbox/state")).json()
    driver = state["drivers"][0]
    assert (driver["location_count"], driver["out_of_order"]) == (5, 0)
    assert driver["last_fix"]["reported_time"] == T_MS + 5000
    assert driver["started_tasks"] == [task_id]
    assert sender.sent == 7

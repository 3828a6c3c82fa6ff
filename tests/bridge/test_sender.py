"""The outbox sender against the sandbox: acked calls leave the file, a refused call is
discarded and counted without blocking the driver's later calls."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, cast

import anyio
import anyio.lowlevel
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

if TYPE_CHECKING:
    from driver_agent.fleetapi.client import FleetClient

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


class RecordingClient:
    """Stands in for the FleetClient: records every body sent, answers after a yield."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, int]] = []

    async def send(self, endpoint: Endpoint, body: dict[str, object]) -> dict[str, object]:
        await anyio.lowlevel.checkpoint()
        self.seen.append((str(body["user_external_id"]), int(str(body["reported_time"]))))
        return {"success": True}


async def test_batched_acks_never_lose_or_repeat_a_call_across_waves_and_a_restart(
    tmp_path: Path,
) -> None:
    """Calls appended in waves while others are being sent and acked (acks written in batches):
    each is sent exactly once, in order per driver, the file ends empty, and a second run over
    the same file sends nothing again."""
    path = tmp_path / "outbox.sqlite3"
    client = RecordingClient()
    expected: list[tuple[str, int]] = []
    clock = RealClock()
    with Outbox(path) as outbox:
        sender = OutboxSender(
            outbox,
            cast("FleetClient", client),
            clock,
            BridgeMetrics(),
            db_limiter=anyio.CapacityLimiter(1),
        )
        async with anyio.create_task_group() as tg:
            await tg.start(sender.run)
            for wave in range(20):
                batch = [
                    build.location(f"drv-{d}", 60.17, 24.94, T_MS + wave * 100 + d, [])
                    for d in range(7)
                    for _ in range(1 + (wave + d) % 3)
                ]
                # the same driver twice in a wave: distinct times, in order
                batch = [
                    build.location(c.driver_id, 60.17, 24.94, c.reported_time_ms * 10 + k, [])
                    for k, c in enumerate(batch)
                ]
                outbox.append_many(batch, T_MS)
                expected += [(c.driver_id, c.reported_time_ms) for c in batch]
                sender.appended()
                for _ in range(wave % 4):
                    await anyio.lowlevel.checkpoint()  # let some sends and acks happen in between
            with anyio.fail_after(10):
                await sender.wait_idle()
            tg.cancel_scope.cancel()
        assert outbox.depth() == 0
    assert sorted(client.seen) == sorted(expected)  # none lost, none twice
    for driver in {d for d, _ in expected}:
        mine = [t for d, t in client.seen if d == driver]
        assert mine == sorted(mine)  # in order per driver
    assert sender.sent == len(expected)
    with Outbox(path) as outbox:
        again = OutboxSender(
            outbox,
            cast("FleetClient", client),
            clock,
            BridgeMetrics(),
            db_limiter=anyio.CapacityLimiter(1),
        )
        async with anyio.create_task_group() as tg:
            await tg.start(again.run)
            with anyio.fail_after(10):
                await again.wait_idle()
            tg.cancel_scope.cancel()
    assert again.sent == 0
    assert len(client.seen) == len(expected)


async def test_acks_gathered_at_stop_are_written_before_the_sender_returns(tmp_path: Path) -> None:
    """Cancelled right after the API answered: the acks not yet written are written on the way
    out, so the next run does not send those calls again."""
    path = tmp_path / "outbox.sqlite3"
    client = RecordingClient()
    with Outbox(path) as outbox:
        outbox.append_many(
            [build.location("drv-1", 60.17, 24.94, T_MS + k, []) for k in range(5)], T_MS
        )
        sender = OutboxSender(
            outbox,
            cast("FleetClient", client),
            RealClock(),
            BridgeMetrics(),
            db_limiter=anyio.CapacityLimiter(1),
        )
        async with anyio.create_task_group() as tg:
            await tg.start(sender.run)
            with anyio.fail_after(10):
                while sender.sent < 5:
                    await anyio.lowlevel.checkpoint()
            tg.cancel_scope.cancel()  # the acker may not have run yet
        assert outbox.depth() == 0
    assert len(client.seen) == 5


class GatedClient(RecordingClient):
    """Holds every send until `gate` is set."""

    def __init__(self) -> None:
        super().__init__()
        self.gate = anyio.Event()
        self.waiting = 0

    async def send(self, endpoint: Endpoint, body: dict[str, object]) -> dict[str, object]:
        self.waiting += 1
        await self.gate.wait()
        return await super().send(endpoint, body)


async def test_calls_a_bound_drops_after_they_were_read_are_not_sent(tmp_path: Path) -> None:
    client = GatedClient()
    with Outbox(tmp_path / "outbox.sqlite3", max_rows=5) as outbox:
        outbox.append_many(
            [build.location("drv-1", 60.17, 24.94, T_MS + k, []) for k in range(5)], T_MS
        )
        sender = OutboxSender(
            outbox,
            cast("FleetClient", client),
            RealClock(),
            BridgeMetrics(),
            db_limiter=anyio.CapacityLimiter(1),
        )
        async with anyio.create_task_group() as tg:
            await tg.start(sender.run)
            with anyio.fail_after(10):
                while client.waiting < 1:  # drv-1's first call is in flight, the rest read
                    await anyio.lowlevel.checkpoint()
            # three more overflow the bound: drv-1's three oldest go, one of them in flight
            outbox.append_many(
                [build.location("drv-2", 60.17, 24.94, T_MS + k, []) for k in range(3)], T_MS
            )
            sender.appended()
            with anyio.fail_after(10):
                while client.waiting < 2:  # drv-2's first call is in flight: the read is done
                    await anyio.lowlevel.checkpoint()
            client.gate.set()
            with anyio.fail_after(10):
                await sender.wait_idle()
            tg.cancel_scope.cancel()
        assert outbox.depth() == 0
        assert outbox.dropped_counts() == {"overflow": 3}
    sent = sorted(client.seen)
    # the call already in flight went out; the two dropped while queued did not
    assert sent == [("drv-1", T_MS), ("drv-1", T_MS + 3), ("drv-1", T_MS + 4)] + [
        ("drv-2", T_MS + k) for k in range(3)
    ]

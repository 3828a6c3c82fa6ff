"""The bridge daemon end to end against the embedded sandbox: GPX replay walks an order, HTTP
inputs reach the API, bad inputs get 400s and are counted, an outage is drained in order, and a
restarted bridge continues the walk from its outbox file."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

import anyio
import httpx
import loopback
import msgspec
import pytest
import structlog.testing

from driver_agent.bridge.daemon import Bridge, BridgeSummary, run_bridge
from driver_agent.bridge.positions import Position
from driver_agent.bridge.replay import load_replay, run_replay
from driver_agent.bridge.state import WalkerState
from driver_agent.core.clock import RealClock, VirtualClock
from driver_agent.core.config import BridgeConfig, Config, WebhookConfig
from driver_agent.core.model import Secret
from driver_agent.sandbox import SandboxApp, SandboxSettings, create_app, serve_sandbox_in_thread

DATA = Path(__file__).parent.parent / "data" / "bridge"
PICKUP = (60.1700, 24.9400)
DROPOFF = (60.1690, 24.9600)
MERCHANT_KEY = "sandbox-merchant-api-key"
T0_MS = 1_714_564_800_000


@pytest.fixture
def sandbox() -> Iterator[tuple[SandboxApp, str]]:
    app = create_app(SandboxSettings(webhook_retry_delay_s=0))
    with serve_sandbox_in_thread(app=app) as url:
        yield app, url


def bridge_config(url: str, tmp_path: Path, **bridge: Any) -> Config:
    return Config(
        api=loopback.sandbox_api(url),
        webhooks=WebhookConfig(port=0, api_key=Secret(MERCHANT_KEY)),
        bridge=BridgeConfig(
            listen_port=0,
            device_map={"van-1": "drv-1"},
            outbox=str(tmp_path / "outbox.sqlite3"),
            drain_timeout_s=10.0,
            **bridge,
        ),
    )


@asynccontextmanager
async def running_bridge(
    config: Config, app: SandboxApp
) -> AsyncIterator[tuple[Bridge, list[BridgeSummary]]]:
    """The bridge in this test's task group, the sandbox's webhooks pointed at it."""
    summaries: list[BridgeSummary] = []

    async def run(*, task_status: Any) -> None:
        summaries.append(await run_bridge(config, RealClock(), task_status=task_status))

    async with anyio.create_task_group() as tg:
        bridge: Bridge = await tg.start(run)
        # the sandbox learns the bridge's webhook URL only now that the bridge listens
        async with httpx.AsyncClient() as http:
            admin = f"{config.api.api_url}/_sandbox/webhook_url"
            answer = await http.post(admin, json={"url": bridge.webhook_url})
            assert answer.json()["fleet_webhook_url"] == bridge.webhook_url
        yield bridge, summaries
        bridge.stop()


async def wait_for(condition: Callable[[], bool], timeout_s: float = 10.0) -> None:
    """Poll in-process state that another thread (the sandbox) changes; bounded."""
    with anyio.fail_after(timeout_s):
        while not condition():  # noqa: ASYNC110 - the change comes from the sandbox's thread
            await anyio.sleep(0.01)


async def sandbox_state(url: str) -> dict[str, Any]:
    async with httpx.AsyncClient(base_url=url, trust_env=False) as http:
        answer = await http.get("/_sandbox/state")
    state: dict[str, Any] = answer.json()
    return state


async def admin(url: str, path: str, body: dict[str, Any]) -> None:
    async with httpx.AsyncClient(base_url=url, trust_env=False) as http:
        answer = await http.post(path, json=body)
    assert answer.status_code == 200, answer.text


async def create_order(url: str, n: int = 1) -> int:
    return await loopback.create_order(url, PICKUP, DROPOFF, n)


def driver_view(state: dict[str, Any], external_id: str) -> dict[str, Any]:
    found = [d for d in state["drivers"] if d["external_id"] == external_id]
    assert found, f"driver {external_id} unknown to the sandbox"
    view: dict[str, Any] = found[0]
    return view


def offset_s(iso: str, start_ms: int) -> float:
    return datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp() - start_ms / 1000


@pytest.mark.parametrize("track", ["delivery.gpx", "sparse.gpx"])
async def test_a_gpx_replay_of_a_delivery_checks_in_and_out_at_the_right_stops(
    tmp_path: Path, sandbox: tuple[SandboxApp, str], track: str
) -> None:
    app, url = sandbox
    config = bridge_config(url, tmp_path, orders=1)
    async with running_bridge(config, app) as (bridge, summaries):
        task_id = await create_order(url)
        await wait_for(lambda: bridge.walker.active_order("drv-1") == task_id)
        start_ms = bridge.clock.now_ms()
        plan = load_replay(DATA / track, "van-1", start_ms)
        await run_replay(plan, bridge.accept, bridge.clock, speed=1e6, start_s=start_ms / 1000)
        # --orders 1: the bridge ends by itself once end_task was acknowledged
        await wait_for(lambda: bool(summaries), timeout_s=20)
    order = next(o for o in (await sandbox_state(url))["orders"] if o["task_id"] == task_id)
    assert order["status_name"] == "done"
    pickup, dropoff = order["way_points"]
    # the van stood at the pickup from about 129 s to 249 s, at the dropoff from 359 s to 479 s
    assert 125 <= offset_s(pickup["checkin_time"], start_ms) <= 150
    assert 249 <= offset_s(pickup["checkout_time"], start_ms) <= 295
    assert 355 <= offset_s(dropoff["checkin_time"], start_ms) <= 390
    assert 479 <= offset_s(dropoff["checkout_time"], start_ms) <= 505
    driver = driver_view(await sandbox_state(url), "drv-1")
    assert driver["location_count"] == len(plan)
    assert driver["out_of_order"] == 0
    assert summaries[0].orders_finished == 1
    assert summaries[0].left_in_outbox == 0


async def test_a_trace_ending_at_the_dropoff_leaves_the_order_checked_in_there(
    tmp_path: Path, sandbox: tuple[SandboxApp, str]
) -> None:
    app, url = sandbox
    config = bridge_config(url, tmp_path)
    async with running_bridge(config, app) as (bridge, _):
        task_id = await create_order(url)
        await wait_for(lambda: bridge.walker.active_order("drv-1") == task_id)
        start_ms = bridge.clock.now_ms()
        plan = load_replay(DATA / "delivery.gpx", "van-1", start_ms)
        until_dropoff = [p for p in plan if p.offset_s <= 470]  # still standing at the dropoff
        await run_replay(until_dropoff, bridge.accept, bridge.clock, speed=1e6, start_s=0)
        await bridge.sender.wait_idle()
    order = next(o for o in (await sandbox_state(url))["orders"] if o["task_id"] == task_id)
    assert order["status_name"] == "checked_in"
    assert order["way_points"][1]["checkin_time"] is not None
    assert order["way_points"][1]["checkout_time"] is None


async def test_traccar_forward_and_osmand_positions_reach_the_api_and_bad_ones_get_400s(
    tmp_path: Path, sandbox: tuple[SandboxApp, str]
) -> None:
    app, url = sandbox
    config = bridge_config(url, tmp_path)
    async with running_bridge(config, app) as (bridge, _):
        task_id = await create_order(url)
        await wait_for(lambda: bridge.walker.active_order("drv-1") == task_id)
        async with httpx.AsyncClient(base_url=bridge.input_url, trust_env=False) as http:
            traccar = {
                "device": {"id": 7, "uniqueId": "van-1", "name": "van 1"},
                "position": {
                    "deviceId": 7,
                    "fixTime": "2024-05-01T12:00:00.000+00:00",
                    "latitude": 60.1650,
                    "longitude": 24.9300,
                    "speed": 0.0,
                },
            }
            assert (await http.post("/traccar", json=traccar)).status_code == 200
            osmand = {"id": "van-1", "lat": "60.1660", "lon": "24.9320", "timestamp": "1714564810"}
            assert (await http.get("/", params=osmand)).status_code == 200
            form = "id=van-1&lat=60.1670&lon=24.9340&timestamp=1714564820&speed=19.4"
            posted = await http.post(
                "/", content=form, headers={"content-type": "application/x-www-form-urlencoded"}
            )
            assert posted.status_code == 200
            bad = [
                await http.get("/", params={**osmand, "lat": "north"}),
                await http.get("/", params={**osmand, "id": "stranger"}),
                await http.post("/traccar", content=b"{not json"),
            ]
            await bridge.sender.wait_idle()
            metrics = (await http.get("/metrics")).text
            health = (await http.get("/healthz")).json()
    assert [r.status_code for r in bad] == [400, 400, 400]
    assert [r.json()["field"] for r in bad] == ["lat", "device", "body"]
    assert 'positions_rejected_total{source="osmand",field="lat"} 1' in metrics
    assert 'positions_rejected_total{source="osmand",field="device"} 1' in metrics
    assert 'positions_in_total{source="osmand"} 2' in metrics
    assert 'positions_in_total{source="traccar"} 1' in metrics
    assert health["outbox_depth"] == 0
    driver = driver_view(await sandbox_state(url), "drv-1")
    assert driver["location_count"] == 3
    assert driver["last_fix"]["reported_time"] == T0_MS + 20_000
    assert driver["started_tasks"] == [task_id]


async def test_an_outage_of_several_minutes_is_drained_afterwards_in_order(
    tmp_path: Path, sandbox: tuple[SandboxApp, str]
) -> None:
    app, url = sandbox
    config = bridge_config(url, tmp_path)
    async with running_bridge(config, app) as (bridge, _):
        task_id = await create_order(url)
        await wait_for(lambda: bridge.walker.active_order("drv-1") == task_id)
        await bridge.sender.wait_idle()
        await admin(url, "/_sandbox/faults", {"status": 503, "duration_s": 300})
        t0_ms = bridge.clock.now_ms()
        async with httpx.AsyncClient(base_url=bridge.input_url, trust_env=False) as http:
            for k in range(40):
                params = {
                    "id": "van-1",
                    "lat": f"{60.1650 + k * 0.0001:.6f}",
                    "lon": "24.9300",
                    "timestamp": str(t0_ms + k * 5000),
                }
                assert (await http.get("/", params=params)).status_code == 200
            during = driver_view(await sandbox_state(url), "drv-1")
            depth = bridge.outbox.depth()
            await admin(url, "/_sandbox/clock", {"advance_s": 301})  # the outage is over
            await wait_for(lambda: bridge.outbox.depth() == 0)
            metrics = (await http.get("/metrics")).text
    after = driver_view(await sandbox_state(url), "drv-1")
    assert during["location_count"] == 0
    assert depth == 40
    assert after["location_count"] >= 40
    assert after["out_of_order"] == 0
    assert after["last_fix"]["reported_time"] == t0_ms + 39 * 5000
    assert 'errors_total{class="ApiUnavailable"}' in metrics


async def test_a_restarted_bridge_continues_the_walk_from_its_outbox_file(
    tmp_path: Path, sandbox: tuple[SandboxApp, str]
) -> None:
    app, url = sandbox
    config = bridge_config(url, tmp_path)
    async with running_bridge(config, app) as (bridge, _):
        task_id = await create_order(url)
        await wait_for(lambda: bridge.walker.active_order("drv-1") == task_id)
        start_ms = bridge.clock.now_ms()
        plan = load_replay(DATA / "delivery.gpx", "van-1", start_ms)
        first = [p for p in plan if p.offset_s <= 200]  # standing at the pickup, checked in
        await run_replay(first, bridge.accept, bridge.clock, speed=1e6, start_s=0)
        await bridge.sender.wait_idle()
    async with running_bridge(config, app) as (bridge, _):
        assert bridge.walker.active_order("drv-1") == task_id
        rest = [p for p in plan if p.offset_s > 200]
        await run_replay(rest, bridge.accept, bridge.clock, speed=1e6, start_s=0)
        await bridge.sender.wait_idle()
    order = next(o for o in (await sandbox_state(url))["orders"] if o["task_id"] == task_id)
    assert order["status_name"] == "done"
    assert all(wp["checkout_time"] is not None for wp in order["way_points"])


async def test_an_order_is_in_the_outbox_before_bringg_hears_it_was_accepted(
    tmp_path: Path, sandbox: tuple[SandboxApp, str]
) -> None:
    """Delivery Created is answered only after the walk and its first calls are committed: a
    crash right after the reply would lose nothing."""
    app, url = sandbox
    config = bridge_config(url, tmp_path)
    created = {
        "id": 4242,
        "external_id": "durable-1",
        "way_points": [
            {"id": 1, "position": 1, "lat": PICKUP[0], "lng": PICKUP[1]},
            {"id": 2, "position": 2, "lat": DROPOFF[0], "lng": DROPOFF[1]},
        ],
    }
    async with running_bridge(config, app) as (bridge, _):
        async with httpx.AsyncClient() as http:
            reply = await http.post(
                bridge.webhook_url + "/webhooks/delivery_created",
                json=created,
                headers={"Authorization": MERCHANT_KEY},
            )
        saved = bridge.outbox.load_state("walker", WalkerState)  # at once, as a restart would
    assert reply.json()["success"] is True
    assert saved is not None
    assert [w.order.task_id for w in saved.walks] == [4242]


@pytest.mark.parametrize("resend", [False, True], ids=["report-only", "resend"])
async def test_a_quiet_busy_device_is_reported_and_resent_only_when_configured(
    tmp_path: Path, sandbox: tuple[SandboxApp, str], resend: bool
) -> None:
    _app, url = sandbox
    config = bridge_config(url, tmp_path, resend_last_position=resend)
    clock = VirtualClock(start=T0_MS / 1000)  # the watchdog's 30 s pass without waiting

    async def run(*, task_status: Any) -> None:
        await run_bridge(config, clock, task_status=task_status)

    async with anyio.create_task_group() as tg:
        bridge: Bridge = await tg.start(run)
        await admin(url, "/_sandbox/webhook_url", {"url": bridge.webhook_url})
        task_id = await create_order(url)
        await wait_for(lambda: bridge.walker.active_order("drv-1") == task_id)
        heard = Position("van-1", PICKUP[0] + 0.01, PICKUP[1], clock.now_ms())
        await bridge.accept(heard)
        await wait_for(lambda: bridge.metrics.silences.value() >= 1)
        if resend:
            await wait_for(lambda: bridge.metrics.resent.value() >= 1)
        await bridge.sender.wait_idle()
        bridge.stop()
    drv = driver_view(await sandbox_state(url), "drv-1")
    assert bridge.metrics.silences.value() == 1  # one silence, reported once
    if resend:  # the last fix again, with its original time: nothing invented
        assert drv["location_count"] >= 2
        assert drv["last_fix"]["reported_time"] == heard.t_ms
    else:
        assert bridge.metrics.resent.value() == 0
        assert drv["location_count"] == 1


@pytest.mark.parametrize("key", ["", "k-77"], ids=["no-key", "key"])
async def test_an_unauthenticated_loopback_input_is_said_once_at_start(
    tmp_path: Path, sandbox: tuple[SandboxApp, str], key: str
) -> None:
    app, url = sandbox
    config = bridge_config(url, tmp_path, input_key=Secret(key))
    with structlog.testing.capture_logs() as logs:
        async with (
            running_bridge(config, app) as (bridge, _),
            httpx.AsyncClient(trust_env=False) as http,
        ):
            osmand = {"id": "van-1", "lat": "60.1", "lon": "24.9", "timestamp": "1714564800"}
            answer = await http.get(bridge.input_url, params=osmand)
    said = [e for e in logs if e["event"] == "input_unauthenticated"]
    if key:
        assert (said, answer.status_code) == ([], 401)
    else:
        assert len(said) == 1
        assert said[0]["listen_host"] == "127.0.0.1"
        assert answer.status_code == 200


async def test_positions_before_the_drivers_order_are_held_quietly_and_counted_apart(
    tmp_path: Path, sandbox: tuple[SandboxApp, str]
) -> None:
    """Bringg knows a driver only once it was assigned: its refusal of earlier positions (403
    "User not found") is neither an error nor a drop, later ones are held, all are counted apart,
    and the latest goes out with the assignment."""
    app, url = sandbox
    config = bridge_config(url, tmp_path, input_key=Secret("k-14"))
    two_vans = {"van-1": "drv-1", "van-2": "drv-2"}
    config = msgspec.structs.replace(
        config, bridge=msgspec.structs.replace(config.bridge, device_map=two_vans)
    )
    with structlog.testing.capture_logs() as logs:
        async with (
            running_bridge(config, app) as (bridge, _),
            httpx.AsyncClient(
                base_url=bridge.input_url, headers={"X-Api-Key": "k-14"}, trust_env=False
            ) as http,
        ):
            for k in range(12):
                for device, lat in (("van-1", PICKUP[0]), ("van-2", 60.2)):
                    params = {
                        "id": device,
                        "lat": f"{lat + k * 0.0001:.4f}",
                        "lon": f"{PICKUP[1]}",
                        "timestamp": str(T0_MS + k * 5000),
                    }
                    assert (await http.get("/", params=params)).status_code == 200
            await bridge.sender.wait_idle()
            before = await sandbox_state(url)
            task_id = await create_order(url)  # the nearest: van-1, at the pickup
            await wait_for(lambda: bridge.walker.active_order("drv-1") == task_id)
            await bridge.sender.wait_idle()
            metrics = (await http.get("/metrics")).text
            dropped = bridge.outbox.dropped_counts()
    after = await sandbox_state(url)
    assert dropped == {}
    refused = before["calls"]["/open_fleet_services/update_driver_location"]["by_status"]
    assert list(refused) == ["403"]
    assert 2 <= refused["403"] <= 24  # the first of each van at least; the rest were held
    assert before["drivers"] == []
    assert [d["external_id"] for d in after["drivers"]] == ["drv-1"]
    drv = driver_view(after, "drv-1")
    assert drv["location_count"] == 1
    assert drv["last_fix"]["reported_time"] == T0_MS + 11 * 5000  # the freshest of the twelve
    assert "driver_agent_bridge_positions_before_assignment_total 24" in metrics
    assert 'driver_agent_bridge_positions_in_total{source="osmand"} 24' in metrics
    assert "driver_agent_bridge_errors_total{" not in metrics
    assert "driver_agent_bridge_dropped_total{" not in metrics
    held = sorted((e["driver_id"], e["log_level"]) for e in logs if e["event"] == "positions_held")
    assert held == [("drv-1", "info"), ("drv-2", "info")]
    assert [e for e in logs if e["log_level"] in ("warning", "error")] == []

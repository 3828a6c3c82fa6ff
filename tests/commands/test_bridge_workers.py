"""The bridge split across two Ray workers, against the sandbox on loopback: an order goes to the
worker owning the nearest van and is walked to the end there, `/metrics` and `/healthz` cover
both workers, and a worker killed with -9 right after a burst of 200s loses none of them (Ray
restarts it on the same outbox file). Real Ray, real worker processes, real HTTP."""

from __future__ import annotations

import functools
import os
import signal
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from types import ModuleType
from typing import Any

import anyio
import httpx
import loopback
import pytest
from loopback import create_order

from driver_agent.bridge.outbox import Outbox
from driver_agent.bridge.partition import partition_of, partition_outbox
from driver_agent.bridge.replay import load_replay, run_replay
from driver_agent.commands import ray_runtime
from driver_agent.commands.bridgehead import BridgeHead, run_head, worker_plans
from driver_agent.core.clock import RealClock
from driver_agent.core.config import (
    BridgeConfig,
    Config,
    DistributedConfig,
    WebhookConfig,
)
from driver_agent.core.errors import ConfigError
from driver_agent.core.model import Secret
from driver_agent.sandbox import SandboxApp, SandboxSettings, create_app, serve_sandbox_in_thread

pytestmark = pytest.mark.timeout(240)

DATA = Path(__file__).parent.parent / "data" / "bridge"
PICKUP = (60.1700, 24.9400)  # where the van of delivery.gpx stands first
DROPOFF = (60.1690, 24.9600)
T0_MS = 1_900_000_000_000


@pytest.fixture(scope="module")
def ray() -> Iterator[ModuleType]:
    module = ray_runtime.import_ray()
    ray_runtime.start(module, DistributedConfig(workers=2))
    yield module
    ray_runtime.stop(module)


@pytest.fixture
def sandbox() -> Iterator[tuple[SandboxApp, str]]:
    app = create_app(SandboxSettings(webhook_retry_delay_s=0))
    with serve_sandbox_in_thread(app=app) as url:
        yield app, url


def split_config(url: str, tmp_path: Path, devices: int, **bridge: Any) -> Config:
    return Config(
        api=loopback.sandbox_api(url),
        webhooks=WebhookConfig(port=0, api_key=Secret("sandbox-merchant-api-key")),
        bridge=BridgeConfig(
            listen_port=0,
            device_map={f"van-{k}": f"drv-{k}" for k in range(1, devices + 1)},
            outbox=str(tmp_path / "outbox.sqlite3"),
            **bridge,
        ),
        distributed=DistributedConfig(workers=2),
    )


@asynccontextmanager
async def running_head(
    config: Config, ray: ModuleType, url: str
) -> AsyncIterator[tuple[BridgeHead, list[Any]]]:
    """The head in this test's task group, both workers up, the sandbox's webhooks at it."""
    plans = worker_plans(config, dict(config.bridge.device_map), "json", "warning")
    summaries: list[Any] = []

    async def run(*, task_status: Any) -> None:
        runner = functools.partial(run_head, config, RealClock(), ray=ray, plans=plans)
        summaries.append(await runner(task_status=task_status))

    async with anyio.create_task_group() as tg:
        head: BridgeHead = await tg.start(run)
        async with httpx.AsyncClient(trust_env=False) as http:
            await http.post(f"{url}/_sandbox/webhook_url", json={"url": head.webhook_url})
        await until(lambda: head.health()["ok"], timeout_s=60)  # Ray starts the workers
        yield head, summaries
        head.stop()


async def until(condition: Any, timeout_s: float = 20.0) -> None:
    with anyio.fail_after(timeout_s):
        while not condition():  # noqa: ASYNC110 - other processes and threads change it
            await anyio.sleep(0.05)


def osmand(device: str, lat: float, lng: float, t_ms: int) -> dict[str, str]:
    return {"id": device, "lat": f"{lat:.6f}", "lon": f"{lng:.6f}", "timestamp": str(t_ms)}


async def test_an_order_is_walked_by_the_worker_owning_the_nearest_van_and_one_page_shows_both(
    ray: ModuleType, sandbox: tuple[SandboxApp, str], tmp_path: Path
) -> None:
    _, url = sandbox
    config = split_config(url, tmp_path, devices=6, orders=1, drain_timeout_s=10.0)
    # the van nearest the pickup belongs to the second worker: routing is not a default
    near = next(k for k in range(1, 7) if partition_of(f"drv-{k}", 2) == 1)
    async with (
        running_head(config, ray, url) as (head, summaries),
        httpx.AsyncClient(base_url=head.input_url, trust_env=False) as http,
    ):
        for k in range(1, 7):
            lat = PICKUP[0] if k == near else PICKUP[0] + 0.01 * k
            answer = await http.get("/", params=osmand(f"van-{k}", lat, PICKUP[1], T0_MS))
            assert answer.status_code == 200
        stranger = await http.get("/", params=osmand("van-9", *PICKUP, T0_MS))
        assert stranger.status_code == 400
        assert stranger.json()["field"] == "device"
        # the head learns where the idle vans are from the workers' next polls
        await until(lambda: head.router.idle_count == 6)
        task_id = await create_order(url, PICKUP, DROPOFF)
        await until(lambda: head.router.holder(task_id) == 1)
        await until(lambda: head.health()["workers"][1]["orders_active"] == 1)
        plan = load_replay(DATA / "delivery.gpx", f"van-{near}", T0_MS + 1000)
        await run_replay(plan, head.accept, head.clock, speed=1e6, start_s=0)
        # --orders 1: the head stops every worker once the order is done
        await until(lambda: bool(summaries), timeout_s=30)
    async with httpx.AsyncClient(base_url=url, trust_env=False) as http:
        state = (await http.get("/_sandbox/state")).json()
    order = next(o for o in state["orders"] if o["task_id"] == task_id)
    assert order["status_name"] == "done"
    assert order["driver"] == f"drv-{near}"
    driver = next(d for d in state["drivers"] if d["external_id"] == f"drv-{near}")
    # its fix from before the order (held: Bringg did not know it), then the whole track
    assert driver["location_count"] == 1 + len(plan)
    assert driver["out_of_order"] == 0
    summary = summaries[0]
    assert summary.orders_finished == 1
    assert summary.positions_in == 6 + len(plan)
    assert summary.left_in_outbox == 0
    files = sorted([p.name async for p in anyio.Path(tmp_path).glob("outbox*.sqlite3")])
    assert files == ["outbox.1-of-2.sqlite3", "outbox.2-of-2.sqlite3"]


async def test_metrics_and_health_add_up_both_workers(
    ray: ModuleType, sandbox: tuple[SandboxApp, str], tmp_path: Path
) -> None:
    _, url = sandbox
    config = split_config(url, tmp_path, devices=8)
    async with (
        running_head(config, ray, url) as (head, _),
        httpx.AsyncClient(base_url=head.input_url, trust_env=False) as http,
    ):
        for k in range(1, 9):
            for j in range(3):
                point = osmand(f"van-{k}", 60.16 + j * 1e-3, 24.93, T0_MS + j * 1000)
                assert (await http.get("/", params=point)).status_code == 200
        assert (await http.get("/", params={"id": "van-1"})).status_code == 400
        # each driver: its first fix refused (unknown to Bringg), the later two held
        await until(lambda: _sum(head, "positions_before_assignment_total") == 24)
        page = (await http.get("/metrics")).text
        health = (await http.get("/healthz")).json()
    assert 'driver_agent_bridge_positions_in_total{source="osmand"} 24\n' in page
    assert 'driver_agent_bridge_positions_rejected_total{source="osmand",field="lat"} 1' in page
    assert "driver_agent_bridge_positions_before_assignment_total 24\n" in page
    assert "driver_agent_bridge_workers_up 2\n" in page
    assert "driver_agent_bridge_worker_restarts_total 0\n" in page
    assert health["ok"] is True
    rows = health["workers"]
    assert [r["worker"] for r in rows] == [1, 2]
    assert sum(r["devices"] for r in rows) == 8
    assert all(r["ok"] and r["pid"] > 0 and r["restarts"] == 0 for r in rows)
    assert {r["outbox"] for r in rows} == {
        partition_outbox(config.bridge.outbox, k, 2) for k in range(2)
    }


def _sum(head: BridgeHead, family: str) -> float:
    page = head.render_metrics()
    return sum(
        float(line.rsplit(" ", 1)[1])
        for line in page.splitlines()
        if line.startswith(f"driver_agent_bridge_{family}")
    )


async def test_a_worker_killed_right_after_a_burst_of_200s_loses_none_and_comes_back(
    ray: ModuleType, sandbox: tuple[SandboxApp, str], tmp_path: Path
) -> None:
    """The API is down (every call 503), so every answered position stays in its worker's file.
    Sixteen vans post at once; worker 1 is killed the moment the last 200 arrives; the other
    worker keeps answering meanwhile; Ray restarts the dead one on its file."""
    _, url = sandbox
    config = split_config(url, tmp_path, devices=16, drain_timeout_s=0.2)
    await _admin(url, "/_sandbox/faults", {"status": 503, "duration_s": 3600})
    devices = [f"van-{k}" for k in range(1, 17)]
    owner = {d: partition_of(f"drv-{d.removeprefix('van-')}", 2) for d in devices}
    answered: dict[str, list[int]] = {d: [] for d in devices}

    async def post(http: httpx.AsyncClient, device: str, t_ms: int) -> None:
        point = osmand(device, 60.16 + (t_ms - T0_MS) * 1e-8, 24.93, t_ms)
        try:
            answer = await http.get("/", params=point)
        except httpx.TransportError:
            return
        if answer.status_code == 200:
            answered[device].append(t_ms)
        else:
            assert answer.status_code == 503, answer.text

    async def burst(http: httpx.AsyncClient, device: str, first: int, count: int) -> None:
        for k in range(first, first + count):
            await post(http, device, T0_MS + k * 1000)

    async with running_head(config, ray, url) as (head, summaries):
        limits = httpx.Limits(max_connections=len(devices))
        async with httpx.AsyncClient(
            base_url=head.input_url, trust_env=False, limits=limits, timeout=30
        ) as http:
            async with anyio.create_task_group() as tg:
                for device in devices:
                    tg.start_soon(burst, http, device, 0, 12)
            victim = head.health()["workers"][0]["pid"]
            os.kill(victim, signal.SIGKILL)
            # the other worker's vans are answered while the first is down
            others = [d for d in devices if owner[d] == 1]
            for device in others:
                await post(http, device, T0_MS + 20_000)
            assert all(answered[d][-1] == T0_MS + 20_000 for d in others)
            await until(lambda: head.health()["workers"][0]["restarts"] == 1, timeout_s=60)
            await until(lambda: head.health()["ok"], timeout_s=60)
            assert head.health()["workers"][0]["pid"] != victim
            async with anyio.create_task_group() as tg:
                for device in devices:
                    tg.start_soon(burst, http, device, 30, 3)
            page = (await http.get("/metrics")).text
        head.stop()
        await until(lambda: bool(summaries), timeout_s=30)
    assert "driver_agent_bridge_worker_restarts_total 1\n" in page
    assert "driver_agent_bridge_workers_up 2\n" in page
    for k in range(2):
        with Outbox(partition_outbox(config.bridge.outbox, k, 2)) as stored:
            for device in [d for d in devices if owner[d] == k]:
                driver = f"drv-{device.removeprefix('van-')}"
                calls = stored.peek(driver, limit=100)
                assert [c.reported_time_ms for c in calls] == answered[device], device
    # every van was answered for its first burst, the restart and the last burst
    assert all(len(answered[d]) >= 15 for d in devices)


async def _admin(url: str, path: str, body: dict[str, Any]) -> None:
    async with httpx.AsyncClient(base_url=url, trust_env=False) as http:
        assert (await http.post(path, json=body)).status_code == 200


def test_more_workers_than_the_hash_gives_drivers_is_refused_before_ray_starts(
    tmp_path: Path,
) -> None:
    config = split_config("http://127.0.0.1:1", tmp_path, devices=1)
    with pytest.raises(ConfigError) as refused:
        worker_plans(config, dict(config.bridge.device_map), "json", "info")
    assert refused.value.where == "distributed.workers"
    assert "2 workers for 1 driver(s)" in str(refused.value)


def test_each_worker_gets_its_part_of_the_map_and_its_file_and_the_head_keeps_the_feeds(
    tmp_path: Path,
) -> None:
    config = split_config(
        "http://127.0.0.1:1", tmp_path, devices=10, orders=5, duration_s=60.0,
        gpx={"van-1": "a.gpx"}, ndjson="-",
    )  # fmt: skip
    plans = worker_plans(config, dict(config.bridge.device_map), "json", "info")
    assert [p.index for p in plans] == [0, 1]
    seen: dict[str, str] = {}
    for plan in plans:
        b = plan.config.bridge
        assert b.outbox == partition_outbox(config.bridge.outbox, plan.index, 2)
        assert (b.gpx, b.ndjson, b.orders, b.duration_s) == ({}, "", 0, 0.0)
        assert all(partition_of(d, 2) == plan.index for d in b.device_map.values())
        seen |= b.device_map
    assert seen == config.bridge.device_map

"""The own-fleet profile end to end: a Bringg customer's own drivers on the developer API.

The sandbox is the oracle: its state must show each driver's user, a shift opened and ended,
left home and got home, and every order walked Start -> Arrived -> notes -> Left -> End by the
driver it was assigned to through Update Order; its call counts must equal the run's statistics.
"""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest
from loopback import free_port, merchant_auth

from driver_agent.commands.fleetrun import RunResult, run_fleet
from driver_agent.core.clock import VirtualClock
from driver_agent.core.config import load_config
from driver_agent.sandbox.app import SandboxApp, create_app, serve_sandbox
from driver_agent.sandbox.settings import SandboxSettings

SERVICES = "/services/"
DROPOFFS = ((60.1663, 24.9390), (60.1702, 24.9455), (60.1751, 24.9412), (60.1688, 24.9501))


def check_the_day(result: RunResult, state: dict[str, Any], drivers: int, orders: int) -> None:
    assert result.outcomes == {"completed": orders}
    assert result.exit_code == 0
    users = {u["external_id"]: u for u in state["users"]}
    assert sorted(users) == [f"drv-{i:05d}" for i in range(1, drivers + 1)]
    for user in users.values():
        assert [e["event"] for e in user["home_events"]] == ["left_home", "got_home"]
        assert user["at_home"] is True
        assert user["active_shift_id"] is None
    shifts = state["shifts"]
    assert sorted(s["user_id"] for s in shifts) == sorted(u["id"] for u in users.values())
    assert all(s["start_shift"] and s["end_shift"] for s in shifts)
    user_ids = {u["id"] for u in users.values()}
    for order in state["orders"]:
        assert order["status_name"] == "done"
        steps = order["transitions"]
        assert steps[0].startswith("assign:")
        assert int(steps[0].split(":")[1]) in user_ids  # assigned through Update Order
        walk = [s for s in steps if not s.startswith(("assign", "note"))]
        assert walk == ["start_order", "checkin:1", "checkout:1", "checkin:2", "checkout:2",
                        "end_order"]  # fmt: skip
        assert any(s.startswith("note:") for s in steps)
    # the run counted exactly the calls the sandbox answered, per service
    report = json.loads(result.json_path.read_text())
    ours = {e["endpoint"]: e["count"] for e in report["stats"]["endpoints"]}
    theirs = {
        path.removeprefix(SERVICES): calls["count"]
        for path, calls in state["calls"].items()
        if path.startswith(SERVICES) and path != "/services/create_task"  # the merchant's
    }
    assert ours == theirs
    assert set(ours) >= {"create_user", "start_shift", "driver_home_event", "update_order",
                         "start_order", "checkin", "create_note", "checkout", "end_order",
                         "end_shift"}  # fmt: skip
    assert "update_driver_location" not in ours  # the developer API takes no positions
    assert [t["expr"] for t in report["thresholds"]] == [
        "p95_ms < 800", "error_rate < 0.01", "orders_completed_ratio >= 0.99",
    ]  # fmt: skip
    assert any(points for points in result.report.tracks.values())  # the map still has tracks


@pytest.mark.timeout(300)
async def test_an_embedded_own_fleet_run_walks_every_drivers_day(tmp_path: Path) -> None:
    config = load_config(
        overrides={
            "api.profile": "own_fleet",
            "run.drivers": 3,
            "run.orders": 6,
            "run.seed": 4,
            "run.report_dir": str(tmp_path / "report"),
            "run.ramp_up_per_s": 1000.0,
        }
    )
    clock = VirtualClock(start=1_760_000_000.0)
    apps: list[SandboxApp] = []
    result = await run_fleet(
        config, clock, show_progress=False, on_sandbox=lambda app, _url: apps.append(app)
    )
    check_the_day(result, apps[0].state.snapshot(clock.now()), drivers=3, orders=6)


@pytest.mark.timeout(300)
async def test_a_remote_own_fleet_run_uses_the_configured_service_table(tmp_path: Path) -> None:
    port = free_port()
    defaults = SandboxSettings()
    app = create_app(SandboxSettings(fleet_webhook_url=f"http://127.0.0.1:{port}"))
    results: list[RunResult] = []
    async with anyio.create_task_group() as tg:
        url = await tg.start(functools.partial(serve_sandbox, app=app))
        async with httpx.AsyncClient(base_url=url) as http:
            listing = (await http.get("/_sandbox/services")).json()["services"]
        table = "\n".join(f'{name} = "{service_url}"' for name, service_url in listing.items())
        config_file = tmp_path / "own.toml"
        config_file.write_text(f'[api]\nprofile = "own_fleet"\n\n[own_fleet.services]\n{table}\n')
        config = load_config(
            config_file,
            env={"DRIVER_AGENT_WEBHOOK_API_KEY": defaults.merchant_api_key.reveal()},
            overrides={
                "webhooks.port": port,
                "run.drivers": 2,
                "run.orders": 4,
                "run.report_dir": str(tmp_path / "report"),
                "run.ramp_up_per_s": 1000.0,
            },
        )
        done = anyio.Event()

        async def run() -> None:
            clock = VirtualClock(start=1_760_000_000.0)
            results.append(await run_fleet(config, clock, show_progress=False))
            done.set()

        tg.start_soon(run)
        # the orders come from the merchant side, as Bringg's Delivery Created webhooks
        async with httpx.AsyncClient(base_url=url) as http:
            auth = await merchant_auth(http)
            for i, (lat, lng) in enumerate(DROPOFFS):
                body = {
                    "external_id": f"own-{i}",
                    "customer": {"name": "C"},
                    "way_points": [{"lat": 60.1729, "lng": 24.9433}, {"lat": lat, "lng": lng}],
                }
                reply = await http.post("/services/create_task", json=body, headers=auth)
                assert reply.json()["success"] is True, reply.text
        await done.wait()
        tg.cancel_scope.cancel()
    result = results[0]
    assert result.report.mode == "remote"
    check_the_day(result, app.state.snapshot(app.clock.now()), drivers=2, orders=4)
    # the service URLs are credentials: never in the report
    report_text = result.json_path.read_text() + result.html_path.read_text()
    for service_url in listing.values():
        assert service_url not in report_text
        assert service_url.removeprefix(url) not in report_text


@pytest.mark.timeout(300)
async def test_a_driver_whose_shift_is_over_finishes_its_order_and_goes_home(
    tmp_path: Path,
) -> None:
    config = load_config(
        overrides={
            "api.profile": "own_fleet",
            "own_fleet.shift_length_s": 60.0,  # over before the first order ends
            "run.drivers": 2,
            "run.orders": 5,
            "run.report_dir": str(tmp_path / "report"),
            "run.ramp_up_per_s": 1000.0,
        }
    )
    clock = VirtualClock(start=1_760_000_000.0)
    apps: list[SandboxApp] = []
    result = await run_fleet(
        config, clock, show_progress=False, on_sandbox=lambda app, _url: apps.append(app)
    )
    # one order each, then home: the rest were never started, and the run still ended
    assert result.outcomes == {"completed": 2, "not_started": 3}
    state = apps[0].state.snapshot(clock.now())
    assert all(s["end_shift"] for s in state["shifts"])
    assert all(u["at_home"] for u in state["users"])
    assert sum(o["status_name"] == "done" for o in state["orders"]) == 2

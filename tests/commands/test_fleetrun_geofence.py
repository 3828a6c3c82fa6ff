"""Check-in and check-out happen inside the geofence, even for stops far off the road.

The sandbox records where each way point was checked in and out; these tests compare that with
the way point itself, in embedded mode (the run's own orders: doors up to 400 m off the road)
and in remote mode (orders a merchant creates: pickups and dropoffs up to 500 m off the road).
"""

from __future__ import annotations

import functools
import random
from typing import Any

import anyio
import httpx
import pytest
from loopback import free_port, merchant_auth

from driver_agent.commands.fleetrun import RunResult, run_fleet
from driver_agent.core.clock import VirtualClock
from driver_agent.core.config import load_config
from driver_agent.geo.geometry import destination, haversine_m
from driver_agent.geo.places import address_places
from driver_agent.geo.roads import RoadNetwork
from driver_agent.sandbox.app import SandboxApp, create_app, serve_sandbox
from driver_agent.sandbox.settings import SandboxSettings

GEOFENCE_M = 50.0


def distances_from_stops(
    orders: list[dict[str, Any]], network: RoadNetwork | None = None
) -> list[tuple[float, float, float]]:
    """(check-in distance, check-out distance, how far the stop is from the road) per way point."""
    network = network or RoadNetwork.load()
    out = []
    for order in orders:
        assert order["status_name"] == "done", order
        for wp in order["way_points"]:
            stop = (wp["lat"], wp["lng"])
            on_road = network.snap(*stop)
            off_road_m = haversine_m(*stop, *on_road) if on_road else 500.0
            checkin = haversine_m(*stop, wp["checkin_lat"], wp["checkin_lng"])
            checkout = haversine_m(*stop, wp["checkout_lat"], wp["checkout_lng"])
            out.append((checkin, checkout, off_road_m))
    return out


@pytest.mark.timeout(300)
async def test_embedded_doors_off_the_road_are_checked_in_inside_the_geofence(
    tmp_path: Any,
) -> None:
    config = load_config(
        overrides={
            "run.drivers": 8,
            "run.orders": 40,
            "run.seed": 11,
            "run.manhattan_share": 0.0,
            "run.report_dir": str(tmp_path / "report"),
            "run.ramp_up_per_s": 1000.0,
        }
    )
    clock = VirtualClock(start=1_760_000_000.0)
    apps: list[SandboxApp] = []
    result = await run_fleet(
        config, clock, show_progress=False, on_sandbox=lambda app, _url: apps.append(app)
    )
    assert result.outcomes == {"completed": 40}
    seen = distances_from_stops(apps[0].state.snapshot(clock.now())["orders"])
    assert max(off for _, _, off in seen) > 2 * GEOFENCE_M  # some doors were far from the road
    for checkin, checkout, _off in seen:
        assert checkin <= GEOFENCE_M
        assert checkout <= GEOFENCE_M
    # the walks show in the stage durations
    stages = result.report.stats.stages_s
    assert stages["on_foot"].count > 0


@pytest.mark.timeout(300)
async def test_a_regional_fleet_in_liechtenstein_drives_long_legs_and_checks_in_at_the_stops(
    tmp_path: Any,
) -> None:
    config = load_config(
        overrides={
            "run.drivers": 4,
            "run.orders": 8,
            "run.seed": 5,
            "run.road_network": "liechtenstein",
            "run.report_dir": str(tmp_path / "report"),
            "run.ramp_up_per_s": 1000.0,
        }
    )
    clock = VirtualClock(start=1_760_000_000.0)
    apps: list[SandboxApp] = []
    result = await run_fleet(
        config, clock, show_progress=False, on_sandbox=lambda app, _url: apps.append(app)
    )
    assert result.outcomes == {"completed": 8}
    orders = apps[0].state.snapshot(clock.now())["orders"]
    for checkin, checkout, _off in distances_from_stops(orders, RoadNetwork.load("liechtenstein")):
        assert checkin <= GEOFENCE_M
        assert checkout <= GEOFENCE_M
    # a regional fleet: the drives from the depots are kilometres, at road speeds
    drives = result.report.stats.stages_s["pickup_to_dropoff"]
    assert drives.p50 > 300.0
    per_order_km = result.report.stats.totals.distance_m / 8 / 1000
    assert 3.0 < per_order_km < 40.0


@pytest.mark.timeout(300)
async def test_remote_stops_up_to_500_m_off_the_road_are_checked_in_inside_the_geofence(
    tmp_path: Any,
) -> None:
    network = RoadNetwork.load()
    area, places = address_places(network, seed=3)
    port = free_port()
    defaults = SandboxSettings()
    app = create_app(
        SandboxSettings(
            fleet_webhook_url=f"http://127.0.0.1:{port}",
            area=(area[0] - 0.01, area[1] - 0.02, area[2] + 0.01, area[3] + 0.02),
            places=places,
            webhook_retry_delay_s=0.5,
        )
    )
    rng = random.Random(8)
    orders = 24
    results: list[RunResult] = []
    async with anyio.create_task_group() as tg:
        url = await tg.start(functools.partial(serve_sandbox, app=app))
        config = load_config(
            env={
                "DRIVER_AGENT_CLIENT_SECRET": defaults.client_secret.reveal(),
                "DRIVER_AGENT_WEBHOOK_API_KEY": defaults.merchant_api_key.reveal(),
            },
            overrides={
                "api.api_url": url,
                "api.client_id": defaults.client_id,
                "webhooks.port": port,
                "run.drivers": 6,
                "run.orders": orders,
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
        async with httpx.AsyncClient(base_url=url) as http:
            auth = await merchant_auth(http)
            for i in range(orders):
                way_points = []
                for _ in range(2):
                    lat, lng = destination(
                        *network.random_point(rng), rng.uniform(0, 360), rng.uniform(0, 500)
                    )
                    way_points.append({"lat": round(lat, 7), "lng": round(lng, 7)})
                body = {
                    "external_id": f"far-{i}",
                    "customer": {"name": "C"},
                    "way_points": way_points,
                }
                reply = await http.post("/services/create_task", json=body, headers=auth)
                assert reply.json()["success"] is True, reply.text
        await done.wait()
        tg.cancel_scope.cancel()
    assert results[0].outcomes == {"completed": orders}
    seen = distances_from_stops(app.state.snapshot(app.clock.now())["orders"])
    assert sum(off > 2 * GEOFENCE_M for _, _, off in seen) >= 10
    assert any(off > 300.0 for _, _, off in seen)  # beyond the router's snap limit too
    for checkin, checkout, _off in seen:
        assert checkin <= GEOFENCE_M
        assert checkout <= GEOFENCE_M

"""`run.routes` end to end: runs whose orders follow two recorded routes, embedded and remote.

The sandbox is the judge: its orders start and end at the routes' ends, every location update it
received between the pickup's check-out and the dropoff's check-in lies on the recorded route
(GPS noise aside), and every check-in and check-out is inside the geofence. One route is a noisy
phone trace on the Helsinki roads, the other a drive partly outside the road network's area.
"""

from __future__ import annotations

import datetime
import functools
import subprocess
import sys
from pathlib import Path
from typing import Any

import anyio
import pytest
from loopback import free_port
from shapely.geometry import Point

from driver_agent.cli import build_parser
from driver_agent.commands.fleetrun import run_fleet
from driver_agent.core.clock import VirtualClock
from driver_agent.core.config import load_config
from driver_agent.core.errors import TrackError
from driver_agent.geo.geometry import haversine_m
from driver_agent.geo.roads import RoadNetwork
from driver_agent.geo.tracks import Track, load_track
from driver_agent.sandbox.app import SandboxApp, create_app, serve_sandbox
from driver_agent.sandbox.fleet import FLEET_HANDLERS
from driver_agent.sandbox.settings import SandboxSettings
from driver_agent.sandbox.world import JsonDict, Reply, World

DATA = Path(__file__).resolve().parent.parent / "data"
TRACE_OK = DATA / "noisy-gappy.gpx"
ROUTES = (TRACE_OK, DATA / "bridge" / "delivery.gpx")
GEOFENCE_M = 50.0
ON_ROUTE_M = 60.0  # GPS noise (about 4 m, correlated) and the pull-out from the parked van


def off_route_m(track: Track, lat: float, lng: float) -> float:
    return float(track.line.distance(Point(track.projection.forward(lat, lng))))


def epoch_ms(iso: str) -> int:
    return round(datetime.datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp() * 1000)


@pytest.fixture
def pings(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    """Every location update the sandbox receives, as it received it."""
    received: list[dict[str, Any]] = []
    original = FLEET_HANDLERS["update_driver_location"]

    def recording(world: World, body: JsonDict, now_s: float) -> Reply:
        received.append(dict(body))
        return original(world, body, now_s)

    monkeypatch.setitem(FLEET_HANDLERS, "update_driver_location", recording)
    return received


def check_orders_followed_the_routes(
    snapshot: dict[str, Any], pings: list[dict[str, Any]], count: int
) -> None:
    """Order i went from the first to the last point of route i modulo 2, checked in and out
    inside the geofence, and its driver's fixes between the two stops lie along that route."""
    drivers = {d["user_id"]: d["external_id"] for d in snapshot["drivers"]}
    tracks = [load_track(p) for p in ROUTES]
    orders = sorted(snapshot["orders"], key=lambda o: o["external_id"])
    assert len(orders) == count
    for i, order in enumerate(orders):
        track = tracks[i % len(tracks)]  # round-robin over the routes, in the order given
        pickup, dropoff = order["way_points"]
        assert order["status_name"] == "done"
        assert haversine_m(pickup["lat"], pickup["lng"], *track.start) < 0.1
        assert haversine_m(dropoff["lat"], dropoff["lng"], *track.end) < 0.1
        for wp in (pickup, dropoff):
            for event in ("checkin", "checkout"):
                at = (wp[f"{event}_lat"], wp[f"{event}_lng"])
                assert haversine_m(wp["lat"], wp["lng"], *at) <= GEOFENCE_M
        driver = drivers[order["user_id"]]
        left, arrived = epoch_ms(pickup["checkout_time"]), epoch_ms(dropoff["checkin_time"])
        leg = [
            p
            for p in pings
            if p.get("user_external_id") == driver and left <= p["reported_time"] <= arrived
        ]
        assert len(leg) >= 10  # one fix every 10 s of a drive of several minutes
        worst = max(off_route_m(track, p["lat"], p["lng"]) for p in leg)
        assert worst <= ON_ROUTE_M, (order["external_id"], worst)
        # and the fixes cover the route, not one end of it
        along = [track.line.project(Point(track.projection.forward(p["lat"], p["lng"])))
                 for p in leg]  # fmt: skip
        assert min(along) < 0.1 * track.length_m
        assert max(along) > 0.9 * track.length_m


@pytest.mark.timeout(300)
async def test_embedded_orders_follow_the_recorded_routes_between_pickup_and_dropoff(
    tmp_path: Path, pings: list[dict[str, Any]]
) -> None:
    config = load_config(
        overrides={
            "run.drivers": 3,
            "run.orders": 6,
            "run.seed": 5,
            "run.routes": [str(p) for p in ROUTES],
            "run.report_dir": str(tmp_path / "report"),
            "run.ramp_up_per_s": 1000.0,
        }
    )
    clock = VirtualClock(start=1_760_000_000.0)
    apps: list[SandboxApp] = []
    result = await run_fleet(
        config, clock, show_progress=False, on_sandbox=lambda app, _url: apps.append(app)
    )
    assert result.outcomes == {"completed": 6}
    check_orders_followed_the_routes(apps[0].state.snapshot(clock.now()), pings, 6)


@pytest.mark.timeout(300)
async def test_remote_orders_created_with_merchant_credentials_follow_the_routes(
    tmp_path: Path, pings: list[dict[str, Any]]
) -> None:
    port = free_port()
    defaults = SandboxSettings()
    app = create_app(
        SandboxSettings(
            fleet_webhook_url=f"http://127.0.0.1:{port}",
            area=RoadNetwork.load(None).bbox,
            webhook_retry_delay_s=0.5,
        )
    )
    env = {
        "DRIVER_AGENT_CLIENT_SECRET": defaults.client_secret.reveal(),
        "DRIVER_AGENT_MERCHANT_CLIENT_SECRET": defaults.merchant_client_secret.reveal(),
        "DRIVER_AGENT_WEBHOOK_API_KEY": defaults.merchant_api_key.reveal(),
    }
    async with anyio.create_task_group() as tg:
        url = await tg.start(functools.partial(serve_sandbox, app=app))
        config = load_config(
            env=env,
            overrides={
                "api.api_url": url,
                "api.client_id": defaults.client_id,
                "merchant.client_id": defaults.merchant_client_id,
                "webhooks.port": port,
                "run.drivers": 2,
                "run.orders": 4,
                "run.seed": 8,
                "run.routes": [str(p) for p in ROUTES],
                "run.report_dir": str(tmp_path / "report"),
                "run.ramp_up_per_s": 1000.0,
            },
        )
        result = await run_fleet(config, VirtualClock(start=1_760_000_000.0), show_progress=False)
        tg.cancel_scope.cancel()
    assert result.outcomes == {"completed": 4}
    check_orders_followed_the_routes(app.state.snapshot(app.clock.now()), pings, 4)


async def test_a_route_file_that_cannot_be_read_fails_before_the_run(tmp_path: Path) -> None:
    bad = tmp_path / "bad.gpx"
    bad.write_text('<gpx version="1.1">\n<trk><trkseg>\n<trkpt lat="95" lon="24.9"/>\n</gpx>\n')
    config = load_config(
        overrides={"run.routes": [str(bad)], "run.report_dir": str(tmp_path / "report")}
    )
    started: list[Any] = []
    with pytest.raises(TrackError) as caught:
        await run_fleet(
            config,
            VirtualClock(start=1_760_000_000.0),
            show_progress=False,
            on_sandbox=lambda app, _url: started.append(app),
        )
    assert str(bad) in str(caught.value)
    assert "\n" not in str(caught.value)
    assert started == []  # the sandbox never started
    assert not (tmp_path / "report").exists()


@pytest.mark.parametrize("command", ["run", "demo"])
def test_route_flags_are_repeatable_and_override_the_config_key(
    tmp_path: Path, command: str
) -> None:
    config = tmp_path / "c.toml"
    config.write_text('[run]\nroutes = ["from-the-file.gpx"]\n')
    args = build_parser().parse_args([command, "--route", "a.gpx", "--route", "dir"])
    assert args.routes == ["a.gpx", "dir"]
    flags = {"run.routes": args.routes}
    assert load_config(config, overrides=flags).run.routes == ("a.gpx", "dir")
    assert load_config(config, overrides={"run.routes": None}).run.routes == ("from-the-file.gpx",)


@pytest.mark.parametrize("how", ["flag", "config"])
def test_the_cli_reports_a_bad_route_file_in_one_line_before_the_run(
    tmp_path: Path, how: str
) -> None:
    bad = tmp_path / "bad.gpx"
    bad.write_text('<gpx version="1.1">\n<trk><trkseg>\n<trkpt lat="95" lon="24.9"/>\n</gpx>\n')
    args = ["run", "--report", str(tmp_path / "report")]
    if how == "flag":
        args += ["--route", str(TRACE_OK), "--route", str(bad)]
    else:
        config = tmp_path / "c.toml"
        config.write_text(f"[run]\nroutes = [{str(TRACE_OK)!r}, {str(bad)!r}]\n")
        args += ["--config", str(config)]
    result = subprocess.run(
        [sys.executable, "-m", "driver_agent", *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    assert result.stderr.splitlines() == [
        f"driver-agent: error: {bad}:3: <trkpt> #1: lat 95.0 is outside ±90"
    ]
    assert result.stdout == ""
    assert not (tmp_path / "report").exists()

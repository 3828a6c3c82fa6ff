"""`run.routes` end to end: an embedded run whose orders follow two recorded routes.

The sandbox is the judge: its orders start and end at the routes' ends, every location update it
received between the pickup's check-out and the dropoff's check-in lies on the recorded route
(GPS noise aside), and every check-in and check-out is inside the geofence. One route is a noisy
phone trace on the Helsinki roads, the other a drive partly outside the road network's area.
"""

from __future__ import annotations

import datetime
from pathlib import Path
from typing import Any

import pytest
from shapely.geometry import Point

from driver_agent.commands.fleetrun import run_fleet
from driver_agent.core.clock import VirtualClock
from driver_agent.core.config import load_config
from driver_agent.core.errors import TrackError
from driver_agent.geo.geometry import haversine_m
from driver_agent.geo.tracks import Track, load_track
from driver_agent.sandbox.app import SandboxApp
from driver_agent.sandbox.fleet import FLEET_HANDLERS
from driver_agent.sandbox.world import JsonDict, Reply, World

DATA = Path(__file__).resolve().parent.parent / "data"
ROUTES = (DATA / "noisy-gappy.gpx", DATA / "bridge" / "delivery.gpx")
GEOFENCE_M = 50.0
ON_ROUTE_M = 60.0  # GPS noise (about 4 m, correlated) and the pull-out from the parked van


def off_route_m(track: Track, lat: float, lng: float) -> float:
    return float(track.line.distance(Point(track.projection.forward(lat, lng))))


def epoch_ms(iso: str) -> int:
    return round(datetime.datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp() * 1000)


@pytest.mark.timeout(300)
async def test_embedded_orders_follow_the_recorded_routes_between_pickup_and_dropoff(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pings: list[JsonDict] = []
    original = FLEET_HANDLERS["update_driver_location"]

    def recording(world: World, body: JsonDict, now_s: float) -> Reply:
        pings.append(body)
        return original(world, body, now_s)

    monkeypatch.setitem(FLEET_HANDLERS, "update_driver_location", recording)
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
    snapshot = apps[0].state.snapshot(clock.now())
    drivers = {d["user_id"]: d["external_id"] for d in snapshot["drivers"]}
    tracks = [load_track(p) for p in ROUTES]
    orders = sorted(snapshot["orders"], key=lambda o: o["external_id"])
    assert len(orders) == 6
    followed = 0
    for i, order in enumerate(orders):
        track = tracks[i % len(tracks)]  # round-robin over the routes, in the order given
        pickup, dropoff = order["way_points"]
        assert order["status_name"] == "done"
        assert haversine_m(pickup["lat"], pickup["lng"], *track.start) < 0.1
        assert haversine_m(dropoff["lat"], dropoff["lng"], *track.end) < 0.1
        for wp in (pickup, dropoff):
            assert haversine_m(wp["lat"], wp["lng"], wp["checkin_lat"], wp["checkin_lng"]) <= (
                GEOFENCE_M
            )
            assert haversine_m(wp["lat"], wp["lng"], wp["checkout_lat"], wp["checkout_lng"]) <= (
                GEOFENCE_M
            )
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
        # and the pings cover the route, not one end of it
        progress = [track.line.project(Point(track.projection.forward(p["lat"], p["lng"])))
                    for p in leg]  # fmt: skip
        assert min(progress) < 0.1 * track.length_m
        assert max(progress) > 0.9 * track.length_m
        followed += 1
    assert followed == 6


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

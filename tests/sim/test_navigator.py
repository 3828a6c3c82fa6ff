"""Tests for driver_agent.sim.navigator: legs on the roads, parked near the stop, walked to the
door when the road is farther than the geofence allows; recorded routes driven as recorded."""

from __future__ import annotations

import random
from pathlib import Path

import pytest
from shapely.geometry import Point

from driver_agent.core.model import Stop, StopKind
from driver_agent.geo.geometry import destination, haversine_m
from driver_agent.geo.roads import RoadNetwork
from driver_agent.geo.tracks import Track, load_track
from driver_agent.sim.navigator import Navigator
from driver_agent.sim.routebook import RecordedRoute, RouteBook


@pytest.fixture(scope="module")
def network() -> RoadNetwork:
    return RoadNetwork.load()


def _off_road_stop(network: RoadNetwork, rng: random.Random, kind: StopKind) -> Stop:
    lat, lng = network.random_point(rng)
    lat, lng = destination(lat, lng, rng.uniform(0.0, 360.0), rng.uniform(0.0, 500.0))
    return Stop(kind, lat, lng)


@pytest.mark.parametrize("radius_m", [20.0, 50.0, 100.0])
def test_check_in_is_always_inside_the_geofence_for_stops_up_to_500_m_off_the_road(
    network: RoadNetwork, radius_m: float
) -> None:
    navigator = Navigator(network, geofence_radius_m=radius_m)
    rng = random.Random(11)
    here = network.random_point(rng)
    van: tuple[float, float] | None = None
    walked = 0
    for i in range(200):
        stop = _off_road_stop(network, rng, StopKind.PICKUP if i % 2 else StopKind.DROPOFF)
        leg = navigator.leg(*here, stop, rng, van_at=van)
        # where the driver checks in and out: at the stop's door, or by the van when it is close
        assert haversine_m(*leg.at_stop, stop.lat, stop.lng) <= navigator.walk_beyond_m + 1e-6
        assert haversine_m(*leg.lat_lng_at(leg.arrive_s), stop.lat, stop.lng) <= radius_m
        if leg.walk_in is not None:
            walked += 1
            assert leg.position_at(leg.arrive_s - 0.5).on_foot
        # the leg starts where the driver stands: walking back to its van, if it has one elsewhere
        assert haversine_m(*leg.lat_lng_at(0.0), *here) < 1.0
        here, van = leg.at_stop, leg.parked_at
    assert walked > 60  # most stops this far off the road are walked to


def test_a_driver_at_its_van_drives_off_at_once(network: RoadNetwork) -> None:
    navigator = Navigator(network)
    rng = random.Random(3)
    start = network.random_point(rng)
    leg = navigator.leg(*start, _off_road_stop(network, rng, StopKind.DROPOFF), rng)
    assert leg.walk_out is None


# ---- recorded routes ---------------------------------------------------------------------------

DATA = Path(__file__).resolve().parent.parent / "data"


@pytest.fixture(scope="module")
def trace() -> RecordedRoute:
    """A noisy phone recording on the Helsinki roads, with a time on every point."""
    return RecordedRoute.of(load_track(DATA / "noisy-gappy.gpx"))


@pytest.fixture(scope="module")
def off_the_map() -> RecordedRoute:
    """A recorded drive starting and ending 330-360 m from the nearest road of the network."""
    return RecordedRoute.of(load_track(DATA / "bridge" / "delivery.gpx"))


def _off_route_m(route: RecordedRoute, lat: float, lng: float) -> float:
    track = route.track
    return float(track.line.distance(Point(track.projection.forward(lat, lng))))


def test_a_leg_from_a_routes_pickup_to_its_dropoff_drives_the_recording(
    network: RoadNetwork, trace: RecordedRoute
) -> None:
    navigator = Navigator(network, routes=RouteBook((trace,)))
    rng = random.Random(4)
    van = destination(*trace.pickup, 90.0, 15.0)  # parked 15 m east, the driver at the pickup
    leg = navigator.leg(*trace.pickup, Stop(StopKind.DROPOFF, *trace.dropoff), rng, van_at=van)
    # the recording, vertex for vertex, after a pull-out from the van; its times kept
    assert list(leg.track.line.coords)[1:] == list(trace.track.line.coords)
    assert leg.track.times_s is not None
    assert leg.track.times_s[1:] == trace.track.times_s
    assert haversine_m(*leg.track.start, *van) < 0.01
    driving = [leg.walk_out_s + leg.drive_s * k / 200 for k in range(201)]
    assert max(_off_route_m(trace, *leg.lat_lng_at(t)) for t in driving) <= 15.0
    # at its recorded pace: the trace took 272 s, the drive takes about as long
    assert 0.5 * 272.0 < leg.drive_s < 2.0 * 272.0
    assert haversine_m(*leg.lat_lng_at(leg.arrive_s), *trace.dropoff) <= navigator.walk_beyond_m

    # the same stops without the route: the router's track, no recorded times
    routed = Navigator(network).leg(
        *trace.pickup, Stop(StopKind.DROPOFF, *trace.dropoff), random.Random(4), van_at=van
    )
    assert routed.track.times_s is None
    assert list(routed.track.line.coords) != list(leg.track.line.coords)


def test_a_leg_to_a_routes_dropoff_from_elsewhere_is_routed(
    network: RoadNetwork, trace: RecordedRoute
) -> None:
    navigator = Navigator(network, geofence_radius_m=50.0, routes=RouteBook((trace,)))
    away = destination(*trace.pickup, 180.0, 60.0)  # outside the pickup's geofence
    leg = navigator.leg(*away, Stop(StopKind.DROPOFF, *trace.dropoff), random.Random(1))
    assert leg.track.times_s is None
    # and a dropoff elsewhere from the route's pickup is routed too
    other = Stop(StopKind.DROPOFF, *destination(*trace.dropoff, 0.0, 30.0))
    assert navigator.leg(*trace.pickup, other, random.Random(1)).track.times_s is None


def test_a_recorded_route_off_the_map_is_driven_as_recorded(
    network: RoadNetwork, off_the_map: RecordedRoute
) -> None:
    navigator = Navigator(network, routes=RouteBook((off_the_map,)))
    rng = random.Random(9)
    # to the pickup: on the roads as far as they go, then on to the pickup itself
    here = network.random_point(rng)
    to_pickup = navigator.leg(*here, Stop(StopKind.PICKUP, *off_the_map.pickup), rng)
    assert haversine_m(*to_pickup.track.end, *off_the_map.pickup) < 0.5
    without = Navigator(network).leg(*here, Stop(StopKind.PICKUP, *off_the_map.pickup), rng)
    assert haversine_m(*without.track.end, *off_the_map.pickup) > 300.0  # parks on the road
    # the van stands near the pickup, so the recorded leg starts close to the recording
    van = to_pickup.parked_at
    assert haversine_m(*van, *off_the_map.pickup) <= navigator.geofence_radius_m
    leg = navigator.leg(
        *to_pickup.at_stop, Stop(StopKind.DROPOFF, *off_the_map.dropoff), rng, van_at=van
    )
    assert leg.track.times_s is not None
    driving = [leg.walk_out_s + leg.drive_s * k / 200 for k in range(201)]
    assert max(_off_route_m(off_the_map, *leg.lat_lng_at(t)) for t in driving) <= 50.0
    assert haversine_m(*leg.at_stop, *off_the_map.dropoff) <= navigator.walk_beyond_m + 1e-6


def test_a_recorded_route_far_from_any_network_needs_none() -> None:
    far = Track.from_latlngs(
        [(47.17, 9.51), (47.16, 9.515), (47.15, 9.52)], times_s=[0.0, 90.0, 180.0], name="far"
    )
    route = RecordedRoute.of(far)
    navigator = Navigator(None, routes=RouteBook((route,)))
    leg = navigator.leg(*route.pickup, Stop(StopKind.DROPOFF, *route.dropoff), random.Random(2))
    assert leg.track is route.track  # the driver stands at its first point: no pull-out
    assert haversine_m(*leg.lat_lng_at(leg.drive_s / 2), *far.point_at(far.length_m / 2)) < 300

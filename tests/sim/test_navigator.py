"""Tests for driver_agent.sim.navigator: legs on the roads, parked near the stop, walked to the
door when the road is farther than the geofence allows."""

from __future__ import annotations

import random

import pytest

from driver_agent.core.model import Stop, StopKind
from driver_agent.geo.geometry import destination, haversine_m
from driver_agent.geo.roads import RoadNetwork
from driver_agent.sim.navigator import Navigator


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

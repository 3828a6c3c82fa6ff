"""Plans each drive to a stop: on the road network where it covers both ends, else a straight line.

Pure: the road network is loaded by the caller; nothing here does I/O.
"""

from __future__ import annotations

import dataclasses
import random

from driver_agent.core.model import Stop
from driver_agent.geo.geometry import haversine_m
from driver_agent.geo.roads import RoadNetwork, travel_track
from driver_agent.sim.gpsnoise import GpsNoise
from driver_agent.sim.stopplan import Leg, draw_stop_plan

MIN_LEG_M = 5.0  # a stop closer than this is a walk; the leg still has a tiny drive


class Navigator:
    """Legs to stops, parked inside the stop's geofence: check-in happens where the van stands."""

    def __init__(self, network: RoadNetwork | None, geofence_radius_m: float = 50.0) -> None:
        self.network = network
        self.geofence_radius_m = geofence_radius_m

    def leg(self, from_lat: float, from_lng: float, stop: Stop, rng: random.Random) -> Leg:
        to_lat, to_lng = stop.lat, stop.lng
        if haversine_m(from_lat, from_lng, to_lat, to_lng) < MIN_LEG_M:
            # already there: a short roll to the curb keeps every leg a real drive
            to_lat += MIN_LEG_M / 111_000.0
        track = travel_track(self.network, from_lat, from_lng, to_lat, to_lng)
        plan = draw_stop_plan(stop.kind, rng)
        # park inside the geofence: the driver checks in on arrival, where the van stands
        limit = max(0.0, 0.8 * self.geofence_radius_m - plan.curb_offset_m)
        if plan.park_before_m > limit:
            plan = dataclasses.replace(plan, park_before_m=limit)
        return Leg(track, stop.kind, rng, plan=plan)

    def noise(self, rng: random.Random) -> GpsNoise:
        return GpsNoise(rng)

"""Plans each drive to a stop: on the road network where it covers both ends, else a straight line;
a pickup-to-dropoff leg of one of the run's recorded routes (`sim.routebook`) drives the recording.

Pure: the road network is loaded by the caller; nothing here does I/O.
"""

from __future__ import annotations

import dataclasses

from driver_agent.core.model import Stop, StopKind
from driver_agent.geo.geometry import haversine_m
from driver_agent.geo.roads import RoadNetwork, travel_track
from driver_agent.geo.tracks import Track
from driver_agent.sim.draws import Rng
from driver_agent.sim.gpsnoise import GpsNoise
from driver_agent.sim.routebook import RouteBook, drive_on_to
from driver_agent.sim.stopplan import Leg, draw_stop_plan

MIN_LEG_M = 5.0  # a stop closer than this is a walk; the leg still has a tiny drive
# walk from the van when it stands farther than this part of the geofence radius from the stop:
# with GPS noise on top (sigma about 4 m), check-in then stays well inside the geofence
WALK_BEYOND_FRACTION = 0.25
MAX_WALK_M = 1000.0  # a stop farther than this from every road is driven to in a straight line


class Navigator:
    """Legs to stops: drive to the road point nearest the stop, park, and walk the rest when the
    van stands farther than `walk_beyond_m` (a quarter of the geofence) from the stop, so check-in
    and check-out happen at the stop, well inside its geofence, even off the road.

    With `routes`, a leg from a route's pickup (the driver stands inside its geofence) to that
    route's dropoff drives the recorded track from where the van is parked, and a leg to a
    route's pickup drives on from the roads to the pickup itself (the recording started there);
    every other leg is routed."""

    def __init__(
        self,
        network: RoadNetwork | None,
        geofence_radius_m: float = 50.0,
        routes: RouteBook | None = None,
    ) -> None:
        self.network = network
        self.geofence_radius_m = geofence_radius_m
        self.walk_beyond_m = WALK_BEYOND_FRACTION * geofence_radius_m
        self.routes = routes if routes is not None else RouteBook()

    def leg(
        self,
        from_lat: float,
        from_lng: float,
        stop: Stop,
        rng: Rng,
        *,
        van_at: tuple[float, float] | None = None,
    ) -> Leg:
        """The leg from where the driver stands to `stop`; `van_at`: where its van is parked,
        when the driver is on foot (at the door of the last stop): the leg walks back first."""
        start_lat, start_lng = van_at if van_at is not None else (from_lat, from_lng)
        recorded = None
        if stop.kind is StopKind.DROPOFF and self.routes:
            recorded = self.routes.match(
                from_lat, from_lng, stop.lat, stop.lng, within_m=self.geofence_radius_m
            )
        if recorded is not None:
            track = recorded.drive_from(start_lat, start_lng)
        else:
            track = self._routed(start_lat, start_lng, stop)
            if stop.kind is StopKind.PICKUP and self.routes.is_pickup(stop.lat, stop.lng):
                track = drive_on_to(track, stop.lat, stop.lng)
        plan = draw_stop_plan(stop.kind, rng)
        # park inside the geofence of the road's end; the walk covers the rest
        limit = max(0.0, 0.8 * self.geofence_radius_m - plan.curb_offset_m)
        if plan.park_before_m > limit:
            plan = dataclasses.replace(plan, park_before_m=limit)
        return Leg(
            track,
            stop.kind,
            rng,
            plan=plan,
            stop_at=(stop.lat, stop.lng),
            walk_beyond_m=self.walk_beyond_m,
            walk_from=(from_lat, from_lng) if van_at is not None else None,
        )

    def _routed(self, start_lat: float, start_lng: float, stop: Stop) -> Track:
        """On the roads to the road point nearest the stop (the walk covers the rest), or in a
        straight line where the network does not reach."""
        to_lat, to_lng = stop.lat, stop.lng
        if haversine_m(start_lat, start_lng, to_lat, to_lng) < MIN_LEG_M:
            # already there: a short roll to the curb keeps every leg a real drive
            to_lat += MIN_LEG_M / 111_000.0
        if self.network is not None and not self.network.covers(to_lat, to_lng):
            # a stop beyond the router's snap limit: drive to the nearest road, walk the rest
            road = self.network.snap(to_lat, to_lng, within_m=MAX_WALK_M)
            if road is not None:
                to_lat, to_lng = road
        return travel_track(self.network, start_lat, start_lng, to_lat, to_lng)

    def noise(self, rng: Rng) -> GpsNoise:
        return GpsNoise(rng)

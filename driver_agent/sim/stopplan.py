"""What happens at a stop, and one drive to it: approach, park near the stop, dwell, leave.

`draw_stop_plan(kind, rng)` draws, from seeded distributions per stop kind, how far short of the
stop and how far to the side the vehicle parks, and how long parking, walking to the door and
back, the handover and the proof of delivery take. A pickup is a depot (short walk, long
loading); a dropoff is a customer's door (a search for a spot, stairs, a photo or signature).

`Leg(track, kind, rng)` combines a `Movement` along the track with a plan: it drives to a point
`park_before_m` short of the track's end, pulls over `curb_offset_m` to the right, and stands
there for `dwell_s`. The driver runner asks it where the driver is (`position_at`), whether it
has arrived (`arrived`), where the van parked (`parked_at`), where the driver stands during the
dwell (`at_stop`: where it checks in and out) and when it may leave (`depart_s`).

On foot: given the stop's coordinates (`stop_at`) and a `walk_beyond_m`, a leg whose van parks
farther than that from the stop (a door off the road, a depot behind a car park) ends with a
walk from the van to the stop at `WALK_SPEED_MPS`, so check-in and check-out happen at the stop.
A leg that starts away from its van (`walk_from`: the door of the last stop) begins with the walk
back. Walks are straight lines on the map, with GPS fixes as on the road; the time they take on
the map is taken off the plan's `walk_s` (which keeps the stairs and the part not drawn).

Pure.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

from driver_agent.core.model import StopKind
from driver_agent.geo.geometry import bearing_deg, haversine_m
from driver_agent.geo.tracks import Track
from driver_agent.sim.draws import Rng
from driver_agent.sim.motion import MotionParams, Movement

WALK_SPEED_MPS = 1.3


def _lognormal(rng: Rng, median: float, sigma: float, lo: float, hi: float) -> float:
    return max(lo, min(hi, median * math.exp(sigma * rng.gauss(0.0, 1.0))))


@dataclass(frozen=True, slots=True)
class StopPlan:
    """Where the vehicle parks relative to the stop, and what the dwell is made of (seconds)."""

    kind: StopKind
    park_before_m: float
    curb_offset_m: float
    parking_s: float
    walk_s: float
    handover_s: float
    proof_s: float

    @property
    def dwell_s(self) -> float:
        return self.parking_s + self.walk_s + self.handover_s + self.proof_s


def draw_stop_plan(kind: StopKind, rng: Rng) -> StopPlan:
    """A seeded plan for a pickup (at a depot) or a dropoff (at a customer's door)."""
    if kind is StopKind.PICKUP:
        park_before = rng.uniform(0.0, 15.0)
        curb = rng.uniform(2.0, 6.0)
        parking = _lognormal(rng, 30.0, 0.4, 10.0, 120.0)
        to_door = math.hypot(park_before, curb) + rng.uniform(10.0, 40.0)
        walk = 2.0 * to_door / WALK_SPEED_MPS
        handover = _lognormal(rng, 180.0, 0.5, 60.0, 900.0)  # loading the parcels
        proof = rng.uniform(5.0, 30.0)  # scanning
    else:
        park_before = _lognormal(rng, 20.0, 0.7, 3.0, 120.0)
        curb = rng.uniform(2.0, 4.0)
        parking = _lognormal(rng, 40.0, 0.5, 10.0, 300.0)
        to_door = math.hypot(park_before, curb) + rng.uniform(5.0, 60.0)
        stairs = rng.triangular(0.0, 180.0, 20.0)  # stairs, lift, buzzer, each way
        walk = 2.0 * (to_door / WALK_SPEED_MPS + stairs)
        handover = _lognormal(rng, 45.0, 0.5, 10.0, 300.0)
        proof = _lognormal(rng, 25.0, 0.4, 5.0, 120.0)  # photo or signature
    return StopPlan(kind, park_before, curb, parking, walk, handover, proof)


@dataclass(frozen=True, slots=True)
class Position:
    """Where the driver is at one moment of a leg (`on_foot`: walking to or from the van)."""

    lat: float
    lng: float
    speed_mps: float
    heading_deg: float
    parked: bool
    on_foot: bool = False


@dataclass(frozen=True, slots=True)
class Walk:
    """A walk on foot in a straight line at `WALK_SPEED_MPS` (short: lat/lng interpolate)."""

    from_lat: float
    from_lng: float
    to_lat: float
    to_lng: float

    @property
    def distance_m(self) -> float:
        return haversine_m(self.from_lat, self.from_lng, self.to_lat, self.to_lng)

    @property
    def duration_s(self) -> float:
        return self.distance_m / WALK_SPEED_MPS

    @property
    def heading_deg(self) -> float:
        return bearing_deg(self.from_lat, self.from_lng, self.to_lat, self.to_lng)

    def lat_lng_at(self, t_s: float) -> tuple[float, float]:
        duration = self.duration_s
        f = 1.0 if duration <= 0.0 else min(1.0, max(0.0, t_s / duration))
        return (
            self.from_lat + (self.to_lat - self.from_lat) * f,
            self.from_lng + (self.to_lng - self.from_lng) * f,
        )


class Leg:
    """One drive along `track` to a stop of `kind`, then the dwell there; walks at either end
    when the van cannot stand at the stop (see the module's docstring)."""

    __slots__ = (
        "_parked_heading",
        "at_stop",
        "drive_s",
        "movement",
        "parked_at",
        "plan",
        "track",
        "walk_in",
        "walk_in_s",
        "walk_out",
        "walk_out_s",
    )

    def __init__(
        self,
        track: Track,
        kind: StopKind,
        rng: Rng,
        params: MotionParams | None = None,
        plan: StopPlan | None = None,
        *,
        stop_at: tuple[float, float] | None = None,
        walk_beyond_m: float = math.inf,
        walk_from: tuple[float, float] | None = None,
    ) -> None:
        self.track = track
        plan = plan or draw_stop_plan(kind, rng)
        park_before = min(plan.park_before_m, 0.5 * track.length_m)
        self.movement = Movement(track, rng, params, end_m=track.length_m - park_before)
        end = self.movement.distance_m
        heading = math.radians(self.movement.heading_at(end))
        x, y = self.movement.xy_at(end)
        # pull over to the right of the direction of travel (local x east, y north)
        right_x, right_y = math.cos(heading), -math.sin(heading)
        curb = plan.curb_offset_m
        self.parked_at: tuple[float, float] = track.projection.inverse(
            x + right_x * curb, y + right_y * curb
        )
        self._parked_heading = math.degrees(heading) % 360.0
        start = track.start
        self.walk_out: Walk | None = None
        if walk_from is not None and haversine_m(*walk_from, *start) > 1.0:
            self.walk_out = Walk(*walk_from, *start)
        self.walk_in: Walk | None = None
        if stop_at is not None and haversine_m(*self.parked_at, *stop_at) > walk_beyond_m:
            self.walk_in = Walk(*self.parked_at, *stop_at)
            # the walk to the door and back is on the map now, no longer inside the dwell
            on_map_s = 2.0 * self.walk_in.duration_s
            plan = dataclasses.replace(plan, walk_s=max(0.0, plan.walk_s - on_map_s))
        self.plan = plan
        self.at_stop: tuple[float, float] = (
            (self.walk_in.to_lat, self.walk_in.to_lng) if self.walk_in else self.parked_at
        )
        self.walk_out_s = self.walk_out.duration_s if self.walk_out else 0.0
        self.walk_in_s = self.walk_in.duration_s if self.walk_in else 0.0
        self.drive_s = self.movement.duration_s

    @property
    def arrive_s(self) -> float:
        """Seconds after departure when the driver stands at the stop (van parked, walk done)."""
        return self.walk_out_s + self.drive_s + self.walk_in_s

    @property
    def walk_s(self) -> float:
        """Seconds of this leg on foot, both ends."""
        return self.walk_out_s + self.walk_in_s

    @property
    def dwell_s(self) -> float:
        return self.plan.dwell_s

    @property
    def depart_s(self) -> float:
        """Seconds after departure when the dwell is over and the driver may leave."""
        return self.arrive_s + self.dwell_s

    def arrived(self, t_s: float) -> bool:
        return t_s >= self.arrive_s

    def driven_m_at(self, t_s: float) -> float:
        """Metres driven (not walked) by t_s seconds after departure."""
        return self.movement.distance_at(t_s - self.walk_out_s)[0] if t_s > self.walk_out_s else 0.0

    def walked_s_at(self, t_s: float) -> float:
        """Seconds on foot by t_s seconds after departure (to the van, then to the stop)."""
        out = min(max(t_s, 0.0), self.walk_out_s)
        walk_in = min(max(t_s - self.walk_out_s - self.drive_s, 0.0), self.walk_in_s)
        return out + walk_in

    def van_at(self, t_s: float) -> tuple[float, float] | None:
        """Where the van stands while the driver is away from it at t_s; None when in it."""
        if t_s < self.walk_out_s:
            return self.track.start
        if t_s < self.walk_out_s + self.drive_s or self.walk_in is None:
            return None
        return self.parked_at

    def lat_lng_at(self, t_s: float) -> tuple[float, float]:
        """`position_at(t_s)`'s (lat, lng) alone: no heading, the cheap path for location pings.
        A time before departure (a late tick of the leg before) is the start."""
        t_s = max(t_s, 0.0)
        if t_s >= self.arrive_s:
            return self.at_stop
        if t_s < self.walk_out_s:
            assert self.walk_out is not None
            return self.walk_out.lat_lng_at(t_s)
        drive_t = t_s - self.walk_out_s
        if drive_t >= self.drive_s:
            assert self.walk_in is not None
            return self.walk_in.lat_lng_at(drive_t - self.drive_s)
        return self.movement.lat_lng_at(drive_t)

    def position_at(self, t_s: float) -> Position:
        """Position t_s seconds after departure (clamped at 0); from arrival on, at the stop."""
        t_s = max(t_s, 0.0)
        if t_s >= self.arrive_s:
            lat, lng = self.at_stop
            heading = self.walk_in.heading_deg if self.walk_in else self._parked_heading
            return Position(lat, lng, 0.0, heading, True, on_foot=self.walk_in is not None)
        if t_s < self.walk_out_s:
            walk, walk_t = self.walk_out, t_s
        else:
            drive_t = t_s - self.walk_out_s
            if drive_t < self.drive_s:
                lat, lng, speed, heading = self.movement.position_at(drive_t)
                return Position(lat, lng, speed, heading, False)
            walk, walk_t = self.walk_in, drive_t - self.drive_s
        assert walk is not None
        lat, lng = walk.lat_lng_at(walk_t)
        return Position(lat, lng, WALK_SPEED_MPS, walk.heading_deg, True, on_foot=True)

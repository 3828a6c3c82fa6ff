"""What happens at a stop, and one drive to it: approach, park near the stop, dwell, leave.

`draw_stop_plan(kind, rng)` draws, from seeded distributions per stop kind, how far short of the
stop and how far to the side the vehicle parks, and how long parking, walking to the door and
back, the handover and the proof of delivery take. A pickup is a depot (short walk, long
loading); a dropoff is a customer's door (a search for a spot, stairs, a photo or signature).

`Leg(track, kind, rng)` combines a `Movement` along the track with a plan: it drives to a point
`park_before_m` short of the track's end, pulls over `curb_offset_m` to the right, and stands
there for `dwell_s`. The driver runner asks it where the vehicle is (`position_at`), whether it
has arrived (`arrived`), where it parked (`parked_at`: where it checks in, not the stop's exact
coordinates) and when it may leave (`depart_s`).

Pure.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass

from driver_agent.core.model import StopKind
from driver_agent.geo.tracks import Track
from driver_agent.sim.motion import MotionParams, Movement

WALK_SPEED_MPS = 1.3


def _lognormal(rng: random.Random, median: float, sigma: float, lo: float, hi: float) -> float:
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


def draw_stop_plan(kind: StopKind, rng: random.Random) -> StopPlan:
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
    """Where the vehicle is at one moment of a leg."""

    lat: float
    lng: float
    speed_mps: float
    heading_deg: float
    parked: bool


class Leg:
    """One drive along `track` to a stop of `kind`, then the dwell there."""

    def __init__(
        self,
        track: Track,
        kind: StopKind,
        rng: random.Random,
        params: MotionParams | None = None,
        plan: StopPlan | None = None,
    ) -> None:
        self.track = track
        self.plan = plan or draw_stop_plan(kind, rng)
        park_before = min(self.plan.park_before_m, 0.5 * track.length_m)
        self.movement = Movement(track, rng, params, end_m=track.length_m - park_before)
        end = self.movement.distance_m
        heading = math.radians(self.movement.heading_at(end))
        x, y = self.movement.xy_at(end)
        # pull over to the right of the direction of travel (local x east, y north)
        right_x, right_y = math.cos(heading), -math.sin(heading)
        curb = self.plan.curb_offset_m
        self.parked_at: tuple[float, float] = track.projection.inverse(
            x + right_x * curb, y + right_y * curb
        )
        self._parked_heading = math.degrees(heading) % 360.0

    @property
    def arrive_s(self) -> float:
        """Seconds after departure when the vehicle stands parked at the stop."""
        return self.movement.duration_s

    @property
    def dwell_s(self) -> float:
        return self.plan.dwell_s

    @property
    def depart_s(self) -> float:
        """Seconds after departure when the dwell is over and the driver may leave."""
        return self.arrive_s + self.dwell_s

    def arrived(self, t_s: float) -> bool:
        return t_s >= self.arrive_s

    def lat_lng_at(self, t_s: float) -> tuple[float, float]:
        """`position_at(t_s)`'s (lat, lng) alone: no heading, the cheap path for location pings."""
        if t_s >= self.arrive_s:
            return self.parked_at
        return self.movement.lat_lng_at(t_s)

    def position_at(self, t_s: float) -> Position:
        """Position t_s seconds after departure; from arrival on, the parked position."""
        if t_s >= self.arrive_s:
            lat, lng = self.parked_at
            return Position(lat, lng, 0.0, self._parked_heading, True)
        lat, lng, speed, heading = self.movement.position_at(t_s)
        return Position(lat, lng, speed, heading, False)

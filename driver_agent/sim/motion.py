"""Where a vehicle is at any moment of a drive: speed profile, junction stops, parking, GPS noise.

`Movement` turns a `Track` and a seeded `Rng` (`draws`) into a timeline: it accelerates and
brakes within set limits, cruises at its road class's speed (times a per-trip pace), slows for
turns by their angle, and now and then stops at a junction (lights, give way). The timeline is
precomputed as piecewise constant-acceleration phases, so `position_at(t_s)` is a bisect plus an
interpolation. A recorded trace (times, no road classes) cruises at its own recorded pace.

`Leg` is one drive to a stop: it draws a `StopPlan` for the stop kind (where to park, how long
parking, the walk to the door, the handover and the proof of delivery take), parks a little
short of the stop and to the side of the road, and says when it arrives, where it parked and
how long it dwells. `GpsNoise` is a seeded, time-correlated error on top of true positions.

Pure: no clock (the caller passes seconds since departure), no I/O, no logging.
"""

from __future__ import annotations

import math
from bisect import bisect_right
from dataclasses import dataclass
from itertools import pairwise

from driver_agent.geo.geometry import EARTH_RADIUS_M, LocalProjection, bearing_deg
from driver_agent.geo.roadclass import cruise_mps
from driver_agent.geo.tracks import Track
from driver_agent.sim.draws import Rng

# turn angle (degrees) -> the most a van takes it at (m/s); linear in between
TURN_SPEED_MPS: tuple[tuple[float, float], ...] = (
    (20.0, math.inf),
    (45.0, 9.0),
    (90.0, 5.5),
    (135.0, 4.0),
    (180.0, 2.5),
)


@dataclass(frozen=True, slots=True)
class MotionParams:
    """How a driver drives. Defaults: a delivery van in city traffic."""

    accel_mps2: float = 2.0
    brake_mps2: float = 2.5
    pace_min: float = 0.85  # fraction of the class cruise speed this trip drives at
    pace_max: float = 1.0
    junction_stop_p: float = 0.25
    junction_stop_min_s: float = 3.0
    junction_stop_max_s: float = 45.0
    junction_stop_mode_s: float = 12.0
    junction_spacing_m: float = 50.0  # candidates closer than this to the last one are skipped
    turn_window_m: float = 12.0  # headings for the turn angle are taken this far each side
    # a recorded trace without road classes cruises at its own recorded pace, so clamped
    recorded_window_m: float = 200.0
    recorded_cruise_kph: tuple[float, float] = (15.0, 100.0)


def turn_speed_mps(angle_deg: float) -> float:
    """The highest speed for a turn of `angle_deg` (0 straight on, 180 a U-turn)."""
    a = abs(angle_deg)
    if a <= TURN_SPEED_MPS[0][0]:
        return math.inf
    for (a0, v0), (a1, v1) in pairwise(TURN_SPEED_MPS):
        if a <= a1:
            if math.isinf(v0):
                return v1
            return v0 + (v1 - v0) * (a - a0) / (a1 - a0)
    return TURN_SPEED_MPS[-1][1]


def recorded_cruise_mps(track: Track, params: MotionParams) -> list[float]:
    """Per-segment cruise from a recorded trace's own pace: the average speed over a window of
    `recorded_window_m` around the segment, clamped to `recorded_cruise_kph` (min, max)."""
    assert track.times_s is not None
    cum, times = track.vertex_distances_m, track.times_s
    lo_kph, hi_kph = params.recorded_cruise_kph
    half = params.recorded_window_m / 2.0
    out = []
    for i in range(len(cum) - 1):
        mid = (cum[i] + cum[i + 1]) / 2.0
        a = max(0, bisect_right(cum, mid - half) - 1)
        b = min(len(cum) - 1, bisect_right(cum, mid + half))
        dt = times[b] - times[a]
        speed = (cum[b] - cum[a]) / dt if dt > 0 else hi_kph / 3.6
        out.append(max(lo_kph / 3.6, min(hi_kph / 3.6, speed)))
    return out


@dataclass(frozen=True, slots=True)
class JunctionStop:
    distance_m: float
    at_s: float
    duration_s: float


class _Path:
    """Interpolation on a track's local-metre vertices by distance along it."""

    __slots__ = ("cum", "length_m", "xy")

    def __init__(self, track: Track) -> None:
        self.xy: list[tuple[float, float]] = [
            (float(x), float(y)) for x, y, *_ in track.line.coords
        ]
        self.cum = track.vertex_distances_m
        self.length_m = track.length_m

    def segment(self, s: float) -> int:
        return max(0, min(bisect_right(self.cum, s) - 1, len(self.xy) - 2))

    def xy_at(self, s: float) -> tuple[float, float]:
        s = max(0.0, min(s, self.length_m))
        i = self.segment(s)
        d = self.cum[i + 1] - self.cum[i]
        f = (s - self.cum[i]) / d if d > 0 else 0.0
        (x0, y0), (x1, y1) = self.xy[i], self.xy[i + 1]
        return x0 + (x1 - x0) * f, y0 + (y1 - y0) * f

    def heading_rad(self, s0: float, s1: float) -> float:
        (x0, y0), (x1, y1) = self.xy_at(s0), self.xy_at(s1)
        return math.atan2(x1 - x0, y1 - y0)

    def turn_deg(self, s: float, window_m: float) -> float:
        before = self.heading_rad(max(0.0, s - window_m), s)
        after = self.heading_rad(s, min(self.length_m, s + window_m))
        d = math.degrees(after - before)
        return abs((d + 180.0) % 360.0 - 180.0)


class _Inverse:
    """`LocalProjection.inverse` with the reference point's trigonometry done once: the same
    operations on the same numbers as `geometry.destination`, so the same (lat, lng) to the
    bit, at half the cost (a busy driver's location update projects its position once)."""

    __slots__ = ("_ref", "cl", "cp", "sl", "sp")

    def __init__(self, projection: LocalProjection) -> None:
        self._ref = (projection.ref_lat, projection.ref_lng)
        p, lm = math.radians(projection.ref_lat), math.radians(projection.ref_lng)
        self.sp, self.cp, self.sl, self.cl = math.sin(p), math.cos(p), math.sin(lm), math.cos(lm)

    def __call__(self, x: float, y: float) -> tuple[float, float]:
        rho = math.hypot(x, y)
        if rho < 1e-9:
            return self._ref
        th = math.radians(math.degrees(math.atan2(x, y)))
        d = rho / EARTH_RADIUS_M
        sp, cp, sl, cl = self.sp, self.cp, self.sl, self.cl
        cd, sd, ct, st = math.cos(d), math.sin(d), math.cos(th), math.sin(th)
        vx = cp * cl * cd + (-sp * cl * ct + -sl * st) * sd
        vy = cp * sl * cd + (-sp * sl * ct + cl * st) * sd
        vz = sp * cd + (cp * ct + 0.0 * st) * sd
        lat = math.degrees(math.atan2(vz, math.hypot(vx, vy)))
        return lat, (math.degrees(math.atan2(vy, vx)) + 180.0) % 360.0 - 180.0


class Movement:
    """A vehicle's drive along a track from standstill to standstill at `end_m` (default: the end).

    `position_at(t_s)` gives (lat, lng, speed_mps, heading_deg) at t_s seconds after departure;
    before 0 it is at the start, after `duration_s` at the end, standing.
    """

    __slots__ = (
        "_a",
        "_inverse",
        "_path",
        "_s",
        "_t",
        "_v",
        "distance_m",
        "duration_s",
        "junction_stops",
        "pace",
        "params",
        "track",
    )

    def __init__(
        self,
        track: Track,
        rng: Rng,
        params: MotionParams | None = None,
        *,
        end_m: float | None = None,
    ) -> None:
        p = params or MotionParams()
        self.track = track
        self.params = p
        self._path = _Path(track)
        self._inverse = _Inverse(track.projection)
        self.distance_m = track.length_m if end_m is None else max(0.0, min(end_m, track.length_m))
        self.pace = rng.uniform(p.pace_min, p.pace_max)
        cum = track.vertex_distances_m
        n_seg = len(cum) - 1
        classes = track.road_classes or ("",) * n_seg
        limits = track.speed_limits_mps or (0.0,) * n_seg
        seg_cruise = [
            cruise_mps(c, lim) * self.pace for c, lim in zip(classes, limits, strict=True)
        ]
        if track.road_classes is None and track.times_s is not None:
            seg_cruise = [v * self.pace for v in recorded_cruise_mps(track, p)]
        # stations: vertices strictly inside (0, distance_m), plus both ends
        stations = [0.0] + [s for s in cum[1:-1] if 0.0 < s < self.distance_m] + [self.distance_m]
        seg_of = [self._path.segment(s) for s in stations]
        caps = [seg_cruise[seg_of[k]] for k in range(len(stations) - 1)]  # cap on k -> k+1
        limit = [0.0] * len(stations)
        for k in range(1, len(stations) - 1):
            turn = turn_speed_mps(self._path.turn_deg(stations[k], p.turn_window_m))
            limit[k] = min(caps[k - 1], caps[k], turn)
        dwell = self._draw_junction_stops(track, stations, limit, rng)
        v = self._speeds(stations, limit, caps)
        self._build_timeline(stations, v, caps, dwell)

    def _draw_junction_stops(
        self, track: Track, stations: list[float], limit: list[float], rng: Rng
    ) -> dict[int, float]:
        p = self.params
        cum = track.vertex_distances_m
        if track.junctions:
            candidates = {cum[j] for j in track.junctions}
        else:  # no road facts: real turns are where junctions are
            candidates = {
                s for s, lim in zip(stations, limit, strict=True) if lim <= turn_speed_mps(45.0)
            }
        dwell: dict[int, float] = {}
        last = -math.inf
        for k in range(1, len(stations) - 1):
            s = stations[k]
            if s not in candidates or s - last < p.junction_spacing_m:
                continue
            if s < 20.0 or self.distance_m - s < 20.0:
                continue
            last = s
            if rng.random() < p.junction_stop_p:
                dwell[k] = rng.triangular(
                    p.junction_stop_min_s, p.junction_stop_max_s, p.junction_stop_mode_s
                )
                limit[k] = 0.0
        return dwell

    def _speeds(self, stations: list[float], limit: list[float], caps: list[float]) -> list[float]:
        a, b = self.params.accel_mps2, self.params.brake_mps2
        n = len(stations)
        v = list(limit)
        v[0] = v[-1] = 0.0
        for k in range(1, n):
            ds = stations[k] - stations[k - 1]
            v[k] = min(v[k], math.sqrt(v[k - 1] ** 2 + 2.0 * a * ds))
        for k in range(n - 2, -1, -1):
            ds = stations[k + 1] - stations[k]
            v[k] = min(v[k], math.sqrt(v[k + 1] ** 2 + 2.0 * b * ds))
        return v

    def _build_timeline(
        self, stations: list[float], v: list[float], caps: list[float], dwell: dict[int, float]
    ) -> None:
        a, b = self.params.accel_mps2, self.params.brake_mps2
        t_knots, s_knots, v_knots, a_knots = [0.0], [0.0], [0.0], []
        stops: list[JunctionStop] = []

        def phase(ds: float, v0: float, v1: float, acc: float) -> None:
            if ds <= 1e-9 and acc == 0.0:
                return
            dt = (v1 - v0) / acc if acc != 0.0 else (ds / v0 if v0 > 0 else 0.0)
            if dt <= 1e-12:
                return
            a_knots.append(acc)
            t_knots.append(t_knots[-1] + dt)
            s_knots.append(s_knots[-1] + ds)
            v_knots.append(v1)

        for k in range(len(stations) - 1):
            ds = stations[k + 1] - stations[k]
            v0, v1, cap = v[k], v[k + 1], caps[k]
            d1 = (cap * cap - v0 * v0) / (2.0 * a)
            d2 = (cap * cap - v1 * v1) / (2.0 * b)
            if d1 + d2 <= ds:
                phase(d1, v0, cap, a)
                phase(ds - d1 - d2, cap, cap, 0.0)
                phase(d2, cap, v1, -b)
            else:
                peak = math.sqrt(max(0.0, (2 * a * b * ds + b * v0 * v0 + a * v1 * v1) / (a + b)))
                peak = max(peak, v0, v1)
                d1 = max(0.0, (peak * peak - v0 * v0) / (2.0 * a))
                phase(d1, v0, peak, a)
                phase(max(0.0, ds - d1), peak, v1, -b)
            s_knots[-1] = stations[k + 1]  # no drift from rounding
            if k + 1 in dwell:
                stops.append(JunctionStop(stations[k + 1], t_knots[-1], dwell[k + 1]))
                a_knots.append(0.0)
                t_knots.append(t_knots[-1] + dwell[k + 1])
                s_knots.append(stations[k + 1])
                v_knots.append(0.0)
        a_knots.append(0.0)
        self._t, self._s, self._v, self._a = t_knots, s_knots, v_knots, a_knots
        self.duration_s = t_knots[-1]
        self.junction_stops: tuple[JunctionStop, ...] = tuple(stops)

    def distance_at(self, t_s: float) -> tuple[float, float]:
        """(distance along the track m, speed m/s) at t_s seconds after departure."""
        if t_s <= 0.0:
            return 0.0, 0.0
        if t_s >= self.duration_s:
            return self.distance_m, 0.0
        k = bisect_right(self._t, t_s) - 1
        tau = t_s - self._t[k]
        speed = max(0.0, self._v[k] + self._a[k] * tau)
        s = self._s[k] + self._v[k] * tau + 0.5 * self._a[k] * tau * tau
        return max(self._s[k], min(s, self._s[k + 1])), speed

    def heading_at(self, s: float) -> float:
        """Compass heading (degrees) of the track at distance s."""
        lo, hi = max(0.0, s - 1.0), min(self.track.length_m, s + 1.0)
        path, proj = self._path, self.track.projection
        lat0, lng0 = proj.inverse(*path.xy_at(lo))
        lat1, lng1 = proj.inverse(*path.xy_at(hi))
        return bearing_deg(lat0, lng0, lat1, lng1)

    def position_at(self, t_s: float) -> tuple[float, float, float, float]:
        """(lat, lng, speed_mps, heading_deg) at t_s seconds after departure."""
        s, speed = self.distance_at(t_s)
        lat, lng = self.track.projection.inverse(*self._path.xy_at(s))
        return lat, lng, speed, self.heading_at(s)

    def lat_lng_at(self, t_s: float) -> tuple[float, float]:
        """(lat, lng) at t_s seconds after departure: `position_at` without the heading, which
        costs two more projections and a bearing."""
        s, _speed = self.distance_at(t_s)
        return self._inverse(*self._path.xy_at(s))

    def xy_at(self, s: float) -> tuple[float, float]:
        return self._path.xy_at(s)

    def max_speed_mps(self) -> float:
        return max(self._v)

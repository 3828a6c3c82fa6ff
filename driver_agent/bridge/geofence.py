"""Geofence decisions for one order: when the vehicle checked in and out at each stop (pure).

The rules, per stop (pickup first, then dropoff; the dropoff is watched only after the pickup
check-out):

- Check-in: the vehicle is *standing* inside `radius_in_m` for at least `min_dwell_s`. A fix is
  standing when its reported speed is at most `stop_speed_mps`; without a reported speed, when it
  lies within `jitter_m + stop_speed_mps * elapsed` of the fix that began the stand (or of the
  previous fix), so GPS jitter does not break a stand and a slow drive-by does not make one.
- Check-out: once checked in, the first fix farther than `radius_out_m`. The gap between the two
  radii is the hysteresis that keeps jitter at the edge from flapping.
- Gaps: between two consecutive fixes P and Q, the vehicle needs |PQ| / v to drive from P to Q,
  where v is the larger reported speed of the two fixes above `stop_speed_mps` (else
  `cruise_speed_mps`). The rest of the gap, the *slack*, is time it may have stood still:
  * P moving, Q standing inside: the stand began `slack` before Q (a 60 s gap still counts);
  * P standing inside, Q gone: the stand lasted until `slack` after P;
  * neither standing, but the segment PQ passes within `radius_in_m` of the stop: if the slack is
    at least `min_dwell_s`, the vehicle is taken to have stood at the segment's closest point
    (check-in there, estimated) and checks out at Q if Q is beyond `radius_out_m`. A drive-by at
    its reported speed leaves no slack; a sparse trace that jumps over a small geofence with time
    to spare does. Evidence marks every such decision `estimated`.
- Order: fixes must come in device-time order per order. A fix older than (or as old as) the last
  one processed is refused as `Late` and changes nothing, so states never flap back; an exact
  duplicate (same time and place, e.g. Traccar forwarding a position and then an event carrying
  it) is ignored silently. `feed_many` sorts a batch by device time first.
- A trace that ends while the vehicle stands at the dropoff leaves it checked in: check-out needs
  a fix beyond `radius_out_m`.

Each decision carries its evidence (distance, speed, dwell, arrival time) for the edge to log.
Distances come from `driver_agent.geo`. `snapshot()` / `restore()` keep the durable part as
`state.OrderFence`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

from driver_agent.bridge.positions import Position
from driver_agent.bridge.state import OrderFence, StopFence, StopState
from driver_agent.core.errors import ConfigError
from driver_agent.core.model import StopKind
from driver_agent.geo.geometry import LocalProjection, haversine_m

if TYPE_CHECKING:
    from collections.abc import Iterable

    from driver_agent.core.model import Stop


@dataclass(frozen=True, slots=True)
class GeofenceConfig:
    """Tuning for check-in / check-out; see the module docstring for the rules."""

    radius_in_m: float = 50.0
    radius_out_m: float = 80.0
    stop_speed_mps: float = 1.5
    min_dwell_s: float = 30.0
    cruise_speed_mps: float = 10.0
    jitter_m: float = 10.0

    def __post_init__(self) -> None:
        for name in ("radius_in_m", "stop_speed_mps", "cruise_speed_mps"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value > 0):
                raise ConfigError(f"geofence.{name}", f"must be a positive number, got {value}")
        for name in ("min_dwell_s", "jitter_m"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value >= 0):
                raise ConfigError(f"geofence.{name}", f"must be >= 0, got {value}")
        if not self.radius_out_m >= self.radius_in_m:
            raise ConfigError(
                "geofence.radius_out_m",
                f"must be >= radius_in_m ({self.radius_in_m}), got {self.radius_out_m}",
            )


@dataclass(frozen=True, slots=True)
class Evidence:
    """Why a decision was taken: distance to the stop, speed, time standing, arrival."""

    distance_m: float
    speed_mps: float | None
    dwell_s: float
    arrived_t_ms: int
    estimated: bool = False


@dataclass(frozen=True, slots=True)
class CheckIn:
    kind: StopKind
    at: Position
    evidence: Evidence


@dataclass(frozen=True, slots=True)
class CheckOut:
    kind: StopKind
    at: Position
    evidence: Evidence


@dataclass(frozen=True, slots=True)
class Late:
    """A fix not newer than the last one processed; ignored, to be counted."""

    at: Position
    last_t_ms: int


Decision = CheckIn | CheckOut | Late


class StopGeofence:
    """The check-in / check-out state of one stop, fed fixes in device-time order."""

    def __init__(
        self, kind: StopKind, lat: float, lng: float, config: GeofenceConfig | None = None
    ) -> None:
        self.kind = kind
        self.lat = lat
        self.lng = lng
        self.config = config or GeofenceConfig()
        self.state = StopState.APPROACHING
        self.arrived_t_ms: int | None = None
        self._prev: Position | None = None
        self._stand_start_ms: float | None = None  # estimated start of the current stand
        self._stand_anchor: Position | None = None  # first fix observed standing in it
        self._stand_estimated = False

    def in_state(self, state: StopState) -> bool:
        return self.state is state

    def move(self, lat: float, lng: float) -> bool:
        """Move the stop (the order was updated); only before check-in. True if moved."""
        if self.state is not StopState.APPROACHING:
            return False
        self.lat, self.lng = lat, lng
        self._end_stand()
        return True

    def snapshot(self) -> StopFence:
        """The durable part of the state (a stand in progress is not kept)."""
        return StopFence(self.state, self.arrived_t_ms)

    def restore(self, data: StopFence) -> None:
        """Take back a `snapshot()`; a stand in progress starts afresh."""
        self.state = data.state
        self.arrived_t_ms = data.arrived_t_ms

    def feed(self, p: Position) -> list[Decision]:
        prev = self._prev
        if prev is not None and p.t_ms <= prev.t_ms:
            same = (p.t_ms, p.lat, p.lng) == (prev.t_ms, prev.lat, prev.lng)
            return [] if same else [Late(p, prev.t_ms)]
        self._prev = p
        if self.state is StopState.CHECKED_OUT:
            return []
        if self.state is StopState.CHECKED_IN:
            return self._maybe_check_out(p, prev)
        decisions = self._approach(p, prev)
        if self.in_state(StopState.CHECKED_IN) and not (decisions and decisions[-1].at is p):
            decisions += self._maybe_check_out(p, prev)
        return decisions

    def _approach(self, p: Position, prev: Position | None) -> list[Decision]:
        cfg = self.config
        d_m = self._distance(p)
        standing = d_m <= cfg.radius_in_m and self._is_standing(p, prev)
        if prev is None:
            if standing:
                self._start_stand(p, float(p.t_ms), estimated=False)
            return []
        slack_ms = self._slack_s(prev, p) * 1000.0
        if self._stand_start_ms is not None and not standing:
            # left the stand: it may have stood at `prev` for the slack after it
            stand_end_ms = prev.t_ms + slack_ms
            dwell_s = (stand_end_ms - self._stand_start_ms) / 1000.0
            start_ms = self._stand_start_ms
            self._end_stand()
            if dwell_s >= cfg.min_dwell_s:
                return [self._check_in(prev, dwell_s, start_ms, estimated=True)]
            return []
        if self._stand_start_ms is None and standing:
            self._start_stand(p, p.t_ms - slack_ms, estimated=slack_ms > 0)
        elif self._stand_start_ms is None:
            return self._crossing(prev, p, slack_ms / 1000.0)
        assert self._stand_start_ms is not None
        dwell_s = (p.t_ms - self._stand_start_ms) / 1000.0
        if dwell_s >= cfg.min_dwell_s:
            start_ms, estimated = self._stand_start_ms, self._stand_estimated
            self._end_stand()
            return [self._check_in(p, dwell_s, start_ms, estimated=estimated)]
        return []

    def _crossing(self, prev: Position, p: Position, slack_s: float) -> list[Decision]:
        cfg = self.config
        if slack_s < cfg.min_dwell_s:
            return []
        (ax, ay), (bx, by) = self._xy(prev), self._xy(p)
        dx, dy = bx - ax, by - ay
        length2 = dx * dx + dy * dy
        frac = 0.0 if length2 == 0 else max(0.0, min(1.0, -(ax * dx + ay * dy) / length2))
        cx, cy = ax + frac * dx, ay + frac * dy
        if math.hypot(cx, cy) > cfg.radius_in_m:
            return []
        lat, lng = self._latlng(cx, cy)
        travel_s = (math.sqrt(length2) * frac) / self._travel_speed(prev, p)
        arrive_ms = prev.t_ms + travel_s * 1000.0
        at = Position(p.device_id, lat, lng, round(arrive_ms), 0.0)
        return [self._check_in(at, slack_s, arrive_ms, estimated=True)]

    def _maybe_check_out(self, p: Position, prev: Position | None) -> list[Decision]:
        d_m = self._distance(p)
        if d_m <= self.config.radius_out_m:
            return []
        self.state = StopState.CHECKED_OUT
        arrived = self.arrived_t_ms if self.arrived_t_ms is not None else p.t_ms
        evidence = Evidence(
            distance_m=d_m,
            speed_mps=self._speed(p, prev),
            dwell_s=(p.t_ms - arrived) / 1000.0,
            arrived_t_ms=arrived,
        )
        return [CheckOut(self.kind, p, evidence)]

    def _check_in(
        self, at: Position, dwell_s: float, start_ms: float, *, estimated: bool
    ) -> CheckIn:
        self.state = StopState.CHECKED_IN
        self.arrived_t_ms = round(start_ms)
        evidence = Evidence(
            distance_m=self._distance(at),
            speed_mps=at.speed_mps,
            dwell_s=dwell_s,
            arrived_t_ms=self.arrived_t_ms,
            estimated=estimated,
        )
        return CheckIn(self.kind, at, evidence)

    def _is_standing(self, p: Position, prev: Position | None) -> bool:
        cfg = self.config
        if p.speed_mps is not None:
            return p.speed_mps <= cfg.stop_speed_mps
        ref = self._stand_anchor or prev
        if ref is None:
            return True  # nothing to compare with yet; the next fix decides
        elapsed_s = (p.t_ms - ref.t_ms) / 1000.0
        return haversine_m(ref.lat, ref.lng, p.lat, p.lng) <= (
            cfg.jitter_m + cfg.stop_speed_mps * elapsed_s
        )

    def _slack_s(self, prev: Position, p: Position) -> float:
        gap_s = (p.t_ms - prev.t_ms) / 1000.0
        drive_s = haversine_m(prev.lat, prev.lng, p.lat, p.lng) / self._travel_speed(prev, p)
        return max(0.0, gap_s - drive_s)

    def _travel_speed(self, prev: Position, p: Position) -> float:
        moving = [
            s
            for s in (prev.speed_mps, p.speed_mps)
            if s is not None and s > self.config.stop_speed_mps
        ]
        return max(moving) if moving else self.config.cruise_speed_mps

    def _speed(self, p: Position, prev: Position | None) -> float | None:
        if p.speed_mps is not None or prev is None:
            return p.speed_mps
        return haversine_m(prev.lat, prev.lng, p.lat, p.lng) / ((p.t_ms - prev.t_ms) / 1000.0)

    def _start_stand(self, anchor: Position, start_ms: float, *, estimated: bool) -> None:
        self._stand_anchor = anchor
        self._stand_start_ms = start_ms
        self._stand_estimated = estimated

    def _end_stand(self) -> None:
        self._stand_anchor = None
        self._stand_start_ms = None
        self._stand_estimated = False

    def _distance(self, p: Position) -> float:
        return haversine_m(self.lat, self.lng, p.lat, p.lng)

    def _xy(self, p: Position) -> tuple[float, float]:
        """Local metres east / north of the stop."""
        return LocalProjection(self.lat, self.lng).forward(p.lat, p.lng)

    def _latlng(self, x: float, y: float) -> tuple[float, float]:
        return LocalProjection(self.lat, self.lng).inverse(x, y)


class OrderGeofence:
    """Pickup then dropoff for one order; the dropoff is watched after the pickup check-out."""

    def __init__(self, pickup: Stop, dropoff: Stop, config: GeofenceConfig | None = None) -> None:
        self.pickup = StopGeofence(StopKind.PICKUP, pickup.lat, pickup.lng, config)
        self.dropoff = StopGeofence(StopKind.DROPOFF, dropoff.lat, dropoff.lng, config)
        self._last: Position | None = None

    @property
    def done(self) -> bool:
        """Checked out at the dropoff: time for `end_task`."""
        return self.dropoff.state is StopState.CHECKED_OUT

    @property
    def checked_in_at(self) -> StopKind | None:
        for stop in (self.pickup, self.dropoff):
            if stop.state is StopState.CHECKED_IN:
                return stop.kind
        return None

    def feed(self, p: Position) -> list[Decision]:
        last = self._last
        if last is not None and p.t_ms <= last.t_ms:
            same = (p.t_ms, p.lat, p.lng) == (last.t_ms, last.lat, last.lng)
            return [] if same else [Late(p, last.t_ms)]
        self._last = p
        if self.pickup.state is not StopState.CHECKED_OUT:
            decisions = self.pickup.feed(p)
            if self.pickup.in_state(StopState.CHECKED_OUT):
                decisions += self.dropoff.feed(p)
            return decisions
        return self.dropoff.feed(p)

    def snapshot(self) -> OrderFence:
        """The durable state: each stop's state and arrival, and the last fix's device time."""
        last_t_ms = None if self._last is None else self._last.t_ms
        return OrderFence(self.pickup.snapshot(), self.dropoff.snapshot(), last_t_ms)

    def restore(self, data: OrderFence) -> None:
        """Take back a `snapshot()`: fixes not newer than `last_t_ms` stay refused as late."""
        self.pickup.restore(data.pickup)
        self.dropoff.restore(data.dropoff)
        last_t_ms = data.last_t_ms
        if last_t_ms is not None:
            # a placeholder fix (nowhere) that only carries the time, for the late rule
            self._last = Position("", math.nan, math.nan, last_t_ms)
            for stop in (self.pickup, self.dropoff):
                stop._prev = None

    def feed_many(self, positions: Iterable[Position]) -> list[Decision]:
        """Feed a batch in device-time order (a stable sort, so ties keep arrival order)."""
        decisions: list[Decision] = []
        for p in sorted(positions, key=lambda q: q.t_ms):
            decisions += self.feed(p)
        return decisions

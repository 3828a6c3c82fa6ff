"""The bridge's brain: devices to drivers, orders to drivers, positions to fleet API calls (pure).

`FleetWalker` is a sans-I/O state machine the daemon drives. Each input returns a `Step`: the
calls to put in the outbox (`calls.Call`, final wire bodies, in the order they must reach the
API, per driver), the decisions to log with their evidence, and whether the durable state
changed (then `snapshot()`, a `state.WalkerState`, goes into the outbox file in the same
transaction as the calls).

- Devices map to driver external ids (`device_map`); a position from an unmapped device is
  refused with a `PositionError` naming the device.
- Orders (Delivery Created) go to a driver: `assign="config"` takes the first idle driver in
  device-map order; `assign="nearest"` the idle driver whose vehicle was last seen nearest the
  pickup (drivers never seen come after, in device-map order; `geo.nearest` answers). When
  every driver is busy the order queues behind a driver with the shortest queue, chosen among
  them by the same rule. Each order sends `assign_driver` at
  once and `start_task` when it becomes its driver's active order.
- Every position sends `update_driver_location` with its device time; a position not newer than
  the driver's last one is `late`: it is counted, not forwarded, and never moves a geofence back.
- Before its first order a driver may be unknown to Bringg (the first `assign_driver` creates
  it; drivers made in Bringg's dashboard exist before): its positions are sent until Bringg
  refuses one (403 "User not found"; the daemon then calls `hold(driver)`), and from then on
  held, not sent: one slot per driver keeps the latest (the nearest rule reads it), counted in
  `Step.before_assignment`. The driver's first assignment sends its latest position right after
  `assign_driver`, so its first location update is its freshest fix (a repeat, with its original
  time, when Bringg had it already). Drivers once assigned are kept (`WalkerState.assigned`).
- Positions walk the active order's geofence (`geofence.OrderGeofence`): `checkin` at the arrival
  time, `checkout` when the vehicle left, and after the dropoff check-out `end_task`, which frees
  the driver for the next queued order. A trace that ends at the dropoff stays checked in.
- Delivery Updated moves a stop not yet checked in; Delivery Cancelled forgets the order.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Any

from driver_agent.bridge import calls
from driver_agent.bridge.calls import Call
from driver_agent.bridge.geofence import CheckIn, CheckOut, GeofenceConfig, Late, OrderGeofence
from driver_agent.bridge.positions import Position, PositionError
from driver_agent.bridge.state import StopState, WalkerState, WalkState
from driver_agent.core.endpoints import Endpoint
from driver_agent.core.errors import ConfigError
from driver_agent.core.model import Order, Stop, StopKind
from driver_agent.fleetapi.webhook_payloads import DeliveryUpdated
from driver_agent.geo.nearest import NearestIndex


class AssignRule(StrEnum):
    NEAREST = "nearest"
    CONFIG = "config"


@dataclass(frozen=True, slots=True)
class Decision:
    """Something the edge logs (`event`) with its evidence, and counts."""

    event: str
    driver_id: str
    fields: dict[str, Any] = field(default_factory=dict)


@dataclass(slots=True)
class Step:
    calls: list[Call] = field(default_factory=list)
    decisions: list[Decision] = field(default_factory=list)
    changed: bool = False
    late: int = 0
    before_assignment: int = 0  # positions held because the driver has no order yet


@dataclass(slots=True)
class _Walk:
    order: Order
    driver_id: str
    geofence: OrderGeofence
    started: bool = False


class FleetWalker:
    """All orders, drivers and geofences of one bridge; see the module docstring."""

    def __init__(
        self,
        device_map: dict[str, str],
        *,
        assign: AssignRule = AssignRule.NEAREST,
        geofence: GeofenceConfig | None = None,
    ) -> None:
        if not device_map:
            raise ConfigError("bridge.device_map", "empty: map at least one device to a driver")
        self.device_map = dict(device_map)
        self.assign = AssignRule(assign)
        self.geofence = geofence or GeofenceConfig()
        self.drivers: list[str] = list(dict.fromkeys(device_map.values()))
        self._walks: dict[int, _Walk] = {}
        self._queues: dict[str, list[int]] = {d: [] for d in self.drivers}
        self._last: dict[str, Position] = {}  # driver -> last position (held or forwarded)
        self._assigned: set[str] = set()  # drivers Bringg knows: they were assigned an order
        self._held: set[str] = set()  # drivers Bringg refused: positions wait for an order
        self.finished = 0

    # -- reading --------------------------------------------------------------------------

    def driver_of(self, device_id: str) -> str:
        driver = self.device_map.get(device_id)
        if driver is None:
            raise PositionError("device", f"{device_id!r} is not in the bridge's device map")
        return driver

    def active_order(self, driver_id: str) -> int | None:
        queue = self._queues.get(driver_id, [])
        return queue[0] if queue else None

    def orders(self) -> dict[int, str]:
        """Known order ids and the driver each is assigned to."""
        return {task_id: walk.driver_id for task_id, walk in self._walks.items()}

    def busy_drivers(self) -> list[str]:
        return [d for d in self.drivers if self._queues[d]]

    def last_position(self, driver_id: str) -> Position | None:
        return self._last.get(driver_id)

    def assigned(self, driver_id: str) -> bool:
        """Whether the driver was ever assigned an order (Bringg knows the driver)."""
        return driver_id in self._assigned

    def assigned_drivers(self) -> frozenset[str]:
        return frozenset(self._assigned)

    def stop_state(self, task_id: int, kind: StopKind) -> StopState | None:
        walk = self._walks.get(task_id)
        if walk is None:
            return None
        stop = walk.geofence.pickup if kind is StopKind.PICKUP else walk.geofence.dropoff
        return stop.state

    # -- inputs ---------------------------------------------------------------------------

    def add_order(self, order: Order, now_ms: int) -> Step:
        """A new order (Delivery Created); a known task id changes nothing (Bringg retried)."""
        step = Step()
        if order.task_id in self._walks:
            return step
        driver_id = self._choose_driver(order.pickup)
        walk = _Walk(order, driver_id, OrderGeofence(order.pickup, order.dropoff, self.geofence))
        self._walks[order.task_id] = walk
        queue = self._queues[driver_id]
        queue.append(order.task_id)
        step.changed = True
        step.calls.append(calls.assign(driver_id, order.task_id, now_ms))
        last = self._last.get(driver_id)
        if driver_id not in self._assigned and last is not None:
            # Bringg knows the driver from here on: its freshest fix first
            step.calls.append(self._location(driver_id, last, []))
        self._assigned.add(driver_id)
        self._held.discard(driver_id)
        step.decisions.append(
            Decision(
                "order_assigned",
                driver_id,
                {"order_id": order.task_id, "rule": self.assign.value, "queued": len(queue) - 1},
            )
        )
        if len(queue) == 1:
            self._start(walk, now_ms, step)
        return step

    def update_order(self, update: DeliveryUpdated) -> Step:
        """Move stops not yet checked in to the updated coordinates."""
        step = Step()
        walk = self._walks.get(update.task_id)
        if walk is None:
            return step
        moves: list[tuple[StopKind, float, float]] = []
        if update.full_order is not None:
            for new in (update.full_order.pickup, update.full_order.dropoff):
                moves.append((new.kind, new.lat, new.lng))
        change = update.way_point
        if change is not None and change.kind and change.lat is not None and change.lng is not None:
            moves.append((change.kind, change.lat, change.lng))
        for kind, lat, lng in moves:
            stop = walk.geofence.pickup if kind is StopKind.PICKUP else walk.geofence.dropoff
            if (stop.lat, stop.lng) != (lat, lng) and stop.move(lat, lng):
                moved = replace(walk.order.stop(kind), lat=lat, lng=lng)
                if kind is StopKind.PICKUP:
                    walk.order = replace(walk.order, pickup=moved)
                else:
                    walk.order = replace(walk.order, dropoff=moved)
                step.changed = True
                step.decisions.append(
                    Decision(
                        "stop_moved",
                        walk.driver_id,
                        {"order_id": update.task_id, "kind": kind.value, "lat": lat, "lng": lng},
                    )
                )
        return step

    def cancel_order(self, task_id: int, now_ms: int) -> Step:
        """Bringg cancelled the order: forget it and start the driver's next one."""
        step = Step()
        walk = self._walks.get(task_id)
        if walk is None:
            return step
        step.decisions.append(Decision("order_cancelled", walk.driver_id, {"order_id": task_id}))
        self._finish(walk, now_ms, step)
        return step

    def feed(self, p: Position) -> Step:
        """One position: its location update and whatever the geofence decides."""
        driver_id = self.driver_of(p.device_id)
        step = Step()
        last = self._last.get(driver_id)
        if last is not None and p.t_ms <= last.t_ms:
            if (p.t_ms, p.lat, p.lng) != (last.t_ms, last.lat, last.lng):
                step.late = 1
                step.decisions.append(
                    Decision(
                        "position_late",
                        driver_id,
                        {"device_id": p.device_id, "t_ms": p.t_ms, "last_t_ms": last.t_ms},
                    )
                )
            return step
        self._last[driver_id] = p
        if driver_id in self._held:  # kept as the latest, sent with the first assignment
            step.before_assignment = 1
            return step
        active = self.active_order(driver_id)
        walk = self._walks[active] if active is not None else None
        started = [walk.order.task_id] if walk is not None and walk.started else []
        step.calls.append(self._location(driver_id, p, started))
        if walk is None or not walk.started:
            return step
        for decision in walk.geofence.feed(p):
            if isinstance(decision, Late):  # pragma: no cover - the driver check came first
                step.late += 1
                continue
            self._decided(walk, decision, step)
            if isinstance(decision, CheckOut) and decision.kind is StopKind.DROPOFF:
                at = decision.at
                step.calls.append(
                    calls.at_stop(
                        Endpoint.END_TASK,
                        driver_id,
                        walk.order.task_id,
                        lat=at.lat,
                        lng=at.lng,
                        t_ms=at.t_ms,
                    )
                )
                step.decisions.append(
                    Decision("order_completed", driver_id, {"order_id": walk.order.task_id})
                )
                self._finish(walk, at.t_ms, step)
                break
        return step

    def hold(self, driver_id: str) -> bool:
        """Bringg does not know the driver yet: keep its positions until its first assignment.
        False when it was assigned meanwhile (the assignment sends the latest) or held already."""
        if driver_id in self._assigned or driver_id in self._held:
            return False
        self._held.add(driver_id)
        return True

    def resend_last(self, driver_id: str) -> Step:
        """Re-send the driver's last position with its original time (the optional 30 s rule)."""
        step = Step()
        p = self._last.get(driver_id)
        if p is None or driver_id in self._held:
            return step
        active = self.active_order(driver_id)
        walk = self._walks.get(active) if active is not None else None
        started = [walk.order.task_id] if walk is not None and walk.started else []
        step.calls.append(self._location(driver_id, p, started))
        return step

    # -- durable state --------------------------------------------------------------------

    def snapshot(self) -> WalkerState:
        """Orders, queues and geofence states (not the last positions)."""
        return WalkerState(
            finished=self.finished,
            assigned=sorted(self._assigned),
            queues={d: list(q) for d, q in self._queues.items() if q},
            walks=[
                WalkState(
                    replace(w.order, extras={}), w.driver_id, w.started, w.geofence.snapshot()
                )
                for w in self._walks.values()
            ],
        )

    def restore(self, state: WalkerState) -> None:
        """Continue from a `snapshot()`; drivers no longer in the device map keep their orders."""
        self._walks.clear()
        self._queues = {d: [] for d in self.drivers}
        self.finished = state.finished
        for saved in state.walks:
            order = saved.order
            fence = OrderGeofence(order.pickup, order.dropoff, self.geofence)
            fence.restore(saved.geofence)
            self._walks[order.task_id] = _Walk(order, saved.driver_id, fence, saved.started)
        for driver_id, queue in state.queues.items():
            self._queues[driver_id] = [t for t in queue if t in self._walks]
        # a state from before `assigned` was kept: the drivers with orders are known at least
        self._assigned = {*state.assigned, *(w.driver_id for w in self._walks.values())}
        self._held -= self._assigned

    # -- internals ------------------------------------------------------------------------

    def _choose_driver(self, pickup: Stop) -> str:
        """The idle drivers, else those with the shortest queue; of them the first in device-map
        order (`config`), or the one whose vehicle was last seen nearest the pickup (`nearest`:
        ties and never-seen vehicles go in device-map order)."""
        shortest = min(len(self._queues[d]) for d in self.drivers)
        candidates = [d for d in self.drivers if len(self._queues[d]) == shortest]
        if self.assign is AssignRule.CONFIG:
            return candidates[0]
        seen = NearestIndex()
        for rank, d in enumerate(candidates):
            p = self._last.get(d)
            if p is not None:
                seen.add(d, p.lat, p.lng, rank)
        nearest = seen.nearest(pickup.lat, pickup.lng)
        return candidates[0] if nearest is None else nearest

    def _start(self, walk: _Walk, now_ms: int, step: Step) -> None:
        walk.started = True
        p = self._last.get(walk.driver_id)
        t_ms = now_ms if p is None else max(now_ms, p.t_ms)
        at = None if p is None else (p.lat, p.lng)
        step.calls.append(calls.start(walk.driver_id, walk.order.task_id, t_ms, at))
        step.decisions.append(
            Decision("order_started", walk.driver_id, {"order_id": walk.order.task_id})
        )

    def _decided(self, walk: _Walk, decision: CheckIn | CheckOut, step: Step) -> None:
        ev = decision.evidence
        at = decision.at
        check_in = isinstance(decision, CheckIn)
        t_ms = ev.arrived_t_ms if check_in else at.t_ms
        endpoint = Endpoint.CHECKIN if check_in else Endpoint.CHECKOUT
        task_id = walk.order.task_id
        call = calls.at_stop(
            endpoint, walk.driver_id, task_id, lat=at.lat, lng=at.lng, t_ms=t_ms, kind=decision.kind
        )
        step.calls.append(call)
        step.changed = True
        step.decisions.append(
            Decision(
                "checked_in" if check_in else "checked_out",
                walk.driver_id,
                {
                    "order_id": walk.order.task_id,
                    "kind": decision.kind.value,
                    "distance_m": round(ev.distance_m, 1),
                    "speed_mps": None if ev.speed_mps is None else round(ev.speed_mps, 2),
                    "dwell_s": round(ev.dwell_s, 1),
                    "arrived_t_ms": ev.arrived_t_ms,
                    "decided_t_ms": at.t_ms,
                    "estimated": ev.estimated,
                },
            )
        )

    def _finish(self, walk: _Walk, now_ms: int, step: Step) -> None:
        task_id = walk.order.task_id
        del self._walks[task_id]
        queue = self._queues.setdefault(walk.driver_id, [])
        was_active = bool(queue) and queue[0] == task_id
        if task_id in queue:
            queue.remove(task_id)
        self.finished += 1
        step.changed = True
        if was_active and queue:
            self._start(self._walks[queue[0]], now_ms, step)

    def _location(self, driver_id: str, p: Position, started: list[int]) -> Call:
        return calls.location(driver_id, p.lat, p.lng, p.t_ms, started)

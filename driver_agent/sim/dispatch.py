"""Who drives which order: the nearest idle driver gets each new order; a freed driver the oldest.

Pure: the fleet (`sim.fleet`) tells it what happened (a driver went idle, an order arrived, was
cancelled or ended) and carries out the assignments it returns. Idle drivers sit in a
`geo.nearest.NearestIndex`, so that "nearest" costs a few cells, not a scan of thousands. A
driver farther from the pickup than `relocate_beyond_m` is relocated by the caller to a short
drive from it (a simulated driver should not cross a continent for one parcel); the assignment
says so.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

from driver_agent.core.model import Order
from driver_agent.geo.geometry import haversine_m
from driver_agent.geo.nearest import NearestIndex


@dataclass(frozen=True, slots=True)
class Assignment:
    driver_id: str
    order: Order
    relocate: bool  # the driver is too far away: place it a short drive from the pickup


class Dispatcher:
    def __init__(self, relocate_beyond_m: float = 20_000.0) -> None:
        self.relocate_beyond_m = relocate_beyond_m
        self._idle = NearestIndex()
        # idle drivers that came (where) or went (None) since `idle_changes()` was last read;
        # at most one entry per driver, written per assignment, never per ping
        self._idle_changes: dict[str, tuple[float, float] | None] = {}
        self._queue: deque[Order] = deque()
        self._holder: dict[int, str] = {}  # task_id -> driver_id
        self._known: set[int] = set()
        self.closed = False

    # ---- what the fleet tells it ------------------------------------------------------------

    def driver_idle(self, driver_id: str, lat: float, lng: float) -> Assignment | None:
        """A driver is free at (lat, lng): it takes the oldest waiting order, if any."""
        if self._queue and not self.closed:
            order = self._queue.popleft()
            return self._assign(driver_id, lat, lng, order)
        self._idle.add(driver_id, lat, lng)
        self._idle_changes[driver_id] = (lat, lng)
        return None

    def order_arrived(self, order: Order) -> Assignment | None:
        """A new order: the nearest idle driver takes it, else it waits. Repeats are ignored."""
        if order.task_id in self._known or self.closed:
            return None
        self._known.add(order.task_id)
        driver_id = self._idle.nearest(order.pickup.lat, order.pickup.lng)
        if driver_id is None:
            self._queue.append(order)
            return None
        lat, lng = self._idle.remove(driver_id)
        self._idle_changes[driver_id] = None
        return self._assign(driver_id, lat, lng, order)

    def order_ended(self, task_id: int) -> None:
        self._holder.pop(task_id, None)

    def withdraw(self, task_id: int) -> str | Order | None:
        """Bringg cancelled the order: the driver holding it, or the waiting order removed."""
        holder = self._holder.pop(task_id, None)
        if holder is not None:
            return holder
        for order in self._queue:
            if order.task_id == task_id:
                self._queue.remove(order)
                return order
        return None

    def holder(self, task_id: int) -> str | None:
        return self._holder.get(task_id)

    def waiting(self) -> list[Order]:
        return list(self._queue)

    def replace_waiting(self, order: Order) -> bool:
        """An update for an order still waiting: keep the new version in its place."""
        for i, waiting in enumerate(self._queue):
            if waiting.task_id == order.task_id:
                self._queue[i] = order
                return True
        return False

    def close(self) -> list[Order]:
        """No more assignments (graceful stop); returns the orders that never started."""
        self.closed = True
        left = list(self._queue)
        self._queue.clear()
        return left

    def idle_changes(self) -> dict[str, tuple[float, float] | None]:
        """Since the last call: drivers that became idle (where they wait) or stopped being
        idle (None). What a worker tells the head's router, without copying every idle driver."""
        changes, self._idle_changes = self._idle_changes, {}
        return changes

    @property
    def idle_count(self) -> int:
        return len(self._idle)

    # ---- inside -----------------------------------------------------------------------------

    def _assign(self, driver_id: str, lat: float, lng: float, order: Order) -> Assignment:
        self._holder[order.task_id] = driver_id
        far = haversine_m(lat, lng, order.pickup.lat, order.pickup.lng) > self.relocate_beyond_m
        return Assignment(driver_id, order, far)

"""Which worker gets each order of a run split across workers (pure).

The head of a distributed run (`driver-agent run --workers N`) keeps the one webhook receiver and
routes every Delivery Created to one worker (a shard of the fleet), where that worker's own
dispatcher gives it to its nearest idle driver. The router decides the shard from the workers'
summaries: each tells the head which of its drivers became idle, where, and which stopped being
idle. A new order goes to the shard of the **nearest idle driver over all shards** (that driver
is then taken out of the head's view, so two orders are not routed to one driver before the next
summary); with no idle driver anywhere, to the live shard with the fewest orders in hand, where it
waits for that shard's first free driver. Updates and cancellations go to the shard that holds
the order. A dead shard's drivers leave the view; its orders in hand are what it interrupted.
"""

from __future__ import annotations

from driver_agent.core.model import Order
from driver_agent.geo.nearest import NearestIndex


class ShardRouter:
    def __init__(self, shards: int) -> None:
        if shards < 1:
            raise ValueError(f"router: need at least one shard, got {shards}")
        self._idle = NearestIndex()
        self._shard_of: dict[str, int] = {}  # idle driver -> its shard
        self._order_shard: dict[int, int] = {}  # task id -> the shard it was routed to
        self.routed = [0] * shards  # orders routed to each shard
        self.final = [0] * shards  # orders each shard reports as ended
        self.dead: set[int] = set()

    # ---- what the workers tell ----------------------------------------------------------------

    def idle(self, shard: int, driver_id: str, lat: float, lng: float) -> None:
        """A driver of `shard` waits for an order at (lat, lng)."""
        if shard in self.dead:
            return
        self._idle.add(driver_id, lat, lng)
        self._shard_of[driver_id] = shard

    def busy(self, driver_id: str) -> None:
        """A driver is no longer idle (took an order, or went home)."""
        if driver_id in self._idle:
            self._idle.remove(driver_id)
        self._shard_of.pop(driver_id, None)

    def ended(self, shard: int, final: int) -> None:
        """`shard` reports `final` orders ended so far (its running total)."""
        self.final[shard] = max(self.final[shard], final)

    def shard_died(self, shard: int) -> int:
        """`shard` is gone: its drivers leave the view; returns its orders in hand (routed to it
        and not ended: they count as interrupted)."""
        self.dead.add(shard)
        for driver_id in [d for d, s in self._shard_of.items() if s == shard]:
            self.busy(driver_id)
        return max(0, self.routed[shard] - self.final[shard])

    def shard_back(self, shard: int) -> None:
        """`shard` runs again (a restarted bridge worker): its next summary fills the view."""
        self.dead.discard(shard)

    # ---- what the head asks -------------------------------------------------------------------

    def route(self, order: Order) -> int | None:
        """The shard for a new order (a repeat goes where the first went); None: every shard is
        dead."""
        known = self._order_shard.get(order.task_id)
        if known is not None:
            return known
        driver_id = self._idle.nearest(order.pickup.lat, order.pickup.lng)
        if driver_id is not None:
            shard = self._shard_of[driver_id]
            self.busy(driver_id)
        else:
            live = [s for s in range(len(self.routed)) if s not in self.dead]
            if not live:
                return None
            shard = min(live, key=lambda s: (self.in_hand(s), s))
        self.place(order.task_id, shard)
        return shard

    def place(self, task_id: int, shard: int) -> None:
        """`shard` holds the order: routed there, or (a restarted bridge) found there."""
        if task_id not in self._order_shard:
            self._order_shard[task_id] = shard
            self.routed[shard] += 1

    def holder(self, task_id: int) -> int | None:
        """The shard an order was routed to (None: never routed)."""
        return self._order_shard.get(task_id)

    def in_hand(self, shard: int) -> int:
        """Orders routed to `shard` that it has not reported ended."""
        return self.routed[shard] - self.final[shard]

    @property
    def idle_count(self) -> int:
        return len(self._idle)

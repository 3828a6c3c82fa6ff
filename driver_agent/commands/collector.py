"""Keeping Python's garbage collector out of a large fleet's way (the process owner's choice).

`settle_collector()` runs once the fleet has spawned its last driver (the Fleet's `on_spawned`):
`gc.collect(); gc.freeze()` and full collections 100x rarer. With 50,000 drivers a full
collection walks the per-tick objects of every driver and stalls the loop ~0.5 s; at the default
threshold that happened every ~15 s and set the ping-lateness p99 (bench/README.md).

`keep_settled()` freezes again whenever the number of busy drivers reaches a new high of at least
1.5 times the last one (drivers that took orders since hold legs, orders and noise state the first
freeze did not see: at 100,000 drivers a full collection of them took 3.3 s). It only freezes
(`gc.freeze()`, no collection, so no pause); what it costs is that cyclic garbage frozen with
them is never collected, a one-time amount per freeze (at most a few per run). Reference
counting still frees everything else at once.
"""

from __future__ import annotations

import gc

import structlog

from driver_agent.core.clock import Clock
from driver_agent.sim.fleet import Fleet

log = structlog.get_logger("driver_agent.run")
FULL_COLLECTION_EVERY = 100  # gen-1 collections per full one (Python's default: 10)
CHECK_EVERY_S = 5.0  # real seconds between looks at the busy count
GROWTH = 1.5  # freeze again when the busy drivers reach this multiple of the last freeze's
MIN_BUSY = 1_000  # below this many busy drivers a full collection is short anyway


def settle_collector() -> None:
    """Freeze the long-lived objects out of the collector; make full collections rarer."""
    gc.collect()
    gc.freeze()
    gen0, gen1, _ = gc.get_threshold()
    gc.set_threshold(gen0, gen1, FULL_COLLECTION_EVERY)


class SettlePolicy:
    """When to freeze again (pure): at a new high of busy drivers, `GROWTH` times the last."""

    def __init__(self, growth: float = GROWTH, min_busy: int = MIN_BUSY) -> None:
        self.growth = growth
        self.min_busy = min_busy
        self.frozen_at = 0  # busy drivers at the last freeze

    def should_freeze(self, busy: int) -> bool:
        if busy < self.min_busy or busy < self.frozen_at * self.growth:
            return False
        self.frozen_at = busy
        return True


async def keep_settled(fleet: Fleet, clock: Clock, policy: SettlePolicy | None = None) -> None:
    """Runs beside the fleet until cancelled; freezes as `SettlePolicy` says."""
    policy = policy or SettlePolicy()
    while True:
        await clock.sleep_real(CHECK_EVERY_S)
        busy = fleet.progress().drivers_busy
        if policy.should_freeze(busy):
            gc.freeze()
            log.info("collector_settled", busy_drivers=busy, frozen=gc.get_freeze_count())

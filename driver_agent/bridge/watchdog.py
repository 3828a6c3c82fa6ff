"""The bridge's watchdog: one round every `WATCHDOG_INTERVAL_S` of clock time (I/O glue).

Each round drops outbox calls past `outbox_max_age_s` (counted, one `calls_expired` warning),
mirrors the outbox's drop counts and its oldest unsent age into the metrics, and watches busy
drivers whose device has been quiet for more than `MAX_PING_GAP_S` (`watch.QuietWatch`):
counted and shown as a gauge, and, only with `resend_last_position`, their last position is
stored again with its original time (through the daemon's `commit`, like any other step).
The outbox is read and written on the daemon's database limiter, never on the event loop.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import anyio
import anyio.to_thread
import structlog

from driver_agent.bridge.watch import DropTally, QuietWatch

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from driver_agent.bridge.metrics import BridgeMetrics
    from driver_agent.bridge.outbox import Outbox
    from driver_agent.bridge.walker import FleetWalker, Step
    from driver_agent.core.clock import Clock

log = structlog.get_logger("driver_agent.bridge")

WATCHDOG_INTERVAL_S = 1.0


class Watchdog:
    """The rounds over the outbox and the quiet drivers; `quiet` is heard by the daemon."""

    def __init__(
        self,
        outbox: Outbox,
        metrics: BridgeMetrics,
        clock: Clock,
        db_limiter: anyio.CapacityLimiter,
        *,
        walker: Callable[[], FleetWalker],
        commit: Callable[[Step], Awaitable[None]],
        resend_last_position: bool,
    ) -> None:
        self.outbox = outbox
        self.metrics = metrics
        self.clock = clock
        self.quiet = QuietWatch()
        self._db = db_limiter
        self._walker = walker  # a getter: the daemon replaces its walker after a failed append
        self._commit = commit
        self._resend = resend_last_position
        self._drops = DropTally()

    async def run(self) -> None:
        while True:
            await self.clock.sleep(WATCHDOG_INTERVAL_S)
            await self.tend_outbox()
            await self.watch_quiet_drivers()

    async def tend_outbox(self) -> None:
        now_ms = self.clock.now_ms()
        outbox, db = self.outbox, self._db
        expired = await anyio.to_thread.run_sync(outbox.drop_expired, now_ms, limiter=db)
        if expired:
            log.warning("calls_expired", count=expired, max_age_s=outbox.max_age_s)
        counts = await anyio.to_thread.run_sync(outbox.dropped_counts, limiter=db)
        for grown in self._drops.update(counts):
            self.metrics.drop(grown.reason, grown.count)
            if grown.reason == "overflow" and not grown.earlier:
                log.warning("calls_dropped", reason=grown.reason, count=grown.count)
        age_s = await anyio.to_thread.run_sync(outbox.oldest_age_s, now_ms, limiter=db)
        self.metrics.outbox_oldest_age.set(age_s)

    async def watch_quiet_drivers(self) -> None:
        now_s = self.clock.now()
        for silence in self.quiet.check(self._walker().busy_drivers(), now_s):
            self.metrics.silences.inc()
            log.warning(
                "device_quiet", driver_id=silence.driver_id, silent_s=round(silence.silent_s, 1)
            )
        self.metrics.quiet_drivers.set(len(self.quiet.quiet))
        if not self._resend:
            return
        for driver_id in self.quiet.due_for_resend(now_s):
            step = self._walker().resend_last(driver_id)
            await self._commit(step)
            if step.calls:
                self.quiet.resent(driver_id, now_s)
                self.metrics.resent.inc()

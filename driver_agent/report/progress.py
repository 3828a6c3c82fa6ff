"""What a run shows while it runs: a live status line on a terminal, else periodic log lines."""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol, TextIO

import structlog

from driver_agent.core import logs
from driver_agent.core.clock import Clock
from driver_agent.metrics.stats import StatsCollector
from driver_agent.metrics.thresholds import run_latency_ms
from driver_agent.sim.fleet import FleetProgress

log = structlog.get_logger("driver_agent.progress")
TERMINAL_EVERY_S = 1.0
LOG_EVERY_S = 10.0


class HasProgress(Protocol):
    def progress(self) -> FleetProgress: ...


@dataclass(frozen=True, slots=True)
class LiveCalls:
    """The calls' figures a status line shows (from one collector, or merged from workers)."""

    calls: int
    errors: int
    p95_ms: float  # the worst endpoint's, as in the report's thresholds
    worst_gap_s: float


def live_calls(stats: StatsCollector) -> LiveCalls:
    snap = stats.statistics()
    p95 = run_latency_ms(snap)["p95"] or 0.0
    return LiveCalls(snap.totals.calls, snap.totals.errors, p95, snap.totals.max_gap_s)


class ProgressView:
    """`fleet`: the fleet (or a distributed run's head); `live`: where the calls' figures come
    from (default: `stats`); `workers`: a distributed run's per-worker text for the line."""

    def __init__(
        self,
        fleet: HasProgress,
        stats: StatsCollector | None,
        clock: Clock,
        out: TextIO,
        started_real: float,
        *,
        live: Callable[[], LiveCalls] | None = None,
        workers: Callable[[], str] | None = None,
    ) -> None:
        self._fleet = fleet
        if live is None:
            if stats is None:
                raise ValueError("progress: need stats or live")
            live = functools.partial(live_calls, stats)
        self._live: Callable[[], LiveCalls] = live
        self._workers = workers
        self._clock = clock
        self._out = out
        self._terminal = logs.terminal() if out.isatty() else None
        self._tty = out.isatty()
        self._started = started_real
        self._last_requests = 0
        self._last_at = started_real
        self._shown = False

    def figures(self) -> dict[str, float | int | str]:
        progress = self._fleet.progress()
        calls = self._live()
        requests = calls.calls
        now = self._clock.monotonic()
        elapsed = max(now - self._last_at, 1e-9)
        rate = (requests - self._last_requests) / elapsed
        self._last_requests, self._last_at = requests, now
        p95 = calls.p95_ms
        worst_gap = calls.worst_gap_s
        expected = progress.orders_expected
        return {
            "orders_done": progress.outcomes.get("completed", 0),
            "orders_final": progress.orders_final,
            "orders_total": expected if expected is not None else progress.orders_seen,
            "drivers_busy": progress.drivers_busy,
            "drivers": progress.drivers_started,
            "requests_per_s": round(rate, 1),
            "errors": calls.errors,
            "p95_ms": round(p95, 1),
            "worst_ping_gap_s": round(worst_gap, 1),
            "elapsed_s": round(now - self._started, 1),
        }

    async def run(self) -> None:
        every = TERMINAL_EVERY_S if self._tty else LOG_EVERY_S
        while True:
            await self._clock.sleep_real(every)
            self.show()

    def show(self) -> None:
        f = self.figures()
        workers = self._workers() if self._workers is not None else ""
        if not self._tty:
            if workers:
                log.info("run_progress", **f, workers=workers)
            else:
                log.info("run_progress", **f)
            return
        line = (
            f"orders {f['orders_done']}/{f['orders_total']} done  "
            f"busy {f['drivers_busy']}/{f['drivers']}  {f['requests_per_s']} req/s  "
            f"errors {f['errors']}  p95 {f['p95_ms']} ms  worst gap {f['worst_ping_gap_s']} s  "
            f"[{f['elapsed_s']} s]" + (f"  | {workers}" if workers else "")
        )
        if self._terminal is not None:  # log lines scroll above the status line
            self._terminal.status(line)
        else:
            self._out.write(logs.CLEAR_LINE + line)
            self._out.flush()
        self._shown = True

    def finish(self) -> None:
        if self._terminal is not None:
            self._terminal.end_status()
        elif self._shown:
            self._out.write("\n")
            self._out.flush()

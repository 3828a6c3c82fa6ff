"""A finished run as the report sees it (pure): the typed statistics snapshot, the summary's
figures, the map's events and the threshold verdicts.

`RunReport` is what report.json, the terminal summary and report.html are all rendered from;
`summary_from_stats` derives the summary's figures from the snapshot's own typed blocks.

Two clocks, always labelled: `real_*` times are the wall clock (epoch ms, UTC; the command passes
them in), `started_at_ms` / `ended_at_ms` are the simulation's clock, which runs `speed` times
as fast.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from driver_agent.metrics.stats_snapshot import OrderRecord, Resilience, StatsSnapshot, Totals
from driver_agent.metrics.thresholds import OrderCounts, ThresholdResult


class EventKind(StrEnum):
    """What happened at a point on the map."""

    PICKUP = "pickup"
    DROPOFF = "dropoff"
    CHECKIN = "checkin"
    CHECKOUT = "checkout"
    CANCEL = "cancel"
    RELOCATION = "relocation"


@dataclass(frozen=True, slots=True)
class MapEvent:
    """One marker on the map: a stop, a check-in/out, a cancellation or a relocation."""

    kind: EventKind
    lat: float
    lng: float
    driver_id: str
    task_id: int | None = None
    t_ms: int | None = None


@dataclass(frozen=True, slots=True)
class RunSummary:
    """The run's figures for the summary and report.json's `totals`: the statistics snapshot's
    own typed blocks, with what the run knows better (the orders it planned, the drivers it
    started, the relocations it made)."""

    totals: Totals
    resilience: Resilience
    orders: OrderCounts
    orders_total: int = 0
    drivers: int = 0
    relocations: int = 0

    @property
    def error_rate(self) -> float | None:
        calls = self.totals.calls
        return self.totals.errors / calls if calls else None


@dataclass(frozen=True, slots=True)
class WorkerRow:
    """One worker of a distributed run (`--workers N`): what it drove, what it cost, how it
    ended (`state`: finished, stopped or died, with the `cause` when it died)."""

    index: int
    node: str
    pid: int
    drivers: int
    outcomes: Mapping[str, int]
    requests: int
    errors: int
    pings: int
    gaps_over_limit: int
    lateness_p99_ms: float
    cpu_s: float
    state: str = "finished"
    cause: str = ""
    interrupted: int = 0  # orders in hand when it died

    @property
    def cpu_ms_per_10k_pings(self) -> float | None:
        return self.cpu_s * 1000 * 10_000 / self.pings if self.pings else None


@dataclass(frozen=True)
class RunReport:
    """Everything a finished run reports. `config` should already be masked; it is masked again.
    `started_at_ms` / `ended_at_ms` are simulated epoch ms, `real_*` the wall clock's (0: not
    known); `orders` are the rows of the orders that ended (`orders_dropped` more were not
    kept)."""

    stats: StatsSnapshot
    summary: RunSummary
    mode: str = "embedded"
    seed: int | None = None
    started_at_ms: int = 0
    ended_at_ms: int = 0
    real_started_at_ms: int = 0
    real_ended_at_ms: int = 0
    speed: float = 1.0
    orders: Sequence[OrderRecord] = ()
    orders_dropped: int = 0
    tracks: Mapping[str, Sequence[tuple[float, float]]] = field(default_factory=dict)
    events: Sequence[MapEvent] = ()
    roads: Sequence[Sequence[tuple[float, float]]] = ()  # streets near the run, (lat, lng) lines
    thresholds: Sequence[ThresholdResult] = ()
    config: Mapping[str, Any] = field(default_factory=dict)
    versions: Mapping[str, str] = field(default_factory=dict)
    workers: Sequence[WorkerRow] = ()  # a distributed run's workers; empty: one process

    @property
    def passed(self) -> bool:
        return all(result.passed for result in self.thresholds)

    @property
    def duration_s(self) -> float:
        """The run's real duration, seconds of the wall clock."""
        return max(0, self.real_ended_at_ms - self.real_started_at_ms) / 1000

    @property
    def simulated_duration_s(self) -> float:
        return max(0, self.ended_at_ms - self.started_at_ms) / 1000

    @property
    def requests_per_s(self) -> float | None:
        """Requests per real second over the whole run; None when the duration is not known."""
        duration_s = self.duration_s
        return self.summary.totals.calls / duration_s if duration_s > 0 else None

    @property
    def seed_text(self) -> str:
        return "-" if self.seed is None else str(self.seed)


def summary_from_stats(stats: StatsSnapshot, *, orders_total: int | None = None) -> RunSummary:
    """The summary of a snapshot. `orders_total` overrides the number of orders (the snapshot
    counts only orders that ended); reassigned orders are not counted twice."""
    orders = OrderCounts.from_outcomes(stats.totals.orders)
    return RunSummary(
        totals=stats.totals,
        resilience=stats.resilience,
        orders=orders,
        orders_total=orders.total if orders_total is None else orders_total,
        drivers=stats.totals.drivers,
        relocations=stats.totals.relocations,
    )


def worst_ping_gap(stats: StatsSnapshot) -> tuple[float | None, int, str | None]:
    """(the longest ping gap in s, gaps over the limit, the driver with it); None: no drivers."""
    if not stats.drivers:
        return None, 0, None
    worst = max(stats.drivers, key=lambda d: d.max_gap_s)
    return worst.max_gap_s, sum(d.gaps_over_limit for d in stats.drivers), worst.driver_id


def iso(ms: int | None) -> str | None:
    """Epoch ms as ISO 8601 UTC to the millisecond; None for 0 or None (not known)."""
    if not ms:
        return None
    return datetime.fromtimestamp(ms / 1000, tz=UTC).isoformat(timespec="milliseconds")

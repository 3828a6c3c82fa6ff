"""The run's statistics: API calls, ping compliance, orders, stage durations; a snapshot.

Pure: callers pass every time in. Two timelines, as in the clock: `at_s` of a call is *real* run
time (seconds since the run began, for requests-over-time charts) and ping `reported_time_ms`
is *simulated* epoch ms (for the 30 s compliance rule). Stage durations are simulated seconds.

The hot paths (`record_call`, `record_ping`) are O(1): a few dict look-ups and counter bumps.
Memory is bounded: histograms have a fixed bucket limit, and the timeline doubles its bucket
width (merging neighbours) whenever it would hold more than `max_time_buckets` buckets.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from driver_agent.core.model import MAX_PING_GAP_S
from driver_agent.metrics.histogram import Histogram
from driver_agent.metrics.stats_snapshot import (
    DriverSnapshot,
    EndpointSnapshot,
    GivenUpOrder,
    Resilience,
    StatsSnapshot,
    TimeBucketSnapshot,
    Totals,
)

if TYPE_CHECKING:
    from collections.abc import Mapping

MAX_GIVEN_UP_LISTED = 100  # given-up orders listed with their last error; all are counted

__all__ = [
    "DriverSnapshot",
    "EndpointSnapshot",
    "GivenUpOrder",
    "Resilience",
    "StatsCollector",
    "StatsSnapshot",
    "TimeBucketSnapshot",
    "Totals",
]


class _Calls:
    """Count, errors by class and latency of one endpoint or one time bucket."""

    __slots__ = ("count", "errors", "latency_ms")

    def __init__(self) -> None:
        self.count = 0
        self.errors: dict[str, int] = {}
        self.latency_ms = Histogram()

    def record(self, latency_ms: float, error: str | None) -> None:
        self.latency_ms.record(latency_ms)
        self.count += 1
        if error is not None:
            self.errors[error] = self.errors.get(error, 0) + 1

    def merge(self, other: _Calls) -> None:
        self.count += other.count
        self.latency_ms.merge(other.latency_ms)
        for name, n in other.errors.items():
            self.errors[name] = self.errors.get(name, 0) + n


@dataclass(slots=True)
class _Driver:
    busy: bool = False
    last_ms: int | None = None
    pings: int = 0
    max_gap_s: float = 0.0
    gaps_over_limit: int = 0
    distance_m: float = 0.0
    relocations: int = 0
    orders: dict[str, int] = field(default_factory=dict)


class StatsCollector:
    """Collects everything reports are built on; `statistics()` returns a frozen snapshot."""

    def __init__(
        self,
        bucket_s: float = 1.0,
        max_time_buckets: int = 3600,
        max_ping_gap_s: float = MAX_PING_GAP_S,
    ) -> None:
        if not bucket_s > 0:
            raise ValueError(f"stats: bucket_s must be > 0, got {bucket_s!r}")
        if max_time_buckets < 2:
            raise ValueError(f"stats: max_time_buckets must be >= 2, got {max_time_buckets!r}")
        self._bucket_s = bucket_s
        self._max_time_buckets = max_time_buckets
        self._max_ping_gap_s = max_ping_gap_s
        self._endpoints: dict[str, _Calls] = {}
        self._timeline: dict[int, _Calls] = {}
        self._drivers: dict[str, _Driver] = {}
        self._stages_s: dict[str, Histogram] = {}
        self._ping_lateness_ms = Histogram()
        self._orders: dict[str, int] = {}
        self._first_at_s: float | None = None
        self._last_at_s = 0.0
        self._retries: dict[str, int] = {}
        self._outage: dict[str, int] = dict.fromkeys(
            (
                "reconciled", "queued_calls", "queued_locations", "thinned_locations",
                "dropped_locations", "given_up", "cancelled_after_give_up", "cancel_failed",
            ),
            0,
        )  # fmt: skip
        self._given_up: list[GivenUpOrder] = []

    # ---- hot paths ------------------------------------------------------------------------------

    def record_call(self, endpoint: str, latency_ms: float, error: str | None, at_s: float) -> None:
        """One API call: `error` is the error class name (`ApiUnavailable`, `network`…) or None."""
        if not at_s >= 0.0:
            raise ValueError(f"stats: at_s must be >= 0 (real seconds into the run), got {at_s!r}")
        if not latency_ms >= 0.0:
            raise ValueError(f"stats: latency_ms must be >= 0, got {latency_ms!r}")
        calls = self._endpoints.get(endpoint)
        if calls is None:
            calls = self._endpoints[endpoint] = _Calls()
        calls.record(latency_ms, error)
        index = int(at_s // self._bucket_s)
        bucket = self._timeline.get(index)
        if bucket is None:
            bucket = self._timeline[index] = _Calls()
            if len(self._timeline) > self._max_time_buckets:
                self._coarsen()
                bucket = self._timeline[int(at_s // self._bucket_s)]
        bucket.record(latency_ms, error)
        if self._first_at_s is None or at_s < self._first_at_s:
            self._first_at_s = at_s
        if at_s > self._last_at_s:
            self._last_at_s = at_s

    def record_ping(self, driver_id: str, reported_time_ms: int, lateness_ms: float) -> None:
        """A location update went out `lateness_ms` (real) after its scheduled tick."""
        driver = self._drivers.get(driver_id)
        if driver is None:
            driver = self._drivers[driver_id] = _Driver()
        driver.pings += 1
        self._ping_lateness_ms.record(lateness_ms if lateness_ms > 0.0 else 0.0)
        if driver.busy:
            if driver.last_ms is not None:
                self._gap(driver, driver.last_ms, reported_time_ms)
            driver.last_ms = reported_time_ms

    # ---- the rest -------------------------------------------------------------------------------

    def driver_busy(self, driver_id: str, busy: bool, at_ms: int | None = None) -> None:
        """The driver started (True) or ended (False) an order at simulated `at_ms`.

        Gaps count only while busy. With `at_ms`, the time from start to the first ping and from
        the last ping to the end count as gaps too.
        """
        driver = self._drivers.get(driver_id)
        if driver is None:
            driver = self._drivers[driver_id] = _Driver()
        if busy:
            driver.busy, driver.last_ms = True, at_ms
            return
        if driver.busy and driver.last_ms is not None and at_ms is not None:
            self._gap(driver, driver.last_ms, at_ms)
        driver.busy, driver.last_ms = False, None

    def _gap(self, driver: _Driver, last_ms: int, t_ms: int) -> None:
        gap_s = (t_ms - last_ms) / 1000.0
        if gap_s > driver.max_gap_s:
            driver.max_gap_s = gap_s
        if gap_s > self._max_ping_gap_s:
            driver.gaps_over_limit += 1

    def record_order(
        self,
        driver_id: str,
        outcome: str,
        stage_durations_s: Mapping[str, float],
        distance_m: float,
    ) -> None:
        """An order ended (`lifecycle.OrderOutcome` value) after the given stages and distance."""
        if not distance_m >= 0.0:
            raise ValueError(f"stats: distance_m must be >= 0, got {distance_m!r}")
        for stage, duration_s in stage_durations_s.items():
            if not duration_s >= 0.0:
                raise ValueError(f"stats: stage {stage!r} must last >= 0 s, got {duration_s!r}")
        driver = self._drivers.get(driver_id)
        if driver is None:
            driver = self._drivers[driver_id] = _Driver()
        driver.orders[outcome] = driver.orders.get(outcome, 0) + 1
        driver.distance_m += distance_m
        self._orders[outcome] = self._orders.get(outcome, 0) + 1
        for stage, duration_s in stage_durations_s.items():
            histogram = self._stages_s.get(stage)
            if histogram is None:
                histogram = self._stages_s[stage] = Histogram(lowest=0.01, highest=1_000_000.0)
            histogram.record(duration_s)

    def record_relocation(self, driver_id: str) -> None:
        """The driver drove somewhere without an order (repositioning between jobs)."""
        driver = self._drivers.get(driver_id)
        if driver is None:
            driver = self._drivers[driver_id] = _Driver()
        driver.relocations += 1

    # ---- riding out API trouble ----------------------------------------------------------------

    def record_retry(self, endpoint: str, reconciled: bool = False) -> None:
        """A call was sent again (`reconciled`: a resend found it already applied, the call
        ended as success)."""
        if reconciled:
            self._outage["reconciled"] += 1
        else:
            self._retries[endpoint] = self._retries.get(endpoint, 0) + 1

    def record_queued(self, endpoint: str, *, location: bool) -> None:
        """A call went into a driver's backlog to wait for the API."""
        self._outage["queued_calls"] += 1
        if location:
            self._outage["queued_locations"] += 1

    def record_backlog(self, *, thinned: int = 0, dropped: int = 0) -> None:
        """Queued locations replaced by later ones (`thinned`) or dropped past the bound."""
        if thinned < 0 or dropped < 0:
            raise ValueError("stats: thinned and dropped must be >= 0")
        self._outage["thinned_locations"] += thinned
        self._outage["dropped_locations"] += dropped

    def record_given_up(self, order: GivenUpOrder) -> None:
        """A driver gave an order up: a definitive refusal, or no progress for too long."""
        self._outage["given_up"] += 1
        if len(self._given_up) < MAX_GIVEN_UP_LISTED:
            self._given_up.append(order)

    def record_cancel_after_give_up(self, *, cancelled: bool) -> None:
        """The given-up order was cancelled on the API side (or could not be)."""
        self._outage["cancelled_after_give_up" if cancelled else "cancel_failed"] += 1

    def _coarsen(self) -> None:
        while len(self._timeline) > self._max_time_buckets:
            self._bucket_s *= 2
            merged: dict[int, _Calls] = {}
            for index in sorted(self._timeline):
                calls = self._timeline[index]
                target = merged.get(index // 2)
                if target is None:
                    merged[index // 2] = calls
                else:
                    target.merge(calls)
            self._timeline = merged

    # ---- snapshot -------------------------------------------------------------------------------

    def statistics(self) -> StatsSnapshot:
        endpoints = tuple(
            EndpointSnapshot(
                name, calls.count, dict(sorted(calls.errors.items())), calls.latency_ms.summary()
            )
            for name, calls in sorted(self._endpoints.items())
        )
        timeline = tuple(
            TimeBucketSnapshot(
                start_s=index * self._bucket_s,
                count=calls.count,
                errors=sum(calls.errors.values()),
                p50_ms=p50,
                p95_ms=p95,
                max_ms=calls.latency_ms.max,
            )
            for index, calls in sorted(self._timeline.items())
            for p50, p95 in [calls.latency_ms.percentiles((50.0, 95.0))]
        )
        drivers = tuple(
            DriverSnapshot(
                driver_id=driver_id,
                pings=d.pings,
                max_gap_s=d.max_gap_s,
                gaps_over_limit=d.gaps_over_limit,
                orders=dict(sorted(d.orders.items())),
                distance_m=d.distance_m,
                relocations=d.relocations,
            )
            for driver_id, d in sorted(self._drivers.items())
        )
        errors_by_class: dict[str, int] = {}
        for calls in self._endpoints.values():
            for name, n in calls.errors.items():
                errors_by_class[name] = errors_by_class.get(name, 0) + n
        first_at_s = self._first_at_s if self._first_at_s is not None else 0.0
        totals = Totals(
            calls=sum(e.count for e in endpoints),
            errors=sum(errors_by_class.values()),
            errors_by_class=dict(sorted(errors_by_class.items())),
            first_at_s=first_at_s,
            last_at_s=self._last_at_s,
            orders=dict(sorted(self._orders.items())),
            distance_m=sum(d.distance_m for d in drivers),
            drivers=len(drivers),
            pings=sum(d.pings for d in drivers),
            gaps_over_limit=sum(d.gaps_over_limit for d in drivers),
            max_gap_s=max((d.max_gap_s for d in drivers), default=0.0),
            relocations=sum(d.relocations for d in drivers),
        )
        return StatsSnapshot(
            bucket_s=self._bucket_s,
            max_ping_gap_s=self._max_ping_gap_s,
            totals=totals,
            endpoints=endpoints,
            timeline=timeline,
            stages_s={name: h.summary() for name, h in sorted(self._stages_s.items())},
            ping_lateness_ms=self._ping_lateness_ms.summary(),
            drivers=drivers,
            resilience=Resilience(
                retries=sum(self._retries.values()),
                retries_by_endpoint=dict(sorted(self._retries.items())),
                given_up_orders=tuple(self._given_up),
                **self._outage,
            ),
        )

"""The run's statistics: API calls, ping compliance, orders, stage durations; a snapshot.

Pure: callers pass every time in. Two timelines, as in the clock: `at_s` of a call is *real* run
time (seconds since the run began, for requests-over-time charts) and ping `reported_time_ms`
is *simulated* epoch ms (for the 30 s compliance rule). Stage durations are simulated seconds.

The hot paths (`record_call`, `record_ping`) are O(1): a few dict look-ups and counter bumps;
a failed call's status and message cost only on the error path. Bytes are read from the client's
own counters (`count_bytes`) once per time bucket, busy drivers likewise; orders that ended are
rows of `order_rows()` (`order_log`). Memory is bounded: histograms have a fixed bucket limit,
error messages per endpoint are capped, and the timeline doubles its bucket width (merging
neighbours) whenever it would hold more than `max_time_buckets` buckets.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from driver_agent.core.model import MAX_PING_GAP_S
from driver_agent.metrics.call_counters import NO_ANSWER, Bucket, ByteCounter, EndpointCalls
from driver_agent.metrics.histogram import Histogram
from driver_agent.metrics.order_log import OrderLog
from driver_agent.metrics.stats_snapshot import (
    DriverSnapshot,
    EndpointSnapshot,
    GivenUpOrder,
    OrderRecord,
    Resilience,
    StatsSnapshot,
    TimeBucketSnapshot,
    Totals,
)

if TYPE_CHECKING:
    from collections.abc import Mapping

MAX_GIVEN_UP_LISTED = 100  # given-up orders listed with their last error; all are counted

__all__ = [
    "NO_ANSWER",
    "ByteCounter",
    "DriverSnapshot",
    "EndpointSnapshot",
    "GivenUpOrder",
    "OrderRecord",
    "Resilience",
    "StatsCollector",
    "StatsSnapshot",
    "TimeBucketSnapshot",
    "Totals",
]


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
        self._endpoints: dict[str, EndpointCalls] = {}
        self._timeline: dict[int, Bucket] = {}
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
        self._busy = 0
        self._bytes: ByteCounter | None = None
        self._order_log = OrderLog()

    # ---- hot paths ------------------------------------------------------------------------------

    def record_call(
        self,
        endpoint: str,
        latency_ms: float,
        error: str | None,
        at_s: float,
        status: int | None = None,
        message: str = "",
        order_id: int | None = None,
    ) -> None:
        """One API call: `error` is the error class name (`ApiUnavailable`, `network`…) or None.
        A failed call gives its HTTP `status` (None: no answer), Bringg's `message` and the
        order it was for (`order_id`, if any)."""
        if not at_s >= 0.0:
            raise ValueError(f"stats: at_s must be >= 0 (real seconds into the run), got {at_s!r}")
        if not latency_ms >= 0.0:
            raise ValueError(f"stats: latency_ms must be >= 0, got {latency_ms!r}")
        calls = self._endpoints.get(endpoint)
        if calls is None:
            calls = self._endpoints[endpoint] = EndpointCalls()
        calls.record(latency_ms, error)
        if error is not None:
            calls.failure(status, message)
            if order_id:
                self._order_log.error(order_id, endpoint, status, message)
        index = int(at_s // self._bucket_s)
        bucket = self._timeline.get(index)
        if bucket is None:
            bucket = self._new_bucket(index)
        bucket.record(latency_ms, error)
        by_endpoint = bucket.by_endpoint
        by_endpoint[endpoint] = by_endpoint.get(endpoint, 0) + 1
        if self._first_at_s is None or at_s < self._first_at_s:
            self._first_at_s = at_s
        if at_s > self._last_at_s:
            self._last_at_s = at_s

    def _new_bucket(self, index: int) -> Bucket:
        counter = self._bytes
        sent, received = (counter.bytes_sent, counter.bytes_received) if counter else (0, 0)
        bucket = self._timeline[index] = Bucket(self._busy, sent, received)
        if len(self._timeline) > self._max_time_buckets:
            at_s = index * self._bucket_s
            self._coarsen()
            bucket = self._timeline[int(at_s // self._bucket_s)]
        return bucket

    def count_bytes(self, counter: ByteCounter) -> None:
        """Read the client's byte counters (once per time bucket and at the snapshot)."""
        self._bytes = counter

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
            if not driver.busy:
                self._busy += 1
            driver.busy, driver.last_ms = True, at_ms
            return
        if driver.busy:
            self._busy -= 1
            if driver.last_ms is not None and at_ms is not None:
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
        *,
        order_id: int | None = None,
        ended_at_ms: int = 0,
        external_id: str = "",
    ) -> None:
        """An order ended (`lifecycle.OrderOutcome` value) after the given stages and distance;
        with `order_id` it is a row of `order_rows()` (ended at simulated `ended_at_ms`)."""
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
        if order_id is not None:
            self._order_log.ended(
                order_id, driver_id, outcome, stage_durations_s, ended_at_ms, external_id
            )

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
        self._order_log.error(order.task_id, order.endpoint, order.status, order.message)
        if len(self._given_up) < MAX_GIVEN_UP_LISTED:
            self._given_up.append(order)

    def record_cancel_after_give_up(self, *, cancelled: bool) -> None:
        """The given-up order was cancelled on the API side (or could not be)."""
        self._outage["cancelled_after_give_up" if cancelled else "cancel_failed"] += 1

    def _coarsen(self) -> None:
        while len(self._timeline) > self._max_time_buckets:
            self._bucket_s *= 2
            merged: dict[int, Bucket] = {}
            for index in sorted(self._timeline):
                calls = self._timeline[index]
                target = merged.get(index // 2)
                if target is None:
                    merged[index // 2] = calls
                else:
                    target.merge(calls)
            self._timeline = merged

    # ---- snapshot -------------------------------------------------------------------------------

    def order_rows(self) -> tuple[tuple[OrderRecord, ...], int]:
        """The orders that ended, in the order they ended, and how many more were not kept."""
        return tuple(self._order_log.rows), self._order_log.dropped

    def _byte_totals(self) -> tuple[int, int]:
        counter = self._bytes
        return (counter.bytes_sent, counter.bytes_received) if counter else (0, 0)

    def _time_buckets(self, names: list[str]) -> tuple[TimeBucketSnapshot, ...]:
        buckets = sorted(self._timeline.items())
        ends = [(b.sent0, b.received0) for _, b in buckets[1:]]
        if buckets:  # the last bucket runs until now
            ends.append(self._byte_totals())
        return tuple(
            TimeBucketSnapshot(
                start_s=index * self._bucket_s,
                count=calls.count,
                errors=sum(calls.errors.values()),
                p50_ms=p50,
                p95_ms=p95,
                max_ms=calls.latency_ms.max,
                requests_by_endpoint=tuple(calls.by_endpoint.get(name, 0) for name in names),
                busy_drivers=calls.busy,
                bytes_sent=max(0, sent - calls.sent0),
                bytes_received=max(0, received - calls.received0),
            )
            for (index, calls), (sent, received) in zip(buckets, ends, strict=True)
            for p50, p95 in [calls.latency_ms.percentiles((50.0, 95.0))]
        )

    def statistics(self) -> StatsSnapshot:
        names = sorted(self._endpoints)
        endpoints = tuple(
            EndpointSnapshot(
                name,
                calls.count,
                dict(sorted(calls.errors.items())),
                calls.latency_ms.summary(),
                errors_by_status=dict(sorted(calls.by_status.items())),
                top_messages=calls.top_messages(),
            )
            for name in names
            for calls in [self._endpoints[name]]
        )
        timeline = self._time_buckets(names)
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
        sent, received = self._byte_totals()
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
            bytes_sent=sent,
            bytes_received=received,
        )

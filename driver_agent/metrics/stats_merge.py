"""Merging the statistics of several processes into one, exactly (pure).

A run split across workers (`driver-agent run --workers N`) keeps one `StatsCollector` per worker;
at the end the head merges them into one and reports from it as a single process would. Nothing is
averaged: counters add, histograms add bucket by bucket (same layout), so every percentile of the
merged run is the one a single collector that saw every call would give. Time buckets are aligned
on the coarsest bucket width among the parts (widths only ever double); the bytes per bucket are
re-based from each part's own per-bucket deltas. Drivers are disjoint between workers.

`portable()` makes a collector safe to send to another process: it swaps the live byte counter
(the HTTP client's, which stays behind) for its final figures.

The collector's own fields are read here on purpose: this module is its other half, kept apart
so that the hot paths of `metrics.stats` stay short.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from driver_agent.metrics.call_counters import Bucket, EndpointCalls
from driver_agent.metrics.histogram import Histogram
from driver_agent.metrics.stats import MAX_GIVEN_UP_LISTED, StatsCollector

if TYPE_CHECKING:
    from collections.abc import Sequence


@dataclass(frozen=True, slots=True)
class FixedBytes:
    """Byte totals that no longer move (a finished worker's)."""

    bytes_sent: int
    bytes_received: int


@dataclass(frozen=True, slots=True)
class LiveFigures:
    """A worker's running figures for the head's status line (mergeable: latency histograms)."""

    calls: int
    errors: int
    pings: int
    worst_gap_s: float
    latency_ms: dict[str, Histogram]  # per endpoint


def live_figures(stats: StatsCollector) -> LiveFigures:
    """The running figures, without building a snapshot of every driver."""
    endpoints = stats._endpoints
    drivers = stats._drivers.values()
    return LiveFigures(
        calls=sum(c.count for c in endpoints.values()),
        errors=sum(sum(c.errors.values()) for c in endpoints.values()),
        pings=sum(d.pings for d in drivers),
        worst_gap_s=max((d.max_gap_s for d in drivers), default=0.0),
        latency_ms={name: c.latency_ms for name, c in endpoints.items()},
    )


def portable(stats: StatsCollector) -> StatsCollector:
    """`stats` with its byte counter replaced by the counter's current totals (in place)."""
    sent, received = stats._byte_totals()
    stats._bytes = FixedBytes(sent, received)
    return stats


def merge(parts: Sequence[StatsCollector]) -> StatsCollector:
    """One collector holding everything the parts hold (the parts are left as they are)."""
    if not parts:
        return StatsCollector()
    first = parts[0]
    bucket_s = max(p._bucket_s for p in parts)
    merged = StatsCollector(bucket_s, first._max_time_buckets, first._max_ping_gap_s)
    for part in parts:
        _add_endpoints(merged, part)
        _add_drivers(merged, part)
        _add_orders(merged, part)
        _add_resilience(merged, part)
        _add_spans(merged, part)
    _add_timelines(merged, parts)
    merged._coarsen()
    return merged


def _add_endpoints(merged: StatsCollector, part: StatsCollector) -> None:
    for name, calls in part._endpoints.items():
        target = merged._endpoints.get(name)
        if target is None:
            target = merged._endpoints[name] = EndpointCalls()
        target.merge(calls)
        for status, n in calls.by_status.items():
            target.by_status[status] = target.by_status.get(status, 0) + n
        for message, n in calls.messages.items():
            target.messages[message] = target.messages.get(message, 0) + n


def _add_drivers(merged: StatsCollector, part: StatsCollector) -> None:
    for driver_id, driver in part._drivers.items():
        if driver_id in merged._drivers:
            raise ValueError(f"stats merge: driver {driver_id!r} is in two workers")
        merged._drivers[driver_id] = driver
    merged._busy += part._busy
    merged._ping_lateness_ms.merge(part._ping_lateness_ms)


def _add_orders(merged: StatsCollector, part: StatsCollector) -> None:
    for outcome, n in part._orders.items():
        merged._orders[outcome] = merged._orders.get(outcome, 0) + n
    for stage, histogram in part._stages_s.items():
        target = merged._stages_s.get(stage)
        if target is None:
            target = merged._stages_s[stage] = Histogram(lowest=0.01, highest=1_000_000.0)
        target.merge(histogram)
    log = merged._order_log
    room = max(0, log._max_rows - len(log.rows))
    rows = part._order_log.rows
    log.rows.extend(rows[:room])
    log.dropped += part._order_log.dropped + max(0, len(rows) - room)


def _add_resilience(merged: StatsCollector, part: StatsCollector) -> None:
    for endpoint, n in part._retries.items():
        merged._retries[endpoint] = merged._retries.get(endpoint, 0) + n
    for key, n in part._outage.items():
        merged._outage[key] += n
    room = MAX_GIVEN_UP_LISTED - len(merged._given_up)
    merged._given_up.extend(part._given_up[: max(0, room)])


def _add_spans(merged: StatsCollector, part: StatsCollector) -> None:
    if part._first_at_s is not None and (
        merged._first_at_s is None or part._first_at_s < merged._first_at_s
    ):
        merged._first_at_s = part._first_at_s
    merged._last_at_s = max(merged._last_at_s, part._last_at_s)


def _add_timelines(merged: StatsCollector, parts: Sequence[StatsCollector]) -> None:
    """Buckets of equal start add up; each bucket's bytes (a delta of the part's cumulative
    counters) are summed, then the merged cumulative counters rebuilt from them. A merged
    bucket's busy drivers: per part the most busy in it, summed over the parts."""
    bucket_s = merged._bucket_s
    sent_in: dict[int, int] = {}
    received_in: dict[int, int] = {}
    busy: dict[int, int] = {}
    total_sent = total_received = 0
    for part in parts:
        factor = round(bucket_s / part._bucket_s)  # a power of two: widths only double
        buckets = sorted(part._timeline.items())
        sent_end, received_end = part._byte_totals()
        total_sent += sent_end
        total_received += received_end
        most: dict[int, int] = {}
        for k, (index, bucket) in enumerate(buckets):
            following = buckets[k + 1][1] if k + 1 < len(buckets) else None
            sent_next = following.sent0 if following else sent_end
            received_next = following.received0 if following else received_end
            key = index // factor
            target = merged._timeline.get(key)
            if target is None:
                target = merged._timeline[key] = Bucket(0, 0, 0)
            target.merge(bucket)
            sent_in[key] = sent_in.get(key, 0) + sent_next - bucket.sent0
            received_in[key] = received_in.get(key, 0) + received_next - bucket.received0
            most[key] = max(most.get(key, 0), bucket.busy)
        for key, n in most.items():
            busy[key] = busy.get(key, 0) + n
    sent = received = 0
    for index in sorted(merged._timeline):
        target = merged._timeline[index]
        target.sent0, target.received0, target.busy = sent, received, busy.get(index, 0)
        sent += sent_in.get(index, 0)
        received += received_in.get(index, 0)
    merged._bytes = FixedBytes(total_sent, total_received)

"""Merging workers' statistics: the merged snapshot is the one a single collector would give."""

from __future__ import annotations

import pickle
from dataclasses import dataclass
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from driver_agent.core.typed import to_builtins
from driver_agent.metrics.stats import StatsCollector
from driver_agent.metrics.stats_merge import merge, portable

T0_MS = 1_700_000_000_000
ENDPOINTS = ("update_driver_location", "start_order", "checkin", "end_order")


def same(value: object) -> Any:
    """Plain data with floats to 12 significant digits: a mean sums the same values in another
    order, so it may differ in the last bit; every count and percentile must match exactly."""
    data = to_builtins(value)

    def walk(v: Any) -> Any:
        if isinstance(v, float):
            return float(f"{v:.12g}")
        if isinstance(v, dict):
            return {k: walk(x) for k, x in v.items()}
        if isinstance(v, list | tuple):
            return [walk(x) for x in v]
        return v

    return walk(data)


@dataclass
class Counter:
    """A client's running byte totals (what `StatsCollector.count_bytes` reads)."""

    bytes_sent: int = 0
    bytes_received: int = 0


@dataclass(frozen=True)
class Call:
    part: int
    endpoint: str
    latency_ms: float
    error: str | None
    at_s: float
    sent: int


calls = st.builds(
    Call,
    part=st.integers(0, 2),
    endpoint=st.sampled_from(ENDPOINTS),
    latency_ms=st.floats(0.0, 5_000.0),
    error=st.sampled_from((None, None, None, "ApiUnavailable", "network")),
    at_s=st.floats(0.0, 50.0),
    sent=st.integers(0, 5_000),
)


def replay(events: list[Call], parts: int, max_time_buckets: int = 3600) -> tuple[
    StatsCollector, list[StatsCollector]
]:  # fmt: skip
    """The same calls into one collector and, split by `part`, into `parts` collectors. Bytes
    are counted after the call is recorded, as each bucket's counters are read at its first call."""
    whole, whole_bytes = StatsCollector(max_time_buckets=max_time_buckets), Counter()
    whole.count_bytes(whole_bytes)
    split = [StatsCollector(max_time_buckets=max_time_buckets) for _ in range(parts)]
    split_bytes = [Counter() for _ in range(parts)]
    for stats, counter in zip(split, split_bytes, strict=True):
        stats.count_bytes(counter)
    for call in sorted(events, key=lambda c: c.at_s):
        for stats, counter in ((whole, whole_bytes), (split[call.part], split_bytes[call.part])):
            stats.record_call(call.endpoint, call.latency_ms, call.error, at_s=call.at_s)
            counter.bytes_sent += call.sent
            counter.bytes_received += 2 * call.sent
    return whole, split


@settings(max_examples=60, deadline=None)
@given(st.lists(calls, max_size=80))
def test_merged_calls_equal_one_collector_that_saw_them_all(events: list[Call]) -> None:
    whole, split = replay(events, 3)
    merged = merge([portable(p) for p in split]).statistics()
    expected = whole.statistics()
    assert same(merged.endpoints) == same(expected.endpoints)  # counts, errors, every percentile
    assert same(merged.totals) == same(expected.totals)
    # per bucket: counts, percentiles, bytes
    assert same(merged.timeline) == same(expected.timeline)
    assert (merged.bytes_sent, merged.bytes_received) == (
        expected.bytes_sent,
        expected.bytes_received,
    )


@settings(max_examples=30, deadline=None)
@given(st.lists(calls, min_size=1, max_size=80))
def test_parts_with_coarser_buckets_merge_on_the_coarsest(events: list[Call]) -> None:
    whole, split = replay(events, 3, max_time_buckets=8)  # 50 s of calls: buckets of 8 s
    merged = merge([portable(p) for p in split]).statistics()
    expected = whole.statistics()
    assert same(merged.totals) == same(expected.totals)
    assert sum(b.count for b in merged.timeline) == len(events)
    assert sum(b.bytes_sent for b in merged.timeline) == sum(c.sent for c in events)
    assert len(merged.timeline) <= 8
    assert merged.bucket_s >= max(p.statistics().bucket_s for p in split)


def test_pings_orders_stages_and_outages_add_up() -> None:
    whole = StatsCollector()
    parts = [StatsCollector(), StatsCollector()]
    for i in range(6):
        driver = f"drv-{i:02d}"
        for stats in (whole, parts[i % 2]):
            stats.driver_busy(driver, True, at_ms=T0_MS)
            for k in range(1, 5):
                stats.record_ping(driver, T0_MS + k * (10_000 + 7_000 * i), lateness_ms=3.0 * i)
            stats.driver_busy(driver, False, at_ms=T0_MS + 40_000 + i)
            stats.record_order(
                driver, "completed" if i != 3 else "failed", {"to_pickup": 60.0 + i},
                1_000.0 * i, order_id=100 + i, ended_at_ms=T0_MS + i, external_id=f"x{i}",
            )  # fmt: skip
            stats.record_retry("start_order")
            stats.record_backlog(thinned=i, dropped=1)
    merged = merge([portable(p) for p in parts]).statistics()
    expected = whole.statistics()
    assert same(merged.totals) == same(expected.totals)
    assert same(merged.drivers) == same(expected.drivers)
    assert same(merged.stages_s) == same(expected.stages_s)
    assert same(merged.ping_lateness_ms) == same(expected.ping_lateness_ms)
    assert same(merged.resilience) == same(expected.resilience)
    rows, dropped = merge(parts).order_rows()
    assert sorted(r.order_id for r in rows) == [100 + i for i in range(6)]
    assert dropped == 0


def test_a_driver_in_two_workers_is_refused() -> None:
    a, b = StatsCollector(), StatsCollector()
    a.record_ping("drv-1", T0_MS, 0.0)
    b.record_ping("drv-1", T0_MS, 0.0)
    with pytest.raises(ValueError, match="drv-1"):
        merge([a, b])


def test_a_portable_collector_survives_pickling_without_its_client() -> None:
    stats = StatsCollector()
    stats.count_bytes(Counter(10, 20))
    stats.record_call("checkin", 12.0, None, at_s=0.5)
    back = pickle.loads(pickle.dumps(portable(stats)))
    assert back.statistics() == stats.statistics()
    assert (back.statistics().bytes_sent, back.statistics().bytes_received) == (10, 20)


def test_merging_nothing_is_an_empty_run() -> None:
    assert merge([]).statistics().totals.calls == 0

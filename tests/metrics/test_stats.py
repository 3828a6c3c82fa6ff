"""The stats collector: calls and errors, the timeline, ping gaps, orders, API trouble."""

from __future__ import annotations

import math
import random
from collections.abc import Callable

import pytest

from driver_agent.core.model import Order, Stop, StopKind
from driver_agent.metrics.stats import (
    MAX_GIVEN_UP_LISTED,
    GivenUpOrder,
    StatsCollector,
)
from driver_agent.sim.lifecycle import (
    Assigned,
    Lifecycle,
    OrderCancelled,
    OrderOffered,
    Started,
)

T0_MS = 1_700_000_000_000


def test_calls_are_counted_per_endpoint_with_errors_by_class() -> None:
    stats = StatsCollector()
    outcomes = [None, None, "ApiUnavailable", None, "network", "ApiUnavailable", "ForbiddenError"]
    for i, error in enumerate(outcomes):
        stats.record_call("start_order", 10.0 + i, error, at_s=i * 0.1)
    stats.record_call("update_driver_location", 5.0, "AuthError", at_s=1.0)
    snapshot = stats.statistics()
    by_name = {e.endpoint: e for e in snapshot.endpoints}
    assert by_name["start_order"].count == 7
    assert by_name["start_order"].errors == {
        "ApiUnavailable": 2,
        "ForbiddenError": 1,
        "network": 1,
    }
    assert by_name["update_driver_location"].errors == {"AuthError": 1}
    assert (snapshot.totals.calls, snapshot.totals.errors) == (8, 5)
    assert snapshot.totals.errors_by_class == {
        "ApiUnavailable": 2,
        "AuthError": 1,
        "ForbiddenError": 1,
        "network": 1,
    }
    assert (snapshot.totals.first_at_s, snapshot.totals.last_at_s) == (0.0, 1.0)


def test_endpoint_latency_percentiles_follow_the_recorded_sample() -> None:
    rng = random.Random(42)
    latencies = [rng.expovariate(1 / 40.0) for _ in range(10_000)]
    stats = StatsCollector()
    for i, latency_ms in enumerate(latencies):
        stats.record_call("checkin", latency_ms, None, at_s=i / 1000)
    summary = stats.statistics().endpoints[0].latency_ms
    ordered = sorted(latencies)
    assert summary.p95 == pytest.approx(ordered[math.ceil(0.95 * 10_000) - 1], rel=0.0101)
    assert summary.p50 == pytest.approx(ordered[4_999], rel=0.0101)
    assert summary.max == max(latencies)


def test_the_timeline_buckets_calls_by_real_run_time() -> None:
    stats = StatsCollector(bucket_s=1.0)
    for at_s, latency_ms, error in [
        (0.2, 10.0, None),
        (0.9, 30.0, "RejectedError"),
        (1.0, 20.0, None),
        (3.5, 40.0, None),
    ]:
        stats.record_call("end_task", latency_ms, error, at_s)
    timeline = [(b.start_s, b.count, b.errors, b.max_ms) for b in stats.statistics().timeline]
    assert timeline == [(0.0, 2, 1, 30.0), (1.0, 1, 0, 20.0), (3.0, 1, 0, 40.0)]


def test_a_long_run_doubles_the_bucket_width_instead_of_growing() -> None:
    stats = StatsCollector(bucket_s=1.0, max_time_buckets=100)
    for second in range(1000):
        stats.record_call("update_driver_location", 12.0, None, at_s=second + 0.5)
    snapshot = stats.statistics()
    assert len(snapshot.timeline) <= 100
    assert snapshot.bucket_s == 16.0
    assert sum(b.count for b in snapshot.timeline) == 1000
    assert snapshot.timeline[1].start_s == 16.0
    assert snapshot.timeline[1].count == 16


def test_a_45_second_gap_while_busy_is_counted() -> None:
    stats = StatsCollector()
    stats.driver_busy("d1", True, at_ms=T0_MS)
    for offset_s in [10, 40, 85, 100]:
        stats.record_ping("d1", T0_MS + offset_s * 1000, lateness_ms=1.0)
    driver = stats.statistics().drivers[0]
    assert (driver.max_gap_s, driver.gaps_over_limit, driver.pings) == (45.0, 1, 4)


def test_idle_gaps_do_not_count() -> None:
    stats = StatsCollector()
    stats.driver_busy("d1", True, at_ms=T0_MS)
    stats.record_ping("d1", T0_MS + 20_000, 0.0)
    stats.driver_busy("d1", False, at_ms=T0_MS + 30_000)
    stats.record_ping("d1", T0_MS + 200_000, 0.0)  # idle, long after the last busy ping
    stats.driver_busy("d1", True, at_ms=T0_MS + 500_000)
    stats.record_ping("d1", T0_MS + 525_000, 0.0)
    driver = stats.statistics().drivers[0]
    assert (driver.max_gap_s, driver.gaps_over_limit) == (25.0, 0)


def test_a_driver_never_busy_has_no_gaps_however_sparse_its_pings() -> None:
    stats = StatsCollector()
    for offset_s in [0, 100, 400]:
        stats.record_ping("d1", T0_MS + offset_s * 1000, 0.0)
    driver = stats.statistics().drivers[0]
    assert (driver.pings, driver.max_gap_s, driver.gaps_over_limit) == (3, 0.0, 0)


@pytest.mark.parametrize(
    ("first_ping_s", "end_s", "gaps_over_limit"),
    [(29, 58, 0), (30, 60, 0), (31, 60, 1), (10, 41, 1)],
    ids=["within", "exactly-30-is-compliant", "late-first-ping", "late-end"],
)
def test_start_to_first_ping_and_last_ping_to_end_count_as_gaps(
    first_ping_s: int, end_s: int, gaps_over_limit: int
) -> None:
    stats = StatsCollector()
    stats.driver_busy("d1", True, at_ms=T0_MS)
    stats.record_ping("d1", T0_MS + first_ping_s * 1000, 0.0)
    stats.driver_busy("d1", False, at_ms=T0_MS + end_s * 1000)
    assert stats.statistics().totals.gaps_over_limit == gaps_over_limit


def test_ping_lateness_goes_to_its_own_histogram() -> None:
    stats = StatsCollector()
    for lateness_ms in [0.0, 2.0, 4.0, 250.0, -3.0]:  # early pings count as on time
        stats.record_ping("d1", T0_MS, lateness_ms)
    lateness = stats.statistics().ping_lateness_ms
    assert (lateness.count, lateness.min, lateness.max) == (5, 0.0, 250.0)
    assert stats.statistics().endpoints == ()


def test_orders_and_stage_durations_from_the_lifecycle_are_aggregated() -> None:
    order = Order(
        task_id=1,
        pickup=Stop(StopKind.PICKUP, 52.5, 13.4),
        dropoff=Stop(StopKind.DROPOFF, 52.6, 13.5),
    )
    stats = StatsCollector()
    for driver_id, start_s in [("d1", 10), ("d2", 30)]:
        lifecycle = Lifecycle()
        lifecycle.handle(OrderOffered(order), T0_MS)
        lifecycle.handle(Assigned(), T0_MS + 1_000)
        lifecycle.handle(Started(), T0_MS + start_s * 1000)
        lifecycle.handle(OrderCancelled(), T0_MS + 100_000)
        assert lifecycle.outcome is not None
        stats.record_order(
            driver_id, lifecycle.outcome, lifecycle.stage_durations_s(), distance_m=1200.5
        )
    stats.record_order("d1", "completed", {"pickup_dwell": 120.0}, distance_m=3000.0)
    snapshot = stats.statistics()
    assert snapshot.totals.orders == {"cancelled": 2, "completed": 1}
    assert snapshot.totals.distance_m == pytest.approx(5401.0)
    assert snapshot.drivers[0].orders == {"cancelled": 1, "completed": 1}
    assert snapshot.stages_s["assign_to_start"].min == 9.0
    assert snapshot.stages_s["assign_to_start"].max == 29.0
    assert snapshot.stages_s["end_to_end"].count == 2
    assert snapshot.stages_s["pickup_dwell"].p50 == 120.0


def test_relocations_are_counted_per_driver_and_in_total() -> None:
    stats = StatsCollector()
    for driver_id in ["d1", "d2", "d1"]:
        stats.record_relocation(driver_id)
    snapshot = stats.statistics()
    assert [d.relocations for d in snapshot.drivers] == [2, 1]
    assert (snapshot.totals.relocations, snapshot.totals.drivers) == (3, 2)


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda s: s.record_call("x", 1.0, None, at_s=-1.0), "at_s"),
        (lambda s: s.record_call("x", -1.0, None, at_s=1.0), "latency_ms"),
        (lambda s: s.record_order("d", "completed", {}, distance_m=-5.0), "distance_m"),
        (lambda s: s.record_order("d", "completed", {"pickup_dwell": -1.0}, 0.0), "'pickup_dwell'"),
    ],
    ids=["negative-at", "negative-latency", "negative-distance", "negative-stage"],
)
def test_bad_input_is_refused_naming_the_field(
    call: Callable[[StatsCollector], None], message: str
) -> None:
    stats = StatsCollector()
    with pytest.raises(ValueError, match=message):
        call(stats)
    assert stats.statistics() == StatsCollector().statistics()  # nothing half-recorded


# ----------------------------------------------------------------------------- API trouble


def _outage(stats: StatsCollector) -> None:
    for _ in range(3):
        stats.record_retry("checkin")
    stats.record_retry("update_driver_location")
    stats.record_retry("checkin", reconciled=True)
    stats.record_queued("checkin", location=False)
    for _ in range(4):
        stats.record_queued("update_driver_location", location=True)
    stats.record_backlog(thinned=2)
    stats.record_backlog(dropped=1)
    stats.record_given_up(GivenUpOrder("d1", 7, "checkout", 503, "sandbox fault", "no_progress"))
    stats.record_given_up(GivenUpOrder("d2", 8, "checkin", None, "ReadTimeout", "no_progress"))
    stats.record_cancel_after_give_up(cancelled=True)
    stats.record_cancel_after_give_up(cancelled=False)


def test_resends_backlogs_and_given_up_orders_are_counted() -> None:
    stats = StatsCollector()
    _outage(stats)
    outage = stats.statistics().resilience
    assert (outage.retries, outage.reconciled) == (4, 1)
    assert outage.retries_by_endpoint == {"checkin": 3, "update_driver_location": 1}
    assert (outage.queued_calls, outage.queued_locations) == (5, 4)
    assert (outage.thinned_locations, outage.dropped_locations) == (2, 1)
    assert (outage.given_up, outage.cancelled_after_give_up, outage.cancel_failed) == (2, 1, 1)
    assert [(g.task_id, g.status) for g in outage.given_up_orders] == [(7, 503), (8, None)]


def test_the_list_of_given_up_orders_is_bounded_but_all_are_counted() -> None:
    stats = StatsCollector()
    for task_id in range(MAX_GIVEN_UP_LISTED + 5):
        stats.record_given_up(GivenUpOrder("d", task_id, "checkin", 400, "no", "refused"))
    outage = stats.statistics().resilience
    assert outage.given_up == MAX_GIVEN_UP_LISTED + 5
    assert len(outage.given_up_orders) == MAX_GIVEN_UP_LISTED


def test_negative_backlog_counts_are_refused() -> None:
    with pytest.raises(ValueError, match="thinned and dropped"):
        StatsCollector().record_backlog(thinned=-1)

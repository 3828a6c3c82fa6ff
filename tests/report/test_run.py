"""The typed run report: the summary's figures from the snapshot, the worst gap, times."""

from __future__ import annotations

import pytest
from sample_reports import T0_MS, empty_report, sample_report, sample_stats

from driver_agent.metrics.thresholds import OrderCounts
from driver_agent.report.run import iso, summary_from_stats, worst_ping_gap


def test_the_summary_takes_an_order_count_override() -> None:
    stats = sample_stats()
    summary = summary_from_stats(stats, orders_total=10)
    assert summary.totals is stats.totals  # the snapshot's own totals, not a copy of them
    assert summary.resilience is stats.resilience
    assert summary.orders == OrderCounts(total=3, completed=2, cancelled=1, failed=0)
    assert (summary.orders_total, summary.drivers, summary.relocations) == (10, 2, 0)
    assert (summary.totals.calls, summary.totals.errors) == (420, 4)
    assert summary.error_rate == pytest.approx(4 / 420)


def test_an_empty_run_has_no_error_rate_and_counts_its_orders_as_none() -> None:
    summary = empty_report().summary
    assert summary.error_rate is None
    assert (summary.orders_total, summary.orders) == (0, OrderCounts(0, 0, 0, 0))


def test_the_worst_ping_gap_names_its_driver_and_counts_every_gap_over_the_limit() -> None:
    assert worst_ping_gap(sample_stats()) == (35.0, 5, "d-2")
    assert worst_ping_gap(sample_stats(drivers=("d-1",))) == (10.0, 0, "d-1")
    assert worst_ping_gap(empty_report().stats) == (None, 0, None)


def test_a_report_knows_its_duration_verdict_and_seed_text() -> None:
    report = sample_report()
    assert (report.duration_s, report.passed, report.seed_text) == (47.75, False, "42")
    assert (report.simulated_duration_s, report.requests_per_s) == (95.5, 420 / 47.75)
    clock_went_back = sample_report(ended_at_ms=T0_MS - 1, seed=None, thresholds=())
    assert (clock_went_back.simulated_duration_s, clock_went_back.passed) == (0.0, True)
    unknown = sample_report(real_started_at_ms=0, real_ended_at_ms=0)
    assert (unknown.duration_s, unknown.requests_per_s) == (0.0, None)
    assert clock_went_back.seed_text == "-"


@pytest.mark.parametrize(
    ("ms", "text"),
    [(T0_MS, "2023-11-14T22:13:20.000+00:00"), (T0_MS + 5, "2023-11-14T22:13:20.005+00:00"),
     (0, None), (None, None)],
)  # fmt: skip
def test_times_show_as_iso_utc_to_the_millisecond(ms: int | None, text: str | None) -> None:
    assert iso(ms) == text

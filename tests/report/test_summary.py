"""The terminal summary: totals, outages, the worst ping gap, endpoint rows, verdicts."""

from __future__ import annotations

import re

from sample_reports import empty_report, outage_report, sample_report, sample_stats

from driver_agent.report.summary import render_summary


def test_summary_lists_totals_endpoints_worst_gap_and_failed_thresholds() -> None:
    summary = render_summary(sample_report())
    assert "mode embedded, seed 42, 47.8 s real, 95.5 s simulated at 2x" in summary
    assert "requests 420 (8.8/s real), errors 4 (0.95%)" in summary
    line = 'errors   update_driver_location 4 errors: 503 (4); "sandbox fault: HTTP 503" (4)'
    assert line in summary.splitlines()
    assert "orders   2/3 done, 1 cancelled, 0 failed; drivers 2" in summary
    assert "ping gap worst 35.0 s (d-2), 5 gap(s) over 30 s" in summary
    assert "ping lateness after the scheduled tick: p50 1.5 ms, p99 1.5 ms, max 1.5 ms" in summary
    row = next(line for line in summary.splitlines() if line.startswith("checkin"))
    assert row.split() == ["checkin", "20", "0", "191", "278", "289", "290"]
    row = next(line for line in summary.splitlines() if line.startswith("update_driver"))
    assert row.split()[:3] == ["update_driver_location", "400", "4"]
    assert not any(line.startswith("all ") for line in summary.splitlines())
    assert re.search(r"FAIL\s+max_ping_gap_s <= 30\s+actual 35\b", summary)
    assert re.search(r"PASS\s+p95_ms < 800", summary)
    assert "1 of 3 threshold(s) failed" in summary


def test_summary_of_a_passing_run_says_all_thresholds_passed() -> None:
    report = sample_report(stats=sample_stats(drivers=("d-1",)))
    assert report.passed
    assert "all 3 threshold(s) passed" in render_summary(report)
    assert "FAIL" not in render_summary(report)


def test_summary_of_an_empty_run_shows_dashes_not_errors() -> None:
    summary = render_summary(empty_report())
    assert "seed -, 0.0 s" in summary
    assert "requests 0 (-/s real), errors 0 (-)" in summary
    assert "ping gap -" in summary
    assert "ping lateness" not in summary
    assert "thresholds" not in summary


def test_an_outage_shows_as_retries_and_given_up_orders_with_their_last_error() -> None:
    summary = render_summary(outage_report())
    assert (
        "outages  retries 7 (1 reconciled); queued 2 calls, 1 locations (3 thinned); "
        "given up 1 (1 cancelled)"
    ) in summary
    assert "given up order 77 (d-9): checkout -> 400: Can not checkout [refused]" in summary


def test_a_run_without_trouble_has_no_outage_line() -> None:
    assert "outages" not in render_summary(sample_report())

"""Small runs through the real StatsCollector, as typed run reports: shared by the tests of
report.json, the terminal summary and report.html, so all three render the same runs."""

from __future__ import annotations

from typing import Any

from driver_agent.core.model import Secret
from driver_agent.metrics.stats import GivenUpOrder, StatsCollector
from driver_agent.metrics.stats_snapshot import StatsSnapshot
from driver_agent.metrics.thresholds import evaluate, metrics_from_stats, parse_thresholds
from driver_agent.report.run import EventKind, MapEvent, RunReport, summary_from_stats

T0_MS = 1_700_000_000_000  # simulated
REAL_T0_MS = 1_800_000_000_000  # the wall clock: 2027-01-15T08:00:00Z
EVIL = "<script>alert('x')</script>"


def sample_stats(drivers: tuple[str, ...] = ("d-1", "d-2")) -> StatsSnapshot:
    """420 calls (4 errors), two drivers (the second pings every 35 s: too slow), 3 orders."""
    stats = StatsCollector(bucket_s=5.0)
    for i in range(400):
        if i % 100:
            stats.record_call("update_driver_location", 20.0 + i % 40, None, at_s=i / 8)
        else:
            stats.record_call(
                "update_driver_location", 20.0 + i % 40, "ApiUnavailable", i / 8,
                503, "sandbox fault: HTTP 503",
            )  # fmt: skip
    for i in range(20):
        stats.record_call("checkin", 100.0 + i * 10, None, at_s=i * 2.5)
    for n, driver in enumerate(drivers):
        stats.driver_busy(driver, True, at_ms=T0_MS)
        step_ms = 10_000 + n * 25_000
        for k in range(1, 6):
            stats.record_ping(driver, T0_MS + k * step_ms, lateness_ms=1.5)
        stats.driver_busy(driver, False, at_ms=T0_MS + 5 * step_ms)
        stats.record_order(
            driver,
            "completed",
            {"assign_to_start": 5.0, "start_to_pickup": 300.0, "end_to_end": 900.0 + n},
            4_200.0,
        )
    stats.record_order(drivers[-1], "cancelled", {"assign_to_start": 7.0}, 500.0)
    return stats.statistics()


def sample_report(**changes: Any) -> RunReport:
    """A report of `sample_stats` (or `stats=`) with three thresholds, tracks and events."""
    stats = changes.pop("stats", None) or sample_stats()
    thresholds = evaluate(
        parse_thresholds(["p95_ms < 800", "max_ping_gap_s <= 30", "error_rate < 0.01"]),
        metrics_from_stats(stats),
    )
    fields: dict[str, Any] = {
        "stats": stats,
        "summary": summary_from_stats(stats),
        "mode": "embedded",
        "seed": 42,
        "started_at_ms": T0_MS,
        "ended_at_ms": T0_MS + 95_500,
        "real_started_at_ms": REAL_T0_MS,
        "real_ended_at_ms": REAL_T0_MS + 47_750,
        "speed": 2.0,
        "tracks": {
            "d-1": [(40.75 + k * 1e-4, -73.99 + k * 1e-4) for k in range(50)],
            "d-2": [(40.76 + k * 1e-4, -73.98) for k in range(50)],
        },
        "events": [
            MapEvent(EventKind.PICKUP, 40.751, -73.989, "d-1", 7, T0_MS + 1_000),
            MapEvent(EventKind.DROPOFF, 40.7549, -73.9851, "d-1", 7, T0_MS + 90_000),
            MapEvent(EventKind.CANCEL, 40.762, -73.98, "d-2", 8),
        ],
        "thresholds": thresholds,
        "config": {"api": {"api_url": "http://127.0.0.1:9", "client_secret": Secret("s3cr3t")}},
        "versions": {"python": "3.11.7", "driver-agent": "0.1.0"},
    }
    fields.update(changes)
    return RunReport(**fields)


def empty_report() -> RunReport:
    stats = StatsCollector().statistics()
    return RunReport(stats=stats, summary=summary_from_stats(stats))


def outage_report() -> RunReport:
    """A run that rode out API trouble: 7 resends (1 reconciled), a backlog, a given-up order."""
    stats = StatsCollector()
    stats.record_call("checkin", 61_000.0, None, at_s=1.0)
    for _ in range(7):
        stats.record_retry("checkin")
    stats.record_retry("checkin", reconciled=True)
    stats.record_queued("update_driver_location", location=True)
    stats.record_queued("checkin", location=False)
    stats.record_backlog(thinned=3)
    stats.record_given_up(GivenUpOrder("d-9", 77, "checkout", 400, "Can not checkout", "refused"))
    stats.record_cancel_after_give_up(cancelled=True)
    stats.record_order("d-9", "failed", {}, 0.0)
    return sample_report(stats=stats.statistics())


def failed_report() -> RunReport:
    """Two failed orders (one refused with a message holding a bearer token, one with no answer)
    and a completed one."""
    stats = StatsCollector()
    stats.record_call(
        "checkin", 40.0, "RejectedError", 1.0, 400, "Task already started Bearer abc.def",
        order_id=9,
    )  # fmt: skip
    stats.record_call("checkout", 40.0, "ApiUnavailable", 2.0, None, "ReadTimeout", order_id=11)
    for _ in range(3):
        stats.record_call("checkin", 40.0, "ForbiddenError", 3.0, 403, "User not found")
    stats.record_order(
        "d-2", "failed", {"assign_to_start": 6.0, "start_to_pickup": 200.5}, 100.0,
        order_id=9, ended_at_ms=T0_MS + 80_000, external_id="da-42-x-00009",
    )  # fmt: skip
    stats.record_order(
        "d-1", "completed", {"assign_to_start": 5.0, "end_to_end": 900.25}, 10.0,
        order_id=10, ended_at_ms=T0_MS + 90_000, external_id="da-42-x-00010",
    )  # fmt: skip
    stats.record_order("d-3", "failed", {}, 0.0, order_id=11, ended_at_ms=T0_MS + 95_000)
    rows, _ = stats.order_rows()
    return sample_report(stats=stats.statistics(), orders=rows)

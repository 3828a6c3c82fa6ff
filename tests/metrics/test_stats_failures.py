"""Failures you can act on, and what the charts read: errors by status and message, the rows
of the orders that ended with their last error, requests by endpoint, busy drivers and bytes
per time bucket."""

from __future__ import annotations

import pytest

from driver_agent.metrics.call_counters import MAX_MESSAGES_KEPT, OTHER_MESSAGES
from driver_agent.metrics.order_log import OrderLog
from driver_agent.metrics.stats import GivenUpOrder, StatsCollector
from driver_agent.metrics.stats_snapshot import MessageCount, StatsSnapshot


def test_errors_are_counted_by_status_and_by_message_most_frequent_first() -> None:
    stats = StatsCollector()
    for _ in range(3):
        stats.record_call("checkin", 5.0, "ForbiddenError", 0.1, 403, "User not found")
    stats.record_call("checkin", 5.0, "RejectedError", 0.2, 400, "Task already started")
    stats.record_call("checkin", 5.0, "ApiUnavailable", 0.3, None, "ReadTimeout")
    stats.record_call("checkin", 5.0, None, 0.4)
    (checkin,) = stats.statistics().endpoints
    assert checkin.errors_by_status == {"400": 1, "403": 3, "no answer": 1}
    assert checkin.top_messages == (
        MessageCount("User not found", 3),
        MessageCount("ReadTimeout", 1),
        MessageCount("Task already started", 1),
    )
    assert checkin.error_count == 5


def test_only_the_top_five_messages_are_listed_and_distinct_ones_are_capped() -> None:
    stats = StatsCollector()
    for i in range(MAX_MESSAGES_KEPT + 10):
        stats.record_call("checkout", 1.0, "RejectedError", 0.0, 400, f"message {i:03d}")
    (checkout,) = stats.statistics().endpoints
    assert len(checkout.top_messages) == 5
    assert checkout.top_messages[0] == MessageCount(OTHER_MESSAGES, 10)
    assert sum(checkout.errors_by_status.values()) == MAX_MESSAGES_KEPT + 10


def test_an_order_row_carries_its_stages_and_the_last_error_of_its_calls() -> None:
    stats = StatsCollector()
    stats.record_call("checkin", 1.0, "RejectedError", 0.0, 400, "too early", order_id=7)
    stats.record_call("checkout", 1.0, "ForbiddenError", 0.5, 403, "not yours", order_id=7)
    stats.record_call("checkin", 1.0, "RejectedError", 0.6, 400, "other order", order_id=8)
    stats.record_order(
        "d1", "failed", {"assign_to_start": 4.0}, 10.0, order_id=7, ended_at_ms=9_000,
        external_id="da-1-x-00007",
    )  # fmt: skip
    stats.record_order("d2", "completed", {"end_to_end": 60.0}, 10.0, order_id=9, ended_at_ms=1)
    stats.record_order("d3", "completed", {}, 1.0)  # without an id: counted, no row
    rows, dropped = stats.order_rows()
    assert dropped == 0
    assert [(r.order_id, r.driver_id, r.outcome, r.external_id) for r in rows] == [
        (7, "d1", "failed", "da-1-x-00007"),
        (9, "d2", "completed", ""),
    ]
    assert (rows[0].error_endpoint, rows[0].error_status, rows[0].error_message) == (
        "checkout", 403, "not yours",
    )  # fmt: skip
    assert (rows[0].stages_s, rows[0].ended_at_ms, rows[0].has_error) == (
        {"assign_to_start": 4.0}, 9_000, True,
    )  # fmt: skip
    assert not rows[1].has_error


def test_a_given_up_order_is_its_last_error() -> None:
    stats = StatsCollector()
    stats.record_given_up(GivenUpOrder("d1", 5, "checkin", None, "ReadTimeout", "no_progress"))
    stats.record_order("d1", "failed", {}, 0.0, order_id=5, ended_at_ms=2)
    (row,), _ = stats.order_rows()
    assert (row.error_endpoint, row.error_status, row.error_message) == (
        "checkin", None, "ReadTimeout",
    )  # fmt: skip


def test_the_order_log_is_bounded() -> None:
    log = OrderLog(max_rows=2, max_open=2)
    for order_id in (1, 2, 3):
        log.error(order_id, "checkin", 400, f"error {order_id}")
    for order_id in (1, 2, 3):
        log.ended(order_id, "d", "failed", {}, 0)
    assert [r.order_id for r in log.rows] == [1, 2]
    assert log.dropped == 1
    assert not log.rows[0].has_error  # the oldest open error was forgotten
    assert log.rows[1].error_message == "error 2"
    with pytest.raises(ValueError, match="max_open"):
        OrderLog(max_open=0)


class _Counter:
    def __init__(self) -> None:
        self.bytes_sent = 0
        self.bytes_received = 0


def test_time_buckets_count_requests_by_endpoint_busy_drivers_and_bytes() -> None:
    stats, counter = StatsCollector(bucket_s=1.0), _Counter()
    stats.count_bytes(counter)
    stats.record_call("checkin", 1.0, None, 0.1)
    stats.record_call("update_driver_location", 1.0, None, 0.2)
    counter.bytes_sent, counter.bytes_received = 100, 40
    stats.driver_busy("d1", True, 0)
    stats.driver_busy("d1", True, 0)  # already busy: counted once
    stats.driver_busy("d2", True, 0)
    stats.record_call("update_driver_location", 1.0, None, 1.5)
    stats.record_call("update_driver_location", 1.0, None, 1.6)
    counter.bytes_sent, counter.bytes_received = 250, 100
    stats.driver_busy("d1", False, 10)
    stats.record_call("checkin", 1.0, None, 3.2)
    counter.bytes_sent, counter.bytes_received = 300, 120
    snap = stats.statistics()
    assert [e.endpoint for e in snap.endpoints] == ["checkin", "update_driver_location"]
    assert [b.requests_by_endpoint for b in snap.timeline] == [(1, 1), (0, 2), (1, 0)]
    assert [b.busy_drivers for b in snap.timeline] == [0, 2, 1]
    assert [(b.bytes_sent, b.bytes_received) for b in snap.timeline] == [
        (100, 40), (150, 60), (50, 20),
    ]  # fmt: skip
    assert (snap.bytes_sent, snap.bytes_received) == (300, 120)
    assert StatsSnapshot.from_dict(snap.to_dict()) == snap


def test_merged_buckets_add_their_requests_and_keep_the_peak_of_busy_drivers() -> None:
    stats = StatsCollector(bucket_s=1.0, max_time_buckets=2)
    stats.record_call("checkin", 1.0, None, 0.5)
    stats.driver_busy("d1", True, 0)
    stats.driver_busy("d2", True, 0)
    stats.record_call("checkin", 1.0, None, 1.5)
    stats.driver_busy("d2", False, 0)
    stats.record_call("checkout", 1.0, None, 2.5)  # a third bucket: widths double to 2 s
    snap = stats.statistics()
    assert snap.bucket_s == 2.0
    assert [(b.requests_by_endpoint, b.busy_drivers) for b in snap.timeline] == [
        ((2, 0), 2), ((0, 1), 1),
    ]  # fmt: skip


def test_a_run_without_a_byte_counter_reports_no_bytes() -> None:
    stats = StatsCollector()
    stats.record_call("checkin", 1.0, None, 0.5)
    snap = stats.statistics()
    assert (snap.bytes_sent, snap.timeline[0].bytes_sent) == (0, 0)

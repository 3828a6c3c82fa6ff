"""Failures you can act on: stage reached, last error, errors by status and message, in the
summary, report.json and report.html, with secrets masked."""

from __future__ import annotations

import dataclasses
import json

import pytest
from sample_reports import failed_report

from driver_agent.metrics.histogram import Histogram
from driver_agent.metrics.stats_snapshot import EndpointSnapshot, MessageCount, OrderRecord
from driver_agent.report.document import render_html, render_json
from driver_agent.report.failures import (
    MAX_FAILED_LISTED,
    endpoint_errors_line,
    error_text,
    failed_order_rows,
    stage_reached,
)
from driver_agent.report.summary import MAX_FAILED_SHOWN, render_summary


@pytest.mark.parametrize(
    ("stages", "reached"),
    [
        ({}, "before start"),
        ({"assign_to_start": 1.0}, "started"),
        ({"assign_to_start": 1.0, "start_to_pickup": 9.0}, "checked in at the pickup"),
        ({"pickup_dwell": 1.0, "end_to_end": 5.0}, "left the pickup"),
        ({"pickup_to_dropoff": 1.0}, "checked in at the dropoff"),
        ({"dropoff_dwell": 1.0, "assign_to_start": 1.0}, "left the dropoff"),
    ],
)
def test_the_stage_reached_is_the_furthest_stage_gone_through(
    stages: dict[str, float], reached: str
) -> None:
    assert stage_reached(stages) == reached


def test_error_text_names_the_status_or_that_there_was_no_answer() -> None:
    assert error_text(403, "User not found") == "403 User not found"
    assert error_text(None, "ReadTimeout") == "no answer: ReadTimeout"
    assert error_text(500, "") == "500"
    assert error_text(401, "Bearer abc.def expired") == "401 Bearer [secure] expired"


def test_an_old_report_without_statuses_shows_the_error_classes() -> None:
    old = EndpointSnapshot("checkin", 3, {"ApiUnavailable": 2}, Histogram().summary())
    assert endpoint_errors_line(old) == "checkin 2 errors: ApiUnavailable (2)"
    new = EndpointSnapshot(
        "checkin", 3, {"RejectedError": 2}, Histogram().summary(),
        errors_by_status={"400": 2}, top_messages=(MessageCount("Task not found", 2),),
    )  # fmt: skip
    assert endpoint_errors_line(new) == 'checkin 2 errors: 400 (2); "Task not found" (2)'


def test_report_json_lists_the_failed_orders_masked() -> None:
    doc = json.loads(render_json(failed_report()))
    assert doc["failed_orders_total"] == 2
    first, second = doc["failed_orders"]
    assert first == {
        "order_id": 9,
        "external_id": "da-42-x-00009",
        "driver_id": "d-2",
        "stage_reached": "checked in at the pickup",
        "error_endpoint": "checkin",
        "error_status": 400,
        "error_message": "Task already started Bearer [secure]",
        "simulated_failed_at": "2023-11-14T22:14:40.000+00:00",
    }
    assert (second["order_id"], second["stage_reached"]) == (11, "before start")
    assert (second["error_status"], second["error_message"]) == (None, "ReadTimeout")
    checkin = next(e for e in doc["stats"]["endpoints"] if e["endpoint"] == "checkin")
    assert checkin["errors_by_status"] == {"400": 1, "403": 3}
    assert checkin["top_messages"][0] == {"message": "User not found", "count": 3}
    assert "abc.def" not in render_json(failed_report())


def test_the_list_of_failed_orders_is_bounded() -> None:
    orders = [OrderRecord(n, "d", "failed", {}, 0) for n in range(MAX_FAILED_LISTED + 3)]
    assert len(failed_order_rows(orders)) == MAX_FAILED_LISTED


def test_the_summary_shows_status_and_message_and_the_failed_orders() -> None:
    summary = render_summary(failed_report())
    lines = summary.splitlines()
    assert (
        'errors   checkin 4 errors: 403 (3), 400 (1); "User not found" (3), '
        '"Task already started Bearer [secure]" (1)'
    ) in lines
    assert 'errors   checkout 1 error: no answer (1); "ReadTimeout" (1)' in lines
    assert (
        "failed   order 9 (d-2) checked in at the pickup: "
        "checkin 400 Task already started Bearer [secure]"
    ) in lines
    assert "failed   order 11 (d-3) before start: checkout no answer: ReadTimeout" in lines
    assert "abc.def" not in summary


def test_the_summary_lists_only_the_first_failed_orders() -> None:
    report = failed_report()
    orders = [OrderRecord(n, "d", "failed", {}, 0) for n in range(MAX_FAILED_SHOWN + 4)]
    summary = render_summary(dataclasses.replace(report, orders=orders))
    assert summary.count("failed   order ") == MAX_FAILED_SHOWN
    assert "failed   ... 4 more in report.json" in summary


def test_report_html_has_the_failed_orders_table() -> None:
    page = render_html(failed_report(), tile_url=None)
    assert '<table class="failed-orders">' in page
    assert "<td>checked in at the pickup</td>" in page
    assert "checkin 400 Task already started Bearer [secure]" in page
    assert '<div class="small">da-42-x-00009</div>' in page
    assert "abc.def" not in page
    assert "403 ×3 · 400 ×1" in page

"""Exports: requests.csv in Locust's columns, junit.xml per threshold, the summary line, modes."""

from __future__ import annotations

import csv
import io
import json
import os
import stat
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from sample_reports import empty_report, sample_report

from driver_agent.report.document import write_report
from driver_agent.report.exports import (
    LOCUST_COLUMNS,
    junit_xml,
    requests_csv,
    summary_line,
    write_exports,
)


def test_requests_csv_has_locusts_columns_a_row_per_endpoint_and_the_aggregate() -> None:
    report = sample_report()
    rows = list(csv.DictReader(io.StringIO(requests_csv(report.stats))))
    assert tuple(rows[0]) == LOCUST_COLUMNS
    by_name = {row["Name"]: row for row in rows}
    assert list(by_name) == ["checkin", "update_driver_location", "Aggregated"]
    location = by_name["update_driver_location"]
    assert (location["Type"], location["Request Count"], location["Failure Count"]) == (
        "POST", "400", "4",
    )  # fmt: skip
    assert 20.0 <= float(location["Min Response Time"]) <= float(location["50%"])
    assert float(location["50%"]) <= float(location["95%"]) <= float(location["100%"]) <= 60.0
    # 420 calls between the first (t=0) and the last (t=49.875 s): rates per real second
    window = 49.875
    assert float(location["Requests/s"]) == pytest.approx(400 / window, abs=0.01)
    total = by_name["Aggregated"]
    assert (total["Request Count"], total["Failure Count"]) == ("420", "4")
    assert float(total["Max Response Time"]) == float(by_name["checkin"]["100%"])
    assert total["50%"] == ""  # no run-wide histogram: left empty rather than made up


def test_requests_csv_of_an_empty_run_has_only_the_aggregate() -> None:
    rows = list(csv.DictReader(io.StringIO(requests_csv(empty_report().stats))))
    assert [row["Name"] for row in rows] == ["Aggregated"]
    assert rows[0]["Request Count"] == "0"


def test_junit_has_a_test_case_per_threshold_and_the_failures() -> None:
    report = sample_report()
    root = ET.fromstring(junit_xml(report))
    suite = root.find("testsuite")
    assert suite is not None
    cases = suite.findall("testcase")
    assert [c.get("name") for c in cases] == [r.expr for r in report.thresholds]
    failed = [c for c in cases if c.find("failure") is not None]
    assert (
        len(failed)
        == sum(not r.passed for r in report.thresholds)
        == int(suite.get("failures", ""))
    )
    assert failed
    message = failed[0].find("failure").get("message")  # type: ignore[union-attr]
    assert message is not None
    assert message.startswith(failed[0].get("name", "") + ": actual")


def test_the_summary_line_is_one_json_object() -> None:
    report = sample_report()
    line = summary_line(report, 1, Path("/tmp/r"))
    assert "\n" not in line
    data = json.loads(line)
    assert data["passed"] is report.passed
    assert data["exit_code"] == 1
    assert data["requests"] == 420
    assert data["errors"] == 4
    assert data["orders"] == {"cancelled": 1, "completed": 2}
    assert [t["expr"] for t in data["thresholds"]] == [r.expr for r in report.thresholds]
    assert data["report_dir"] == "/tmp/r"


def test_report_files_are_readable_as_ordinary_files(tmp_path: Path) -> None:
    old = os.umask(0o022)
    try:
        json_path, html_path = write_report(sample_report(), tmp_path / "r")
        orders_csv = json_path.parent / "orders.csv"  # write_report writes it too
        paths = [json_path, html_path, orders_csv, *write_exports(sample_report(), tmp_path / "r")]
    finally:
        os.umask(old)
    for path in paths:
        assert stat.S_IMODE(path.stat().st_mode) == 0o644, path
    assert sorted(p.name for p in (tmp_path / "r").iterdir()) == sorted(p.name for p in paths)

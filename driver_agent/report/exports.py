"""Exports other tools read: requests.csv (Locust's stats columns), junit.xml, a summary line.

- `requests.csv`: one row per endpoint and an `Aggregated` row, with the column names of
  Locust's `--csv` stats file that we can fill honestly: Type, Name, Request Count, Failure
  Count, Median / Average / Min / Max Response Time (ms), Requests/s, Failures/s, 50%, 90%, 95%,
  99%, 100%. Rates are per real second over the window in which calls were made. The
  `Aggregated` row's percentiles are left empty: the run keeps a histogram per endpoint, not one
  for all calls, and a percentile cannot be summed (its count, failures, min, mean and max are
  exact).
- `junit.xml`: each threshold a test case (failed ones with the actual value), so CI systems
  show them next to unit tests.
- `summary_line`: one JSON object on one line, for scripts (`--summary-json`).
"""

from __future__ import annotations

import csv
import io
import json
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

from driver_agent.metrics.stats_snapshot import StatsSnapshot
from driver_agent.metrics.thresholds import run_latency_ms
from driver_agent.report.files import write_atomically
from driver_agent.report.run import RunReport

LOCUST_COLUMNS = (
    "Type", "Name", "Request Count", "Failure Count", "Median Response Time",
    "Average Response Time", "Min Response Time", "Max Response Time", "Requests/s",
    "Failures/s", "50%", "90%", "95%", "99%", "100%",
)  # fmt: skip


def write_exports(report: RunReport, directory: Path) -> tuple[Path, Path]:
    """requests.csv and junit.xml next to report.json; returns their paths."""
    directory.mkdir(parents=True, exist_ok=True)
    requests_path, junit_path = directory / "requests.csv", directory / "junit.xml"
    write_atomically(requests_path, requests_csv(report.stats))
    write_atomically(junit_path, junit_xml(report))
    return requests_path, junit_path


def calls_window_s(stats: StatsSnapshot) -> float:
    """Real seconds from the first call to the last (at least 1 ms, so rates stay finite)."""
    return max(0.001, stats.totals.last_at_s - stats.totals.first_at_s)


def requests_csv(stats: StatsSnapshot) -> str:
    window = calls_window_s(stats)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(LOCUST_COLUMNS)
    count = errors = 0
    weighted_mean = 0.0
    lowest, highest = float("inf"), 0.0
    for ep in sorted(stats.endpoints, key=lambda e: e.endpoint):
        s = ep.latency_ms
        writer.writerow(
            ["POST", ep.endpoint, ep.count, ep.error_count, _ms(s.p50), _ms(s.mean),
             _ms(s.min), _ms(s.max), _rate(ep.count, window), _rate(ep.error_count, window),
             _ms(s.p50), _ms(s.p90), _ms(s.p95), _ms(s.p99), _ms(s.max)]
        )  # fmt: skip
        if ep.count:
            count += ep.count
            errors += ep.error_count
            weighted_mean += s.mean * ep.count
            lowest, highest = min(lowest, s.min), max(highest, s.max)
    mean = weighted_mean / count if count else 0.0
    writer.writerow(
        ["", "Aggregated", count, errors, "", _ms(mean), _ms(lowest if count else 0.0),
         _ms(highest), _rate(count, window), _rate(errors, window), "", "", "", "", ""]
    )  # fmt: skip
    return out.getvalue()


def junit_xml(report: RunReport) -> str:
    results = report.thresholds
    failures = sum(not r.passed for r in results)
    suites = ET.Element("testsuites", name="driver-agent", tests=str(len(results)))
    suite = ET.SubElement(
        suites,
        "testsuite",
        name="driver-agent thresholds",
        tests=str(len(results)),
        failures=str(failures),
        errors="0",
        time=f"{report.duration_s:.3f}",
    )
    for result in results:
        case = ET.SubElement(suite, "testcase", classname="thresholds", name=result.expr)
        if not result.passed:
            actual = "no data" if result.actual is None else f"{result.actual:g}"
            failure = ET.SubElement(
                case, "failure", message=f"{result.expr}: actual {actual}", type="threshold"
            )
            failure.text = f"metric {result.metric} = {actual}, limit {result.op} {result.limit:g}"
    ET.indent(suites)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(suites, "unicode") + "\n"


def summary_line(report: RunReport, exit_code: int, report_dir: Path) -> str:
    """The run in one JSON line: verdict, orders, requests, latency, thresholds, where the files
    are."""
    stats = report.stats
    totals = stats.totals
    latency = run_latency_ms(stats)
    summary: dict[str, Any] = {
        "passed": report.passed,
        "exit_code": exit_code,
        "mode": report.mode,
        "seed": report.seed,
        "orders": dict(sorted(totals.orders.items())),
        "requests": totals.calls,
        "errors": totals.errors,
        "requests_per_s": round(totals.calls / calls_window_s(stats), 2) if totals.calls else 0.0,
        "p95_ms": latency["p95"],
        "max_ping_gap_s": totals.max_gap_s,
        "thresholds": [
            {"expr": r.expr, "passed": r.passed, "actual": r.actual} for r in report.thresholds
        ],
        "report_dir": str(report_dir),
    }
    return json.dumps(summary, separators=(",", ":"), allow_nan=False)


def _ms(value: float) -> str:
    return f"{value:.1f}"


def _rate(count: int, window_s: float) -> str:
    return f"{count / window_s:.2f}"

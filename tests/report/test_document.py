"""Tests for driver_agent.report.document (and page, chart): JSON, summary table, HTML, masking."""

from __future__ import annotations

import html
import json
import re
from typing import TYPE_CHECKING, Any

import pytest

from driver_agent.core.model import Secret
from driver_agent.metrics.stats import GivenUpOrder, StatsCollector
from driver_agent.metrics.stats_snapshot import StatsSnapshot
from driver_agent.metrics.thresholds import (
    OrderCounts,
    evaluate,
    metrics_from_stats,
    parse_thresholds,
)
from driver_agent.report.document import (
    EventKind,
    MapEvent,
    RunReport,
    downsample_tracks,
    mask_config,
    render_html,
    render_json,
    render_summary,
    report_dict,
    summary_from_stats,
    thin_events,
    write_report,
)

if TYPE_CHECKING:
    from pathlib import Path

T0_MS = 1_700_000_000_000
EVIL = "<script>alert('x')</script>"


def _stats(drivers: tuple[str, ...] = ("d-1", "d-2")) -> dict[str, Any]:
    """A small run through the real StatsCollector."""
    stats = StatsCollector(bucket_s=5.0)
    for i in range(400):
        error = "ApiUnavailable" if i % 100 == 0 else None
        stats.record_call("update_driver_location", 20.0 + i % 40, error, at_s=i / 8)
    for i in range(20):
        stats.record_call("checkin", 100.0 + i * 10, None, at_s=i * 2.5)
    for n, driver in enumerate(drivers):
        stats.driver_busy(driver, True, at_ms=T0_MS)
        step_ms = 10_000 + n * 25_000  # the second driver pings every 35 s: too slow
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
    return stats.statistics().to_dict()


def _report(**changes: Any) -> RunReport:
    stats = changes.pop("stats", None) or _stats()
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


# ----------------------------------------------------------------------------- JSON


def test_json_round_trips_and_holds_per_endpoint_percentiles() -> None:
    report = _report()
    doc = json.loads(render_json(report))
    assert doc == json.loads(json.dumps(report_dict(report)))
    endpoints = {ep["endpoint"]: ep for ep in doc["stats"]["endpoints"]}
    assert set(endpoints) == {"checkin", "update_driver_location"}
    checkin = endpoints["checkin"]["latency_ms"]
    assert checkin["count"] == 20
    assert checkin["p50"] == pytest.approx(190.0, rel=0.01)  # the 10th of 100, 110 .. 290
    assert checkin["max"] == pytest.approx(290.0)
    assert endpoints["update_driver_location"]["errors"] == {"ApiUnavailable": 4}
    assert doc["totals"]["requests"] == 420
    assert doc["totals"]["errors"] == 4
    assert doc["totals"]["orders_total"] == 3
    assert doc["totals"]["orders_done"] == 2
    assert doc["totals"]["orders_cancelled"] == 1
    assert doc["seed"] == 42
    assert doc["mode"] == "embedded"
    assert doc["started_at"] == "2023-11-14T22:13:20.000+00:00"
    assert doc["duration_s"] == 95.5
    assert doc["events_by_kind"] == {"pickup": 1, "dropoff": 1, "cancel": 1}
    assert doc["versions"]["driver-agent"] == "0.1.0"


def test_json_lists_threshold_results_and_the_overall_verdict() -> None:
    doc = json.loads(render_json(_report()))
    verdicts = {t["expr"]: t["passed"] for t in doc["thresholds"]}
    assert verdicts == {
        "p95_ms < 800": True,
        "max_ping_gap_s <= 30": False,
        "error_rate < 0.01": True,
    }
    max_gap = next(t for t in doc["thresholds"] if t["metric"] == "max_ping_gap_s")
    assert max_gap["actual"] == pytest.approx(35.0)
    assert doc["passed"] is False


def test_json_of_a_run_without_thresholds_passes() -> None:
    doc = json.loads(render_json(_report(thresholds=())))
    assert doc["passed"] is True
    assert doc["thresholds"] == []


# ----------------------------------------------------------------------------- secrets


@pytest.mark.parametrize(
    ("config", "expected"),
    [
        ({"client_secret": Secret("abc")}, {"client_secret": "[secure]"}),
        ({"client_secret": "plain"}, {"client_secret": "[secure]"}),
        ({"Authorization": "Bearer abc"}, {"Authorization": "[secure]"}),
        ({"headers": {"X-Api-Key": "k"}}, {"headers": {"X-Api-Key": "[secure]"}}),
        ({"api_key": 12345}, {"api_key": "[secure]"}),
        ({"db": {"password": "pw"}}, {"db": {"password": "[secure]"}}),
        ({"access_token": ["a", "b"]}, {"access_token": "[secure]"}),
        ({"token_refresh_margin_s": 60.0}, {"token_refresh_margin_s": 60.0}),
        ({"client_secret": ""}, {"client_secret": ""}),
        ({"nested": [Secret("x"), "y"]}, {"nested": ["[secure]", "y"]}),
        ({"url": "https://bob:pw@example.com/x"}, {"url": "https://[secure]@example.com/x"}),
        ({"api_url": "http://127.0.0.1:9/a"}, {"api_url": "http://127.0.0.1:9/a"}),
        ({"drivers": 5, "speed": 1.5, "on": True}, {"drivers": 5, "speed": 1.5, "on": True}),
    ],
)
def test_mask_config_hides_secrets_and_keeps_the_rest(
    config: dict[str, Any], expected: dict[str, Any]
) -> None:
    assert mask_config(config) == expected


def test_no_output_shows_a_secret_even_when_the_caller_forgot_to_mask() -> None:
    report = _report(
        config={
            "api": {"client_secret": Secret("hunter2-secret"), "token": "tok-hunter2"},
            "webhooks": {"password": "pw-hunter2"},
        }
    )
    for text in (render_json(report), render_html(report, tile_url=None), render_summary(report)):
        assert "hunter2" not in text
    assert "[secure]" in render_json(report)


# ----------------------------------------------------------------------------- summary


def test_summary_lists_totals_endpoints_worst_gap_and_failed_thresholds() -> None:
    summary = render_summary(_report())
    assert "mode embedded, seed 42, 95.5 s" in summary
    assert "orders   2/3 done, 1 cancelled, 0 failed; drivers 2" in summary
    assert "requests 420, errors 4 (0.95%)" in summary
    assert "ping gap worst 35.0 s (d-2), 5 gap(s) over 30 s" in summary
    row = next(line for line in summary.splitlines() if line.startswith("checkin"))
    assert row.split() == ["checkin", "20", "0", "191", "278", "289", "290"]
    assert re.search(r"FAIL\s+max_ping_gap_s <= 30\s+actual 35\b", summary)
    assert re.search(r"PASS\s+p95_ms < 800", summary)
    assert "1 of 3 threshold(s) failed" in summary


def test_summary_of_a_passing_run_says_all_thresholds_passed() -> None:
    stats = _stats(drivers=("d-1",))
    report = _report(stats=stats)
    assert report.passed
    assert "all 3 threshold(s) passed" in render_summary(report)
    assert "FAIL" not in render_summary(report)


def test_summary_of_an_empty_run_shows_dashes_not_errors() -> None:
    stats = StatsCollector().statistics().to_dict()
    report = RunReport(stats=stats, summary=summary_from_stats(stats))
    summary = render_summary(report)
    assert "requests 0, errors 0 (-)" in summary
    assert "ping gap -" in summary


# ----------------------------------------------------------------------------- HTML


def _data_block(page: str) -> dict[str, Any]:
    match = re.search(
        r'<script type="application/json" id="report-data">(.*?)</script>', page, re.S
    )
    assert match is not None
    data: dict[str, Any] = json.loads(match.group(1))
    return data


def test_html_is_self_contained_and_carries_the_map_data() -> None:
    page = render_html(_report(), tile_url=None)
    assert page.startswith("<!DOCTYPE html>")
    assert not re.search(r"<(script|link)[^>]+(src|href)=", page)
    assert "sourceMappingURL" not in page
    assert "window.L" in page or "L.map" in page  # Leaflet and our map script are inlined
    data = _data_block(page)
    assert data["tiles"] is None
    assert [t["id"] for t in data["tracks"]] == ["d-1", "d-2"]
    assert len(data["tracks"][0]["p"]) == 50
    assert [e["k"] for e in data["events"]] == ["pickup", "dropoff", "cancel"]


def test_html_shows_cards_tables_and_charts() -> None:
    page = render_html(_report(), tile_url=None)
    for text in ("Orders done", "2 / 3", "Worst ping gap", "35.0 s", "Thresholds", "FAIL"):
        assert text in page
    assert "<code>update_driver_location</code>" in page
    assert "ApiUnavailable 4" in page
    assert page.count('class="series"') == 4  # p50, p95, requests, errors
    assert page.count('class="bar"') == 6  # 3 stages x p50, p95
    assert "start → pickup check-in" in page
    assert "no data" not in page


def test_html_of_an_empty_run_renders_placeholders() -> None:
    stats = StatsCollector().statistics().to_dict()
    page = render_html(RunReport(stats=stats, summary=summary_from_stats(stats)), tile_url=None)
    assert page.count(">no data</text>") == 3
    assert "No requests were made." in page
    assert _data_block(page)["tracks"] == []


def test_html_escapes_every_string_from_the_run() -> None:
    stats = _stats(drivers=(EVIL,))
    report = _report(
        stats=stats,
        mode=EVIL,
        tracks={EVIL: [(1.0, 2.0), (1.1, 2.1)]},
        events=[MapEvent(EventKind.CHECKIN, 1.0, 2.0, EVIL, 1)],
        config={"note": EVIL},
        versions={"x": EVIL},
    )
    page = render_html(report, tile_url=None)
    assert EVIL not in page
    assert "<script>alert" not in page
    assert html.escape(EVIL) in page
    data = _data_block(page)  # the JSON block decodes back to the original strings
    assert data["tracks"][0]["id"] == EVIL
    assert data["events"][0]["d"] == EVIL


def test_html_offers_openstreetmap_tiles_by_default() -> None:
    data = _data_block(render_html(_report()))
    assert data["tiles"] == "https://tile.openstreetmap.org/{z}/{x}/{y}.png"


# ----------------------------------------------------------------------------- size limits


def test_downsample_caps_total_points_and_keeps_track_ends() -> None:
    tracks = {
        f"d-{n}": [(40.0 + k * 1e-4 * (n + 1), -73.0 + k * 1e-4) for k in range(5_000)]
        for n in range(10)
    }
    out = downsample_tracks(tracks, max_points=2_000)
    assert sum(len(points) for points in out.values()) <= 2_000
    for driver, points in out.items():
        assert len(points) >= 2
        assert points[0] == (round(tracks[driver][0][0], 5), round(tracks[driver][0][1], 5))
        assert points[-1] == (round(tracks[driver][-1][0], 5), round(tracks[driver][-1][1], 5))


def test_downsample_drops_repeated_points_first() -> None:
    out = downsample_tracks({"d": [(1.0, 2.0)] * 100 + [(1.5, 2.5)]}, max_points=10)
    assert out == {"d": [(1.0, 2.0), (1.5, 2.5)]}


def test_thin_events_keeps_every_cancellation() -> None:
    events = [MapEvent(EventKind.CHECKIN, 1.0, 2.0, "d", i) for i in range(1_000)]
    events += [MapEvent(EventKind.CANCEL, 1.0, 2.0, "d", i) for i in range(30)]
    thinned = thin_events(events, max_events=100)
    assert len(thinned) == 100
    assert sum(e.kind is EventKind.CANCEL for e in thinned) == 30


def test_the_summary_takes_an_order_count_override() -> None:
    stats = _stats()
    summary = summary_from_stats(stats, orders_total=10)
    snapshot = StatsSnapshot.from_dict(stats)
    assert summary.totals == snapshot.totals  # the snapshot's own totals, not a copy of them
    assert summary.resilience == snapshot.resilience
    assert summary.orders == OrderCounts(total=3, completed=2, cancelled=1, failed=0)
    assert (summary.orders_total, summary.drivers, summary.relocations) == (10, 2, 0)
    assert (summary.totals.calls, summary.totals.errors) == (420, 4)
    assert summary.error_rate == pytest.approx(4 / 420)


# ----------------------------------------------------------------------------- files


def test_write_report_creates_the_directory_and_both_files(tmp_path: Path) -> None:
    directory = tmp_path / "nested" / "driver-agent-report"
    json_path, html_path = write_report(_report(), directory)
    assert (json_path, html_path) == (directory / "report.json", directory / "report.html")
    assert json.loads(json_path.read_text(encoding="utf-8"))["seed"] == 42
    assert html_path.read_text(encoding="utf-8").startswith("<!DOCTYPE html>")
    assert sorted(p.name for p in directory.iterdir()) == ["report.html", "report.json"]


def test_write_report_replaces_an_older_report(tmp_path: Path) -> None:
    write_report(_report(seed=1), tmp_path)
    json_path, _ = write_report(_report(seed=2), tmp_path)
    assert json.loads(json_path.read_text(encoding="utf-8"))["seed"] == 2
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report.html", "report.json"]


def test_summary_has_an_all_row_only_when_the_snapshot_has_run_wide_latency() -> None:
    stats = _stats()
    assert not any(line.startswith("all ") for line in render_summary(_report()).splitlines())
    stats["totals"]["latency_ms"] = {"p50": 21.0, "p95": 57.0, "p99": 250.0, "max": 290.0}
    summary = render_summary(_report(stats=stats))
    row = next(line for line in summary.splitlines() if line.startswith("all "))
    assert row.split() == ["all", "420", "4", "21.0", "57.0", "250", "290"]


# ----------------------------------------------------------------------------- API trouble


def _outage_report() -> RunReport:
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
    data = stats.statistics().to_dict()
    return _report(stats=data, summary=summary_from_stats(data))


def test_an_outage_shows_as_retries_and_given_up_orders_with_their_last_error() -> None:
    report = _outage_report()
    doc = report_dict(report)
    assert {k: doc["totals"][k] for k in ("retries", "reconciled_retries", "orders_given_up")} == {
        "retries": 7,
        "reconciled_retries": 1,
        "orders_given_up": 1,
    }
    assert (doc["totals"]["queued_calls"], doc["totals"]["thinned_locations"]) == (2, 3)
    assert doc["totals"]["cancelled_after_give_up"] == 1
    summary = render_summary(report)
    assert (
        "outages  retries 7 (1 reconciled); queued 2 calls, 1 locations (3 thinned); "
        "given up 1 (1 cancelled)"
    ) in summary
    assert "given up order 77 (d-9): checkout -> 400: Can not checkout [refused]" in summary
    page = render_html(report, tile_url=None)
    assert "Retries" in page
    assert "1 reconciled, 2 calls queued, 1 orders given up" in page


def test_a_run_without_trouble_has_no_outage_line() -> None:
    assert "outages" not in render_summary(_report())


def test_report_json_lists_given_up_orders_with_their_fields_in_order() -> None:
    resilience = json.loads(render_json(_outage_report()))["stats"]["resilience"]
    assert resilience["retries_by_endpoint"] == {"checkin": 7}
    [given_up] = resilience["given_up_orders"]
    assert list(given_up.items()) == [
        ("driver_id", "d-9"),
        ("task_id", 77),
        ("endpoint", "checkout"),
        ("status", 400),
        ("message", "Can not checkout"),
        ("reason", "refused"),
    ]
    assert list(resilience)[-1] == "given_up_orders"

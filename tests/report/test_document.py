"""report.json: the document's fields and values, masking, the map data's limits, the files."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import pytest
from sample_reports import empty_report, outage_report, sample_report, sample_stats

from driver_agent.core.model import Secret
from driver_agent.metrics.stats_snapshot import StatsSnapshot
from driver_agent.report.document import (
    as_shown,
    downsample_tracks,
    mask_config,
    render_html,
    render_json,
    report_dict,
    thin_events,
    write_report,
)
from driver_agent.report.run import EventKind, MapEvent
from driver_agent.report.summary import render_summary

if TYPE_CHECKING:
    from pathlib import Path


# ----------------------------------------------------------------------------- JSON


def test_json_round_trips_and_holds_per_endpoint_percentiles() -> None:
    report = sample_report()
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
    assert doc["started_at"] == "2027-01-15T08:00:00.000+00:00"  # the wall clock
    assert doc["ended_at"] == "2027-01-15T08:00:47.750+00:00"
    assert doc["duration_s"] == 47.75  # real
    assert doc["simulated_started_at"] == "2023-11-14T22:13:20.000+00:00"
    assert (doc["simulated_duration_s"], doc["speed"]) == (95.5, 2.0)
    assert doc["requests_per_s"] == pytest.approx(420 / 47.75)
    assert (doc["failed_orders"], doc["failed_orders_total"]) == ([], 0)
    assert doc["events_by_kind"] == {"pickup": 1, "dropoff": 1, "cancel": 1}
    assert doc["versions"]["driver-agent"] == "0.1.0"


def test_the_json_stats_are_the_snapshot_and_read_back_as_it() -> None:
    report = sample_report()
    doc = json.loads(render_json(report))
    assert doc["stats"] == json.loads(json.dumps(report.stats.to_dict()))
    assert StatsSnapshot.from_dict(doc["stats"]) == report.stats


def test_json_lists_threshold_results_and_the_overall_verdict() -> None:
    doc = json.loads(render_json(sample_report()))
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
    doc = json.loads(render_json(sample_report(thresholds=())))
    assert doc["passed"] is True
    assert doc["thresholds"] == []


def test_json_of_an_empty_run_has_no_times_and_zero_totals() -> None:
    doc = json.loads(render_json(empty_report()))
    assert (doc["started_at"], doc["ended_at"], doc["duration_s"]) == (None, None, 0.0)
    assert (doc["simulated_started_at"], doc["requests_per_s"]) == (None, None)
    assert doc["totals"]["requests"] == 0
    assert doc["totals"]["error_rate"] is None
    assert doc["stats"]["endpoints"] == []


def test_an_outage_shows_in_the_json_totals() -> None:
    doc = report_dict(outage_report())
    assert {k: doc["totals"][k] for k in ("retries", "reconciled_retries", "orders_given_up")} == {
        "retries": 7,
        "reconciled_retries": 1,
        "orders_given_up": 1,
    }
    assert (doc["totals"]["queued_calls"], doc["totals"]["thinned_locations"]) == (2, 3)
    assert doc["totals"]["cancelled_after_give_up"] == 1


def test_report_json_lists_given_up_orders_with_their_fields_in_order() -> None:
    resilience = json.loads(render_json(outage_report()))["stats"]["resilience"]
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
    report = sample_report(
        config={
            "api": {"client_secret": Secret("hunter2-secret"), "token": "tok-hunter2"},
            "webhooks": {"password": "pw-hunter2"},
        }
    )
    for text in (render_json(report), render_html(report, tile_url=None), render_summary(report)):
        assert "hunter2" not in text
    assert "[secure]" in render_json(report)


def test_the_page_shows_the_statistics_masked_as_report_json_holds_them() -> None:
    leaky = "Bearer abc.def-hunter2"
    report = sample_report(stats=sample_stats(drivers=(f"d-1 {leaky}",)))
    shown = as_shown(report)
    assert [d.driver_id for d in shown.stats.drivers] == ["d-1 Bearer [secure]"]
    assert shown.stats.endpoints == report.stats.endpoints
    assert shown.config == {"api": {"api_url": "http://127.0.0.1:9", "client_secret": "[secure]"}}
    assert "hunter2" not in render_json(report)
    assert "hunter2" not in render_html(report, tile_url=None)


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


# ----------------------------------------------------------------------------- files


def test_write_report_creates_the_directory_and_both_files(tmp_path: Path) -> None:
    directory = tmp_path / "nested" / "driver-agent-report"
    json_path, html_path = write_report(sample_report(), directory)
    assert (json_path, html_path) == (directory / "report.json", directory / "report.html")
    assert json.loads(json_path.read_text(encoding="utf-8"))["seed"] == 42
    assert html_path.read_text(encoding="utf-8").startswith("<!DOCTYPE html>")
    assert sorted(p.name for p in directory.iterdir()) == [
        "orders.csv",
        "report.html",
        "report.json",
    ]


def test_write_report_replaces_an_older_report(tmp_path: Path) -> None:
    write_report(sample_report(seed=1), tmp_path)
    json_path, _ = write_report(sample_report(seed=2), tmp_path)
    assert json.loads(json_path.read_text(encoding="utf-8"))["seed"] == 2
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "orders.csv",
        "report.html",
        "report.json",
    ]

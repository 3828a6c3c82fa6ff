"""report.html in headless Chromium: the map draws tracks and stops offline, the charts draw.

Needs Debian's `chromium` package. Skipped when it is missing, except in CI (`CI` set), where the
missing browser is a failure.
"""

from __future__ import annotations

import math
import os
import re
import shutil
import subprocess
from typing import TYPE_CHECKING

import pytest

from driver_agent.metrics.stats import StatsCollector
from driver_agent.metrics.thresholds import evaluate, metrics_from_stats, parse_thresholds
from driver_agent.report.document import render_html
from driver_agent.report.run import EventKind, MapEvent, RunReport, summary_from_stats

if TYPE_CHECKING:
    from pathlib import Path

T0_MS = 1_700_000_000_000
DRIVERS = ("d-1", "d-2", "d-3")
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
    "--virtual-time-budget=5000",
)


@pytest.fixture(scope="module")
def chromium() -> str:
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if path is None:
        if os.environ.get("CI"):
            pytest.fail("chromium is not installed (apt-get install -y chromium)")
        pytest.skip("chromium is not installed")
    return path


class _Bytes:
    bytes_sent = 0
    bytes_received = 0


def _report() -> RunReport:
    stats, counter = StatsCollector(bucket_s=2.0), _Bytes()
    stats.count_bytes(counter)
    for i in range(600):
        endpoint = "update_driver_location" if i % 10 else "checkin"
        counter.bytes_sent += 180
        counter.bytes_received += 40
        if i % 97:
            stats.record_call(endpoint, 15.0 + (i * 7) % 60, None, at_s=i / 10)
        else:
            stats.record_call(
                endpoint, 15.0, "ForbiddenError", i / 10, 403, "User not found", order_id=500
            )
        if i % 150 == 0:
            stats.driver_busy(f"busy-{i}", True, at_ms=T0_MS)
    tracks: dict[str, list[tuple[float, float]]] = {}
    events: list[MapEvent] = []
    for n, driver in enumerate(DRIVERS):
        stats.driver_busy(driver, True, at_ms=T0_MS)
        for k in range(1, 11):
            stats.record_ping(driver, T0_MS + k * 10_000, lateness_ms=1.0)
        stats.driver_busy(driver, False, at_ms=T0_MS + 100_000)
        stats.record_order(
            driver, "completed", {"assign_to_start": 4.0 + n, "end_to_end": 600.0}, 3_000.0
        )
        points = [
            (52.52 + 0.01 * n + k * 2e-4, 13.40 + 3e-3 * math.sin(k / 15) + k * 1e-4)
            for k in range(200)
        ]
        tracks[driver] = points
        events += [
            MapEvent(EventKind.PICKUP, *points[10], driver, 100 + n, T0_MS),
            MapEvent(EventKind.CHECKIN, *points[11], driver, 100 + n, T0_MS + 60_000),
            MapEvent(EventKind.CHECKOUT, *points[12], driver, 100 + n, T0_MS + 120_000),
            MapEvent(EventKind.DROPOFF, *points[190], driver, 100 + n, T0_MS + 900_000),
        ]
    events.append(MapEvent(EventKind.CANCEL, *tracks["d-2"][100], "d-2", 999))
    events.append(MapEvent(EventKind.RELOCATION, *tracks["d-3"][50], "d-3", None))
    stats.record_order(
        "d-2", "failed", {"assign_to_start": 3.0}, 0.0, order_id=500, ended_at_ms=T0_MS + 5_000
    )
    snapshot = stats.statistics()
    orders, _ = stats.order_rows()
    return RunReport(
        orders=orders,
        real_started_at_ms=T0_MS,
        real_ended_at_ms=T0_MS + 60_000,
        stats=snapshot,
        summary=summary_from_stats(snapshot),
        seed=7,
        started_at_ms=T0_MS,
        ended_at_ms=T0_MS + 60_000,
        tracks=tracks,
        events=events,
        # two streets under the first track: the map draws them with no tile server
        roads=[tuple(tracks["d-1"][:100]), tuple(tracks["d-1"][100:])],
        thresholds=evaluate(
            parse_thresholds(["p95_ms < 800", "max_ping_gap_s <= 30"]),
            metrics_from_stats(snapshot),
        ),
        versions={"driver-agent": "test"},
    )


def _chromium(chromium: str, profile: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [chromium, *FLAGS, f"--user-data-dir={profile}", *args],
        capture_output=True,
        text=True,
        timeout=90,
        check=True,
    )


@pytest.fixture(scope="module")
def page(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("report") / "report.html"
    path.write_text(render_html(_report(), tile_url=None), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def dom(chromium: str, page: Path, tmp_path_factory: pytest.TempPathFactory) -> str:
    """The DOM after the page's scripts ran."""
    profile = tmp_path_factory.mktemp("profile")
    return _chromium(chromium, profile, "--dump-dom", page.as_uri()).stdout


def _overlay_paths(dom: str) -> list[tuple[str, str]]:
    """(class, d) of every SVG path in Leaflet's overlay pane."""
    start = dom.index('class="leaflet-pane leaflet-overlay-pane"')
    end = dom.index('class="leaflet-pane leaflet-shadow-pane"', start)
    return re.findall(r'<path class="([^"]*)"[^>]* d="([^"]*)"', dom[start:end])


def test_map_script_ran_and_counted_the_tracks_and_events(dom: str) -> None:
    assert 'data-tracks="3"' in dom
    assert 'data-events="14"' in dom
    assert re.search(r'<div id="map"[^>]* class="[^"]*leaflet-container', dom)


def test_map_draws_the_streets_offline_under_the_tracks(dom: str) -> None:
    assert 'data-roads="2"' in dom
    paths = _overlay_paths(dom)
    roads = [i for i, (cls, d) in enumerate(paths) if cls.split()[0] == "road" and "L" in d]
    tracks = [i for i, (cls, _d) in enumerate(paths) if cls.split()[0] == "track"]
    assert len(roads) == 2
    assert max(roads) < min(tracks)  # drawn first, so under the tracks


def test_map_draws_one_visible_polyline_per_driver_track(dom: str) -> None:
    tracks = [d for cls, d in _overlay_paths(dom) if cls.split()[0] == "track"]
    assert len(tracks) == len(DRIVERS)
    for d in tracks:  # a drawn line, not Leaflet's empty "M0 0"
        assert d.count("L") >= 10


@pytest.mark.parametrize(
    ("kind", "count"),
    [("pickup", 3), ("dropoff", 3), ("checkin", 3), ("checkout", 3), ("cancel", 1)],
)
def test_map_draws_a_circle_marker_per_event(dom: str, kind: str, count: int) -> None:
    markers = [d for cls, d in _overlay_paths(dom) if f"event-{kind}" in cls.split()]
    assert len(markers) == count
    assert all(d.startswith("M") and "a" in d for d in markers)  # circles are SVG arcs


def test_map_has_no_tile_layer_when_tiles_are_off(dom: str) -> None:
    assert 'class="leaflet-pane leaflet-tile-pane"' in dom
    assert "<img" not in dom


def _lines(chart: str) -> int:
    return len(re.findall(r'<path class="series"[^>]* d="M[\d.]+,[\d.]+L', chart))


def test_charts_plot_lines_and_bars(dom: str) -> None:
    charts = re.findall(r'<svg class="chart".*?</svg>', dom, re.S)
    assert len(charts) == 6
    requests, endpoints, latency, busy, data, stages = charts
    assert (_lines(requests), _lines(endpoints), _lines(latency)) == (2, 2, 2)
    assert (_lines(busy), _lines(data)) == (1, 2)
    assert len(re.findall(r'<rect class="bar"', stages)) == 4  # 2 stages x p50, p95
    assert "latency, ms" in latency
    assert "requests per real second" in requests
    assert 'data-series="checkin"' in endpoints
    assert "body bytes, kB/s (real)" in data
    for chart in (requests, endpoints, latency, busy, data):
        assert "real s since start" in chart  # which clock
    assert "duration, simulated s" in stages


def test_failed_orders_and_error_messages_show(dom: str) -> None:
    table = re.search(r'<table class="failed-orders">.*?</table>', dom, re.S)
    assert table is not None
    rows = re.findall(r"<tr><td><code>(\d+)</code>.*?</tr>", table.group(0), re.S)
    assert rows == ["500"]
    assert "started" in table.group(0)
    assert "update_driver_location 403 User not found" in table.group(0)  # the latest error
    assert '<span class="count">6</span> User not found</li>' in dom


def test_screenshot_renders_a_non_blank_page(chromium: str, page: Path, tmp_path: Path) -> None:
    shot = tmp_path / "report.png"
    _chromium(
        chromium,
        tmp_path / "profile",
        "--window-size=1400,2600",
        f"--screenshot={shot}",
        page.as_uri(),
    )
    assert shot.stat().st_size > 50_000  # a blank page is ~16 KB

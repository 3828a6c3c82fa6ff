"""report.html: self-contained, cards, tables and charts from the typed report, all escaped."""

from __future__ import annotations

import dataclasses
import html
import json
import re
from typing import Any

from sample_reports import EVIL, empty_report, outage_report, sample_report, sample_stats

from driver_agent.report.document import render_html
from driver_agent.report.page import MAX_DRIVER_ROWS
from driver_agent.report.run import EventKind, MapEvent


def _data_block(page: str) -> dict[str, Any]:
    match = re.search(
        r'<script type="application/json" id="report-data">(.*?)</script>', page, re.S
    )
    assert match is not None
    data: dict[str, Any] = json.loads(match.group(1))
    return data


def test_html_is_self_contained_and_carries_the_map_data() -> None:
    page = render_html(sample_report(), tile_url=None)
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
    page = render_html(sample_report(), tile_url=None)
    for text in ("Orders done", "2 / 3", "Worst ping gap", "35.0 s", "Thresholds", "FAIL"):
        assert text in page
    assert "<code>update_driver_location</code>" in page
    assert "503 ×4" in page  # errors by status, then Bringg's messages with their counts
    assert '<span class="count">4</span> sandbox fault: HTTP 503</li>' in page
    # requests and errors; two endpoints; p50 and p95; busy drivers; data sent and received
    assert page.count('class="series"') == 9
    assert page.count('class="bar"') == 6  # 3 stages x p50, p95
    assert "start → pickup check-in" in page
    assert "no data" not in page


def test_the_p95_card_shows_the_worst_endpoint() -> None:
    page = render_html(sample_report(), tile_url=None)
    card = re.search(r"p95 latency</div><div class=\"value\">([^<]*)</div>"
                     r"<div class=\"note\">([^<]*)</div>", page)  # fmt: skip
    assert card is not None
    assert card.groups() == ("278 ms", "worst endpoint")  # checkin's, not the location calls'


def test_html_of_an_empty_run_renders_placeholders() -> None:
    page = render_html(empty_report(), tile_url=None)
    assert page.count(">no data</text>") == 6
    assert "No order failed." in page
    assert "No requests were made." in page
    assert "No drivers." in page
    assert "No thresholds configured." in page
    assert _data_block(page)["tracks"] == []


def test_the_driver_table_lists_the_drivers_with_the_longest_gaps_first() -> None:
    drivers = tuple(f"d-{n:03d}" for n in range(MAX_DRIVER_ROWS + 5))
    page = render_html(sample_report(stats=sample_stats(drivers=drivers)), tile_url=None)
    listed = re.findall(r"<tr><td><code>(d-\d+)</code>", page)
    assert len(listed) == MAX_DRIVER_ROWS
    assert listed[:2] == ["d-054", "d-053"]  # each pings 25 s slower than the one before
    assert f"The {MAX_DRIVER_ROWS} drivers with the longest ping gap, of 55." in page


def test_html_escapes_every_string_from_the_run() -> None:
    report = sample_report(
        stats=sample_stats(drivers=(EVIL,)),
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
    data = _data_block(render_html(sample_report()))
    assert data["tiles"] == "https://tile.openstreetmap.org/{z}/{x}/{y}.png"


def test_an_outage_shows_on_the_retries_card() -> None:
    page = render_html(outage_report(), tile_url=None)
    assert "Retries" in page
    assert "1 reconciled, 2 calls queued, 1 orders given up" in page


def _legend(page: str) -> list[str]:
    start = page.index('class="legend')
    end = page.index("</div>", start)
    return re.findall(r"</span>([^<]+)</span>", page[start:end])


def test_the_legend_lists_only_the_kinds_present() -> None:
    report = sample_report()  # pickups, dropoffs and a cancel; no check-ins, no relocations
    legend = _legend(render_html(report, tile_url=None))
    assert legend == ["Pickup", "Dropoff", "Cancellation", "driver track"]
    quiet = dataclasses.replace(report, events=[e for e in report.events if e.kind != "cancel"])
    assert "Cancellation" not in _legend(render_html(quiet, tile_url=None))


def test_the_streets_travel_with_the_page_when_given() -> None:
    roads = [((60.17, 24.94), (60.171, 24.941)), ((60.171, 24.941), (60.172, 24.943))]
    page = render_html(dataclasses.replace(sample_report(), roads=roads), tile_url=None)
    assert _data_block(page)["roads"] == [[list(p) for p in line] for line in roads]
    assert "road" in _legend(page)
    assert _data_block(render_html(sample_report(), tile_url=None))["roads"] == []

"""report.html: one self-contained page rendered from a typed run report (as report.json shows it:
config and stats masked) plus the map data; Leaflet and our CSS/JS are inlined so it opens offline.

Pure: values in, HTML text out; the only read is of this package's own `assets/`. Every
string from the run is escaped (html.escape); data for the map script travels as JSON in a
`<script type="application/json">` block with `<`, `>` and `&` escaped.
"""

from __future__ import annotations

import html
import json
import re
from dataclasses import dataclass
from functools import cache
from importlib import resources
from string import Template
from typing import TYPE_CHECKING

from driver_agent.core.model import MAX_PING_GAP_S
from driver_agent.metrics.thresholds import latency_percentiles, run_latency_ms
from driver_agent.report.failures import errors_html, failed_orders_html
from driver_agent.report.fmt import fmt_actual, fmt_bytes, fmt_num, fmt_pct
from driver_agent.report.page_charts import render_charts
from driver_agent.report.run import iso, worst_ping_gap
from driver_agent.report.workers import workers_table

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from driver_agent.metrics.stats_snapshot import StatsSnapshot
    from driver_agent.metrics.thresholds import ThresholdResult
    from driver_agent.report.run import RunReport

MAX_DRIVER_ROWS = 50  # per-driver table: the drivers with the longest ping gap
PERCENTILES = ("p50", "p90", "p95", "p99", "max")
EVENT_COLOURS = {
    "pickup": "#2563eb",
    "dropoff": "#16a34a",
    "checkin": "#f59e0b",
    "checkout": "#8b5cf6",
    "cancel": "#dc2626",
    "relocation": "#0891b2",
}
EVENT_LABELS = {
    "pickup": "Pickup",
    "dropoff": "Dropoff",
    "checkin": "Check-in",
    "checkout": "Check-out",
    "cancel": "Cancellation",
    "relocation": "Relocation",
}
TRACK_COLOURS = ("#475569", "#0f766e", "#9333ea", "#b45309", "#be185d", "#1d4ed8", "#4d7c0f")


@dataclass(frozen=True, slots=True)
class ReportAssets:
    """The page template, our CSS/JS and the vendored Leaflet, as text."""

    page: str
    css: str
    js: str
    leaflet_js: str
    leaflet_css: str


@cache
def load_assets() -> ReportAssets:
    """Read `driver_agent/report/assets/` (this package's own files) once."""
    root = resources.files("driver_agent.report") / "assets"

    def read(name: str) -> str:
        return (root / name).read_text(encoding="utf-8")

    def inline(name: str) -> str:
        """A script or style sheet made safe to inline: no source map, no closing tag inside."""
        text = re.sub(r"^/[/*]# sourceMappingURL=.*$", "", read(name), flags=re.M)
        return text.replace("</script", "<\\/script").replace("</style", "<\\/style")

    return ReportAssets(
        page=read("report.html"),
        css=inline("report.css"),
        js=inline("report.js"),
        leaflet_js=inline("leaflet.js"),
        leaflet_css=inline("leaflet.css"),
    )


# ----------------------------------------------------------------------------- helpers


def _e(value: object) -> str:
    return html.escape(str(value), quote=True)


def script_json(value: object) -> str:
    """JSON that is safe inside <script type="application/json">."""
    text = json.dumps(value, separators=(",", ":"), allow_nan=False, default=str)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


# ----------------------------------------------------------------------------- page parts


def _card(label: str, value: str, note: str = "", state: str = "") -> str:
    note_html = f'<div class="note">{_e(note)}</div>' if note else ""
    return (
        f'<div class="card {state}"><div class="label">{_e(label)}</div>'
        f'<div class="value">{_e(value)}</div>{note_html}</div>'
    )


def _cards(report: RunReport) -> str:
    t, outage, stats = report.summary, report.summary.resilience, report.stats
    p95 = run_latency_ms(stats)["p95"]
    worst, over, _ = worst_ping_gap(stats)
    failed = sum(not r.passed for r in report.thresholds)
    rate = t.error_rate
    late = worst is not None and worst > MAX_PING_GAP_S
    cards = [
        _card(
            "Orders done",
            f"{t.orders.completed:,} / {t.orders_total:,}",
            f"{t.orders.cancelled:,} cancelled, {t.orders.failed:,} failed",
            "bad" if t.orders.failed else "",
        ),
        _card("Drivers", f"{t.drivers:,}", f"{t.relocations:,} relocations"),
        _card(
            "Requests",
            f"{t.totals.calls:,}",
            f"{fmt_num(report.requests_per_s)} per real s, {t.totals.errors:,} errors",
        ),
        _card(
            "Data sent",
            fmt_bytes(stats.bytes_sent),
            f"{fmt_bytes(stats.bytes_received)} received (request and answer bodies)",
        ),
        _card(
            "Retries",
            f"{outage.retries:,}",
            f"{outage.reconciled:,} reconciled, {outage.queued_calls:,} calls queued, "
            f"{outage.given_up:,} orders given up",
            "bad" if outage.given_up else "",
        ),
        _card("Error rate", fmt_pct(rate), "", "bad" if rate else "good" if rate == 0 else ""),
        _card("p95 latency", f"{fmt_num(p95)} ms" if p95 is not None else "-", "worst endpoint"),
        _card(
            "Worst ping gap",
            f"{fmt_num(worst)} s" if worst is not None else "-",
            f"{over:,} gap(s) over {MAX_PING_GAP_S:g} s",
            "bad" if late else "good" if worst is not None else "",
        ),
    ]
    if report.thresholds:
        total = len(report.thresholds)
        cards.append(
            _card(
                "Thresholds",
                "FAIL" if failed else "PASS",
                f"{total - failed} of {total} passed",
                "bad" if failed else "good",
            )
        )
    return "".join(cards)


def _thresholds_table(thresholds: Sequence[ThresholdResult]) -> str:
    if not thresholds:
        return '<p class="muted">No thresholds configured.</p>'
    rows = "".join(
        f'<tr class="{"pass" if r.passed else "fail"}"><td class="verdict">'
        f"{'PASS' if r.passed else 'FAIL'}</td><td><code>{_e(r.expr)}</code></td>"
        f'<td class="num">{_e("no data" if r.actual is None else fmt_actual(r.actual))}'
        "</td></tr>"
        for r in thresholds
    )
    return (
        '<table class="thresholds"><thead><tr><th>verdict</th><th>threshold</th>'
        f'<th class="num">actual</th></tr></thead><tbody>{rows}</tbody></table>'
    )


def _endpoint_table(stats: StatsSnapshot) -> str:
    rows = []
    for ep in sorted(stats.endpoints, key=lambda ep: ep.endpoint):
        errors = ep.error_count
        cells = "".join(
            f'<td class="num">{fmt_num(value if ep.count else None)}</td>'
            for value in latency_percentiles(ep.latency_ms).values()
        )
        detail_html = errors_html(ep) if errors else ""
        rows.append(
            f'<tr><td><code>{_e(ep.endpoint)}</code></td><td class="num">{ep.count:,}</td>'
            f'<td class="num{" bad" if errors else ""}">{errors:,}{detail_html}</td>'
            f'<td class="num">{fmt_pct(ep.error_rate)}</td>{cells}</tr>'
        )
    if not rows:
        return '<p class="muted">No requests were made.</p>'
    head = "".join(f'<th class="num">{p} ms</th>' for p in PERCENTILES)
    return (
        '<table><thead><tr><th>endpoint</th><th class="num">requests</th>'
        f'<th class="num">errors</th><th class="num">error rate</th>{head}</tr></thead>'
        f"<tbody>{''.join(rows)}</tbody></table>"
    )


def _driver_table(stats: StatsSnapshot) -> str:
    drivers = stats.drivers
    if not drivers:
        return '<p class="muted">No drivers.</p>'
    ranked = sorted(drivers, key=lambda d: (-d.max_gap_s, d.driver_id))
    limit_s = stats.max_ping_gap_s or MAX_PING_GAP_S
    rows = []
    for d in ranked[:MAX_DRIVER_ROWS]:
        done = d.orders.get("completed", 0)
        ended = sum(n for outcome, n in d.orders.items() if outcome != "reassigned")
        rows.append(
            f"<tr><td><code>{_e(d.driver_id)}</code></td>"
            f'<td class="num">{done:,} / {ended:,}</td>'
            f'<td class="num">{fmt_num(d.distance_m / 1000, 2)}</td>'
            f'<td class="num">{d.pings:,}</td>'
            f'<td class="num{" bad" if d.max_gap_s > limit_s else ""}">{fmt_num(d.max_gap_s)}</td>'
            f'<td class="num">{d.gaps_over_limit:,}</td></tr>'
        )
    note = (
        f'<p class="muted">The {MAX_DRIVER_ROWS} drivers with the longest ping gap, '
        f"of {len(drivers):,}.</p>"
        if len(drivers) > MAX_DRIVER_ROWS
        else ""
    )
    return (
        f'{note}<table><thead><tr><th>driver</th><th class="num">orders done / ended</th>'
        '<th class="num">distance km</th><th class="num">pings</th>'
        '<th class="num">max ping gap s</th>'
        f'<th class="num">gaps &gt; {limit_s:g} s</th></tr></thead>'
        f"<tbody>{''.join(rows)}</tbody></table>"
    )


def _legend(report: RunReport) -> str:
    """The map's legend: only the kinds of marker this run has (no Cancellations when none)."""
    present = {event.kind for event in report.events}
    items = "".join(
        f'<span class="legend-item"><span class="dot" style="background:{colour}"></span>'
        f"{_e(EVENT_LABELS[kind])}</span>"
        for kind, colour in EVENT_COLOURS.items()
        if kind in present
    )
    if report.roads:
        items += '<span class="legend-item"><span class="line road"></span>road</span>'

    return f'{items}<span class="legend-item"><span class="line"></span>driver track</span>'


def render_page(
    report: RunReport, map_data: Mapping[str, object], assets: ReportAssets | None = None
) -> str:
    """The page for a run report whose config and stats are already masked (`document.
    render_html` masks them) and the map data (tracks, events)."""
    assets = assets or load_assets()
    charts = render_charts(report.stats)
    seed = report.seed_text
    verdict = "" if not report.thresholds else ("PASS" if report.passed else "FAIL")
    return Template(assets.page).substitute(
        title=_e(f"driver-agent report: {report.mode}, seed {seed}"),
        leaflet_css=assets.leaflet_css,
        css=assets.css,
        verdict=_e(verdict),
        verdict_class="pass" if report.passed else "fail",
        meta=_e(
            f"mode {report.mode} · seed {seed} · started {iso(report.real_started_at_ms) or '-'} "
            f"(UTC) · {fmt_num(report.duration_s)} s real, "
            f"{fmt_num(report.simulated_duration_s)} s simulated at {report.speed:g}× · "
            f"{fmt_num(report.requests_per_s)} requests per real s"
        ),
        cards=_cards(report),
        thresholds=_thresholds_table(report.thresholds),
        legend=_legend(report),
        latency_chart=charts.latency,
        requests_chart=charts.requests,
        endpoints_chart=charts.endpoints,
        busy_chart=charts.busy,
        data_chart=charts.data,
        stages_chart=charts.stages,
        failed_orders=failed_orders_html(report.orders, report.orders_dropped),
        endpoint_table=_endpoint_table(report.stats),
        driver_table=_driver_table(report.stats),
        workers=workers_table(report.workers),
        config=_e(json.dumps(report.config, indent=2, default=str)),
        versions=_e(" · ".join(f"{k} {v}" for k, v in report.versions.items())),
        data=script_json(map_data),
        leaflet_js=assets.leaflet_js,
        js=assets.js,
    )

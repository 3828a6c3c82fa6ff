"""report.html: one self-contained page rendered from the report document (what report.json holds)
plus the map data; Leaflet and our CSS/JS are inlined so it opens offline.

Pure: values in, HTML text out; the only read is of this package's own `assets/`. Every
string from the run is escaped (html.escape); data for the map script travels as JSON in a
`<script type="application/json">` block with `<`, `>` and `&` escaped.
"""

from __future__ import annotations

import html
import json
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from importlib import resources
from string import Template
from typing import Any

from driver_agent.core.model import MAX_PING_GAP_S
from driver_agent.metrics.thresholds import error_count
from driver_agent.report.chart import bar_chart, line_chart

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
_STAGE_LABELS = {  # lifecycle.Stage values, in order
    "assign_to_start": "assign → start",
    "start_to_pickup": "start → pickup check-in",
    "pickup_dwell": "pickup dwell",
    "pickup_to_dropoff": "pickup → dropoff",
    "dropoff_dwell": "dropoff dwell",
    "end_to_end": "order end to end",
}
_STAGE_ORDER = tuple(_STAGE_LABELS)


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


# ----------------------------------------------------------------------------- formatting


def fmt_num(value: float | None, digits: int = 1) -> str:
    """A number for people: thousands separators, `-` for no data."""
    if value is None or not math.isfinite(value):
        return "-"
    if abs(value) >= 100:
        return f"{value:,.0f}"
    return f"{value:,.{digits}f}" if abs(value) >= 1 or value == 0 else f"{value:.3g}"


def fmt_actual(value: float) -> str:
    """A threshold's measured value, to four significant digits."""
    return f"{value:.4g}"


def fmt_pct(value: float | None) -> str:
    return "-" if value is None else f"{value * 100:.2f}%"


def worst_ping_gap(stats: Mapping[str, Any]) -> tuple[float | None, int, str | None]:
    """(the longest ping gap in s, gaps over the limit, the driver with it); None: no drivers."""
    drivers: Sequence[Mapping[str, Any]] = stats.get("drivers") or ()
    if not drivers:
        return None, 0, None
    worst = max(drivers, key=lambda d: float(d.get("max_gap_s") or 0.0))
    over = sum(int(d.get("gaps_over_limit") or 0) for d in drivers)
    return float(worst.get("max_gap_s") or 0.0), over, str(worst.get("driver_id"))


def overall_latency_ms(stats: Mapping[str, Any], percentile: str) -> float | None:
    """Run-wide latency percentile, or the worst endpoint's (an upper bound) when not given."""
    overall = ((stats.get("totals") or {}).get("latency_ms") or {}).get(percentile)
    if overall is not None:
        return float(overall)
    values = [
        (ep.get("latency_ms") or {}).get(percentile)
        for ep in stats.get("endpoints") or ()
        if ep.get("count")
    ]
    return max((float(v) for v in values if v is not None), default=None)


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


def _cards(doc: Mapping[str, Any]) -> str:
    t: Mapping[str, Any] = doc["totals"]
    stats: Mapping[str, Any] = doc["stats"]
    p95 = overall_latency_ms(stats, "p95")
    worst, over, _ = worst_ping_gap(stats)
    thresholds: Sequence[Mapping[str, Any]] = doc["thresholds"]
    failed = sum(not r["passed"] for r in thresholds)
    rate = t["error_rate"]
    late = worst is not None and worst > MAX_PING_GAP_S
    cards = [
        _card(
            "Orders done",
            f"{t['orders_done']:,} / {t['orders_total']:,}",
            f"{t['orders_cancelled']:,} cancelled, {t['orders_failed']:,} failed",
            "bad" if t["orders_failed"] else "",
        ),
        _card("Drivers", f"{t['drivers']:,}", f"{t['relocations']:,} relocations"),
        _card("Requests", f"{t['requests']:,}", f"{t['errors']:,} errors"),
        _card(
            "Retries",
            f"{t.get('retries', 0):,}",
            f"{t.get('reconciled_retries', 0):,} reconciled, "
            f"{t.get('queued_calls', 0):,} calls queued, "
            f"{t.get('orders_given_up', 0):,} orders given up",
            "bad" if t.get("orders_given_up") else "",
        ),
        _card("Error rate", fmt_pct(rate), "", "bad" if rate else "good" if rate == 0 else ""),
        _card(
            "p95 latency",
            f"{fmt_num(p95)} ms" if p95 is not None else "-",
            "all endpoints" if (stats.get("totals") or {}).get("latency_ms") else "worst endpoint",
        ),
        _card(
            "Worst ping gap",
            f"{fmt_num(worst)} s" if worst is not None else "-",
            f"{over:,} gap(s) over {MAX_PING_GAP_S:g} s",
            "bad" if late else "good" if worst is not None else "",
        ),
    ]
    if thresholds:
        passed = len(thresholds) - failed
        cards.append(
            _card(
                "Thresholds",
                "FAIL" if failed else "PASS",
                f"{passed} of {len(thresholds)} passed",
                "bad" if failed else "good",
            )
        )
    return "".join(cards)


def _thresholds_table(thresholds: Sequence[Mapping[str, Any]]) -> str:
    if not thresholds:
        return '<p class="muted">No thresholds configured.</p>'
    rows = "".join(
        f'<tr class="{"pass" if r["passed"] else "fail"}"><td class="verdict">'
        f"{'PASS' if r['passed'] else 'FAIL'}</td><td><code>{_e(r['expr'])}</code></td>"
        f'<td class="num">{_e("no data" if r["actual"] is None else fmt_actual(r["actual"]))}'
        "</td></tr>"
        for r in thresholds
    )
    return (
        '<table class="thresholds"><thead><tr><th>verdict</th><th>threshold</th>'
        f'<th class="num">actual</th></tr></thead><tbody>{rows}</tbody></table>'
    )


def _endpoint_table(stats: Mapping[str, Any]) -> str:
    rows = []
    for ep in sorted(stats.get("endpoints") or (), key=lambda ep: str(ep.get("endpoint"))):
        count = int(ep.get("count") or 0)
        errors = error_count(ep)
        by_class = ep.get("errors") if isinstance(ep.get("errors"), Mapping) else {}
        detail = " · ".join(f"{_e(k)} {int(v):,}" for k, v in sorted(by_class.items()) if v)
        latency = ep.get("latency_ms") or {}
        cells = "".join(
            f'<td class="num">{fmt_num(latency.get(p) if count else None)}</td>'
            for p in PERCENTILES
        )
        detail_html = f'<div class="small">{detail}</div>' if detail else ""
        rows.append(
            f'<tr><td><code>{_e(ep.get("endpoint"))}</code></td><td class="num">{count:,}</td>'
            f'<td class="num{" bad" if errors else ""}">{errors:,}{detail_html}</td>'
            f'<td class="num">{fmt_pct(errors / count if count else None)}</td>{cells}</tr>'
        )
    if not rows:
        return '<p class="muted">No requests were made.</p>'
    head = "".join(f'<th class="num">{p} ms</th>' for p in PERCENTILES)
    return (
        '<table><thead><tr><th>endpoint</th><th class="num">requests</th>'
        f'<th class="num">errors</th><th class="num">error rate</th>{head}</tr></thead>'
        f"<tbody>{''.join(rows)}</tbody></table>"
    )


def _driver_table(stats: Mapping[str, Any]) -> str:
    drivers: Sequence[Mapping[str, Any]] = stats.get("drivers") or ()
    if not drivers:
        return '<p class="muted">No drivers.</p>'
    ranked = sorted(
        drivers, key=lambda d: (-float(d.get("max_gap_s") or 0.0), str(d.get("driver_id")))
    )
    limit_s = float(stats.get("max_ping_gap_s") or MAX_PING_GAP_S)
    rows = []
    for d in ranked[:MAX_DRIVER_ROWS]:
        gap_s = float(d.get("max_gap_s") or 0.0)
        outcomes: Mapping[str, int] = d.get("orders") or {}
        done = int(outcomes.get("completed", 0))
        ended = sum(int(n) for k, n in outcomes.items() if k != "reassigned")
        rows.append(
            f"<tr><td><code>{_e(d.get('driver_id'))}</code></td>"
            f'<td class="num">{done:,} / {ended:,}</td>'
            f'<td class="num">{fmt_num(float(d.get("distance_m") or 0.0) / 1000, 2)}</td>'
            f'<td class="num">{int(d.get("pings") or 0):,}</td>'
            f'<td class="num{" bad" if gap_s > limit_s else ""}">{fmt_num(gap_s)}</td>'
            f'<td class="num">{int(d.get("gaps_over_limit") or 0):,}</td></tr>'
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


def _timeline_series(
    stats: Mapping[str, Any],
) -> tuple[str, dict[str, list[tuple[float, float | None]]]]:
    """Per-bucket series on a dense time axis: empty buckets count 0 requests and break the
    latency lines. Returns the x-axis label and the series by key."""
    buckets: Sequence[Mapping[str, Any]] = stats.get("timeline") or ()
    bucket_s = float(stats.get("bucket_s") or 1.0)
    by_index = {round(float(b.get("start_s") or 0.0) / bucket_s): b for b in buckets}
    span_s = (max(by_index, default=0) + 1) * bucket_s
    scale, unit = (60.0, "min") if span_s > 600 else (1.0, "s")
    series: dict[str, list[tuple[float, float | None]]] = {
        "requests": [],
        "errors": [],
        "p50_ms": [],
        "p95_ms": [],
    }
    if not by_index:
        return f"time since start, {unit}", series
    for index in range(min(by_index), max(by_index) + 1):
        x = index * bucket_s / scale
        b = by_index.get(index)
        count = int(b.get("count") or 0) if b else 0
        series["requests"].append((x, count / bucket_s))
        series["errors"].append((x, int(b.get("errors") or 0) / bucket_s if b else 0.0))
        for key in ("p50_ms", "p95_ms"):
            value = b.get(key) if b and count else None
            series[key].append((x, None if value is None else float(value)))
    return f"time since start, {unit} (buckets of {bucket_s:g} s)", series


def _charts(stats: Mapping[str, Any]) -> tuple[str, str, str]:
    x_label, series = _timeline_series(stats)
    latency = line_chart(
        "request latency over time",
        x_label,
        "latency, ms",
        [("p50", "#2563eb", series["p50_ms"]), ("p95", "#f59e0b", series["p95_ms"])],
    )
    requests = line_chart(
        "requests over time",
        x_label,
        "requests per second",
        [("requests", "#0f766e", series["requests"]), ("errors", "#dc2626", series["errors"])],
    )
    stages: Mapping[str, Mapping[str, Any]] = stats.get("stages_s") or {}
    names = [name for name in _STAGE_ORDER if stages.get(name, {}).get("count")]
    names += [n for n, s in stages.items() if n not in _STAGE_ORDER and s.get("count")]
    durations = bar_chart(
        "order lifecycle stage durations",
        "duration, s (simulated)",
        [_STAGE_LABELS.get(name, name.replace("_", " ")) for name in names],
        [
            ("p50", "#2563eb", [stages[n].get("p50") for n in names]),
            ("p95", "#f59e0b", [stages[n].get("p95") for n in names]),
        ],
    )
    return latency, requests, durations


def _legend() -> str:
    items = "".join(
        f'<span class="legend-item"><span class="dot" style="background:{colour}"></span>'
        f"{_e(EVENT_LABELS[kind])}</span>"
        for kind, colour in EVENT_COLOURS.items()
    )
    return f'{items}<span class="legend-item"><span class="line"></span>driver track</span>'


def render_page(
    doc: Mapping[str, Any], map_data: Mapping[str, Any], assets: ReportAssets | None = None
) -> str:
    """The page for a report document (`report.report_dict`) and map data (tracks, events)."""
    assets = assets or load_assets()
    latency, requests, durations = _charts(doc["stats"])
    thresholds: Sequence[Mapping[str, Any]] = doc["thresholds"]
    seed = "-" if doc["seed"] is None else doc["seed"]
    verdict = "" if not thresholds else ("PASS" if doc["passed"] else "FAIL")
    return Template(assets.page).substitute(
        title=_e(f"driver-agent report: {doc['mode']}, seed {seed}"),
        leaflet_css=assets.leaflet_css,
        css=assets.css,
        verdict=_e(verdict),
        verdict_class="pass" if doc["passed"] else "fail",
        meta=_e(
            f"mode {doc['mode']} · seed {seed} · started {doc['started_at'] or '-'} · "
            f"{fmt_num(doc['duration_s'])} s"
        ),
        cards=_cards(doc),
        thresholds=_thresholds_table(thresholds),
        legend=_legend(),
        latency_chart=latency,
        requests_chart=requests,
        stages_chart=durations,
        endpoint_table=_endpoint_table(doc["stats"]),
        driver_table=_driver_table(doc["stats"]),
        config=_e(json.dumps(doc["config"], indent=2, default=str)),
        versions=_e(" · ".join(f"{k} {v}" for k, v in doc["versions"].items())),
        data=script_json(map_data),
        leaflet_js=assets.leaflet_js,
        js=assets.js,
    )

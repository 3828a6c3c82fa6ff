"""The run report: a finished run's data as report.json, a self-contained report.html and a
plain-text summary table for the terminal.

Pure, except `write_report` (the one function that writes files) and the two readers of this
package's own read-only files (`load_assets`, `runtime_versions`). Secrets never reach the output:
`mask_config` replaces Secret values and the value of any key that looks sensitive.

`RunReport.stats` is the stats snapshot dict (`stats.StatsSnapshot.to_dict()`); the parts read:
```
totals: {calls, errors, orders: {<outcome>: n}, drivers, relocations, max_gap_s, gaps_over_limit,
         latency_ms?: {p50, p90, p95, p99, max}}        run-wide latency, when the stats have it
endpoints: [{endpoint, count, errors: {<error class>: n}, latency_ms: {p50, p90, p95, p99, max}}]
timeline: [{start_s, count, errors, p50_ms, p95_ms}]     per bucket_s of real run time
drivers: [{driver_id, orders: {<outcome>: n}, distance_m, max_gap_s, gaps_over_limit, pings}]
stages_s: {<stage>: {count, p50, p95, max}}              lifecycle stages, simulated seconds
ping_lateness_ms: {count, p50, p99, max}                 how late pings left after their tick
resilience: {retries, reconciled, queued_calls, queued_locations, thinned_locations,
             dropped_locations, given_up, cancelled_after_give_up, cancel_failed,
             given_up_orders: [{driver_id, task_id, endpoint, status, message, reason}]}
                                                         how the run rode out API trouble
```
"""

from __future__ import annotations

import json
import os
import platform
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from importlib import metadata
from pathlib import Path
from typing import Any

from driver_agent import __version__
from driver_agent.core.model import MAX_PING_GAP_S, Secret
from driver_agent.core.redaction import redact
from driver_agent.metrics.stats_snapshot import Resilience, StatsSnapshot, Totals
from driver_agent.metrics.thresholds import OrderCounts, ThresholdResult, error_count
from driver_agent.report.page import (
    TRACK_COLOURS,
    ReportAssets,
    fmt_actual,
    fmt_num,
    fmt_pct,
    render_page,
    worst_ping_gap,
)

REPORT_SCHEMA_VERSION = 1
MAX_TRACK_POINTS = 20_000  # over all drivers, in report.html
MAX_MAP_EVENTS = 5_000
OSM_TILE_URL = "https://tile.openstreetmap.org/{z}/{x}/{y}.png"
_PERCENTILES = ("p50", "p90", "p95", "p99", "max")


class EventKind(StrEnum):
    """What happened at a point on the map."""

    PICKUP = "pickup"
    DROPOFF = "dropoff"
    CHECKIN = "checkin"
    CHECKOUT = "checkout"
    CANCEL = "cancel"
    RELOCATION = "relocation"


@dataclass(frozen=True, slots=True)
class MapEvent:
    """One marker on the map: a stop, a check-in/out, a cancellation or a relocation."""

    kind: EventKind
    lat: float
    lng: float
    driver_id: str
    task_id: int | None = None
    t_ms: int | None = None


@dataclass(frozen=True, slots=True)
class RunSummary:
    """The run's figures for the summary and report.json's `totals`: the statistics snapshot's
    own typed blocks, with what the run knows better (the orders it planned, the drivers it
    started, the relocations it made)."""

    totals: Totals
    resilience: Resilience
    orders: OrderCounts
    orders_total: int = 0
    drivers: int = 0
    relocations: int = 0

    @property
    def error_rate(self) -> float | None:
        calls = self.totals.calls
        return self.totals.errors / calls if calls else None


@dataclass(frozen=True)
class RunReport:
    """Everything a finished run reports. `config` should already be masked; it is masked again."""

    stats: Mapping[str, Any]
    summary: RunSummary
    mode: str = "embedded"
    seed: int | None = None
    started_at_ms: int = 0
    ended_at_ms: int = 0
    tracks: Mapping[str, Sequence[tuple[float, float]]] = field(default_factory=dict)
    events: Sequence[MapEvent] = ()
    thresholds: Sequence[ThresholdResult] = ()
    config: Mapping[str, Any] = field(default_factory=dict)
    versions: Mapping[str, str] = field(default_factory=dict)

    @property
    def passed(self) -> bool:
        return all(result.passed for result in self.thresholds)


# ----------------------------------------------------------------------------- data shaping


def summary_from_stats(stats: Mapping[str, Any], *, orders_total: int | None = None) -> RunSummary:
    """The summary of a snapshot (`StatsSnapshot.to_dict()`). `orders_total` overrides the number
    of orders (the snapshot counts only orders that ended); reassigned orders are not counted
    twice."""
    snapshot = StatsSnapshot.from_dict(stats)
    orders = OrderCounts.from_outcomes(snapshot.totals.orders)
    return RunSummary(
        totals=snapshot.totals,
        resilience=snapshot.resilience,
        orders=orders,
        orders_total=orders.total if orders_total is None else orders_total,
        drivers=snapshot.totals.drivers,
        relocations=snapshot.totals.relocations,
    )


def mask_config(value: Any, key: str = "") -> Any:
    """A JSON-ready copy (mapping keys as text, sequences as lists, other objects as their
    text) with every secret masked by `core.redaction.redact`."""
    return redact(_json_ready(value), key)


def _json_ready(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): _json_ready(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [_json_ready(v) for v in value]
    if value is None or isinstance(value, bool | int | float | str | Secret):
        return value
    return str(value)


def downsample_tracks(
    tracks: Mapping[str, Sequence[tuple[float, float]]], max_points: int = MAX_TRACK_POINTS
) -> dict[str, list[tuple[float, float]]]:
    """Thin the tracks to at most `max_points` in total (at least 2 per driver), keeping each
    track's first and last point, dropping exact repeats first, then taking evenly spaced points
    with a budget proportional to the track's length in points."""
    deduped = {driver: _without_repeats(points) for driver, points in tracks.items()}
    total = sum(len(points) for points in deduped.values())
    if total <= max_points:
        return deduped
    out: dict[str, list[tuple[float, float]]] = {}
    for driver, points in deduped.items():
        budget = max(2, int(max_points * len(points) / total))
        out[driver] = _evenly(points, budget)
    return out


def _without_repeats(points: Sequence[tuple[float, float]]) -> list[tuple[float, float]]:
    out: list[tuple[float, float]] = []
    for lat, lng in points:
        point = (round(float(lat), 5), round(float(lng), 5))  # ~1 m
        if not out or out[-1] != point:
            out.append(point)
    return out


def _evenly(points: list[tuple[float, float]], budget: int) -> list[tuple[float, float]]:
    if len(points) <= budget:
        return points
    step = (len(points) - 1) / (budget - 1)
    return [points[round(i * step)] for i in range(budget)]


def thin_events(events: Sequence[MapEvent], max_events: int = MAX_MAP_EVENTS) -> list[MapEvent]:
    """At most `max_events` markers: all cancellations and relocations, the rest evenly spaced."""
    if len(events) <= max_events:
        return list(events)
    rare = [e for e in events if e.kind in (EventKind.CANCEL, EventKind.RELOCATION)]
    rest = [e for e in events if e.kind not in (EventKind.CANCEL, EventKind.RELOCATION)]
    room = max(0, max_events - len(rare))
    kept = _evenly_any(rest, room) if room else []
    return rare[:max_events] + kept


def _evenly_any(items: list[MapEvent], budget: int) -> list[MapEvent]:
    if len(items) <= budget:
        return items
    step = len(items) / budget
    return [items[int(i * step)] for i in range(budget)]


def _iso(ms: int) -> str | None:
    if not ms:
        return None
    return datetime.fromtimestamp(ms / 1000, tz=UTC).isoformat(timespec="milliseconds")


def report_dict(report: RunReport) -> dict[str, Any]:
    """The JSON document: stats as collected, plus run metadata, totals and threshold results."""
    kinds: dict[str, int] = {}
    for event in report.events:
        kinds[str(event.kind)] = kinds.get(str(event.kind), 0) + 1
    return {
        "schema_version": REPORT_SCHEMA_VERSION,
        "mode": report.mode,
        "seed": report.seed,
        "started_at": _iso(report.started_at_ms),
        "ended_at": _iso(report.ended_at_ms),
        "duration_s": max(0, report.ended_at_ms - report.started_at_ms) / 1000,
        "passed": report.passed,
        "totals": _totals_dict(report.summary),
        "thresholds": [result.to_dict() for result in report.thresholds],
        "events_by_kind": kinds,
        "stats": mask_config(report.stats),
        "config": mask_config(report.config),
        "versions": dict(report.versions),
    }


def _totals_dict(summary: RunSummary) -> dict[str, Any]:
    outage = summary.resilience
    return {
        "orders_total": summary.orders_total,
        "orders_done": summary.orders.completed,
        "orders_cancelled": summary.orders.cancelled,
        "orders_failed": summary.orders.failed,
        "drivers": summary.drivers,
        "relocations": summary.relocations,
        "requests": summary.totals.calls,
        "errors": summary.totals.errors,
        "error_rate": summary.error_rate,
        "retries": outage.retries,
        "reconciled_retries": outage.reconciled,
        "queued_calls": outage.queued_calls,
        "queued_locations": outage.queued_locations,
        "thinned_locations": outage.thinned_locations,
        "orders_given_up": outage.given_up,
        "cancelled_after_give_up": outage.cancelled_after_give_up,
    }


def render_json(report: RunReport) -> str:
    """report.json: indented, keys in a stable order, ends with a newline."""
    return json.dumps(report_dict(report), indent=2, allow_nan=False, default=str) + "\n"


# ----------------------------------------------------------------------------- terminal summary


def render_summary(report: RunReport) -> str:
    """The plain-text table printed at the end of a run."""
    t, outage = report.summary, report.summary.resilience
    duration_s = max(0, report.ended_at_ms - report.started_at_ms) / 1000
    seed = "-" if report.seed is None else str(report.seed)
    lines = [
        f"driver-agent run: mode {report.mode}, seed {seed}, {fmt_num(duration_s)} s",
        f"orders   {t.orders.completed}/{t.orders_total} done, {t.orders.cancelled} cancelled, "
        f"{t.orders.failed} failed; drivers {t.drivers}; relocations {t.relocations}",
        f"requests {t.totals.calls:,}, errors {t.totals.errors:,} ({fmt_pct(t.error_rate)})",
    ]
    if outage.retries or outage.queued_calls or outage.given_up or outage.reconciled:
        lines.append(
            f"outages  retries {outage.retries:,} ({outage.reconciled:,} reconciled); "
            f"queued {outage.queued_calls:,} calls, {outage.queued_locations:,} locations "
            f"({outage.thinned_locations:,} thinned); given up {outage.given_up:,} "
            f"({outage.cancelled_after_give_up:,} cancelled)"
        )
    for given_up in outage.given_up_orders:
        status = "no answer" if given_up.status is None else given_up.status
        lines.append(
            f"given up order {given_up.task_id} ({given_up.driver_id}): "
            f"{given_up.endpoint} -> {status}: {given_up.message} [{given_up.reason}]"
        )
    worst, over, driver = worst_ping_gap(report.stats)
    if worst is None:
        lines.append("ping gap -")
    else:
        lines.append(
            f"ping gap worst {fmt_num(worst)} s ({driver}), {over} gap(s) over {MAX_PING_GAP_S:g} s"
        )
    lateness: Mapping[str, Any] = report.stats.get("ping_lateness_ms") or {}
    if lateness.get("count"):
        lines.append(
            f"ping lateness after the scheduled tick: p50 {fmt_num(lateness.get('p50'))} ms, "
            f"p99 {fmt_num(lateness.get('p99'))} ms, max {fmt_num(lateness.get('max'))} ms"
        )
    lines.append("")
    header = ("endpoint", "count", "errors", "p50 ms", "p95 ms", "p99 ms", "max ms")
    rows = []
    for ep in sorted(report.stats.get("endpoints") or (), key=lambda ep: str(ep.get("endpoint"))):
        lat: Mapping[str, Any] = ep.get("latency_ms") or {}
        rows.append(
            (
                str(ep.get("endpoint")),
                f"{int(ep.get('count') or 0):,}",
                f"{error_count(ep):,}",
                *(fmt_num(lat.get(p)) for p in _P4),
            )
        )
    overall: Mapping[str, Any] = (report.stats.get("totals") or {}).get("latency_ms") or {}
    if overall:  # the snapshot has no run-wide histogram yet: then there is no "all" row
        rows.append(
            (
                "all",
                f"{t.totals.calls:,}",
                f"{t.totals.errors:,}",
                *(fmt_num(overall.get(p)) for p in _P4),
            )
        )
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    for row in [header, *rows]:
        cells = [row[0].ljust(widths[0])] + [
            c.rjust(w) for c, w in zip(row[1:], widths[1:], strict=True)
        ]
        lines.append("  ".join(cells).rstrip())
    if report.thresholds:
        lines.append("")
        lines.append("thresholds")
        width = max(len(r.expr) for r in report.thresholds)
        for r in report.thresholds:
            actual = "no data" if r.actual is None else fmt_actual(r.actual)
            verdict = "PASS" if r.passed else "FAIL"
            lines.append(f"  {verdict}  {r.expr.ljust(width)}  actual {actual}")
        failed = sum(not r.passed for r in report.thresholds)
        lines.append(
            f"  {failed} of {len(report.thresholds)} threshold(s) failed"
            if failed
            else f"  all {len(report.thresholds)} threshold(s) passed"
        )
    return "\n".join(lines) + "\n"


_P4 = ("p50", "p95", "p99", "max")


# ----------------------------------------------------------------------------- HTML


def map_data(report: RunReport, tile_url: str | None = OSM_TILE_URL) -> dict[str, Any]:
    """What the map script draws: downsampled tracks, thinned events, the tile URL (or None)."""
    tracks = downsample_tracks(report.tracks)
    return {
        "tiles": tile_url,
        "tracks": [
            {"id": driver, "c": TRACK_COLOURS[i % len(TRACK_COLOURS)], "p": points}
            for i, (driver, points) in enumerate(sorted(tracks.items()))
            if points
        ],
        "events": [
            {
                "k": str(e.kind),
                "lat": round(e.lat, 5),
                "lng": round(e.lng, 5),
                "d": e.driver_id,
                "task": e.task_id,
                "t": _iso(e.t_ms) if e.t_ms else None,
            }
            for e in thin_events(report.events)
        ],
    }


def render_html(
    report: RunReport, *, tile_url: str | None = OSM_TILE_URL, assets: ReportAssets | None = None
) -> str:
    """report.html: one self-contained page. With `tile_url=None` the map has no tile layer (and
    makes no network request); the tracks and markers draw either way."""
    return render_page(report_dict(report), map_data(report, tile_url), assets)


def runtime_versions() -> dict[str, str]:
    """Python, driver-agent and the main libraries, from installed package metadata."""
    versions = {"python": platform.python_version(), "driver-agent": __version__}
    for package in ("httpx", "anyio", "structlog", "shapely", "starlette", "uvicorn", "aiohttp"):
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            versions[package] = "not installed"
    return versions


# ----------------------------------------------------------------------------- files


def write_report(report: RunReport, directory: Path) -> tuple[Path, Path]:
    """Write report.json and report.html into `directory` (created if missing), each atomically
    (a temp file in the same directory, then rename). Returns (json_path, html_path)."""
    directory.mkdir(parents=True, exist_ok=True)
    json_path = directory / "report.json"
    html_path = directory / "report.html"
    _write_atomically(json_path, render_json(report))
    _write_atomically(html_path, render_html(report))
    return json_path, html_path


def _write_atomically(path: Path, text: str) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as handle:
            handle.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise

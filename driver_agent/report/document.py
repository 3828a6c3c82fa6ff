"""report.json, report.html and orders.csv of a finished run, and the files written.

Pure, except `write_report` (the one function that writes files) and `runtime_versions` (reads
installed package metadata). Secrets never reach the output: `mask_config` replaces Secret values
and the value of any key that looks sensitive, in the config, the statistics and the failed
orders.

report.json holds, in this order: `schema_version`, `mode`, `seed`, `started_at`, `ended_at`
(the wall clock, ISO 8601 UTC), `duration_s` (real seconds), `simulated_started_at`,
`simulated_ended_at`, `simulated_duration_s`, `speed` (simulated seconds per real second),
`requests_per_s` (per real second), `passed`, `totals` (the summary's figures), `thresholds`
(each result), `failed_orders` (the first of them: stage reached, last error, simulated time)
with `failed_orders_total`, `events_by_kind`, `stats` (the typed `StatsSnapshot` as `to_dict()`
gives it, masked: it reads back with `StatsSnapshot.from_dict`), `config` (masked) and
`versions`.
"""

from __future__ import annotations

import dataclasses
import json
import platform
from collections.abc import Mapping, Sequence
from importlib import metadata
from pathlib import Path
from typing import Any

import msgspec

from driver_agent import __version__
from driver_agent.core.model import Secret
from driver_agent.core.redaction import redact, redact_text
from driver_agent.metrics.stats_snapshot import OrderRecord, StatsSnapshot
from driver_agent.report.failures import failed_order_rows, failed_orders
from driver_agent.report.files import write_atomically
from driver_agent.report.orders_csv import ORDERS_CSV, render_orders_csv
from driver_agent.report.page import TRACK_COLOURS, ReportAssets, render_page
from driver_agent.report.run import EventKind, MapEvent, RunReport, RunSummary, iso
from driver_agent.report.workers import workers_dicts

REPORT_SCHEMA_VERSION = 2  # 2: started_at / ended_at / duration_s are real, simulated_* added
MAX_TRACK_POINTS = 20_000  # over all drivers, in report.html
MAX_MAP_EVENTS = 5_000
OSM_TILE_URL = "https://tile.openstreetmap.org/{z}/{x}/{y}.png"


# ----------------------------------------------------------------------------- data shaping


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


def report_dict(report: RunReport) -> dict[str, Any]:
    """The JSON document: the statistics snapshot (masked), run metadata, the summary's totals
    and the threshold results."""
    kinds: dict[str, int] = {}
    for event in report.events:
        kinds[str(event.kind)] = kinds.get(str(event.kind), 0) + 1
    return {
        "schema_version": REPORT_SCHEMA_VERSION,
        "mode": report.mode,
        "seed": report.seed,
        "started_at": iso(report.real_started_at_ms),
        "ended_at": iso(report.real_ended_at_ms),
        "duration_s": report.duration_s,
        "simulated_started_at": iso(report.started_at_ms),
        "simulated_ended_at": iso(report.ended_at_ms),
        "simulated_duration_s": report.simulated_duration_s,
        "speed": report.speed,
        "requests_per_s": report.requests_per_s,
        "passed": report.passed,
        "totals": _totals_dict(report.summary),
        "thresholds": [result.to_dict() for result in report.thresholds],
        "failed_orders": mask_config(failed_order_rows(report.orders)),
        "failed_orders_total": len(failed_orders(report.orders)),
        "events_by_kind": kinds,
        "workers": mask_config(workers_dicts(report.workers)),
        "stats": mask_config(report.stats.to_dict()),
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


# ----------------------------------------------------------------------------- HTML


def map_data(report: RunReport, tile_url: str | None = OSM_TILE_URL) -> dict[str, Any]:
    """What the map script draws: downsampled tracks, thinned events, the tile URL (or None)."""
    tracks = downsample_tracks(report.tracks)
    return {
        "tiles": tile_url,
        "roads": [list(line) for line in report.roads],
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
                "t": iso(e.t_ms),
            }
            for e in thin_events(report.events)
        ],
    }


def render_html(
    report: RunReport, *, tile_url: str | None = OSM_TILE_URL, assets: ReportAssets | None = None
) -> str:
    """report.html: one self-contained page. With `tile_url=None` the map has no tile layer (and
    makes no network request); the tracks and markers draw either way."""
    return render_page(as_shown(report), map_data(report, tile_url), assets)


def as_shown(report: RunReport) -> RunReport:
    """The report as report.json shows it: config and statistics masked. The statistics read
    back from their masked JSON form; masking changes only their text (a driver id, a message),
    as none of the snapshot's keys (fields, endpoints, outcomes, stages, error classes) looks
    like a secret's."""
    return dataclasses.replace(
        report,
        stats=StatsSnapshot.from_dict(mask_config(report.stats.to_dict())),
        config=mask_config(report.config),
        orders=_masked_orders(report.orders),
    )


def _masked_orders(orders: Sequence[OrderRecord]) -> tuple[OrderRecord, ...]:
    """The orders with their ids and messages masked as report.json masks text; an order
    without a secret in its text is returned as it is (no copy per order)."""
    out = []
    for order in orders:
        texts = (order.driver_id, order.external_id, order.error_message)
        masked = [redact_text(text) for text in texts]
        if masked != list(texts):
            driver_id, external_id, message = masked
            order = msgspec.structs.replace(
                order, driver_id=driver_id, external_id=external_id, error_message=message
            )
        out.append(order)
    return tuple(out)


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
    """Write report.json, report.html and orders.csv into `directory` (created if missing), each
    atomically (a temp file in the same directory, then rename). Returns (json_path,
    html_path)."""
    directory.mkdir(parents=True, exist_ok=True)
    json_path = directory / "report.json"
    html_path = directory / "report.html"
    write_atomically(json_path, render_json(report))
    write_atomically(html_path, render_html(report))
    write_atomically(directory / ORDERS_CSV, render_orders_csv(_masked_orders(report.orders)))
    return json_path, html_path

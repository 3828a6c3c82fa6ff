"""The charts of report.html (pure): SVG from the statistics snapshot, each axis naming its clock.

Over real run time (`stats.timeline`): latency, requests per second overall and per endpoint,
busy drivers, data sent and received. Over simulated time: the order stages' durations.
Empty buckets count 0 requests (and 0 bytes) and break the latency lines.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from driver_agent.report.chart import bar_chart, line_chart

if TYPE_CHECKING:
    from driver_agent.metrics.stats_snapshot import StatsSnapshot, TimeBucketSnapshot

Series = list[tuple[float, float | None]]
MAX_ENDPOINT_SERIES = 6  # endpoints drawn one by one (the busiest); the rest as "others"
SERIES_COLOURS = ("#0f766e", "#2563eb", "#f59e0b", "#9333ea", "#be185d", "#4d7c0f", "#64748b")
STAGE_LABELS = {  # lifecycle.Stage values, in order
    "assign_to_start": "assign → start",
    "start_to_pickup": "start → pickup check-in",
    "pickup_dwell": "pickup dwell",
    "pickup_to_dropoff": "pickup → dropoff",
    "dropoff_dwell": "dropoff dwell",
    "end_to_end": "order end to end",
    "on_foot": "on foot (within the above)",
}


@dataclass(frozen=True, slots=True)
class Charts:
    latency: str
    requests: str
    endpoints: str
    busy: str
    data: str
    stages: str


@dataclass(frozen=True, slots=True)
class _Timeline:
    x_label: str
    xs: list[float]
    buckets: list[TimeBucketSnapshot | None]  # None: no call in that bucket
    bucket_s: float


def _timeline(stats: StatsSnapshot) -> _Timeline:
    """The buckets on a dense real-time axis (seconds, or minutes past 10 minutes)."""
    bucket_s = stats.bucket_s or 1.0
    by_index = {round(b.start_s / bucket_s): b for b in stats.timeline}
    span_s = (max(by_index, default=0) + 1) * bucket_s
    scale, unit = (60.0, "min") if span_s > 600 else (1.0, "s")
    label = f"real {unit} since start (buckets of {bucket_s:g} s)"
    if not by_index:
        return _Timeline(label, [], [], bucket_s)
    indexes = range(min(by_index), max(by_index) + 1)
    return _Timeline(
        label, [i * bucket_s / scale for i in indexes], [by_index.get(i) for i in indexes], bucket_s
    )


def _per_s(t: _Timeline, value: float | None) -> float:
    return (value or 0.0) / t.bucket_s


def _byte_unit(peak_per_s: float) -> tuple[float, str]:
    for scale, unit in ((1e6, "MB/s"), (1e3, "kB/s")):
        if peak_per_s >= scale:
            return scale, unit
    return 1.0, "bytes/s"


def _endpoint_series(stats: StatsSnapshot, t: _Timeline) -> list[tuple[str, str, Series]]:
    names = [e.endpoint for e in stats.endpoints]
    ranked = sorted(range(len(names)), key=lambda i: (-stats.endpoints[i].count, names[i]))
    shown = ranked[:MAX_ENDPOINT_SERIES]
    rest = ranked[MAX_ENDPOINT_SERIES:]
    groups = [(names[i], [i]) for i in shown] + ([("others", rest)] if rest else [])
    out = []
    for n, (name, members) in enumerate(groups):
        points: Series = []
        for x, b in zip(t.xs, t.buckets, strict=True):
            counts = b.requests_by_endpoint if b else ()
            total = sum(counts[i] for i in members if i < len(counts))
            points.append((x, total / t.bucket_s))
        out.append((name, SERIES_COLOURS[n % len(SERIES_COLOURS)], points))
    return out


def render_charts(stats: StatsSnapshot) -> Charts:
    t = _timeline(stats)
    pairs = list(zip(t.xs, t.buckets, strict=True))
    latency = line_chart(
        "request latency over time",
        t.x_label,
        "latency, ms",
        [
            ("p50", "#2563eb", [(x, b.p50_ms if b and b.count else None) for x, b in pairs]),
            ("p95", "#f59e0b", [(x, b.p95_ms if b and b.count else None) for x, b in pairs]),
        ],
    )
    requests = line_chart(
        "requests per second over time",
        t.x_label,
        "requests per real second",
        [
            ("requests", "#0f766e", [(x, _per_s(t, b.count if b else 0)) for x, b in pairs]),
            ("errors", "#dc2626", [(x, _per_s(t, b.errors if b else 0)) for x, b in pairs]),
        ],
    )
    endpoints = line_chart(
        "requests per second by endpoint",
        t.x_label,
        "requests per real second",
        _endpoint_series(stats, t),
    )
    busy = line_chart(
        "busy drivers over time",
        t.x_label,
        "drivers busy with an order",
        [("busy", "#9333ea", [(x, float(b.busy_drivers) if b else None) for x, b in pairs])],
    )
    peak = max((max(b.bytes_sent, b.bytes_received) for b in stats.timeline), default=0)
    scale, unit = _byte_unit(peak / t.bucket_s)
    data = line_chart(
        "data sent and received over time",
        t.x_label,
        f"body bytes, {unit} (real)",
        [
            (
                "sent",
                "#2563eb",
                [(x, _per_s(t, b.bytes_sent if b else 0) / scale) for x, b in pairs],
            ),
            (
                "received",
                "#16a34a",
                [(x, _per_s(t, b.bytes_received if b else 0) / scale) for x, b in pairs],
            ),
        ],
    )
    return Charts(latency, requests, endpoints, busy, data, _stages_chart(stats))


def _stages_chart(stats: StatsSnapshot) -> str:
    stages = stats.stages_s
    names = [name for name in STAGE_LABELS if name in stages and stages[name].count]
    names += [n for n, s in stages.items() if n not in STAGE_LABELS and s.count]
    return bar_chart(
        "order lifecycle stage durations",
        "duration, simulated s",
        [STAGE_LABELS.get(name, name.replace("_", " ")) for name in names],
        [
            ("p50", "#2563eb", [stages[n].p50 for n in names]),
            ("p95", "#f59e0b", [stages[n].p95 for n in names]),
        ],
    )

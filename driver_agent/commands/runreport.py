"""A finished run's report from its statistics: thresholds on the merged figures, the map.

One function for the single-process run and the head of a distributed one (which passes the
merged statistics and recorder and its workers' rows).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

from driver_agent.commands.preflight import threshold_checks
from driver_agent.core.clock import Clock, wall_time_s
from driver_agent.core.config import Config, masked
from driver_agent.geo.roads import RoadNetwork
from driver_agent.metrics.stats import StatsCollector
from driver_agent.metrics.thresholds import evaluate, metrics_from_stats, parse_thresholds
from driver_agent.report.document import runtime_versions
from driver_agent.report.recorder import TrackRecorder
from driver_agent.report.roadmap import road_lines_near
from driver_agent.report.run import RunReport, WorkerRow, summary_from_stats


def build_run_report(
    config: Config,
    clock: Clock,
    stats: StatsCollector,
    recorder: TrackRecorder,
    network: RoadNetwork,
    *,
    embedded: bool,
    started_ms: int,
    started_real: float,
    drivers: int,
    relocations: int,
    workers: Sequence[WorkerRow] = (),
) -> RunReport:
    expected = config.run.orders
    snapshot = stats.statistics()
    results = evaluate(
        parse_thresholds(threshold_checks(config), "thresholds.checks"),
        metrics_from_stats(snapshot, orders_total=expected),
    )
    orders, orders_dropped = stats.order_rows()
    # the wall clock, read once here at the command's edge (the report's real UTC times); the run
    # began as many real seconds ago as the clock's monotonic time says
    real_ended_s = wall_time_s()
    real_started_s = real_ended_s - max(clock.monotonic() - started_real, 0.0)
    return RunReport(
        stats=snapshot,
        summary=dataclasses.replace(
            summary_from_stats(snapshot, orders_total=expected),
            drivers=drivers,
            relocations=relocations,
        ),
        mode="embedded" if embedded else "remote",
        seed=config.run.seed,
        started_at_ms=started_ms,
        ended_at_ms=clock.now_ms(),
        real_started_at_ms=round(real_started_s * 1000),
        real_ended_at_ms=round(real_ended_s * 1000),
        speed=clock.speed,
        orders=orders,
        orders_dropped=orders_dropped,
        tracks=recorder.tracks,
        events=recorder.events,
        roads=road_lines_near(network, _map_points(recorder)),
        thresholds=results,
        config=masked(config),
        versions=runtime_versions(),
        workers=tuple(workers),
    )


def _map_points(recorder: TrackRecorder) -> list[tuple[float, float]]:
    """Every point the report's map shows: the streets drawn are those around them."""
    points = [p for track in recorder.tracks.values() for p in track]
    points += [(e.lat, e.lng) for e in recorder.events]
    return points

"""The bridge's own position feeds: GPX replays and the NDJSON file or stdin.

Both hand every position to a sink, as the HTTP inputs do: the daemon's `accept` in one process,
the head's forwarder when the bridge runs as several workers (`commands.bridgehead`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import structlog

from driver_agent.bridge.replay import ReplayPoint, load_replay, run_replay
from driver_agent.bridge.sources import Sink, Source, iter_lines, read_ndjson

if TYPE_CHECKING:
    from anyio.abc import TaskGroup

    from driver_agent.bridge.metrics import BridgeMetrics
    from driver_agent.bridge.positions import Position
    from driver_agent.core.clock import Clock
    from driver_agent.core.config import BridgeConfig

log = structlog.get_logger("driver_agent.bridge")

GPX_SOURCE = "gpx"


def start_feeds(
    tg: TaskGroup, b: BridgeConfig, sink: Sink, metrics: BridgeMetrics, clock: Clock
) -> None:
    """Start every GPX replay of `bridge.gpx` (from now, at `bridge.replay_speed`) and the
    NDJSON reader of `bridge.ndjson` in `tg`. The GPX files are read first: a bad one raises
    here, before any replay has started."""
    start_s = clock.now()
    plans = {
        device: load_replay(path, device, round(start_s * 1000)) for device, path in b.gpx.items()
    }

    async def counted(position: Position) -> None:
        await sink(position)
        metrics.position_in(GPX_SOURCE)

    async def replay(device_id: str, plan: list[ReplayPoint]) -> None:
        played = await run_replay(plan, counted, clock, speed=b.replay_speed, start_s=start_s)
        log.info("replay_finished", device_id=device_id, positions=played)

    async def ndjson(path: str) -> None:
        summary = await read_ndjson(iter_lines(path), sink, metrics)
        log.info(
            "ndjson_finished",
            source=str(Source.NDJSON),
            accepted=summary.accepted,
            rejected=summary.rejected,
        )

    for device, plan in plans.items():
        tg.start_soon(replay, device, plan)
    if b.ndjson:
        tg.start_soon(ndjson, b.ndjson)

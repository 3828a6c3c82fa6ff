"""GPX replay: a recorded drive played as a live device, for demos and tests.

`plan_replay` (pure) turns a GPX document into positions for one device: the recorded times are
shifted so the first point happens at `start_ms` (the bridge's start), the intervals between
points are kept. `run_replay` then hands each position to the sink when its time comes, the
waits divided by `speed` (2.0 plays an hour in 30 minutes; the device times keep the recorded
intervals, so dwell times at stops stay true). Every track point needs a `<time>`; a point older
than the one before it is refused naming its line.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from driver_agent.bridge.positions import Position
from driver_agent.core.errors import TrackError
from driver_agent.geo.gpx import GpxDocument, parse_gpx_points

if TYPE_CHECKING:
    from driver_agent.core.clock import Clock

Sink = Callable[[Position], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class ReplayPoint:
    """A position and when to play it, in recorded seconds after the first point."""

    offset_s: float
    position: Position


def plan_replay(
    doc: GpxDocument, device_id: str, start_ms: int, source: str = "<gpx>"
) -> list[ReplayPoint]:
    """The positions of `doc` for `device_id`, the first one at `start_ms`."""
    if not doc.points:
        raise TrackError(source, "no track points to replay")
    plan: list[ReplayPoint] = []
    first_s: float | None = None
    previous_s = -float("inf")
    for point in doc.points:
        where = f"{source}:{point.line}"
        if point.t_s is None:
            raise TrackError(where, "a replayed track point needs a <time>")
        if point.t_s < previous_s:
            raise TrackError(where, "time goes backwards: points must be in recorded order")
        previous_s = point.t_s
        if first_s is None:
            first_s = point.t_s
        offset_s = point.t_s - first_s
        t_ms = start_ms + round(offset_s * 1000)
        plan.append(ReplayPoint(offset_s, Position(device_id, point.lat, point.lng, t_ms)))
    return plan


def load_replay(path: str | Path, device_id: str, start_ms: int) -> list[ReplayPoint]:
    """Read a GPX file and plan its replay (errors name `file:line`)."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise TrackError(str(path), f"cannot read: {exc.strerror}") from None
    except UnicodeDecodeError as exc:
        raise TrackError(str(path), f"not UTF-8 text: {exc.reason}") from None
    return plan_replay(parse_gpx_points(text, str(path)), device_id, start_ms, str(path))


async def run_replay(
    plan: list[ReplayPoint], sink: Sink, clock: Clock, *, speed: float, start_s: float
) -> int:
    """Play the plan in real time divided by `speed`, from clock time `start_s`; returns how
    many positions were handed over. The pace is drift-free: each point waits for its own
    deadline, not for the previous point plus an interval."""
    if speed <= 0:
        raise ValueError(f"speed must be > 0, got {speed}")
    for point in plan:
        await clock.sleep_until(start_s + point.offset_s / speed)
        await sink(point.position)
    return len(plan)

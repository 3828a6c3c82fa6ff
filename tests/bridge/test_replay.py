"""GPX replay: times shifted to the start, intervals kept, pace divided by the speed."""

from __future__ import annotations

from pathlib import Path

import anyio
import pytest

from driver_agent.bridge.positions import Position
from driver_agent.bridge.replay import load_replay, plan_replay, run_replay
from driver_agent.core.clock import VirtualClock
from driver_agent.core.errors import TrackError
from driver_agent.geo.gpx import parse_gpx_points

DATA = Path(__file__).parent.parent / "data" / "bridge"
START_MS = 1_900_000_000_000


def gpx(*points: str) -> str:
    body = "".join(
        f'<trkpt lat="60.1" lon="24.9">{p}</trkpt>\n' if p else '<trkpt lat="60.1" lon="24.9"/>\n'
        for p in points
    )
    return f'<gpx version="1.1">\n<trk><trkseg>\n{body}</trkseg></trk></gpx>'


def test_recorded_times_move_to_the_start_and_keep_their_intervals() -> None:
    plan = load_replay(DATA / "delivery.gpx", "van-1", START_MS)
    assert plan[0].position.t_ms == START_MS
    assert plan[0].offset_s == 0
    assert all(p.position.device_id == "van-1" for p in plan)
    offsets = [p.offset_s for p in plan]
    assert offsets == sorted(offsets)
    assert [p.position.t_ms - START_MS for p in plan] == [round(s * 1000) for s in offsets]
    assert 500 < offsets[-1] < 600


@pytest.mark.parametrize(
    ("points", "where", "message"),
    [
        (("<time>2024-05-01T12:00:00Z</time>", ""), "t.gpx:4", "needs a <time>"),
        (
            ("<time>2024-05-01T12:00:10Z</time>", "<time>2024-05-01T12:00:00Z</time>"),
            "t.gpx:4",
            "backwards",
        ),
    ],
    ids=["missing-time", "time-goes-backwards"],
)
def test_a_point_that_cannot_be_replayed_is_refused_naming_its_line(
    points: tuple[str, ...], where: str, message: str
) -> None:
    doc = parse_gpx_points(gpx(*points), "t.gpx")
    with pytest.raises(TrackError, match=message) as refused:
        plan_replay(doc, "van-1", START_MS, "t.gpx")
    assert refused.value.where == where


def test_a_missing_file_is_a_track_error_naming_it(tmp_path: Path) -> None:
    with pytest.raises(TrackError, match=r"nothing\.gpx"):
        load_replay(tmp_path / "nothing.gpx", "van-1", START_MS)


async def test_the_replay_waits_each_points_recorded_offset_divided_by_the_speed() -> None:
    clock = VirtualClock(start=1_000.0)
    played: list[tuple[float, Position]] = []

    async def sink(p: Position) -> None:
        played.append((clock.now(), p))

    doc = parse_gpx_points(
        gpx(
            "<time>2024-05-01T12:00:00Z</time>",
            "<time>2024-05-01T12:00:10Z</time>",
            "<time>2024-05-01T12:01:00Z</time>",
        )
    )
    plan = plan_replay(doc, "van-1", START_MS)
    with anyio.fail_after(5):
        count = await run_replay(plan, sink, clock, speed=10.0, start_s=clock.now())
    assert count == 3
    assert [t for t, _ in played] == [1_000.0, 1_001.0, 1_006.0]
    assert [p.t_ms - START_MS for _, p in played] == [0, 10_000, 60_000]

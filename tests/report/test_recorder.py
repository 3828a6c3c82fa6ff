"""The map's recorder: bounded tracks that keep their ends, events of the map's kinds only."""

from __future__ import annotations

from driver_agent.report.recorder import TrackRecorder
from driver_agent.report.run import EventKind, MapEvent


def test_a_track_over_its_cap_halves_its_middle_and_keeps_both_ends() -> None:
    recorder = TrackRecorder(max_points_per_driver=10)
    for k in range(11):
        recorder.position("d-1", float(k), 0.0, t_ms=k)
    points = recorder.tracks["d-1"]
    assert len(points) <= 10
    assert (points[0], points[-1]) == ((0.0, 0.0), (10.0, 0.0))
    for k in range(11, 1_000):
        recorder.position("d-1", float(k), 0.0, t_ms=k)
    assert len(recorder.tracks["d-1"]) <= 10
    assert recorder.tracks["d-1"][-1] == (999.0, 0.0)


def test_events_map_to_the_maps_kinds_and_others_are_ignored() -> None:
    recorder = TrackRecorder()
    recorder.event("cancelled", "d-1", 7, 1.0, 2.0, 100)
    recorder.event("completed", "d-1", 7, 1.0, 2.0, 200)
    recorder.event("checkin", "d-2", 8, 3.0, 4.0, 300)
    assert recorder.events == [
        MapEvent(EventKind.CANCEL, 1.0, 2.0, "d-1", 7, 100),
        MapEvent(EventKind.CHECKIN, 3.0, 4.0, "d-2", 8, 300),
    ]


def test_events_past_the_cap_are_counted_not_kept() -> None:
    recorder = TrackRecorder(max_events=2)
    for task_id in range(5):
        recorder.event("pickup", "d", task_id, 0.0, 0.0, task_id)
    assert [e.task_id for e in recorder.events] == [0, 1]
    assert recorder.dropped_events == 3

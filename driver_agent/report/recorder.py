"""Keeps what the report's map draws: each driver's positions (thinned) and its stop events.

Pure. Memory is bounded: at most `max_points_per_driver` positions per driver (older points are
thinned by dropping every other one when the cap is reached) and `max_events` events.
"""

from __future__ import annotations

from driver_agent.report.run import EventKind, MapEvent

_KINDS = {
    "checkin": EventKind.CHECKIN,
    "checkout": EventKind.CHECKOUT,
    "cancelled": EventKind.CANCEL,
    "pickup": EventKind.PICKUP,
    "dropoff": EventKind.DROPOFF,
    "relocation": EventKind.RELOCATION,
}


class TrackRecorder:
    def __init__(self, max_points_per_driver: int = 2_000, max_events: int = 50_000) -> None:
        self.max_points_per_driver = max_points_per_driver
        self.max_events = max_events
        self.tracks: dict[str, list[tuple[float, float]]] = {}
        self.events: list[MapEvent] = []
        self.dropped_events = 0

    def position(self, driver_id: str, lat: float, lng: float, t_ms: int) -> None:
        points = self.tracks.get(driver_id)
        if points is None:
            points = self.tracks[driver_id] = []
        points.append((lat, lng))
        if len(points) > self.max_points_per_driver:
            del points[1:-1:2]  # keep both ends, halve the middle

    def event(
        self, kind: str, driver_id: str, task_id: int, lat: float, lng: float, t_ms: int
    ) -> None:
        """Record a map event; kinds other than the map's (completed, failed...) are ignored."""
        mapped = _KINDS.get(kind)
        if mapped is None:
            return
        if len(self.events) >= self.max_events:
            self.dropped_events += 1
            return
        self.events.append(MapEvent(mapped, lat, lng, driver_id, task_id, t_ms))

    def merge(self, other: TrackRecorder) -> None:
        """Add another recorder's tracks and events (a worker's: its drivers are its own)."""
        for driver_id, points in other.tracks.items():
            self.tracks.setdefault(driver_id, []).extend(points)
        room = max(0, self.max_events - len(self.events))
        self.events.extend(other.events[:room])
        self.dropped_events += other.dropped_events + max(0, len(other.events) - room)

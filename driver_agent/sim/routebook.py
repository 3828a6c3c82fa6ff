"""Recorded routes the user gives (`run.routes`, `--route FILE`): the run's orders follow them.

Each GPX or GeoJSON file is one route (`geo.tracks.load_track`); a directory stands for every
`.gpx` and `.geojson` file in it, sorted by name. The run's orders take the routes in turn
(`plan_orders`): pickup at a route's first point, dropoff at its last. A driver leaving such a
pickup for that dropoff drives the recorded track (`Navigator`), at its recorded pace when its
points have times, instead of a route the router finds: it pulls out from where its van is
parked onto the track's first point, then follows the track as recorded, wherever it lies (on
the road network's area or far from it). The drive to such a pickup goes on the roads as far as
they reach and on to the pickup itself (`drive_on_to`): the recording shows a van gets there.

Pure apart from `load_routes`, which reads the files and directories it is given.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from driver_agent.core.errors import ConfigError
from driver_agent.geo.geometry import haversine_m
from driver_agent.geo.tracks import MIN_VERTEX_GAP_M, Track, load_track

ROUTE_SUFFIXES = (".gpx", ".geojson")  # what a directory of routes is searched for
MATCH_END_M = 1.0  # a dropoff this close to a route's last point is that route's dropoff
JOIN_SPEED_MPS = 4.0  # the recorded time of pulling out of the parking spot onto the track
JOIN_ROAD_CLASS = "service"  # the way between the roads and a route's first point: a yard, a lane
COORDINATE_DIGITS = 7  # orders carry the routes' ends rounded like every other coordinate


@dataclass(frozen=True, slots=True)
class RecordedRoute:
    """One recorded drive: its track, a name, and the pickup and dropoff orders put at its ends."""

    track: Track
    name: str
    pickup: tuple[float, float]
    dropoff: tuple[float, float]

    @classmethod
    def of(cls, track: Track) -> RecordedRoute:
        """The route of `track`, named by the track's name or else its file's name."""
        name = track.name or Path(track.source).stem or "recorded route"
        return cls(track, name, _rounded(track.start), _rounded(track.end))

    def drive_from(self, lat: float, lng: float) -> Track:
        """The track driven from a van parked at (lat, lng): a straight pull-out onto the first
        point (when the van stands off it), then the recording as it is, times and all."""
        track = self.track
        x, y = track.projection.forward(lat, lng)
        xy = _vertices(track)
        gap_m = math.hypot(x - xy[0][0], y - xy[0][1])
        if gap_m < 2 * MIN_VERTEX_GAP_M:
            return track
        xy.insert(0, (x, y))
        times = track.times_s
        classes = track.road_classes
        limits = track.speed_limits_mps
        return Track.from_xy(
            xy,
            track.projection,
            times_s=None if times is None else (times[0] - gap_m / JOIN_SPEED_MPS, *times),
            road_classes=None if classes is None else (classes[0], *classes),
            speed_limits_mps=None if limits is None else (limits[0], *limits),
            junctions=(j + 1 for j in track.junctions),
            waypoints=track.waypoints,
            name=track.name,
            source=track.source,
        )


@dataclass(frozen=True, slots=True)
class RouteBook:
    """The run's recorded routes, in order; empty when none were given."""

    routes: tuple[RecordedRoute, ...] = ()

    def __len__(self) -> int:
        return len(self.routes)

    def is_pickup(self, lat: float, lng: float) -> bool:
        """Whether (lat, lng) is the first point of one of the routes."""
        return any(haversine_m(lat, lng, *route.pickup) <= MATCH_END_M for route in self.routes)

    def match(
        self, from_lat: float, from_lng: float, to_lat: float, to_lng: float, *, within_m: float
    ) -> RecordedRoute | None:
        """The route whose dropoff is (to_lat, to_lng) and whose pickup lies within `within_m`
        of (from_lat, from_lng), the nearest such; None when the leg is not a recorded one."""
        best: RecordedRoute | None = None
        best_m = within_m
        for route in self.routes:
            if haversine_m(to_lat, to_lng, *route.dropoff) > MATCH_END_M:
                continue
            start_m = haversine_m(from_lat, from_lng, *route.pickup)
            if start_m <= best_m:
                best, best_m = route, start_m
        return best


def drive_on_to(track: Track, lat: float, lng: float) -> Track:
    """`track`, then on in a straight line at a service road's pace to (lat, lng) when it ends
    short of it: to a route's first point, which a van reached when the route was recorded."""
    x, y = track.projection.forward(lat, lng)
    xy = _vertices(track)
    gap_m = math.hypot(x - xy[-1][0], y - xy[-1][1])
    if gap_m < 2 * MIN_VERTEX_GAP_M:
        return track
    xy.append((x, y))
    times = track.times_s
    classes = track.road_classes
    limits = track.speed_limits_mps
    return Track.from_xy(
        xy,
        track.projection,
        times_s=None if times is None else (*times, times[-1] + gap_m / JOIN_SPEED_MPS),
        road_classes=None if classes is None else (*classes, JOIN_ROAD_CLASS),
        speed_limits_mps=None if limits is None else (*limits, 0.0),
        junctions=track.junctions,
        waypoints=track.waypoints,
        name=track.name,
        source=track.source,
    )


def route_paths(entries: Sequence[str]) -> list[Path]:
    """The route files `entries` name: a file as it is, a directory as its `.gpx` and `.geojson`
    files sorted by name. A directory without any is a ConfigError naming it."""
    paths: list[Path] = []
    for entry in entries:
        path = Path(entry)
        if not path.is_dir():
            paths.append(path)  # load_track names the file if it cannot be read
            continue
        found = sorted(
            p for p in path.iterdir() if p.suffix.lower() in ROUTE_SUFFIXES and p.is_file()
        )
        if not found:
            raise ConfigError(entry, "a directory of routes without .gpx or .geojson files")
        paths.extend(found)
    return paths


def load_routes(entries: Sequence[str]) -> RouteBook:
    """Read every route `entries` name (`route_paths`); a file that cannot be read is a
    TrackError naming the file and the line or feature."""
    return RouteBook(tuple(RecordedRoute.of(load_track(p)) for p in route_paths(entries)))


def _vertices(track: Track) -> list[tuple[float, float]]:
    return [(float(x), float(y)) for x, y, *_ in track.line.coords]


def _rounded(point: tuple[float, float]) -> tuple[float, float]:
    return round(point[0], COORDINATE_DIGITS), round(point[1], COORDINATE_DIGITS)

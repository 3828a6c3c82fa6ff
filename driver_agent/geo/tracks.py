"""GPX and GeoJSON in, one `Track` type out: a shapely line in local metres plus what we know.

A `Track` carries the path (a `LineString` in the metres of its own `LocalProjection`), and,
where the source says so, a time per vertex (GPX `<time>`), named waypoints (GPX `<wpt>`,
GeoJSON Point features), a road class and a speed limit per segment, and which vertices are
road junctions. `load_track(path)` reads either format; errors are `TrackError`s naming
`file:line` (GPX, or a GeoJSON syntax error) or `file: feature N` (GeoJSON, N counts from 0).

Real phone traces are noisy and have gaps: consecutive duplicates are merged, and points whose
implied speed from the previous kept point exceeds `MAX_PLAUSIBLE_SPEED_MPS` are dropped as
spikes; gaps stay as straight segments (movement along them is interpolated).

Pure apart from `load_track`, which reads the one file it is given.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from itertools import pairwise
from pathlib import Path
from typing import Any

from shapely.geometry import LineString

from driver_agent.core.errors import TrackError
from driver_agent.geo.geojson import read_geojson
from driver_agent.geo.geometry import (
    LocalProjection,
    check_lat_lng,
    destination,
    haversine_m,
    interpolate,
)
from driver_agent.geo.gpx import parse_gpx_points
from driver_agent.geo.roadclass import STRAIGHT_LINE_CLASS

MAX_PLAUSIBLE_SPEED_MPS = 70.0
MIN_VERTEX_GAP_M = 0.05

__all__ = [
    "MAX_PLAUSIBLE_SPEED_MPS",
    "Track",
    "Waypoint",
    "load_track",
    "parse_geojson",
    "parse_gpx",
    "straight_track",
    "track_to_geojson",
]


@dataclass(frozen=True, slots=True)
class Waypoint:
    """A named point that belongs to a track (a GPX `<wpt>`, a GeoJSON Point feature)."""

    name: str
    lat: float
    lng: float
    t_s: float | None = None


@dataclass(frozen=True, eq=False)
class Track:
    """A path in local metres with its projection and the per-vertex/segment facts we know.

    `road_classes[i]` and `speed_limits_mps[i]` describe segment i (vertex i to i+1); an empty
    class or a 0.0 limit means unknown. `times_s` (epoch seconds) is per vertex, when every
    vertex had one. Build one with `Track.from_latlngs`.
    """

    line: LineString
    projection: LocalProjection
    times_s: tuple[float, ...] | None = None
    road_classes: tuple[str, ...] | None = None
    speed_limits_mps: tuple[float, ...] | None = None
    junctions: frozenset[int] = frozenset()
    waypoints: tuple[Waypoint, ...] = ()
    name: str = ""
    source: str = ""
    _cum_m: tuple[float, ...] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        coords = list(self.line.coords)
        cum = [0.0]
        for (x0, y0), (x1, y1) in pairwise(coords):
            cum.append(cum[-1] + math.hypot(x1 - x0, y1 - y0))
        object.__setattr__(self, "_cum_m", tuple(cum))

    @classmethod
    def from_latlngs(
        cls,
        points: Sequence[tuple[float, float]],
        *,
        projection: LocalProjection | None = None,
        **facts: Any,
    ) -> Track:
        """Build a track from (lat, lng) vertices; raises ValueError on fewer than 2 places.

        Without a projection, one centred on the points is used (right for any extent).
        `facts` are the keyword arguments of `from_xy`.
        """
        if len(points) < 2:
            raise ValueError(f"a track needs at least 2 points, got {len(points)}")
        proj = projection if projection is not None else LocalProjection.around(points)
        return cls.from_xy(proj.forward_many(points), proj, **facts)

    @classmethod
    def from_xy(
        cls,
        xy: Sequence[tuple[float, float]],
        projection: LocalProjection,
        *,
        times_s: Sequence[float] | None = None,
        road_classes: Sequence[str] | None = None,
        speed_limits_mps: Sequence[float] | None = None,
        junctions: Iterable[int] = (),
        waypoints: Iterable[Waypoint] = (),
        name: str = "",
        source: str = "",
    ) -> Track:
        """Build a track from vertices in `projection`'s metres, merging repeated vertices."""
        n = len(xy)
        for label, seq, want in (
            ("times_s", times_s, n),
            ("road_classes", road_classes, n - 1),
            ("speed_limits_mps", speed_limits_mps, n - 1),
        ):
            if seq is not None and len(seq) != want:
                raise ValueError(f"{label} has {len(seq)} entries, expected {want}")
        if n < 2:
            raise ValueError(f"a track needs at least 2 points, got {n}")
        keep = [0]
        for i in range(1, n):
            px, py = xy[keep[-1]]
            if math.hypot(xy[i][0] - px, xy[i][1] - py) >= MIN_VERTEX_GAP_M:
                keep.append(i)
            elif i == n - 1 and len(keep) > 1:
                keep[-1] = i  # keep the true end point
        if len(keep) < 2:
            raise ValueError("a track needs at least 2 distinct points")

        def per_segment(seq: Sequence[Any] | None) -> tuple[Any, ...] | None:
            # segment j of the result runs keep[j] -> keep[j+1]; it takes the facts of the
            # original segment that ends at keep[j+1] (the last one merged into it)
            if seq is None:
                return None
            return tuple(seq[keep[j + 1] - 1] for j in range(len(keep) - 1))

        junction_set = set(junctions)
        return cls(
            line=LineString([xy[i] for i in keep]),
            projection=projection,
            times_s=None if times_s is None else tuple(float(times_s[i]) for i in keep),
            road_classes=per_segment(road_classes),
            speed_limits_mps=per_segment(speed_limits_mps),
            junctions=frozenset(j for j, i in enumerate(keep) if i in junction_set),
            waypoints=tuple(waypoints),
            name=name,
            source=source,
        )

    @property
    def length_m(self) -> float:
        return self._cum_m[-1]

    @property
    def vertex_distances_m(self) -> tuple[float, ...]:
        """Distance along the track of each vertex, from 0 to `length_m`."""
        return self._cum_m

    @property
    def start(self) -> tuple[float, float]:
        return self.latlngs()[0]

    @property
    def end(self) -> tuple[float, float]:
        return self.latlngs()[-1]

    def latlngs(self) -> list[tuple[float, float]]:
        return self.projection.inverse_many(self.line.coords)  # type: ignore[arg-type]

    def point_at(self, distance_m: float) -> tuple[float, float]:
        """(lat, lng) at `distance_m` along the track (clamped to its ends)."""
        p = self.line.interpolate(max(0.0, min(distance_m, self.length_m)))
        return self.projection.inverse(p.x, p.y)

    def straight_line_m(self) -> float:
        (lat1, lng1), (lat2, lng2) = self.start, self.end
        return haversine_m(lat1, lng1, lat2, lng2)


def straight_track(from_lat: float, from_lng: float, to_lat: float, to_lng: float) -> Track:
    """The great-circle line between two points anywhere on Earth, for driving off the map.

    Projected around its own midpoint (where a great circle through the centre is a straight
    line with true lengths), with the `straight` road class (urban pace). Identical ends get a
    1 m hop so the track is never empty. Raises ValueError on coordinates out of range.
    """
    check_lat_lng(from_lat, from_lng)
    check_lat_lng(to_lat, to_lng)
    if haversine_m(from_lat, from_lng, to_lat, to_lng) < 2 * MIN_VERTEX_GAP_M:
        to_lat, to_lng = destination(from_lat, from_lng, 0.0, 1.0)
    mid = interpolate(from_lat, from_lng, to_lat, to_lng, 0.5)
    projection = LocalProjection(*mid)
    return Track.from_latlngs(
        [(from_lat, from_lng), (to_lat, to_lng)],
        projection=projection,
        road_classes=[STRAIGHT_LINE_CLASS],
        name="straight line",
    )


def drop_spikes(
    points: list[tuple[float, float]], times_s: list[float]
) -> tuple[list[tuple[float, float]], list[float]]:
    """Drop fixes whose implied speed from the previous kept fix is implausible for a vehicle."""
    kept_p, kept_t = [points[0]], [times_s[0]]
    for p, t in zip(points[1:], times_s[1:], strict=True):
        dt = t - kept_t[-1]
        d = haversine_m(*kept_p[-1], *p)
        if dt > 0 and d / dt > MAX_PLAUSIBLE_SPEED_MPS:
            continue
        kept_p.append(p)
        kept_t.append(t)
    return kept_p, kept_t


def parse_gpx(text: str, source: str = "<gpx>") -> Track:
    """A GPX 1.0/1.1 document: track points (else route points, else waypoints) in order."""
    parsed = parse_gpx_points(text, source)
    points = [(p.lat, p.lng) for p in parsed.points]
    times: list[float] | None = None
    if points and all(p.t_s is not None for p in parsed.points):
        times = [p.t_s for p in parsed.points if p.t_s is not None]
        points, times = drop_spikes(points, times)
    waypoints = [Waypoint(w.name, w.lat, w.lng, w.t_s) for w in parsed.waypoints]
    try:
        return Track.from_latlngs(
            points, times_s=times, waypoints=waypoints, name=parsed.name, source=source
        )
    except ValueError as e:
        raise TrackError(source, f"no usable track: {e}") from None


def parse_geojson(text: str, source: str = "<geojson>") -> Track:
    """A GeoJSON document (`geo.geojson.read_geojson`) as a track.

    Optional line properties: `name`, `times` or `coordTimes` (ISO 8601 or epoch seconds, one per
    vertex), `road_classes` and `speed_limits_kph` (one per segment), `junctions` (vertex indices).
    """
    line = read_geojson(text, source)
    try:
        return Track.from_latlngs(
            line.points,
            times_s=line.times,
            road_classes=line.road_classes if any(line.road_classes) else None,
            speed_limits_mps=line.speed_limits_mps if any(line.speed_limits_mps) else None,
            junctions=line.junctions,
            waypoints=[Waypoint(w.name, w.lat, w.lng) for w in line.waypoints],
            name=line.name,
            source=source,
        )
    except ValueError as e:
        raise TrackError(source, f"no usable track: {e}") from None


def load_track(path: str | Path) -> Track:
    """Read a GPX or GeoJSON file (by extension; otherwise by its first character)."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as e:
        raise TrackError(str(p), f"cannot read: {e}") from None
    suffix = p.suffix.lower()
    if suffix == ".gpx":
        return parse_gpx(text, str(p))
    if suffix in (".geojson", ".json"):
        return parse_geojson(text, str(p))
    head = text.lstrip()[:1]
    if head == "<":
        return parse_gpx(text, str(p))
    if head in ("{", "["):
        return parse_geojson(text, str(p))
    raise TrackError(str(p), "neither GPX nor GeoJSON (expected a .gpx or .geojson file)")


def track_to_geojson(track: Track, properties: dict[str, Any] | None = None) -> dict[str, Any]:
    """A FeatureCollection that `parse_geojson` reads back into the same track."""
    props: dict[str, Any] = {"name": track.name, **(properties or {})}
    if track.road_classes is not None:
        props["road_classes"] = list(track.road_classes)
    if track.speed_limits_mps is not None:
        props["speed_limits_kph"] = [round(v * 3.6, 1) for v in track.speed_limits_mps]
    if track.junctions:
        props["junctions"] = sorted(track.junctions)
    if track.times_s is not None:
        props["times"] = list(track.times_s)
    line = {
        "type": "Feature",
        "properties": props,
        "geometry": {
            "type": "LineString",
            "coordinates": [[round(lng, 7), round(lat, 7)] for lat, lng in track.latlngs()],
        },
    }
    points = [
        {
            "type": "Feature",
            "properties": {"name": w.name},
            "geometry": {"type": "Point", "coordinates": [round(w.lng, 7), round(w.lat, 7)]},
        }
        for w in track.waypoints
    ]
    return {"type": "FeatureCollection", "features": [line, *points]}

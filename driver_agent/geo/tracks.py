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
from driver_agent.core.jsonbody import BodyError, decode_json_text
from driver_agent.geo.geometry import (
    LocalProjection,
    check_lat_lng,
    destination,
    haversine_m,
    interpolate,
)
from driver_agent.geo.gpx import parse_gpx_points, parse_time
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


def _feature_error(source: str, index: int, message: str) -> TrackError:
    return TrackError(f"{source}: feature {index}", message)


def _coords(raw: object, source: str, index: int) -> list[tuple[float, float]]:
    if not isinstance(raw, list):
        raise _feature_error(source, index, "coordinates must be a list")
    out: list[tuple[float, float]] = []
    for k, c in enumerate(raw):
        ok = isinstance(c, list) and len(c) >= 2
        ok = ok and all(isinstance(v, int | float) and not isinstance(v, bool) for v in c[:2])
        if not ok:
            raise _feature_error(source, index, f"coordinate {k}: expected [lng, lat], got {c!r}")
        lng, lat = float(c[0]), float(c[1])
        if not (math.isfinite(lat) and -90.0 <= lat <= 90.0):
            raise _feature_error(source, index, f"coordinate {k}: lat {lat!r} outside [-90, 90]")
        if not (math.isfinite(lng) and -180.0 <= lng <= 180.0):
            raise _feature_error(source, index, f"coordinate {k}: lng {lng!r} outside [-180, 180]")
        out.append((lat, lng))
    return out


def _list_prop(
    props: dict[str, Any], key: str, want: int, source: str, index: int
) -> list[Any] | None:
    value = props.get(key)
    if value is None:
        return None
    if not isinstance(value, list) or len(value) != want:
        raise _feature_error(source, index, f"property {key!r} must be a list of {want} values")
    return value


def _features(doc: object, source: str) -> list[Any]:
    if not isinstance(doc, dict):
        raise TrackError(source, "GeoJSON must be an object")
    kind = doc.get("type")
    if kind == "FeatureCollection":
        features = doc.get("features")
        if not isinstance(features, list):
            raise TrackError(source, "FeatureCollection without a 'features' list")
        return features
    if kind == "Feature":
        return [doc]
    if kind in ("LineString", "MultiLineString", "Point"):
        return [{"type": "Feature", "geometry": doc, "properties": {}}]
    raise TrackError(source, f"unsupported GeoJSON type {kind!r}")


def parse_geojson(text: str, source: str = "<geojson>") -> Track:
    """LineString / MultiLineString features joined in order into one track; Points are waypoints.

    Optional line properties: `name`, `times` or `coordTimes` (ISO 8601 or epoch seconds, one per
    vertex), `road_classes` and `speed_limits_kph` (one per segment), `junctions` (vertex indices).
    """
    try:
        doc = decode_json_text(text)
    except BodyError as e:  # also nesting deeper than 64 and numbers past jsonbody's bounds
        where = source if e.line is None else f"{source}:{e.line}"
        raise TrackError(where, f"invalid JSON: {e.message}") from None
    points: list[tuple[float, float]] = []
    times: list[float] | None = []
    classes: list[str] = []
    limits: list[float] = []
    junctions: list[int] = []
    waypoints: list[Waypoint] = []
    name = ""
    for index, feature in enumerate(_features(doc, source)):
        if not isinstance(feature, dict) or feature.get("type") != "Feature":
            raise _feature_error(source, index, "not a GeoJSON Feature")
        geometry = feature.get("geometry")
        props = feature.get("properties") or {}
        if not isinstance(props, dict):
            raise _feature_error(source, index, "properties must be an object")
        if geometry is None:
            continue
        if not isinstance(geometry, dict):
            raise _feature_error(source, index, "geometry must be an object")
        gtype = geometry.get("type")
        if gtype == "Point":
            (lat, lng), *_ = _coords([geometry.get("coordinates")], source, index)
            waypoints.append(Waypoint(str(props.get("name", "")), lat, lng))
            continue
        if gtype == "LineString":
            parts = [_coords(geometry.get("coordinates"), source, index)]
        elif gtype == "MultiLineString":
            raw = geometry.get("coordinates")
            if not isinstance(raw, list):
                raise _feature_error(source, index, "coordinates must be a list of lines")
            parts = [_coords(line, source, index) for line in raw]
        else:
            raise _feature_error(source, index, f"unsupported geometry type {gtype!r}")
        line = [p for part in parts for p in part]
        if not line:
            continue
        name = name or str(props.get("name", ""))
        n = len(line)
        raw_times = _list_prop(props, "times", n, source, index)
        if raw_times is None:
            raw_times = _list_prop(props, "coordTimes", n, source, index)
        if raw_times is None or times is None:
            times = None
        else:
            for k, value in enumerate(raw_times):
                if isinstance(value, int | float) and not isinstance(value, bool):
                    times.append(float(value))
                else:
                    t = parse_time(str(value))
                    if t is None:
                        raise _feature_error(source, index, f"times[{k}]: bad time {value!r}")
                    times.append(t)
        base = len(points)
        if points:  # the hop from the previous feature's end to this one's start
            classes.append("")
            limits.append(0.0)
        points.extend(line)
        rc = _list_prop(props, "road_classes", n - 1, source, index) or [""] * (n - 1)
        classes.extend(str(c or "") for c in rc)
        sl = _list_prop(props, "speed_limits_kph", n - 1, source, index) or [0.0] * (n - 1)
        try:
            limits.extend(float(v or 0.0) / 3.6 for v in sl)
        except (TypeError, ValueError):
            raise _feature_error(source, index, "speed_limits_kph must be numbers") from None
        raw_junctions = props.get("junctions")
        for j in raw_junctions if isinstance(raw_junctions, list) else []:
            if isinstance(j, int) and not isinstance(j, bool) and 0 <= j < n:
                junctions.append(base + j)
    if not points:
        raise TrackError(source, "no LineString or MultiLineString feature with coordinates")
    try:
        return Track.from_latlngs(
            points,
            times_s=times,
            road_classes=classes if any(classes) else None,
            speed_limits_mps=limits if any(limits) else None,
            junctions=junctions,
            waypoints=waypoints,
            name=name,
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

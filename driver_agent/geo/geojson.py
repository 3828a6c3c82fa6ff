"""GeoJSON track files read (pure): the line, its per-vertex times and per-segment road data.

LineString / MultiLineString features are joined in order into one line; Point features are
named waypoints. Errors are `TrackError`s naming `file:line` (a JSON syntax error) or
`file: feature N` (N counts from 0). `geo.tracks.parse_geojson` turns the result into a `Track`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from driver_agent.core.errors import TrackError
from driver_agent.core.jsonbody import BodyError, decode_json_text
from driver_agent.geo.gpx import parse_time


@dataclass(frozen=True, slots=True)
class GeoJsonPoint:
    """A Point feature: its `name` property and where it is."""

    name: str
    lat: float
    lng: float


@dataclass(frozen=True, slots=True)
class GeoJsonLine:
    """What a GeoJSON document says about one track; `times` is None unless every line has
    them; `road_classes` ("" unknown) and `speed_limits_mps` (0.0 unknown) are per segment."""

    points: list[tuple[float, float]]
    times: list[float] | None
    road_classes: list[str]
    speed_limits_mps: list[float]
    junctions: list[int]
    waypoints: list[GeoJsonPoint]
    name: str


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


def read_geojson(text: str, source: str = "<geojson>") -> GeoJsonLine:
    """LineString / MultiLineString features joined in order into one line; Points are waypoints.

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
    waypoints: list[GeoJsonPoint] = []
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
            waypoints.append(GeoJsonPoint(str(props.get("name", "")), lat, lng))
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
    return GeoJsonLine(points, times, classes, limits, junctions, waypoints, name)

"""A route as one GeoJSON Feature, what `driver-agent roads route` prints (pure).

The LineString's coordinates are [lng, lat] (rounded to 1e-7 degrees, about 1 cm); its properties
give the road length, the free-flow driving time (each segment at its road class's cruise speed,
capped by a known limit: what the router minimises) and the two road points the ends snapped to.
"""

from __future__ import annotations

from itertools import pairwise
from typing import Any

from driver_agent.geo.roadclass import cruise_mps
from driver_agent.geo.roadfile import ATTRIBUTION
from driver_agent.geo.tracks import Track


def travel_time_s(track: Track) -> float:
    """Seconds to drive `track` at cruise speed (per segment: class, limit; else urban pace)."""
    cum = track.vertex_distances_m
    lengths = [b - a for a, b in pairwise(cum)]
    classes = track.road_classes or ("",) * len(lengths)
    limits = track.speed_limits_mps or (0.0,) * len(lengths)
    return sum(
        length / cruise_mps(c, limit)
        for length, c, limit in zip(lengths, classes, limits, strict=True)
    )


def route_feature(
    track: Track, origin: tuple[float, float], destination: tuple[float, float], graph: str
) -> dict[str, Any]:
    """The Feature for a route from `origin` to `destination` (as asked) on `graph`."""
    return {
        "type": "Feature",
        "geometry": {
            "type": "LineString",
            "coordinates": [[round(lng, 7), round(lat, 7)] for lat, lng in track.latlngs()],
        },
        "properties": {
            "length_m": round(track.length_m, 1),
            "duration_s": round(travel_time_s(track), 1),
            "from": _point(origin, track.start),
            "to": _point(destination, track.end),
            "graph": graph,
            "attribution": ATTRIBUTION,
        },
    }


def _point(asked: tuple[float, float], snapped: tuple[float, float]) -> dict[str, Any]:
    return {
        "asked": [round(asked[1], 7), round(asked[0], 7)],
        "snapped": [round(snapped[1], 7), round(snapped[0], 7)],
    }

"""The streets for the maps, from the road graph itself, so they draw with no tile server (pure).

`road_lines(network)` gives every road stretch as a (lat, lng) polyline (the live map serves all
of them); `road_lines_near(network, points)` only those with a point within `margin_m` of the
run's tracks and events, so report.html stays small on a regional graph.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

from driver_agent.geo.roads import RoadNetwork

Polyline = tuple[tuple[float, float], ...]
DECIMALS = 5  # about 1 m: enough for a street drawn under the tracks


def road_lines(network: RoadNetwork, decimals: int = 6) -> list[Polyline]:
    """The road graph as (lat, lng) polylines."""
    inverse = network.projection.inverse
    return [
        tuple(
            (round(lat, decimals), round(lng, decimals))
            for lat, lng in (inverse(x, y) for x, y in e.line.coords)
        )
        for e in network.edges
    ]


def road_lines_near(
    network: RoadNetwork | None, points: Iterable[tuple[float, float]], margin_m: float = 400.0
) -> list[Polyline]:
    """The road stretches with a point inside the box around `points`, grown by `margin_m`."""
    if network is None:
        return []
    lats, lngs = [], []
    for lat, lng in points:
        lats.append(lat)
        lngs.append(lng)
    if not lats:
        return []
    dlat = margin_m / 111_320.0
    dlng = margin_m / (111_320.0 * max(0.01, math.cos(math.radians(sum(lats) / len(lats)))))
    south, north = min(lats) - dlat, max(lats) + dlat
    west, east = min(lngs) - dlng, max(lngs) + dlng
    return [
        line
        for line in road_lines(network, DECIMALS)
        if any(south <= lat <= north and west <= lng <= east for lat, lng in line)
    ]

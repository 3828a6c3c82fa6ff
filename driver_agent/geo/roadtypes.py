"""The road graph's value types: a depot, an edge, an edge as given to `RoadNetwork`.

Values only: no logic, no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass

from shapely.geometry import LineString

RawEdge = tuple[int, int, str, float, bool, list[tuple[float, float]]]


@dataclass(frozen=True, slots=True)
class Depot:
    """A fixed pickup point on the network."""

    name: str
    lat: float
    lng: float


@dataclass(frozen=True, slots=True)
class Edge:
    """A directed road stretch from node `u` to node `v`; two-way unless `oneway`."""

    u: int
    v: int
    road_class: str
    speed_limit_mps: float
    oneway: bool
    line: LineString
    length_m: float
    cost_s: float

"""A city's drivable road graph, and the fastest route between two points on it.

The committed graph (`routes/helsinki.roads.json.gz`, built by `routes/build.py` from
OpenStreetMap data, © OpenStreetMap contributors, ODbL 1.0) is loaded once. Nodes are junctions
and dead ends; each edge keeps its shape, OSM road class, speed limit when known and one-way
rule. `RoadNetwork.route()` snaps both ends to the nearest edge (an STRtree), runs Dijkstra on
travel time over adjacency lists (a few ms for a city centre) and returns a `Track` that starts
and ends at those snapped points on the road, with a road class and speed limit per segment and
its junction vertices marked. Points farther than `max_snap_m` from every road are not covered:
`route()` returns None and the caller falls back to a straight line.

Pure apart from reading the graph file it is pointed at.
"""

from __future__ import annotations

import gzip
import heapq
import json
import math
import random
from bisect import bisect_left
from dataclasses import dataclass
from functools import lru_cache
from itertools import accumulate
from pathlib import Path
from typing import Any

import shapely
from shapely.geometry import LineString, Point
from shapely.ops import substring

from driver_agent.core.errors import ConfigError
from driver_agent.geo.geometry import LocalProjection, haversine_m
from driver_agent.geo.roadclass import cruise_mps
from driver_agent.geo.tracks import Track, straight_track

GRAPH_FORMAT = "driver-agent-roads/1"
DEFAULT_GRAPH_NAME = "helsinki.roads.json.gz"
DEFAULT_MAX_SNAP_M = 300.0


def routes_dir() -> Path:
    """The committed `routes/` folder: in the source tree, or `driver_agent/_routes` in a wheel."""
    package = Path(__file__).resolve().parent.parent  # driver_agent/
    for candidate in (package.parent / "routes", package / "_routes"):
        if (candidate / DEFAULT_GRAPH_NAME).is_file():
            return candidate
    return package.parent / "routes"


def route_files(directory: Path | None = None) -> list[Path]:
    """The ready pickup-to-dropoff routes (GeoJSON), sorted by name."""
    base = (directory or routes_dir()) / "helsinki"
    return sorted(base.glob("*.geojson"))


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


@dataclass(frozen=True, slots=True)
class _Snap:
    edge: int
    offset_m: float
    distance_m: float


class RoadNetwork:
    """A drivable road graph in local metres, with snapping and fastest-route search."""

    def __init__(
        self,
        nodes: list[tuple[float, float]],
        edges: list[tuple[int, int, str, float, bool, list[tuple[float, float]]]],
        *,
        depots: list[Depot] | None = None,
        name: str = "",
        max_snap_m: float = DEFAULT_MAX_SNAP_M,
    ) -> None:
        """`nodes` are (lat, lng); each edge is (u, v, road class, limit m/s, oneway, shape)
        where shape lists the (lat, lng) points strictly between the two nodes."""
        if not nodes or not edges:
            raise ValueError("a road network needs nodes and edges")
        self.name = name
        self.max_snap_m = max_snap_m
        lats = [lat for lat, _ in nodes]
        lngs = [lng for _, lng in nodes]
        self.bbox = (min(lats), min(lngs), max(lats), max(lngs))
        self.projection = LocalProjection.around(nodes)
        self.node_xy = self.projection.forward_many(nodes)
        self.center = (self.projection.ref_lat, self.projection.ref_lng)
        self.radius_m = max(haversine_m(*self.center, lat, lng) for lat, lng in nodes)
        self.edges: list[Edge] = []
        self.adjacency: list[list[tuple[int, int, bool]]] = [[] for _ in nodes]
        for u, v, road_class, limit_mps, oneway, shape in edges:
            xy = [self.node_xy[u], *self.projection.forward_many(shape), self.node_xy[v]]
            line = LineString(xy)
            speed = cruise_mps(road_class, limit_mps)
            edge = Edge(u, v, road_class, limit_mps, oneway, line, line.length, line.length / speed)
            index = len(self.edges)
            self.edges.append(edge)
            self.adjacency[u].append((v, index, True))
            if not oneway:
                self.adjacency[v].append((u, index, False))
        self.depots: tuple[Depot, ...] = tuple(depots or ())
        self._tree = shapely.STRtree([e.line for e in self.edges])
        self._cum_length = list(accumulate(e.length_m for e in self.edges))

    @classmethod
    def load(cls, path: Path | str | None = None) -> RoadNetwork:
        """The graph at `path` (gzip'd or plain JSON); the committed one by default (cached)."""
        if path is None:
            return _default_network()
        return _read_network(Path(path))

    @property
    def total_length_m(self) -> float:
        return self._cum_length[-1]

    def _snap(self, lat: float, lng: float) -> _Snap | None:
        if haversine_m(*self.center, lat, lng) > self.radius_m + self.max_snap_m:
            return None
        point = Point(self.projection.forward(lat, lng))
        hits, dists = self._tree.query_nearest(
            point, max_distance=self.max_snap_m, return_distance=True, all_matches=False
        )
        if len(hits) == 0:
            return None
        index = int(hits[0])
        return _Snap(index, float(self.edges[index].line.project(point)), float(dists[0]))

    def covers(self, lat: float, lng: float) -> bool:
        """True when (lat, lng) is within `max_snap_m` of a road of this network."""
        return self._snap(lat, lng) is not None

    def snap(self, lat: float, lng: float) -> tuple[float, float] | None:
        """The nearest point on the road network, or None when not covered."""
        s = self._snap(lat, lng)
        if s is None:
            return None
        p = self.edges[s.edge].line.interpolate(s.offset_m)
        return self.projection.inverse(p.x, p.y)

    def random_point(self, rng: random.Random) -> tuple[float, float]:
        """A point on a road, uniform over the network's length (for dropoff addresses)."""
        target = rng.uniform(0.0, self.total_length_m)
        index = min(bisect_left(self._cum_length, target), len(self.edges) - 1)
        edge = self.edges[index]
        p = edge.line.interpolate(rng.uniform(0.0, edge.length_m))
        return self.projection.inverse(p.x, p.y)

    def route(self, from_lat: float, from_lng: float, to_lat: float, to_lng: float) -> Track | None:
        """The fastest route between the road points nearest the two ends; None if not covered."""
        a = self._snap(from_lat, from_lng)
        b = self._snap(to_lat, to_lng)
        if a is None or b is None:
            return None
        pieces = self._fastest(a, b)
        return self._track(pieces, a, b)

    def _speed(self, edge: Edge) -> float:
        return edge.length_m / edge.cost_s if edge.cost_s > 0 else 1.0

    def _fastest(self, a: _Snap, b: _Snap) -> list[tuple[int, float, float]]:
        """Pieces (edge, from offset, to offset) of the fastest path from snap a to snap b."""
        ea, eb = self.edges[a.edge], self.edges[b.edge]
        best_cost = math.inf
        best: list[tuple[int, float, float]] = []
        if a.edge == b.edge and (b.offset_m >= a.offset_m or not ea.oneway):
            best_cost = abs(b.offset_m - a.offset_m) / self._speed(ea)
            best = [(a.edge, a.offset_m, b.offset_m)]
        # leave a's edge towards v (always allowed) or towards u (two-way only)
        dist: dict[int, float] = {}
        prev: dict[int, tuple[int, int, bool] | None] = {}
        heap: list[tuple[float, int]] = []
        starts = [(ea.v, (ea.length_m - a.offset_m) / self._speed(ea), ea.length_m)]
        if not ea.oneway:
            starts.append((ea.u, a.offset_m / self._speed(ea), 0.0))
        first_piece: dict[int, float] = {}
        for node, cost, end_offset in starts:
            if cost < dist.get(node, math.inf):
                dist[node] = cost
                prev[node] = None
                first_piece[node] = end_offset
                heapq.heappush(heap, (cost, node))
        # arrive on b's edge from u (always allowed) or from v (two-way only)
        finishes = {eb.u: (b.offset_m / self._speed(eb), 0.0)}
        if not eb.oneway:
            v_cost = (eb.length_m - b.offset_m) / self._speed(eb)
            if eb.v not in finishes or v_cost < finishes[eb.v][0]:
                finishes[eb.v] = (v_cost, eb.length_m)
        best_end: int | None = None
        done: set[int] = set()
        while heap:
            cost, node = heapq.heappop(heap)
            if node in done:
                continue
            if cost >= best_cost:
                break
            done.add(node)
            if node in finishes and cost + finishes[node][0] < best_cost:
                best_cost = cost + finishes[node][0]
                best_end = node
            for nxt, index, forward in self.adjacency[node]:
                new = cost + self.edges[index].cost_s
                if new < dist.get(nxt, math.inf):
                    dist[nxt] = new
                    prev[nxt] = (node, index, forward)
                    heapq.heappush(heap, (new, nxt))
        if best_end is None:
            return best
        pieces: list[tuple[int, float, float]] = [(b.edge, finishes[best_end][1], b.offset_m)]
        node = best_end
        while (step := prev[node]) is not None:
            parent, index, forward = step
            length = self.edges[index].length_m
            pieces.append((index, 0.0, length) if forward else (index, length, 0.0))
            node = parent
        pieces.append((a.edge, a.offset_m, first_piece[node]))
        pieces.reverse()
        return pieces

    def _track(self, pieces: list[tuple[int, float, float]], a: _Snap, b: _Snap) -> Track:
        xy: list[tuple[float, float]] = []
        classes: list[str] = []
        limits: list[float] = []
        junctions: list[int] = []
        for index, start_m, end_m in pieces:
            edge = self.edges[index]
            if abs(end_m - start_m) < 1e-6:
                continue
            part = substring(edge.line, start_m, end_m)
            coords = [(float(x), float(y)) for x, y, *_ in part.coords]
            if xy:
                junctions.append(len(xy) - 1)
                coords = coords[1:]
            xy.extend(coords)
            classes.extend([edge.road_class] * len(coords))
            limits.extend([edge.speed_limit_mps] * len(coords))
        if len(xy) < 2:  # both ends snapped to the same place: a zero-length hop
            p = self.edges[a.edge].line.interpolate(a.offset_m)
            xy = [(p.x, p.y), (p.x + 0.1, p.y)]
            classes, limits = [self.edges[a.edge].road_class], [0.0]
        else:
            classes, limits = classes[1:], limits[1:]
        return Track.from_xy(
            xy,
            self.projection,
            road_classes=classes,
            speed_limits_mps=limits,
            junctions=junctions,
            name=f"{self.name} route" if self.name else "route",
            source=self.name,
        )

    def to_json(self) -> dict[str, Any]:
        """The graph in the committed file format (what `load` reads)."""
        nodes = self.projection.inverse_many(self.node_xy)
        classes = sorted({e.road_class for e in self.edges})
        return _document(nodes, self.edges, classes, self.depots, self.name, self.projection)


def travel_track(
    network: RoadNetwork | None, from_lat: float, from_lng: float, to_lat: float, to_lng: float
) -> Track:
    """On roads where `network` covers both ends; otherwise a straight line. Never None."""
    if network is not None:
        track = network.route(from_lat, from_lng, to_lat, to_lng)
        if track is not None:
            return track
    return straight_track(from_lat, from_lng, to_lat, to_lng)


def _document(
    nodes: list[tuple[float, float]],
    edges: list[Edge],
    classes: list[str],
    depots: tuple[Depot, ...],
    name: str,
    projection: LocalProjection,
) -> dict[str, Any]:
    index = {c: i for i, c in enumerate(classes)}
    out_edges = []
    for e in edges:
        inner = projection.inverse_many(list(e.line.coords)[1:-1])  # type: ignore[arg-type]
        out_edges.append(
            [
                e.u,
                e.v,
                index[e.road_class],
                round(e.speed_limit_mps * 3.6),
                int(e.oneway),
                [round(c, 7) for p in inner for c in p],
            ]
        )
    return {
        "format": GRAPH_FORMAT,
        "name": name,
        "attribution": "© OpenStreetMap contributors, ODbL 1.0, https://www.openstreetmap.org/copyright",
        "classes": classes,
        "nodes": [round(c, 7) for p in nodes for c in p],
        "edges": out_edges,
        "depots": [{"name": d.name, "lat": d.lat, "lng": d.lng} for d in depots],
    }


def _read_network(path: Path) -> RoadNetwork:
    try:
        raw = path.read_bytes()
        if raw[:2] == b"\x1f\x8b":
            raw = gzip.decompress(raw)
        doc = json.loads(raw)
    except (OSError, EOFError, gzip.BadGzipFile, json.JSONDecodeError, UnicodeDecodeError) as e:
        raise ConfigError(str(path), f"cannot read road graph: {e}") from None
    if not isinstance(doc, dict) or doc.get("format") != GRAPH_FORMAT:
        raise ConfigError(str(path), f"not a road graph (format must be {GRAPH_FORMAT!r})")
    try:
        flat = doc["nodes"]
        nodes = [(float(flat[i]), float(flat[i + 1])) for i in range(0, len(flat), 2)]
        classes = [str(c) for c in doc["classes"]]
        edges = []
        for k, (u, v, c, kph, oneway, shape) in enumerate(doc["edges"]):
            if not (0 <= u < len(nodes) and 0 <= v < len(nodes)):
                raise ValueError(f"edge {k} refers to a missing node")
            pts = [(float(shape[i]), float(shape[i + 1])) for i in range(0, len(shape), 2)]
            edges.append((int(u), int(v), classes[c], float(kph) / 3.6, bool(oneway), pts))
        depots = [Depot(str(d["name"]), float(d["lat"]), float(d["lng"])) for d in doc["depots"]]
        return RoadNetwork(nodes, edges, depots=depots, name=str(doc.get("name", "")))
    except (KeyError, IndexError, TypeError, ValueError) as e:
        raise ConfigError(str(path), f"malformed road graph: {e}") from None


@lru_cache(maxsize=1)
def _default_network() -> RoadNetwork:
    return _read_network(routes_dir() / DEFAULT_GRAPH_NAME)

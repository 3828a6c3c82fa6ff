"""A city's drivable road graph, and the fastest route between two points on it.

The bundled graphs (`routes/helsinki.roads.json.gz`, `routes/liechtenstein.roads.json.gz`, built
by `driver-agent roads build` from OpenStreetMap data, © OpenStreetMap contributors, ODbL 1.0)
are loaded once each. Nodes are junctions and dead ends; each edge keeps its shape, OSM road
class, speed limit when known and one-way rule. `RoadNetwork.route()` snaps both ends to the
nearest edge (an STRtree), finds the fastest path on travel time (`geo.router`: the file's
contraction hierarchy, else A* with landmark lower bounds; an LRU cache) and returns a `Track`
that starts and ends at those snapped points on the road, with a road class and speed limit
per segment and its junction vertices marked. Points farther than `max_snap_m` from every road
are not covered: `route()` returns None and the caller falls back to a straight line. The file
format and the bundled names are `geo.roadfile`'s.

Pure apart from reading the graph file it is pointed at.
"""

from __future__ import annotations

import random
from array import array
from dataclasses import dataclass
from functools import cached_property, lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import shapely
from shapely.geometry import Point
from shapely.ops import substring

from driver_agent.core.errors import ConfigError
from driver_agent.geo.geometry import haversine_m
from driver_agent.geo.graph_arrays import (
    cruise_speeds_mps,
    edge_lines,
    forward_arrays,
    projection_around,
)
from driver_agent.geo.roadfile import (
    BUNDLED,
    DEFAULT_MAP,
    GRAPH_FORMAT,
    GraphData,
    bundled_graph_path,
    graph_document,
    read_graph,
    routes_dir,
)
from driver_agent.geo.roadtypes import Depot, Edge, RawEdge
from driver_agent.geo.router import Finishes, Router, Start
from driver_agent.geo.router import Path as GraphPath
from driver_agent.geo.tracks import Track, straight_track

__all__ = [
    "GRAPH_FORMAT",
    "Depot",
    "Edge",
    "RoadNetwork",
    "bundled_networks",
    "route_files",
    "routes_dir",
    "travel_track",
]

DEFAULT_MAX_SNAP_M = 300.0
LANDMARKS_AT_LOAD = 20_000  # more junctions, no hierarchy or landmarks in the file: plain A*


def route_files(directory: Path | None = None) -> list[Path]:
    """The ready pickup-to-dropoff routes (GeoJSON), sorted by name."""
    base = (directory or routes_dir()) / "helsinki"
    return sorted(base.glob("*.geojson"))


def bundled_networks() -> tuple[str, ...]:
    """The names `RoadNetwork.bundled` knows (`helsinki`, `liechtenstein`)."""
    return tuple(BUNDLED)


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
        edges: list[RawEdge],
        *,
        depots: list[Depot] | None = None,
        name: str = "",
        max_snap_m: float = DEFAULT_MAX_SNAP_M,
    ) -> None:
        """`nodes` are (lat, lng); each edge is (u, v, road class, limit m/s, oneway, shape)
        where shape lists the (lat, lng) points strictly between the two nodes."""
        if not nodes or not edges:
            raise ValueError("a road network needs nodes and edges")
        classes = sorted({e[2] for e in edges})
        index = {c: i for i, c in enumerate(classes)}
        data = GraphData(
            lats=np.array([lat for lat, _ in nodes], dtype=np.float64),
            lngs=np.array([lng for _, lng in nodes], dtype=np.float64),
            edge_u=np.array([e[0] for e in edges], dtype=np.int64),
            edge_v=np.array([e[1] for e in edges], dtype=np.int64),
            edge_class=np.array([index[e[2]] for e in edges], dtype=np.int64),
            edge_limit_mps=np.array([e[3] for e in edges], dtype=np.float64),
            edge_oneway=np.array([e[4] for e in edges], dtype=bool),
            shape_points=np.array([len(e[5]) for e in edges], dtype=np.int64),
            shape=np.array([p for e in edges for p in e[5]], dtype=np.float64).reshape(-1, 2),
            classes=classes,
            depots=[(d.name, d.lat, d.lng) for d in depots or ()],
            name=name,
        )
        self._setup(data, max_snap_m)

    @classmethod
    def from_data(cls, data: GraphData, *, max_snap_m: float = DEFAULT_MAX_SNAP_M) -> RoadNetwork:
        """A network from a graph file's arrays (`roadfile.read_graph`)."""
        if len(data.lats) == 0 or len(data.edge_u) == 0:
            raise ValueError("a road network needs nodes and edges")
        network = cls.__new__(cls)
        network._setup(data, max_snap_m)
        return network

    def _setup(self, data: GraphData, max_snap_m: float) -> None:
        self.name = data.name
        self.max_snap_m = max_snap_m
        self.classes = list(data.classes)
        lats, lngs = data.lats, data.lngs
        self.bbox = (float(lats.min()), float(lngs.min()), float(lats.max()), float(lngs.max()))
        self.projection = projection_around(lats, lngs)
        node_x, node_y = forward_arrays(self.projection, lats, lngs)
        self._node_x, self._node_y = node_x, node_y
        self.center = (self.projection.ref_lat, self.projection.ref_lng)
        # the projection is equidistant from its centre: |(x, y)| is the great-circle distance
        self.radius_m = float(np.max(np.hypot(node_x, node_y)))
        self._edge_u, self._edge_v = data.edge_u, data.edge_v
        self._edge_class, self._edge_oneway = data.edge_class, data.edge_oneway
        self._edge_limit = data.edge_limit_mps
        self._lines = edge_lines(data, node_x, node_y, self.projection)
        self._length: npt.NDArray[np.float64] = shapely.length(self._lines)
        self._cost = self._length / cruise_speeds_mps(data)
        self._cost_list = array("d", self._cost.tobytes())  # compact, fast to index
        self._length_list = array("d", self._length.tobytes())
        self.depots: tuple[Depot, ...] = tuple(Depot(n, lat, lng) for n, lat, lng in data.depots)
        self._tree = shapely.STRtree(self._lines)
        self._cum_length = np.cumsum(self._length)
        self.router = Router(
            len(lats),
            data.edge_u,
            data.edge_v,
            self._cost,
            self._length,
            data.edge_oneway,
            node_x,
            node_y,
        )
        # the file's hierarchy, else its landmarks, else landmarks computed here for a small
        # graph (0.1 s per 2,000 junctions), else plain A*
        self.router.adopt(
            data.landmarks, data.hierarchy, compute_landmarks=len(lats) <= LANDMARKS_AT_LOAD
        )

    @classmethod
    def load(cls, path: Path | str | None = None) -> RoadNetwork:
        """The graph at `path` (gzip'd or plain JSON) or a bundled map's name; default Helsinki."""
        if path is None or path == "":
            return cls.bundled(DEFAULT_MAP)
        if isinstance(path, str) and path.strip().lower() in BUNDLED:
            return cls.bundled(path)
        data = read_graph(Path(path))
        if len(data.lats) == 0 or len(data.edge_u) == 0:
            raise ConfigError(str(path), "malformed road graph: no roads (nodes and edges) in it")
        return cls.from_data(data)

    @classmethod
    def bundled(cls, name: str) -> RoadNetwork:
        """A bundled map by name (`helsinki`, `liechtenstein`), loaded once; ConfigError for an
        unknown name."""
        return _bundled(bundled_graph_path(name))

    @property
    def node_count(self) -> int:
        return len(self._node_x)

    @cached_property
    def node_xy(self) -> list[tuple[float, float]]:
        """Every junction in local metres (built on first use)."""
        return list(zip(self._node_x.tolist(), self._node_y.tolist(), strict=True))

    @cached_property
    def edges(self) -> tuple[Edge, ...]:
        """Every edge as an object (built on first use: routing needs only the arrays)."""
        classes = self.classes
        return tuple(
            Edge(u, v, classes[c], limit, oneway, line, length, cost)
            for u, v, c, limit, oneway, line, length, cost in zip(
                self._edge_u.tolist(),
                self._edge_v.tolist(),
                self._edge_class.tolist(),
                self._edge_limit.tolist(),
                self._edge_oneway.tolist(),
                self._lines,
                self._length_list,
                self._cost_list,
                strict=True,
            )
        )

    @property
    def edge_count(self) -> int:
        return len(self._length_list)

    @property
    def total_length_m(self) -> float:
        return float(self._cum_length[-1])

    def _snap(self, lat: float, lng: float, within_m: float | None = None) -> _Snap | None:
        limit = self.max_snap_m if within_m is None else within_m
        if haversine_m(*self.center, lat, lng) > self.radius_m + limit:
            return None
        point = Point(self.projection.forward(lat, lng))
        hits, dists = self._tree.query_nearest(
            point, max_distance=limit, return_distance=True, all_matches=False
        )
        if len(hits) == 0:
            return None
        index = int(hits[0])
        return _Snap(index, float(self._lines[index].project(point)), float(dists[0]))

    def covers(self, lat: float, lng: float) -> bool:
        """True when (lat, lng) is within `max_snap_m` of a road of this network."""
        return self._snap(lat, lng) is not None

    def snap(
        self, lat: float, lng: float, within_m: float | None = None
    ) -> tuple[float, float] | None:
        """The nearest road point within `within_m` (default `max_snap_m`), or None."""
        s = self._snap(lat, lng, within_m)
        if s is None:
            return None
        p = self._lines[s.edge].interpolate(s.offset_m)
        return self.projection.inverse(p.x, p.y)

    def random_point(self, rng: random.Random) -> tuple[float, float]:
        """A point on a road, uniform over the network's length (for dropoff addresses)."""
        target = rng.uniform(0.0, self.total_length_m)
        index = min(int(np.searchsorted(self._cum_length, target)), self.edge_count - 1)
        p = self._lines[index].interpolate(rng.uniform(0.0, self._length_list[index]))
        return self.projection.inverse(p.x, p.y)

    def route(self, from_lat: float, from_lng: float, to_lat: float, to_lng: float) -> Track | None:
        """The fastest route between the road points nearest the two ends; None if not covered."""
        a = self._snap(from_lat, from_lng)
        b = self._snap(to_lat, to_lng)
        if a is None or b is None:
            return None
        return self._track(self._fastest(a, b), a)

    def _speed(self, edge: int) -> float:
        cost = self._cost_list[edge]
        return self._length_list[edge] / cost if cost > 0 else 1.0

    def search_ends(self, a: _Snap, b: _Snap) -> tuple[list[Start], Finishes, float]:
        """Where a search may start (junction, cost, leaving offset) and finish, and the cost of
        staying on the one edge when both points are on it (inf otherwise)."""
        ua, va = int(self._edge_u[a.edge]), int(self._edge_v[a.edge])
        ub, vb = int(self._edge_u[b.edge]), int(self._edge_v[b.edge])
        la, lb = self._length_list[a.edge], self._length_list[b.edge]
        sa, sb = self._speed(a.edge), self._speed(b.edge)
        oneway_a, oneway_b = bool(self._edge_oneway[a.edge]), bool(self._edge_oneway[b.edge])
        direct = float("inf")
        if a.edge == b.edge and (b.offset_m >= a.offset_m or not oneway_a):
            direct = abs(b.offset_m - a.offset_m) / sa
        # leave a's edge towards v (always allowed) or towards u (two-way only)
        starts = [(va, (la - a.offset_m) / sa, la)]
        if not oneway_a:
            starts.append((ua, a.offset_m / sa, 0.0))
        # arrive on b's edge from u (always allowed) or from v (two-way only)
        finishes = {ub: (b.offset_m / sb, 0.0)}
        if not oneway_b:
            v_cost = (lb - b.offset_m) / sb
            if vb not in finishes or v_cost < finishes[vb][0]:
                finishes[vb] = (v_cost, lb)
        return starts, finishes, direct

    def _fastest(self, a: _Snap, b: _Snap) -> list[tuple[int, float, float]]:
        """Pieces (edge, from offset, to offset) of the fastest path from snap a to snap b."""
        starts, finishes, direct = self.search_ends(a, b)
        found = self.router.search(starts, finishes, direct)
        if found is None:  # staying on the one edge is fastest (or, off a strong graph, no path)
            return [(a.edge, a.offset_m, b.offset_m)] if direct < float("inf") else []
        return self.pieces(found, a, b, starts, finishes)

    def pieces(
        self,
        found: GraphPath,
        a: _Snap,
        b: _Snap,
        starts: list[Start],
        finishes: Finishes,
    ) -> list[tuple[int, float, float]]:
        """A search's result as pieces of edges, from a's offset to b's."""
        cheapest = min(cost for node, cost, _ in starts if node == found.start)
        leave = next(o for node, cost, o in starts if node == found.start and cost == cheapest)
        out: list[tuple[int, float, float]] = [(a.edge, a.offset_m, leave)]
        for index, forward in found.steps:
            length = self._length_list[index]
            out.append((index, 0.0, length) if forward else (index, length, 0.0))
        out.append((b.edge, finishes[found.end][1], b.offset_m))
        return out

    def _track(self, pieces: list[tuple[int, float, float]], a: _Snap) -> Track:
        xy: list[tuple[float, float]] = []
        classes: list[str] = []
        limits: list[float] = []
        junctions: list[int] = []
        for index, start_m, end_m in pieces:
            if abs(end_m - start_m) < 1e-6:
                continue
            coords = self._piece_xy(index, start_m, end_m)
            if xy:
                junctions.append(len(xy) - 1)
                coords = coords[1:]
            xy.extend(coords)
            road_class = self.classes[int(self._edge_class[index])]
            classes.extend([road_class] * len(coords))
            limits.extend([float(self._edge_limit[index])] * len(coords))
        if len(xy) < 2:  # both ends snapped to the same place: a zero-length hop
            p = self._lines[a.edge].interpolate(a.offset_m)
            xy = [(p.x, p.y), (p.x + 0.1, p.y)]
            classes, limits = [self.classes[int(self._edge_class[a.edge])]], [0.0]
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

    def _piece_xy(self, index: int, start_m: float, end_m: float) -> list[tuple[float, float]]:
        """The points of an edge between two offsets (a whole edge without cutting it)."""
        full = self._length_list[index]
        if {start_m, end_m} == {0.0, full}:
            xy = [(x, y) for x, y in shapely.get_coordinates(self._lines[index]).tolist()]
            return xy if start_m == 0.0 else xy[::-1]
        part = substring(self._lines[index], start_m, end_m)
        return [(float(x), float(y)) for x, y, *_ in part.coords]

    def to_json(self) -> dict[str, Any]:
        """The graph in the committed file format (what `load` reads)."""
        nodes = self.projection.inverse_many(self.node_xy)
        edges: list[RawEdge] = [
            (
                e.u,
                e.v,
                e.road_class,
                e.speed_limit_mps,
                e.oneway,
                self.projection.inverse_many(list(e.line.coords)[1:-1]),  # type: ignore[arg-type]
            )
            for e in self.edges
        ]
        depots = [(d.name, d.lat, d.lng) for d in self.depots]
        return graph_document(nodes, edges, depots, name=self.name)


def travel_track(
    network: RoadNetwork | None, from_lat: float, from_lng: float, to_lat: float, to_lng: float
) -> Track:
    """On roads where `network` covers both ends; otherwise a straight line. Never None."""
    if network is not None:
        track = network.route(from_lat, from_lng, to_lat, to_lng)
        if track is not None:
            return track
    return straight_track(from_lat, from_lng, to_lat, to_lng)


@lru_cache(maxsize=4)
def _bundled(path: Path) -> RoadNetwork:
    return RoadNetwork.from_data(read_graph(path))

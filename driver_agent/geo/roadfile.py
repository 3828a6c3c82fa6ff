"""The road graph file (`*.roads.json.gz`) and the bundled maps.

A graph file is one JSON object, gzip'd or not. Format 4 (what `graph_document` writes) keeps
the edges as columns, so a city of 400,000 edges decodes straight into arrays:

    {"format": "driver-agent-roads/4", "name": "...", "attribution": "© OpenStreetMap ...",
     "source": "city.osm.pbf", "classes": ["primary", ...],
     "nodes": [lat0, lng0, lat1, lng1, ...],
     "edges": {"u": [...], "v": [...], "class": [class index, ...],
               "kph": [speed limit km/h, 0 unknown, ...], "oneway": [0 or 1, ...],
               "shape_points": [how many shape points each edge has between u and v, ...],
               "shape": [lat, lng, ... of all those points, edge after edge]},
     "depots": [{"name": "...", "lat": ..., "lng": ...}, ...],
     "landmarks": {"nodes": [junction, ...], "scale": seconds per unit,
                   "costs_sum": seconds, "to": base64, "back": base64},
     "hierarchy": {"arcs": count, "costs_sum": seconds, "up_ptr": base64, "up_head": base64,
                   "up_cost": base64, "up_arc": base64, "down_ptr": base64, ...,
                   "first": base64, "second": base64}}

`landmarks` (optional; `roads build` writes it) holds the router's precomputed lower bounds
(`geo.landmarks`: per landmark, the travel time from it to every junction and back, uint32
little-endian in units of `scale` seconds, landmark after landmark) and the sum of the edge
costs they were computed on: when the costs at load differ (the cruise speeds changed since),
they are not used. `hierarchy` (optional; `roads build` writes it) is the router's contraction
hierarchy ready to search (`geo.hierarchy.Upward`: per junction its arcs up and its arcs from
above as compressed sparse rows, `up_*` and `down_*`: row starts, the other junction, the cost
(float64 seconds), the arc; and per shortcut the two arcs it replaces, `first` and `second`;
int32 but the costs, little-endian), stored as the router searches it so that loading copies
it once; with the count of arcs and the sum of edge costs it was built on (not used when either
differs at load).
Format 3 is format 4 without `hierarchy`, format 2 format 3 without `landmarks`; both are read.

Format 1 (`driver-agent-roads/1`, the committed Helsinki graph) has one row per edge instead:
`"edges": [[u, v, class index, kph, oneway, [lat, lng, ... shape]], ...]`; all four are read.
`read_graph` decodes and checks a file in one pass (msgspec) into flat arrays; a bad file is a
`ConfigError` naming the file. `bundled_graph_path("liechtenstein")` finds a committed map.

Pure apart from reading the file it is pointed at.
"""

from __future__ import annotations

import base64
import gzip
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import msgspec
import numpy as np
import numpy.typing as npt

from driver_agent.core.errors import ConfigError
from driver_agent.core.typed import convert
from driver_agent.geo import hierarchy, landmarks
from driver_agent.geo.hierarchy import TABLES, Upward
from driver_agent.geo.landmarks import Landmarks

GRAPH_FORMAT = "driver-agent-roads/4"
GRAPH_FORMAT_V3 = "driver-agent-roads/3"
GRAPH_FORMAT_V2 = "driver-agent-roads/2"
GRAPH_FORMAT_V1 = "driver-agent-roads/1"
COLUMN_FORMATS = (GRAPH_FORMAT, GRAPH_FORMAT_V3, GRAPH_FORMAT_V2)
FORMATS = (*COLUMN_FORMATS, GRAPH_FORMAT_V1)
ATTRIBUTION = "© OpenStreetMap contributors, ODbL 1.0, https://www.openstreetmap.org/copyright"
BUNDLED: dict[str, str] = {
    "helsinki": "helsinki.roads.json.gz",
    "liechtenstein": "liechtenstein.roads.json.gz",
}
DEFAULT_MAP = "helsinki"
DEFAULT_GRAPH_NAME = BUNDLED[DEFAULT_MAP]


class DepotDoc(msgspec.Struct, forbid_unknown_fields=True):
    name: str
    lat: float
    lng: float


class EdgeColumns(msgspec.Struct, forbid_unknown_fields=True):
    u: list[int]
    v: list[int]
    class_: list[int] = msgspec.field(name="class")
    kph: list[float]
    oneway: list[int]
    shape_points: list[int]
    shape: list[float]


class LandmarkDoc(msgspec.Struct, forbid_unknown_fields=True):
    nodes: list[int]
    scale: float
    costs_sum: float
    to: bytes  # base64 in the file
    back: bytes


class HierarchyDoc(msgspec.Struct, forbid_unknown_fields=True):
    arcs: int
    costs_sum: float
    up_ptr: bytes  # base64 in the file, as every table
    up_head: bytes
    up_cost: bytes
    up_arc: bytes
    down_ptr: bytes
    down_tail: bytes
    down_cost: bytes
    down_arc: bytes
    first: bytes
    second: bytes


class GraphDoc(msgspec.Struct):
    format: str
    classes: list[str]
    nodes: list[float]
    edges: EdgeColumns
    depots: list[DepotDoc]
    name: str = ""
    attribution: str = ""
    source: str = ""
    landmarks: LandmarkDoc | None = None
    hierarchy: HierarchyDoc | None = None


class GraphDocV1(msgspec.Struct):
    format: str
    classes: list[str]
    nodes: list[float]
    edges: list[tuple[int, int, int, float, int, list[float]]]
    depots: list[DepotDoc]
    name: str = ""
    attribution: str = ""
    source: str = ""


@dataclass(frozen=True, slots=True)
class GraphData:
    """A road graph as flat arrays (what `RoadNetwork` is built from)."""

    lats: npt.NDArray[np.float64]
    lngs: npt.NDArray[np.float64]
    edge_u: npt.NDArray[np.int64]
    edge_v: npt.NDArray[np.int64]
    edge_class: npt.NDArray[np.int64]  # index into `classes`
    edge_limit_mps: npt.NDArray[np.float64]
    edge_oneway: npt.NDArray[np.bool_]
    shape_points: npt.NDArray[np.int64]  # per edge: how many points between u and v
    shape: npt.NDArray[np.float64]  # (all shape points, 2): lat, lng, edge after edge
    classes: list[str]
    depots: list[tuple[str, float, float]]
    name: str = ""
    landmarks: Landmarks | None = None
    hierarchy: Upward | None = None


def routes_dir() -> Path:
    """The committed `routes/` folder: in the source tree, or `driver_agent/_routes` in a wheel."""
    package = Path(__file__).resolve().parent.parent  # driver_agent/
    for candidate in (package.parent / "routes", package / "_routes"):
        if (candidate / DEFAULT_GRAPH_NAME).is_file():
            return candidate
    return package.parent / "routes"


def bundled_graph_path(name: str) -> Path:
    """The committed graph called `name` (`helsinki`, `liechtenstein`); ConfigError otherwise."""
    file = BUNDLED.get(name.strip().lower())
    if file is None:
        known = ", ".join(sorted(BUNDLED))
        raise ConfigError("map", f"unknown bundled map {name!r} (known: {known})")
    return routes_dir() / file


def graph_path(name_or_path: str) -> Path:
    """A bundled map's file for its name, else the path as given."""
    if name_or_path.strip().lower() in BUNDLED:
        return bundled_graph_path(name_or_path)
    return Path(name_or_path)


def read_graph(path: Path) -> GraphData:
    """The graph in the file at `path`; ConfigError naming the file when it is not one."""
    where = str(path)
    try:
        raw = path.read_bytes()
        if raw[:2] == b"\x1f\x8b":
            raw = gzip.decompress(raw)
    except (OSError, EOFError, gzip.BadGzipFile) as e:
        raise ConfigError(where, f"cannot read road graph: {e}") from None
    try:  # the fast path: straight into typed columns
        return graph_data(msgspec.json.decode(raw, type=GraphDoc), where)
    except (msgspec.ValidationError, msgspec.DecodeError):
        pass
    try:
        doc = msgspec.json.decode(raw)
    except msgspec.DecodeError as e:
        raise ConfigError(where, f"cannot read road graph: {e}") from None
    if not isinstance(doc, dict) or doc.get("format") not in FORMATS:
        raise ConfigError(where, f"not a road graph (format must be {GRAPH_FORMAT!r})")

    def malformed(key: str, message: str) -> ConfigError:
        return ConfigError(where, f"malformed road graph: {key}: {message}")

    if doc["format"] in COLUMN_FORMATS:
        return graph_data(convert(doc, GraphDoc, error=malformed), where)
    return graph_data(_columns(convert(doc, GraphDocV1, error=malformed), where), where)


def _columns(old: GraphDocV1, where: str) -> GraphDoc:
    """A format-1 document (one row per edge) as format 2 (columns)."""
    for k, row in enumerate(old.edges):
        if len(row[5]) % 2:
            raise ConfigError(where, f"malformed road graph: edges[{k}]: odd shape coordinates")
    columns = list(zip(*old.edges, strict=True)) if old.edges else [()] * 6
    edges = EdgeColumns(
        u=list(columns[0]),
        v=list(columns[1]),
        class_=list(columns[2]),
        kph=list(columns[3]),
        oneway=list(columns[4]),
        shape_points=[len(shape) // 2 for shape in columns[5]],
        shape=[c for shape in columns[5] for c in shape],
    )
    return GraphDoc(GRAPH_FORMAT, old.classes, old.nodes, edges, old.depots, old.name)


def graph_data(graph: GraphDoc, where: str) -> GraphData:
    """Flat arrays from a decoded document, checking that every index points somewhere."""

    def bad(message: str) -> ConfigError:
        return ConfigError(where, f"malformed road graph: {message}")

    if graph.format not in COLUMN_FORMATS:
        raise ConfigError(where, f"not a road graph (format must be {GRAPH_FORMAT!r})")
    if len(graph.nodes) % 2:
        raise bad("nodes: an odd count of coordinates")
    flat = np.asarray(graph.nodes, dtype=np.float64).reshape(-1, 2)
    count = len(flat)
    e = graph.edges
    n = len(e.u)
    if not all(len(c) == n for c in (e.v, e.class_, e.kph, e.oneway, e.shape_points)):
        raise bad("edges: the columns differ in length")
    edge_u = np.asarray(e.u, dtype=np.int64)
    edge_v = np.asarray(e.v, dtype=np.int64)
    edge_class = np.asarray(e.class_, dtype=np.int64)
    shape_points = np.asarray(e.shape_points, dtype=np.int64)
    wrong = np.flatnonzero((edge_u < 0) | (edge_u >= count) | (edge_v < 0) | (edge_v >= count))
    if len(wrong):
        raise bad(f"edge {wrong[0]} refers to a missing node")
    wrong = np.flatnonzero((edge_class < 0) | (edge_class >= len(graph.classes)))
    if len(wrong):
        raise bad(f"edge {wrong[0]} has an unknown class")
    if (shape_points < 0).any() or int(shape_points.sum()) * 2 != len(e.shape):
        raise bad("edges: shape_points does not match the shape coordinates")
    marks = None
    if graph.landmarks is not None:
        lm = graph.landmarks
        try:
            marks = landmarks.decode(lm.nodes, lm.scale, lm.to, lm.back, count, lm.costs_sum)
        except ValueError as error:
            raise bad(f"landmarks: {error}") from None
    ranks = None
    if graph.hierarchy is not None:
        hd = graph.hierarchy
        tables = {k: getattr(hd, k) for k in TABLES}
        try:
            ranks = hierarchy.decode(tables, hd.arcs, hd.costs_sum, count)
        except ValueError as error:
            raise bad(f"hierarchy: {error}") from None
    return GraphData(
        lats=np.ascontiguousarray(flat[:, 0]),
        lngs=np.ascontiguousarray(flat[:, 1]),
        edge_u=edge_u,
        edge_v=edge_v,
        edge_class=edge_class,
        edge_limit_mps=np.asarray(e.kph, dtype=np.float64) / 3.6,
        edge_oneway=np.asarray(e.oneway, dtype=np.int64) != 0,
        shape_points=shape_points,
        shape=np.asarray(e.shape, dtype=np.float64).reshape(-1, 2),
        classes=list(graph.classes),
        depots=[(d.name, d.lat, d.lng) for d in graph.depots],
        name=graph.name,
        landmarks=marks,
        hierarchy=ranks,
    )


def graph_document(
    nodes: list[tuple[float, float]],
    edges: list[tuple[int, int, str, float, bool, list[tuple[float, float]]]],
    depots: list[tuple[str, float, float]],
    *,
    name: str,
    source: str = "",
) -> dict[str, Any]:
    """The file's JSON object for nodes (lat, lng) and edges (u, v, class, limit m/s, oneway,
    inner shape points), coordinates rounded to 1e-7 degrees (about 1 cm)."""
    classes = sorted({e[2] for e in edges})
    index = {c: i for i, c in enumerate(classes)}
    doc: dict[str, Any] = {
        "format": GRAPH_FORMAT,
        "name": name,
        "attribution": ATTRIBUTION,
    }
    if source:
        doc["source"] = source
    doc["classes"] = classes
    doc["nodes"] = [round(c, 7) for p in nodes for c in p]
    doc["edges"] = {
        "u": [e[0] for e in edges],
        "v": [e[1] for e in edges],
        "class": [index[e[2]] for e in edges],
        "kph": [round(e[3] * 3.6) for e in edges],
        "oneway": [int(e[4]) for e in edges],
        "shape_points": [len(e[5]) for e in edges],
        "shape": [round(c, 7) for e in edges for p in e[5] for c in p],
    }
    doc["depots"] = [{"name": n, "lat": lat, "lng": lng} for n, lat, lng in depots]
    return doc


def landmark_fields(marks: Landmarks) -> dict[str, Any]:
    """A graph document's `landmarks` object (tables base64-encoded), to add before writing."""
    to, back = landmarks.encode(marks)
    return {
        "nodes": list(marks.nodes),
        "scale": marks.scale,
        "costs_sum": marks.costs_sum,
        "to": base64.b64encode(to).decode("ascii"),
        "back": base64.b64encode(back).decode("ascii"),
    }


def hierarchy_fields(ranks: Upward) -> dict[str, Any]:
    """A graph document's `hierarchy` object (tables base64-encoded), to add before writing."""
    tables = {k: base64.b64encode(v).decode("ascii") for k, v in hierarchy.encode(ranks).items()}
    return {"arcs": ranks.arcs, "costs_sum": ranks.costs_sum, **tables}

"""The road graph file (`*.roads.json.gz`, format `driver-agent-roads/1`) and the bundled maps.

A graph file is one JSON object, gzip'd or not:

    {"format": "driver-agent-roads/1", "name": "...", "attribution": "© OpenStreetMap ...",
     "source": "city.osm.pbf", "classes": ["primary", ...],
     "nodes": [lat0, lng0, lat1, lng1, ...],
     "edges": [[u, v, class index, speed limit km/h (0 unknown), oneway 0/1,
                [lat, lng, ... of the shape points strictly between u and v]], ...],
     "depots": [{"name": "...", "lat": ..., "lng": ...}, ...]}

`read_graph` decodes and checks it in one pass (msgspec) into flat arrays; a bad file is a
`ConfigError` naming the file. `bundled_graph_path("liechtenstein")` finds a committed map.

Pure apart from reading the file it is pointed at.
"""

from __future__ import annotations

import gzip
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import msgspec
import numpy as np
import numpy.typing as npt

from driver_agent.core.errors import ConfigError
from driver_agent.core.typed import convert

GRAPH_FORMAT = "driver-agent-roads/1"
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


class GraphDoc(msgspec.Struct):
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
    shapes: list[list[float]]  # per edge: lat, lng, ... strictly between u and v
    classes: list[str]
    depots: list[tuple[str, float, float]]
    name: str = ""


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
        doc = msgspec.json.decode(raw)
    except (OSError, EOFError, gzip.BadGzipFile, msgspec.DecodeError) as e:
        raise ConfigError(where, f"cannot read road graph: {e}") from None
    if not isinstance(doc, dict) or doc.get("format") != GRAPH_FORMAT:
        raise ConfigError(where, f"not a road graph (format must be {GRAPH_FORMAT!r})")

    def malformed(key: str, message: str) -> ConfigError:
        return ConfigError(where, f"malformed road graph: {key}: {message}")

    graph = convert(doc, GraphDoc, error=malformed)
    return graph_data(graph, where)


def graph_data(graph: GraphDoc, where: str) -> GraphData:
    """Flat arrays from a decoded document, checking that every index points somewhere."""
    if len(graph.nodes) % 2:
        raise ConfigError(where, "malformed road graph: nodes: an odd count of coordinates")
    flat = np.asarray(graph.nodes, dtype=np.float64).reshape(-1, 2)
    count = len(flat)
    columns = list(zip(*graph.edges, strict=True)) if graph.edges else [()] * 6
    edge_u = np.asarray(columns[0], dtype=np.int64)
    edge_v = np.asarray(columns[1], dtype=np.int64)
    edge_class = np.asarray(columns[2], dtype=np.int64)
    bad = np.flatnonzero((edge_u < 0) | (edge_u >= count) | (edge_v < 0) | (edge_v >= count))
    if len(bad):
        raise ConfigError(where, f"malformed road graph: edge {bad[0]} refers to a missing node")
    bad = np.flatnonzero((edge_class < 0) | (edge_class >= len(graph.classes)))
    if len(bad):
        raise ConfigError(where, f"malformed road graph: edge {bad[0]} has an unknown class")
    shapes: list[list[float]] = list(columns[5])
    for k, shape in enumerate(shapes):
        if len(shape) % 2:
            raise ConfigError(where, f"malformed road graph: edge {k}: odd shape coordinates")
    return GraphData(
        lats=np.ascontiguousarray(flat[:, 0]),
        lngs=np.ascontiguousarray(flat[:, 1]),
        edge_u=edge_u,
        edge_v=edge_v,
        edge_class=edge_class,
        edge_limit_mps=np.asarray(columns[3], dtype=np.float64) / 3.6,
        edge_oneway=np.asarray(columns[4], dtype=np.int64) != 0,
        shapes=shapes,
        classes=list(graph.classes),
        depots=[(d.name, d.lat, d.lng) for d in graph.depots],
        name=graph.name,
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
    doc["edges"] = [
        [u, v, index[c], round(limit * 3.6), int(oneway), [round(x, 7) for p in shape for x in p]]
        for u, v, c, limit, oneway, shape in edges
    ]
    doc["depots"] = [{"name": n, "lat": lat, "lng": lng} for n, lat, lng in depots]
    return doc

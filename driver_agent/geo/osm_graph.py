"""OpenStreetMap ways and land-use areas -> a drivable road graph with depots (pure).

The reader at the edge (`geo.osm_reader`) hands over the ways whose tags pass `way_rule` and the
industrial / commercial / retail areas; `build_graph` splits the ways at shared nodes into edges,
keeps the largest strongly connected part (so every point can reach every other) and numbers the
junctions; `pick_depots` places depots at given coordinates or, without any, at the centres of
land-use areas, snapped to the graph and spread out. `graph_document` (geo.roadfile) writes the
result with the ODbL attribution.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from driver_agent.geo.geometry import haversine_m
from driver_agent.geo.roadclass import DRIVABLE, parse_maxspeed_kph

EXCLUDED_SERVICE = frozenset({"parking_aisle", "driveway", "drive-through", "emergency_access"})
NO_ACCESS = frozenset({"no", "private"})
ONEWAY_YES = frozenset({"yes", "true", "1"})
ROUNDABOUT = frozenset({"roundabout", "circular"})
IMPLIED_ONEWAY = frozenset({"motorway", "motorway_link"})
DEPOT_LANDUSE = frozenset({"industrial", "commercial", "retail"})
DEFAULT_DEPOTS = 4
MAX_DEPOT_SNAP_M = 300.0


@dataclass(frozen=True, slots=True)
class WayRule:
    """What a drivable way's tags say: class, speed limit (0 unknown), direction (1, -1, 0)."""

    highway: str
    maxspeed_kph: float
    oneway: int


@dataclass(frozen=True, slots=True)
class Way:
    rule: WayRule
    nodes: tuple[tuple[int, float, float], ...]  # (OSM node id, lat, lng) in way order


@dataclass(frozen=True, slots=True)
class Area:
    """A land-use area (a closed way): its kind and outline."""

    kind: str
    ring: tuple[tuple[float, float], ...]


@dataclass(frozen=True, slots=True)
class Graph:
    nodes: list[tuple[float, float]]  # (lat, lng)
    edges: list[tuple[int, int, str, float, bool, list[tuple[float, float]]]]
    all_nodes: int  # junctions before keeping the largest strongly connected part


def way_rule(tags: Mapping[str, str]) -> WayRule | None:
    """The rule for a way with these tags, or None when a delivery van may not drive it."""
    highway = tags.get("highway", "")
    if highway not in DRIVABLE or tags.get("area") == "yes":
        return None
    if any(tags.get(k) in NO_ACCESS for k in ("access", "motor_vehicle", "motorcar")):
        return None
    if highway == "service" and tags.get("service") in EXCLUDED_SERVICE:
        return None
    oneway_tag = tags.get("oneway", "").strip().lower()
    oneway = 0
    if oneway_tag in ONEWAY_YES or tags.get("junction") in ROUNDABOUT:
        oneway = 1
    elif oneway_tag == "-1":
        oneway = -1
    elif highway in IMPLIED_ONEWAY and oneway_tag != "no":
        oneway = 1
    return WayRule(highway, parse_maxspeed_kph(tags.get("maxspeed", "")), oneway)


def build_graph(ways: Sequence[Way]) -> Graph:
    """Edges between junctions (way ends and nodes shared by ways), the largest strongly
    connected part only, junctions numbered in OSM id order. Empty when there are no ways."""
    uses: Counter[int] = Counter()
    for way in ways:
        uses.update(ref for ref, _, _ in way.nodes)
        uses.update((way.nodes[0][0], way.nodes[-1][0]))  # way ends are always junctions
    location: dict[int, tuple[float, float]] = {}
    raw: list[tuple[int, int, WayRule, list[tuple[float, float]]]] = []
    for way in ways:
        run = way.nodes[::-1] if way.rule.oneway == -1 else way.nodes
        for ref, lat, lng in run:
            location[ref] = (lat, lng)
        start = 0
        for i in range(1, len(run)):
            if uses[run[i][0]] >= 2 or i == len(run) - 1:
                u, v = run[start][0], run[i][0]
                shape = [(lat, lng) for _, lat, lng in run[start + 1 : i]]
                if u != v or shape:
                    raw.append((u, v, way.rule, shape))
                start = i
    refs = sorted({r for u, v, _, _ in raw for r in (u, v)})
    dense = {ref: i for i, ref in enumerate(refs)}
    successors: list[list[int]] = [[] for _ in refs]
    for u, v, rule, _ in raw:
        successors[dense[u]].append(dense[v])
        if rule.oneway == 0:
            successors[dense[v]].append(dense[u])
    keep = largest_strong_component(successors)
    kept = sorted(refs[i] for i in keep)
    index = {ref: i for i, ref in enumerate(kept)}
    edges = [
        (index[u], index[v], rule.highway, rule.maxspeed_kph / 3.6, rule.oneway != 0, shape)
        for u, v, rule, shape in raw
        if u in index and v in index
    ]
    return Graph([location[ref] for ref in kept], edges, len(refs))


def largest_strong_component(successors: Sequence[Sequence[int]]) -> set[int]:
    """The largest strongly connected set of nodes (Tarjan's algorithm, iterative); ties go to
    the one holding the lowest node. Empty for an empty graph."""
    n = len(successors)
    index = [-1] * n
    low = [0] * n
    on_stack = [False] * n
    stack: list[int] = []
    best: set[int] = set()
    counter = 0
    for root in range(n):
        if index[root] >= 0:
            continue
        work = [(root, 0)]
        while work:
            node, i = work.pop()
            if i == 0:
                index[node] = low[node] = counter
                counter += 1
                stack.append(node)
                on_stack[node] = True
            recurse = False
            nexts = successors[node]
            while i < len(nexts):
                nxt = nexts[i]
                i += 1
                if index[nxt] < 0:
                    work.append((node, i))
                    work.append((nxt, 0))
                    recurse = True
                    break
                if on_stack[nxt]:
                    low[node] = min(low[node], index[nxt])
            if recurse:
                continue
            if low[node] == index[node]:
                component: set[int] = set()
                while True:
                    member = stack.pop()
                    on_stack[member] = False
                    component.add(member)
                    if member == node:
                        break
                if len(component) > len(best) or (
                    len(component) == len(best) and min(component) < min(best)
                ):
                    best = component
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
    return best


def ring_centre(ring: Sequence[tuple[float, float]]) -> tuple[float, float]:
    """The mean of an outline's vertices (the closing repeat counted once)."""
    points = list(ring[:-1]) if len(ring) > 1 and ring[0] == ring[-1] else list(ring)
    return sum(p[0] for p in points) / len(points), sum(p[1] for p in points) / len(points)


def ring_area_m2(ring: Sequence[tuple[float, float]]) -> float:
    """An outline's area (shoelace formula on an equirectangular plane around its first point)."""
    if len(ring) < 3:
        return 0.0
    lat0 = ring[0][0]
    k = 111_320.0
    xy = [
        ((lng - ring[0][1]) * k * math.cos(math.radians(lat0)), (lat - lat0) * k)
        for lat, lng in ring
    ]
    twice = sum(x1 * y2 - x2 * y1 for (x1, y1), (x2, y2) in zip(xy, xy[1:] + xy[:1], strict=True))
    return abs(twice) / 2.0


def pick_depots(
    graph: Graph,
    given: Sequence[tuple[float, float]] = (),
    areas: Sequence[Area] = (),
    count: int = DEFAULT_DEPOTS,
) -> list[tuple[str, float, float]]:
    """Depots (name, lat, lng) on nodes of `graph`: at the nodes nearest the given coordinates,
    else at the junctions nearest the centres of the largest land-use areas, spread out (each
    next one as far as possible from those taken), else at four quantile corners of the
    junctions. ValueError naming a given point farther than MAX_DEPOT_SNAP_M from every node."""
    junctions = _junctions(graph)
    if given:
        depots = []
        every_node = range(len(graph.nodes))
        for k, (lat, lng) in enumerate(given, 1):
            node, dist = _nearest(graph, every_node, lat, lng)
            if dist > MAX_DEPOT_SNAP_M:
                raise ValueError(f"depot {lat},{lng} is {dist:.0f} m from the nearest road node")
            depots.append((f"Depot {k}", *graph.nodes[node]))
        return depots
    candidates = []
    for area in sorted(areas, key=lambda a: -ring_area_m2(a.ring)):
        lat, lng = ring_centre(area.ring)
        node, dist = _nearest(graph, junctions, lat, lng)
        if dist <= MAX_DEPOT_SNAP_M:
            candidates.append((area.kind, node))
    if candidates:
        chosen = [candidates[0]]
        while len(chosen) < min(count, len(candidates)):
            far = max(
                (c for c in candidates if c[1] not in {n for _, n in chosen}),
                key=lambda c: min(_apart(graph, c[1], n) for _, n in chosen),
                default=None,
            )
            if far is None:
                break
            chosen.append(far)
        return [(f"Depot {k} ({kind})", *graph.nodes[n]) for k, (kind, n) in enumerate(chosen, 1)]
    return quantile_depots(graph, junctions)


def quantile_depots(
    graph: Graph, junctions: Sequence[int] | None = None
) -> list[tuple[str, float, float]]:
    """Four depots near the 20 % / 80 % quantiles of latitude and longitude (NW, NE, SW, SE)."""
    pool = list(junctions if junctions is not None else _junctions(graph))
    lats = sorted(lat for lat, _ in graph.nodes)
    lngs = sorted(lng for _, lng in graph.nodes)
    depots = []
    for label, qlat, qlng in (
        ("NW", 0.8, 0.2),
        ("NE", 0.8, 0.8),
        ("SW", 0.2, 0.2),
        ("SE", 0.2, 0.8),
    ):
        want = (lats[int(qlat * len(lats))], lngs[int(qlng * len(lngs))])
        best = min(pool, key=lambda i: haversine_m(*want, *graph.nodes[i]))
        depots.append((f"Depot {label}", *graph.nodes[best]))
    return depots


def _junctions(graph: Graph) -> list[int]:
    """Nodes where three or more road stretches meet; every node when there are none."""
    degree: Counter[int] = Counter()
    for u, v, *_ in graph.edges:
        degree[u] += 1
        degree[v] += 1
    found = [i for i in range(len(graph.nodes)) if degree[i] >= 3]
    return found or list(range(len(graph.nodes)))


def _nearest(graph: Graph, pool: Sequence[int], lat: float, lng: float) -> tuple[int, float]:
    node = min(pool, key=lambda i: haversine_m(lat, lng, *graph.nodes[i]))
    return node, haversine_m(lat, lng, *graph.nodes[node])


def _apart(graph: Graph, a: int, b: int) -> float:
    (lat_a, lng_a), (lat_b, lng_b) = graph.nodes[a], graph.nodes[b]
    return haversine_m(lat_a, lng_a, lat_b, lng_b)

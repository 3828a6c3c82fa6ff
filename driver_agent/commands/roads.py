"""The `driver-agent roads` command: build a road graph from OpenStreetMap, route on one.

    driver-agent roads build city.osm.pbf --output city.roads.json.gz [--depot LAT,LNG ...]
    driver-agent roads route liechtenstein --from 47.166,9.510 --to 47.060,9.500

`build` stores the router's contraction hierarchy in the file (`geo.hierarchy`: minutes at
200,000 junctions), which routes a city's cross-town queries in milliseconds. It needs the
optional OpenStreetMap reader (`pip install 'driver-agent[osm]'`); without it it says so in one
line and exits 2. `route` prints the route as a GeoJSON Feature.
GRAPH is a graph file or a bundled map's name. Bad input (a missing file, not a .osm.pbf, no
roads, a point off the roads) is one line naming it, exit 2.
"""

from __future__ import annotations

import argparse
import gzip
import json
import sys
from pathlib import Path
from typing import Any

from driver_agent.core.errors import ConfigError
from driver_agent.geo.geometry import check_lat_lng
from driver_agent.geo.osm_graph import build_graph, pick_depots
from driver_agent.geo.roadfile import BUNDLED, graph_document, hierarchy_fields
from driver_agent.geo.roads import RoadNetwork
from driver_agent.geo.routejson import route_feature

EXIT_OK = 0
EXIT_BAD_INPUT = 2
INSTALL_HINT = (
    "driver-agent roads build: reading OpenStreetMap files needs the osm extra: "
    "pip install 'driver-agent[osm]'"
)


def lat_lng(text: str) -> tuple[float, float]:
    """ "LAT,LNG" -> (lat, lng), checked; argparse turns the error into one line, exit 2."""
    try:
        lat, lng = (float(part) for part in text.split(","))
        check_lat_lng(lat, lng)
    except ValueError as e:
        detail = str(e) if "outside" in str(e) else "expected LAT,LNG in degrees"
        raise argparse.ArgumentTypeError(f"{text!r}: {detail}") from None
    return lat, lng


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """`roads build` and `roads route`."""
    sub = parser.add_subparsers(dest="roads_command", metavar="ACTION", parser_class=type(parser))
    sub.required = True
    build = sub.add_parser(
        "build",
        help="turn an OpenStreetMap extract (.osm.pbf) into a road graph",
        description="Turn an OpenStreetMap extract into a road graph: drivable roads, one-way "
        "rules, speed limits, road classes, the largest strongly connected part, depots.",
    )
    build.add_argument(
        "input", type=Path, metavar="INPUT", help="an OpenStreetMap extract (.osm.pbf)"
    )
    build.add_argument(
        "--output",
        type=Path,
        required=True,
        metavar="PATH",
        help="where the graph goes (NAME.roads.json.gz)",
    )
    build.add_argument(
        "--depot",
        type=lat_lng,
        action="append",
        default=[],
        metavar="LAT,LNG",
        help="a depot near here (repeat for more); default: industrial/commercial land",
    )
    build.add_argument(
        "--name", metavar="NAME", default="", help="the graph's name (default: the file's)"
    )
    build.set_defaults(_action=run_build)
    route = sub.add_parser(
        "route",
        help="print the fastest route between two points as a GeoJSON Feature",
        description="Print the fastest route on a road graph as a GeoJSON Feature.",
    )
    route.add_argument(
        "graph",
        metavar="GRAPH",
        help=f"a .roads.json.gz file or a bundled map: {', '.join(BUNDLED)}",
    )
    route.add_argument(
        "--from",
        dest="origin",
        type=lat_lng,
        required=True,
        metavar="LAT,LNG",
        help="where the route starts (snapped to the nearest road)",
    )
    route.add_argument(
        "--to",
        dest="destination",
        type=lat_lng,
        required=True,
        metavar="LAT,LNG",
        help="where it ends (snapped to the nearest road)",
    )
    route.set_defaults(_action=run_route)


def run(args: argparse.Namespace) -> int:
    action = args._action
    result: int = action(args)
    return result


def run_build(args: argparse.Namespace) -> int:
    try:
        from driver_agent.geo.osm_reader import read_extract
    except ModuleNotFoundError as e:
        if e.name != "osmium":
            raise
        print(INSTALL_HINT, file=sys.stderr)
        return EXIT_BAD_INPUT
    source: Path = args.input
    ways, areas = read_extract(source)
    graph = build_graph(ways)
    if not graph.edges:
        raise ConfigError(str(source), "no drivable roads in it")
    try:
        depots = pick_depots(graph, args.depot, areas)
    except ValueError as e:
        raise ConfigError("--depot", str(e)) from None
    name = args.name or source.name.split(".")[0]
    doc = graph_document(graph.nodes, graph.edges, depots, name=name, source=source.name)
    out: Path = args.output
    _write(out, doc)
    network = RoadNetwork.load(out)  # the router's hierarchy, on the graph as it reads back
    _write(out, {**doc, "hierarchy": hierarchy_fields(network.router.compute_hierarchy())})
    print(
        f"wrote {out}: {len(graph.nodes)} junctions (of {graph.all_nodes}), "
        f"{len(graph.edges)} road stretches, {network.total_length_m / 1000:.1f} km of road, "
        f"{len(depots)} depots; © OpenStreetMap contributors, ODbL 1.0"
    )
    return EXIT_OK


def _write(out: Path, doc: dict[str, Any]) -> None:
    raw = json.dumps(doc, ensure_ascii=False, separators=(",", ":")).encode()
    try:
        out.write_bytes(gzip.compress(raw, mtime=0) if out.name.endswith(".gz") else raw)
    except OSError as e:
        raise ConfigError(str(out), f"cannot write: {e.strerror or e}") from None


def run_route(args: argparse.Namespace) -> int:
    graph: str = args.graph
    if graph.strip().lower() in BUNDLED:
        network = RoadNetwork.bundled(graph)
    else:
        network = RoadNetwork.load(graph)
    for flag, point in (("--from", args.origin), ("--to", args.destination)):
        if not network.covers(*point):
            raise ConfigError(
                flag,
                f"{point[0]},{point[1]} is farther than {network.max_snap_m:.0f} m from any road "
                f"of {graph}",
            )
    track = network.route(*args.origin, *args.destination)
    if track is None:  # not reached: both ends are covered
        raise ConfigError(graph, "no route between the two points")
    feature = route_feature(track, args.origin, args.destination, network.name or graph)
    print(json.dumps(feature, ensure_ascii=False))
    return EXIT_OK

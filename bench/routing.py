"""`python -m bench.routing`: road graph load time, route query time and memory, at city scale.

Three graphs: a synthetic road grid of about 200,000 junctions (a city of a million people; 447 x
447 junctions 100 m apart, a 50 km/h arterial every 10th street, residential 30 km/h between,
every 10th street half-way between arterials one-way, alternating) and the two bundled maps
(Helsinki centre, Liechtenstein). Neither real extract is large enough to measure a router at
city scale, hence the grid. Each is measured from two files: as `roads build` writes it (with
the router's contraction hierarchy: CH; about three minutes to build for the grid) and as
before (the grid with landmarks, format 3; the bundled maps as committed: ALT).

Each file is measured in a fresh process: load time (`RoadNetwork.load` of the .roads.json.gz
file: read, decode, project, build edges, spatial index, router arrays, hierarchy or
landmarks), peak RSS and its growth over the loaded process's imports, then route queries
between random road points (fixed seed): `RoadNetwork.route()` end to end (snap, search, Track)
with the file's router, then on the same pairs the router before ALT (A* with the straight-line
bound only) and the one before that (Dijkstra, `geo.router.dijkstra_search`), p50/p95 in ms,
checking Dijkstra and the file's router find the same travel time. A second pass over the same
pairs shows the LRU cache.

    python -m bench.routing                 # about 8 minutes
    python -m bench.routing --keep DIR      # keep the grid files in DIR, reuse them next time
    python -m bench.routing --quick         # a small grid: seconds
"""

from __future__ import annotations

import argparse
import gzip
import json
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from driver_agent.geo.roadfile import bundled_graph_path, graph_document  # noqa: E402

GRID_SIDE = 447  # 199,809 junctions
SPACING_DEG = 0.0009  # 100 m north-south
LOCAL_M = 5_000.0
TARGETS = {"load_s": 3.0, "query_p95_ms": 20.0, "rss_mb": 300.0}


def grid_document(side: int) -> dict[str, Any]:
    """The synthetic city: a side x side grid of streets near 60 N, 25 E."""
    lat0, lng0 = 60.0, 25.0
    lng_step = SPACING_DEG * 2.0  # about 111 m east-west at 60 N
    nodes = [
        (lat0 + i * SPACING_DEG, lng0 + j * lng_step) for i in range(side) for j in range(side)
    ]
    edges: list[tuple[int, int, str, float, bool, list[tuple[float, float]]]] = []
    for i in range(side):
        for j in range(side):
            here = i * side + j
            for di, dj, line in ((0, 1, i), (1, 0, j)):  # east along row i, north along column j
                if i + di >= side or j + dj >= side:
                    continue
                there = (i + di) * side + (j + dj)
                road = "primary" if line % 10 == 0 else "residential"
                if line % 10 == 5:  # one-way, alternating direction
                    u, v = (here, there) if (line // 10) % 2 == 0 else (there, here)
                    edges.append((u, v, road, 0.0, True, []))
                else:
                    edges.append((here, there, road, 0.0, False, []))
    return graph_document(nodes, edges, [], name=f"grid {side}x{side}")


def write_graph(doc: dict[str, Any], path: Path, *, hierarchy: bool) -> float:
    """Write the graph file as `roads build` does (with the router's contraction hierarchy,
    computed on the graph as it reads back from the file) or as it did before (format 3: with
    the router's landmarks instead); the seconds that took."""
    from driver_agent.geo.roadfile import GRAPH_FORMAT_V3, hierarchy_fields, landmark_fields
    from driver_agent.geo.roads import RoadNetwork

    def write(document: dict[str, Any]) -> None:
        raw = json.dumps(document, separators=(",", ":")).encode()
        path.write_bytes(gzip.compress(raw, mtime=0))

    t0 = time.perf_counter()
    write(doc)
    router = RoadNetwork.load(path).router
    if hierarchy:
        write({**doc, "hierarchy": hierarchy_fields(router.compute_hierarchy())})
    else:
        marks = router.landmarks or router.compute_landmarks()
        write({**doc, "format": GRAPH_FORMAT_V3, "landmarks": landmark_fields(marks)})
    return time.perf_counter() - t0


def _document(path: Path) -> dict[str, Any]:
    """A bundled map's graph as `roads build` writes it (today's format, without the router's
    tables)."""
    from driver_agent.geo.roads import RoadNetwork

    return RoadNetwork.load(path).to_json()


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def rss_mb(field: str = "VmHWM") -> float:
    """This process's peak (VmHWM) or current (VmRSS) resident memory, MB (Linux /proc; the
    getrusage peak would include the parent's from before exec)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024.0
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def measure(
    path: Path, pairs: int, old_pairs: int, seed: int, astar_pairs: int | None = None
) -> dict[str, Any]:
    """In this process: load `path`, route `pairs` random pairs (new: ALT), the first
    `astar_pairs` of them (default all) with A* without landmarks (the router before ALT) and
    the first `old_pairs` with Dijkstra (the router before A*)."""
    astar_pairs = pairs if astar_pairs is None else astar_pairs
    import random

    from driver_agent.geo.roads import RoadNetwork
    from driver_agent.geo.router import adjacency_lists, dijkstra_search

    before = rss_mb()
    t0 = time.perf_counter()
    network = RoadNetwork.load(path)
    load_s = time.perf_counter() - t0
    after_load = rss_mb()
    rng = random.Random(seed)
    network.route(*network.random_point(rng), *network.random_point(rng))  # warm-up, not counted
    network.router.hits = network.router.misses = 0
    points = [(network.random_point(rng), network.random_point(rng)) for _ in range(pairs)]
    new_ms = [_timed_route(network, a, b) for a, b in points]
    local_ms = [_timed_route(network, a, b) for a, b in _local_pairs(network, rng, pairs)]
    costs: list[float] = []
    cached_ms = []
    for a, b in points:
        t0 = time.perf_counter()
        network.route(*a, *b)
        cached_ms.append((time.perf_counter() - t0) * 1000)
    peak_new = rss_mb()  # before the previous routers' structures are built
    router = network.router
    marks, ranks = router.landmarks, router.hierarchy
    router.landmarks = router.hierarchy = None  # the A* before ALT, same pairs
    router._cache.clear()
    astar_ms = [_timed_route(network, a, b) for a, b in points[:astar_pairs]]
    router.landmarks, router.hierarchy = marks, ranks
    edges = network.edges
    adjacency = adjacency_lists(
        network.node_count, [e.u for e in edges], [e.v for e in edges], [e.oneway for e in edges]
    )
    edge_costs = [e.cost_s for e in edges]
    old_ms: list[float] = []
    mismatches = 0
    for a, b in points[:old_pairs]:
        t0 = time.perf_counter()
        sa, sb = network._snap(*a), network._snap(*b)
        assert sa is not None
        assert sb is not None
        starts, finishes, direct = network.search_ends(sa, sb)
        old = dijkstra_search(adjacency, edge_costs, starts, finishes, direct)
        if old is not None:
            network._track(network.pieces(old, sa, sb, starts, finishes), sa)
        old_ms.append((time.perf_counter() - t0) * 1000)
        new = network.router.search(starts, finishes, direct)
        old_cost = direct if old is None else old.cost_s
        new_cost = direct if new is None else new.cost_s
        costs.append(new_cost)
        if abs(old_cost - new_cost) > 1e-6 * max(1.0, old_cost):
            mismatches += 1
    return {
        "junctions": network.node_count,
        "edges": network.edge_count,
        "load_s": round(load_s, 3),
        "rss_before_load_mb": round(before, 1),
        "rss_after_load_mb": round(after_load, 1),
        "peak_rss_mb": round(peak_new, 1),
        "peak_rss_with_old_router_mb": round(rss_mb(), 1),
        "pairs": pairs,
        "new_p50_ms": round(percentile(new_ms, 0.50), 2),
        "new_p95_ms": round(percentile(new_ms, 0.95), 2),
        "new_max_ms": round(max(new_ms), 2),
        "cached_p50_ms": round(percentile(cached_ms, 0.50), 3),
        "router": "CH" if ranks is not None else "ALT" if marks is not None else "A*",
        "shortcuts": 0 if ranks is None else ranks.shortcuts,
        "landmarks": 0 if marks is None else len(marks.nodes),
        "astar_pairs": len(astar_ms),
        "astar_p50_ms": round(percentile(astar_ms, 0.50), 2),
        "astar_p95_ms": round(percentile(astar_ms, 0.95), 2),
        "local_p50_ms": round(percentile(local_ms, 0.50), 2),
        "local_p95_ms": round(percentile(local_ms, 0.95), 2),
        "cache_hits": network.router.hits,
        "old_pairs": len(old_ms),
        "old_p50_ms": round(percentile(old_ms, 0.50), 2),
        "old_p95_ms": round(percentile(old_ms, 0.95), 2),
        "same_cost_as_old": len(old_ms) - mismatches,
        "mean_route_s": round(statistics.fmean(costs), 1) if costs else 0.0,
    }


def _timed_route(network: Any, a: tuple[float, float], b: tuple[float, float]) -> float:
    t0 = time.perf_counter()
    track = network.route(*a, *b)
    elapsed = (time.perf_counter() - t0) * 1000
    assert track is not None
    return elapsed


def _local_pairs(network: Any, rng: Any, count: int) -> list[tuple[Any, Any]]:
    """Random pairs at most LOCAL_M apart in a straight line: a delivery leg in a city."""
    from driver_agent.geo.geometry import haversine_m

    found: list[tuple[Any, Any]] = []
    while len(found) < count:
        a = network.random_point(rng)
        for _ in range(200):
            b = network.random_point(rng)
            if haversine_m(*a, *b) <= LOCAL_M:
                found.append((a, b))
                break
    return found


def run_child(path: Path, pairs: int, old_pairs: int, seed: int) -> dict[str, Any]:
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "bench.routing",
            "--child",
            str(path),
            "--pairs",
            str(pairs),
            "--old-pairs",
            str(old_pairs),
            "--seed",
            str(seed),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def render(results: dict[str, dict[str, Any]]) -> str:
    head = (
        "| graph | router | junctions | edges | load s | peak RSS MB (after imports) | "
        "p50 / p95 ms | legs <= 5 km: p50 / p95 ms | cached p50 ms | "
        "A* (before ALT) p50 / p95 ms | Dijkstra (before A*) p50 / p95 ms | same result |"
    )
    lines = [head, "| --- | --- |" + " ---: |" * 10]
    for name, r in results.items():
        lines.append(
            f"| {name} | {r['router']} | {r['junctions']:,} | {r['edges']:,} | {r['load_s']:.2f} | "
            f"{r['peak_rss_mb']:.0f} ({r['rss_before_load_mb']:.0f}) | "
            f"{r['new_p50_ms']:.1f} / {r['new_p95_ms']:.1f} | "
            f"{r['local_p50_ms']:.1f} / {r['local_p95_ms']:.1f} | {r['cached_p50_ms']:.2f} | "
            f"{r['astar_p50_ms']:.1f} / {r['astar_p95_ms']:.1f} | "
            f"{r['old_p50_ms']:.1f} / {r['old_p95_ms']:.1f} | "
            f"{r['same_cost_as_old']}/{r['old_pairs']} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.routing", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="a 60 x 60 grid, few pairs")
    parser.add_argument("--pairs", type=int, default=300)
    parser.add_argument("--old-pairs", type=int, default=0, help="default: all; grid: 20")
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--out", type=Path, help="also write the figures as JSON here")
    parser.add_argument(
        "--keep", type=Path, help="keep the grid files in this folder, and reuse them from there"
    )
    parser.add_argument("--child", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        print(json.dumps(measure(args.child, args.pairs, args.old_pairs or args.pairs, args.seed)))
        return
    side = 60 if args.quick else GRID_SIDE
    pairs = 30 if args.quick else args.pairs
    results: dict[str, dict[str, Any]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        every = args.old_pairs or pairs
        graphs: dict[str, tuple[Path, int]] = {}
        grid_doc = grid_document(side)
        for how, hierarchy in (("roads build", True), ("format 3", False)):
            path = Path(tmp) / f"grid-{hierarchy}.roads.json.gz"
            kept = (
                args.keep and args.keep / f"grid{side}-{'ch' if hierarchy else 'alt'}.roads.json.gz"
            )
            if kept and kept.exists():  # written by an earlier run with --keep
                path = kept
                print(f"grid {side}x{side} as {how}: {path} (kept)", flush=True)
                graphs[f"synthetic grid {side}x{side}, {how}"] = (
                    path,
                    args.old_pairs or min(pairs, 20),
                )
                continue
            made_s = write_graph(grid_doc, path, hierarchy=hierarchy)
            if kept:
                kept.write_bytes(path.read_bytes())
            print(
                f"grid {side}x{side} as {how}: {path.stat().st_size / 1e6:.1f} MB file "
                f"({'hierarchy' if hierarchy else 'landmarks'}) in {made_s:.1f} s",
                flush=True,
            )
            graphs[f"synthetic grid {side}x{side}, {how}"] = (
                path,
                args.old_pairs or min(pairs, 20),
            )
        del grid_doc
        for name in ("helsinki", "liechtenstein"):
            bundled = bundled_graph_path(name)
            graphs[f"{name.title()} (bundled)"] = (bundled, every)
            path = Path(tmp) / f"{name}.roads.json.gz"
            made_s = write_graph(_document(bundled), path, hierarchy=True)
            print(f"{name} as roads build: hierarchy in {made_s:.2f} s", flush=True)
            graphs[f"{name.title()}, roads build"] = (path, every)
        for name, (path, old_pairs) in graphs.items():
            results[name] = run_child(path, pairs, old_pairs, args.seed)
            print(f"{name}: {json.dumps(results[name])}", flush=True)
    print()
    print(render(results))
    big = results[f"synthetic grid {side}x{side}, roads build"]
    print(
        f"\ntargets on the grid: load {big['load_s']:.2f} s (< {TARGETS['load_s']:.0f}), "
        f"query p95 {big['new_p95_ms']:.1f} ms (< {TARGETS['query_p95_ms']:.0f}), "
        f"peak RSS {big['peak_rss_mb']:.0f} MB (< {TARGETS['rss_mb']:.0f})"
    )
    if args.out:
        args.out.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()

"""Landmark lower bounds for A* (ALT): travel times from and to a few junctions on the edge of
the map, from which a lower bound on the time between any two junctions follows.

By the triangle inequality, for a landmark L and junctions v, t:
d(v, t) >= d(L, t) - d(L, v) and d(v, t) >= d(v, L) - d(t, L). The landmarks are the junctions
farthest from the map's centre in equal angular sectors around it ("planar" selection), so for
most pairs one lies behind the goal as seen from the start and its bound is close to the truth.

Distances are stored compactly as uint32 in units of `scale` seconds (the longest distance over
2**32 - 2: about a microsecond in a city), rounded down (2**32 - 1: not reachable): 4 bytes per
junction, landmark and direction. A bound computed from them loses at
most one unit to rounding, which `Landmarks.bounds` subtracts, so it never exceeds the true
cost: A* with it returns the same optimum as Dijkstra.

Pure: no I/O.
"""

from __future__ import annotations

import heapq
import math
from array import array
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

DEFAULT_COUNT = 16
ACTIVE = 8  # landmarks used per query: the ones with the best bound at the start
UNREACHABLE = 2**32 - 1
MAX_UNITS = UNREACHABLE - 1


@dataclass(frozen=True, slots=True)
class Landmarks:
    """Per landmark: travel time from it to every junction (`to`) and from every junction to it
    (`back`), in units of `scale` seconds, rounded down; UNREACHABLE when there is no path."""

    nodes: tuple[int, ...]
    scale: float
    to: tuple[array[int], ...]  # array("I") per landmark
    back: tuple[array[int], ...]
    costs_sum: float  # the sum of the edge costs they were computed on (stale when it differs)

    def bounds(
        self, start: int, goals: Sequence[tuple[int, float]], active: int = ACTIVE
    ) -> list[tuple[array[int], float, array[int], float]]:
        """The `active` landmarks with the best bound at `start` for reaching any of the goals
        (junction, cost still to go from it), as (to, a, back, b) in units: for every junction
        v, max(a - to[v], back[v] - b) <= (its true cost to the nearest goal) / scale. Goals a
        landmark cannot reach or be reached from are skipped (no bound from it)."""
        ranked: list[tuple[float, int]] = []
        terms: list[tuple[array[int], float, array[int], float]] = []
        inv = 1.0 / self.scale
        for to, back in zip(self.to, self.back, strict=True):
            if any(to[g] == UNREACHABLE or back[g] == UNREACHABLE for g, _ in goals):
                continue
            # minus one unit: a difference of two rounded-down values may be one unit too high
            a = min(to[g] + extra * inv for g, extra in goals) - 1.0
            b = max(back[g] - extra * inv for g, extra in goals) + 1.0
            ranked.append((max(a - to[start], back[start] - b), len(terms)))
            terms.append((to, a, back, b))
        ranked.sort(reverse=True)
        return [terms[i] for _, i in ranked[:active]]


def pick_nodes(
    node_x: npt.NDArray[np.float64], node_y: npt.NDArray[np.float64], count: int
) -> list[int]:
    """Up to `count` junctions on the periphery: in each of `count` equal angular sectors
    around the centre of the junctions' bounding box, the one farthest from that centre."""
    if len(node_x) == 0 or count <= 0:
        return []
    cx = (float(node_x.min()) + float(node_x.max())) / 2
    cy = (float(node_y.min()) + float(node_y.max())) / 2
    dx, dy = node_x - cx, node_y - cy
    sector = ((np.arctan2(dy, dx) + math.pi) / (2 * math.pi) * count).astype(np.int64) % count
    reach = np.hypot(dx, dy)
    picked: list[int] = []
    for s in range(count):
        members = np.flatnonzero(sector == s)
        if len(members):
            picked.append(int(members[np.argmax(reach[members])]))
    return sorted(set(picked), key=picked.index)


def travel_times(
    indptr: Sequence[int], head: Sequence[int], cost: Sequence[float], source: int
) -> array[float]:
    """Dijkstra from `source` over a compressed-sparse-row graph: the cost to every junction
    (inf where there is no path)."""
    dist = array("d", [math.inf]) * (len(indptr) - 1)
    dist[source] = 0.0
    heap = [(0.0, source)]
    heappush, heappop = heapq.heappush, heapq.heappop
    while heap:
        d, node = heappop(heap)
        if d > dist[node]:
            continue
        for slot in range(indptr[node], indptr[node + 1]):
            nxt = head[slot]
            new = d + cost[slot]
            if new < dist[nxt]:
                dist[nxt] = new
                heappush(heap, (new, nxt))
    return dist


def compute(
    forward: tuple[Sequence[int], Sequence[int], Sequence[float]],
    backward: tuple[Sequence[int], Sequence[int], Sequence[float]],
    nodes: Sequence[int],
    costs_sum: float,
) -> Landmarks:
    """The landmarks at `nodes`, from the graph (indptr, head, cost) and its reverse, whose
    edge costs sum to `costs_sum`."""
    to = [np.frombuffer(travel_times(*forward, n), dtype=np.float64) for n in nodes]
    back = [np.frombuffer(travel_times(*backward, n), dtype=np.float64) for n in nodes]
    finite = [float(d[np.isfinite(d)].max(initial=0.0)) for d in to + back]
    scale = max(max(finite, default=0.0) / MAX_UNITS, 1e-6)
    return Landmarks(
        tuple(nodes),
        scale,
        tuple(_units(d, scale) for d in to),
        tuple(_units(d, scale) for d in back),
        costs_sum,
    )


def _units(seconds: npt.NDArray[np.float64], scale: float) -> array[int]:
    finite = np.isfinite(seconds)
    units = np.full(len(seconds), UNREACHABLE, dtype=np.uint32)
    units[finite] = np.minimum(np.floor(seconds[finite] / scale), MAX_UNITS).astype(np.uint32)
    return array("I", units.astype("<u4").tobytes())


def encode(marks: Landmarks) -> tuple[bytes, bytes]:
    """The `to` and `back` tables as little-endian uint32, landmark after landmark."""
    return (
        b"".join(np.asarray(t, dtype="<u4").tobytes() for t in marks.to),
        b"".join(np.asarray(t, dtype="<u4").tobytes() for t in marks.back),
    )


def decode(
    nodes: Sequence[int], scale: float, to: bytes, back: bytes, count: int, costs_sum: float
) -> Landmarks:
    """`encode`'s tables back, for a graph of `count` junctions. ValueError when they do not
    fit: a table of the wrong size, a landmark that is not a junction, a scale that is not
    positive."""
    size = 4 * count * len(nodes)
    if len(to) != size or len(back) != size:
        raise ValueError(f"tables of {len(to)} and {len(back)} bytes, expected {size} each")
    if any(not 0 <= n < count for n in nodes):
        raise ValueError(f"a landmark is not a junction: {list(nodes)}")
    if not (scale > 0 and math.isfinite(scale)):
        raise ValueError(f"scale must be positive, not {scale}")
    step = 4 * count

    def split(table: bytes) -> tuple[array[int], ...]:
        return tuple(
            array("I", np.frombuffer(table[i : i + step], dtype="<u4").tobytes())
            for i in range(0, size, step)
        )

    return Landmarks(tuple(nodes), scale, split(to), split(back), costs_sum)


def fits(marks: Landmarks, costs_sum: float) -> bool:
    """True when `marks` were computed on edge costs that sum to `costs_sum` (not, say, before
    the cruise speeds changed: their bounds could then exceed the true cost)."""
    return abs(marks.costs_sum - costs_sum) <= 1e-9 * max(1.0, abs(costs_sum))

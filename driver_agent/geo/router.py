"""Fastest paths between junctions of a road graph: A* over flat arrays, with an LRU cache.

A search starts from up to two junctions (the ends of the edge the start point snapped to, each
with the cost of reaching it along that edge) and stops at up to two junctions (the ends of the
goal's edge, each with the cost still to go along it). Costs are travel seconds.

With landmarks (`geo.landmarks`, from the graph file or computed at load for a small graph) the
heuristic is the best landmark lower bound of the 8 landmarks best for the query (ALT): on a
200,000-junction grid it settles a tenth of the junctions plain A* does. The heap is ordered by
f in buckets a few table units wide, deepest entry first, and a path is accepted once nothing
left can beat it by more than two buckets: the same travel time as Dijkstra's to within 16 units
of the landmark tables' scale (microseconds). Without landmarks the heuristic is the
straight-line distance to the nearest goal junction (plus its remaining cost) at the graph's top
cruise speed, and the result is Dijkstra's optimum. Both bounds never exceed the true cost.
Adjacency is compressed-sparse-row in flat arrays (compact and fast to index from Python, built
once with numpy).

`dijkstra_search` is the router before A* (Dijkstra over adjacency lists with dicts), kept as
the reference the tests and the bench compare against.

Pure: no I/O.
"""

from __future__ import annotations

import heapq
import math
from array import array
from bisect import bisect_right
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from driver_agent.geo import contraction, hierarchy, landmarks
from driver_agent.geo.hierarchy import Hierarchy, Upward
from driver_agent.geo.landmarks import ACTIVE, Landmarks
from driver_agent.geo.landmarks import DEFAULT_COUNT as DEFAULT_LANDMARKS

# (junction, cost to reach it, offset on the start edge where the path leaves it)
Start = tuple[int, float, float]
# junction -> (cost from it to the goal, offset on the goal edge where the path joins it)
Finishes = dict[int, tuple[float, float]]
CacheKey = tuple[tuple[Start, ...], tuple[tuple[int, tuple[float, float]], ...]]
DEFAULT_CACHE_SIZE = 4096


@dataclass(frozen=True, slots=True)
class Path:
    """The best path found: total cost, where it starts and ends, and the edges in between."""

    cost_s: float
    start: int
    end: int
    driven: array[int]  # the edges from start to end: index (driven u->v) or ~index (v->u)

    @property
    def steps(self) -> tuple[tuple[int, bool], ...]:
        """(edge index, driven u->v) from start to end."""
        return tuple((e, True) if e >= 0 else (~e, False) for e in self.driven)


class Router:
    """A* on travel time over a directed graph given as edge arrays."""

    def __init__(
        self,
        node_count: int,
        edge_u: npt.NDArray[np.int64],
        edge_v: npt.NDArray[np.int64],
        edge_cost_s: npt.NDArray[np.float64],
        edge_length_m: npt.NDArray[np.float64],
        edge_oneway: npt.NDArray[np.bool_],
        node_x: npt.NDArray[np.float64],
        node_y: npt.NDArray[np.float64],
        *,
        cache_size: int = DEFAULT_CACHE_SIZE,
    ) -> None:
        two_way = ~edge_oneway
        edge_ids = np.arange(len(edge_u), dtype=np.int64)
        tails = np.concatenate([edge_u, edge_v[two_way]])
        heads = np.concatenate([edge_v, edge_u[two_way]])
        ids = np.concatenate([edge_ids, edge_ids[two_way]])
        forward = np.concatenate([np.ones(len(edge_u), bool), np.zeros(int(two_way.sum()), bool)])
        order = np.argsort(tails, kind="stable")
        # flat arrays (array.array of int32 and float64): a fraction of the memory of lists,
        # and faster to index
        self._indptr = _ints(np.searchsorted(tails[order], np.arange(node_count + 1)))
        self._head = _ints(heads[order])
        # the edge each slot drives, as its index (u->v) or ~index (v->u, a two-way edge)
        self._edge = _ints(np.where(forward[order], ids[order], ~ids[order]))
        self._cost = _floats(edge_cost_s[ids[order]])
        positive = edge_cost_s > 0
        top = (
            float(np.max(edge_length_m[positive] / edge_cost_s[positive])) if positive.any() else 1
        )
        # coordinates in seconds at the top speed: the straight line's time is the heuristic
        self._hx = _floats(node_x / max(top, 1e-9))
        self._hy = _floats(node_y / max(top, 1e-9))
        self._best: array[float] | None = None
        self._bound_of: array[float] | None = None
        self._slot_of: array[int] | None = None
        self.costs_sum = float(np.sum(edge_cost_s))  # what landmarks must have been made on
        self.landmarks: Landmarks | None = None
        self.hierarchy: Upward | None = None  # a file's hierarchy, ready to search
        self._cache: OrderedDict[CacheKey, Path | None] = OrderedDict()
        self._cache_size = cache_size
        self.hits = 0
        self.misses = 0

    def compute_landmarks(self, count: int = DEFAULT_LANDMARKS) -> Landmarks:
        """Landmarks on this graph's periphery (two Dijkstra searches over the whole graph per
        landmark: about a second each at 200,000 junctions); `use` them with `self.landmarks`."""
        indptr = np.frombuffer(self._indptr, dtype=np.int32)
        head = np.frombuffer(self._head, dtype=np.int32)
        cost = np.frombuffer(self._cost, dtype=np.float64)
        tails = np.repeat(np.arange(len(indptr) - 1), np.diff(indptr))
        order = np.argsort(head, kind="stable")
        backward = (
            _ints(np.searchsorted(head[order], np.arange(len(indptr)))),
            _ints(tails[order]),
            _floats(cost[order]),
        )
        hx = np.frombuffer(self._hx, dtype=np.float64)
        hy = np.frombuffer(self._hy, dtype=np.float64)
        nodes = landmarks.pick_nodes(hx, hy, count)
        forward = (self._indptr, self._head, self._cost)
        return landmarks.compute(forward, backward, nodes, self.costs_sum)

    def compute_hierarchy(self) -> Upward:
        """This graph's contraction hierarchy, ready to search (`geo.hierarchy`: minutes at
        200,000 junctions, what `roads build` stores); `adopt` it."""
        return self.prepare(
            contraction.contract(self._indptr, self._head, self._cost, self.costs_sum)
        )

    def prepare(self, ranks: Hierarchy) -> Upward:
        """A hierarchy of this graph's (by `contract`) over its adjacency, ready to search."""
        return ranks.prepare(
            np.frombuffer(self._indptr, dtype=np.int32),
            np.frombuffer(self._head, dtype=np.int32),
            np.frombuffer(self._cost, dtype=np.float64),
        )

    def adopt(
        self, marks: Landmarks | None, ranks: Upward | None, *, compute_landmarks: bool
    ) -> None:
        """Route with the hierarchy when it was built on this graph's costs; otherwise with
        the landmarks when they were (or computed here when `compute_landmarks`), else with
        plain A*. The landmarks are not kept beside a hierarchy: it does not need them."""
        self._cache.clear()
        self.hierarchy = self.landmarks = None
        if ranks is not None and hierarchy.fits(ranks, len(self._head), self.costs_sum):
            self.hierarchy = ranks
            return
        if marks is not None and not landmarks.fits(marks, self.costs_sum):
            marks = None
        if marks is None and compute_landmarks:
            marks = self.compute_landmarks()
        self.landmarks = marks

    def search(self, starts: Sequence[Start], finishes: Finishes, bound: float) -> Path | None:
        """The cheapest path from a start junction to a finish junction costing less than
        `bound` (start and finish costs included); None when there is none."""
        key: CacheKey = (tuple(starts), tuple(sorted(finishes.items())))
        if key in self._cache:
            self._cache.move_to_end(key)
            self.hits += 1
            found = self._cache[key]
            return found if found is not None and found.cost_s < bound else None
        self.misses += 1
        if self.hierarchy is not None:
            found = self._ch(self.hierarchy, starts, finishes)
        elif self.landmarks is not None:
            found = self._alt(self.landmarks, starts, finishes, math.inf)
        else:
            found = self._astar(starts, finishes, math.inf)
        self._cache[key] = found
        if len(self._cache) > self._cache_size:
            self._cache.popitem(last=False)
        return found if found is not None and found.cost_s < bound else None

    def _ch(self, ranks: Upward, starts: Sequence[Start], finishes: Finishes) -> Path | None:
        found = ranks.search(starts, finishes)
        if found is None:
            return None
        edge = self._edge
        driven = array("q", [edge[slot] for slot in found.arcs])
        return Path(found.cost_s, found.start, found.end, driven)

    def _astar(self, starts: Sequence[Start], finishes: Finishes, bound: float) -> Path | None:
        hx, hy, hypot = self._hx, self._hy, math.hypot
        goals = [(hx[n], hy[n], extra) for n, (extra, _) in finishes.items()]
        (ax, ay, ae), (bx, by, be) = goals[0], goals[-1]  # the same goal twice when one
        best = self._fresh_costs()
        touched: list[int] = []
        prev: dict[int, int] = {}  # node -> adjacency slot it was reached by (-1: a start)
        heap: list[tuple[float, float, int]] = []
        for node, cost, _ in starts:
            if cost < best[node]:
                best[node] = cost
                touched.append(node)
                prev[node] = -1
                x, y = hx[node], hy[node]
                h = min(hypot(x - ax, y - ay) + ae, hypot(x - bx, y - by) + be)
                heapq.heappush(heap, (cost + h, cost, node))
        indptr, head, cost_of = self._indptr, self._head, self._cost
        heappush, heappop = heapq.heappush, heapq.heappop
        best_cost, best_end = bound, -1
        while heap:
            f, g, node = heappop(heap)
            if f >= best_cost:
                break
            if g > best[node]:
                continue  # a stale entry: the node was reached cheaper since
            finish = finishes.get(node)
            if finish is not None and g + finish[0] < best_cost:
                best_cost, best_end = g + finish[0], node
            for slot in range(indptr[node], indptr[node + 1]):
                nxt = head[slot]
                new = g + cost_of[slot]
                if new < best[nxt]:
                    if best[nxt] == math.inf:
                        touched.append(nxt)
                    best[nxt] = new
                    prev[nxt] = slot
                    x, y = hx[nxt], hy[nxt]
                    h = min(hypot(x - ax, y - ay) + ae, hypot(x - bx, y - by) + be)
                    heappush(heap, (new + h, new, nxt))
        for node in touched:  # leave the cost table clean for the next search
            best[node] = math.inf
        return self._path(best_cost, best_end, prev)

    def _path(
        self, best_cost: float, best_end: int, prev: dict[int, int] | array[int]
    ) -> Path | None:
        """The path ending at `best_end`, followed back through `prev` (None for no end)."""
        if best_end < 0:
            return None
        driven = array("q")  # compact: the LRU cache holds thousands of these
        node = best_end
        while (slot := prev[node]) >= 0:
            driven.append(self._edge[slot])
            node = bisect_right(self._indptr, slot) - 1  # the junction the slot leaves from
        driven.reverse()
        return Path(best_cost, node, best_end, driven)

    def _alt(
        self, marks: Landmarks, starts: Sequence[Start], finishes: Finishes, bound: float
    ) -> Path | None:
        """A* with landmark lower bounds (the best `landmarks.ACTIVE` for this query)."""
        goals = [(n, extra) for n, (extra, _) in finishes.items()]
        terms = marks.bounds(starts[0][0], goals)
        if not terms:
            return self._astar(starts, finishes, bound)
        terms += [terms[0]] * (ACTIVE - len(terms))  # unrolled below: always ACTIVE of them
        (t0, a0, b0, c0), (t1, a1, b1, c1), (t2, a2, b2, c2), (t3, a3, b3, c3) = terms[:4]
        (t4, a4, b4, c4), (t5, a5, b5, c5), (t6, a6, b6, c6), (t7, a7, b7, c7) = terms[4:]
        scale = marks.scale
        # Order by f in buckets a few units wide, and within a bucket the deepest entry first:
        # on a plateau of equally fast paths (a grid) the search dives to the goal instead of
        # widening across all of them. A path is accepted once no entry can beat it by more
        # than two buckets (microseconds): Dijkstra's travel time, to that much.
        q = 8 * scale
        slack = 2 * q
        best = self._fresh_costs()
        bound_of = self._bounds_table()  # per junction, valid where best is finite
        touched: list[int] = []
        prev = self._slots_table()  # junction -> adjacency slot it was reached by (-1: start)
        heap: list[tuple[float, float, int]] = []
        for node, cost, _ in starts:
            if cost < best[node]:
                best[node] = cost
                touched.append(node)
                prev[node] = -1
                v = node
                h = bound_of[v] = scale * max(
                    a0 - t0[v], b0[v] - c0, a1 - t1[v], b1[v] - c1,
                    a2 - t2[v], b2[v] - c2, a3 - t3[v], b3[v] - c3,
                    a4 - t4[v], b4[v] - c4, a5 - t5[v], b5[v] - c5,
                    a6 - t6[v], b6[v] - c6, a7 - t7[v], b7[v] - c7, 0.0,
                )  # fmt: skip
                heapq.heappush(heap, ((cost + h) // q, -cost, node))
        indptr, head, cost_of = self._indptr, self._head, self._cost
        heappush, heappop = heapq.heappush, heapq.heappop
        inf = math.inf
        best_cost, best_end = bound, -1
        while heap:
            key, g, node = heappop(heap)
            if key * q >= best_cost - slack:
                break
            g = -g
            if g > best[node]:
                continue  # a stale entry: the node was reached cheaper since
            finish = finishes.get(node)
            if finish is not None and g + finish[0] < best_cost:
                best_cost, best_end = g + finish[0], node
            for slot in range(indptr[node], indptr[node + 1]):
                v = head[slot]
                new = g + cost_of[slot]
                if new < best[v]:
                    if best[v] == inf:  # first reached: its bound, kept for any later push
                        touched.append(v)
                        h = bound_of[v] = scale * max(
                            a0 - t0[v], b0[v] - c0, a1 - t1[v], b1[v] - c1,
                            a2 - t2[v], b2[v] - c2, a3 - t3[v], b3[v] - c3,
                            a4 - t4[v], b4[v] - c4, a5 - t5[v], b5[v] - c5,
                            a6 - t6[v], b6[v] - c6, a7 - t7[v], b7[v] - c7, 0.0,
                        )  # fmt: skip
                    else:
                        h = bound_of[v]
                    best[v] = new
                    prev[v] = slot
                    heappush(heap, ((new + h) // q, -new, v))
        for node in touched:  # leave the cost table clean for the next search
            best[node] = inf
        return self._path(best_cost, best_end, prev)

    def _bounds_table(self) -> array[float]:
        """A per-junction table for the bound of the junctions a search reaches (never reset:
        read only where the search set the cost table first)."""
        if self._bound_of is None:
            self._bound_of = array("d", bytes(8 * len(self._hx)))
        return self._bound_of

    def _slots_table(self) -> array[int]:
        """Per junction, the slot a search reached it by (never reset: read only along the
        path found, whose junctions the search set)."""
        if self._slot_of is None:
            self._slot_of = array("i", bytes(4 * len(self._hx)))
        return self._slot_of

    def _fresh_costs(self) -> array[float]:
        """The per-junction cost table, all infinite (kept between searches, reset after)."""
        if self._best is None:
            self._best = array("d", [math.inf]) * len(self._hx)
        return self._best


def _ints(values: npt.NDArray[Any]) -> array[int]:
    return array("i", np.ascontiguousarray(values, dtype=np.int32).tobytes())


def _floats(values: npt.NDArray[Any]) -> array[float]:
    return array("d", np.ascontiguousarray(values, dtype=np.float64).tobytes())


def dijkstra_search(
    adjacency: Sequence[Sequence[tuple[int, int, bool]]],
    edge_cost_s: Sequence[float],
    starts: Sequence[Start],
    finishes: Finishes,
    bound: float,
) -> Path | None:
    """The previous router, unchanged in substance: Dijkstra over adjacency lists of
    (next junction, edge index, driven u->v). The reference for `Router`."""
    dist: dict[int, float] = {}
    prev: dict[int, tuple[int, int, bool] | None] = {}
    heap: list[tuple[float, int]] = []
    for node, cost, _ in starts:
        if cost < dist.get(node, math.inf):
            dist[node] = cost
            prev[node] = None
            heapq.heappush(heap, (cost, node))
    best_cost, best_end = bound, -1
    done: set[int] = set()
    while heap:
        cost, node = heapq.heappop(heap)
        if node in done:
            continue
        if cost >= best_cost:
            break
        done.add(node)
        if node in finishes and cost + finishes[node][0] < best_cost:
            best_cost, best_end = cost + finishes[node][0], node
        for nxt, index, forward in adjacency[node]:
            new = cost + edge_cost_s[index]
            if new < dist.get(nxt, math.inf):
                dist[nxt] = new
                prev[nxt] = (node, index, forward)
                heapq.heappush(heap, (new, nxt))
    if best_end < 0:
        return None
    driven = array("q")
    node = best_end
    while (step := prev[node]) is not None:
        parent, index, forward = step
        driven.append(index if forward else ~index)
        node = parent
    driven.reverse()
    return Path(best_cost, node, best_end, driven)


def adjacency_lists(
    node_count: int, edge_u: Sequence[int], edge_v: Sequence[int], edge_oneway: Sequence[bool]
) -> list[list[tuple[int, int, bool]]]:
    """The previous router's adjacency: per junction, (next junction, edge index, driven u->v)."""
    adjacency: list[list[tuple[int, int, bool]]] = [[] for _ in range(node_count)]
    for index, (u, v, oneway) in enumerate(zip(edge_u, edge_v, edge_oneway, strict=True)):
        adjacency[u].append((v, index, True))
        if not oneway:
            adjacency[v].append((u, index, False))
    return adjacency

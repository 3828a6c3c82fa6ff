"""Contraction hierarchies: the fastest path between two junctions of a city in a few hundred
settled junctions, from a node order and shortcuts computed once (`roads build`).

Building (`geo.contraction`): junctions are contracted least important first, each adding
shortcuts between its neighbours where the cheapest path runs through it. Each shortcut is the
two arcs it replaces, so a path unpacks into the original arcs. `Hierarchy` is the result: the
node order and the shortcuts.

Querying (`Hierarchy.prepare`, then `Upward.search`; the file stores `Upward`): a Dijkstra
upward (to more important junctions) from the start and one upward in the reversed graph from
the goal; the cheapest junction both reach is on an optimal path, whose cost is the sum of the
original arcs' costs: Dijkstra's optimum. Stall-on-demand prunes junctions reached more
cheaply from above.

Arcs are numbered: 0..m-1 the graph's own (the router's adjacency slots), m+k the k-th shortcut.

Pure: no I/O.
"""

from __future__ import annotations

import heapq
import math
from array import array
from bisect import bisect_right
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

Start = tuple[int, float, float]
Finishes = dict[int, tuple[float, float]]


@dataclass(frozen=True, slots=True)
class Found:
    """An optimal path: its cost, first and last junction, and its original arcs in order."""

    cost_s: float
    start: int
    end: int
    arcs: list[int]


@dataclass(frozen=True, slots=True)
class Hierarchy:
    """The node order (rank per junction, 0 least important) and the shortcuts, as arrays;
    `arcs` is how many arcs the graph itself has, `costs_sum` the sum of its edge costs the
    hierarchy was built on (stale when it differs)."""

    rank: npt.NDArray[np.int32]
    tail: npt.NDArray[np.int32]  # per shortcut
    head: npt.NDArray[np.int32]
    first: npt.NDArray[np.int32]  # the two arcs it replaces
    second: npt.NDArray[np.int32]
    cost: npt.NDArray[np.float64]
    arcs: int
    costs_sum: float

    def prepare(
        self,
        indptr: npt.NDArray[np.int32],
        head: npt.NDArray[np.int32],
        cost: npt.NDArray[np.float64],
    ) -> Upward:
        """The search graphs over the router's adjacency (indptr, head, cost: `arcs` slots)
        and the shortcuts. Built part by part, freeing each as it goes: at 200,000 junctions
        the temporaries would otherwise raise the peak memory by tens of MB."""
        rank = self.rank
        tails = np.repeat(np.arange(len(indptr) - 1, dtype=np.int32), np.diff(indptr))
        up = rank[tails] < rank[head]  # an arc of the graph: up, down or a loop (neither)
        down = rank[tails] > rank[head]
        sc_up = rank[self.tail] < rank[self.head]  # a shortcut: always up or down
        ids = np.arange(len(tails), dtype=np.int32)
        sc_ids = np.arange(self.arcs, self.arcs + len(self.tail), dtype=np.int32)

        def part(keep: Any, sc_keep: Any, by_tail: bool) -> tuple[array[Any], ...]:
            keys = np.concatenate(
                [(tails if by_tail else head)[keep], (self.tail if by_tail else self.head)[sc_keep]]
            )
            order = np.argsort(keys, kind="stable")
            ptr = np.searchsorted(keys[order], np.arange(len(rank) + 1))
            del keys
            other = np.concatenate(
                [(head if by_tail else tails)[keep], (self.head if by_tail else self.tail)[sc_keep]]
            )
            other_flat = _flat("i", other[order])
            del other
            costs = np.concatenate([cost[keep], self.cost[sc_keep]])
            cost_flat = _flat("d", costs[order])
            del costs
            arc = np.concatenate([ids[keep], sc_ids[sc_keep]])
            return _flat("i", ptr), other_flat, cost_flat, _flat("i", arc[order])

        forward = part(up, sc_up, True)
        backward = part(down, ~sc_up, False)
        graph = (*forward, *backward, _flat("i", self.first), _flat("i", self.second))
        return Upward(graph, self.arcs, self.costs_sum)


class Upward:
    """A hierarchy ready to search, as the graph file stores it (`TABLES`): per junction, its
    arcs up to more important junctions and from more important junctions, as compressed
    sparse rows of (other junction, cost, arc), and the two arcs each shortcut replaces.
    `arcs` is how many arcs the graph itself has, `costs_sum` the sum of the edge costs it
    was built on (stale when either differs)."""

    __slots__ = ("_graph", "arcs", "costs_sum")

    def __init__(self, graph: tuple[array[Any], ...], arcs: int, costs_sum: float) -> None:
        self._graph = graph
        self.arcs = arcs
        self.costs_sum = costs_sum

    @property
    def shortcuts(self) -> int:
        return len(self._graph[-1])

    def tables(self) -> dict[str, array[Any]]:
        """The arrays by their name in the file."""
        return dict(zip(TABLES, self._graph, strict=True))

    def search(self, starts: Sequence[Start], finishes: Finishes) -> Found | None:
        """The cheapest path from a start junction (at its cost) to a finish junction (plus its
        cost still to go); None when there is none. `prepare` first."""
        f_ptr, f_head, f_cost, f_arc, b_ptr, b_tail, b_cost, b_arc, first, second = self._graph
        inf = math.inf
        heappush, heappop = heapq.heappush, heapq.heappop
        dist_f: dict[int, float] = {}
        dist_b: dict[int, float] = {}
        prev_f: dict[int, int] = {}  # junction -> the upward slot it was reached by (-1: start)
        prev_b: dict[int, int] = {}  # junction -> the downward slot it leads on by (-1: goal)
        heap_f: list[tuple[float, int]] = []
        heap_b: list[tuple[float, int]] = []
        for node, c, _ in starts:
            if c < dist_f.get(node, inf):
                dist_f[node] = c
                prev_f[node] = -1
                heappush(heap_f, (c, node))
        for node, (c, _) in finishes.items():
            if c < dist_b.get(node, inf):
                dist_b[node] = c
                prev_b[node] = -1
                heappush(heap_b, (c, node))
        best, meet = inf, -1
        while heap_f or heap_b:
            if heap_f and (not heap_b or heap_f[0][0] <= heap_b[0][0]):
                d, x = heappop(heap_f)
                if d >= best:
                    heap_f.clear()  # this side can no longer improve on the best
                    continue
                if d > dist_f[x]:
                    continue
                other = dist_b.get(x)
                if other is not None and d + other < best:
                    best, meet = d + other, x
                a, b = b_ptr[x], b_ptr[x + 1]
                for y, c in zip(b_tail[a:b], b_cost[a:b], strict=True):
                    if dist_f.get(y, inf) + c < d:
                        break  # stalled: reached more cheaply through a more important one
                else:
                    a, b = f_ptr[x], f_ptr[x + 1]
                    for s, y, c in zip(range(a, b), f_head[a:b], f_cost[a:b], strict=True):
                        new = d + c
                        if new < dist_f.get(y, inf):
                            dist_f[y] = new
                            prev_f[y] = s
                            heappush(heap_f, (new, y))
            else:
                d, x = heappop(heap_b)
                if d >= best:
                    heap_b.clear()
                    continue
                if d > dist_b[x]:
                    continue
                other = dist_f.get(x)
                if other is not None and d + other < best:
                    best, meet = d + other, x
                a, b = f_ptr[x], f_ptr[x + 1]
                for y, c in zip(f_head[a:b], f_cost[a:b], strict=True):
                    if dist_b.get(y, inf) + c < d:
                        break
                else:
                    a, b = b_ptr[x], b_ptr[x + 1]
                    for s, y, c in zip(range(a, b), b_tail[a:b], b_cost[a:b], strict=True):
                        new = d + c
                        if new < dist_b.get(y, inf):
                            dist_b[y] = new
                            prev_b[y] = s
                            heappush(heap_b, (new, y))
        if meet < 0:
            return None
        upward: list[int] = []
        start = meet
        while (slot := prev_f[start]) >= 0:
            upward.append(f_arc[slot])
            start = bisect_right(f_ptr, slot) - 1  # the junction the slot leaves
        upward.reverse()
        end = meet
        while (slot := prev_b[end]) >= 0:
            upward.append(b_arc[slot])
            end = bisect_right(b_ptr, slot) - 1  # the junction the slot leads to
        return Found(best, start, end, _unpack(upward, self.arcs, first, second))


def _unpack(arcs: list[int], m: int, first: array[int], second: array[int]) -> list[int]:
    """The original arcs of a path of arcs and shortcuts, in order."""
    out: list[int] = []
    stack = arcs[::-1]
    while stack:
        a = stack.pop()
        if a < m:
            out.append(a)
        else:
            stack.append(second[a - m])
            stack.append(first[a - m])
    return out


def _flat(code: str, values: npt.NDArray[Any]) -> array[Any]:
    """A numpy array as an array.array of `code` ("i": int32, "d": float64), copied once."""
    out = array(code)
    flat = np.ascontiguousarray(values, dtype=np.int32 if code == "i" else np.float64)
    out.frombytes(flat.data.cast("B"))
    return out


TABLES = (
    "up_ptr", "up_head", "up_cost", "up_arc",
    "down_ptr", "down_tail", "down_cost", "down_arc",
    "first", "second",
)  # fmt: skip


def encode(ready: Upward) -> dict[str, bytes]:
    """The tables as little-endian bytes: int32, the costs float64."""
    return {
        name: np.frombuffer(table, dtype=np.float64 if table.typecode == "d" else np.int32)
        .astype("<f8" if table.typecode == "d" else "<i4")
        .tobytes()
        for name, table in ready.tables().items()
    }


def decode(tables: dict[str, bytes], arcs: int, costs_sum: float, count: int) -> Upward:
    """`encode`'s tables back, for a graph of `count` junctions and `arcs` arcs. ValueError
    naming the table when they do not fit: a wrong size, rows that do not add up, a junction
    or arc that does not exist, a shortcut made of arcs that come after it, a cost that is
    not finite."""
    if arcs < 0 or not math.isfinite(costs_sum):
        raise ValueError(f"arcs {arcs}, costs_sum {costs_sum}: not a count and finite seconds")
    shortcuts = _ints(tables, "first", None)
    total = arcs + len(shortcuts)
    own = arcs + np.arange(len(shortcuts))
    for name in ("first", "second"):
        values = _ints(tables, name, len(shortcuts))
        if len(values) and (int(values.min()) < 0 or bool(np.any(values >= own))):
            raise ValueError(f"{name}: an arc that does not precede its shortcut")
    for side, other in (("up", "head"), ("down", "tail")):
        ptr = _ints(tables, f"{side}_ptr", count + 1)
        rows = int(ptr[-1])
        if int(ptr[0]) != 0 or bool(np.any(np.diff(ptr) < 0)):
            raise ValueError(f"{side}_ptr: not the rows' starts")
        nodes = _ints(tables, f"{side}_{other}", rows)
        if rows and (int(nodes.min()) < 0 or int(nodes.max()) >= count):
            raise ValueError(f"{side}_{other}: a junction that does not exist")
        ids = _ints(tables, f"{side}_arc", rows)
        if rows and (int(ids.min()) < 0 or int(ids.max()) >= total):
            raise ValueError(f"{side}_arc: an arc that does not exist")
        raw = tables[f"{side}_cost"]
        if len(raw) != 8 * rows:
            raise ValueError(f"{side}_cost: {len(raw)} bytes, expected {8 * rows}")
        if not bool(np.all(np.isfinite(np.frombuffer(raw, dtype="<f8")))):
            raise ValueError(f"{side}_cost: a cost that is not finite")
    graph = tuple(
        _flat(
            "d" if name.endswith("_cost") else "i",
            np.frombuffer(tables[name], dtype="<f8" if name.endswith("_cost") else "<i4"),
        )
        for name in TABLES
    )
    return Upward(graph, arcs, costs_sum)


def _ints(tables: dict[str, bytes], name: str, size: int | None) -> npt.NDArray[np.int32]:
    raw = tables[name]
    if len(raw) % 4 or (size is not None and len(raw) != 4 * size):
        expected = "a multiple of 4" if size is None else str(4 * size)
        raise ValueError(f"{name}: {len(raw)} bytes, expected {expected}")
    return np.frombuffer(raw, dtype="<i4")


def fits(ready: Upward, arcs: int, costs_sum: float) -> bool:
    """True when `ready` was built on a graph of `arcs` arcs whose edge costs sum to
    `costs_sum` (not, say, before the cruise speeds changed: a shortcut could then be wrong)."""
    same_sum = abs(ready.costs_sum - costs_sum) <= 1e-9 * max(1.0, abs(costs_sum))
    return ready.arcs == arcs and same_sum

"""The nearest of many points to a place (pure): the one nearest-driver search.

`NearestIndex` keeps named points in a coarse grid of cells, so that "nearest" looks at a few
cells, not at thousands of points. Distances are great-circle metres; ties go to the lower
`rank`, then the lower key. The simulator's dispatcher keeps its idle drivers in one; the
bridge's walker asks one about its idle vehicles.
"""

from __future__ import annotations

import math

from driver_agent.geo.geometry import haversine_m

CELL_DEG = 0.02  # about 2 km north-south
MAX_RINGS = 12  # beyond this many rings of cells, scan every point


class NearestIndex:
    def __init__(self) -> None:
        self._points: dict[str, tuple[float, float, int]] = {}  # key -> (lat, lng, rank)
        self._grid: dict[tuple[int, int], set[str]] = {}

    def __len__(self) -> int:
        return len(self._points)

    def __contains__(self, key: object) -> bool:
        return key in self._points

    def add(self, key: str, lat: float, lng: float, rank: int = 0) -> None:
        """Put `key` at (lat, lng), replacing where it was."""
        if key in self._points:
            self.remove(key)
        self._points[key] = (lat, lng, rank)
        self._grid.setdefault(_cell(lat, lng), set()).add(key)

    def remove(self, key: str) -> tuple[float, float]:
        """Take `key` out; returns where it was."""
        lat, lng, _ = self._points.pop(key)
        cell = _cell(lat, lng)
        members = self._grid[cell]
        members.discard(key)
        if not members:
            del self._grid[cell]
        return lat, lng

    def nearest(self, lat: float, lng: float) -> str | None:
        """The key nearest to (lat, lng), or None when the index is empty."""
        if not self._points:
            return None
        ci, cj = _cell(lat, lng)
        # the narrowest side of a cell here, in metres: ring k is at least (k - 1) of them away
        cell_m = CELL_DEG * 111_000.0 * max(math.cos(math.radians(lat)), 0.01)
        best: tuple[float, int, str] | None = None
        ring = 0
        while ring <= MAX_RINGS:
            if best is not None and (ring - 1) * cell_m > best[0]:
                break  # nothing in this ring or beyond can be nearer
            for i in range(ci - ring, ci + ring + 1):
                for j in range(cj - ring, cj + ring + 1):
                    if max(abs(i - ci), abs(j - cj)) != ring:
                        continue
                    for key in self._grid.get((i, j), ()):
                        candidate = self._distance(lat, lng, key)
                        if best is None or candidate < best:
                            best = candidate
            ring += 1
        else:  # the points are far and few: look at all of them
            best = min(self._distance(lat, lng, key) for key in self._points)
        assert best is not None
        return best[2]

    def _distance(self, lat: float, lng: float, key: str) -> tuple[float, int, str]:
        p_lat, p_lng, rank = self._points[key]
        return haversine_m(lat, lng, p_lat, p_lng), rank, key


def _cell(lat: float, lng: float) -> tuple[int, int]:
    return math.floor(lat / CELL_DEG), math.floor(lng / CELL_DEG)

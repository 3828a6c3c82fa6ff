"""The one nearest search: the grid finds what a scan of every point finds, ties by rank."""

from __future__ import annotations

import random

import pytest

from driver_agent.geo.geometry import haversine_m
from driver_agent.geo.nearest import CELL_DEG, MAX_RINGS, NearestIndex


def test_an_empty_index_has_no_nearest() -> None:
    assert NearestIndex().nearest(60.17, 24.94) is None


@pytest.mark.parametrize("spread_deg", [0.01, 0.3, 5.0, 60.0])
def test_the_grid_agrees_with_a_scan_of_every_point(spread_deg: float) -> None:
    rng = random.Random(7)
    index = NearestIndex()
    points: dict[str, tuple[float, float]] = {}
    for n in range(300):
        key = f"d{n:03d}"
        points[key] = (rng.uniform(-spread_deg, spread_deg), rng.uniform(-spread_deg, spread_deg))
        index.add(key, *points[key])
    for _ in range(50):
        lat, lng = rng.uniform(-spread_deg, spread_deg), rng.uniform(-spread_deg, spread_deg)
        scanned = min(points, key=lambda k: (haversine_m(lat, lng, *points[k]), k))
        assert index.nearest(lat, lng) == scanned


def test_ties_go_to_the_lower_rank_then_the_lower_key() -> None:
    index = NearestIndex()
    index.add("b", 60.0, 24.0, rank=0)
    index.add("a", 60.0, 24.0, rank=1)
    assert index.nearest(60.1, 24.0) == "b"
    index.add("c", 60.0, 24.0, rank=0)
    assert index.nearest(60.1, 24.0) == "b"


def test_points_move_and_leave() -> None:
    index = NearestIndex()
    index.add("x", 0.0, 0.0)
    index.add("y", 1.0, 1.0)
    index.add("x", 2.0, 2.0)  # moved: its old cell no longer holds it
    assert len(index) == 2
    assert index.nearest(0.0, 0.0) == "y"
    assert index.remove("y") == (1.0, 1.0)
    assert "y" not in index
    assert index.nearest(0.0, 0.0) == "x"


def test_a_point_beyond_the_rings_is_found_by_the_scan() -> None:
    index = NearestIndex()
    far = (MAX_RINGS + 5) * CELL_DEG
    index.add("far", far, far)
    assert index.nearest(0.0, 0.0) == "far"

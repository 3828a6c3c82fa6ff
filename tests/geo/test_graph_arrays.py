"""Tests for driver_agent.geo.graph_arrays: the array formulas agree with geo.geometry's."""

from __future__ import annotations

import random

import numpy as np
import pytest

from driver_agent.geo.geometry import LocalProjection, centroid, clamp_lat, normalize_lng
from driver_agent.geo.graph_arrays import centroid_array, forward_arrays, projection_around


@pytest.mark.parametrize(
    "ref", [(60.17, 24.94), (47.15, 9.52), (0.0, 179.9), (-33.9, 151.2), (89.9, 0.0)]
)
def test_forward_arrays_matches_the_projection_point_by_point(ref: tuple[float, float]) -> None:
    rng = random.Random(2)
    proj = LocalProjection(*ref)
    points = [
        (clamp_lat(ref[0] + rng.uniform(-0.5, 0.5)), normalize_lng(ref[1] + rng.uniform(-0.5, 0.5)))
        for _ in range(200)
    ]
    points.append(ref)
    xs, ys = forward_arrays(
        proj, np.array([p[0] for p in points]), np.array([p[1] for p in points])
    )
    for (lat, lng), x, y in zip(points, xs, ys, strict=True):
        ex, ey = proj.forward(lat, lng)
        assert x == pytest.approx(ex, abs=1e-6)
        assert y == pytest.approx(ey, abs=1e-6)


def test_centroid_array_matches_centroid() -> None:
    rng = random.Random(3)
    points = [(rng.uniform(47.0, 47.3), rng.uniform(9.4, 9.7)) for _ in range(500)]
    lats, lngs = np.array([p[0] for p in points]), np.array([p[1] for p in points])
    assert centroid_array(lats, lngs) == pytest.approx(centroid(points), abs=1e-12)
    assert projection_around(lats, lngs) == LocalProjection(*centroid_array(lats, lngs))
    antipodes = np.array([0.0, 0.0]), np.array([0.0, 180.0])
    assert centroid_array(*antipodes) == (0.0, 0.0)
    with pytest.raises(ValueError, match="no points"):
        centroid_array(np.array([]), np.array([]))

"""A road graph's geometry over numpy arrays, for the hundreds of thousands of points of a city
in one pass: `LocalProjection` and `centroid` (the same formulas as `geo.geometry`), every edge's
LineString, and every edge's cruise speed (as `roadclass.cruise_mps`).

Pure: no I/O.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import shapely

from driver_agent.geo.geometry import EARTH_RADIUS_M, LocalProjection, clamp_lat, normalize_lng
from driver_agent.geo.roadclass import CRUISE_KPH, UNKNOWN_CLASS_CRUISE_KPH
from driver_agent.geo.roadfile import GraphData

Floats = npt.NDArray[np.float64]
_EPS = 1e-12


def centroid_array(lats: Floats, lngs: Floats) -> tuple[float, float]:
    """The spherical centre of the points (normalised mean of unit vectors), as
    `geometry.centroid`; the first point when they cancel out. Raises ValueError on none."""
    if len(lats) == 0:
        raise ValueError("centroid of no points")
    p, lm = np.radians(lats), np.radians(lngs)
    x = float(np.sum(np.cos(p) * np.cos(lm)))
    y = float(np.sum(np.cos(p) * np.sin(lm)))
    z = float(np.sum(np.sin(p)))
    if (x * x + y * y + z * z) ** 0.5 < 1e-9:
        return float(lats[0]), float(lngs[0])
    lat = float(np.degrees(np.arctan2(z, np.hypot(x, y))))
    return lat, normalize_lng(float(np.degrees(np.arctan2(y, x))))


def projection_around(lats: Floats, lngs: Floats) -> LocalProjection:
    """A projection centred on the spherical centre of the points (`LocalProjection.around`)."""
    lat, lng = centroid_array(lats, lngs)
    return LocalProjection(clamp_lat(lat), normalize_lng(lng))


def forward_arrays(
    projection: LocalProjection, lats: Floats, lngs: Floats
) -> tuple[Floats, Floats]:
    """(lat, lng) degrees -> (x, y) metres for many points, as `LocalProjection.forward`."""
    p0 = np.radians(projection.ref_lat)
    p = np.radians(lats)
    dl = np.radians(lngs - projection.ref_lng)
    dp = p - p0
    h = np.sin(dp / 2) ** 2 + np.cos(p0) * np.cos(p) * np.sin(dl / 2) ** 2
    c = 2.0 * np.arcsin(np.sqrt(np.clip(h, 0.0, 1.0)))
    c = np.minimum(c, np.pi - 1e-9)
    az = np.arctan2(
        np.sin(dl) * np.cos(p), np.cos(p0) * np.sin(p) - np.sin(p0) * np.cos(p) * np.cos(dl)
    )
    r = np.where(c < _EPS, 0.0, c * EARTH_RADIUS_M)
    return r * np.sin(az), r * np.cos(az)


def cruise_speeds_mps(data: GraphData) -> npt.NDArray[np.float64]:
    """Per edge: the class's cruise speed capped by a known limit (as `roadclass.cruise_mps`)."""
    by_class = np.array(
        [CRUISE_KPH.get(c, UNKNOWN_CLASS_CRUISE_KPH) / 3.6 for c in data.classes] or [1.0]
    )
    cruise = by_class[data.edge_class]
    limit = data.edge_limit_mps
    return np.where(limit > 0.0, np.minimum(cruise, limit), cruise)


def edge_lines(
    data: GraphData,
    node_x: npt.NDArray[np.float64],
    node_y: npt.NDArray[np.float64],
    projection: LocalProjection,
) -> npt.NDArray[np.object_]:
    """Every edge's LineString in local metres, built in one vectorised pass."""
    inner = data.shape_points
    per_edge = inner + 2
    first = np.concatenate([[0], np.cumsum(per_edge)[:-1]])
    total = int(per_edge.sum())
    xs, ys = np.empty(total), np.empty(total)
    xs[first], ys[first] = node_x[data.edge_u], node_y[data.edge_u]
    last = first + per_edge - 1
    xs[last], ys[last] = node_x[data.edge_v], node_y[data.edge_v]
    if len(data.shape):
        mid = np.ones(total, dtype=bool)
        mid[first] = False
        mid[last] = False
        xs[mid], ys[mid] = forward_arrays(projection, data.shape[:, 0], data.shape[:, 1])
    owner = np.repeat(np.arange(len(per_edge)), per_edge)
    lines = shapely.linestrings(xs, ys, indices=owner)
    assert isinstance(lines, np.ndarray)
    return lines

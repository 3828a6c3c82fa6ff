"""`LocalProjection` and `centroid` over numpy arrays: the same formulas as `geo.geometry`, for
projecting the hundreds of thousands of points of a city's road graph in one pass.

Pure: no I/O.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from driver_agent.geo.geometry import EARTH_RADIUS_M, LocalProjection, clamp_lat, normalize_lng

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

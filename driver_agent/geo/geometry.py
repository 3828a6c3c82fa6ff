"""Geometry on the sphere and in local metres: the one place where (lat, lng) meets (x, y).

`LocalProjection` is a spherical azimuthal equidistant projection around a reference point:
distances and bearings from the reference are exact, and any great circle through it is a
straight line with true lengths. Around a city that is accurate to well under 0.1 %; for a
straight-line track between far-apart points, centre the projection on the track's midpoint
and the track stays a true great-circle path. It works across the antimeridian and at the
poles; only the reference's antipode has no image (it is nudged, never a crash).

Pure: no I/O, no clock, no logging.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

EARTH_RADIUS_M = 6_371_008.8
_EPS = 1e-12


def normalize_lng(lng: float) -> float:
    """Longitude folded into [-180, 180)."""
    return (lng + 180.0) % 360.0 - 180.0


def clamp_lat(lat: float) -> float:
    return max(-90.0, min(90.0, lat))


def check_lat_lng(lat: float, lng: float) -> None:
    """Raise ValueError unless lat is in [-90, 90] and lng in [-180, 180] (both finite)."""
    if not (math.isfinite(lat) and -90.0 <= lat <= 90.0):
        raise ValueError(f"lat {lat!r} is outside [-90, 90]")
    if not (math.isfinite(lng) and -180.0 <= lng <= 180.0):
        raise ValueError(f"lng {lng!r} is outside [-180, 180]")


def _central_angle(lat1: float, lng1: float, lat2: float, lng2: float) -> float:
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp = p2 - p1
    dl = math.radians(lng2 - lng1)
    h = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2.0 * math.asin(math.sqrt(min(1.0, max(0.0, h))))


def haversine_m(lat1: float, lng1: float, lat2: float, lng2: float) -> float:
    """Great-circle distance in metres."""
    return EARTH_RADIUS_M * _central_angle(lat1, lng1, lat2, lng2)


def bearing_deg(lat1: float, lng1: float, lat2: float, lng2: float) -> float:
    """Initial compass bearing from point 1 to point 2, degrees in [0, 360)."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dl = math.radians(lng2 - lng1)
    y = math.sin(dl) * math.cos(p2)
    x = math.cos(p1) * math.sin(p2) - math.sin(p1) * math.cos(p2) * math.cos(dl)
    return math.degrees(math.atan2(y, x)) % 360.0


def destination(lat: float, lng: float, bearing: float, distance_m: float) -> tuple[float, float]:
    """The point `distance_m` away from (lat, lng) along the initial compass `bearing` (degrees).

    Computed with unit vectors (no asin), so it stays precise next to the poles.
    """
    p, lm = math.radians(lat), math.radians(lng)
    th = math.radians(bearing)
    d = distance_m / EARTH_RADIUS_M
    sp, cp, sl, cl = math.sin(p), math.cos(p), math.sin(lm), math.cos(lm)
    n = (cp * cl, cp * sl, sp)  # the start point
    east = (-sl, cl, 0.0)
    north = (-sp * cl, -sp * sl, cp)
    cd, sd, ct, st = math.cos(d), math.sin(d), math.cos(th), math.sin(th)
    x, y, z = (n[i] * cd + (north[i] * ct + east[i] * st) * sd for i in range(3))
    return _from_vector(x, y, z)


def _to_vector(lat: float, lng: float) -> tuple[float, float, float]:
    p, lm = math.radians(lat), math.radians(lng)
    return (math.cos(p) * math.cos(lm), math.cos(p) * math.sin(lm), math.sin(p))


def _from_vector(x: float, y: float, z: float) -> tuple[float, float]:
    return math.degrees(math.atan2(z, math.hypot(x, y))), normalize_lng(
        math.degrees(math.atan2(y, x))
    )


def interpolate(
    lat1: float, lng1: float, lat2: float, lng2: float, fraction: float
) -> tuple[float, float]:
    """The point `fraction` (0..1) of the way along the great circle from point 1 to point 2."""
    d = _central_angle(lat1, lng1, lat2, lng2)
    if d < _EPS:
        return lat1, lng1
    a = _to_vector(lat1, lng1)
    b = _to_vector(lat2, lng2)
    if abs(math.pi - d) < 1e-9:  # antipodes: any great circle will do; go via the pole side
        return destination(lat1, lng1, 0.0, fraction * d * EARTH_RADIUS_M)
    s = math.sin(d)
    ka = math.sin((1.0 - fraction) * d) / s
    kb = math.sin(fraction * d) / s
    return _from_vector(*(ka * ai + kb * bi for ai, bi in zip(a, b, strict=True)))


def centroid(points: Iterable[tuple[float, float]]) -> tuple[float, float]:
    """Spherical centre of (lat, lng) points (the normalised mean of unit vectors).

    Works across the antimeridian; if the points cancel out (e.g. two antipodes) the first
    point is returned. Raises ValueError on no points.
    """
    sx = sy = sz = 0.0
    first: tuple[float, float] | None = None
    for lat, lng in points:
        if first is None:
            first = (lat, lng)
        x, y, z = _to_vector(lat, lng)
        sx, sy, sz = sx + x, sy + y, sz + z
    if first is None:
        raise ValueError("centroid of no points")
    if math.sqrt(sx * sx + sy * sy + sz * sz) < 1e-9:
        return first
    return _from_vector(sx, sy, sz)


@dataclass(frozen=True, slots=True)
class LocalProjection:
    """Azimuthal equidistant projection around (ref_lat, ref_lng): x east, y north, metres."""

    ref_lat: float
    ref_lng: float

    def __post_init__(self) -> None:
        check_lat_lng(self.ref_lat, self.ref_lng)

    def forward(self, lat: float, lng: float) -> tuple[float, float]:
        """(lat, lng) degrees -> (x, y) metres."""
        p0 = math.radians(self.ref_lat)
        p = math.radians(lat)
        dl = math.radians(lng - self.ref_lng)
        c = _central_angle(self.ref_lat, self.ref_lng, lat, lng)
        if c < _EPS:
            return 0.0, 0.0
        if c > math.pi - 1e-9:  # the antipode maps to a circle: pick its southern point
            c = math.pi - 1e-9
        az = math.atan2(
            math.sin(dl) * math.cos(p),
            math.cos(p0) * math.sin(p) - math.sin(p0) * math.cos(p) * math.cos(dl),
        )
        r = c * EARTH_RADIUS_M
        return r * math.sin(az), r * math.cos(az)

    def inverse(self, x: float, y: float) -> tuple[float, float]:
        """(x, y) metres -> (lat, lng) degrees."""
        rho = math.hypot(x, y)
        if rho < 1e-9:
            return self.ref_lat, self.ref_lng
        return destination(self.ref_lat, self.ref_lng, math.degrees(math.atan2(x, y)), rho)

    def forward_many(self, points: Iterable[tuple[float, float]]) -> list[tuple[float, float]]:
        return [self.forward(lat, lng) for lat, lng in points]

    def inverse_many(self, points: Iterable[tuple[float, float]]) -> list[tuple[float, float]]:
        return [self.inverse(x, y) for x, y in points]

    @classmethod
    def around(cls, points: Iterable[tuple[float, float]]) -> LocalProjection:
        """A projection centred on the spherical centre of the points."""
        lat, lng = centroid(points)
        return cls(clamp_lat(lat), normalize_lng(lng))

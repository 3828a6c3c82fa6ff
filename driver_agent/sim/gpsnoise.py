"""A phone's GPS error: seeded, time-correlated, a few metres in a city, with an accuracy value.

Each axis (east, north) is a first-order Gauss-Markov process (AR(1) sampled at arbitrary time
steps): the error at t+dt keeps exp(-dt/tau) of the error at t and adds fresh Gaussian noise so
the stationary standard deviation stays sigma. The sigma itself wanders slowly (a log-normal
factor, also Gauss-Markov) the way reception does between open streets and urban canyons, and
the reported `accuracy_m` follows it: about the radius that holds 68 % of the fixes.

One `GpsNoise` per driver; it advances with the simulated time it is given. Pure.
"""

from __future__ import annotations

import math

from driver_agent.geo.geometry import EARTH_RADIUS_M
from driver_agent.sim.draws import Rng

RADIUS_68_PER_SIGMA = 1.515  # 68 % radius of a circular 2-D Gaussian, in per-axis sigmas


class GpsNoise:
    """Seeded correlated GPS error; `apply(lat, lng, t_s)` -> (lat, lng, accuracy_m)."""

    __slots__ = (
        "_east",
        "_north",
        "_rng",
        "_t_s",
        "_wander",
        "max_accuracy_m",
        "min_accuracy_m",
        "sigma_m",
        "sigma_wander",
        "tau_s",
        "wander_tau_s",
    )

    def __init__(
        self,
        rng: Rng,
        *,
        sigma_m: float = 4.0,
        tau_s: float = 20.0,
        sigma_wander: float = 0.3,
        wander_tau_s: float = 120.0,
        min_accuracy_m: float = 3.0,
        max_accuracy_m: float = 65.0,
    ) -> None:
        if sigma_m < 0 or tau_s <= 0 or wander_tau_s <= 0:
            raise ValueError("sigma_m must be >= 0 and the correlation times > 0")
        self._rng = rng
        self.sigma_m = sigma_m
        self.tau_s = tau_s
        self.sigma_wander = sigma_wander
        self.wander_tau_s = wander_tau_s
        self.min_accuracy_m = min_accuracy_m
        self.max_accuracy_m = max_accuracy_m
        self._t_s: float | None = None
        # unit-variance states; drawn from the stationary distribution on first use
        self._east = rng.gauss(0.0, 1.0)
        self._north = rng.gauss(0.0, 1.0)
        self._wander = rng.gauss(0.0, 1.0)

    def advance(self, t_s: float) -> None:
        """Move the error process to time t_s (earlier times leave it unchanged). East and
        north share their decay; the draws come in the order east, north, wander."""
        last = self._t_s
        if last is not None and t_s > last:
            dt = t_s - last
            gauss = self._rng.gauss
            keep = math.exp(-dt / self.tau_s)
            fresh = math.sqrt(max(0.0, 1.0 - keep * keep))
            self._east = self._east * keep + fresh * gauss(0.0, 1.0)
            self._north = self._north * keep + fresh * gauss(0.0, 1.0)
            keep = math.exp(-dt / self.wander_tau_s)
            fresh = math.sqrt(max(0.0, 1.0 - keep * keep))
            self._wander = self._wander * keep + fresh * gauss(0.0, 1.0)
        if last is None or t_s > last:
            self._t_s = t_s

    @property
    def current_sigma_m(self) -> float:
        return self.sigma_m * math.exp(self.sigma_wander * self._wander)

    def offset_m(self, t_s: float) -> tuple[float, float]:
        """(east, north) error in metres at t_s."""
        self.advance(t_s)
        sigma = self.current_sigma_m
        return self._east * sigma, self._north * sigma

    def apply(self, lat: float, lng: float, t_s: float) -> tuple[float, float, float]:
        """The noisy fix for a true position at t_s: (lat, lng, accuracy_m)."""
        self.advance(t_s)
        sigma = self.current_sigma_m
        accuracy = RADIUS_68_PER_SIGMA * sigma
        accuracy = max(self.min_accuracy_m, min(self.max_accuracy_m, accuracy))
        noisy_lat, noisy_lng = _moved(lat, lng, self._east * sigma, self._north * sigma)
        return noisy_lat, noisy_lng, round(accuracy, 1)

    def fix(self, lat: float, lng: float, t_s: float) -> tuple[float, float]:
        """`apply` without the accuracy: the (lat, lng) a location update reports."""
        self.advance(t_s)
        sigma = self.current_sigma_m
        return _moved(lat, lng, self._east * sigma, self._north * sigma)


def _moved(lat: float, lng: float, east: float, north: float) -> tuple[float, float]:
    """(lat, lng) moved `east` and `north` metres (small offsets), clamped and wrapped."""
    noisy_lat = lat + math.degrees(north / EARTH_RADIUS_M)
    cos_lat = max(math.cos(math.radians(lat)), 1e-6)
    noisy_lng = lng + math.degrees(east / (EARTH_RADIUS_M * cos_lat))
    noisy_lat = max(-90.0, min(90.0, noisy_lat))
    noisy_lng = (noisy_lng + 180.0) % 360.0 - 180.0
    return noisy_lat, noisy_lng

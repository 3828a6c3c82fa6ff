"""Tests for driver_agent.sim.gpsnoise: seeded, time-correlated GPS error of a few metres."""

from __future__ import annotations

import math
import random
import statistics

import pytest

from driver_agent.geo.geometry import haversine_m
from driver_agent.sim.gpsnoise import GpsNoise


def _series(seed: int, seconds: int, sigma_m: float = 4.0) -> list[tuple[float, float]]:
    noise = GpsNoise(random.Random(seed), sigma_m=sigma_m)
    return [noise.offset_m(float(t)) for t in range(seconds)]


def _autocorrelation(xs: list[float], lag: int) -> float:
    mean = statistics.fmean(xs)
    var = statistics.fmean((x - mean) ** 2 for x in xs)
    cov = statistics.fmean((xs[i] - mean) * (xs[i + lag] - mean) for i in range(len(xs) - lag))
    return cov / var


def test_the_same_seed_gives_the_same_noise_and_another_seed_does_not() -> None:
    assert _series(1, 50) == _series(1, 50)
    assert _series(1, 50) != _series(2, 50)


def test_noise_is_a_few_metres_and_centred() -> None:
    sigma_m = 4.0
    east = [e for e, _ in _series(3, 40_000, sigma_m)]
    rms = math.sqrt(statistics.fmean(e * e for e in east))
    assert 0.7 * sigma_m < rms < 1.5 * sigma_m
    assert abs(statistics.fmean(east)) < 0.5 * sigma_m


def test_noise_is_correlated_over_seconds_and_not_over_minutes() -> None:
    north = [n for _, n in _series(4, 40_000)]
    assert _autocorrelation(north, 1) > 0.9
    assert abs(_autocorrelation(north, 300)) < 0.2


def test_apply_moves_the_fix_by_the_offset_and_reports_an_accuracy() -> None:
    noise = GpsNoise(random.Random(5), sigma_m=4.0)
    accuracies = []
    for t in range(0, 3_000, 5):
        lat, lng, accuracy = noise.apply(60.17, 24.94, float(t))
        east, north = noise.offset_m(float(t))  # same time: same state
        assert haversine_m(60.17, 24.94, lat, lng) == pytest.approx(
            math.hypot(east, north), rel=1e-3, abs=1e-3
        )
        assert noise.min_accuracy_m <= accuracy <= noise.max_accuracy_m
        accuracies.append(accuracy)
    assert 3.0 <= statistics.median(accuracies) <= 10.0


def test_time_going_backwards_leaves_the_noise_unchanged() -> None:
    noise = GpsNoise(random.Random(6))
    at_10 = noise.offset_m(10.0)
    assert noise.offset_m(5.0) == at_10
    assert noise.offset_m(10.0) == at_10


def test_noise_near_the_antimeridian_and_poles_stays_in_range() -> None:
    noise = GpsNoise(random.Random(7), sigma_m=30.0)
    for t in range(20):
        lat, lng, _ = noise.apply(89.99999, 179.99999, float(t))
        assert -90.0 <= lat <= 90.0
        assert -180.0 <= lng < 180.0


def test_bad_parameters_are_refused() -> None:
    with pytest.raises(ValueError, match="sigma_m"):
        GpsNoise(random.Random(0), sigma_m=-1.0)


def test_fix_is_apply_without_the_accuracy() -> None:
    with_accuracy, without = GpsNoise(random.Random(8)), GpsNoise(random.Random(8))
    for t in range(0, 600, 7):
        lat, lng, _ = with_accuracy.apply(60.17, 24.94, float(t))
        assert without.fix(60.17, 24.94, float(t)) == (lat, lng)

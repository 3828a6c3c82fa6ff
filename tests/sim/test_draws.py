"""`Draws`: SplitMix64 keyed by a string, deterministic, small, and distributed as advertised."""

from __future__ import annotations

import math
import random
import sys

from driver_agent.sim.draws import Draws


def test_the_same_key_gives_the_same_draws_and_another_key_others() -> None:
    a, b, c = Draws("1:drv-000001"), Draws("1:drv-000001"), Draws("1:drv-000002")
    first = [a.random() for _ in range(50)]
    assert first == [b.random() for _ in range(50)]
    assert first != [c.random() for _ in range(50)]
    assert len(set(first)) == 50


def test_the_first_draws_of_a_key_are_fixed_across_processes() -> None:
    # BLAKE2b of the key, not hash(): the same numbers on every machine and in every run
    draws = Draws("seed")
    assert [round(draws.random(), 12) for _ in range(3)] == [
        0.925589212718,
        0.108872865798,
        0.276502024275,
    ]


def test_uniform_draws_cover_the_unit_interval_evenly() -> None:
    draws = Draws("uniform")
    values = [draws.random() for _ in range(20_000)]
    assert all(0.0 <= v < 1.0 for v in values)
    deciles = [0] * 10
    for v in values:
        deciles[int(v * 10)] += 1
    assert all(1_800 < n < 2_200 for n in deciles), deciles
    assert all(3.0 <= draws.uniform(3.0, 5.0) < 5.0 for _ in range(1_000))


def test_gauss_has_the_asked_mean_and_spread() -> None:
    draws = Draws("gauss")
    values = [draws.gauss(10.0, 2.0) for _ in range(20_000)]
    mean = sum(values) / len(values)
    sd = math.sqrt(sum((v - mean) ** 2 for v in values) / len(values))
    assert abs(mean - 10.0) < 0.05
    assert abs(sd - 2.0) < 0.05
    within_one_sd = sum(1 for v in values if abs(v - 10.0) < 2.0) / len(values)
    assert abs(within_one_sd - 0.6827) < 0.01


def test_triangular_stays_in_range_and_peaks_at_the_mode() -> None:
    draws, stdlib = Draws("triangular"), random.Random(3)
    values = [draws.triangular(0.0, 180.0, 20.0) for _ in range(20_000)]
    assert all(0.0 <= v <= 180.0 for v in values)
    expected = [stdlib.triangular(0.0, 180.0, 20.0) for _ in range(20_000)]
    assert abs(sum(values) / 20_000 - sum(expected) / 20_000) < 2.0  # mean (0 + 180 + 20) / 3
    assert draws.triangular(5.0, 5.0, 5.0) == 5.0


def test_a_draw_stream_is_a_small_fraction_of_a_mersenne_twister() -> None:
    draws = Draws("size")
    draws.gauss()  # holds its spare normal
    size = sys.getsizeof(draws) + sys.getsizeof(draws._state) + sys.getsizeof(draws._spare)
    assert size < 200 < sys.getsizeof(random.Random(1).getstate()[1])

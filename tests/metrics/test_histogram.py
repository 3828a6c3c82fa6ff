"""The log-linear histogram: precision against exact percentiles, merge, bounded memory."""

from __future__ import annotations

import json
import math
import random

import msgspec
import pytest

from driver_agent.core.errors import ConfigError
from driver_agent.metrics.histogram import Histogram, HistogramSummary


def exact_percentile(sorted_values: list[float], p: float) -> float:
    rank = max(1, math.ceil(p * len(sorted_values) / 100.0))
    return sorted_values[rank - 1]


def lognormal_sample(seed: int, n: int) -> list[float]:
    rng = random.Random(seed)
    return [rng.lognormvariate(math.log(80.0), 1.0) for _ in range(n)]


@pytest.mark.parametrize("p", [1.0, 10.0, 50.0, 90.0, 95.0, 99.0, 99.9])
def test_percentiles_are_within_one_percent_of_the_exact_ones(p: float) -> None:
    values = lognormal_sample(seed=7, n=50_000)
    histogram = Histogram()
    for value in values:
        histogram.record(value)
    exact = exact_percentile(sorted(values), p)
    assert histogram.percentile(p) == pytest.approx(exact, rel=0.0101)


def test_min_max_and_extreme_percentiles_are_exact() -> None:
    histogram = Histogram()
    for value in [3.3, 250.0, 17.25, 0.0, 41.0]:
        histogram.record(value)
    assert (histogram.min, histogram.max, histogram.count) == (0.0, 250.0, 5)
    assert histogram.percentile(0) == 0.0
    assert histogram.percentile(100) == 250.0
    assert histogram.mean == pytest.approx(311.55 / 5)


def test_values_outside_the_range_are_reported_as_the_range_edges_or_exact_extremes() -> None:
    histogram = Histogram(lowest=1.0, highest=1000.0)
    for value in [0.001, 0.5, 5_000.0, 5_000_000.0]:
        histogram.record(value)
    assert histogram.percentiles([25, 50, 75, 99]) == [1.0, 1.0, 5_000_000.0, 5_000_000.0]
    assert histogram.percentile(0) == 0.001


def test_memory_stays_bounded_however_many_values_are_recorded() -> None:
    rng = random.Random(3)
    histogram = Histogram()
    for _ in range(200_000):
        histogram.record(10 ** rng.uniform(-3, 7))
    assert histogram.count == 200_000
    assert histogram.buckets_used <= histogram.bucket_limit <= 800


def test_merge_equals_recording_everything_in_one() -> None:
    values = lognormal_sample(seed=11, n=20_000)
    one, left, right = Histogram(), Histogram(), Histogram()
    for i, value in enumerate(values):
        one.record(value)
        (left if i % 3 else right).record(value)
    left.merge(right)
    merged, whole = left.summary(), one.summary()
    assert merged.mean == pytest.approx(whole.mean)
    assert msgspec.structs.replace(merged, mean=0.0) == msgspec.structs.replace(whole, mean=0.0)
    assert left.count == 20_000


def test_merge_refuses_a_different_bucket_layout() -> None:
    with pytest.raises(ValueError, match="bucket layouts"):
        Histogram(precision=0.01).merge(Histogram(precision=0.05))


def test_an_empty_histogram_summarises_to_zeros() -> None:
    assert Histogram().summary() == HistogramSummary(0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0)
    assert Histogram().percentile(50) == 0.0


@pytest.mark.parametrize(
    ("value", "message"),
    [(-1.0, "values must be >= 0"), (math.nan, "values must be >= 0")],
    ids=["negative", "nan"],
)
def test_a_bad_value_is_refused(value: float, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Histogram().record(value)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"lowest": 0.0}, "lowest < highest"),
        ({"lowest": 10.0, "highest": 1.0}, "lowest < highest"),
        ({"precision": 1.5}, "precision"),
    ],
    ids=["zero-lowest", "inverted-range", "precision-too-big"],
)
def test_a_bad_layout_is_refused(kwargs: dict[str, float], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Histogram(**kwargs)


def test_a_bad_percentile_is_refused() -> None:
    with pytest.raises(ValueError, match="percentile"):
        Histogram().percentile(101)


def test_a_summary_round_trips_through_json() -> None:
    histogram = Histogram()
    for value in lognormal_sample(seed=5, n=1000):
        histogram.record(value)
    summary = histogram.summary()
    assert HistogramSummary.from_dict(json.loads(json.dumps(summary.to_dict()))) == summary


def test_a_summary_with_a_missing_field_names_it() -> None:
    data = Histogram().summary().to_dict()
    del data["p95"]
    with pytest.raises(ConfigError, match=r"^latency_ms\.p95: missing"):
        HistogramSummary.from_dict(data, "latency_ms")


def test_a_summary_with_a_mistyped_field_names_it_and_its_value() -> None:
    data = Histogram().summary().to_dict()
    data["count"] = True
    with pytest.raises(ConfigError, match=r"^latency_ms\.count: expected an integer, got True"):
        HistogramSummary.from_dict(data, "latency_ms")


def test_a_summary_goes_to_json_in_field_order() -> None:
    summary = HistogramSummary(3, 1.0, 2.0, 2.0, 3.0, 3.0, 3.0, 3.0)
    assert list(summary.to_dict().items()) == [
        ("count", 3), ("min", 1.0), ("mean", 2.0), ("p50", 2.0), ("p90", 3.0), ("p95", 3.0),
        ("p99", 3.0), ("max", 3.0),
    ]  # fmt: skip

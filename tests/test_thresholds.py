"""Tests for driver_agent.thresholds: parsing, evaluation and metrics from a stats snapshot."""

from __future__ import annotations

from typing import Any

import pytest

from driver_agent.errors import ConfigError
from driver_agent.thresholds import (
    Op,
    Threshold,
    all_passed,
    evaluate,
    metrics_from_stats,
    parse_threshold,
    parse_thresholds,
)


@pytest.mark.parametrize(
    ("text", "metric", "op", "limit"),
    [
        ("p95_ms < 800", "p95_ms", Op.LT, 800.0),
        ("error_rate < 0.01", "error_rate", Op.LT, 0.01),
        ("max_ping_gap_s <= 30", "max_ping_gap_s", Op.LE, 30.0),
        ("orders_completed_ratio >= 0.99", "orders_completed_ratio", Op.GE, 0.99),
        ("p99_ms<=2000", "p99_ms", Op.LE, 2000.0),
        ("  gaps_over_30s == 0 ", "gaps_over_30s", Op.EQ, 0.0),
        ("requests > 1e3", "requests", Op.GT, 1000.0),
        ("update_driver_location.p95_ms < 500", "update_driver_location.p95_ms", Op.LT, 500.0),
        ("checkin.error_rate != 1", "checkin.error_rate", Op.NE, 1.0),
    ],
    ids=lambda v: str(v),
)
def test_valid_thresholds_parse_into_metric_op_and_limit(
    text: str, metric: str, op: Op, limit: float
) -> None:
    threshold = parse_threshold(text)
    assert (threshold.metric, threshold.op, threshold.limit) == (metric, op, limit)
    assert threshold.expr == " ".join(text.split())


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("p95 < 800", "unknown metric 'p95'"),
        ("p95_ms < 800ms", "limit '800ms'"),
        ("p95_ms =< 800", "cannot read"),
        ("p95_ms", "cannot read"),
        ("", "cannot read"),
        ("p95_ms < nan", "finite"),
        ("p95_ms < inf", "finite"),
        ("checkin.max_ping_gap_s < 3", "unknown per-endpoint metric 'max_ping_gap_s'"),
        ("a.b.p95_ms < 3", "cannot read"),
        ("p95_ms < 800 < 900", "limit '800 < 900'"),
    ],
)
def test_bad_threshold_raises_config_error_naming_the_bad_part(text: str, fragment: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_threshold(text, "thresholds[3]")
    assert caught.value.where == "thresholds[3]"
    assert fragment in caught.value.message


def test_parse_thresholds_names_the_index_of_the_bad_entry() -> None:
    with pytest.raises(ConfigError) as caught:
        parse_thresholds(["p95_ms < 800", "error_rate < 0.01", "latency < 3"])
    assert caught.value.where == "thresholds[2]"
    assert "'latency'" in str(caught.value)


def test_a_non_string_threshold_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match=r"thresholds\[0\]"):
        parse_thresholds([800])  # type: ignore[list-item]


@pytest.mark.parametrize(
    ("text", "actual", "passed"),
    [
        ("p95_ms < 800", 799.9, True),
        ("p95_ms < 800", 800.0, False),
        ("max_ping_gap_s <= 30", 30.0, True),
        ("max_ping_gap_s <= 30", 30.5, False),
        ("orders_completed_ratio >= 0.99", 0.99, True),
        ("orders_completed_ratio >= 0.99", 0.98, False),
        ("gaps_over_30s == 0", 0.0, True),
        ("error_rate > 0", 0.0, False),
        ("error_rate != 0", 0.5, True),
        ("p95_ms < 800", None, False),
    ],
)
def test_evaluate_compares_the_actual_value_with_the_limit(
    text: str, actual: float | None, passed: bool
) -> None:
    threshold = parse_threshold(text)
    [result] = evaluate([threshold], {threshold.metric: actual})
    assert result.passed is passed
    assert result.actual == actual
    assert (result.expr, result.metric, result.limit) == (text, threshold.metric, threshold.limit)


def test_a_metric_missing_from_the_mapping_fails_with_no_actual_value() -> None:
    [result] = evaluate([Threshold("p95_ms < 1", "p95_ms", Op.LT, 1.0)], {})
    assert result.actual is None
    assert not result.passed
    assert result.to_dict() == {
        "expr": "p95_ms < 1",
        "metric": "p95_ms",
        "op": "<",
        "limit": 1.0,
        "actual": None,
        "passed": False,
    }


def test_all_passed_is_false_when_any_threshold_fails() -> None:
    results = evaluate(
        parse_thresholds(["error_rate < 0.01", "p95_ms < 800"]),
        {"error_rate": 0.0, "p95_ms": 900.0},
    )
    assert [r.passed for r in results] == [True, False]
    assert not all_passed(results)
    assert all_passed(results[:1])


def _snapshot() -> dict[str, Any]:
    return {
        "endpoints": {
            "update_driver_location": {
                "count": 900,
                "errors": {"ApiUnavailable": 8, "AuthError": 1},
                "latency_ms": {"p50": 10.0, "p90": 30.0, "p95": 40.0, "p99": 90.0, "max": 200.0},
            },
            "checkin": {
                "count": 100,
                "errors": {},
                "latency_ms": {"p50": 50.0, "p90": 60.0, "p95": 70.0, "p99": 80.0, "max": 95.0},
            },
            "checkout": {"count": 0, "errors": {}, "latency_ms": {}},
        },
        "drivers": {
            "d-1": {"orders": 3, "distance_m": 5000.0, "max_ping_gap_s": 12.0, "gaps_over_30s": 0},
            "d-2": {"orders": 2, "distance_m": 4000.0, "max_ping_gap_s": 41.5, "gaps_over_30s": 2},
        },
        "orders": {"total": 10, "done": 9, "cancelled": 1, "failed": 0},
    }


def test_metrics_from_stats_sums_errors_and_takes_the_worst_endpoint_percentile() -> None:
    metrics = metrics_from_stats(_snapshot())
    assert metrics["requests"] == 1000.0
    assert metrics["error_rate"] == pytest.approx(9 / 1000)
    assert metrics["p95_ms"] == 70.0
    assert metrics["max_ms"] == 200.0
    assert metrics["max_ping_gap_s"] == 41.5
    assert metrics["gaps_over_30s"] == 2.0
    assert metrics["orders_completed_ratio"] == pytest.approx(0.9)
    assert metrics["update_driver_location.error_rate"] == pytest.approx(0.01)
    assert metrics["checkin.p99_ms"] == 80.0
    assert metrics["checkout.p95_ms"] is None
    assert metrics["checkout.error_rate"] is None


def test_metrics_from_stats_prefer_the_run_wide_latency_when_present() -> None:
    snapshot = _snapshot()
    snapshot["latency_ms"] = {"p50": 12.0, "p90": 33.0, "p95": 45.0, "p99": 88.0, "max": 200.0}
    metrics = metrics_from_stats(snapshot)
    assert metrics["p95_ms"] == 45.0
    assert metrics["p50_ms"] == 12.0


def test_metrics_from_an_empty_run_have_no_data_and_fail_thresholds() -> None:
    metrics = metrics_from_stats({})
    assert metrics["requests"] == 0.0
    results = evaluate(
        parse_thresholds(["p95_ms < 800", "error_rate < 0.01", "orders_completed_ratio >= 0.99"]),
        metrics,
    )
    assert [r.actual for r in results] == [None, None, None]
    assert not any(r.passed for r in results)


def test_thresholds_from_a_snapshot_pass_and_fail_as_the_issue_describes() -> None:
    results = evaluate(
        parse_thresholds(
            [
                "p95_ms < 800",
                "error_rate < 0.01",
                "max_ping_gap_s <= 30",
                "orders_completed_ratio >= 0.99",
                "update_driver_location.p95_ms < 500",
            ]
        ),
        metrics_from_stats(_snapshot()),
    )
    assert [r.passed for r in results] == [True, True, False, False, True]

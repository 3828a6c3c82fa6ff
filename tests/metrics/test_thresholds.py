"""Tests for metrics.thresholds: parsing, evaluation and metrics from a stats snapshot."""

from __future__ import annotations

import msgspec
import pytest

from driver_agent.core.errors import ConfigError
from driver_agent.metrics.histogram import Histogram
from driver_agent.metrics.stats import StatsCollector
from driver_agent.metrics.stats_snapshot import EndpointSnapshot, StatsSnapshot
from driver_agent.metrics.thresholds import (
    Op,
    OrderCounts,
    Threshold,
    all_passed,
    evaluate,
    metrics_from_stats,
    parse_threshold,
    parse_thresholds,
    run_latency_ms,
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


def _snapshot() -> StatsSnapshot:
    """A small run through the real StatsCollector: 1,000 calls, 9 errors, 2 drivers."""
    stats = StatsCollector(bucket_s=10.0)
    for i in range(900):
        error = "ApiUnavailable" if i < 8 else "AuthError" if i == 8 else None
        stats.record_call("update_driver_location", 10.0 + i % 50, error, at_s=i / 10)
    for i in range(100):
        stats.record_call("checkin", 50.0 + i % 30, None, at_s=i)
    t0 = 1_700_000_000_000
    stats.driver_busy("d-1", True, at_ms=t0)
    for k in range(1, 11):
        stats.record_ping("d-1", t0 + k * 12_000, lateness_ms=1.0)
    stats.driver_busy("d-1", False, at_ms=t0 + 120_000)
    stats.driver_busy("d-2", True, at_ms=t0)
    for t_ms in (10_000, 51_500, 93_000, 100_000):
        stats.record_ping("d-2", t0 + t_ms, lateness_ms=2.0)
    stats.driver_busy("d-2", False, at_ms=t0 + 100_000)
    for i in range(10):
        outcome = "completed" if i < 9 else "cancelled"
        stats.record_order(f"d-{1 + i % 2}", outcome, {"end_to_end": 600.0 + i}, 1_000.0)
    stats.record_order("d-1", "reassigned", {}, 0.0)
    return stats.statistics()


def test_metrics_from_stats_sums_errors_and_takes_the_worst_endpoint_percentile() -> None:
    snapshot = _snapshot()
    metrics = metrics_from_stats(snapshot)
    assert metrics["requests"] == 1000.0
    assert metrics["error_rate"] == pytest.approx(9 / 1000)
    assert metrics["p95_ms"] == max(ep.latency_ms.p95 for ep in snapshot.endpoints)
    assert metrics["p95_ms"] == pytest.approx(78.5, rel=0.02)  # checkin's, 50..79 ms
    assert metrics["max_ms"] == pytest.approx(79.0)
    assert metrics["max_ping_gap_s"] == pytest.approx(41.5)
    assert metrics["gaps_over_30s"] == 2.0
    assert metrics["orders_completed_ratio"] == pytest.approx(0.9)  # reassigned not counted
    assert metrics["update_driver_location.error_rate"] == pytest.approx(0.01)
    assert metrics["update_driver_location.p50_ms"] == pytest.approx(34.0, rel=0.02)
    assert metrics["checkin.requests"] == 100.0
    assert "checkout.p95_ms" not in metrics


def test_run_wide_latency_is_the_worst_endpoints_for_each_percentile() -> None:
    snapshot = _snapshot()
    by_name = {ep.endpoint: ep.latency_ms for ep in snapshot.endpoints}
    worst = run_latency_ms(snapshot)
    assert worst["p50"] == max(s.p50 for s in by_name.values())
    assert worst["p50"] == by_name["checkin"].p50  # 50..79 ms against 10..59 ms
    assert worst["max"] == max(s.max for s in by_name.values())
    assert run_latency_ms(StatsCollector().statistics()) == dict.fromkeys(
        ("p50", "p90", "p95", "p99", "max")
    )


def test_orders_total_override_counts_orders_that_never_ended() -> None:
    metrics = metrics_from_stats(_snapshot(), orders_total=18)
    assert metrics["orders_completed_ratio"] == pytest.approx(0.5)


def test_an_endpoint_with_no_calls_has_no_latency_data() -> None:
    snapshot = _snapshot()
    idle = EndpointSnapshot("checkout", 0, {}, Histogram().summary())
    snapshot = msgspec.structs.replace(snapshot, endpoints=(*snapshot.endpoints, idle))
    metrics = metrics_from_stats(snapshot)
    assert metrics["checkout.p95_ms"] is None
    assert metrics["checkout.error_rate"] is None
    [result] = evaluate(parse_thresholds(["checkout.p95_ms < 500"]), metrics)
    assert not result.passed


def test_metrics_from_an_empty_run_have_no_data_and_fail_thresholds() -> None:
    metrics = metrics_from_stats(StatsCollector().statistics())
    assert metrics["requests"] == 0.0
    results = evaluate(
        parse_thresholds(
            [
                "p95_ms < 800",
                "error_rate < 0.01",
                "orders_completed_ratio >= 0.99",
                "gaps_over_30s == 0",
            ]
        ),
        metrics,
    )
    assert [r.actual for r in results] == [None, None, None, None]
    assert not any(r.passed for r in results)


@pytest.mark.parametrize(
    ("outcomes", "expected"),
    [
        ({}, OrderCounts(0, 0, 0, 0)),
        ({"completed": 3, "cancelled": 1, "failed": 1}, OrderCounts(5, 3, 1, 1)),
        ({"completed": 2, "reassigned": 4}, OrderCounts(2, 2, 0, 0)),
    ],
)
def test_order_counts_leave_reassigned_orders_out_of_the_total(
    outcomes: dict[str, int], expected: OrderCounts
) -> None:
    assert OrderCounts.from_outcomes(outcomes) == expected


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

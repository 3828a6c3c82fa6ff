"""k6-style pass/fail thresholds: parse `p95_ms < 800`, evaluate them against run metrics.

A threshold is `[<endpoint>.]<metric> <op> <number>`, e.g. `error_rate < 0.01` or
`update_driver_location.p95_ms < 500`. Run-wide metrics come from `metrics_from_stats`, which
reads the typed stats snapshot; a metric with no data (say, no requests at all) fails its threshold,
so an idle run never passes by accident. Pure: no I/O, no logging.
"""

from __future__ import annotations

import math
import operator
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from driver_agent.core.errors import ConfigError

if TYPE_CHECKING:
    from driver_agent.metrics.histogram import HistogramSummary
    from driver_agent.metrics.stats_snapshot import StatsSnapshot


class Op(StrEnum):
    """Comparison operators, spelled as in the config."""

    LT = "<"
    LE = "<="
    GT = ">"
    GE = ">="
    EQ = "=="
    NE = "!="

    def holds(self, actual: float, limit: float) -> bool:
        return _OP_FUNCS[self](actual, limit)


_OP_FUNCS: dict[Op, Callable[[float, float], bool]] = {
    Op.LT: operator.lt,
    Op.LE: operator.le,
    Op.GT: operator.gt,
    Op.GE: operator.ge,
    Op.EQ: operator.eq,
    Op.NE: operator.ne,
}

# Metrics over the whole run, with what they mean (shown in errors and in the report).
RUN_METRICS: dict[str, str] = {
    "p50_ms": "median request latency over all endpoints, ms",
    "p90_ms": "90th percentile request latency over all endpoints, ms",
    "p95_ms": "95th percentile request latency over all endpoints, ms",
    "p99_ms": "99th percentile request latency over all endpoints, ms",
    "max_ms": "slowest request, ms",
    "error_rate": "failed requests / all requests",
    "requests": "number of requests",
    "max_ping_gap_s": "longest gap between two location pings of one driver, simulated s",
    "gaps_over_30s": "number of ping gaps longer than 30 s",
    "orders_completed_ratio": "orders completed / orders total",
}
# Metrics that can be prefixed with an endpoint name.
ENDPOINT_METRICS: dict[str, str] = {
    "p50_ms": "median latency of this endpoint, ms",
    "p90_ms": "90th percentile latency of this endpoint, ms",
    "p95_ms": "95th percentile latency of this endpoint, ms",
    "p99_ms": "99th percentile latency of this endpoint, ms",
    "max_ms": "slowest request to this endpoint, ms",
    "error_rate": "failed / all requests to this endpoint",
    "requests": "number of requests to this endpoint",
}

_PERCENTILES = ("p50", "p90", "p95", "p99", "max")
_SYNTAX = re.compile(
    r"""^\s*(?P<metric>[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)?)
        \s*(?P<op><=|>=|==|!=|<|>)
        \s*(?P<limit>\S.*?)\s*$""",
    re.VERBOSE,
)


@dataclass(frozen=True, slots=True)
class Threshold:
    """One parsed threshold: `metric op limit`; `metric` may be `endpoint.metric`."""

    expr: str
    metric: str
    op: Op
    limit: float


@dataclass(frozen=True, slots=True)
class ThresholdResult:
    """A threshold checked against the run; `actual` is None when the metric had no data."""

    expr: str
    metric: str
    op: Op
    limit: float
    actual: float | None
    passed: bool

    def to_dict(self) -> dict[str, Any]:
        return {
            "expr": self.expr,
            "metric": self.metric,
            "op": str(self.op),
            "limit": self.limit,
            "actual": self.actual,
            "passed": self.passed,
        }


def parse_threshold(text: str, where: str = "thresholds[0]") -> Threshold:
    """Parse one threshold; errors are ConfigError(where, message naming the bad part)."""
    if not isinstance(text, str):
        raise ConfigError(where, f"expected a string like 'p95_ms < 800', got {text!r}")
    match = _SYNTAX.match(text)
    if match is None:
        raise ConfigError(
            where,
            f"cannot read {text!r}: expected '<metric> <op> <number>' with op one of "
            f"{', '.join(op.value for op in Op)}, e.g. 'p95_ms < 800'",
        )
    metric = match["metric"]
    _check_metric(metric, where)
    raw_limit = match["limit"]
    try:
        limit = float(raw_limit)
    except ValueError:
        raise ConfigError(
            where, f"limit {raw_limit!r} in {text!r} is not a number (units go in the metric name)"
        ) from None
    if not math.isfinite(limit):
        raise ConfigError(where, f"limit {raw_limit!r} in {text!r} must be a finite number")
    return Threshold(expr=" ".join(text.split()), metric=metric, op=Op(match["op"]), limit=limit)


def parse_thresholds(texts: Iterable[str], key: str = "thresholds") -> list[Threshold]:
    """Parse a config list; the error names the index, e.g. `thresholds[2]`."""
    return [parse_threshold(text, f"{key}[{i}]") for i, text in enumerate(texts)]


def _check_metric(metric: str, where: str) -> None:
    endpoint, dot, name = metric.rpartition(".")
    if not dot:
        if metric not in RUN_METRICS:
            raise ConfigError(
                where, f"unknown metric {metric!r}; known: {', '.join(sorted(RUN_METRICS))}"
            )
        return
    if name not in ENDPOINT_METRICS:
        raise ConfigError(
            where,
            f"unknown per-endpoint metric {name!r} (after {endpoint!r}.); "
            f"known: {', '.join(sorted(ENDPOINT_METRICS))}",
        )


def evaluate(
    thresholds: Sequence[Threshold], metrics: Mapping[str, float | None]
) -> list[ThresholdResult]:
    """Check each threshold; a metric that is missing or None fails with `actual=None`."""
    results = []
    for threshold in thresholds:
        actual = metrics.get(threshold.metric)
        passed = actual is not None and threshold.op.holds(actual, threshold.limit)
        results.append(
            ThresholdResult(
                expr=threshold.expr,
                metric=threshold.metric,
                op=threshold.op,
                limit=threshold.limit,
                actual=actual,
                passed=passed,
            )
        )
    return results


def all_passed(results: Iterable[ThresholdResult]) -> bool:
    return all(result.passed for result in results)


@dataclass(frozen=True, slots=True)
class OrderCounts:
    """Orders by how they ended, from the snapshot's `Totals.orders` ({outcome: n}).

    `total` leaves out `reassigned` (the order ends again, under another driver)."""

    total: int
    completed: int
    cancelled: int
    failed: int

    @classmethod
    def from_outcomes(cls, outcomes: Mapping[str, int]) -> OrderCounts:
        return cls(
            total=sum(n for outcome, n in outcomes.items() if outcome != "reassigned"),
            completed=outcomes.get("completed", 0),
            cancelled=outcomes.get("cancelled", 0),
            failed=outcomes.get("failed", 0),
        )


def metrics_from_stats(
    stats: StatsSnapshot, orders_total: int | None = None
) -> dict[str, float | None]:
    """Derive threshold metrics from a stats snapshot.

    Run-wide latency percentiles are the worst endpoint's (`run_latency_ms`: a threshold never
    passes by averaging). `orders_total` overrides the count of orders that ended, for runs where
    some never did. Metrics without data are None.
    """
    metrics: dict[str, float | None] = {}
    for ep in stats.endpoints:
        metrics[f"{ep.endpoint}.requests"] = float(ep.count)
        metrics[f"{ep.endpoint}.error_rate"] = ep.error_rate
        for p, value in latency_percentiles(ep.latency_ms).items():
            metrics[f"{ep.endpoint}.{p}_ms"] = value if ep.count else None
    for p, worst in run_latency_ms(stats).items():
        metrics[f"{p}_ms"] = worst
    requests = sum(ep.count for ep in stats.endpoints)
    errors = sum(ep.error_count for ep in stats.endpoints)
    metrics["requests"] = float(requests)
    metrics["error_rate"] = errors / requests if requests else None

    totals = stats.totals
    has_drivers = bool(stats.drivers)
    metrics["max_ping_gap_s"] = totals.max_gap_s if has_drivers else None
    metrics["gaps_over_30s"] = float(totals.gaps_over_limit) if has_drivers else None

    orders = OrderCounts.from_outcomes(totals.orders)
    total = orders.total if orders_total is None else orders_total
    metrics["orders_completed_ratio"] = orders.completed / total if total else None
    return metrics


def run_latency_ms(stats: StatsSnapshot) -> dict[str, float | None]:
    """p50, p90, p95, p99 and max over all endpoints: the worst endpoint's (an upper bound: the
    snapshot has no run-wide histogram); None without calls."""
    worst: dict[str, float | None] = dict.fromkeys(_PERCENTILES)
    for ep in stats.endpoints:
        if not ep.count:
            continue
        for p, value in latency_percentiles(ep.latency_ms).items():
            current = worst[p]
            worst[p] = value if current is None else max(current, value)
    return worst


def latency_percentiles(summary: HistogramSummary) -> dict[str, float]:
    """p50, p90, p95, p99 and max of a latency summary, by their names in metrics and tables."""
    return {
        "p50": summary.p50,
        "p90": summary.p90,
        "p95": summary.p95,
        "p99": summary.p99,
        "max": summary.max,
    }

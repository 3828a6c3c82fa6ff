"""A constant-memory histogram with log-linear buckets, in the manner of HdrHistogram.

Bucket `i` holds values in [lowest * r**i, lowest * r**(i + 1)) with r = (1 + precision)**2, and
reports its geometric middle, so every percentile is within `precision` (relative) of a value
that was recorded at that rank. Values at or below `lowest` share an underflow bucket (reported
as `lowest`) and values above `highest` an overflow bucket (reported as the exact max);
percentiles are clamped to the exact recorded min and max, and p0 / p100 are exactly min / max.
The buckets are a sparse dict, so memory is bounded by the bucket count (about 790 for the
defaults: 1 % from 0.1 ms to 10 min) however many values are recorded, and an idle histogram
costs almost nothing. `record` is O(1).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import msgspec

from driver_agent.core.typed import convert, to_builtins

if TYPE_CHECKING:
    from collections.abc import Iterable

SUMMARY_PERCENTILES = (50.0, 90.0, 95.0, 99.0)


class HistogramSummary(msgspec.Struct, frozen=True):
    """What a report shows of one histogram; all zero when `count` is 0."""

    count: int
    min: float
    mean: float
    p50: float
    p90: float
    p95: float
    p99: float
    max: float

    def to_dict(self) -> dict[str, Any]:
        """The JSON form: {count, min, mean, p50, p90, p95, p99, max}."""
        out: dict[str, Any] = to_builtins(self)
        return out

    @classmethod
    def from_dict(cls, data: object, where: str = "") -> HistogramSummary:
        """The inverse of `to_dict`; a missing or mistyped field raises ConfigError naming the
        dotted key under `where` and the value."""
        return convert(data, cls, where=where)


class Histogram:
    """Counts of non-negative values (ms, s: any one unit) in log-linear buckets."""

    __slots__ = (
        "_counts",
        "_inv_log_ratio",
        "_last_index",
        "_lowest",
        "_ratio",
        "count",
        "max",
        "min",
        "total",
    )

    def __init__(
        self, lowest: float = 0.1, highest: float = 600_000.0, precision: float = 0.01
    ) -> None:
        if not 0.0 < lowest < highest:
            raise ValueError(f"histogram: need 0 < lowest < highest, got {lowest}, {highest}")
        if not 0.0 < precision < 1.0:
            raise ValueError(f"histogram: precision must be in (0, 1), got {precision}")
        self._lowest = lowest
        self._ratio = (1.0 + precision) ** 2
        self._inv_log_ratio = 1.0 / math.log(self._ratio)
        self._last_index = int(math.log(highest / lowest) * self._inv_log_ratio)
        self._counts: dict[int, int] = {}
        self.count = 0
        self.total = 0.0
        self.min = math.inf
        self.max = 0.0

    @property
    def bucket_limit(self) -> int:
        """The most buckets this histogram can ever hold (with underflow and overflow)."""
        return self._last_index + 3

    @property
    def buckets_used(self) -> int:
        return len(self._counts)

    @property
    def mean(self) -> float:
        return self.total / self.count if self.count else 0.0

    def record(self, value: float) -> None:
        if not value >= 0.0:  # also refuses NaN
            raise ValueError(f"histogram: values must be >= 0, got {value!r}")
        if value > self._lowest:
            index = int(math.log(value / self._lowest) * self._inv_log_ratio)
            if index > self._last_index:
                index = self._last_index + 1  # overflow: reported as the exact max
        else:
            index = -1  # underflow: reported as `lowest`, clamped to the exact min
        counts = self._counts
        counts[index] = counts.get(index, 0) + 1
        self.count += 1
        self.total += value
        if value > self.max:
            self.max = value
        if value < self.min:
            self.min = value

    def percentile(self, p: float) -> float:
        """The value at percentile `p` (0-100, nearest rank); 0.0 when empty."""
        return self.percentiles((p,))[0]

    def percentiles(self, ps: Iterable[float]) -> list[float]:
        """Several percentiles in one walk over the buckets."""
        wanted = list(ps)
        for p in wanted:
            if not 0.0 <= p <= 100.0:
                raise ValueError(f"histogram: percentile must be in [0, 100], got {p!r}")
        if self.count == 0:
            return [0.0] * len(wanted)
        order = sorted(range(len(wanted)), key=lambda k: wanted[k])
        results = [0.0] * len(wanted)
        buckets = sorted(self._counts.items())
        seen = 0
        b = 0
        for k in order:
            if wanted[k] == 0.0 or wanted[k] == 100.0:
                results[k] = self.min if wanted[k] == 0.0 else self.max
                continue
            rank = math.ceil(wanted[k] * self.count / 100.0)
            while seen < rank:
                seen += buckets[b][1]
                b += 1
            results[k] = self._value_of(buckets[b - 1][0])
        return results

    def _value_of(self, index: int) -> float:
        if index < 0:
            value = self._lowest
        elif index > self._last_index:
            value = self.max
        else:
            value = self._lowest * math.pow(self._ratio, index + 0.5)
        return min(max(value, self.min), self.max)

    def merge(self, other: Histogram) -> None:
        """Add `other`'s counts into this one; both must share lowest, highest and precision."""
        if (other._lowest, other._ratio, other._last_index) != (
            self._lowest,
            self._ratio,
            self._last_index,
        ):
            raise ValueError("histogram: cannot merge histograms with different bucket layouts")
        counts = self._counts
        for index, n in other._counts.items():
            counts[index] = counts.get(index, 0) + n
        self.count += other.count
        self.total += other.total
        self.max = max(self.max, other.max)
        self.min = min(self.min, other.min)

    def summary(self) -> HistogramSummary:
        if self.count == 0:
            return HistogramSummary(0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0)
        p50, p90, p95, p99 = self.percentiles(SUMMARY_PERCENTILES)
        return HistogramSummary(self.count, self.min, self.mean, p50, p90, p95, p99, self.max)

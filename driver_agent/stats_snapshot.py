"""The frozen statistics snapshot that reports are built on, and its JSON form.

`StatsSnapshot.to_dict()` gives plain dicts, lists, strings and numbers (`json.dumps` takes it as
is); `StatsSnapshot.from_dict()` reads it back, naming the dotted path of a missing or mistyped
field, so a saved run can be re-rendered or compared later.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from driver_agent.histogram import HistogramSummary

if TYPE_CHECKING:
    from collections.abc import Mapping


@dataclass(frozen=True, slots=True)
class EndpointSnapshot:
    endpoint: str
    count: int
    errors: dict[str, int]
    latency_ms: HistogramSummary


@dataclass(frozen=True, slots=True)
class TimeBucketSnapshot:
    """Calls that *started* in [start_s, start_s + bucket_s) of real run time."""

    start_s: float
    count: int
    errors: int
    p50_ms: float
    p95_ms: float
    max_ms: float


@dataclass(frozen=True, slots=True)
class DriverSnapshot:
    driver_id: str
    pings: int
    max_gap_s: float
    gaps_over_limit: int
    orders: dict[str, int]
    distance_m: float
    relocations: int


@dataclass(frozen=True, slots=True)
class Totals:
    calls: int
    errors: int
    errors_by_class: dict[str, int]
    first_at_s: float
    last_at_s: float
    orders: dict[str, int]
    distance_m: float
    drivers: int
    pings: int
    gaps_over_limit: int
    max_gap_s: float
    relocations: int


@dataclass(frozen=True, slots=True)
class StatsSnapshot:
    bucket_s: float
    max_ping_gap_s: float
    totals: Totals
    endpoints: tuple[EndpointSnapshot, ...]
    timeline: tuple[TimeBucketSnapshot, ...]
    stages_s: dict[str, HistogramSummary]
    ping_lateness_ms: HistogramSummary
    drivers: tuple[DriverSnapshot, ...]

    def to_dict(self) -> dict[str, Any]:
        return {
            "bucket_s": self.bucket_s,
            "max_ping_gap_s": self.max_ping_gap_s,
            "totals": _plain(self.totals),
            "endpoints": [
                {**_plain(e), "latency_ms": e.latency_ms.to_dict()} for e in self.endpoints
            ],
            "timeline": [_plain(b) for b in self.timeline],
            "stages_s": {name: s.to_dict() for name, s in self.stages_s.items()},
            "ping_lateness_ms": self.ping_lateness_ms.to_dict(),
            "drivers": [_plain(d) for d in self.drivers],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> StatsSnapshot:
        """The inverse of `to_dict`; raises ValueError naming the dotted path of a bad field."""
        r = _Reader(data, "")
        return cls(
            bucket_s=r.read_float("bucket_s"),
            max_ping_gap_s=r.read_float("max_ping_gap_s"),
            totals=Totals(**r.fields("totals", Totals)),
            endpoints=tuple(
                EndpointSnapshot(**e.fields("", EndpointSnapshot)) for e in r.items("endpoints")
            ),
            timeline=tuple(
                TimeBucketSnapshot(**b.fields("", TimeBucketSnapshot)) for b in r.items("timeline")
            ),
            stages_s={name: h.summary("") for name, h in r.mapping("stages_s").items()},
            ping_lateness_ms=r.summary("ping_lateness_ms"),
            drivers=tuple(
                DriverSnapshot(**d.fields("", DriverSnapshot)) for d in r.items("drivers")
            ),
        )


def _plain(value: Any) -> dict[str, Any]:
    return {name: _copy(getattr(value, name)) for name in value.__dataclass_fields__}


def _copy(value: Any) -> Any:
    return dict(value) if isinstance(value, dict) else value


class _Reader:
    """Typed reads from parsed JSON with errors that name the path (`drivers[2].pings`)."""

    def __init__(self, data: Any, path: str) -> None:
        if not isinstance(data, dict):
            raise ValueError(f"stats snapshot: {path or 'top level'} must be an object")
        self._data = data
        self._path = path

    def _where(self, key: str) -> str:
        return f"{self._path}.{key}" if self._path else key

    def _get(self, key: str) -> Any:
        if key not in self._data:
            raise ValueError(f"stats snapshot: {self._where(key)} is missing")
        return self._data[key]

    def read_int(self, key: str) -> int:
        value = self._get(key)
        if not isinstance(value, int) or isinstance(value, bool):
            raise ValueError(f"stats snapshot: {self._where(key)} must be an integer")
        return value

    def read_float(self, key: str) -> float:
        value = self._get(key)
        if not isinstance(value, int | float) or isinstance(value, bool):
            raise ValueError(f"stats snapshot: {self._where(key)} must be a number")
        return float(value)

    def read_str(self, key: str) -> str:
        value = self._get(key)
        if not isinstance(value, str):
            raise ValueError(f"stats snapshot: {self._where(key)} must be a string")
        return value

    def counts(self, key: str) -> dict[str, int]:
        inner = _Reader(self._get(key), self._where(key))
        return {name: inner.read_int(name) for name in inner._data}

    def summary(self, key: str) -> HistogramSummary:
        data = self._get(key) if key else self._data
        try:
            return HistogramSummary.from_dict(data)
        except ValueError as error:
            where = self._where(key) if key else self._path
            raise ValueError(f"stats snapshot: {where}: {error}") from None

    def mapping(self, key: str) -> dict[str, _Reader]:
        inner = _Reader(self._get(key), self._where(key))
        return {name: _Reader(value, inner._where(name)) for name, value in inner._data.items()}

    def items(self, key: str) -> list[_Reader]:
        value = self._get(key)
        if not isinstance(value, list):
            raise ValueError(f"stats snapshot: {self._where(key)} must be a list")
        return [_Reader(item, f"{self._where(key)}[{i}]") for i, item in enumerate(value)]

    def fields(self, key: str, cls: type[Any]) -> dict[str, Any]:
        """Read every field of a flat snapshot dataclass by its annotation."""
        inner = _Reader(self._get(key), self._where(key)) if key else self
        readers = {
            "int": inner.read_int,
            "float": inner.read_float,
            "str": inner.read_str,
            "dict[str, int]": inner.counts,
            "HistogramSummary": inner.summary,
        }
        return {name: readers[kind](name) for name, kind in cls.__annotations__.items()}

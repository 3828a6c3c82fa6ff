"""The frozen statistics snapshot that reports are built on, and its JSON form.

`StatsSnapshot.to_dict()` gives plain dicts, lists, strings and numbers (`json.dumps` takes it as
is); `StatsSnapshot.from_dict()` reads it back, naming the dotted path of a missing or mistyped
field, so a saved run can be re-rendered or compared later.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from driver_agent.metrics.histogram import HistogramSummary

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
class GivenUpOrder:
    """An order the driver gave up, with the last error the API gave (status None: no answer)."""

    driver_id: str
    task_id: int
    endpoint: str
    status: int | None
    message: str
    reason: str  # "refused" (a definitive 4xx) or "no_progress" (give_up_after_s passed)


@dataclass(frozen=True, slots=True)
class Resilience:
    """How the run rode out API trouble: resends, reconciliations, the drivers' backlogs."""

    retries: int = 0  # resends: the client's own and the drivers' resends of queued calls
    retries_by_endpoint: dict[str, int] | None = None
    reconciled: int = 0  # resends the API had already applied: success, counted once
    queued_calls: int = 0  # calls that waited in a driver's backlog (locations included)
    queued_locations: int = 0
    thinned_locations: int = 0  # queued locations replaced by a later one (one per 30 s kept)
    dropped_locations: int = 0  # past the backlog's bound, or left when a driver stopped
    given_up: int = 0
    cancelled_after_give_up: int = 0
    cancel_failed: int = 0  # given-up orders the API could not be told about
    given_up_orders: tuple[GivenUpOrder, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        out = {
            name: _copy(getattr(self, name))
            for name in self.__dataclass_fields__
            if name != "given_up_orders"
        }
        out["retries_by_endpoint"] = dict(self.retries_by_endpoint or {})
        out["given_up_orders"] = [_plain(g) for g in self.given_up_orders]
        return out

    @classmethod
    def from_dict(cls, data: Any, path: str) -> Resilience:
        r = _Reader(data, path)
        orders = []
        for item in r.items("given_up_orders"):
            status = item._get("status")
            if status is not None and (not isinstance(status, int) or isinstance(status, bool)):
                raise ValueError(f"stats snapshot: {item._where('status')} must be an integer")
            orders.append(
                GivenUpOrder(
                    driver_id=item.read_str("driver_id"),
                    task_id=item.read_int("task_id"),
                    endpoint=item.read_str("endpoint"),
                    status=status,
                    message=item.read_str("message"),
                    reason=item.read_str("reason"),
                )
            )
        return cls(
            retries=r.read_int("retries"),
            retries_by_endpoint=r.counts("retries_by_endpoint"),
            reconciled=r.read_int("reconciled"),
            queued_calls=r.read_int("queued_calls"),
            queued_locations=r.read_int("queued_locations"),
            thinned_locations=r.read_int("thinned_locations"),
            dropped_locations=r.read_int("dropped_locations"),
            given_up=r.read_int("given_up"),
            cancelled_after_give_up=r.read_int("cancelled_after_give_up"),
            cancel_failed=r.read_int("cancel_failed"),
            given_up_orders=tuple(orders),
        )


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
    resilience: Resilience = Resilience()

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
            "resilience": self.resilience.to_dict(),
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
            resilience=(  # reports written before it had one: nothing to show
                Resilience.from_dict(data["resilience"], "resilience")
                if "resilience" in data
                else Resilience()
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

"""The frozen statistics snapshot that reports are built on, and its JSON form (pure).

Every part is a frozen `msgspec.Struct`: reports, thresholds and the HTML page read its fields.
`StatsSnapshot.to_dict()` gives plain dicts, lists (as tuples), strings and numbers that
`json.dumps` takes as is, in field order: this is report.json's `stats`. `StatsSnapshot.from_dict()`
reads it back in one strict pass, raising `ConfigError` that names the dotted key of a missing or
mistyped field (`stats.drivers[2].pings`) and its value, so a saved run can be re-rendered or
compared later.
"""

from __future__ import annotations

from typing import Any

import msgspec

from driver_agent.core.typed import convert, to_builtins
from driver_agent.metrics.histogram import HistogramSummary


class MessageCount(msgspec.Struct, frozen=True):
    """One message Bringg gave for failed calls, and how many calls got it."""

    message: str
    count: int


class EndpointSnapshot(msgspec.Struct, frozen=True):
    endpoint: str
    count: int
    errors: dict[str, int]  # by error class (`ApiUnavailable`, ...)
    latency_ms: HistogramSummary
    # by HTTP status ("404"; "no answer": the network failed); reports written before read empty
    errors_by_status: dict[str, int] = msgspec.field(default_factory=dict)
    top_messages: tuple[MessageCount, ...] = ()  # the most frequent first

    @property
    def error_count(self) -> int:
        return sum(self.errors.values())

    @property
    def error_rate(self) -> float | None:
        """Failed / all calls; None without calls."""
        return self.error_count / self.count if self.count else None


class TimeBucketSnapshot(msgspec.Struct, frozen=True):
    """Calls that ended in [start_s, start_s + bucket_s) of real run time (seconds since the run
    began). `requests_by_endpoint` is aligned with the snapshot's `endpoints`; `busy_drivers`
    is the most drivers busy with an order when a bucket began; the bytes are request and
    answer bodies as the client's transport saw them."""

    start_s: float
    count: int
    errors: int
    p50_ms: float
    p95_ms: float
    max_ms: float
    requests_by_endpoint: tuple[int, ...] = ()
    busy_drivers: int = 0
    bytes_sent: int = 0
    bytes_received: int = 0


class DriverSnapshot(msgspec.Struct, frozen=True):
    driver_id: str
    pings: int
    max_gap_s: float
    gaps_over_limit: int
    orders: dict[str, int]  # by outcome (`lifecycle.OrderOutcome` values)
    distance_m: float
    relocations: int


class Totals(msgspec.Struct, frozen=True):
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


class GivenUpOrder(msgspec.Struct, frozen=True):
    """An order the driver gave up, with the last error the API gave (status None: no answer)."""

    driver_id: str
    task_id: int
    endpoint: str
    status: int | None
    message: str
    reason: str  # "refused" (a definitive 4xx) or "no_progress" (give_up_after_s passed)


class OrderRecord(msgspec.Struct, frozen=True):
    """One order that ended: its stage durations (simulated seconds, `lifecycle.Stage` values;
    only the stages it went through), when it ended (simulated epoch ms) and the last error one
    of its calls got (status None: no answer; message "" and status None: no error)."""

    order_id: int
    driver_id: str
    outcome: str
    stages_s: dict[str, float]
    ended_at_ms: int
    external_id: str = ""
    error_endpoint: str = ""
    error_status: int | None = None
    error_message: str = ""

    @property
    def has_error(self) -> bool:
        return bool(self.error_endpoint)


class Resilience(msgspec.Struct, frozen=True):
    """How the run rode out API trouble: resends, reconciliations, the drivers' backlogs."""

    retries: int = 0  # resends: the client's own and the drivers' resends of queued calls
    retries_by_endpoint: dict[str, int] = msgspec.field(default_factory=dict)
    reconciled: int = 0  # resends the API had already applied: success, counted once
    queued_calls: int = 0  # calls that waited in a driver's backlog (locations included)
    queued_locations: int = 0
    thinned_locations: int = 0  # queued locations replaced by a later one (one per 30 s kept)
    dropped_locations: int = 0  # past the backlog's bound, or left when a driver stopped
    given_up: int = 0
    cancelled_after_give_up: int = 0
    cancel_failed: int = 0  # given-up orders the API could not be told about
    given_up_orders: tuple[GivenUpOrder, ...] = ()


class StatsSnapshot(msgspec.Struct, frozen=True):
    bucket_s: float
    max_ping_gap_s: float
    totals: Totals
    endpoints: tuple[EndpointSnapshot, ...]
    timeline: tuple[TimeBucketSnapshot, ...]
    stages_s: dict[str, HistogramSummary]
    ping_lateness_ms: HistogramSummary
    drivers: tuple[DriverSnapshot, ...]
    # reports written before it had one read as "nothing to show"
    resilience: Resilience = msgspec.field(default_factory=Resilience)
    bytes_sent: int = 0  # request bodies, as the client's transport saw them
    bytes_received: int = 0  # answer bodies

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = to_builtins(self)
        return out

    @classmethod
    def from_dict(cls, data: object, where: str = "stats") -> StatsSnapshot:
        """The inverse of `to_dict`; raises ConfigError naming the dotted key (under `where`,
        report.json's `stats` by default) and the value of a bad field."""
        return convert(data, cls, where=where)

"""Counters and gauges with labels, rendered in Prometheus text exposition format 0.0.4 (pure).

`Registry` holds metrics in registration order; `render()` writes `# HELP` and `# TYPE` lines and
one sample a line, label values escaped (backslash, double quote, newline). `BridgeMetrics` is the
bridge's fixed set, named `driver_agent_bridge_*`, with one method per thing that happens.

A bridge split across workers renders one page for all of them: each worker sends its
`snapshot()` (plain data, for Ray), and the head's `render(others)` adds them into its own
families, sample by sample (a counter or a depth adds up; an age takes the oldest: `MAX`).
"""

from __future__ import annotations

import math
from enum import StrEnum
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
PREFIX = "driver_agent_bridge_"


class MetricType(StrEnum):
    COUNTER = "counter"
    GAUGE = "gauge"


class Combine(StrEnum):
    """How one family's samples from several processes make one: added, or the largest."""

    SUM = "sum"
    MAX = "max"


Samples = list[tuple[tuple[str, ...], float]]
Snapshot = dict[str, Samples]  # family name -> its samples: what a worker sends the head


class Metric:
    """One metric family: a name, a help text, label names, and a value per label tuple."""

    def __init__(
        self,
        name: str,
        help_text: str,
        kind: MetricType,
        labelnames: tuple[str, ...] = (),
        combine: Combine = Combine.SUM,
    ) -> None:
        self.name = name
        self.help_text = help_text
        self.kind = kind
        self.labelnames = labelnames
        self.combine = combine
        self._values: dict[tuple[str, ...], float] = {}
        self._function: Callable[[], float] | None = None
        if not labelnames:
            self._values[()] = 0.0

    def inc(self, *labels: str, amount: float = 1.0) -> None:
        if self.kind is MetricType.COUNTER and amount < 0:
            raise ValueError(f"{self.name}: a counter only goes up, got {amount}")
        key = self._key(labels)
        self._values[key] = self._values.get(key, 0.0) + float(amount)

    def set(self, value: float, *labels: str) -> None:
        if self.kind is not MetricType.GAUGE:
            raise ValueError(f"{self.name}: only a gauge can be set")
        self._values[self._key(labels)] = float(value)

    def set_function(self, function: Callable[[], float]) -> None:
        """Read the (unlabelled) gauge's value from `function` at each render."""
        if self.kind is not MetricType.GAUGE or self.labelnames:
            raise ValueError(f"{self.name}: only an unlabelled gauge can read a function")
        self._function = function

    def value(self, *labels: str) -> float:
        if self._function is not None:
            return float(self._function())
        return self._values.get(self._key(labels), 0.0)

    def samples(self) -> Samples:
        if self._function is not None:
            return [((), float(self._function()))]
        return sorted(self._values.items())

    def combined(self, others: Sequence[Samples]) -> Samples:
        """This process's samples with the same family's from others, label set by label set."""
        merged = dict(self.samples())
        for samples in others:
            for labels, value in samples:
                key = tuple(labels)
                if key not in merged:
                    merged[key] = value
                elif self.combine is Combine.MAX:
                    merged[key] = max(merged[key], value)
                else:
                    merged[key] += value
        return sorted(merged.items())

    def render(self, others: Sequence[Samples] = ()) -> str:
        lines = [
            f"# HELP {self.name} {_escape_help(self.help_text)}",
            f"# TYPE {self.name} {self.kind}",
        ]
        for labels, value in self.combined(others) if others else self.samples():
            lines.append(f"{self.name}{self._label_text(labels)} {_number(value)}")
        return "\n".join(lines) + "\n"

    def _key(self, labels: tuple[str, ...]) -> tuple[str, ...]:
        if len(labels) != len(self.labelnames):
            raise ValueError(
                f"{self.name}: expected labels {self.labelnames}, got {len(labels)} values"
            )
        return labels

    def _label_text(self, labels: tuple[str, ...]) -> str:
        if not labels:
            return ""
        pairs = ",".join(
            f'{name}="{_escape_label(value)}"'
            for name, value in zip(self.labelnames, labels, strict=True)
        )
        return "{" + pairs + "}"


class Registry:
    """Metric families in registration order."""

    def __init__(self) -> None:
        self._metrics: dict[str, Metric] = {}

    def counter(self, name: str, help_text: str, labelnames: tuple[str, ...] = ()) -> Metric:
        return self._add(Metric(name, help_text, MetricType.COUNTER, labelnames))

    def gauge(
        self,
        name: str,
        help_text: str,
        labelnames: tuple[str, ...] = (),
        combine: Combine = Combine.SUM,
    ) -> Metric:
        return self._add(Metric(name, help_text, MetricType.GAUGE, labelnames, combine))

    def snapshot(self) -> Snapshot:
        """Every family's samples, as plain data."""
        return {name: metric.samples() for name, metric in self._metrics.items()}

    def render(self, others: Sequence[Snapshot] = ()) -> str:
        """The page; with `others`, their samples combined into this registry's families (a
        family this registry does not have is not rendered)."""
        return "".join(
            metric.render([o[name] for o in others if name in o])
            for name, metric in self._metrics.items()
        )

    def _add(self, metric: Metric) -> Metric:
        if metric.name in self._metrics:
            raise ValueError(f"metric {metric.name} registered twice")
        self._metrics[metric.name] = metric
        return metric


class BridgeMetrics:
    """The bridge's metrics: positions in and refused, calls sent, outbox, geofence, errors."""

    def __init__(self) -> None:
        r = self.registry = Registry()
        self.positions_in = r.counter(
            PREFIX + "positions_in_total", "Positions accepted, by source.", ("source",)
        )
        self.positions_rejected = r.counter(
            PREFIX + "positions_rejected_total",
            "Position inputs refused, by source and offending field.",
            ("source", "field"),
        )
        self.updates_sent = r.counter(
            PREFIX + "updates_sent_total", "Calls the fleet API acknowledged."
        )
        self.outbox_depth = r.gauge(PREFIX + "outbox_depth", "Calls waiting in the outbox.")
        self.outbox_oldest_age = r.gauge(
            PREFIX + "outbox_oldest_unsent_age_seconds",
            "Age of the oldest unsent call.",
            combine=Combine.MAX,
        )
        self.checkins = r.counter(
            PREFIX + "checkins_total", "Geofence check-ins, by stop kind.", ("kind",)
        )
        self.checkouts = r.counter(
            PREFIX + "checkouts_total", "Geofence check-outs, by stop kind.", ("kind",)
        )
        self.unauthorised_inputs = r.counter(
            PREFIX + "inputs_unauthorized_total",
            "Position inputs refused for a missing or wrong input key, by source.",
            ("source",),
        )
        self.late = r.counter(
            PREFIX + "positions_late_total", "Positions older than one already processed."
        )
        self.before_assignment = r.counter(
            PREFIX + "positions_before_assignment_total",
            "Positions from a device whose driver has no order yet: held, not errors; the latest "
            "is sent with the driver's first assignment.",
        )
        self.errors = r.counter(PREFIX + "errors_total", "Errors, by class.", ("class",))
        self.dropped = r.counter(
            PREFIX + "dropped_total", "Calls dropped from the outbox, by reason.", ("reason",)
        )
        self.orders_active = r.gauge(PREFIX + "orders_active", "Orders assigned and not final.")
        self.orders_finished = r.counter(
            PREFIX + "orders_finished_total",
            "Orders that reached a final state, by outcome.",
            ("outcome",),
        )
        self.quiet_drivers = r.gauge(
            PREFIX + "quiet_busy_drivers",
            "Drivers with a started order whose device sent nothing for over 30 s.",
        )
        self.silences = r.counter(
            PREFIX + "silences_total", "Times a busy driver's device went quiet for over 30 s."
        )
        self.resent = r.counter(
            PREFIX + "positions_resent_total",
            "Last known positions re-sent (original time) for quiet busy drivers.",
        )

    def position_in(self, source: str) -> None:
        self.positions_in.inc(source)

    def position_rejected(self, source: str, field: str) -> None:
        self.positions_rejected.inc(source, field)

    def unauthorised(self, source: str) -> None:
        self.unauthorised_inputs.inc(source)

    def update_sent(self, count: int = 1) -> None:
        self.updates_sent.inc(amount=count)

    def checkin(self, kind: str) -> None:
        self.checkins.inc(kind)

    def checkout(self, kind: str) -> None:
        self.checkouts.inc(kind)

    def error(self, error_class: str) -> None:
        self.errors.inc(error_class)

    def drop(self, reason: str, count: int = 1) -> None:
        self.dropped.inc(reason, amount=count)

    def render(self, others: Sequence[Snapshot] = ()) -> str:
        return self.registry.render(others)

    def snapshot(self) -> Snapshot:
        return self.registry.snapshot()


def _escape_label(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _escape_help(text: str) -> str:
    return text.replace("\\", "\\\\").replace("\n", "\\n")


def _number(value: float) -> str:
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    if value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    return repr(value)

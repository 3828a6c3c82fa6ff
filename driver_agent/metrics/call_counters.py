"""The counters behind the run's statistics: one endpoint's calls, one time bucket's (pure).

`Calls` counts calls, errors by class and latency; `EndpointCalls` adds failures by HTTP status
and by Bringg's message (at most `MAX_MESSAGES_KEPT` distinct messages, the rest counted as one);
`Bucket` adds requests by endpoint, the busy drivers and the client's byte counters at its start.
"""

from __future__ import annotations

from typing import Protocol

from driver_agent.metrics.histogram import Histogram
from driver_agent.metrics.stats_snapshot import MessageCount

MAX_MESSAGES_KEPT = 50  # distinct error messages counted per endpoint; the rest as one
TOP_MESSAGES = 5  # messages per endpoint in the snapshot
OTHER_MESSAGES = "(other messages)"
NO_ANSWER = "no answer"  # the status key of calls that got no HTTP answer


class Calls:
    """Count, errors by class and latency of one endpoint or one time bucket."""

    __slots__ = ("count", "errors", "latency_ms")

    def __init__(self) -> None:
        self.count = 0
        self.errors: dict[str, int] = {}
        self.latency_ms = Histogram()

    def record(self, latency_ms: float, error: str | None) -> None:
        self.latency_ms.record(latency_ms)
        self.count += 1
        if error is not None:
            self.errors[error] = self.errors.get(error, 0) + 1

    def merge(self, other: Calls) -> None:
        self.count += other.count
        self.latency_ms.merge(other.latency_ms)
        for name, n in other.errors.items():
            self.errors[name] = self.errors.get(name, 0) + n


class EndpointCalls(Calls):
    """An endpoint's calls, with its failures by HTTP status and by Bringg's message."""

    __slots__ = ("by_status", "messages")

    def __init__(self) -> None:
        super().__init__()
        self.by_status: dict[str, int] = {}
        self.messages: dict[str, int] = {}

    def failure(self, status: int | None, message: str) -> None:
        key = NO_ANSWER if status is None else str(status)
        self.by_status[key] = self.by_status.get(key, 0) + 1
        messages = self.messages
        if message not in messages and len(messages) >= MAX_MESSAGES_KEPT:
            message = OTHER_MESSAGES
        messages[message] = messages.get(message, 0) + 1

    def top_messages(self) -> tuple[MessageCount, ...]:
        ranked = sorted(self.messages.items(), key=lambda item: (-item[1], item[0]))
        return tuple(MessageCount(text, n) for text, n in ranked[:TOP_MESSAGES])


class Bucket(Calls):
    """A time bucket's calls, by endpoint, with the busy drivers and the client's byte counters
    when it began."""

    __slots__ = ("busy", "by_endpoint", "received0", "sent0")

    def __init__(self, busy: int, sent0: int, received0: int) -> None:
        super().__init__()
        self.by_endpoint: dict[str, int] = {}
        self.busy, self.sent0, self.received0 = busy, sent0, received0

    def merge(self, other: Calls) -> None:
        super().merge(other)
        if isinstance(other, Bucket):
            for name, n in other.by_endpoint.items():
                self.by_endpoint[name] = self.by_endpoint.get(name, 0) + n
            self.busy = max(self.busy, other.busy)


class ByteCounter(Protocol):
    """The client's running totals of request and answer body bytes."""

    @property
    def bytes_sent(self) -> int: ...

    @property
    def bytes_received(self) -> int: ...

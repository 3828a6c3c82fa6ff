"""A driver's phone while the API is away: the backlog of calls and its rules (pure).

When a call fails with `ApiUnavailable` after the client's own retries (network down, 5xx, 429),
the driver goes on like a phone that lost its connection: the call and every later one queue
here, in order, and go out when the API answers again. The driver (the I/O shell) sends the head,
reports the outcome, and sleeps until `retry_at`; this module decides everything else.

Rules:

- **Order.** Calls leave in the order they were made. A lifecycle call is never dropped except
  with its whole order (`drop_order`, when the order is given up).
- **Locations are thinned.** They keep their original `reported_time`. Of a run of queued
  locations one is kept per `thin_s` (30 s) of reported time, plus the latest: a location
  replaces the previous queued one while that one is less than `thin_s` after the location kept
  before it. With pings at most `thin_s` apart, kept locations stay at most `thin_s` apart, so
  the API's 30 s ping-gap watch sees no gap. At most `max_locations` (128: an hour of reported
  time at one per 30 s, like a phone's offline store) locations wait; past that the oldest goes,
  which the API then sees as a gap. An hour of reported time is one real minute at 60x.
- **Back-off.** The head is retried after a capped exponential wait that continues the client's
  curve (`base_s * 2**(retries + failures)`, at most `cap_s`), with jitter in [half, full], never
  under the server's Retry-After and never under `base_s`: no tight loop.
- **Give-up.** An order is given up only when no call went out for `give_up_after_s` (real
  seconds; `overdue`) or when the API refused one of its lifecycle calls for good (4xx). A
  given-up order is cancelled on the API side when possible: the cancel is a `cleanup` entry
  that waits for the API like any call (a driver that is stopping abandons it once it waited
  `give_up_after_s`). Refused lifecycle calls of `start_task`, `checkin`, `checkout` and
  `end_task` lead to a cancel; a refused `assign_driver` does not (the order may be someone
  else's), nor a refused cancel.

Memory: nothing exists while the API is healthy; a backlog is a list of small entries.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Generic, TypeVar

from driver_agent.core.endpoints import ENDPOINTS, Endpoint

P = TypeVar("P")

THIN_S = 30.0
MAX_LOCATIONS = 128  # one per THIN_S: an hour of reported time
CANCEL_AFTER_REFUSAL = frozenset(
    {Endpoint.START_TASK, Endpoint.CHECKIN, Endpoint.CHECKOUT, Endpoint.END_TASK}
)


class EntryKind(StrEnum):
    LIFECYCLE = "lifecycle"  # moves the order: never dropped alone
    LOCATION = "location"  # thinned
    EXTRA = "extra"  # a note or an ETA update: refused alone, the order goes on
    CLEANUP = "cleanup"  # the cancel of a given-up order


def entry_kind(endpoint: str) -> EntryKind:
    """The kind of a queued call by its endpoint (a given-up order's cancel is queued as
    CLEANUP by the caller)."""
    if endpoint == Endpoint.UPDATE_DRIVER_LOCATION:
        return EntryKind.LOCATION
    spec = ENDPOINTS.get(endpoint)
    if spec is not None and not spec.lifecycle:
        return EntryKind.EXTRA
    return EntryKind.LIFECYCLE


@dataclass(slots=True)
class Entry(Generic[P]):
    """One queued call. `at` is its scheduled simulated time (the `reported_time`)."""

    endpoint: str
    task_id: int | None
    at: float
    kind: EntryKind
    payload: P
    sends: int = 1  # attempts so far (the first usually failed before the call was queued)


@dataclass(frozen=True, slots=True)
class BackoffPolicy:
    base_s: float = 0.5
    cap_s: float = 30.0
    client_retries: int = 4  # the client's own attempts came first: continue its curve

    def wait_s(self, failures: int, jitter: float, server_wait_s: float | None = None) -> float:
        """The wait after the `failures`-th failed resend; `jitter` in [0, 1)."""
        exponent = min(self.client_retries + failures, 60)
        full = min(self.cap_s, self.base_s * 2.0**exponent)
        wait = full / 2.0 + full / 2.0 * min(max(jitter, 0.0), 1.0)
        if server_wait_s is not None and server_wait_s > wait:
            wait = server_wait_s
        return max(wait, self.base_s, 0.05)


class Backlog(Generic[P]):
    """The calls of one driver waiting for the API, oldest first."""

    __slots__ = (
        "_anchor_at",
        "_locations",
        "_tail_provisional",
        "backoff",
        "dropped_locations",
        "entries",
        "failures",
        "give_up_after_s",
        "last_progress",
        "max_locations",
        "retry_at",
        "thin_s",
        "thinned",
    )

    def __init__(
        self,
        *,
        now_real: float,
        give_up_after_s: float,
        backoff: BackoffPolicy | None = None,
        thin_s: float = THIN_S,
        max_locations: int = MAX_LOCATIONS,
    ) -> None:
        if not give_up_after_s > 0:
            raise ValueError(f"give_up_after_s must be > 0, got {give_up_after_s!r}")
        if max_locations < 2:
            raise ValueError(f"max_locations must be >= 2, got {max_locations!r}")
        self.entries: list[Entry[P]] = []
        self.give_up_after_s = give_up_after_s
        self.backoff = backoff or BackoffPolicy()
        self.thin_s = thin_s
        self.max_locations = max_locations
        self.last_progress = now_real
        self.failures = 0
        self.retry_at = 0.0  # the shell's own time of the next resend
        self.thinned = 0
        self.dropped_locations = 0
        self._locations = 0
        self._anchor_at = 0.0  # reported time of the location kept before a provisional tail
        self._tail_provisional = False

    def __len__(self) -> int:
        return len(self.entries)

    def __bool__(self) -> bool:
        return bool(self.entries)

    @property
    def locations(self) -> int:
        return self._locations

    def head(self) -> Entry[P] | None:
        return self.entries[0] if self.entries else None

    # ---- adding ---------------------------------------------------------------------------

    def add(self, entry: Entry[P]) -> None:
        """Queue a call behind the others (a location may replace the provisional tail)."""
        entries = self.entries
        if entry.kind is not EntryKind.LOCATION:
            entries.append(entry)
            self._tail_provisional = False
            return
        tail = entries[-1] if entries else None
        if tail is not None and tail.kind is EntryKind.LOCATION:
            # the head is never provisional: it is the one being resent
            if self._tail_provisional and entry.at - self._anchor_at <= self.thin_s:
                entries[-1] = entry  # the tail was neither one per thin_s nor the latest
                self.thinned += 1
                return
            self._anchor_at = tail.at  # the tail is kept: the new one would be too far from it
            entries.append(entry)
            self._tail_provisional = True
        else:
            entries.append(entry)  # the first of a run of locations: kept
            self._tail_provisional = False
        self._locations += 1
        if self._locations > self.max_locations:
            self._drop_oldest_location()

    def _drop_oldest_location(self) -> None:
        for i, entry in enumerate(self.entries):
            if entry.kind is EntryKind.LOCATION and i > 0:  # never the head being sent
                del self.entries[i]
                self._locations -= 1
                self.dropped_locations += 1
                if i == len(self.entries):  # it was the tail
                    self._tail_provisional = False
                return

    # ---- outcomes of the head -------------------------------------------------------------

    def sent(self, now_real: float) -> Entry[P]:
        """The head went out (answered, or refused for good): remove it; that is progress."""
        entry = self.entries.pop(0)
        if entry.kind is EntryKind.LOCATION:
            self._locations -= 1
        if len(self.entries) <= 1:
            self._tail_provisional = False  # a new head is never replaced
        self.last_progress = now_real
        self.failures = 0
        return entry

    def failed(self, jitter: float, server_wait_s: float | None = None) -> float:
        """The head's resend failed again (API still away): the wait before the next one."""
        head = self.head()
        if head is not None:
            head.sends += 1
        self.failures += 1
        return self.backoff.wait_s(self.failures, jitter, server_wait_s)

    def first_wait_s(self, jitter: float, server_wait_s: float | None = None) -> float:
        """The wait before the first resend of a backlog that was just opened."""
        return self.backoff.wait_s(0, jitter, server_wait_s)

    # ---- giving up ------------------------------------------------------------------------

    def overdue(self, now_real: float) -> bool:
        """No call went out for `give_up_after_s`: time to give up what waits."""
        return now_real - self.last_progress >= self.give_up_after_s

    def orders(self) -> list[int]:
        """Task ids of the orders with lifecycle calls or extras waiting, oldest first."""
        seen: dict[int, None] = {}
        for entry in self.entries:
            if entry.task_id is not None and entry.kind in (EntryKind.LIFECYCLE, EntryKind.EXTRA):
                seen[entry.task_id] = None
        return list(seen)

    def holds(self, task_id: int) -> bool:
        """Whether calls of this order (other than locations and its cleanup) still wait."""
        return any(
            e.task_id == task_id and e.kind in (EntryKind.LIFECYCLE, EntryKind.EXTRA)
            for e in self.entries
        )

    def drop_order(self, task_id: int) -> list[Entry[P]]:
        """Remove the order's lifecycle calls and extras (its locations stay: they are the
        driver's positions); returns what was removed."""
        kept: list[Entry[P]] = []
        removed: list[Entry[P]] = []
        for entry in self.entries:
            gone = entry.task_id == task_id and entry.kind in (
                EntryKind.LIFECYCLE,
                EntryKind.EXTRA,
            )
            (removed if gone else kept).append(entry)
        self.entries = kept
        self._tail_provisional = False
        return removed

    def drop_cleanups(self) -> list[Entry[P]]:
        """Abandon the cancels of given-up orders (they waited `give_up_after_s` in vain)."""
        removed = [e for e in self.entries if e.kind is EntryKind.CLEANUP]
        if removed:
            self.entries = [e for e in self.entries if e.kind is not EntryKind.CLEANUP]
            self._tail_provisional = False
        return removed

    def progress(self, now_real: float) -> None:
        """Start the give-up clock again (after giving up: the cleanup gets its own span)."""
        self.last_progress = now_real

    def has_calls(self) -> bool:
        """Anything but locations waits (a stopping driver leaves only locations behind)."""
        return any(e.kind is not EntryKind.LOCATION for e in self.entries)

    def drop_locations(self) -> int:
        """Forget the waiting locations (a driver that stops); returns how many."""
        count = self._locations
        self.entries = [e for e in self.entries if e.kind is not EntryKind.LOCATION]
        self._locations = 0
        self.dropped_locations += count
        self._tail_provisional = False
        return count

"""What the daemon's watchdog keeps track of between its rounds (pure; times are clock seconds).

- `QuietWatch`: busy drivers whose device has been quiet for more than `max_gap_s`; which ones
  went quiet since the last round, and which are due to have their last position sent again
  (at most every `resend_every` of the gap).
- `DropTally`: the outbox's drop counts per reason over the file's life, turned into the
  increments since the last round (counts from earlier runs come once, marked as such; a reason
  first seen during this run counts as new).
"""

from __future__ import annotations

from dataclasses import dataclass

from driver_agent.core.model import MAX_PING_GAP_S

RESEND_EVERY = 0.8  # of the gap: resend a little before the next silence would be counted


@dataclass(frozen=True, slots=True)
class Silence:
    driver_id: str
    silent_s: float


class QuietWatch:
    def __init__(self, max_gap_s: float = MAX_PING_GAP_S) -> None:
        self.max_gap_s = max_gap_s
        self.quiet: set[str] = set()
        self._heard_at: dict[str, float] = {}
        self._resent_at: dict[str, float] = {}

    def heard(self, driver_id: str, now_s: float) -> None:
        """A position of `driver_id` arrived."""
        self._heard_at[driver_id] = now_s

    def check(self, busy: list[str], now_s: float) -> list[Silence]:
        """One round: the busy drivers quiet for too long now; returns those new to the set.
        A driver busy since this run began (never heard) counts from its first round."""
        quiet: set[str] = set()
        for driver_id in busy:
            heard = self._heard_at.setdefault(driver_id, now_s)
            if now_s - heard > self.max_gap_s:
                quiet.add(driver_id)
        new = [Silence(d, now_s - self._heard_at[d]) for d in sorted(quiet - self.quiet)]
        self.quiet = quiet
        return new

    def due_for_resend(self, now_s: float) -> list[str]:
        """Quiet drivers whose last position (or last resend) is old enough to send again."""
        due = []
        for driver_id in sorted(self.quiet):
            last_s = self._resent_at.get(driver_id, self._heard_at[driver_id])
            if now_s - last_s >= self.max_gap_s * RESEND_EVERY:
                due.append(driver_id)
        return due

    def resent(self, driver_id: str, now_s: float) -> None:
        self._resent_at[driver_id] = now_s


@dataclass(frozen=True, slots=True)
class DropIncrement:
    reason: str
    count: int
    earlier: bool  # counted by an earlier run (shown, but it was reported then)


@dataclass(slots=True)
class DropTally:
    seen: dict[str, int] | None = None  # None until the first update (the file's past)

    def update(self, counts: dict[str, int]) -> list[DropIncrement]:
        """The outbox's lifetime counts now; returns what grew since the last update. The first
        update's counts are the earlier runs'; a reason first seen later grew from zero."""
        if self.seen is None:
            self.seen = dict(counts)
            return [DropIncrement(reason, count, earlier=True) for reason, count in counts.items()]
        out: list[DropIncrement] = []
        for reason, count in counts.items():
            grown = count - self.seen.get(reason, 0)
            if grown > 0:
                out.append(DropIncrement(reason, grown, earlier=False))
            self.seen[reason] = count
        return out

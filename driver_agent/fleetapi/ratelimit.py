"""Rate-limit headers and retry waits: `RateLimit-*` / `Retry-After` in, seconds out.

Pure: the client hands in response headers (any case-insensitive mapping), the clock readings
and its `random.Random`; nothing here sleeps, reads the time or logs.

Header shapes understood (draft-polli-ratelimit-headers-02, which Bringg's rate-limit page cites):
`RateLimit-Limit: 100` or `100, 100;w=60` (the first item counts), `RateLimit-Remaining: 42`,
`RateLimit-Reset: 17` (delta seconds). The combined form of later drafts,
`RateLimit: limit=100, remaining=42, reset=17`, is read too. `Retry-After` is delta seconds or an
HTTP-date.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import random
    from collections.abc import Mapping


@dataclass(frozen=True, slots=True)
class RateLimitBudget:
    """The server's remaining request budget, as the latest response reported it.

    `observed_at` is the client clock's `monotonic()` when the response arrived, so the budget
    refills at `observed_at + reset_s`.
    """

    limit: int | None
    remaining: int | None
    reset_s: float | None
    observed_at: float

    @property
    def exhausted(self) -> bool:
        return self.remaining is not None and self.remaining <= 0

    def resets_at(self) -> float | None:
        """Monotonic time at which the window resets, if the server said."""
        return None if self.reset_s is None else self.observed_at + self.reset_s


def _first_int(value: str | None) -> int | None:
    """`100` or `100, 100;w=60` -> 100; anything unreadable -> None (headers are advisory)."""
    if value is None:
        return None
    head = value.split(",", 1)[0].split(";", 1)[0].strip()
    try:
        number = int(head)
    except ValueError:
        return None
    return number if number >= 0 else None


def _seconds(value: str | None) -> float | None:
    if value is None:
        return None
    head = value.split(",", 1)[0].split(";", 1)[0].strip()
    try:
        number = float(head)
    except ValueError:
        return None
    return number if math.isfinite(number) and number >= 0 else None


def _combined(value: str) -> dict[str, str]:
    """`limit=100, remaining=42, reset=17` -> {"limit": "100", ...}."""
    items: dict[str, str] = {}
    for part in value.split(","):
        key, sep, item = part.partition("=")
        if sep:
            items[key.strip().lower()] = item.strip().strip('"')
    return items


def parse_rate_limit(headers: Mapping[str, str], observed_at: float) -> RateLimitBudget | None:
    """The budget the headers announce, or None when the response carries no RateLimit fields."""
    limit_raw = headers.get("ratelimit-limit")
    remaining_raw = headers.get("ratelimit-remaining")
    reset_raw = headers.get("ratelimit-reset")
    if limit_raw is None and remaining_raw is None and reset_raw is None:
        combined_raw = headers.get("ratelimit")
        if combined_raw is None:
            return None
        combined = _combined(combined_raw)
        limit_raw = combined.get("limit")
        remaining_raw = combined.get("remaining")
        reset_raw = combined.get("reset")
    limit = _first_int(limit_raw)
    remaining = _first_int(remaining_raw)
    reset_s = _seconds(reset_raw)
    if limit is None and remaining is None and reset_s is None:
        return None
    return RateLimitBudget(limit, remaining, reset_s, observed_at)


def parse_retry_after(value: str | None, now_epoch_s: float) -> float | None:
    """Seconds to wait from a `Retry-After` value: delta seconds or an HTTP-date.

    `now_epoch_s` is the moment the date is measured from (the response's `Date` header when it
    has one). Past dates give 0; unreadable values give None.
    """
    if value is None:
        return None
    text = value.strip()
    if not text:
        return None
    if text.isdigit():
        return float(text)
    seconds = _seconds(text)
    if seconds is not None:
        return seconds
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        return None
    return max(when.timestamp() - now_epoch_s, 0.0)


def http_date_epoch_s(value: str | None) -> float | None:
    """The epoch seconds of an HTTP `Date` header, or None."""
    if not value:
        return None
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    return None if when.tzinfo is None else when.timestamp()


def server_wait_s(
    retry_after: str | None, budget: RateLimitBudget | None, now_epoch_s: float
) -> float | None:
    """The least wait the server asked for: `Retry-After`, and the reset of an exhausted budget."""
    wait_s = parse_retry_after(retry_after, now_epoch_s)
    if budget is not None and budget.exhausted and budget.reset_s is not None:
        wait_s = budget.reset_s if wait_s is None else max(wait_s, budget.reset_s)
    return wait_s


def backoff_s(
    attempt: int,
    *,
    base_s: float,
    cap_s: float,
    rng: random.Random,
    server_wait_s: float | None = None,
) -> float:
    """Wait before retry number `attempt` (1 for the first retry): capped exponential back-off
    with full jitter, never shorter than what the server asked for (`server_wait_s`).
    """
    if attempt < 1:
        raise ValueError(f"attempt must be >= 1, got {attempt}")
    ceiling_s = min(cap_s, base_s * 2.0 ** min(attempt - 1, 62))
    wait_s = rng.uniform(0.0, ceiling_s)
    if server_wait_s is not None and server_wait_s > wait_s:
        wait_s = server_wait_s
    return wait_s

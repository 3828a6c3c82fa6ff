"""Request pacing for a fleet: an optional global rate cap and the API's rate-limit budget.

Pure. `RatePacer` is a GCRA (virtual scheduling) cap: each request reserves the next slot;
lifecycle calls (assign, start, check-in, notes, check-out, complete, cancel) never wait, they
only push the slots on, so location updates yield to them. `ping_due` decides, when the API's
`RateLimit-Remaining` runs short, which location updates still have to go: only those without
which a busy driver's gap would pass the 30 s rule. So the budget goes to lifecycle calls first
and Bringg's cadence rule second, and idle pings are dropped.
"""

from __future__ import annotations

from driver_agent.core.model import MAX_PING_GAP_S
from driver_agent.fleetapi.ratelimit import RateLimitBudget


class RatePacer:
    """At most `rate_per_s` requests per real second on average, bursts up to `burst`."""

    def __init__(self, rate_per_s: float, burst: int = 10) -> None:
        self.rate_per_s = rate_per_s
        self._step_s = 1.0 / rate_per_s if rate_per_s > 0 else 0.0
        self._burst_s = burst * self._step_s
        self._next_s = 0.0  # theoretical arrival time of the next request

    def delay_s(self, now_s: float, *, lifecycle: bool) -> float:
        """Real seconds this request must wait before it goes (0 for lifecycle calls)."""
        if self._step_s == 0.0:
            return 0.0
        slot = max(self._next_s, now_s)
        self._next_s = slot + self._step_s
        if lifecycle:
            return 0.0
        return max(slot - now_s - self._burst_s, 0.0)


def budget_short(budget: RateLimitBudget | None, reserve_ratio: float) -> bool:
    """True when the API's remaining budget is within the reserve kept for lifecycle calls."""
    if budget is None or budget.remaining is None:
        return False
    if budget.limit:
        return budget.remaining <= budget.limit * reserve_ratio
    return budget.remaining <= 0


def ping_due(
    budget: RateLimitBudget | None,
    reserve_ratio: float,
    last_sent_s: float | None,
    now_s: float,
    interval_s: float,
    max_gap_s: float = MAX_PING_GAP_S,
) -> bool:
    """Must this busy driver's location update go out now? Always, unless the budget is short;
    then only if skipping it would let the gap since the last one pass `max_gap_s`."""
    if not budget_short(budget, reserve_ratio) or last_sent_s is None:
        return True
    return now_s + interval_s - last_sent_s > max_gap_s

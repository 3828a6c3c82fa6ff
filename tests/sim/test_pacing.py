"""Pacing: a rate cap that lifecycle calls never wait for, and a budget that keeps the 30 s rule."""

from __future__ import annotations

import pytest

from driver_agent.fleetapi.ratelimit import RateLimitBudget
from driver_agent.sim.pacing import RatePacer, budget_short, ping_due


def budget(remaining: int | None, limit: int | None = 100) -> RateLimitBudget:
    return RateLimitBudget(limit=limit, remaining=remaining, reset_s=10.0, observed_at=0.0)


def test_the_rate_cap_spaces_pings_after_the_burst() -> None:
    pacer = RatePacer(rate_per_s=10.0, burst=2)
    delays = [pacer.delay_s(0.0, lifecycle=False) for _ in range(6)]
    assert delays == pytest.approx([0.0, 0.0, 0.0, 0.1, 0.2, 0.3])


def test_lifecycle_calls_never_wait_but_push_pings_back() -> None:
    pacer = RatePacer(rate_per_s=10.0, burst=0)
    assert [pacer.delay_s(0.0, lifecycle=True) for _ in range(5)] == [0.0] * 5
    assert pacer.delay_s(0.0, lifecycle=False) == pytest.approx(0.5)


def test_no_cap_means_no_wait() -> None:
    assert RatePacer(0.0).delay_s(5.0, lifecycle=False) == 0.0


@pytest.mark.parametrize(
    ("remaining", "limit", "short"),
    [(None, 100, False), (50, 100, False), (10, 100, True), (0, None, True), (3, None, False)],
)
def test_budget_is_short_within_the_reserve(
    remaining: int | None, limit: int | None, short: bool
) -> None:
    assert budget_short(budget(remaining, limit), reserve_ratio=0.1) is short


@pytest.mark.parametrize(
    ("remaining", "since_last_s", "due"),
    [
        (90, 10.0, True),  # plenty of budget: every ping goes
        (5, 10.0, False),  # short: a ping 10 s after the last may wait
        (5, 20.0, False),  # 20 + 10 = 30 s: still within the rule
        (5, 20.5, True),  # skipping it would let the gap pass 30 s
    ],
)
def test_a_short_budget_sends_only_the_pings_that_keep_the_30_s_rule(
    remaining: int, since_last_s: float, due: bool
) -> None:
    assert ping_due(budget(remaining), 0.1, 100.0, 100.0 + since_last_s, 10.0) is due

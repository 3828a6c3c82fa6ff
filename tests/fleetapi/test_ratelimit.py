"""Tests for driver_agent.fleetapi.ratelimit: header parsing and the retry wait."""

from __future__ import annotations

import random

import pytest

from driver_agent.fleetapi.ratelimit import (
    RateLimitBudget,
    backoff_s,
    http_date_epoch_s,
    parse_rate_limit,
    parse_retry_after,
    server_wait_s,
)

NOW = 1_700_000_000.0  # 2023-11-14T22:13:20Z


class Headers(dict[str, str]):
    """A case-insensitive header mapping, as httpx.Headers is."""

    def __init__(self, **items: str) -> None:
        super().__init__({k.replace("_", "-").lower(): v for k, v in items.items()})


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        pytest.param(
            Headers(ratelimit_limit="100", ratelimit_remaining="42", ratelimit_reset="17"),
            (100, 42, 17.0),
            id="draft-02 triple",
        ),
        pytest.param(
            Headers(ratelimit_limit="100, 100;w=60, 1000;w=3600", ratelimit_remaining="0"),
            (100, 0, None),
            id="limit with quota policies, first item counts",
        ),
        pytest.param(
            Headers(ratelimit="limit=50, remaining=3, reset=9"),
            (50, 3, 9.0),
            id="combined header",
        ),
        pytest.param(
            Headers(ratelimit_remaining="7", ratelimit_reset="2.5"),
            (None, 7, 2.5),
            id="no limit header",
        ),
        pytest.param(
            Headers(ratelimit_limit="lots", ratelimit_remaining="-1", ratelimit_reset="soon"),
            None,
            id="garbage is ignored",
        ),
        pytest.param(Headers(content_type="application/json"), None, id="no rate limit fields"),
    ],
)
def test_rate_limit_headers_parse_into_a_budget(
    headers: Headers, expected: tuple[int | None, int | None, float | None] | None
) -> None:
    budget = parse_rate_limit(headers, observed_at=12.0)
    if expected is None:
        assert budget is None
    else:
        assert budget == RateLimitBudget(*expected, observed_at=12.0)


def test_budget_knows_when_it_is_exhausted_and_when_it_resets() -> None:
    assert RateLimitBudget(10, 0, 5.0, observed_at=100.0).exhausted
    assert not RateLimitBudget(10, 1, 5.0, observed_at=100.0).exhausted
    assert not RateLimitBudget(10, None, 5.0, observed_at=100.0).exhausted
    assert RateLimitBudget(10, 0, 5.0, observed_at=100.0).resets_at() == 105.0
    assert RateLimitBudget(10, 0, None, observed_at=100.0).resets_at() is None


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        pytest.param("120", 120.0, id="delta seconds"),
        pytest.param(" 3 ", 3.0, id="padded"),
        pytest.param("1.5", 1.5, id="fractional seconds, lenient"),
        pytest.param("Tue, 14 Nov 2023 22:13:50 GMT", 30.0, id="http date in the future"),
        pytest.param("Tue, 14 Nov 2023 22:00:00 GMT", 0.0, id="http date in the past"),
        pytest.param("tomorrow", None, id="unreadable"),
        pytest.param("", None, id="empty"),
        pytest.param(None, None, id="absent"),
    ],
)
def test_retry_after_reads_seconds_or_an_http_date(
    value: str | None, expected: float | None
) -> None:
    assert parse_retry_after(value, NOW) == expected


def test_http_date_header_gives_epoch_seconds() -> None:
    assert http_date_epoch_s("Tue, 14 Nov 2023 22:13:20 GMT") == NOW
    assert http_date_epoch_s("not a date") is None
    assert http_date_epoch_s(None) is None


@pytest.mark.parametrize(
    ("retry_after", "budget", "expected"),
    [
        pytest.param("4", None, 4.0, id="retry-after alone"),
        pytest.param(None, RateLimitBudget(10, 0, 9.0, 0.0), 9.0, id="exhausted budget alone"),
        pytest.param("4", RateLimitBudget(10, 0, 9.0, 0.0), 9.0, id="larger of the two"),
        pytest.param("12", RateLimitBudget(10, 0, 9.0, 0.0), 12.0, id="retry-after larger"),
        pytest.param(None, RateLimitBudget(10, 3, 9.0, 0.0), None, id="budget left, no floor"),
        pytest.param(None, None, None, id="nothing asked"),
    ],
)
def test_server_wait_is_the_largest_wait_the_server_asked_for(
    retry_after: str | None, budget: RateLimitBudget | None, expected: float | None
) -> None:
    assert server_wait_s(retry_after, budget, NOW) == expected


def test_backoff_grows_exponentially_up_to_the_cap_with_full_jitter() -> None:
    rng = random.Random(7)
    for attempt, ceiling_s in [(1, 0.5), (2, 1.0), (3, 2.0), (4, 4.0), (8, 30.0), (200, 30.0)]:
        waits = [backoff_s(attempt, base_s=0.5, cap_s=30.0, rng=rng) for _ in range(200)]
        assert all(0.0 <= wait <= ceiling_s for wait in waits)
        assert max(waits) > ceiling_s * 0.8  # jitter spans the whole range
        assert min(waits) < ceiling_s * 0.2


def test_backoff_is_never_shorter_than_the_server_wait() -> None:
    rng = random.Random(1)
    waits = [backoff_s(1, base_s=0.5, cap_s=30.0, rng=rng, server_wait_s=5.0) for _ in range(50)]
    assert waits == [5.0] * 50
    assert backoff_s(1, base_s=0.5, cap_s=30.0, rng=rng, server_wait_s=120.0) == 120.0


def test_backoff_is_reproducible_from_the_seed() -> None:
    first = [backoff_s(3, base_s=1.0, cap_s=10.0, rng=random.Random(42)) for _ in range(3)]
    again = [backoff_s(3, base_s=1.0, cap_s=10.0, rng=random.Random(42)) for _ in range(3)]
    assert first == again


def test_backoff_refuses_attempt_zero() -> None:
    with pytest.raises(ValueError, match="attempt"):
        backoff_s(0, base_s=1.0, cap_s=10.0, rng=random.Random(0))

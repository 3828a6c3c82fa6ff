"""Numbers for people: separators, digits by size, dashes for no data."""

from __future__ import annotations

import math

import pytest

from driver_agent.report.fmt import fmt_actual, fmt_num, fmt_pct


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (None, "-"), (math.nan, "-"), (math.inf, "-"), (0.0, "0.0"), (0, "0.0"), (1.25, "1.2"),
        (99.96, "100.0"), (100.0, "100"), (1234.5, "1,234"), (-2_500.0, "-2,500"),
        (0.01234, "0.0123"), (-0.5, "-0.5"),
    ],
)  # fmt: skip
def test_fmt_num_fits_the_digits_to_the_size(value: float | None, text: str) -> None:
    assert fmt_num(value) == text


def test_fmt_num_takes_more_digits_when_asked() -> None:
    assert fmt_num(4.2, 2) == "4.20"


@pytest.mark.parametrize(
    ("value", "text"), [(None, "-"), (0.0, "0.00%"), (4 / 420, "0.95%"), (1.0, "100.00%")]
)
def test_fmt_pct_shows_a_ratio_as_percent(value: float | None, text: str) -> None:
    assert fmt_pct(value) == text


@pytest.mark.parametrize(("value", "text"), [(35.0, "35"), (0.00951, "0.00951"), (1234.56, "1235")])
def test_fmt_actual_keeps_four_significant_digits(value: float, text: str) -> None:
    assert fmt_actual(value) == text

"""SVG charts: round ticks, gaps in lines, bars per series, no data, everything escaped."""

from __future__ import annotations

import re

import pytest

from driver_agent.report.chart import _ticks, bar_chart, line_chart


@pytest.mark.parametrize(
    ("hi", "ticks"),
    [
        (10.0, [0.0, 2.0, 4.0, 6.0, 8.0, 10.0]),
        (7.3, [0.0, 2.0, 4.0, 6.0, 8.0]),
        (0.0, [0.0, 0.2, 0.4, 0.6, 0.8, 1.0]),
        (1234.0, [0.0, 250.0, 500.0, 750.0, 1000.0, 1250.0]),
    ],
)
def test_ticks_are_round_steps_from_zero_past_the_top(hi: float, ticks: list[float]) -> None:
    assert _ticks(hi) == ticks


def test_a_line_chart_breaks_its_line_where_a_value_is_missing() -> None:
    svg = line_chart("lat", "t, s", "ms", [("p50", "#000", [(0, 1.0), (1, None), (2, 3.0)])])
    [path] = re.findall(r'<path class="series" data-series="p50" d="([^"]*)"', svg)
    assert path.count("M") == 2  # two pieces, no line across the gap
    assert "L" not in path
    assert 'aria-label="lat"' in svg
    assert ">t, s</text>" in svg


def test_a_line_chart_without_values_says_no_data() -> None:
    svg = line_chart("lat", "t", "ms", [("p50", "#000", [(0, None)])])
    assert ">no data</text>" in svg
    assert 'class="series"' not in svg


def test_a_bar_chart_draws_one_bar_per_series_and_category_with_a_value() -> None:
    svg = bar_chart(
        "stages", "s", ["a", "b"], [("p50", "#111", [1.0, 2.0]), ("p95", "#222", [3.0, None])]
    )
    bars = re.findall(r'<rect class="bar" data-series="(\w+)"', svg)
    assert bars == ["p50", "p95", "p50"]
    assert "<title>a p95: 3.00</title>" in svg


def test_a_bar_chart_without_categories_says_no_data() -> None:
    assert ">no data</text>" in bar_chart("stages", "s", [], [("p50", "#111", [])])


def test_chart_text_is_escaped() -> None:
    evil = "<b>&"
    svg = bar_chart(evil, evil, [evil], [(evil, "#111", [1.0])])
    assert evil not in svg
    assert "&lt;b&gt;&amp;" in svg


def test_a_legend_too_wide_for_one_row_wraps_and_the_chart_grows() -> None:
    names = ["update_driver_location", "create_note", "checkin", "checkout", "assign_driver"]
    names += ["end_task", "others"]
    series = [(name, "#000", [(0.0, 1.0), (1.0, 2.0)]) for name in names]
    svg = line_chart("by endpoint", "t", "req/s", series)
    keys = [
        (float(x), int(y)) for x, y in re.findall(r'<rect class="key" x="([\d.-]+)" y="(\d+)"', svg)
    ]
    assert len(keys) == len(names)
    assert min(x for x, _ in keys) >= 60  # none starts left of the plot
    assert sorted({y for _, y in keys}) == [8, 24]  # two rows
    assert 'viewBox="0 0 640 276"' in svg  # one row taller
    short = line_chart("two", "t", "req/s", series[:2])
    assert 'viewBox="0 0 640 260"' in short
    assert {y for y in re.findall(r'<rect class="key" x="[\d.-]+" y="(\d+)"', short)} == {"8"}

"""The live view of a run: its figures, a status line on a terminal, log lines elsewhere."""

from __future__ import annotations

import io
from typing import Any

import pytest
from structlog.testing import capture_logs

from driver_agent.core import logs
from driver_agent.core.clock import VirtualClock
from driver_agent.metrics.stats import StatsCollector
from driver_agent.report.progress import ProgressView
from driver_agent.sim.fleet import FleetProgress


class _Fleet:
    def __init__(self) -> None:
        self.outcomes: dict[str, int] = {"completed": 3, "cancelled": 1}

    def progress(self) -> FleetProgress:
        return FleetProgress(
            orders_seen=6, orders_final=4, orders_expected=10, drivers_started=5,
            drivers_busy=2, driver_errors=0, relocations=0, outcomes=self.outcomes,
        )  # fmt: skip


class _Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def _view(out: io.StringIO) -> tuple[ProgressView, StatsCollector, VirtualClock]:
    stats = StatsCollector()
    clock = VirtualClock(start=1_000.0)
    fleet: Any = _Fleet()
    return ProgressView(fleet, stats, clock, out, started_real=0.0), stats, clock


def test_figures_show_orders_rate_errors_latency_and_the_worst_gap() -> None:
    view, stats, clock = _view(io.StringIO())
    for i in range(20):
        stats.record_call("checkin", 10.0 + i, "ApiUnavailable" if i < 2 else None, at_s=i / 10)
    stats.record_call("checkout", 500.0, None, at_s=1.0)
    stats.driver_busy("d-1", True, at_ms=0)
    stats.record_ping("d-1", 31_000, lateness_ms=0.0)
    clock.advance(2.0)
    figures = view.figures()
    assert figures == {
        "orders_done": 3,
        "orders_final": 4,
        "orders_total": 10,
        "drivers_busy": 2,
        "drivers": 5,
        "requests_per_s": 10.5,  # 21 calls over 2 s
        "errors": 2,
        "p95_ms": figures["p95_ms"],
        "worst_ping_gap_s": 31.0,
        "elapsed_s": 2.0,
    }
    assert figures["p95_ms"] == pytest.approx(500.0, rel=0.01)  # the worst endpoint's
    clock.advance(1.0)
    assert view.figures()["requests_per_s"] == 0.0  # nothing new since the last look


def test_off_a_terminal_progress_goes_to_the_log() -> None:
    out = io.StringIO()
    view, _, _ = _view(out)
    with capture_logs() as captured:
        view.show()
        view.finish()
    assert [entry["event"] for entry in captured] == ["run_progress"]
    assert captured[0]["orders_done"] == 3
    assert out.getvalue() == ""


def test_on_a_terminal_without_log_lines_the_status_line_is_rewritten_in_place(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(logs, "terminal", lambda: None)
    out = _Tty()
    view, _, _ = _view(out)
    view.show()
    view.show()
    view.finish()
    text = out.getvalue()
    assert text.count(logs.CLEAR_LINE) == 2
    assert "orders 3/10 done  busy 2/5" in text
    assert text.endswith("\n")

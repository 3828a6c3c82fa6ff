"""sandbox.clock: sandbox time starts where asked and only moves forward."""

from __future__ import annotations

import pytest

from driver_agent.sandbox.clock import SandboxClock

START_S = 1_767_225_600.0


def test_the_clock_starts_where_asked_and_advances_by_exactly_the_amount() -> None:
    clock = SandboxClock(START_S)
    assert clock.now() >= START_S
    offset = clock.offset_s
    clock.advance(86_400)
    assert clock.offset_s == offset + 86_400
    assert clock.now() >= START_S + 86_400


def test_the_clock_refuses_to_go_back() -> None:
    clock = SandboxClock()
    with pytest.raises(ValueError, match="only moves forward"):
        clock.advance(-1)
    assert clock.offset_s == 0.0

"""Sandbox time: the wall clock plus an offset that `POST /_sandbox/clock` moves forward, and
the real waits of delay faults (the one place the sandbox sleeps)."""

from __future__ import annotations

import time

import anyio


def _wall_clock_s() -> float:
    return time.time()  # noqa: TID251 - the sandbox clock's one reading of wall time


class SandboxClock:
    """Sandbox time: wall-clock time plus an offset that `POST /_sandbox/clock` moves forward."""

    def __init__(self, start_s: float | None = None) -> None:
        self._offset_s = 0.0 if start_s is None else start_s - _wall_clock_s()

    def now(self) -> float:
        return _wall_clock_s() + self._offset_s

    @property
    def offset_s(self) -> float:
        return self._offset_s

    def advance(self, seconds: float) -> None:
        if seconds < 0:
            raise ValueError("the sandbox clock only moves forward")
        self._offset_s += seconds

    async def sleep(self, seconds: float) -> None:
        """Wait `seconds` of real time (a delay fault); a test's clock records it instead."""
        await anyio.sleep(seconds)

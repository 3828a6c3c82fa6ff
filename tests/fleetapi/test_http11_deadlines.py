"""`ReadDeadlines`: one sweeping timer ends the read timeouts of all requests in flight."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import cast

import pytest

from driver_agent.fleetapi.http11_connection import SWEEP_S, ReadDeadlines
from driver_agent.fleetapi.http11_parser import Answer


class Handle:
    def cancel(self) -> None:
        pass


class FakeLoop:
    """time() and call_later() on a hand-moved clock: the test fires the timers itself."""

    def __init__(self) -> None:
        self.now = 100.0
        self.timers: list[tuple[float, Callable[[], None]]] = []

    def time(self) -> float:
        return self.now

    def call_later(self, delay: float, callback: Callable[[], None]) -> asyncio.TimerHandle:
        self.timers.append((self.now + delay, callback))
        return cast(asyncio.TimerHandle, Handle())

    def advance_to(self, t: float) -> None:
        self.now = t
        due = [cb for at, cb in self.timers if at <= t]
        self.timers = [(at, cb) for at, cb in self.timers if at > t]
        for callback in due:
            callback()


def futures(n: int) -> list[asyncio.Future[Answer]]:
    loop = asyncio.get_running_loop()
    return [loop.create_future() for _ in range(n)]


async def test_an_expired_read_fails_with_timeout_never_before_its_deadline() -> None:
    fake = FakeLoop()
    loop = cast(asyncio.AbstractEventLoop, fake)
    deadlines = ReadDeadlines()
    short, long = futures(2)
    deadlines.add(loop, short, 1.0)
    deadlines.add(loop, long, 5.0)
    assert len(fake.timers) == 1  # one timer for both
    for t in (100.0 + SWEEP_S, 100.99):  # sweeps before the deadline leave it alone
        fake.advance_to(t)
        assert not short.done()
    fake.advance_to(101.0 + SWEEP_S)
    assert short.done()
    assert isinstance(short.exception(), TimeoutError)
    assert not long.done()
    assert len(fake.timers) == 1  # still sweeping: one request waits


async def test_answered_or_removed_reads_are_left_alone_and_the_sweep_stops() -> None:
    fake = FakeLoop()
    loop = cast(asyncio.AbstractEventLoop, fake)
    deadlines = ReadDeadlines()
    answered, removed = futures(2)
    deadlines.add(loop, answered, 1.0)
    deadlines.add(loop, removed, 1.0)
    answered.set_result(Answer(200, b"OK", [], b"{}", True))
    deadlines.remove(removed)
    fake.advance_to(102.0)
    assert answered.result().status == 200
    assert not removed.done()
    assert fake.timers == []  # nothing waits: no timer left


async def test_a_new_loop_starts_afresh() -> None:
    first, second = FakeLoop(), FakeLoop()
    deadlines = ReadDeadlines()
    (a,) = futures(1)
    deadlines.add(cast(asyncio.AbstractEventLoop, first), a, 1.0)
    (b,) = futures(1)
    deadlines.add(cast(asyncio.AbstractEventLoop, second), b, 1.0)
    assert len(second.timers) == 1
    second.advance_to(102.0)
    assert isinstance(b.exception(), TimeoutError)
    with pytest.raises(asyncio.InvalidStateError):
        a.result()  # the old loop's request is no longer tracked

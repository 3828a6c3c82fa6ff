"""The fleet session's cap on requests in flight: first come first served, cheap when free.

`InFlight(limit)` is entered around each HTTP attempt. Unlike `anyio.CapacityLimiter`, taking a
free slot is no scheduling point (no checkpoint, no cancel scope, no current-task lookup): the
request that follows waits on the network anyway, and on a busy fleet's location updates that
bookkeeping cost an eighth of the CPU. A release hands its slot straight to the oldest waiter; a
waiter cancelled after it was handed one passes it on. Any anyio backend.
"""

from __future__ import annotations

import asyncio
from collections import deque
from types import TracebackType
from typing import Protocol

import anyio


class Limiter(Protocol):
    """What the session needs of its in-flight cap (an `anyio.CapacityLimiter` fits)."""

    @property
    def borrowed_tokens(self) -> int: ...

    async def __aenter__(self) -> None: ...

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...


class _Waiter:
    """A queued holder: on asyncio a bare future (an anyio Event looks its backend up and
    wraps an asyncio.Event with a deque of its own), else an anyio Event."""

    __slots__ = ("event", "future", "handed")

    def __init__(self) -> None:
        loop = asyncio._get_running_loop()
        self.future: asyncio.Future[None] | None = None
        self.event: anyio.Event | None = None
        if loop is not None:
            self.future = loop.create_future()
        else:
            self.event = anyio.Event()
        self.handed = False

    async def wait(self) -> None:
        if self.future is not None:
            await self.future
        else:
            assert self.event is not None
            await self.event.wait()

    def wake(self) -> None:
        self.handed = True
        if self.future is not None:
            if not self.future.done():
                self.future.set_result(None)
        else:
            assert self.event is not None
            self.event.set()


class InFlight:
    """At most `limit` holders at once, served first come first served: the session's cap on
    requests in flight.

    Unlike `anyio.CapacityLimiter`, taking a free slot is no scheduling point (no checkpoint,
    no cancel scope, no current-task lookup): the request that follows waits on the network
    anyway, and on every location update of a busy fleet that bookkeeping cost an eighth of
    the CPU. A release hands its slot straight to the oldest waiter; a waiter cancelled after
    it was handed one passes it on."""

    __slots__ = ("_borrowed", "_limit", "_waiters")

    def __init__(self, limit: int) -> None:
        if limit < 1:
            raise ValueError(f"limit: {limit!r} must be at least 1")
        self._limit = limit
        self._borrowed = 0
        self._waiters: deque[_Waiter] = deque()

    @property
    def borrowed_tokens(self) -> int:
        return self._borrowed

    async def __aenter__(self) -> None:
        if self._borrowed < self._limit and not self._waiters:
            self._borrowed += 1
            return
        waiter = _Waiter()
        self._waiters.append(waiter)
        try:
            await waiter.wait()
        except BaseException:
            if waiter.handed:
                self._release()
            else:
                self._waiters.remove(waiter)
            raise

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._release()

    def _release(self) -> None:
        if self._waiters:
            self._waiters.popleft().wake()  # the slot goes to it: borrowed stays as it is
        else:
            self._borrowed -= 1

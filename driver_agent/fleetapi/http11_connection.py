"""One HTTP/1.1 socket of `Http11Transport`'s pool, as an asyncio protocol.

`data_received` feeds the answer's parser (`http11_parser`) and resolves the request's future
inside the callback; `connection_lost` settles it: a body delimited by the close is an answer,
a close after answer bytes began is `OutcomeUnknownError`, a close before any answer byte is
`ClosedBeforeAnswer` (the engine decides what that means: written or not). Writes honour
backpressure (`paused`, `drained()`). Bytes nobody waits for abort the socket.
"""

from __future__ import annotations

import asyncio

import httpx

from driver_agent.fleetapi.http11_parser import Answer, ResponseParser

PoolKey = tuple[bytes, str, int]  # (scheme, host, port)
SWEEP_S = 0.1  # a read timeout of `ReadDeadlines` ends at most this late, never early


class OutcomeUnknownError(httpx.RemoteProtocolError):
    """The request was written, then the connection died without a complete answer.

    The server may or may not have acted on it; the engine never resends such a request.
    """


class ClosedBeforeAnswer(Exception):
    """The connection closed (or was reset) after the request was written, before an answer."""


class Connection(asyncio.Protocol):
    """One socket. `data_received` feeds the answer's parser and resolves the request's future."""

    __slots__ = (
        "_drain",
        "_max_body",
        "_parser",
        "_waiter",
        "closed",
        "idle_since",
        "key",
        "loop",
        "paused",
        "transport",
        "uses",
    )

    def __init__(self, key: PoolKey, loop: asyncio.AbstractEventLoop, max_body: int) -> None:
        self.key = key
        self.loop = loop
        self._max_body = max_body
        self.transport: asyncio.Transport | None = None
        self.closed = False  # EOF, connection_lost, or closed by us: never reused
        self.paused = False  # the transport's write buffer is above its high-water mark
        self.uses = 0
        self.idle_since = 0.0
        self._parser: ResponseParser | None = None
        self._waiter: asyncio.Future[Answer] | None = None
        self._drain: asyncio.Future[None] | None = None

    # -- asyncio.Protocol -------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]  # uvloop's is not a subclass

    def data_received(self, data: bytes) -> None:
        waiter = self._waiter
        parser = self._parser
        if waiter is None or parser is None or waiter.done():
            self.abort()  # bytes nobody waits for: the connection is out of step
            return
        try:
            answer = parser.feed(data)
        except Exception as exc:  # a RemoteProtocolError; anything else is a bug, passed on as is
            self._waiter = None
            self.abort()
            waiter.set_exception(exc)
            return
        if answer is not None:
            self._waiter = None
            waiter.set_result(answer)

    def eof_received(self) -> bool:
        self.closed = True
        return False  # let the transport close; connection_lost settles the waiter

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        parser = self._parser
        if parser is not None:
            parser.close()
        drain, self._drain = self._drain, None
        if drain is not None and not drain.done():
            drain.set_result(None)  # the waiter carries the outcome
        waiter, self._waiter = self._waiter, None
        if waiter is None or waiter.done():
            return
        answer = parser.eof() if parser is not None else None
        if answer is not None:  # a body delimited by the close
            waiter.set_result(answer)
        elif parser is not None and parser.started:
            waiter.set_exception(
                OutcomeUnknownError("outcome unknown: the connection closed mid-answer")
            )
        else:
            detail = f" ({exc})" if exc is not None else ""
            waiter.set_exception(
                ClosedBeforeAnswer(f"the connection closed before any answer byte{detail}")
            )

    def pause_writing(self) -> None:
        self.paused = True

    def resume_writing(self) -> None:
        self.paused = False
        drain, self._drain = self._drain, None
        if drain is not None and not drain.done():
            drain.set_result(None)

    # -- requests ---------------------------------------------------------------------------

    def send(self, data: bytes, expect_body: bool) -> asyncio.Future[Answer] | None:
        """Write one request; its answer's future. None: the socket was closed, nothing written."""
        transport = self.transport
        if self.closed or transport is None or transport.is_closing():
            return None
        self.uses += 1
        parser = self._parser
        if parser is None:
            self._parser = ResponseParser(expect_body=expect_body, max_body_bytes=self._max_body)
        else:
            parser.begin(expect_body)
        waiter: asyncio.Future[Answer] = self.loop.create_future()
        self._waiter = waiter
        transport.write(data)
        return waiter

    def drained(self) -> asyncio.Future[None]:
        """Resolved when the write buffer falls below the low-water mark (or the socket closes)."""
        drain = self._drain
        if drain is None:
            drain = self.loop.create_future()
            if self.paused and not self.closed:
                self._drain = drain  # resume_writing or connection_lost resolves it
            else:
                drain.set_result(None)
        return drain

    def close(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.close()

    def abort(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.abort()


class ReadDeadlines:
    """The read timeouts of the requests in flight, checked every `SWEEP_S` by one loop timer:
    an expired one's answer future fails with TimeoutError, as its own timer did.

    A timer per request cost a heap push and a cancelled handle in the event loop's heap, which
    with long timeouts (seconds) at thousands of requests a second holds tens of thousands of
    them; here a request costs a dict entry."""

    __slots__ = ("_loop", "_timer", "_waiting")

    def __init__(self) -> None:
        self._loop: asyncio.AbstractEventLoop | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._waiting: dict[asyncio.Future[Answer], float] = {}

    def add(
        self, loop: asyncio.AbstractEventLoop, waiter: asyncio.Future[Answer], s: float
    ) -> None:
        """`waiter` fails with TimeoutError once `s` seconds passed (at most SWEEP_S later)."""
        if loop is not self._loop:  # a new loop (an engine reused across runs): start afresh
            if self._timer is not None:
                self._timer.cancel()
            self._loop, self._timer, self._waiting = loop, None, {}
        self._waiting[waiter] = loop.time() + s
        if self._timer is None:
            self._timer = loop.call_later(SWEEP_S, self._sweep)

    def remove(self, waiter: asyncio.Future[Answer]) -> None:
        self._waiting.pop(waiter, None)

    def _sweep(self) -> None:
        loop = self._loop
        assert loop is not None
        now = loop.time()
        waiting = self._waiting
        for waiter in [w for w, at in waiting.items() if at <= now]:
            del waiting[waiter]
            if not waiter.done():
                waiter.set_exception(TimeoutError())
        self._timer = loop.call_later(SWEEP_S, self._sweep) if waiting else None

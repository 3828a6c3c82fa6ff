"""`Http11Transport`: a small HTTP/1.1 keep-alive engine under the httpx API, on asyncio protocols.

Why it exists: the fleet sends many small JSON POSTs to one host. httpcore spends most of each
request in its pool bookkeeping and per-request stream objects, so httpx on it makes about a
fifth of Locust FastHttpUser's requests per CPU second; httpx-aiohttp about half. This engine
does only what that traffic needs, inside `data_received` callbacks, so the httpx API on top
keeps up with Locust (figures and method in `bench/README.md`).

What it does: HTTP/1.1 over TCP or TLS (the caller's `ssl.SSLContext`), one request at a time
per connection, keep-alive unless the answer says otherwise; 1xx interim answers skipped. A pool
shared by all hosts holds at most `max_connections`; callers beyond that queue in order.

What it guarantees:
- Framing per RFC 9112, by llhttp (httptools) plus our own rules (`http11_parser`): conflicting
  or duplicate Content-Length, Content-Length with Transfer-Encoding, any Transfer-Encoding but a
  single `chunked`, malformed or overlong chunk sizes, chunk data without its CRLF, bare LF,
  obs-fold, oversized heads or trailers and bytes beyond the answer are `httpx.RemoteProtocolError`;
  that socket is closed at once, never reused, and the caller gets the error at once.
- Response bodies above `max_response_bytes` raise `ResponseTooLargeError` (a RemoteProtocolError)
  and close the socket; at most the cap plus one socket read is ever held in memory.
- Idle keep-alive sockets older than `keepalive_expiry_s` (the loop's monotonic time) are closed
  instead of reused, checked when a socket is taken from the pool.
- Writes honour backpressure: above the transport's high-water mark a request waits for the
  buffer to drain, for at most httpx's write timeout (`httpx.WriteTimeout`).
- No silent duplicates: a request is sent again automatically only when it provably never left:
  the pooled socket was found closed (EOF or connection_lost seen, or the transport closing)
  before the bytes were written. Once written, a socket that dies without a complete answer
  (EOF, reset, closed mid-answer) ends the request with `OutcomeUnknownError`; a read timeout is
  `httpx.ReadTimeout` (the whole answer must arrive within the read timeout).

Errors are httpx's: ConnectError / ConnectTimeout / PoolTimeout (never sent), WriteTimeout,
ReadTimeout, RemoteProtocolError and its subclasses OutcomeUnknownError and ResponseTooLargeError
(sent, outcome unknown to us). asyncio only.
"""

from __future__ import annotations

import asyncio
import ssl
from collections import deque
from collections.abc import Callable, Mapping

import httpx

from driver_agent.fleetapi.http11_connection import (
    ClosedBeforeAnswer,
    Connection,
    OutcomeUnknownError,
    PoolKey,
    ReadDeadlines,
)
from driver_agent.fleetapi.http11_parser import Answer, ResponseTooLargeError

__all__ = [
    "Answer",
    "Http11Transport",
    "OutcomeUnknownError",
    "PoolKey",
    "ResponseTooLargeError",
]

DEFAULT_PORTS = {b"http": 80, b"https": 443}
DEFAULT_MAX_RESPONSE_BYTES = 1024 * 1024
DEFAULT_KEEPALIVE_EXPIRY_S = 5.0
MAX_STALE_RESENDS = 4  # sockets found closed before writing, in a row, before giving up
SHARED_TIMER_FROM_S = 1.0  # read timeouts this long share one sweeping timer (ReadDeadlines)


class Http11Transport(httpx.AsyncBaseTransport):
    """httpx transport: HTTP/1.1 keep-alive pool of at most `max_connections` sockets.

    `now` (seconds, monotonic) is the clock for keep-alive expiry; default the running loop's.
    """

    def __init__(
        self,
        *,
        ssl_context: ssl.SSLContext,
        max_connections: int,
        max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES,
        keepalive_expiry_s: float = DEFAULT_KEEPALIVE_EXPIRY_S,
        now: Callable[[], float] | None = None,
    ) -> None:
        if max_connections < 1:
            raise ValueError(f"max_connections must be >= 1, got {max_connections}")
        if max_response_bytes < 1:
            raise ValueError(f"max_response_bytes must be >= 1, got {max_response_bytes}")
        if not keepalive_expiry_s > 0:
            raise ValueError(f"keepalive_expiry_s must be > 0, got {keepalive_expiry_s}")
        self._ssl = ssl_context
        self._max = max_connections
        self._max_body = max_response_bytes
        self._expiry_s = keepalive_expiry_s
        self._now = now
        self._open = 0  # sockets open or being opened
        self._idle: dict[PoolKey, deque[Connection]] = {}  # oldest first
        self._waiters: deque[tuple[PoolKey, asyncio.Future[Connection | None]]] = deque()
        self._closed = False
        self._deadlines = ReadDeadlines()

    def statistics(self) -> dict[str, int]:
        """Open sockets, idle ones still usable, and callers queued for a socket."""
        idle = sum(1 for conns in self._idle.values() for conn in conns if not conn.closed)
        waiting = sum(1 for _, future in self._waiters if not future.done())
        return {"open": self._open, "idle": idle, "waiting": waiting}

    async def aclose(self) -> None:
        self._closed = True
        for conns in self._idle.values():
            for conn in conns:
                conn.close()
        self._idle.clear()
        while self._waiters:
            _, future = self._waiters.popleft()
            if not future.done():
                future.cancel()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        url = request.url
        try:
            body = request.content
        except httpx.RequestNotRead:
            body = await request.aread()
        parts = [request.method.encode("ascii"), b" ", url.raw_path, b" HTTP/1.1\r\n"]
        for name, value in request.headers.raw:
            parts += (name, b": ", value, b"\r\n")
        parts += (b"\r\n", body)
        answer = await self.exchange(
            self.pool_key(url, request),
            b"".join(parts),
            request.extensions.get("timeout", {}),
            lambda: request,
            expect_body=request.method != "HEAD",
        )
        return httpx.Response(
            answer.status,
            headers=answer.headers,
            stream=httpx.ByteStream(answer.body),  # httpx reads and closes it (sets .elapsed)
            extensions={"http_version": b"HTTP/1.1", "reason_phrase": answer.reason},
        )

    def pool_key(self, url: httpx.URL, request: httpx.Request | None = None) -> PoolKey:
        """(scheme, host, port) of an absolute http(s) URL; UnsupportedProtocol otherwise."""
        scheme = url.raw_scheme
        if scheme not in DEFAULT_PORTS or not url.host:
            raise httpx.UnsupportedProtocol(f"unsupported URL {url!s:.80}", request=request)
        return (scheme, url.host, url.port or DEFAULT_PORTS[scheme])

    async def exchange(
        self,
        key: PoolKey,
        data: bytes,
        timeouts: Mapping[str, float | None],
        request: Callable[[], httpx.Request],
        *,
        expect_body: bool = True,
    ) -> Answer:
        """Send one serialised request and read its answer; httpx errors on failure.

        `request` builds the httpx.Request that errors carry; it is called only on failure.
        """
        if self._closed:
            raise RuntimeError("the transport is closed")
        for _ in range(MAX_STALE_RESENDS):
            conn = await self._acquire(key, request, timeouts)
            waiter = conn.send(data, expect_body)
            if waiter is None:  # found closed before anything was written: provably never sent
                self._release(conn, False)
                continue
            answer: Answer | None = None
            written = True
            timer: asyncio.TimerHandle | None = None
            shared = False
            try:
                if conn.paused:
                    written = await self._drain(conn, waiter, timeouts.get("write"), request)
                read_s = timeouts.get("read")
                if read_s is not None and not waiter.done():
                    # a timer that fails the waiter, not asyncio.timeout (which cancels the
                    # task): the same end, a tenth of a busy fleet's CPU less; one timer for
                    # all requests unless the timeout is short
                    if read_s >= SHARED_TIMER_FROM_S:
                        self._deadlines.add(conn.loop, waiter, read_s)
                        shared = True
                    else:
                        timer = conn.loop.call_later(read_s, _time_out, waiter)
                answer = await waiter
            except TimeoutError:
                raise httpx.ReadTimeout(
                    "timed out waiting for the answer", request=request()
                ) from None
            except httpx.RemoteProtocolError as exc:  # framing, cap, outcome unknown
                exc.request = request()
                raise
            except ClosedBeforeAnswer as exc:
                raise OutcomeUnknownError(f"outcome unknown: {exc}", request=request()) from None
            finally:
                if timer is not None:
                    timer.cancel()
                elif shared:
                    self._deadlines.remove(waiter)
                if answer is None:
                    if not waiter.done():
                        waiter.cancel()
                    elif not waiter.cancelled():
                        waiter.exception()  # retrieved: the error raised here is its outcome
                self._release(conn, answer is not None and answer.keep_alive and written)
            return answer
        raise httpx.ConnectError(
            f"{key[1]}:{key[2]} closed {MAX_STALE_RESENDS} connections before a request could "
            "be written",
            request=request(),
        )

    async def _drain(
        self,
        conn: Connection,
        waiter: asyncio.Future[Answer],
        timeout_s: float | None,
        request: Callable[[], httpx.Request],
    ) -> bool:
        """Wait until the request is written (True) or answered early (False: not reused)."""
        drained = conn.drained()
        try:
            async with asyncio.timeout(timeout_s):
                await asyncio.wait((drained, waiter), return_when=asyncio.FIRST_COMPLETED)
        except TimeoutError:
            raise httpx.WriteTimeout(
                "timed out writing the request (the server is not reading)", request=request()
            ) from None
        return drained.done() and not conn.paused

    # -- the pool ---------------------------------------------------------------------------

    async def _acquire(
        self,
        key: PoolKey,
        request: Callable[[], httpx.Request],
        timeouts: Mapping[str, float | None],
    ) -> Connection:
        idle = self._idle.get(key)
        if idle:
            conn = self._take_idle(idle)
            if conn is not None:
                return conn
        if self._open >= self._max and not self._close_other_idle(key):
            future: asyncio.Future[Connection | None] = asyncio.get_running_loop().create_future()
            self._waiters.append((key, future))
            try:
                async with asyncio.timeout(timeouts.get("pool")):
                    handed = await future
            except BaseException as exc:
                if future.done() and not future.cancelled():
                    self._give_back(future.result())
                else:
                    future.cancel()
                if isinstance(exc, TimeoutError):
                    raise httpx.PoolTimeout(
                        "no connection free in time", request=request()
                    ) from None
                raise
            if handed is not None:
                return handed
        else:
            self._open += 1
        try:
            return await self._connect(key, request, timeouts.get("connect"))
        except BaseException:
            self._give_back(None)
            raise

    def _take_idle(self, idle: deque[Connection]) -> Connection | None:
        """The most recently used live socket; expired and closed ones are closed and dropped."""
        oldest_allowed = self._time(idle[0]) - self._expiry_s
        while idle and idle[0].idle_since < oldest_allowed:  # sweep the expired, oldest first
            idle.popleft().close()
            self._open -= 1
        while idle:
            conn = idle.pop()
            if not conn.closed:
                return conn
            self._open -= 1
        return None

    def _time(self, conn: Connection) -> float:
        """Monotonic seconds: the injected clock, else the connection's event loop's."""
        return self._now() if self._now is not None else conn.loop.time()

    def _close_other_idle(self, key: PoolKey) -> bool:
        """At the cap with idle sockets to other hosts: close one, keeping the slot."""
        for other, conns in self._idle.items():
            if other != key and conns:
                conns.popleft().close()
                self._open -= 1
                return True
        return False

    async def _connect(
        self, key: PoolKey, request: Callable[[], httpx.Request], timeout_s: float | None
    ) -> Connection:
        scheme, host, port = key
        tls = scheme == b"https"
        loop = asyncio.get_running_loop()
        conn = Connection(key, loop, self._max_body)
        try:
            async with asyncio.timeout(timeout_s):
                await loop.create_connection(
                    lambda: conn,
                    host,
                    port,
                    ssl=self._ssl if tls else None,
                    server_hostname=host if tls else None,
                )
        except TimeoutError:
            raise httpx.ConnectTimeout(
                f"connecting to {host}:{port} timed out", request=request()
            ) from None
        except OSError as exc:  # refused, unreachable, DNS, TLS (ssl.SSLError is an OSError)
            detail = str(exc) or type(exc).__name__
            raise httpx.ConnectError(f"{host}:{port}: {detail}", request=request()) from None
        return conn

    def _release(self, conn: Connection, keep: bool) -> None:
        if keep and not conn.closed and not self._closed:
            self._give_back(conn)
            return
        if not conn.closed:
            conn.abort()
        self._give_back(None)

    def _give_back(self, conn: Connection | None) -> None:
        """Hand a socket (or, with None, a free slot) to the first waiter that can use it."""
        waiters = self._waiters
        while waiters:
            key, future = waiters[0]
            if future.done():
                waiters.popleft()
                continue
            if conn is not None and conn.key != key:
                conn.close()
                conn = None
            waiters.popleft()
            future.set_result(conn)
            return
        if conn is None:
            self._open -= 1
            return
        conn.idle_since = self._time(conn)
        idle = self._idle.get(conn.key)
        if idle is None:
            idle = self._idle[conn.key] = deque()
        idle.append(conn)


def _time_out(waiter: asyncio.Future[Answer]) -> None:
    """The read timeout: the answer did not come in time."""
    if not waiter.done():
        waiter.set_exception(TimeoutError())

"""`Http11Transport`: a small HTTP/1.1 keep-alive engine under the httpx API, on asyncio protocols.

Why it exists: the fleet sends many small JSON POSTs to one host. httpcore spends most of each
request in its pool bookkeeping and per-request stream objects, so httpx on it makes about a
fifth of Locust FastHttpUser's requests per CPU second; httpx-aiohttp about half. This engine
does only what that traffic needs, inside `data_received` callbacks, so the httpx API on top
keeps up with Locust (figures and method in `bench/README.md`).

What it does: HTTP/1.1 over TCP or TLS (the caller's `ssl.SSLContext`), one request at a time
per connection, keep-alive unless the server says `Connection: close`; bodies by Content-Length,
chunked, or read to close; 1xx interim answers skipped. A pool shared by all hosts holds at most
`max_connections`; callers beyond that queue in order. A request that finds its reused
connection closed by the server before any answer byte is sent once more on a new connection.
Response bodies are read whole (the API answers small JSON), so streaming reads get them at once.

Errors are httpx's: ConnectError / ConnectTimeout, PoolTimeout, ReadTimeout, WriteError,
RemoteProtocolError (a malformed answer or a connection closed mid-answer). asyncio only.
"""

from __future__ import annotations

import asyncio
import ssl
from collections import deque
from collections.abc import Callable, Mapping

import httpx

MAX_HEAD_BYTES = 64 * 1024
DEFAULT_PORTS = {b"http": 80, b"https": 443}
NO_BODY_STATUSES = frozenset({204, 304})

PoolKey = tuple[bytes, str, int]
_Raw = list[tuple[bytes, bytes]]


class Answer:
    """A parsed response: status, reason, raw headers, body, and whether to keep the socket."""

    __slots__ = ("body", "headers", "keep_alive", "reason", "status")

    def __init__(
        self, status: int, reason: bytes, headers: _Raw, body: bytes, keep_alive: bool
    ) -> None:
        self.status = status
        self.reason = reason
        self.headers = headers
        self.body = body
        self.keep_alive = keep_alive


class _ProtocolViolation(Exception):
    pass


class _Connection(asyncio.Protocol):
    """One socket. `data_received` parses the answer and resolves the waiting request's future."""

    __slots__ = (
        "_buffer",
        "_chunk_at",
        "_chunks",
        "_expect_body",
        "_head",
        "_length",
        "_to_close",
        "_waiter",
        "closed",
        "key",
        "received",
        "transport",
        "uses",
    )

    def __init__(self, key: PoolKey) -> None:
        self.key = key
        self.transport: asyncio.Transport | None = None
        self.closed = False
        self.uses = 0
        self.received = False  # any byte of the current answer arrived
        self._buffer = bytearray()
        self._waiter: asyncio.Future[Answer] | None = None
        self._head: tuple[int, bytes, _Raw, bool] | None = None  # status, reason, headers, keep
        self._length = -1  # body bytes expected; -1 chunked; -2 read to close
        self._to_close = False
        self._chunks: list[bytes] = []
        self._chunk_at = 0
        self._expect_body = True

    # -- asyncio.Protocol -------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]  # uvloop's is not a subclass

    def data_received(self, data: bytes) -> None:
        self.received = True
        self._buffer += data
        waiter = self._waiter
        if waiter is None or waiter.done():
            self.close()  # bytes nobody asked for: the connection is out of step
            return
        try:
            answer = self._parse()
        except _ProtocolViolation as exc:
            self.close()
            waiter.set_exception(exc)
            return
        if answer is not None:
            self._waiter = None
            waiter.set_result(answer)

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        waiter, self._waiter = self._waiter, None
        if waiter is None or waiter.done():
            return
        if self._head is not None and self._length == -2:  # body delimited by the close
            status, reason, headers, _ = self._head
            waiter.set_result(Answer(status, reason, headers, bytes(self._buffer), False))
        else:
            waiter.set_exception(ConnectionResetError("server closed the connection"))

    # -- requests ---------------------------------------------------------------------------

    def send(self, data: bytes, expect_body: bool) -> asyncio.Future[Answer]:
        assert self.transport is not None
        self.uses += 1
        self.received = False
        self._buffer.clear()
        self._head = None
        self._chunks.clear()
        self._chunk_at = 0
        self._expect_body = expect_body
        waiter: asyncio.Future[Answer] = asyncio.get_running_loop().create_future()
        self._waiter = waiter
        self.transport.write(data)
        return waiter

    def close(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.close()

    def abort(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.abort()

    # -- parsing ----------------------------------------------------------------------------

    def _parse(self) -> Answer | None:
        buffer = self._buffer
        while self._head is None:
            end = buffer.find(b"\r\n\r\n")
            if end < 0:
                if len(buffer) > MAX_HEAD_BYTES:
                    raise _ProtocolViolation("response head too large")
                return None
            self._read_head(bytes(buffer[:end]))
            del buffer[: end + 4]
        status, reason, headers, keep_alive = self._head
        length = self._length
        if length >= 0:
            if len(buffer) < length:
                return None
            body = bytes(buffer[:length])
            if len(buffer) > length:
                raise _ProtocolViolation("more bytes than the answer's Content-Length")
            return Answer(status, reason, headers, body, keep_alive)
        if length == -1:
            done = self._read_chunks()
            if not done:
                return None
            return Answer(status, reason, headers, b"".join(self._chunks), keep_alive)
        return None  # read to close: connection_lost answers

    def _read_head(self, head: bytes) -> None:
        lines = head.split(b"\r\n")
        parts = lines[0].split(b" ", 2)
        if len(parts) < 2 or not parts[0].startswith(b"HTTP/1.") or not parts[1].isdigit():
            raise _ProtocolViolation(f"not an HTTP/1.x status line: {lines[0][:80]!r}")
        status = int(parts[1])
        reason = parts[2] if len(parts) == 3 else b""
        headers: _Raw = []
        length = -2
        chunked = False
        close = parts[0] == b"HTTP/1.0"
        for line in lines[1:]:
            name, colon, value = line.partition(b":")
            if not colon:
                raise _ProtocolViolation(f"malformed header line: {line[:80]!r}")
            name = name.strip()
            value = value.strip()
            lower = name.lower()
            if lower == b"content-length":
                if not value.isdigit():
                    raise _ProtocolViolation(f"bad Content-Length: {value[:40]!r}")
                length = int(value)
            elif lower == b"transfer-encoding":
                chunked = value.lower().endswith(b"chunked")
                continue  # the body handed on is de-chunked
            elif lower == b"connection":
                token = value.lower()
                close = b"close" in token or (close and b"keep-alive" not in token)
            headers.append((name, value))
        if 100 <= status < 200:
            if status == 101:
                raise _ProtocolViolation("protocol switch not supported")
            return  # interim answer: the real one follows
        if not self._expect_body or status in NO_BODY_STATUSES:
            length = 0
        elif chunked:
            length = -1
        if length == -2:
            close = True
        self._length = length
        self._head = (status, reason, headers, not close)

    def _read_chunks(self) -> bool:
        buffer = self._buffer
        at = self._chunk_at
        while True:
            line_end = buffer.find(b"\r\n", at)
            if line_end < 0:
                break
            size_text = bytes(buffer[at:line_end]).split(b";", 1)[0].strip()
            try:
                size = int(size_text, 16)
            except ValueError:
                raise _ProtocolViolation(f"bad chunk size: {size_text[:20]!r}") from None
            if size == 0:
                trailer_end = buffer.find(b"\r\n\r\n", line_end)
                if trailer_end < 0 and buffer[line_end : line_end + 4] != b"\r\n\r\n":
                    if len(buffer) - line_end > MAX_HEAD_BYTES:
                        raise _ProtocolViolation("chunked trailer too large")
                    break
                return True
            start = line_end + 2
            if len(buffer) < start + size + 2:
                break
            self._chunks.append(bytes(buffer[start : start + size]))
            at = start + size + 2
        del buffer[:at]
        self._chunk_at = 0
        return False


class Http11Transport(httpx.AsyncBaseTransport):
    """httpx transport: HTTP/1.1 keep-alive pool of at most `max_connections` sockets."""

    def __init__(self, *, ssl_context: ssl.SSLContext, max_connections: int) -> None:
        if max_connections < 1:
            raise ValueError(f"max_connections must be >= 1, got {max_connections}")
        self._ssl = ssl_context
        self._max = max_connections
        self._open = 0  # sockets open or being opened
        self._idle: dict[PoolKey, list[_Connection]] = {}
        self._waiters: deque[tuple[PoolKey, asyncio.Future[_Connection | None]]] = deque()
        self._closed = False

    def statistics(self) -> dict[str, int]:
        """Open sockets, idle ones, and callers queued for a socket."""
        idle = sum(len(conns) for conns in self._idle.values())
        return {"open": self._open, "idle": idle, "waiting": len(self._waiters)}

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
        for attempt in (0, 1):
            conn = await self._acquire(key, request, timeouts)
            reused = conn.uses > 0
            answer: Answer | None = None
            try:
                waiter = conn.send(data, expect_body)
                async with asyncio.timeout(timeouts.get("read")):
                    answer = await waiter
            except TimeoutError:
                raise httpx.ReadTimeout(
                    "timed out waiting for the answer", request=request()
                ) from None
            except ConnectionResetError as exc:
                if attempt == 0 and reused and not conn.received:
                    continue  # the server had closed the idle socket: once more, fresh
                raise httpx.RemoteProtocolError(str(exc), request=request()) from None
            except _ProtocolViolation as exc:
                raise httpx.RemoteProtocolError(str(exc), request=request()) from None
            except OSError as exc:
                detail = str(exc) or type(exc).__name__
                raise httpx.WriteError(detail, request=request()) from None
            finally:
                self._release(conn, answer is not None and answer.keep_alive)
            return answer
        raise AssertionError("unreachable")  # pragma: no cover

    # -- the pool ---------------------------------------------------------------------------

    async def _acquire(
        self,
        key: PoolKey,
        request: Callable[[], httpx.Request],
        timeouts: Mapping[str, float | None],
    ) -> _Connection:
        idle = self._idle.get(key)
        while idle:
            conn = idle.pop()
            if not conn.closed:
                return conn
            self._open -= 1
        if self._open >= self._max and not self._close_other_idle(key):
            future: asyncio.Future[_Connection | None] = asyncio.get_running_loop().create_future()
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

    def _close_other_idle(self, key: PoolKey) -> bool:
        """At the cap with idle sockets to other hosts: close one, keeping the slot."""
        for other, conns in self._idle.items():
            if other != key and conns:
                conns.pop(0).close()
                self._open -= 1
                return True
        return False

    async def _connect(
        self, key: PoolKey, request: Callable[[], httpx.Request], timeout_s: float | None
    ) -> _Connection:
        scheme, host, port = key
        tls = scheme == b"https"
        conn = _Connection(key)
        loop = asyncio.get_running_loop()
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

    def _release(self, conn: _Connection, keep: bool) -> None:
        if keep and not conn.closed and not self._closed:
            self._give_back(conn)
            return
        if not conn.closed:
            conn.abort()
        self._give_back(None)

    def _give_back(self, conn: _Connection | None) -> None:
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
        else:
            self._idle.setdefault(conn.key, []).append(conn)

"""The HTTP engine against a hostile server: scripted raw bytes per request over loopback.

Every framing violation of RFC 9112 must be an `httpx.RemoteProtocolError` raised at once (no
loop, no wait for the timeout), and the socket must be closed, never reused. A request that
reached the server is never sent twice; a 1 GB body never reaches memory.
"""

from __future__ import annotations

import asyncio
import resource
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

import httpx
import pytest

from driver_agent.fleetapi.http11 import Http11Transport, OutcomeUnknownError, ResponseTooLargeError
from driver_agent.fleetapi.http11_parser import MAX_HEAD_BYTES, MAX_TRAILER_BYTES
from driver_agent.fleetapi.transport import tls_context

CLOSE = b""  # in a script: close the connection (after reading the request, if any)
STREAM_ZEROS = b"\0"  # in a script: write zeros until the client goes away

# (connection number, request number on that connection) -> pieces to write
Script = Callable[[int, int], list[bytes]]


class ScriptedServer:
    """Reads each request whole, then writes what the script says; counts what it received."""

    def __init__(self, script: Script) -> None:
        self.script = script
        self.connections = 0
        self.requests: list[bytes] = []
        self.streamed = 0  # bytes of zeros written by STREAM_ZEROS
        self.url = ""
        self.tasks: set[asyncio.Task[None]] = set()
        self.writers: set[asyncio.StreamWriter] = set()

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        number = self.connections
        task = asyncio.current_task()
        assert task is not None
        self.tasks.add(task)
        self.writers.add(writer)
        try:
            on_connection = 0
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = 0
                for line in head.split(b"\r\n"):
                    if line.lower().startswith(b"content-length:"):
                        length = int(line.split(b":", 1)[1])
                self.requests.append(head + await reader.readexactly(length))
                on_connection += 1
                for piece in self.script(number, on_connection):
                    if piece == CLOSE:
                        return
                    if piece == STREAM_ZEROS:
                        await self._stream_zeros(writer)
                        return
                    writer.write(piece)
                    await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    async def _stream_zeros(self, writer: asyncio.StreamWriter) -> None:
        zeros = bytes(64 * 1024)
        while self.streamed < 1 << 30:
            writer.write(zeros)
            await writer.drain()  # raises once the client has closed its end
            self.streamed += len(zeros)

    async def stop(self) -> None:
        for writer in self.writers:
            writer.close()
        await asyncio.gather(*self.tasks, return_exceptions=True)


@asynccontextmanager
async def scripted(script: Script) -> AsyncIterator[ScriptedServer]:
    server = ScriptedServer(script)
    listener = await asyncio.start_server(server.handle, "127.0.0.1", 0)
    server.url = f"http://127.0.0.1:{listener.sockets[0].getsockname()[1]}/x"
    try:
        async with listener:
            yield server
    finally:
        await server.stop()


class Parked:
    """Handler tasks that wait (never reading further) until the test releases them."""

    def __init__(self) -> None:
        self.release = asyncio.Event()
        self.tasks: list[asyncio.Task[None]] = []

    async def park(self, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self.tasks.append(task)
        try:
            await self.release.wait()
        finally:
            writer.close()

    async def stop(self) -> None:
        self.release.set()
        await asyncio.gather(*self.tasks, return_exceptions=True)


def engine(**options: object) -> Http11Transport:
    settings: dict[str, object] = {"ssl_context": tls_context(), "max_connections": 4}
    settings.update(options)
    return Http11Transport(**settings)  # type: ignore[arg-type]


@asynccontextmanager
async def client_on(
    transport: Http11Transport, timeout_s: float = 5.0
) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(transport=transport, timeout=timeout_s) as client:
        yield client


OK = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
HEAD = b"HTTP/1.1 200 OK\r\n"
CHUNKED = HEAD + b"Transfer-Encoding: chunked\r\n\r\n"


def first_then_ok(*first: bytes) -> Script:
    """The first request on the first connection gets `first`; every other request gets OK."""
    return lambda conn, req: list(first) if (conn, req) == (1, 1) else [OK]


FRAMING_VIOLATIONS = [
    pytest.param(HEAD + b"Content-Length: 2\r\nContent-Length: 2\r\n\r\nok", id="duplicate-cl"),
    pytest.param(
        HEAD + b"Content-Length: 2\r\nContent-Length: 7\r\n\r\nokokokok", id="cl-conflict"
    ),
    pytest.param(HEAD + b"Content-Length: 2, 2\r\n\r\nok", id="cl-list"),
    pytest.param(HEAD + b"Content-Length: -2\r\n\r\nok", id="cl-negative"),
    pytest.param(HEAD + b"Content-Length: 0x2\r\n\r\nok", id="cl-hex"),
    pytest.param(
        HEAD + b"Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", id="cl-then-te"
    ),
    pytest.param(
        HEAD + b"Transfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n0\r\n\r\n", id="te-then-cl"
    ),
    pytest.param(
        HEAD + b"Transfer-Encoding: xchunked\r\n\r\n2\r\nok\r\n0\r\n\r\n", id="te-xchunked"
    ),
    pytest.param(
        HEAD + b"Transfer-Encoding: gzip, chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n", id="te-gzip-chunked"
    ),
    pytest.param(
        HEAD + b"Transfer-Encoding: chunked, gzip\r\n\r\n2\r\nok\r\n0\r\n\r\n", id="te-chunked-gzip"
    ),
    pytest.param(
        HEAD + b"Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
        id="te-twice",
    ),
    pytest.param(HEAD + b"Transfer-Encoding: identity\r\n\r\nok", id="te-identity"),
    pytest.param(CHUNKED + b"-6\r\nabcdef\r\n0\r\n\r\n", id="chunk-size-minus-6"),
    pytest.param(CHUNKED + b"-5\r\nabcde\r\n0\r\n\r\n", id="chunk-size-minus-5"),
    pytest.param(CHUNKED + b"0x3\r\nabc\r\n0\r\n\r\n", id="chunk-size-0x3"),
    pytest.param(CHUNKED + b"1_0\r\n" + b"a" * 16 + b"\r\n0\r\n\r\n", id="chunk-size-1_0"),
    pytest.param(CHUNKED + b"+3\r\nabc\r\n0\r\n\r\n", id="chunk-size-plus"),
    pytest.param(CHUNKED + b" 3\r\nabc\r\n0\r\n\r\n", id="chunk-size-leading-space"),
    pytest.param(CHUNKED + b"g\r\nabc\r\n0\r\n\r\n", id="chunk-size-not-hex"),
    pytest.param(CHUNKED + b"\r\nabc\r\n0\r\n\r\n", id="chunk-size-empty"),
    pytest.param(CHUNKED + b"1" + b"0" * 16 + b"\r\nabc\r\n0\r\n\r\n", id="chunk-size-overflow"),
    pytest.param(CHUNKED + b"0" * 1000 + b"3\r\nabc\r\n0\r\n\r\n", id="chunk-size-overlong"),
    pytest.param(
        CHUNKED + b"3;x=" + b"y" * 4000 + b"\r\nabc\r\n0\r\n\r\n", id="chunk-ext-overlong"
    ),
    pytest.param(CHUNKED + b"3\r\nabcXY0\r\n\r\n", id="chunk-data-without-crlf"),
    pytest.param(CHUNKED + b"3\r\nabc\n0\r\n\r\n", id="chunk-data-bare-lf"),
    pytest.param(CHUNKED + b"3\nabc\r\n0\r\n\r\n", id="chunk-size-bare-lf"),
    pytest.param(b"HTTP/1.1 200 OK\nContent-Length: 2\n\nok", id="bare-lf-head"),
    pytest.param(HEAD + b"Content-Length: 2\n\r\nok", id="bare-lf-header"),
    pytest.param(HEAD + b"Content-Length: 2\r\n\nok", id="bare-lf-end-of-head"),
    pytest.param(HEAD + b"X-A: 1\rContent-Length: 2\r\n\r\nok", id="bare-cr"),
    pytest.param(HEAD + b"X-A: a\r\n  b\r\nContent-Length: 2\r\n\r\nok", id="obs-fold"),
    pytest.param(HEAD + b"X-A : a\r\nContent-Length: 2\r\n\r\nok", id="space-before-colon"),
    pytest.param(HEAD + b"X-A: a\0b\r\nContent-Length: 2\r\n\r\nok", id="nul-in-value"),
    pytest.param(
        HEAD + b"X-Big: " + b"a" * MAX_HEAD_BYTES + b"\r\nContent-Length: 2\r\n\r\nok",
        id="oversized-header-line",
    ),
    pytest.param(
        HEAD + b"".join(b"X-%d: %s\r\n" % (i, b"v" * 60) for i in range(1200)) + b"\r\nok",
        id="oversized-head-many-fields",
    ),
    pytest.param(
        CHUNKED + b"2\r\nok\r\n0\r\n" + b"X-T: " + b"t" * MAX_TRAILER_BYTES + b"\r\n\r\n",
        id="oversized-trailer",
    ),
    pytest.param(HEAD + b"Content-Length: 2\r\n\r\nokEXTRA", id="bytes-beyond-cl"),
    pytest.param(OK + OK, id="second-answer-appended"),
    pytest.param(CHUNKED + b"2\r\nok\r\n0\r\n\r\nEXTRA", id="bytes-beyond-chunked"),
    pytest.param(b"HTTP/2.0 200 OK\r\nContent-Length: 2\r\n\r\nok", id="http-2-status-line"),
    pytest.param(b"HTTP/1.1 2000 OK\r\nContent-Length: 2\r\n\r\nok", id="status-four-digits"),
    pytest.param(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: x\r\n\r\n", id="protocol-switch"),
    pytest.param(b"SMTP ready\r\n\r\n", id="not-http"),
]


@pytest.mark.parametrize("answer", FRAMING_VIOLATIONS)
async def test_a_framing_violation_fails_at_once_and_its_socket_is_never_reused(
    answer: bytes,
) -> None:
    transport = engine()
    async with scripted(first_then_ok(answer)) as server, client_on(transport) as client:
        # at once: waiting for the client's timeout would end in ReadTimeout instead
        with pytest.raises(httpx.RemoteProtocolError) as caught:
            await client.post(server.url, json={"n": 1})
        assert not isinstance(caught.value, OutcomeUnknownError)
        assert caught.value.request.url == httpx.URL(server.url)
        after = await client.post(server.url, json={"n": 2})
    assert after.content == b"ok"
    assert server.connections == 2  # the broken socket was closed, the next request got a new one
    assert len(server.requests) == 2  # and nothing was sent twice


@pytest.mark.parametrize(
    ("answer", "body"),
    [
        pytest.param(CHUNKED + b"3;name=value\r\nabc\r\n0\r\n\r\n", b"abc", id="chunk-extension"),
        pytest.param(CHUNKED + b"00003\r\nabc\r\n0\r\n\r\n", b"abc", id="chunk-leading-zeros"),
        pytest.param(CHUNKED + b"A\r\n0123456789\r\n0\r\n\r\n", b"0123456789", id="upper-hex"),
        pytest.param(
            HEAD + b"Transfer-Encoding: Chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n", b"ok", id="te-case"
        ),
        pytest.param(
            CHUNKED + b"2\r\nok\r\n0\r\nX-Trailer: 1\r\n\r\n", b"ok", id="trailer-dropped"
        ),
        pytest.param(HEAD + b"Content-Length:  2 \r\n\r\nok", b"ok", id="cl-with-ows"),
        pytest.param(OK + b"\r\n", b"ok", id="empty-line-after-answer-skipped"),
    ],
)
async def test_valid_framing_is_accepted_and_the_socket_kept(answer: bytes, body: bytes) -> None:
    transport = engine()
    async with scripted(first_then_ok(answer)) as server, client_on(transport) as client:
        first = await client.post(server.url, json={})
        second = await client.post(server.url, json={})
    assert first.content == body
    assert "x-trailer" not in first.headers
    assert second.content == b"ok"
    assert server.connections == 1


async def test_a_post_on_a_reused_socket_the_server_closed_unanswered_is_never_resent() -> None:
    def script(conn: int, req: int) -> list[bytes]:
        return [OK] if req == 1 else [CLOSE]  # reads the second request, closes without answer

    async with scripted(script) as server, client_on(engine()) as client:
        assert (await client.post(server.url, json={"n": 1})).content == b"ok"
        with pytest.raises(OutcomeUnknownError, match=r"^outcome unknown:") as caught:
            await client.post(server.url, json={"n": 2})
    assert caught.value.request.url == httpx.URL(server.url)
    assert len(server.requests) == 2  # two POSTs, two copies: the second was not resent
    assert sum(r.endswith(b'{"n":2}') for r in server.requests) == 1
    assert server.connections == 1


async def test_a_reset_after_the_request_was_written_is_outcome_unknown() -> None:
    async def reset(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.transport.abort()  # RST instead of FIN

    listener = await asyncio.start_server(reset, "127.0.0.1", 0)
    url = f"http://127.0.0.1:{listener.sockets[0].getsockname()[1]}/"
    async with listener, client_on(engine()) as client:
        with pytest.raises(OutcomeUnknownError):
            await client.post(url, json={})


async def test_a_connection_closed_mid_answer_is_outcome_unknown() -> None:
    answer = HEAD + b"Content-Length: 10\r\n\r\nshort"
    async with scripted(first_then_ok(answer, CLOSE)) as server, client_on(engine()) as client:
        with pytest.raises(OutcomeUnknownError, match="mid-answer"):
            await client.post(server.url, json={})
    assert len(server.requests) == 1


async def wait_until_no_live_idle_socket(transport: Http11Transport) -> None:
    for _ in range(1000):  # a few loop turns: the EOF is already on its way
        if transport.statistics()["idle"] == 0:
            return
        await asyncio.sleep(0)
    raise AssertionError("the engine never saw the server close its idle socket")


async def test_an_idle_socket_the_server_closed_is_replaced_and_the_request_sent_once() -> None:
    transport = engine()
    async with scripted(lambda conn, req: [OK, CLOSE]) as server, client_on(transport) as client:
        await client.post(server.url, json={"n": 1})
        await wait_until_no_live_idle_socket(transport)
        second = await client.post(server.url, json={"n": 2})
    assert second.content == b"ok"
    assert server.connections == 2
    assert [r.endswith(b'{"n":2}') for r in server.requests] == [False, True]  # one copy each


async def test_idle_sockets_expire_after_keepalive_expiry() -> None:
    now = [100.0]
    transport = engine(keepalive_expiry_s=5.0, now=lambda: now[0])
    async with scripted(lambda conn, req: [OK]) as server, client_on(transport) as client:
        await client.post(server.url, json={})
        now[0] += 4.9
        await client.post(server.url, json={})  # idle 4.9 s: reused
        assert server.connections == 1
        now[0] += 5.1
        await client.post(server.url, json={})  # idle 5.1 s: closed, a new one
        assert server.connections == 2
        assert transport.statistics() == {"open": 1, "idle": 1, "waiting": 0}
    assert len(server.requests) == 3


@pytest.mark.parametrize(
    ("answer", "kept"),
    [
        pytest.param(OK, True, id="1.1-default"),
        pytest.param(
            HEAD + b"Connection: keep-alive\r\nContent-Length: 2\r\n\r\nok", True, id="ka"
        ),
        pytest.param(HEAD + b"Connection: close\r\nContent-Length: 2\r\n\r\nok", False, id="close"),
        pytest.param(HEAD + b"Connection: CLOSE\r\nContent-Length: 2\r\n\r\nok", False, id="CLOSE"),
        pytest.param(
            HEAD + b"Connection: keep-alive, close\r\nContent-Length: 2\r\n\r\nok",
            False,
            id="list-with-close",
        ),
        pytest.param(
            HEAD + b"Connection: x-foo ,Close \r\nContent-Length: 2\r\n\r\nok", False, id="ows"
        ),
        pytest.param(
            HEAD + b"Connection: x-foo\r\nConnection: close\r\nContent-Length: 2\r\n\r\nok",
            False,
            id="two-fields",
        ),
        pytest.param(
            HEAD + b"Connection: closed\r\nContent-Length: 2\r\n\r\nok", True, id="not-a-token"
        ),
        pytest.param(b"HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok", False, id="1.0-default"),
        pytest.param(
            b"HTTP/1.0 200 OK\r\nConnection: Keep-Alive\r\nContent-Length: 2\r\n\r\nok",
            True,
            id="1.0-keep-alive",
        ),
    ],
)
async def test_connection_is_read_as_a_token_list(answer: bytes, kept: bool) -> None:
    def script(conn: int, req: int) -> list[bytes]:
        return [answer] if kept or conn == 1 else [OK]

    async with scripted(script) as server, client_on(engine()) as client:
        await client.post(server.url, json={})
        await client.post(server.url, json={})
    assert server.connections == (1 if kept else 2)


def rss_kb() -> int:
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError("no VmRSS")  # pragma: no cover


@pytest.mark.parametrize(
    "head",
    [
        pytest.param(HEAD + b"Content-Length: 1073741824\r\n\r\n", id="content-length"),
        pytest.param(CHUNKED + b"40000000\r\n", id="one-1-GB-chunk"),
        pytest.param(HEAD + b"Connection: close\r\n\r\n", id="until-close"),
    ],
)
async def test_a_1_gb_body_fails_fast_after_the_cap_in_bounded_memory(head: bytes) -> None:
    cap = 1024 * 1024
    transport = engine(max_response_bytes=cap)
    rss_before = rss_kb()
    peak_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    async with (
        scripted(first_then_ok(head, STREAM_ZEROS)) as server,
        client_on(transport) as client,
    ):
        # at the cap: reading on to the end would take the client's timeout (ReadTimeout)
        with pytest.raises(ResponseTooLargeError, match="max_response_bytes"):
            await client.post(server.url, json={})
        await asyncio.wait_for(asyncio.gather(*server.tasks), 5.0)  # the server stopped
    assert server.streamed < 64 * cap  # it stopped when the client closed, far short of 1 GB
    assert rss_kb() - rss_before < 20 * 1024
    # the peak too (ru_maxrss, KB): it only grows if this test raised it
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - max(peak_before, rss_before) < (
        20 * 1024
    )


async def test_a_body_at_the_cap_is_accepted() -> None:
    cap = 1000
    answer = HEAD + b"Content-Length: 1000\r\n\r\n" + b"a" * 1000
    chunked = CHUNKED + b"1f4\r\n" + b"a" * 500 + b"\r\n1f4\r\n" + b"b" * 500 + b"\r\n0\r\n\r\n"
    script: Script = lambda conn, req: [answer] if req == 1 else [chunked]  # noqa: E731
    async with scripted(script) as server, client_on(engine(max_response_bytes=cap)) as client:
        assert len((await client.post(server.url, json={})).content) == cap
        assert len((await client.post(server.url, json={})).content) == cap


async def test_bytes_after_the_answer_in_a_later_write_never_reach_the_next_request() -> None:
    def script(conn: int, req: int) -> list[bytes]:
        return [OK, b"HTTP/1.1 200 OK\r\n"] if conn == 1 else [OK]

    transport = engine()
    async with scripted(script) as server, client_on(transport) as client:
        # the stray bytes arrive in the answer's read (an error) or after it (socket closed)
        first = await asyncio.gather(client.post(server.url, json={}), return_exceptions=True)
        if isinstance(first[0], BaseException):
            assert "after the end of the answer" in str(first[0])
        await wait_until_no_live_idle_socket(transport)
        assert (await client.post(server.url, json={})).content == b"ok"
    assert server.connections == 2


async def test_a_server_that_does_not_read_gives_a_write_timeout() -> None:
    parked = Parked()

    async def never_reads(_: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await parked.park(writer)

    listener = await asyncio.start_server(never_reads, "127.0.0.1", 0)
    url = f"http://127.0.0.1:{listener.sockets[0].getsockname()[1]}/"
    timeout = httpx.Timeout(5.0, write=0.2)
    async with listener, httpx.AsyncClient(transport=engine(), timeout=timeout) as client:
        with pytest.raises(httpx.WriteTimeout):  # not the 5 s read timeout
            await client.post(url, content=bytes(64 * 1024 * 1024))
        await parked.stop()


async def test_a_large_request_waits_for_the_buffer_to_drain_and_succeeds() -> None:
    body = bytes(16 * 1024 * 1024)  # far above the transport's high-water mark
    async with scripted(lambda conn, req: [OK]) as server, client_on(engine()) as client:
        response = await client.post(server.url, content=body)
    assert response.content == b"ok"
    assert server.requests[0].endswith(body)


async def test_a_refused_connection_is_a_connect_error_and_was_never_sent() -> None:
    listener = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
    port = listener.sockets[0].getsockname()[1]
    listener.close()
    await listener.wait_closed()
    async with client_on(engine()) as client:
        with pytest.raises(httpx.ConnectError):
            await client.post(f"http://127.0.0.1:{port}/", json={})


async def test_a_head_answer_ends_at_its_head_and_the_socket_is_kept() -> None:
    head_answer = HEAD + b"Content-Length: 5\r\n\r\n"  # the length of the GET body, none follows
    transport = engine()
    async with (
        scripted(first_then_ok(head_answer)) as server,
        client_on(transport) as client,
    ):
        response = await client.head(server.url)
        after = await client.post(server.url, json={})
    assert (response.status_code, response.content) == (200, b"")
    assert response.headers["content-length"] == "5"
    assert after.content == b"ok"
    assert server.connections == 1


async def test_interim_answers_are_skipped_before_a_chunked_answer() -> None:
    answer = b"HTTP/1.1 100 Continue\r\nTransfer-Encoding: chunked\r\n\r\n"
    answer += b"HTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n"
    answer += CHUNKED + b"2\r\nok\r\n0\r\n\r\n"
    async with scripted(first_then_ok(answer)) as server, client_on(engine()) as client:
        response = await client.post(server.url, json={})
    assert response.content == b"ok"
    assert "link" not in response.headers


async def test_an_answer_before_the_body_was_written_is_returned_and_the_socket_dropped() -> None:
    parked = Parked()

    async def early_413(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")  # the head only; the body is never read
        writer.write(b"HTTP/1.1 413 Content Too Large\r\nContent-Length: 4\r\n\r\nbig!")
        await parked.park(writer)

    listener = await asyncio.start_server(early_413, "127.0.0.1", 0)
    url = f"http://127.0.0.1:{listener.sockets[0].getsockname()[1]}/"
    timeout = httpx.Timeout(5.0, write=5.0)
    transport = engine()
    async with listener, httpx.AsyncClient(transport=transport, timeout=timeout) as client:
        # returned, not a WriteTimeout: the answer ended the write
        response = await client.post(url, content=bytes(64 * 1024 * 1024))
        assert (response.status_code, response.content) == (413, b"big!")
        assert transport.statistics()["idle"] == 0  # half-written: never reused
        await parked.stop()


async def test_a_pool_timeout_means_the_request_was_never_sent() -> None:
    parked = Parked()
    arrived = asyncio.Event()

    async def holds_the_first(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        arrived.set()
        await parked.park(writer)

    listener = await asyncio.start_server(holds_the_first, "127.0.0.1", 0)
    url = f"http://127.0.0.1:{listener.sockets[0].getsockname()[1]}/"
    timeout = httpx.Timeout(5.0, pool=0.05)
    transport = engine(max_connections=1)
    async with listener, httpx.AsyncClient(transport=transport, timeout=timeout) as client:
        first = asyncio.ensure_future(client.get(url))
        await arrived.wait()  # the first request holds the only connection
        with pytest.raises(httpx.PoolTimeout):
            await client.get(url)
        assert len(parked.tasks) == 1  # one connection, one request: the second never left
        assert transport.statistics() == {"open": 1, "idle": 0, "waiting": 0}
        await parked.stop()
        with pytest.raises(OutcomeUnknownError):  # its server closed without an answer
            await first


@pytest.mark.parametrize(
    ("option", "value"),
    [("max_connections", 0), ("max_response_bytes", 0), ("keepalive_expiry_s", 0.0)],
)
def test_the_engine_refuses_a_nonsensical_setting(option: str, value: float) -> None:
    with pytest.raises(ValueError, match=option):
        engine(**{option: value})

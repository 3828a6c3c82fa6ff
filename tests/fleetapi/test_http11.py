"""Tests for fleetapi.http11: the builtin HTTP/1.1 engine under httpx, against raw servers."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

import httpx
import pytest

from driver_agent.fleetapi.http11 import Http11Transport
from driver_agent.fleetapi.transport import tls_context

Reply = Callable[[int], list[bytes]]  # request number -> pieces to write ("" piece: close)


class RawServer:
    """Answers each request with scripted bytes; counts connections and requests."""

    def __init__(self, reply: Reply) -> None:
        self.reply = reply
        self.connections = 0
        self.requests: list[bytes] = []
        self.url = ""
        self.tasks: set[asyncio.Task[None]] = set()
        self.writers: set[asyncio.StreamWriter] = set()

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        task = asyncio.current_task()
        assert task is not None
        self.tasks.add(task)
        self.writers.add(writer)
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = 0
                for line in head.split(b"\r\n"):
                    if line.lower().startswith(b"content-length:"):
                        length = int(line.split(b":", 1)[1])
                body = await reader.readexactly(length)
                self.requests.append(head + body)
                for piece in self.reply(len(self.requests)):
                    if not piece:
                        writer.close()
                        return
                    writer.write(piece)
                    await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    async def stop(self) -> None:
        """Close every server-side socket and wait for the handlers to see it."""
        for writer in self.writers:
            writer.close()
        await asyncio.gather(*self.tasks, return_exceptions=True)


@asynccontextmanager
async def raw_server(reply: Reply) -> AsyncIterator[RawServer]:
    server = RawServer(reply)
    listener = await asyncio.start_server(server.handle, "127.0.0.1", 0)
    port = listener.sockets[0].getsockname()[1]
    server.url = f"http://127.0.0.1:{port}"
    try:
        async with listener:
            yield server
    finally:
        await server.stop()


@asynccontextmanager
async def client_for(
    max_connections: int = 4, timeout_s: float = 5.0
) -> AsyncIterator[httpx.AsyncClient]:
    engine = Http11Transport(ssl_context=tls_context(), max_connections=max_connections)
    async with httpx.AsyncClient(transport=engine, timeout=timeout_s) as client:
        yield client


def always(*pieces: bytes) -> Reply:
    return lambda _: list(pieces)


OK = b'HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 11\r\n\r\n{"ok":true}'


@pytest.mark.parametrize(
    ("pieces", "status", "body"),
    [
        pytest.param([OK], 200, b'{"ok":true}', id="content-length"),
        pytest.param([OK[:30], OK[30:60], OK[60:]], 200, b'{"ok":true}', id="split-writes"),
        pytest.param(
            [
                b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5;x=1\r\nhello\r\n",
                b"6\r\n world\r\n0\r\n\r\n",
            ],
            200,
            b"hello world",
            id="chunked",
        ),
        pytest.param(
            [b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nuntil the end", b""],
            200,
            b"until the end",
            id="read-to-close",
        ),
        pytest.param([b"HTTP/1.1 100 Continue\r\n\r\n", OK], 200, b'{"ok":true}', id="interim-100"),
        pytest.param([b"HTTP/1.1 204 No Content\r\n\r\n"], 204, b"", id="no-content"),
        pytest.param(
            [b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 4\r\n\r\nbusy"],
            503,
            b"busy",
            id="error-status",
        ),
    ],
)
async def test_answers_are_parsed_whatever_their_framing(
    pieces: list[bytes], status: int, body: bytes
) -> None:
    async with raw_server(always(*pieces)) as server, client_for() as client:
        response = await client.post(server.url + "/x", json={"a": 1})
    assert response.status_code == status
    assert response.content == body
    assert response.http_version == "HTTP/1.1"
    assert "transfer-encoding" not in response.headers  # the body handed on is de-chunked


async def test_keep_alive_reuses_one_socket_for_sequential_requests() -> None:
    async with raw_server(always(OK)) as server, client_for() as client:
        for _ in range(5):
            assert (await client.post(server.url, json={})).status_code == 200
    assert server.connections == 1
    assert len(server.requests) == 5


async def test_connection_close_from_the_server_opens_a_new_socket_next_time() -> None:
    close = b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nok"
    async with raw_server(always(close, b"")) as server, client_for() as client:
        for _ in range(3):
            assert (await client.post(server.url, json={})).content == b"ok"
    assert server.connections == 3


async def test_an_idle_socket_the_server_closed_is_replaced_without_an_error() -> None:
    engine = Http11Transport(ssl_context=tls_context(), max_connections=4)
    async with (
        raw_server(always(OK, b"")) as server,
        httpx.AsyncClient(transport=engine, timeout=5.0) as client,
    ):
        await client.post(server.url, json={})
        for _ in range(1000):  # the engine sees the close before it reuses the socket
            if engine.statistics()["idle"] == 0:
                break
            await asyncio.sleep(0)
        second = await client.post(server.url, json={})
    assert second.status_code == 200
    assert server.connections == 2
    assert len(server.requests) == 2  # nothing was sent twice


async def test_no_more_sockets_than_the_cap_and_queued_callers_all_get_through() -> None:
    async with raw_server(always(OK)) as server, client_for(max_connections=2) as client:
        answers = await asyncio.gather(*(client.post(server.url, json={"i": i}) for i in range(30)))
    assert [a.status_code for a in answers] == [200] * 30
    assert server.connections <= 2
    assert len(server.requests) == 30


async def test_the_request_goes_out_as_httpx_built_it() -> None:
    async with raw_server(always(OK)) as server, client_for() as client:
        await client.post(server.url + "/p?q=1", json={"lat": 1.5}, headers={"X-Id": "7"})
    head, _, body = server.requests[0].partition(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    assert lines[0] == b"POST /p?q=1 HTTP/1.1"
    headers = {k.lower(): v.strip() for k, _, v in (line.partition(b":") for line in lines[1:])}
    assert headers[b"host"] == server.url.removeprefix("http://").encode()
    assert headers[b"x-id"] == b"7"
    assert headers[b"content-type"] == b"application/json"
    assert body == b'{"lat":1.5}'


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.mark.parametrize(
    ("reply", "error"),
    [
        pytest.param(
            always(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort", b""),
            httpx.RemoteProtocolError,
            id="closed-mid-body",
        ),
        pytest.param(always(b"SMTP ready\r\n\r\n"), httpx.RemoteProtocolError, id="not-http"),
        pytest.param(
            always(b"HTTP/1.1 200 OK\r\nbroken\r\n\r\n"), httpx.RemoteProtocolError, id="bad-header"
        ),
        pytest.param(always(), httpx.ReadTimeout, id="never-answers"),
    ],
)
async def test_failures_are_httpx_transport_errors(reply: Reply, error: type[Exception]) -> None:
    async with raw_server(reply) as server, client_for(timeout_s=0.05) as client:
        with pytest.raises(error) as caught:
            await client.post(server.url, json={})
    assert isinstance(caught.value, httpx.TransportError)
    assert caught.value.request.url == httpx.URL(server.url)


async def test_a_read_timeout_of_a_second_or_more_ends_by_the_shared_sweep() -> None:
    # timeouts from SHARED_TIMER_FROM_S on share one sweeping timer (ReadDeadlines)
    async with raw_server(always()) as server, client_for(timeout_s=1.0) as client:
        with pytest.raises(httpx.ReadTimeout) as caught:
            await client.post(server.url, json={})
    assert caught.value.request.url == httpx.URL(server.url)


async def test_a_refused_connection_is_a_connect_error() -> None:
    async with client_for() as client:
        with pytest.raises(httpx.ConnectError, match=r"127\.0\.0\.1"):
            await client.post(f"http://127.0.0.1:{_free_port()}/", json={})


async def test_tls_to_a_plain_http_server_is_a_connect_error() -> None:
    async def plain(_: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(OK)  # plain HTTP where the TLS handshake expects a ServerHello
        await writer.drain()
        writer.close()

    listener = await asyncio.start_server(plain, "127.0.0.1", 0)
    port = listener.sockets[0].getsockname()[1]
    async with listener, client_for() as client:
        with pytest.raises(httpx.ConnectError):
            await client.post(f"https://localhost:{port}/", json={})


async def test_other_schemes_are_refused() -> None:
    engine = Http11Transport(ssl_context=tls_context(), max_connections=1)
    with pytest.raises(httpx.UnsupportedProtocol):
        await engine.handle_async_request(httpx.Request("GET", "ftp://127.0.0.1/"))


def test_a_pool_needs_at_least_one_connection() -> None:
    with pytest.raises(ValueError, match="max_connections"):
        Http11Transport(ssl_context=tls_context(), max_connections=0)

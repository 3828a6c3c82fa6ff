"""serve_app / serve_app_in_thread: report the bound URL, serve, and shut down cleanly."""

from __future__ import annotations

import os
import socket
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

import anyio
import httpx
import pytest

from driver_agent.core.serving import serve_app, serve_app_in_thread

Message = MutableMapping[str, Any]


async def echo_app(
    scope: Message,
    receive: Callable[[], Awaitable[Message]],
    send: Callable[[Message], Awaitable[None]],
) -> None:
    """Answers every request with its method and path."""
    assert scope["type"] == "http"
    body = f"{scope['method']} {scope['path']}".encode()
    headers = [(b"content-type", b"text/plain"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def test_serve_app_reports_the_real_port_and_stops_when_cancelled() -> None:
    async with anyio.create_task_group() as tg:
        url = await tg.start(serve_app, echo_app, "127.0.0.1", 0)
        assert url.startswith("http://127.0.0.1:")
        assert not url.endswith(":0")
        async with httpx.AsyncClient() as client:
            reply = await client.post(url + "/hello")
        assert (reply.status_code, reply.text) == (200, "POST /hello")
        tg.cancel_scope.cancel()
    with pytest.raises(httpx.ConnectError):
        async with httpx.AsyncClient() as client:
            await client.get(url)


def test_serve_app_in_thread_yields_a_working_url_and_closes_the_port_on_exit() -> None:
    with serve_app_in_thread(echo_app) as url:
        assert httpx.get(url + "/x").text == "GET /x"
    with pytest.raises(httpx.ConnectError):
        httpx.get(url)


def _accepted_socket_option(server: tuple[str, int], client: tuple[str, int], option: int) -> int:
    """`option` (IPPROTO_TCP level) of the server's socket for the connection from `client`,
    found among this process's open descriptors (the server runs on a thread here)."""
    for name in os.listdir("/proc/self/fd"):
        try:
            sock = socket.fromfd(int(name), socket.AF_INET, socket.SOCK_STREAM)
        except OSError:
            continue
        with sock:
            try:
                if sock.getsockname()[:2] == server and sock.getpeername()[:2] == client:
                    return sock.getsockopt(socket.IPPROTO_TCP, option)
            except OSError:
                continue
    raise AssertionError(f"no accepted socket for {client}")


@pytest.mark.skipif(not os.path.isdir("/proc/self/fd"), reason="finds sockets through /proc")
def test_accepted_sockets_have_nagle_off_so_answers_do_not_wait_for_delayed_acks() -> None:
    # Without TCP_NODELAY on accepted sockets each answer waits ~40 ms for the client's ACK.
    with serve_app_in_thread(echo_app) as url:
        server = ("127.0.0.1", int(url.rsplit(":", 1)[1]))
        with socket.create_connection(server) as conn:
            conn.sendall(b"POST /ping HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n")
            answer = b""
            while not answer.endswith(b"POST /ping"):  # the head and the body: two writes
                chunk = conn.recv(4096)
                assert chunk, answer
                answer += chunk
            client = conn.getsockname()[:2]
            assert conn.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) == 0  # ours: default
            assert _accepted_socket_option(server, client, socket.TCP_NODELAY) != 0

"""serve_app / serve_app_in_thread: report the bound URL, serve, and shut down cleanly."""

from __future__ import annotations

import statistics
import time
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


def test_sequential_requests_do_not_wait_for_delayed_acks() -> None:
    # Without TCP_NODELAY on accepted sockets each answer waits ~40 ms for the client's ACK.
    with serve_app_in_thread(echo_app) as url, httpx.Client(base_url=url) as client:
        client.post("/warm-up")
        latencies_s = []
        for _ in range(15):
            t0 = time.perf_counter()
            client.post("/ping", content=b"x" * 100)
            latencies_s.append(time.perf_counter() - t0)
    assert statistics.median(latencies_s) < 0.025

"""Serve an ASGI app on a port (uvicorn) and report the bound base URL.

`serve_app` runs inside the caller's task group and reports `http://host:port` (the real port
when asked for port 0) through `task_status`; cancelling it shuts the server down cleanly.
`serve_app_in_thread` does the same on a background thread with its own event loop, for tests
and sync callers. The socket is bound and listening before the URL is reported, so the URL works
at once. Signals are left to the CLI: uvicorn does not install handlers here.
"""

from __future__ import annotations

import contextlib
import ipaddress
import socket
from collections.abc import Generator, Iterator
from contextlib import contextmanager
from typing import Any

import anyio
import anyio.from_thread
import uvicorn
from anyio.abc import TaskStatus

GRACEFUL_SHUTDOWN_S = 5


class _Server(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        yield  # the CLI owns signal handling


def _bind(host: str, port: int) -> socket.socket:
    try:
        family = socket.AF_INET6 if ipaddress.ip_address(host).version == 6 else socket.AF_INET
    except ValueError:  # a host name
        family = socket.AF_INET
    # proto must be IPPROTO_TCP: asyncio sets TCP_NODELAY on accepted sockets only then, and
    # without it every response waits ~40 ms for the client's delayed ACK (Nagle).
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(2048)
        sock.setblocking(False)
    except OSError as exc:  # say where: the caller prints this as its one line
        sock.close()
        raise OSError(exc.errno, f"{host}:{port}: {exc.strerror or exc}") from None
    except BaseException:
        sock.close()
        raise
    return sock


def _url(sock: socket.socket, scheme: str = "http") -> str:
    host, port = sock.getsockname()[:2]
    if ":" in host:
        host = f"[{host}]"
    return f"{scheme}://{host}:{port}"


async def serve_app(
    app: Any,
    host: str,
    port: int,
    *,
    certfile: str | None = None,
    keyfile: str | None = None,
    task_status: TaskStatus[str] = anyio.TASK_STATUS_IGNORED,
) -> None:
    """Serve `app` until cancelled; `task_status.started(base_url)` once it accepts connections.

    With `certfile` (and `keyfile`) it serves HTTPS.
    """
    sock = _bind(host, port)
    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        log_level="warning",
        log_config=None,
        lifespan="off",
        access_log=False,
        timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_S,
        ssl_certfile=certfile,
        ssl_keyfile=keyfile,
    )
    server = _Server(config)

    async def run() -> None:
        try:
            with anyio.CancelScope(shield=True):
                await server.serve(sockets=[sock])
        finally:
            sock.close()
            tg.cancel_scope.cancel()

    async with anyio.create_task_group() as tg:
        tg.start_soon(run)
        task_status.started(_url(sock, "https" if certfile else "http"))
        try:
            await anyio.sleep_forever()
        finally:
            server.should_exit = True


@contextmanager
def serve_app_in_thread(app: Any, host: str = "127.0.0.1", port: int = 0) -> Iterator[str]:
    """Serve `app` on a background thread with its own event loop; yields the base URL."""
    with anyio.from_thread.start_blocking_portal() as portal:
        future, url = portal.start_task(serve_app, app, host, port)
        try:
            yield url
        finally:
            future.cancel()

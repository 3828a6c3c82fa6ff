"""A minimal fast HTTP/1.1 keep-alive responder, run in its own process so it never shares the
client's core: every POST gets `{"success":true,"rc":0}`, `POST /oauth/token` gets a token, and
the per-order lifecycle calls (assign_driver, start_task, checkin, checkout, end_task,
cancel_delivery) get `{"success":true,"task":{"id":<the posted task_id>,"status":<n>}}`, enough
for the real driver lifecycle (`bench.fleetload`) to walk its orders.

It exists to isolate the client: wrk drives a server like this at ~100k requests/s on one core,
so anything the benchmark measures below that is the client's cost. It parses just enough of
HTTP/1.1 (request line, headers, Content-Length or chunked body) and answers requests in order.

Run: `python -m bench.responder --port 0 --cpu 1` prints `READY <port>` on stdout when bound.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import signal
import sys

OK_BODY = b'{"success":true,"rc":0}'
TOKEN_BODY = b'{"access_token":"bench-token","token_type":"Bearer","expires_in":86400}'


def _answer(body: bytes) -> bytes:
    head = (
        b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: "
        + str(len(body)).encode()
        + b"\r\n\r\n"
    )
    return head + body


OK_ANSWER = _answer(OK_BODY)
TOKEN_ANSWER = _answer(TOKEN_BODY)
# the status each per-order call leaves the order in (model.TaskStatus values)
TASK_STATUS = {
    b"assign_driver": 1,
    b"start_task": 2,
    b"checkin": 3,
    b"checkout": 2,
    b"end_task": 4,
    b"cancel_delivery": 7,
}
BAD_ANSWER = b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"


def _other(head: bytes, body: bytes) -> bytes:
    """A per-order call answers with the task it names; anything else with plain success."""
    line_end = head.find(b" ", 5)
    endpoint = head[5:line_end].rsplit(b"/", 1)[-1]
    status = TASK_STATUS.get(endpoint)
    if status is None:
        return OK_ANSWER
    at = body.find(b'"task_id"')
    if at < 0:
        return OK_ANSWER
    digits = re.match(rb"\s*:\s*(\d+)", body[at + 9 :])
    if digits is None:
        return OK_ANSWER
    task = b'{"success":true,"task":{"id":' + digits.group(1) + b',"status":%d}}' % status
    return _answer(task)


class Responder(asyncio.Protocol):
    """One connection: buffer, cut complete requests off the front, answer each in order."""

    __slots__ = ("_buffer", "_transport")

    def __init__(self) -> None:
        self._buffer = bytearray()
        self._transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = transport  # type: ignore[assignment]  # uvloop's is not a subclass

    def data_received(self, data: bytes) -> None:
        buffer = self._buffer
        buffer += data
        out: list[bytes] = []
        while True:
            end = buffer.find(b"\r\n\r\n")
            if end < 0:
                break
            head = bytes(buffer[:end]).lower()
            total = end + 4
            length = 0
            at = head.find(b"\r\ncontent-length:")
            if at >= 0:
                stop = head.find(b"\r\n", at + 2)
                length = int(head[at + 17 : stop if stop >= 0 else len(head)])
            elif b"\r\ntransfer-encoding: chunked" in head:
                close = buffer.find(b"\r\n0\r\n\r\n", end)
                if close < 0:
                    break
                length = close + 7 - total
            if len(buffer) < total + length:
                break
            if head.startswith(b"post /open_fleet_services/update_driver_location"):
                out.append(OK_ANSWER)  # the hot path: one prefix test
            elif head.startswith(b"post /oauth/token"):
                out.append(TOKEN_ANSWER)
            else:
                out.append(_other(head, bytes(buffer[total : total + length])))
            del buffer[: total + length]
        if out and self._transport is not None:
            self._transport.write(b"".join(out))
        if len(buffer) > 1 << 20 and self._transport is not None:
            self._transport.write(BAD_ANSWER)
            self._transport.close()


async def serve(host: str, port: int) -> None:
    loop = asyncio.get_running_loop()
    server = await loop.create_server(Responder, host, port, backlog=4096, reuse_address=True)
    bound = server.sockets[0].getsockname()[1]
    sys.stdout.write(f"READY {bound}\n")
    sys.stdout.flush()
    stop = asyncio.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    async with server:
        await stop.wait()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--cpu", type=int, default=None, help="pin to this core if it exists")
    args = parser.parse_args(argv)
    if args.host not in ("127.0.0.1", "::1", "localhost"):
        parser.error("the responder binds loopback only")
    if args.cpu is not None and hasattr(os, "sched_setaffinity"):
        cores = os.sched_getaffinity(0)
        if args.cpu in cores:
            os.sched_setaffinity(0, {args.cpu})
    try:
        import uvloop

        uvloop.run(serve(args.host, args.port))
    except ImportError:
        asyncio.run(serve(args.host, args.port))


if __name__ == "__main__":
    main()

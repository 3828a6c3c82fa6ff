"""Position inputs of the bridge: the HTTP app (Traccar forward, OsmAnd, health, metrics) and
the NDJSON reader for stdin or a file.

HTTP routes, all on the bridge's `--listen-port`:

- `POST /traccar`: Traccar position or event forwarding JSON. An event without a position
  (deviceOnline, say) is answered 200 and ignored.
- `GET|POST /` and `/osmand`: OsmAnd parameters in the query string, or for a POST without a
  query string in the body, form-encoded (any content type, as Traccar reads it) or the JSON that
  newer Traccar Client versions send (`Content-Type: application/json`).
- `GET /healthz`: the daemon's `health()` mapping as JSON; 503 when it says `"ok": false`.
- `GET /metrics`: Prometheus text format 0.0.4.

The position routes (not `/healthz` and `/metrics`) require the input key when one is given:
in an `X-Api-Key` header (Traccar's `forward.header`), as `Authorization: Bearer <key>`, or as
`?key=` in the URL (phone apps cannot set headers; the `key` parameter is never read as a
position field). The comparison runs in constant time; a missing or wrong key gets 401 and is
counted in `driver_agent_bridge_inputs_unauthorized_total{source}`; nothing logs the key or the
query string. Bodies are read and decoded through `jsonbody` (a 1 MB cap, 413 past it; 415 for
a `/traccar` body whose Content-Type is not JSON; 400 for bad UTF-8, nesting or numbers).

A position is handed to the sink and the sink is awaited before the source gets its 200, so
once the sink writes to the outbox, "acknowledged" means durable. A refused input gets 400
`{"error": ..., "field": ...}` and is counted by source and field, also when the sink refuses it
with a `PositionError` (a device not in the device map); a sink failure (any other
`DriverAgentError` such as `OutboxError`) gets 503 so the device or Traccar retries, counted by
error class. Neither ever stops the server.
"""

from __future__ import annotations

import codecs
import hmac
import sys
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

import anyio
import structlog
from starlette.applications import Starlette
from starlette.datastructures import Headers
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from driver_agent.bridge.metrics import CONTENT_TYPE, BridgeMetrics
from driver_agent.bridge.positions import (
    Position,
    PositionError,
    decode_traccar_forward,
    parse_ndjson_line,
    parse_osmand,
    parse_osmand_json,
    traccar_position,
)
from driver_agent.core.errors import ConfigError, DriverAgentError
from driver_agent.core.jsonbody import BodyError, CappedBody, check_json_content_type, decode_json
from driver_agent.core.model import Secret

Sink = Callable[[Position], Awaitable[None]]
MAX_BODY_BYTES = 1_000_000
KEY_HEADER = "x-api-key"
KEY_PARAM = "key"
UNAUTHORISED = (
    "missing or wrong input key: send it in an X-Api-Key header, Authorization: Bearer <key>, "
    "or ?key=<key> in the URL"
)
MAX_KEPT_ERRORS = 100
NDJSON_WINDOW = 256  # NDJSON lines waiting for their commit at once
READ_CHUNK = 65_536
OSMAND = ("/", "/osmand")


def _answer(body: bytes, content_type: bytes) -> tuple[Message, Message]:
    """The ASGI messages of a 200 with `body`, built once (what Starlette's responses send)."""
    headers = [(b"content-length", str(len(body)).encode()), (b"content-type", content_type)]
    return (
        {"type": "http.response.start", "status": 200, "headers": headers},
        {"type": "http.response.body", "body": body},
    )


_EMPTY = _answer(b"", b"text/plain; charset=utf-8")  # OsmAnd's answer
_ACCEPTED_ONE = _answer(b'{"accepted":1}', b"application/json")


@dataclass(frozen=True, slots=True)
class _Incoming:
    """What a position route reads of its request."""

    method: str
    headers: Headers
    query: dict[str, str]
    receive: Receive


Handler = Callable[[_Incoming], Awaitable[Response | None]]  # None: the route's 200


Endpoint = Callable[[Request], Awaitable[Response]]


def _decoded(headers: list[tuple[bytes, bytes]]) -> list[tuple[str, str]]:
    return [(name.decode("latin-1"), value.decode("latin-1")) for name, value in headers]


log = structlog.get_logger("driver_agent.bridge.sources")


class Source(StrEnum):
    """Where a position came from; the `source` label on the metrics."""

    TRACCAR = "traccar"
    OSMAND = "osmand"
    NDJSON = "ndjson"


def create_input_app(
    sink: Sink,
    metrics: BridgeMetrics,
    *,
    health: Callable[[], Mapping[str, Any]],
    max_body_bytes: int = MAX_BODY_BYTES,
    input_key: Secret | None = None,
    render_metrics: Callable[[], str] | None = None,
) -> ASGIApp:
    """The bridge's HTTP input app; see the module docstring for the routes and the key.
    `/metrics` renders `metrics` unless `render_metrics` renders more (the head of a bridge
    split across workers: every worker's metrics with its own)."""
    render = render_metrics or metrics.render
    key = input_key.reveal().encode() if input_key else None

    def key_given(headers: Headers, query: Mapping[str, str]) -> bool:
        if key is None:
            return True
        given = headers.get(KEY_HEADER)
        if given is None:
            authorization = headers.get("authorization", "")
            if authorization[:7].lower() == "bearer ":
                given = authorization[7:]
        if given is None:
            given = query.get(KEY_PARAM)
        if given is None:
            return False
        return hmac.compare_digest(given.strip().encode("utf-8", "surrogateescape"), key)

    def unauthorised(source: Source) -> Response:
        metrics.unauthorised(source)
        return JSONResponse(
            {"error": UNAUTHORISED, "field": KEY_PARAM},
            status_code=401,
            headers={"WWW-Authenticate": 'Bearer realm="driver-agent bridge"'},
        )

    async def deliver(position: Position, source: Source) -> Response | None:
        try:
            await sink(position)
        except PositionError as exc:  # the sink refused it (an unmapped device, say)
            return refuse(exc, source)
        except DriverAgentError as exc:
            metrics.error(type(exc).__name__)
            log.warning(
                "position_not_stored",
                source=str(source),
                device_id=position.device_id,
                error=str(exc),
            )
            return JSONResponse({"error": "position not stored, retry later"}, status_code=503)
        metrics.position_in(source)
        return None

    def refuse(exc: PositionError | BodyError, source: Source) -> Response:
        field = exc.field if isinstance(exc, PositionError) else "body"
        status = exc.status if isinstance(exc, BodyError) else 400
        metrics.position_rejected(source, field)
        log.info("position_rejected", source=str(source), field=field, error=exc.message)
        return JSONResponse({"error": str(exc), "field": field}, status_code=status)

    async def read_body(receive: Receive, headers: Headers) -> bytes:
        capped = CappedBody(max_body_bytes)
        capped.check_declared(headers.get("content-length"))
        while True:
            message = await receive()
            if message["type"] != "http.request":
                raise ClientDisconnect
            capped.add(message.get("body", b""))
            if not message.get("more_body", False):
                return capped.body()

    async def traccar(incoming: _Incoming) -> Response | None:
        if not key_given(incoming.headers, incoming.query):
            return unauthorised(Source.TRACCAR)
        try:
            check_json_content_type(incoming.headers.get("content-type"))
            body = await read_body(incoming.receive, incoming.headers)
            forward = decode_traccar_forward(decode_json(body))
            if forward.bare_event:
                return JSONResponse({"accepted": 0, "ignored": "event without a position"})
            position = traccar_position(forward)
        except (PositionError, BodyError) as exc:
            return refuse(exc, Source.TRACCAR)
        return await deliver(position, Source.TRACCAR)

    async def osmand(incoming: _Incoming) -> Response | None:
        if not key_given(incoming.headers, incoming.query):
            return unauthorised(Source.OSMAND)
        try:
            params = {k: v for k, v in incoming.query.items() if k != KEY_PARAM}
            if not params and incoming.method == "POST":
                raw = await read_body(incoming.receive, incoming.headers)
                if _is_json(incoming.headers.get("content-type")):
                    position = parse_osmand_json(decode_json(raw))
                else:
                    position = parse_osmand(_form(raw))
            else:
                position = parse_osmand(params)
        except (PositionError, BodyError) as exc:
            return refuse(exc, Source.OSMAND)
        return await deliver(position, Source.OSMAND)

    async def healthz(request: Request) -> Response:
        state = dict(health())
        return JSONResponse(state, status_code=503 if state.get("ok") is False else 200)

    async def prometheus(request: Request) -> Response:
        return Response(render(), media_type=CONTENT_TYPE)

    # the position routes are served without Starlette's middleware, routing, Request and
    # Response per position (a fifth of the input port's CPU at capacity); Starlette serves the
    # rest, and answers a wrong method or path as before
    positions: dict[tuple[str, str], tuple[Handler, tuple[Message, Message]]] = {
        ("POST", "/traccar"): (traccar, _ACCEPTED_ONE),
        **{(method, path): (osmand, _EMPTY) for method in ("GET", "POST") for path in OSMAND},
    }

    def endpoint(handler: Handler, success: tuple[Message, Message]) -> Endpoint:
        """The same handler for a request that takes Starlette's way (a HEAD, say)."""

        async def through_starlette(request: Request) -> Response:
            query = dict(request.query_params)
            answer = await handler(
                _Incoming(request.method, request.headers, query, request.receive)
            )
            start, body = success
            return answer or Response(body["body"], headers=dict(_decoded(start["headers"])))

        return through_starlette

    routed = Starlette(
        routes=[
            Route("/traccar", endpoint(traccar, _ACCEPTED_ONE), methods=["POST"]),
            Route("/", endpoint(osmand, _EMPTY), methods=["GET", "POST"]),
            Route("/osmand", endpoint(osmand, _EMPTY), methods=["GET", "POST"]),
            Route("/healthz", healthz, methods=["GET"]),
            Route("/metrics", prometheus, methods=["GET"]),
        ]
    )

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        route = positions.get((scope["method"], scope["path"])) if scope["type"] == "http" else None
        if route is None:
            await routed(scope, receive, send)
            return
        handler, success = route
        query = dict(parse_qsl(scope["query_string"].decode("latin-1"), keep_blank_values=True))
        incoming = _Incoming(scope["method"], Headers(scope=scope), query, receive)
        try:
            answer = await handler(incoming)
        except ClientDisconnect:
            return  # nobody to answer
        if answer is not None:
            await answer(scope, receive, send)
            return
        for message in success:
            await send(message)

    return app


@dataclass(slots=True)
class NdjsonSummary:
    """What one NDJSON stream gave: accepted and refused lines, the first refusals kept."""

    accepted: int = 0
    rejected: int = 0
    errors: list[PositionError] = field(default_factory=list)


async def read_ndjson(
    stream_lines: AsyncIterator[str],
    sink: Sink,
    metrics: BridgeMetrics,
    *,
    source: str = Source.NDJSON,
    window: int = NDJSON_WINDOW,
) -> NdjsonSummary:
    """Feed every valid line to the sink until the stream ends; bad lines (and lines the sink
    refuses with a `PositionError`) are logged with their number, counted and skipped. Any
    other sink failure propagates (nobody to retry it).

    The sink is called in line order; up to `window` lines wait for their storage at once (a
    file or pipe has no one to answer, so lines need not wait one by one: they share commits),
    and each is counted once stored."""
    summary = NdjsonSummary()
    waiting: deque[tuple[int, Awaitable[None]]] = deque()

    def rejected(exc: PositionError, lineno: int) -> None:
        if exc.lineno is None:  # refused by the sink: say which line
            exc = PositionError(exc.field, exc.message, lineno)
        summary.rejected += 1
        if len(summary.errors) < MAX_KEPT_ERRORS:
            summary.errors.append(exc)
        metrics.position_rejected(source, exc.field)
        log.info(
            "position_rejected", source=source, line=lineno, field=exc.field, error=exc.message
        )

    async def settle() -> None:
        lineno, stored = waiting.popleft()
        try:
            await stored
        except PositionError as exc:
            rejected(exc, lineno)
            return
        summary.accepted += 1
        metrics.position_in(source)

    lineno = 0
    async for line in stream_lines:
        lineno += 1
        if not line.strip():
            continue
        try:
            waiting.append((lineno, sink(parse_ndjson_line(line, lineno))))
        except PositionError as exc:
            rejected(exc, lineno)
        if len(waiting) >= window:
            await settle()
    while waiting:
        await settle()
    return summary


async def iter_lines(path: str | Path) -> AsyncIterator[str]:
    """Lines of a UTF-8 file, or of stdin for "-", read off the event loop in chunks (what is
    there, up to `READ_CHUNK` bytes: a slow pipe's lines still come as they are written)."""
    if str(path) == "-":
        async for line in _lines(anyio.wrap_file(sys.stdin.buffer), "-"):
            yield line
        return
    try:
        handle = await anyio.open_file(path, "rb")
    except OSError as exc:
        raise ConfigError(str(path), f"cannot read: {exc.strerror}") from None
    async with handle:
        async for line in _lines(handle, str(path)):
            yield line


async def _lines(handle: anyio.AsyncFile[bytes], where: str) -> AsyncIterator[str]:
    decoder = codecs.getincrementaldecoder("utf-8")()
    rest = ""
    try:
        while chunk := await handle.read1(READ_CHUNK):
            *lines, rest = (rest + decoder.decode(chunk)).split("\n")
            for line in lines:
                yield line + "\n"
        rest += decoder.decode(b"", final=True)
    except UnicodeDecodeError as exc:
        raise ConfigError(where, f"not UTF-8 text: {exc.reason}") from None
    if rest:
        yield rest


def _is_json(content_type: str | None) -> bool:
    try:
        check_json_content_type(content_type)
    except BodyError:
        return False
    return content_type is not None and bool(content_type.strip())


def _form(raw: bytes) -> dict[str, str]:
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise PositionError("body", "form body is not UTF-8") from None
    form = dict(parse_qsl(text.strip(), keep_blank_values=True))
    form.pop(KEY_PARAM, None)
    return form

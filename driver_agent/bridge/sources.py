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

A position is handed to the sink and the sink is awaited before the source gets its 200, so
once the sink writes to the outbox, "acknowledged" means durable. A refused input gets 400
`{"error": ..., "field": ...}` and is counted by source and field, also when the sink refuses it
with a `PositionError` (a device not in the device map); a sink failure (any other
`DriverAgentError` such as `OutboxError`) gets 503 so the device or Traccar retries, counted by
error class. Neither ever stops the server.
"""

from __future__ import annotations

import json
import sys
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

import anyio
import structlog
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from driver_agent.bridge.metrics import CONTENT_TYPE, BridgeMetrics
from driver_agent.bridge.positions import (
    Position,
    PositionError,
    parse_ndjson_line,
    parse_osmand,
    parse_osmand_json,
    parse_traccar_forward,
)
from driver_agent.errors import ConfigError, DriverAgentError

Sink = Callable[[Position], Awaitable[None]]
MAX_BODY_BYTES = 1_000_000
MAX_KEPT_ERRORS = 100

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
) -> Starlette:
    """The bridge's HTTP input app; see the module docstring for the routes."""

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

    def refuse(exc: PositionError, source: Source) -> Response:
        metrics.position_rejected(source, exc.field)
        log.info("position_rejected", source=str(source), field=exc.field, error=exc.message)
        return JSONResponse({"error": str(exc), "field": exc.field}, status_code=400)

    async def read_body(request: Request) -> bytes:
        declared = request.headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > max_body_bytes:
            raise PositionError("body", f"larger than {max_body_bytes} bytes")
        body = b""
        async for chunk in request.stream():
            body += chunk
            if len(body) > max_body_bytes:
                raise PositionError("body", f"larger than {max_body_bytes} bytes")
        return body

    async def traccar(request: Request) -> Response:
        try:
            body = _json(await read_body(request))
            if isinstance(body, dict) and "event" in body and body.get("position") is None:
                return JSONResponse({"accepted": 0, "ignored": "event without a position"})
            position = parse_traccar_forward(body)
        except PositionError as exc:
            return refuse(exc, Source.TRACCAR)
        failed = await deliver(position, Source.TRACCAR)
        return failed or JSONResponse({"accepted": 1})

    async def osmand(request: Request) -> Response:
        try:
            params: Mapping[str, str] = request.query_params
            if not params and request.method == "POST":
                raw = await read_body(request)
                content_type = request.headers.get("content-type", "")
                if content_type.split(";")[0].strip().lower() == "application/json":
                    position = parse_osmand_json(_json(raw))
                else:
                    position = parse_osmand(_form(raw))
            else:
                position = parse_osmand(params)
        except PositionError as exc:
            return refuse(exc, Source.OSMAND)
        failed = await deliver(position, Source.OSMAND)
        return failed or PlainTextResponse("")

    async def healthz(request: Request) -> Response:
        state = dict(health())
        return JSONResponse(state, status_code=503 if state.get("ok") is False else 200)

    async def prometheus(request: Request) -> Response:
        return Response(metrics.render(), media_type=CONTENT_TYPE)

    return Starlette(
        routes=[
            Route("/traccar", traccar, methods=["POST"]),
            Route("/", osmand, methods=["GET", "POST"]),
            Route("/osmand", osmand, methods=["GET", "POST"]),
            Route("/healthz", healthz, methods=["GET"]),
            Route("/metrics", prometheus, methods=["GET"]),
        ]
    )


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
) -> NdjsonSummary:
    """Feed every valid line to the sink until the stream ends; bad lines (and lines the sink
    refuses with a `PositionError`) are logged with their number, counted and skipped. Any
    other sink failure propagates (nobody to retry it)."""
    summary = NdjsonSummary()
    lineno = 0
    async for line in stream_lines:
        lineno += 1
        if not line.strip():
            continue
        try:
            position = parse_ndjson_line(line, lineno)
            await sink(position)
        except PositionError as exc:
            if exc.lineno is None:  # refused by the sink: say which line
                exc = PositionError(exc.field, exc.message, lineno)
            summary.rejected += 1
            if len(summary.errors) < MAX_KEPT_ERRORS:
                summary.errors.append(exc)
            metrics.position_rejected(source, exc.field)
            log.info(
                "position_rejected", source=source, line=lineno, field=exc.field, error=exc.message
            )
            continue
        summary.accepted += 1
        metrics.position_in(source)
    return summary


async def iter_lines(path: str | Path) -> AsyncIterator[str]:
    """Lines of a UTF-8 file, or of stdin for "-", read off the event loop."""
    if str(path) == "-":
        async for line in anyio.wrap_file(sys.stdin):
            yield line
        return
    try:
        handle = await anyio.open_file(path, encoding="utf-8")
    except OSError as exc:
        raise ConfigError(str(path), f"cannot read: {exc.strerror}") from None
    async with handle:
        try:
            async for line in handle:
                yield line
        except UnicodeDecodeError as exc:
            raise ConfigError(str(path), f"not UTF-8 text: {exc.reason}") from None


def _json(raw: bytes) -> object:
    try:
        return json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise PositionError("body", f"not valid JSON: {exc}") from None


def _form(raw: bytes) -> dict[str, str]:
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise PositionError("body", "form body is not UTF-8") from None
    return dict(parse_qsl(text.strip(), keep_blank_values=True))

"""The sandbox's thin HTTP shell: a raw ASGI app over the pure rules.

It parses (auth header, query string, JSON bodies within `jsonbody`'s limits: 16 MB, 415 for a
Content-Type that is not JSON, 400 for bad UTF-8, nesting or numbers), routes, applies faults
and the rate limit, adds the RateLimit-* headers to every response, and hands webhooks to the
sender; every decision about orders, drivers and tokens is made in rules.py. The per-request
path stays lean: no logging, no copies of state.

Admin endpoints (the sandbox's own, not Bringg's; no auth, local use only):
    POST /_sandbox/clock {"advance_s": N}           move sandbox time forward (tokens expire...;
                                                    at most 100 years ahead in all)
    GET  /_sandbox/state                            orders, drivers + ping gaps, calls, webhooks
    POST /_sandbox/faults {"status": 503, "count": 5} | {"status": 503, "duration_s": 120}
         | {"status": 429, "count": 2, "retry_after_s": 1} | {"delay_s": 0.5, "count": 3}
         | ... "paths": [...] | {"clear": true}
    POST /_sandbox/orders/{task_id}/update          a seed-002 shape ({"way_point": {...}},
         {"task_inventory": ...}, {"task_note": ...}, {"task": ...}) or {"full": true};
         applies it and sends Delivery Updated, answering with the webhook's outcome
    POST /_sandbox/orders/{task_id}/cancel {"reason_id": 1, "reason": "..."}  + Delivery Cancelled
    POST /_sandbox/settle {"timeout_s": 10}         wait until no webhook is queued or in flight
    POST /_sandbox/webhook_url {"url": "http://..."} send fleet webhooks there from now on
"""

from __future__ import annotations

import dataclasses
import functools
import json
import time
from collections.abc import Awaitable, Callable, Iterator, MutableMapping
from contextlib import contextmanager
from typing import Any
from urllib.parse import parse_qsl

import anyio
import anyio.from_thread
from anyio.abc import TaskStatus

from driver_agent.core.jsonbody import BodyError, CappedBody, check_json_content_type, decode_json
from driver_agent.core.serving import serve_app
from driver_agent.sandbox.fleet import FLEET_HANDLERS
from driver_agent.sandbox.manhattan import MANHATTAN_ORDERS
from driver_agent.sandbox.rules import OTHER_PATH, RateStatus, SandboxState, TokenScope
from driver_agent.sandbox.settings import SandboxSettings
from driver_agent.sandbox.webhook_sender import WebhookSender
from driver_agent.sandbox.world import JsonDict, Reply, Violation, WebhookJob

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]

TOKEN_PATH = "/oauth/token"
FLEET_PREFIX = "/open_fleet_services/"
CREATE_TASK_PATH = "/services/create_task"
MANHATTAN_CANCEL = MANHATTAN_ORDERS + "/cancel"
MANHATTAN_GET = MANHATTAN_ORDERS + "/{id}"
ADMIN_PREFIX = "/_sandbox/"
MAX_BODY_BYTES = 16 * 1024 * 1024  # a 10 MB image in base64, plus the JSON around it
URL_CREDENTIALS = frozenset(
    {"client_id", "client_secret", "access_token", "token", "api_key", "secret", "authorization"}
)
MAX_CLOCK_OFFSET_S = 100 * 365.25 * 24 * 3600  # /_sandbox/clock moves at most this far ahead
NOT_FOUND = Reply(404, {"success": False, "message": "Not found: API calls use POST"})


def _wall_clock_s() -> float:
    return time.time()  # noqa: TID251 - the sandbox clock's one reading of wall time


class SandboxClock:
    """Sandbox time: wall-clock time plus an offset that `POST /_sandbox/clock` moves forward."""

    def __init__(self, start_s: float | None = None) -> None:
        self._offset_s = 0.0 if start_s is None else start_s - _wall_clock_s()

    def now(self) -> float:
        return _wall_clock_s() + self._offset_s

    @property
    def offset_s(self) -> float:
        return self._offset_s

    def advance(self, seconds: float) -> None:
        if seconds < 0:
            raise ValueError("the sandbox clock only moves forward")
        self._offset_s += seconds


class _BadRequest(Exception):
    def __init__(self, reply: Reply) -> None:
        self.reply = reply


def _decode(raw: bytes) -> JsonDict:
    """The JSON object of a body (`jsonbody`'s limits); an empty body is `{}`."""
    if not raw.strip():
        return {}
    try:
        value = decode_json(raw)
    except BodyError as e:
        raise _BadRequest(_body_refusal(e)) from None
    if not isinstance(value, dict):
        raise _BadRequest(
            Reply(400, {"success": False, "message": "the JSON body must be an object"})
        )
    return value


def _body_refusal(error: BodyError) -> Reply:
    message = error.message.replace("malformed JSON:", "malformed JSON body:", 1)
    if not message.startswith("malformed"):
        message = f"request body: {message}"
    return Reply(error.status, {"success": False, "message": message})


async def _read_body(receive: Receive, scope: Scope) -> bytes:
    """The body, refused (413) at the first byte past `MAX_BODY_BYTES`: the rest is not read."""
    capped = CappedBody(MAX_BODY_BYTES)
    try:
        capped.check_declared(_header(scope, b"content-length"))
        while True:
            message = await receive()
            if message["type"] != "http.request":
                return b""  # disconnected
            capped.add(message.get("body", b""))
            if not message.get("more_body", False):
                return capped.body()
    except BodyError as e:
        raise _BadRequest(_body_refusal(e)) from None


async def _json_body(receive: Receive, scope: Scope) -> JsonDict:
    """A JSON request body: 415 for a Content-Type that is not JSON, 413, 400, or the object."""
    try:
        check_json_content_type(_header(scope, b"content-type"))
    except BodyError as e:
        raise _BadRequest(_body_refusal(e)) from None
    return _decode(await _read_body(receive, scope))


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope["headers"]:
        if key == name:
            return str(value.decode("latin-1"))
    return None


class SandboxApp:
    """The ASGI app; `state` (the rules), `clock` and `webhooks` are there for in-process use."""

    def __init__(self, settings: SandboxSettings) -> None:
        self.settings = settings
        self.state = SandboxState(settings)
        self.clock = SandboxClock(settings.start_s)
        self.webhooks = WebhookSender(settings, self.state.webhook_done)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
            return
        if scope["type"] != "http":
            return
        path: str = scope["path"]
        now_s = self.clock.now()
        if path.startswith(ADMIN_PREFIX):
            try:
                reply = await self._admin(scope, receive, path, now_s)
            except _BadRequest as e:
                reply = e.reply
            except Violation as v:
                reply = v.reply()
            await self._respond(send, reply, self.state.rate("admin", now_s, consume=False))
            return
        key: str = path
        rate: RateStatus | None = None
        try:
            key, reply, rate = await self._api(scope, receive, path, now_s)
        except _BadRequest as e:
            reply = e.reply
        except Violation as v:
            reply = v.reply()
        state = self.state
        state.record_call(key, reply.status)
        if state.world.outbox:
            for job in state.take_outbox():
                self.webhooks.submit(job)
        await self._respond(send, reply, rate or state.rate("anonymous", now_s, consume=False))

    async def _api(
        self, scope: Scope, receive: Receive, path: str, now_s: float
    ) -> tuple[str, Reply, RateStatus | None]:
        method: str = scope["method"]
        route, arg = self._route(path, method)
        if route is None:
            return (OTHER_PATH if arg is None else arg), NOT_FOUND, None
        if scope["query_string"] and URL_CREDENTIALS & {
            k.lower() for k, _ in parse_qsl(scope["query_string"].decode("latin-1"))
        }:
            raise Violation(401, "Credentials must be sent in headers, never in the URL")
        state = self.state
        if state.faults:
            fault = state.faults.take(route, now_s, api=route != TOKEN_PATH)
            if fault is not None:
                if fault.delay_s:
                    await anyio.sleep(fault.delay_s)
                if fault.status is not None:
                    message = f"sandbox fault: HTTP {fault.status}"
                    reply = Reply(
                        fault.status, {"success": False, "message": message}, fault.retry_after_s
                    )
                    return route, reply, None
        if route == TOKEN_PATH:
            content_type = _header(scope, b"content-type") or ""
            if "application/x-www-form-urlencoded" in content_type.lower():
                raw = await _read_body(receive, scope)
                body: JsonDict = dict(parse_qsl(raw.decode("latin-1")))
            else:
                body = await _json_body(receive, scope)
            client_id = body.get("client_id")
            rate = state.rate(client_id if isinstance(client_id, str) else "anonymous", now_s)
            if rate.exceeded:
                return route, self._throttled(rate), rate
            return route, state.issue_token(body, now_s), rate
        scope_kind = TokenScope.FLEET if route.startswith(FLEET_PREFIX) else TokenScope.MERCHANT
        grant = state.authorize(_header(scope, b"authorization"), scope_kind, now_s)
        rate = state.rate(grant.client_id, now_s)
        if rate.exceeded:
            return route, self._throttled(rate), rate
        if route == MANHATTAN_GET:
            return route, state.manhattan_get(str(arg)), rate
        body = await _json_body(receive, scope)
        if scope_kind is TokenScope.FLEET:
            reply = state.fleet(route[len(FLEET_PREFIX) :], body, now_s)
        elif route == CREATE_TASK_PATH:
            reply = state.create_task(body, now_s)
        elif route == MANHATTAN_CANCEL:
            reply = state.manhattan_cancel(body, now_s)
        else:
            reply = state.manhattan_create(body, now_s)
        return route, reply, rate

    @staticmethod
    def _route(path: str, method: str) -> tuple[str | None, str | None]:
        """(route key, argument) for a known API path and method; (None, key) when not found."""
        path = path.rstrip("/") or "/"
        if path.startswith(MANHATTAN_ORDERS + "/") and path != MANHATTAN_CANCEL:
            order_id = path[len(MANHATTAN_ORDERS) + 1 :]
            if method == "GET" and order_id and "/" not in order_id:
                return MANHATTAN_GET, order_id
            return None, MANHATTAN_GET if "/" not in order_id else None
        known = path in (TOKEN_PATH, CREATE_TASK_PATH, MANHATTAN_ORDERS, MANHATTAN_CANCEL) or (
            path.startswith(FLEET_PREFIX) and path[len(FLEET_PREFIX) :] in FLEET_HANDLERS
        )
        if not known:
            return None, None
        if method != "POST":
            return None, path  # GET (or anything but POST) on an API path -> 404
        return path, None

    @staticmethod
    def _throttled(rate: RateStatus) -> Reply:
        return Reply(
            429,
            {"success": False, "message": "Too many requests: rate limit exceeded"},
            rate.reset_s,
        )

    async def _admin(self, scope: Scope, receive: Receive, path: str, now_s: float) -> Reply:
        state, method = self.state, scope["method"]
        if state.faults:
            fault = state.faults.take(path, now_s, api=False)
            if fault is not None:
                if fault.delay_s:
                    await anyio.sleep(fault.delay_s)
                if fault.status is not None:
                    message = f"sandbox fault: HTTP {fault.status}"
                    return Reply(fault.status, {"success": False, "message": message})
        parts = path.rstrip("/").split("/")  # ["", "_sandbox", ...]
        if path.rstrip("/") == "/_sandbox/state" and method in ("GET", "POST"):
            return Reply(200, state.snapshot(now_s))
        if method != "POST":
            return Reply(404, {"success": False, "message": f"no admin endpoint {method} {path}"})
        body = await _json_body(receive, scope)
        if parts[2:] == ["clock"]:
            advance_s = body.get("advance_s")
            if isinstance(advance_s, bool) or not isinstance(advance_s, int | float):
                raise Violation(400, "advance_s must be a number of seconds")
            if advance_s < 0:
                raise Violation(400, "advance_s must be >= 0: the sandbox clock only moves forward")
            if self.clock.offset_s + advance_s > MAX_CLOCK_OFFSET_S:
                raise Violation(
                    400,
                    f"advance_s {advance_s:g} would move the sandbox clock more than "
                    f"{MAX_CLOCK_OFFSET_S:g} s (100 years) ahead",
                )
            self.clock.advance(float(advance_s))
            return Reply(200, {"success": True, "now_s": self.clock.now()})
        if parts[2:] == ["faults"]:
            fault = state.faults.add(body, now_s)
            view = None if fault is None else fault.view(now_s)
            return Reply(200, {"success": True, "fault": view, "faults": state.faults.view(now_s)})
        if parts[2:] == ["webhook_url"]:
            url = body.get("url")
            if not isinstance(url, str) or not (
                url == "" or url.startswith(("http://", "https://"))
            ):
                raise Violation(400, "url must be an http(s) URL, or empty to send no webhooks")
            self.set_fleet_webhook_url(url)
            return Reply(200, {"success": True, "fleet_webhook_url": url})
        if parts[2:] == ["settle"]:
            timeout_s = body.get("timeout_s", 10)
            if isinstance(timeout_s, bool) or not isinstance(timeout_s, int | float):
                raise Violation(400, "timeout_s must be a number")
            with anyio.move_on_after(timeout_s):
                await self.webhooks.wait_idle()
            return Reply(200, {"success": True, "idle": not self.webhooks.busy})
        if len(parts) == 5 and parts[2] == "orders" and parts[4] in ("update", "cancel"):
            if not parts[3].isdigit():
                raise Violation(400, f"task id must be an integer, got {parts[3]!r}")
            task_id = int(parts[3])
            if parts[4] == "update":
                outcome = state.update_order(task_id, body, now_s)
            else:
                outcome = state.cancel_order(task_id, body, now_s)
            if isinstance(outcome, Reply):
                return outcome
            return Reply(200, await self._send_now(outcome))
        return Reply(404, {"success": False, "message": f"no admin endpoint POST {path}"})

    def set_fleet_webhook_url(self, url: str) -> None:
        """Where webhooks go from now on (a fleet that started after the sandbox)."""
        self.webhooks.settings = dataclasses.replace(self.webhooks.settings, fleet_webhook_url=url)

    async def _send_now(self, job: WebhookJob) -> JsonDict:
        out: JsonDict = {"success": True, "payload": job.payload, "webhook": None}
        if self.webhooks.enabled:
            out["webhook"] = (await self.webhooks.deliver(job)).view()
        return out

    @staticmethod
    async def _respond(send: Send, reply: Reply, rate: RateStatus) -> None:
        payload = json.dumps(reply.body, separators=(",", ":"), ensure_ascii=False).encode()
        headers = [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(payload)).encode()),
            (b"ratelimit-limit", str(rate.limit).encode()),
            (b"ratelimit-remaining", str(rate.remaining).encode()),
            (b"ratelimit-reset", str(rate.reset_s).encode()),
        ]
        if reply.retry_after_s is not None:
            headers.append((b"retry-after", str(max(int(reply.retry_after_s + 0.999), 0)).encode()))
        await send({"type": "http.response.start", "status": reply.status, "headers": headers})
        await send({"type": "http.response.body", "body": payload})

    @staticmethod
    async def _lifespan(receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return


def create_app(settings: SandboxSettings | None = None) -> SandboxApp:
    """The sandbox as an ASGI app; its webhooks go out while `app.webhooks.run()` runs."""
    return SandboxApp(settings or SandboxSettings())


async def serve_sandbox(
    settings: SandboxSettings | None = None,
    host: str = "127.0.0.1",
    port: int = 0,
    *,
    app: SandboxApp | None = None,
    task_status: TaskStatus[str] = anyio.TASK_STATUS_IGNORED,
) -> None:
    """Serve the sandbox (and its webhook sender) until cancelled; reports the base URL."""
    app = app or create_app(settings)
    async with anyio.create_task_group() as tg:
        await tg.start(app.webhooks.run)
        url = await tg.start(serve_app, app, host, port)
        task_status.started(url)


@contextmanager
def serve_sandbox_in_thread(
    settings: SandboxSettings | None = None,
    *,
    app: SandboxApp | None = None,
    host: str = "127.0.0.1",
    port: int = 0,
) -> Iterator[str]:
    """The sandbox on a background thread with its own event loop; yields the base URL."""
    with anyio.from_thread.start_blocking_portal() as portal:
        serve = functools.partial(serve_sandbox, settings, host, port, app=app)
        future, url = portal.start_task(serve)
        try:
            yield url
        finally:
            future.cancel()

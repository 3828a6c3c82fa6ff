"""The sandbox's thin HTTP shell: a raw ASGI app over the pure rules.

It parses (auth header, query string, JSON bodies within `jsonbody`'s limits: 16 MB, 415 for a
Content-Type that is not JSON, 400 for bad UTF-8, nesting or numbers), routes, applies faults
and the rate limit, adds the RateLimit-* headers to every response, and hands webhooks to the
sender; every decision about orders, drivers and tokens is made in rules.py. The per-request
path stays lean: no logging, no copies of state.

The admin endpoints (`/_sandbox/...`) are in admin.py, request reading in bodies.py and sandbox
time in clock.py.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import parse_qsl

import anyio
import anyio.from_thread
from anyio.abc import TaskStatus

from driver_agent.core.serving import serve_app
from driver_agent.sandbox.admin import AdminEndpoints
from driver_agent.sandbox.bodies import (
    BadRequest,
    Receive,
    Scope,
    Send,
    header,
    json_body,
    read_body,
)
from driver_agent.sandbox.clock import SandboxClock
from driver_agent.sandbox.devapi import DevApi
from driver_agent.sandbox.devapi_routes import SERVICES_PREFIX
from driver_agent.sandbox.fleet import FLEET_HANDLERS
from driver_agent.sandbox.manhattan import MANHATTAN_ORDERS
from driver_agent.sandbox.rules import OTHER_PATH, RateStatus, SandboxState, TokenScope
from driver_agent.sandbox.settings import SandboxSettings
from driver_agent.sandbox.webhook_sender import WebhookSender
from driver_agent.sandbox.world import JsonDict, Reply, Violation

TOKEN_PATH = "/oauth/token"
FLEET_PREFIX = "/open_fleet_services/"
CREATE_TASK_PATH = "/services/create_task"
MANHATTAN_CANCEL = MANHATTAN_ORDERS + "/cancel"
MANHATTAN_GET = MANHATTAN_ORDERS + "/{id}"
ADMIN_PREFIX = "/_sandbox/"
SERVICES_ADMIN_PATH = "/_sandbox/services"  # the developer API's service URLs, as JSON
URL_CREDENTIALS = frozenset(
    {"client_id", "client_secret", "access_token", "token", "api_key", "secret", "authorization"}
)
NOT_FOUND = Reply(404, {"success": False, "message": "Not found: API calls use POST"})
DEVAPI_NOT_FOUND = Reply(404, {"success": False, "message": "Not found: no service at this URL"})


class SandboxApp:
    """The ASGI app; `state` (the rules), `clock` and `webhooks` are there for in-process use."""

    def __init__(self, settings: SandboxSettings, clock: SandboxClock | None = None) -> None:
        self.settings = settings
        self.state = SandboxState(settings)
        self.clock = clock or SandboxClock(settings.start_s)
        self.webhooks = WebhookSender(settings, self.state.webhook_done)
        self.admin = AdminEndpoints(self.state, self.clock, self.webhooks)
        self.devapi: DevApi = self.state.devapi

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
            return
        if scope["type"] != "http":
            return
        path: str = scope["path"]
        now_s = self.clock.now()
        if path.rstrip("/") == SERVICES_ADMIN_PATH and scope["method"] == "GET":
            host = header(scope, b"host")
            base = f"{scope.get('scheme', 'http')}://{host}" if host else ""
            reply = Reply(200, self.devapi.services_view(base))
            await self._respond(send, reply, self.state.rate("admin", now_s, consume=False))
            return
        if path.startswith(ADMIN_PREFIX):
            try:
                reply = await self.admin.handle(scope, receive, path, now_s)
            except BadRequest as e:
                reply = e.reply
            except Violation as v:
                reply = v.reply()
            await self._respond(send, reply, self.state.rate("admin", now_s, consume=False))
            return
        key: str = path
        rate: RateStatus | None = None
        try:
            key, reply, rate = await self._api(scope, receive, path, now_s)
        except BadRequest as e:
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
        if path.startswith(SERVICES_PREFIX) and path.rstrip("/") != CREATE_TASK_PATH:
            return await self._developer_api(scope, receive, path, now_s)
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
                    await self.clock.sleep(fault.delay_s)
                if fault.status is not None:
                    message = f"sandbox fault: HTTP {fault.status}"
                    reply = Reply(
                        fault.status, {"success": False, "message": message}, fault.retry_after_s
                    )
                    return route, reply, None
        if route == TOKEN_PATH:
            content_type = header(scope, b"content-type") or ""
            if "application/x-www-form-urlencoded" in content_type.lower():
                raw = await read_body(receive, scope)
                body: JsonDict = dict(parse_qsl(raw.decode("latin-1")))
            else:
                body = await json_body(receive, scope)
            client_id = body.get("client_id")
            rate = state.rate(client_id if isinstance(client_id, str) else "anonymous", now_s)
            if rate.exceeded:
                return route, self._throttled(rate), rate
            return route, state.issue_token(body, now_s), rate
        scope_kind = TokenScope.FLEET if route.startswith(FLEET_PREFIX) else TokenScope.MERCHANT
        grant = state.authorize(header(scope, b"authorization"), scope_kind, now_s)
        rate = state.rate(grant.client_id, now_s)
        if rate.exceeded:
            return route, self._throttled(rate), rate
        if route == MANHATTAN_GET:
            return route, state.manhattan_get(str(arg)), rate
        body = await json_body(receive, scope)
        if scope_kind is TokenScope.FLEET:
            reply = state.fleet(route[len(FLEET_PREFIX) :], body, now_s)
        elif route == CREATE_TASK_PATH:
            reply = state.create_task(body, now_s)
        elif route == MANHATTAN_CANCEL:
            reply = state.manhattan_cancel(body, now_s)
        else:
            reply = state.manhattan_create(body, now_s)
        return route, reply, rate

    async def _developer_api(
        self, scope: Scope, receive: Receive, path: str, now_s: float
    ) -> tuple[str, Reply, RateStatus | None]:
        """A seed-001 service at its own URL (the URL is the credential: no token); the route
        key names the service, never the URL."""
        name = self.devapi.service(path)
        if name is None:
            return OTHER_PATH, DEVAPI_NOT_FOUND, None
        route = SERVICES_PREFIX + name
        state = self.state
        if state.faults:
            fault = state.faults.take(route, now_s, api=True)
            if fault is not None:
                if fault.delay_s:
                    await self.clock.sleep(fault.delay_s)
                if fault.status is not None:
                    message = f"sandbox fault: HTTP {fault.status}"
                    reply = Reply(
                        fault.status, {"success": False, "message": message}, fault.retry_after_s
                    )
                    return route, reply, None
        rate = state.rate("developer-api", now_s)
        if rate.exceeded:
            return route, self._throttled(rate), rate
        body = await json_body(receive, scope)
        query = parse_qsl(scope["query_string"].decode("latin-1")) if scope["query_string"] else []
        return route, self.devapi.call(name, scope["method"], body, query, now_s), rate

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

    def set_fleet_webhook_url(self, url: str) -> None:
        """Where webhooks go from now on (a fleet that started after the sandbox)."""
        self.admin.set_fleet_webhook_url(url)

    @staticmethod
    async def _respond(send: Send, reply: Reply, rate: RateStatus) -> None:
        data: object = reply.body if reply.items is None else reply.items
        payload = json.dumps(data, separators=(",", ":"), ensure_ascii=False).encode()
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

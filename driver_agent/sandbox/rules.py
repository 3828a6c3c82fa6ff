"""The sandbox's rules: one pure state machine over tokens, rate windows, orders and drivers.

The HTTP shell (app.py) parses a request and calls one method here with the parsed body and the
sandbox time `now_s`; it gets back a `Reply` (status + JSON body) and never decides anything
itself. Nothing here does I/O, reads a clock or logs.
"""

from __future__ import annotations

import base64
import json
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum

from driver_agent.sandbox.devapi import DevApi
from driver_agent.sandbox.faults import FaultBook
from driver_agent.sandbox.fleet import FLEET_HANDLERS
from driver_agent.sandbox.manhattan import manhattan_cancel, manhattan_create, manhattan_get
from driver_agent.sandbox.merchant_orders import (
    create_task,
    merchant_cancel,
    merchant_update,
    record_fleet_reply,
)
from driver_agent.sandbox.settings import SandboxSettings
from driver_agent.sandbox.world import JsonDict, Reply, Violation, WebhookJob, WebhookKind, World

OTHER_PATH = "<other>"
FLEET_PATH = "/open_fleet_services/"
CREATE_TASK_FAULT_PATH = "/services/create_task"  # a lost answer of Create Order: see faults


class TokenScope(StrEnum):
    FLEET = "fleet"
    MERCHANT = "merchant"


@dataclass(frozen=True, slots=True)
class Grant:
    client_id: str
    scope: TokenScope
    expires_at_s: float


@dataclass(frozen=True, slots=True)
class RateStatus:
    """What the RateLimit-* headers say, and whether this request is over the limit."""

    limit: int
    remaining: int
    reset_s: int
    exceeded: bool


def _default_token_part() -> str:
    return secrets.token_urlsafe(32)


def _b64(data: JsonDict) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


class SandboxState:
    """All sandbox state; each public method is one kind of request."""

    def __init__(
        self, settings: SandboxSettings, *, token_part: Callable[[], str] = _default_token_part
    ) -> None:
        self.settings = settings
        self.world = World(settings)
        self.faults = FaultBook()
        self.devapi = DevApi(self.world)  # the developer API (seed 001) over the same orders
        self._token_part = token_part
        self._tokens: dict[str, Grant] = {}
        self._windows: dict[str, tuple[float, int]] = {}
        self._credentials = {
            settings.client_id: (settings.client_secret.reveal(), TokenScope.FLEET),
            settings.merchant_client_id: (
                settings.merchant_client_secret.reveal(),
                TokenScope.MERCHANT,
            ),
        }
        self.calls: dict[str, dict[int, int]] = {}
        self.webhooks: dict[str, dict[str, int]] = {
            kind.value: {"sent": 0, "failed": 0, "attempts": 0} for kind in WebhookKind
        }

    # -- access ---------------------------------------------------------------------------------

    def issue_token(self, body: JsonDict, now_s: float) -> Reply:
        """POST /oauth/token (client credentials)."""
        if body.get("grant_type") != "client_credentials":
            return Reply(
                400,
                {
                    "success": False,
                    "error": "unsupported_grant_type",
                    "message": "grant_type must be client_credentials",
                },
            )
        client_id, secret = body.get("client_id"), body.get("client_secret")
        known = self._credentials.get(client_id) if isinstance(client_id, str) else None
        if (
            known is None
            or not isinstance(secret, str)
            or not secrets.compare_digest(secret.encode(), known[0].encode())
        ):
            return Reply(
                401,
                {
                    "success": False,
                    "error": "invalid_client",
                    "message": "Invalid client credentials",
                },
            )
        scope = known[1]
        ttl_s = self.settings.token_ttl_s
        claims = {"aut": "oauth2", "sub": client_id, "scp": [scope.value], "iat": int(now_s),
                  "exp": int(now_s) + ttl_s, "iss": "urn:x-bringg:sandbox"}  # fmt: skip
        token = f"{_b64({'typ': 'JWT', 'alg': 'none'})}.{_b64(claims)}.{self._token_part()}"
        if len(self._tokens) > 10_000:
            self._tokens = {t: g for t, g in self._tokens.items() if g.expires_at_s > now_s}
        self._tokens[token] = Grant(client_id, scope, now_s + ttl_s)  # type: ignore[arg-type]
        return Reply(
            200,
            {
                "access_token": token,
                "token_type": "Bearer",
                "expires_in": ttl_s,
                "created_at": int(now_s),
            },
        )

    def authorize(self, authorization: str | None, scope: TokenScope, now_s: float) -> Grant:
        """The grant behind an `Authorization: Bearer ...` header; Violation 401 otherwise."""
        if not authorization:
            raise Violation(401, "Missing Authorization header")
        kind, _, token = authorization.partition(" ")
        if kind.lower() != "bearer" or not token:
            raise Violation(401, "Authorization must be: Bearer <token>")
        grant = self._tokens.get(token.strip())
        if grant is None:
            raise Violation(401, "Invalid token")
        if now_s >= grant.expires_at_s:
            raise Violation(401, "Token expired")
        if grant.scope is not scope:
            raise Violation(401, f"This token is not valid for {scope.value} calls")
        return grant

    def rate(self, key: str, now_s: float, *, consume: bool = True) -> RateStatus:
        """Fixed-window count for one credential (`key`); `exceeded` means answer 429."""
        limit, window_s = self.settings.rate_limit_per_window, self.settings.rate_window_s
        start = now_s - now_s % window_s
        window_start, used = self._windows.get(key, (start, 0))
        if window_start != start:
            used = 0
        exceeded = consume and used >= limit
        if consume and not exceeded:
            used += 1
        self._windows[key] = (start, used)
        reset_s = max(int(start + window_s - now_s + 0.999), 1)
        return RateStatus(limit, max(limit - used, 0), reset_s, exceeded)

    # -- API calls ------------------------------------------------------------------------------

    def fleet(self, name: str, body: JsonDict, now_s: float) -> Reply:
        handler = FLEET_HANDLERS.get(name)
        if handler is None:
            return Reply(404, {"success": False, "message": f"Unknown fleet call {name}"})
        try:
            reply = handler(self.world, body, now_s)
        except Violation as v:
            return v.reply()
        return self._lose_answer(FLEET_PATH + name, reply, now_s)

    def _lose_answer(self, path: str, reply: Reply, now_s: float) -> Reply:
        """The `lose_answer` fault: the call was applied, its answer is replaced by the error."""
        if self.faults and reply.status == 200 and reply.body.get("success") is not False:
            lost = self.faults.take_lost(path, now_s)
            if lost is not None and lost.status is not None:
                message = f"sandbox fault: HTTP {lost.status} (the call was applied)"
                return Reply(
                    lost.status, {"success": False, "message": message}, lost.retry_after_s
                )
        return reply

    def create_task(self, body: JsonDict, now_s: float) -> Reply:
        reply = self._guard(create_task, body, now_s)
        return self._lose_answer(CREATE_TASK_FAULT_PATH, reply, now_s)

    def manhattan_create(self, body: JsonDict, now_s: float) -> Reply:
        return self._guard(manhattan_create, body, now_s)

    def manhattan_cancel(self, body: JsonDict, now_s: float) -> Reply:
        return self._guard(manhattan_cancel, body, now_s)

    def manhattan_get(self, order_id: str) -> Reply:
        try:
            return manhattan_get(self.world, order_id)
        except Violation as v:
            return v.reply()

    def _guard(self, handler: Callable[[World, JsonDict, float], Reply], body: JsonDict,
               now_s: float) -> Reply:  # fmt: skip
        try:
            return handler(self.world, body, now_s)
        except Violation as v:
            return v.reply()

    # -- admin: merchant-side changes and webhooks ----------------------------------------------

    def update_order(self, task_id: int, body: JsonDict, now_s: float) -> WebhookJob | Reply:
        try:
            return merchant_update(self.world, task_id, body, now_s)
        except Violation as v:
            return v.reply()

    def cancel_order(self, task_id: int, body: JsonDict, now_s: float) -> WebhookJob | Reply:
        try:
            return merchant_cancel(self.world, task_id, body, now_s)
        except Violation as v:
            return v.reply()

    def take_outbox(self) -> list[WebhookJob]:
        jobs = list(self.world.outbox)
        self.world.outbox.clear()
        return jobs

    def webhook_done(
        self, job: WebhookJob, attempts: int, status: int | None, reply: object
    ) -> None:
        """Record how a webhook ended: `status` None when every attempt failed to get an answer."""
        stats = self.webhooks[job.kind.value]
        stats["attempts"] += attempts
        ok = status == 200
        stats["sent" if ok else "failed"] += 1
        if job.kind is not WebhookKind.CREATED:
            return
        body = reply if isinstance(reply, dict) else {}
        delivery_id = body.get("delivery_id")
        if ok and body.get("success") is True and isinstance(delivery_id, str) and delivery_id:
            record_fleet_reply(self.world, job.task_id, True, delivery_id)
        elif ok and body.get("success") is False:
            message = body.get("error_message")
            record_fleet_reply(self.world, job.task_id, False, str(message or "rejected"))
        else:
            reason = f"HTTP {status}" if status is not None else "no answer"
            if ok:
                reason = "reply lacks success and a string delivery_id"
            order = self.world.orders.get(job.task_id)
            if order is not None:
                order.fleet_error = f"Delivery Created failed: {reason}"

    # -- bookkeeping ----------------------------------------------------------------------------

    def record_call(self, path: str, status: int) -> None:
        by_status = self.calls.get(path)
        if by_status is None:
            by_status = self.calls[path] = {}
        by_status[status] = by_status.get(status, 0) + 1

    def snapshot(self, now_s: float) -> JsonDict:
        """GET /_sandbox/state."""
        world = self.world
        drivers_by_id = world.drivers
        return {
            "now_s": now_s,
            "orders": [
                {
                    "task_id": o.id,
                    "external_id": o.external_id,
                    "title": o.title,
                    "status": int(o.status),
                    "status_name": o.status.name.lower(),
                    "user_id": o.user_id,
                    "driver": (
                        drivers_by_id[o.user_id].external_id if o.user_id in drivers_by_id else None
                    ),
                    "active_way_point_id": None if o.finished else o.active_way_point.id,
                    "way_points": [
                        {
                            "id": wp.id,
                            "position": wp.position,
                            "lat": wp.lat,
                            "lng": wp.lng,
                            "address": wp.address,
                            "checkin_time": wp.checkin_time,
                            "checkout_time": wp.checkout_time,
                            # where the driver said it was: the geofence check of a user
                            "checkin_lat": wp.checkin_lat,
                            "checkin_lng": wp.checkin_lng,
                            "checkout_lat": wp.checkout_lat,
                            "checkout_lng": wp.checkout_lng,
                            "done": wp.done,
                            "notes": len(wp.notes),
                        }
                        for wp in o.way_points
                    ],
                    "notes": o.notes_count(),
                    "delivery_id": o.delivery_id,
                    "fleet_error": o.fleet_error,
                    "delivery_cost": o.delivery_cost,
                    "cancel_reason_id": o.cancel_reason_id,
                    "source": o.source,
                    "transitions": list(o.transitions),
                }
                for o in world.orders.values()
            ],
            "drivers": [d.view() for d in world.drivers.values()],
            # the developer API's users (with home status and events), shifts, delivery blocks
            **self.devapi.snapshot(),
            "calls": {
                path: {"count": sum(by.values()), "by_status": {str(s): n for s, n in by.items()}}
                for path, by in self.calls.items()
            },
            "webhooks": self.webhooks,
            "faults": self.faults.view(now_s),
            # repeats of an applied call, answered and not applied, per order (task id as text)
            "repeats": {str(o.id): dict(o.repeats) for o in world.orders.values() if o.repeats},
        }

"""The sandbox's own admin endpoints (not Bringg's; no auth, local use only).

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

Bodies are msgspec Structs: a wrong type is a 400 naming the field and the value.
"""

from __future__ import annotations

import dataclasses

import anyio
import msgspec

from driver_agent.sandbox.bodies import Receive, Scope, json_body
from driver_agent.sandbox.clock import SandboxClock
from driver_agent.sandbox.requests import decode
from driver_agent.sandbox.rules import SandboxState
from driver_agent.sandbox.webhook_sender import WebhookSender
from driver_agent.sandbox.world import JsonDict, Reply, Violation, WebhookJob

MAX_CLOCK_OFFSET_S = 100 * 365.25 * 24 * 3600  # /_sandbox/clock moves at most this far ahead


class ClockBody(msgspec.Struct, frozen=True):
    advance_s: float


class WebhookUrlBody(msgspec.Struct, frozen=True):
    url: str


class SettleBody(msgspec.Struct, frozen=True):
    timeout_s: float = 10.0


def _not_found(method: str, path: str) -> Reply:
    return Reply(404, {"success": False, "message": f"no admin endpoint {method} {path}"})


class AdminEndpoints:
    """`/_sandbox/...` over the app's state, clock and webhook sender."""

    def __init__(self, state: SandboxState, clock: SandboxClock, webhooks: WebhookSender) -> None:
        self.state = state
        self.clock = clock
        self.webhooks = webhooks

    async def handle(self, scope: Scope, receive: Receive, path: str, now_s: float) -> Reply:
        state, method = self.state, scope["method"]
        if state.faults:
            fault = state.faults.take(path, now_s, api=False)
            if fault is not None:
                if fault.delay_s:
                    await self.clock.sleep(fault.delay_s)
                if fault.status is not None:
                    message = f"sandbox fault: HTTP {fault.status}"
                    return Reply(fault.status, {"success": False, "message": message})
        parts = path.rstrip("/").split("/")  # ["", "_sandbox", ...]
        if path.rstrip("/") == "/_sandbox/state" and method in ("GET", "POST"):
            return Reply(200, state.snapshot(now_s))
        if method != "POST":
            return _not_found(method, path)
        body = await json_body(receive, scope)
        if parts[2:] == ["clock"]:
            return self._advance(decode(body, ClockBody).advance_s)
        if parts[2:] == ["faults"]:
            fault = state.faults.add(body, now_s)
            view = None if fault is None else fault.view(now_s)
            return Reply(200, {"success": True, "fault": view, "faults": state.faults.view(now_s)})
        if parts[2:] == ["webhook_url"]:
            url = decode(body, WebhookUrlBody).url
            if not (url == "" or url.startswith(("http://", "https://"))):
                raise Violation(400, "url must be an http(s) URL, or empty to send no webhooks")
            self.set_fleet_webhook_url(url)
            return Reply(200, {"success": True, "fleet_webhook_url": url})
        if parts[2:] == ["settle"]:
            with anyio.move_on_after(decode(body, SettleBody).timeout_s):
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
        return _not_found("POST", path)

    def _advance(self, advance_s: float) -> Reply:
        if advance_s < 0:
            raise Violation(400, "advance_s must be >= 0: the sandbox clock only moves forward")
        if self.clock.offset_s + advance_s > MAX_CLOCK_OFFSET_S:
            raise Violation(
                400,
                f"advance_s {advance_s:g} would move the sandbox clock more than "
                f"{MAX_CLOCK_OFFSET_S:g} s (100 years) ahead",
            )
        self.clock.advance(advance_s)
        return Reply(200, {"success": True, "now_s": self.clock.now()})

    def set_fleet_webhook_url(self, url: str) -> None:
        """Where webhooks go from now on (a fleet that started after the sandbox)."""
        self.webhooks.settings = dataclasses.replace(self.webhooks.settings, fleet_webhook_url=url)

    async def _send_now(self, job: WebhookJob) -> JsonDict:
        out: JsonDict = {"success": True, "payload": job.payload, "webhook": None}
        if self.webhooks.enabled:
            out["webhook"] = (await self.webhooks.deliver(job)).view()
        return out

"""The fleet's webhook receiver: an ASGI app Bringg POSTs orders, updates and cancellations to.

Per request: the path picks the webhook (404 otherwise; other methods 405), the merchant API key
in `Authorization` (raw or `Bearer <key>`, compared in constant time against every configured
key; none configured means every request is refused) else 401, the body is read and decoded
within `jsonbody`'s limits (413 past `max_body_bytes`, 415 for a Content-Type that is not JSON,
400 for bad UTF-8, nesting or numbers) and parsed by `webhook_payloads` (a bad body is a 400
naming the field, never a 500), and the typed event is handed to the rest of the program through
a sink: a bounded anyio memory stream, or a callable `offer(event) -> bool` that answers at once
whether it took the event. Where it listens and which keys it takes: `webhook_settings`.

Replies follow fleet-api.md §8, all HTTP 200 when handled: Delivery Created gets `success` and a
`delivery_id` (deterministic `da-<task_id>` unless `delivery_id_for` says otherwise: Bringg's
task ids are unique in its account, so this never collides across runs, and a Delivery Created
that Bringg sends again after a restart gets the same id, as it should), an
undrivable order (way point without coordinates) gets `{"success": false, "error_message"}`.
A full sink is waited on for at most `busy_timeout_s` (well inside Bringg's 30 s); then, or at
once when an async sink fails with our own error (the bridge's outbox unwritable, say: a warning,
no traceback), Delivery Created and Return Delivery Created are refused with `"fleet busy"`
(HTTP 200, the documented rejection) and the other webhooks get a 503 so that Bringg retries
them. Bringg retries Delivery Created: a repeated `id` gets the same `delivery_id` and is not
handed over twice (likewise `return_task_id`).
"""

from __future__ import annotations

import hmac
import inspect
from collections import Counter, OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace
from enum import Enum
from typing import TYPE_CHECKING

import anyio
import structlog
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream
from starlette.applications import Starlette
from starlette.requests import ClientDisconnect
from starlette.responses import JSONResponse
from starlette.routing import Route

from driver_agent.core.clock import Clock, RealClock
from driver_agent.core.errors import DriverAgentError
from driver_agent.core.jsonbody import BodyError, CappedBody, check_json_content_type
from driver_agent.fleetapi.webhook_payloads import (
    DeliveryCreated,
    MerchantRegistered,
    PayloadError,
    ReturnDeliveryCreated,
    UndrivableOrderError,
    WebhookEvent,
    WebhookKind,
    parse_webhook,
)
from driver_agent.fleetapi.webhook_settings import WebhookSettings

if TYPE_CHECKING:
    from starlette.requests import Request


__all__ = [
    "EventSink",
    "WebhookReceiver",
    "WebhookSettings",
    "WebhookStatistics",
    "create_webhook_app",
    "default_delivery_id",
    "default_return_delivery_id",
]

log = structlog.get_logger(__name__)

_POLL_INTERVAL_S = 0.01
_REMEMBERED_IDS = 100_000

AsyncEventSink = Callable[[WebhookEvent], Awaitable[bool]]
EventSink = MemoryObjectSendStream[WebhookEvent] | Callable[[WebhookEvent], bool] | AsyncEventSink
DeliveryIdFor = Callable[[DeliveryCreated], str]
ReturnDeliveryIdFor = Callable[[ReturnDeliveryCreated], str]


def default_delivery_id(event: DeliveryCreated) -> str:
    return f"da-{event.order.task_id}"


def default_return_delivery_id(event: ReturnDeliveryCreated) -> str:
    return f"da-return-{event.return_task_id}"


class _Offer(Enum):
    TAKEN = "taken"
    BUSY = "fleet busy"
    CLOSED = "fleet not receiving webhooks"


@dataclass
class WebhookStatistics:
    """Counters by webhook kind: handed over, refused (by HTTP status or reason)."""

    received: Counter[str] = field(default_factory=Counter)
    duplicates: Counter[str] = field(default_factory=Counter)
    rejected: Counter[tuple[str, str]] = field(default_factory=Counter)

    def snapshot(self) -> dict[str, dict[str, int]]:
        return {
            "received": dict(self.received),
            "duplicates": dict(self.duplicates),
            "rejected": {f"{kind}:{why}": n for (kind, why), n in self.rejected.items()},
        }


def _reply(status: int, body: dict[str, object]) -> JSONResponse:
    return JSONResponse(body, status_code=status)


def _refusal(status: int, message: str) -> JSONResponse:
    return _reply(status, {"success": False, "error_message": message})


class _Handler:
    """The state behind the app: sink, dedup memory, statistics."""

    def __init__(
        self,
        settings: WebhookSettings,
        sink: EventSink,
        delivery_id_for: DeliveryIdFor,
        return_delivery_id_for: ReturnDeliveryIdFor,
        clock: Clock,
        statistics: WebhookStatistics,
    ) -> None:
        self.settings = settings
        # an async sink is awaited before the reply: "accepted" then means it was handled (the
        # bridge answers only once the order is in its durable outbox)
        self.handled: AsyncEventSink | None = sink if inspect.iscoroutinefunction(sink) else None
        self.offer = _offer_function(sink) if self.handled is None else _refuse_offer
        self.delivery_id_for = delivery_id_for
        self.return_delivery_id_for = return_delivery_id_for
        self.clock = clock
        self.statistics = statistics
        self.keys = tuple(key.reveal().encode() for key in settings.api_keys if key)
        self.answered: OrderedDict[tuple[WebhookKind, int], str] = OrderedDict()
        self.in_flight: dict[tuple[WebhookKind, int], anyio.Event] = {}

    def authorised(self, header: str | None) -> bool:
        if header is None:
            return False
        value = header.strip()
        if value[:7].lower() == "bearer ":
            value = value[7:].strip()
        given = value.encode()
        matched = False
        for key in self.keys:  # every key, so timing does not tell which one is close
            matched |= hmac.compare_digest(given, key)
        return matched

    async def hand_over(self, event: WebhookEvent) -> _Offer:
        """Offer the event, retrying a full sink until `busy_timeout_s` of real time passed."""
        if self.handled is not None:
            with anyio.move_on_after(self.settings.busy_timeout_s):
                try:
                    return _Offer.TAKEN if await self.handled(event) else _Offer.BUSY
                except DriverAgentError as exc:  # the bridge's outbox, say: Bringg retries
                    log.warning("webhook_not_stored", webhook=type(event).__name__, error=str(exc))
                    return _Offer.BUSY
            return _Offer.BUSY
        deadline = self.clock.monotonic() + self.settings.busy_timeout_s
        while True:
            outcome = self.offer(event)
            if outcome is not _Offer.BUSY or self.clock.monotonic() >= deadline:
                return outcome
            await self.clock.sleep_real(_POLL_INTERVAL_S)

    def remember(self, key: tuple[WebhookKind, int], reply_id: str) -> None:
        self.answered[key] = reply_id
        if len(self.answered) > _REMEMBERED_IDS:
            self.answered.popitem(last=False)

    async def once(
        self, kind: WebhookKind, task_id: int, event: WebhookEvent, reply_id: str
    ) -> tuple[_Offer, str]:
        """Hand over a creating webhook once per id; a retry gets the first answer's id."""
        key = (kind, task_id)
        while (pending := self.in_flight.get(key)) is not None:
            await pending.wait()
        if (known := self.answered.get(key)) is not None:
            self.statistics.duplicates[kind.value] += 1
            return _Offer.TAKEN, known
        done = self.in_flight[key] = anyio.Event()
        try:
            outcome = await self.hand_over(event)
            if outcome is _Offer.TAKEN:
                self.remember(key, reply_id)
            return outcome, reply_id
        finally:
            del self.in_flight[key]
            done.set()

    async def handle(self, kind: WebhookKind, request: Request) -> JSONResponse:
        if not self.authorised(request.headers.get("authorization")):
            return self.refuse(kind, 401, "missing or wrong API key in Authorization")
        try:
            check_json_content_type(request.headers.get("content-type"))
            body = await self.read_body(request)
        except BodyError as exc:  # 413 too large, 415 not JSON
            return self.refuse(kind, exc.status, f"body: {exc.message}")
        try:
            event = parse_webhook(kind, body)
        except UndrivableOrderError as exc:
            self.statistics.rejected[(kind.value, "undrivable")] += 1
            log.info("webhook_rejected", webhook=kind.value, status=200, reason=str(exc))
            return _refusal(200, str(exc))
        except PayloadError as exc:
            return self.refuse(kind, 400, str(exc))
        return await self.dispatch(kind, event)

    async def read_body(self, request: Request) -> bytes:
        """The body; `BodyError` (413) as soon as it passes `max_body_bytes` (the rest unread)."""
        capped = CappedBody(self.settings.max_body_bytes)
        capped.check_declared(request.headers.get("content-length"))
        async for chunk in request.stream():
            capped.add(chunk)
        return capped.body()

    async def dispatch(self, kind: WebhookKind, event: WebhookEvent) -> JSONResponse:
        if isinstance(event, DeliveryCreated):
            delivery_id = self.delivery_id_for(event)
            order = replace(event.order, delivery_id=delivery_id)
            created = replace(event, order=order)
            outcome, delivery_id = await self.once(kind, order.task_id, created, delivery_id)
            if outcome is not _Offer.TAKEN:
                return self.refuse(kind, 200, outcome.value)
            self.received(kind, task_id=order.task_id, delivery_id=delivery_id)
            return _reply(200, {"success": True, "delivery_id": delivery_id})
        if isinstance(event, ReturnDeliveryCreated):
            return_id = self.return_delivery_id_for(event)
            outcome, return_id = await self.once(kind, event.return_task_id, event, return_id)
            if outcome is not _Offer.TAKEN:
                return self.refuse(kind, 200, outcome.value)
            self.received(kind, task_id=event.return_task_id, delivery_id=return_id)
            return _reply(200, {"success": True, "return_delivery_id": return_id})
        outcome = await self.hand_over(event)
        if outcome is not _Offer.TAKEN:
            return self.refuse(kind, 503, outcome.value)
        self.received(kind)
        if isinstance(event, MerchantRegistered):
            return _reply(200, {"success": True, "merchant_uuid": event.merchant_uuid})
        return _reply(200, {"success": True})

    def received(self, kind: WebhookKind, **context: object) -> None:
        self.statistics.received[kind.value] += 1
        log.debug("webhook_received", webhook=kind.value, **context)

    def refuse(self, kind: WebhookKind, status: int, message: str) -> JSONResponse:
        self.statistics.rejected[(kind.value, str(status))] += 1
        log.info("webhook_rejected", webhook=kind.value, status=status, reason=message)
        return _refusal(status, message)


def _refuse_offer(event: WebhookEvent) -> _Offer:  # pragma: no cover - async sinks are awaited
    return _Offer.CLOSED


def _offer_function(sink: EventSink) -> Callable[[WebhookEvent], _Offer]:
    if isinstance(sink, MemoryObjectSendStream):
        stream = sink

        def offer_to_stream(event: WebhookEvent) -> _Offer:
            try:
                stream.send_nowait(event)
            except anyio.WouldBlock:
                return _Offer.BUSY
            except (anyio.BrokenResourceError, anyio.ClosedResourceError):
                return _Offer.CLOSED
            return _Offer.TAKEN

        return offer_to_stream

    def offer_to_callable(event: WebhookEvent) -> _Offer:
        return _Offer.TAKEN if sink(event) else _Offer.BUSY

    return offer_to_callable


def create_webhook_app(
    settings: WebhookSettings,
    sink: EventSink,
    *,
    delivery_id_for: DeliveryIdFor | None = None,
    return_delivery_id_for: ReturnDeliveryIdFor | None = None,
    clock: Clock | None = None,
    statistics: WebhookStatistics | None = None,
) -> Starlette:
    """The receiver as an ASGI app; serve it with `serving` on `settings.host:settings.port`."""
    handler = _Handler(
        settings,
        sink,
        delivery_id_for or default_delivery_id,
        return_delivery_id_for or default_return_delivery_id,
        clock or RealClock(),
        statistics if statistics is not None else WebhookStatistics(),
    )

    def endpoint(kind: WebhookKind) -> Callable[[Request], Awaitable[JSONResponse]]:
        async def receive(request: Request) -> JSONResponse:
            try:
                return await handler.handle(kind, request)
            except ClientDisconnect:
                handler.statistics.rejected[(kind.value, "disconnected")] += 1
                return _refusal(400, "client disconnected")
            except Exception:
                handler.statistics.rejected[(kind.value, "500")] += 1
                log.exception("webhook_failed", webhook=kind.value)
                return _refusal(500, "internal error")

        return receive

    routes = [
        Route(settings.path(kind), endpoint(kind), methods=["POST"], name=kind.value)
        for kind in WebhookKind
    ]
    return Starlette(routes=routes)


class WebhookReceiver:
    """The app plus the bounded stream it feeds; read `receive_stream` in the fleet's task group."""

    def __init__(
        self,
        settings: WebhookSettings,
        *,
        buffer_size: int = 1024,
        delivery_id_for: DeliveryIdFor | None = None,
        return_delivery_id_for: ReturnDeliveryIdFor | None = None,
        clock: Clock | None = None,
    ) -> None:
        send, receive = anyio.create_memory_object_stream[WebhookEvent](buffer_size)
        self.settings = settings
        self.send_stream: MemoryObjectSendStream[WebhookEvent] = send
        self.receive_stream: MemoryObjectReceiveStream[WebhookEvent] = receive
        self._statistics = WebhookStatistics()
        self.app = create_webhook_app(
            settings,
            send,
            delivery_id_for=delivery_id_for,
            return_delivery_id_for=return_delivery_id_for,
            clock=clock,
            statistics=self._statistics,
        )

    def statistics(self) -> dict[str, dict[str, int]]:
        """Counts by webhook kind: received, duplicates, rejected (`kind:status`)."""
        return self._statistics.snapshot()

    def close(self) -> None:
        """Stop handing over events (later webhooks are refused); readers see end of stream."""
        self.send_stream.close()

    def __enter__(self) -> WebhookReceiver:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.send_stream.close()
        self.receive_stream.close()

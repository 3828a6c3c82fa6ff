"""Webhooks out to the fleet: Delivery Created, Delivery Updated, Delivery Cancelled.

Each is a POST of JSON to `<fleet_webhook_url><path>` with the merchant's API key in
`Authorization`. On 500/502/503/504, a network error, or no answer within `webhook_timeout_s`, it is
retried `webhook_retries` times, `webhook_retry_delay_s` apart (Bringg: 3 retries, 1 minute). How
each ended goes back to the rules through `on_done`. Without a `fleet_webhook_url` nothing is sent.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

import anyio
import httpx
from anyio.abc import TaskStatus

from driver_agent.sandbox.settings import SandboxSettings
from driver_agent.sandbox.world import WebhookJob, WebhookKind

RETRYABLE_STATUSES = frozenset({500, 502, 503, 504})
WEBHOOK_PATHS: dict[WebhookKind, str] = {
    WebhookKind.CREATED: "/webhooks/delivery_created",
    WebhookKind.UPDATED: "/webhooks/delivery_updated",
    WebhookKind.CANCELLED: "/webhooks/delivery_cancelled",
}

OnDone = Callable[[WebhookJob, int, int | None, object], None]


@dataclass(frozen=True, slots=True)
class WebhookResult:
    kind: WebhookKind
    task_id: int
    url: str
    status: int | None  # None: no answer at all
    attempts: int
    reply: object
    error: str | None = None

    def view(self) -> dict[str, object]:
        return {
            "kind": self.kind.value,
            "task_id": self.task_id,
            "url": self.url,
            "status": self.status,
            "attempts": self.attempts,
            "reply": self.reply,
            "error": self.error,
        }


class WebhookSender:
    """Sends webhooks now (`deliver`) or in the background (`submit` + `run`)."""

    def __init__(self, settings: SandboxSettings, on_done: OnDone) -> None:
        self.settings = settings
        self._on_done = on_done
        self._queue: deque[WebhookJob] = deque()
        self._http: httpx.AsyncClient | None = None
        self._wakeup: anyio.Event | None = None
        self._idle: anyio.Event | None = None
        self._in_flight = 0

    @property
    def enabled(self) -> bool:
        return bool(self.settings.fleet_webhook_url)

    @property
    def busy(self) -> bool:
        return bool(self._queue) or self._in_flight > 0

    def url_for(self, kind: WebhookKind) -> str:
        return self.settings.fleet_webhook_url.rstrip("/") + WEBHOOK_PATHS[kind]

    def submit(self, job: WebhookJob) -> None:
        """Queue `job` for the background runner (a no-op without a fleet webhook URL)."""
        if not self.enabled:
            return
        self._queue.append(job)
        if self._wakeup is not None:
            self._wakeup.set()

    async def wait_idle(self) -> None:
        """Return once nothing is queued or in flight (needs `run` to be running)."""
        while self.busy:
            if self._idle is None:
                self._idle = anyio.Event()
            await self._idle.wait()

    async def run(self, *, task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
        """Deliver queued webhooks concurrently until cancelled."""
        async with self._client() as http, anyio.create_task_group() as tg:
            self._http = http
            task_status.started()
            try:
                while True:
                    self._wakeup = anyio.Event()
                    while self._queue:
                        self._in_flight += 1
                        tg.start_soon(self._deliver_in_background, self._queue.popleft())
                    await self._wakeup.wait()
            finally:
                self._http = None

    async def _deliver_in_background(self, job: WebhookJob) -> None:
        try:
            await self.deliver(job)
        finally:
            self._in_flight -= 1
            if not self.busy and self._idle is not None:
                self._idle.set()
                self._idle = None

    def _client(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(
            timeout=httpx.Timeout(self.settings.webhook_timeout_s),
            limits=httpx.Limits(max_connections=64, max_keepalive_connections=64),
            follow_redirects=False,
        )

    async def deliver(self, job: WebhookJob) -> WebhookResult:
        """Send `job` now, with the retries, and record how it ended."""
        if self._http is not None:
            return await self._deliver(self._http, job)
        async with self._client() as http:
            return await self._deliver(http, job)

    async def _deliver(self, http: httpx.AsyncClient, job: WebhookJob) -> WebhookResult:
        settings, url = self.settings, self.url_for(job.kind)
        headers = {"Authorization": settings.merchant_api_key.reveal()}
        status: int | None = None
        reply: object = None
        error: str | None = None
        attempts = 0
        for attempt in range(settings.webhook_retries + 1):
            if attempt:
                await anyio.sleep(settings.webhook_retry_delay_s)
            attempts += 1
            try:
                response = await http.post(url, json=job.payload, headers=headers)
            except httpx.TimeoutException:
                status, reply, error = None, None, "no answer within the timeout"
                continue
            except httpx.TransportError as e:
                status, reply, error = None, None, f"network error: {type(e).__name__}"
                continue
            status, error = response.status_code, None
            try:
                reply = response.json()
            except ValueError:
                reply = None
            if status not in RETRYABLE_STATUSES:
                break
        self._on_done(job, attempts, status, reply)
        return WebhookResult(job.kind, job.task_id, url, status, attempts, reply, error)

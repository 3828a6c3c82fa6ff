"""The outbox sender: drains every driver's queue to the fleet API, in order, at least once.

One worker per driver with pending calls posts that driver's calls one by one, oldest first, with
`FleetClient.send`: the stored body is the final wire body (built once, with its original
`reported_time`), sent as is. Each call is acked only after the API answered it. Workers start
when `kick(driver_id)` says calls were appended, and at start for whatever a previous run left
in the file.

- `ApiUnavailable` (network, 5xx, 429; the client already retried a few times) and `AuthError`:
  the call stays at the head of the queue; the worker backs off (doubling from `backoff_base_s`
  up to `backoff_cap_s`, never less than the server's Retry-After) and tries it again.
- The token endpoint refusing the credentials for good (400/401/403, a wrong secret) is not a
  passing outage: `credentials_error` holds it (the daemon's /healthz turns 503 and its exit code
  1), one `credentials_refused` error line is logged (not one per call), and the workers keep
  the calls and probe only every `backoff_cap_s`; the first call that goes through clears it.
- `ForbiddenError` / `RejectedError`: refused for good. The call is discarded, counted under
  "rejected" in the outbox, logged with the API's message, and the queue moves on, so a refused
  lifecycle call never blocks that driver's later location updates. Unless `expected(call, exc)`
  says the refusal was expected (a location update for a driver Bringg does not know yet, before
  its first order): then the call is removed quietly, neither an error nor a drop; the daemon
  counts it.

`on_sent(call)` tells the daemon what the API acknowledged (an `end_task`, say).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import anyio
import anyio.to_thread
import structlog

from driver_agent.core.errors import ApiError, ApiUnavailable, AuthError
from driver_agent.fleetapi.client import TOKEN_ENDPOINT

if TYPE_CHECKING:
    from anyio.abc import TaskGroup

    from driver_agent.bridge.metrics import BridgeMetrics
    from driver_agent.bridge.outbox import Outbox, PendingCall
    from driver_agent.core.clock import Clock
    from driver_agent.fleetapi.client import FleetClient

log = structlog.get_logger("driver_agent.bridge.sender")

PAGE = 100


def credentials_refused(exc: ApiError) -> bool:
    """The token endpoint refused the fleet's credentials for good (not a passing outage).

    401 and 403, and 400 too: RFC 6749 §5.2 answers `invalid_client` with either 400 or 401.
    """
    return (
        isinstance(exc, AuthError)
        and exc.endpoint == TOKEN_ENDPOINT
        and exc.status in (400, 401, 403)
    )


class OutboxSender:
    """Per-driver workers that drain the outbox; run `run()` in the daemon's task group."""

    def __init__(
        self,
        outbox: Outbox,
        client: FleetClient,
        clock: Clock,
        metrics: BridgeMetrics,
        *,
        db_limiter: anyio.CapacityLimiter,
        backoff_base_s: float = 0.5,
        backoff_cap_s: float = 30.0,
        on_sent: Callable[[PendingCall], None] | None = None,
        expected: Callable[[PendingCall, ApiError], bool] | None = None,
    ) -> None:
        self.outbox = outbox
        self.client = client
        self.clock = clock
        self.metrics = metrics
        self.backoff_base_s = max(backoff_base_s, 0.01)
        self.backoff_cap_s = max(backoff_cap_s, self.backoff_base_s)
        self._db = db_limiter
        self._on_sent = on_sent
        self._expected = expected
        self._tg: TaskGroup | None = None
        self._workers: set[str] = set()
        self._dirty: set[str] = set()
        self._worker_done = anyio.Event()
        self.sent = 0
        self.refused = 0
        self.failures = 0
        # the token endpoint's definitive refusal of our credentials, until a call goes through
        self.credentials_error: ApiError | None = None

    @property
    def busy(self) -> bool:
        return bool(self._workers)

    async def run(self, *, task_status: Any = anyio.TASK_STATUS_IGNORED) -> None:
        """Serve until cancelled; starts workers for calls left from a previous run."""
        async with anyio.create_task_group() as tg:
            self._tg = tg
            drivers = await self._thread(self.outbox.drivers)
            for driver_id in drivers:
                self.kick(driver_id)
            task_status.started()
            try:
                await anyio.sleep_forever()
            finally:
                self._tg = None

    def kick(self, driver_id: str) -> None:
        """Calls were appended for `driver_id`: make sure a worker drains them."""
        self._dirty.add(driver_id)
        if driver_id in self._workers or self._tg is None:
            return
        self._workers.add(driver_id)
        self._tg.start_soon(self._worker, driver_id, name=f"outbox sender {driver_id}")

    async def wait_idle(self) -> None:
        """Until no worker runs (every queue empty, or nothing appended since)."""
        while self._workers:
            await self._worker_done.wait()

    async def _worker(self, driver_id: str) -> None:
        try:
            while True:
                self._dirty.discard(driver_id)
                calls = await self._thread(self.outbox.peek, driver_id, PAGE)
                if not calls:
                    if driver_id in self._dirty:
                        continue
                    return
                for call in calls:
                    await self._deliver(call)
        finally:
            self._workers.discard(driver_id)
            done, self._worker_done = self._worker_done, anyio.Event()
            done.set()

    async def _deliver(self, call: PendingCall) -> None:
        """Send one call until the API answered it (acked) or refused it (discarded)."""
        failures = 0
        while True:
            try:
                await self.client.send(call.endpoint, call.body)
            except (ApiUnavailable, AuthError) as exc:
                failures += 1
                self.failures += 1
                self.metrics.error(type(exc).__name__)
                await self._thread(self.outbox.record_attempt, [call.id])
                wait_s = min(self.backoff_cap_s, self.backoff_base_s * 2 ** (failures - 1))
                retry_after_s = getattr(exc, "retry_after_s", None)
                if retry_after_s is not None:
                    wait_s = max(wait_s, min(float(retry_after_s), self.backoff_cap_s))
                if credentials_refused(exc):
                    # said once, by _refused; every worker then probes at the slowest pace
                    self._refused(exc)
                    wait_s = self.backoff_cap_s
                else:
                    log.warning(
                        "call_deferred",
                        driver_id=call.driver_id,
                        endpoint=call.endpoint,
                        status=exc.status,
                        error=exc.message,
                        retry_in_s=round(wait_s, 2),
                        attempts=call.attempts + failures,
                    )
                await self.clock.sleep_real(wait_s)
                continue
            except ApiError as exc:  # ForbiddenError, RejectedError: refused for good
                self._accepted()  # the API read the call: the credentials are fine
                if self._expected is not None and self._expected(call, exc):
                    await self._thread(self.outbox.ack, [call.id])
                    return
                self.refused += 1
                self.metrics.error(type(exc).__name__)
                await self._thread(self.outbox.discard, [call.id])
                log.warning(
                    "call_refused",
                    driver_id=call.driver_id,
                    endpoint=call.endpoint,
                    status=exc.status,
                    error=exc.message,
                    reported_time=call.reported_time_ms,
                )
                return
            self._accepted()
            await self._thread(self.outbox.ack, [call.id])
            self.sent += 1
            self.metrics.update_sent()
            if self._on_sent is not None:
                self._on_sent(call)
            return

    def _refused(self, exc: ApiError) -> None:
        if self.credentials_error is None:
            log.error(
                "credentials_refused",
                status=exc.status,
                error=exc.message,
                action="positions are still stored in the outbox; fix the fleet client id or "
                "secret and restart the bridge",
            )
        self.credentials_error = exc

    def _accepted(self) -> None:
        if self.credentials_error is not None:
            log.info("credentials_accepted", after=self.credentials_error.message)
            self.credentials_error = None

    async def _thread(self, fn: Callable[..., Any], *args: Any) -> Any:
        return await anyio.to_thread.run_sync(fn, *args, limiter=self._db)

"""The outbox sender: drains every driver's queue to the fleet API, in order, at least once.

One reader takes the calls from the outbox in batches (`Outbox.read_new`: one query for all
drivers, each call once, at most `MAX_IN_MEMORY` held at a time) into per-driver queues in memory;
`WORKERS` workers take the drivers with queued calls in turn, one call of a driver at a time
(never two of the same driver at once), oldest first, and post them with
`FleetClient.send`: the stored body is the final wire body (built once, with its original
`reported_time`), sent as is. Each call is acked only after the API answered it; the acks are
gathered and written by one acker, one `executemany` transaction for all that came in while the
previous one ran (and once more at stop), so a call is never sent twice by one run and, after a
crash, at most the last unwritten acks are sent again (at least once). The reader runs when
`appended()` says the daemon committed calls, and at start for whatever a previous run left in
the file. Calls a bound dropped (overflow, expired) after the reader took them are not sent.

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

from collections import deque
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

READ_BATCH = 2_000  # calls per `read_new`
MAX_IN_MEMORY = 10_000  # calls read and not yet sent, all drivers together
WORKERS = 64  # calls in flight at once, all drivers together (one per driver)


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
    """The reader, the per-driver workers and the acker; run `run()` in the daemon's task
    group."""

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
        committing: Callable[[], bool] | None = None,
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
        self._committing = committing  # calls on their way into the outbox: not idle yet
        self._tg: TaskGroup | None = None
        self._queues: dict[str, deque[PendingCall]] = {}
        self._queued = 0
        self._workers: set[str] = set()  # drivers with queued calls (ready or being sent)
        self._ready: deque[str] = deque()  # drivers waiting for a worker, in turn
        self._idle: deque[anyio.Event] = deque()  # workers waiting for a driver
        self._inflight: dict[str, int] = {}  # driver -> the id its worker is delivering
        self._cancelled: set[int] = set()  # in flight, then dropped by a bound: stop retrying
        self._unread = True  # the outbox may hold calls the reader has not taken
        self._read_wake = anyio.Event()
        self._reading = False
        self._acks: list[int] = []
        self._acking = False
        self._ack_wake = anyio.Event()
        self._changed = anyio.Event()
        self.sent = 0
        self.refused = 0
        self.failures = 0
        # the token endpoint's definitive refusal of our credentials, until a call goes through
        self.credentials_error: ApiError | None = None

    @property
    def busy(self) -> bool:
        if self._committing is not None and self._committing():
            return True
        return bool(self._unread or self._reading or self._workers or self._acks or self._acking)

    async def run(self, *, task_status: Any = anyio.TASK_STATUS_IGNORED) -> None:
        """Serve until cancelled; starts with the calls left from a previous run. At the end
        the acks gathered so far are written (shielded)."""
        try:
            async with anyio.create_task_group() as tg:
                self._tg = tg
                tg.start_soon(self._reader, name="outbox reader")
                tg.start_soon(self._acker, name="outbox acker")
                for k in range(WORKERS):
                    tg.start_soon(self._worker, name=f"outbox sender {k}")
                self.appended()
                task_status.started()
                await anyio.sleep_forever()
        finally:
            self._tg = None
            with anyio.CancelScope(shield=True):
                await self._flush_acks()

    def appended(self) -> None:
        """Calls were committed to the outbox: make sure they are read and sent."""
        self._unread = True
        self._read_wake.set()

    async def wait_idle(self) -> None:
        """Until every call read is sent and acked and nothing appended is left unread."""
        while self.busy:
            await self._changed.wait()

    def _notify(self) -> None:
        changed, self._changed = self._changed, anyio.Event()
        changed.set()

    # -- reading --------------------------------------------------------------------------

    async def _reader(self) -> None:
        while True:
            await self._read_wake.wait()
            self._read_wake = anyio.Event()
            while self._unread and self._queued < MAX_IN_MEMORY:
                self._unread = False  # an append during the read sets it again
                limit = min(READ_BATCH, MAX_IN_MEMORY - self._queued)
                self._reading = True
                try:
                    calls, dropped = await self._thread(self.outbox.read_new, limit)
                finally:
                    self._reading = False
                if dropped:
                    self._prune(dropped)
                for call in calls:
                    self._queue(call)
                if len(calls) == limit:
                    self._unread = True
            self._notify()

    def _queue(self, call: PendingCall) -> None:
        queue = self._queues.get(call.driver_id)
        if queue is None:
            queue = self._queues[call.driver_id] = deque()
        queue.append(call)
        self._queued += 1
        if call.driver_id not in self._workers:
            self._workers.add(call.driver_id)
            self._ready.append(call.driver_id)
            if self._idle:
                self._idle.popleft().set()

    def _prune(self, dropped: set[int]) -> None:
        """Forget calls a bound dropped after they were read; a worker retrying one stops."""
        for queue in self._queues.values():
            kept = [c for c in queue if c.id not in dropped]
            self._queued -= len(queue) - len(kept)
            queue.clear()  # in place: a worker may hold it
            queue.extend(kept)
        self._cancelled.update(i for i in self._inflight.values() if i in dropped)

    # -- sending --------------------------------------------------------------------------

    async def _worker(self) -> None:
        """One of `WORKERS` senders: takes a driver with queued calls, sends its oldest, and
        puts it back in line if it has more (drivers take turns; one driver's calls are never
        sent by two workers at once, so they stay in order)."""
        while True:
            if not self._ready:
                wake = anyio.Event()
                self._idle.append(wake)
                await wake.wait()
                continue
            driver_id = self._ready.popleft()
            queue = self._queues[driver_id]
            if not queue:  # a bound dropped what it had
                self._done_with(driver_id)
                continue
            call = queue.popleft()
            self._queued -= 1
            if self._unread and self._queued < MAX_IN_MEMORY // 2:
                self._read_wake.set()
            self._inflight[driver_id] = call.id
            try:
                await self._deliver(call)
            finally:
                del self._inflight[driver_id]
                if queue:
                    self._ready.append(driver_id)
                else:
                    self._done_with(driver_id)

    def _done_with(self, driver_id: str) -> None:
        del self._queues[driver_id]
        self._workers.discard(driver_id)
        self._notify()

    async def _deliver(self, call: PendingCall) -> None:
        """Send one call until the API answered it (acked) or refused it (discarded)."""
        failures = 0
        while True:
            if call.id in self._cancelled:  # a bound dropped it while it was retried
                self._cancelled.discard(call.id)
                return
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
                    self._ack(call.id)
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
            self._ack(call.id)
            self.sent += 1
            self.metrics.update_sent()
            if self._on_sent is not None:
                self._on_sent(call)
            return

    # -- acknowledging --------------------------------------------------------------------

    def _ack(self, call_id: int) -> None:
        self._acks.append(call_id)
        self._ack_wake.set()

    async def _acker(self) -> None:
        while True:
            await self._ack_wake.wait()
            self._ack_wake = anyio.Event()
            await self._flush_acks()

    async def _flush_acks(self) -> None:
        """Write the gathered acks, one transaction per batch, until none is left."""
        while self._acks:
            # taken off only once written: cancelled before (waiting for the database), they
            # are still here for the flush at stop; written twice, the second removes nothing
            ids = self._acks[:]
            self._acking = True
            try:
                await self._thread(self.outbox.ack, ids)
            except BaseException:
                self._acking = False
                self._notify()
                raise
            del self._acks[: len(ids)]
            self._acking = False
            self._notify()

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

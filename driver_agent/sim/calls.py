"""One driver's calls to the API: timed from their schedule, queued while the API is away.

`call()` makes one call: paced (the fleet's rate cap), its latency measured from the time it was
*scheduled* (a lagging generator or a stalled API shows up in the figures instead of hiding: no
coordinated omission) and recorded in the stats. A call refused for good comes back as
`Refused`; one that still fails with `ApiUnavailable` after the client's retries opens the
backlog (`offline.py` holds its rules): it and every later call queue there, in order, and the
driver goes on as if they were confirmed. `resend_head()` resends the oldest waiting call and
says what became of it; the driver pulls these outcomes until the backlog is empty or the API
fails again (then it sleeps until `backlog.retry_at`). A queued call is recorded once, when it
finally goes out, with its latency from its scheduled time (a 60 s outage shows as ~60 s of
latency, not as errors). While the API is healthy no backlog exists: one attribute test per call.
"""

from __future__ import annotations

import zlib
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import structlog

from driver_agent.core.endpoints import Endpoint
from driver_agent.core.errors import ApiError, ApiUnavailable
from driver_agent.sim.context import DriverContext
from driver_agent.sim.lifecycle_messages import Command
from driver_agent.sim.offline import Backlog, BackoffPolicy, Entry, EntryKind, entry_kind

if TYPE_CHECKING:
    from driver_agent.sim.api_calls import Request

log = structlog.get_logger("driver_agent.driver")

Send = Callable[[], Awaitable[object]]


@dataclass(slots=True)
class Job:
    """A queued call: how to send it again, the command it carries out, what to do once sent."""

    send: Send
    command: Command
    after: Callable[[], None] | None = None


@dataclass(frozen=True, slots=True)
class Refused:
    """The API refused the call for good (`call()`), or a queued one (`resend_head()`)."""

    exc: ApiError
    entry: Entry[Job] | None = None


@dataclass(frozen=True, slots=True)
class StillAway:
    """The head's resend failed again; `overdue`: nothing went out for give_up_after_s."""

    exc: ApiUnavailable
    overdue: bool


Resent = Entry[Job] | Refused | StillAway | None
"""What `resend_head()` did: sent this entry, it was refused, the API is still away, or
nothing waits any more (the backlog is closed)."""


class Calls:
    """The calls of the driver `driver_id`; `backlog` is None while the API answers."""

    __slots__ = ("_ctx", "backlog", "driver_id")

    def __init__(self, driver_id: str, ctx: DriverContext) -> None:
        self.driver_id = driver_id
        self._ctx = ctx
        self.backlog: Backlog[Job] | None = None

    async def call(
        self, endpoint: str, scheduled: float, send: Send | Awaitable[object], command: Command
    ) -> object:
        """One API call. Returns the answer, `Refused`, or the `Job` queued in the backlog when
        the API is away (the caller goes on as if it was confirmed). `send` makes the call; the
        location tick passes the call itself instead (no factory on the hot path) and gets the
        ApiUnavailable back, to queue it."""
        if self.backlog is not None:  # offline: behind what already waits, in order
            assert callable(send)
            return self.enqueue(endpoint, scheduled, send, command)
        ctx = self._ctx
        clock = ctx.clock
        lag_s = max(clock.now() - scheduled, 0.0) / clock.speed
        t0 = clock.monotonic()
        pacer = ctx.pacer
        if pacer is not None:
            lifecycle = endpoint != Endpoint.UPDATE_DRIVER_LOCATION
            delay_s = pacer.delay_s(t0, lifecycle=lifecycle)
            if delay_s > 0.0:
                await clock.sleep_real(delay_s)
        error: ApiError | None = None
        queued = False
        try:
            return await (send() if callable(send) else send)
        except ApiUnavailable as exc:
            # still away after the client's retries: the phone goes offline with this call
            queued = True
            if not callable(send):
                return exc
            return self.enqueue(endpoint, scheduled, send, command, exc)
        except ApiError as exc:
            error = exc
            self._log_refused(endpoint, exc, queued=False)
            return Refused(exc)
        finally:
            if not queued:  # a queued call is recorded once, when it finally goes out
                latency_ms = (lag_s + clock.monotonic() - t0) * 1000.0
                at_s = max(clock.monotonic() - ctx.run_started_real, 0.0)
                if error is None:
                    ctx.stats.record_call(endpoint, latency_ms, None, at_s)
                else:
                    _record_failed(ctx, endpoint, latency_ms, at_s, error, command)

    async def day(self, requests: Sequence[Request]) -> None:
        """Calls outside any order (an own-fleet driver's shift and home events), one after the
        other, measured and counted per service; a refusal or an API that stays away ends the
        driver (the fleet counts it), as a day cannot start without its shift."""
        ctx = self._ctx
        clock = ctx.clock
        for request in requests:
            t0 = clock.monotonic()
            error: ApiError | None = None
            try:
                await request.send()
            except ApiError as exc:
                error = exc
                raise
            finally:
                at_s = max(clock.monotonic() - ctx.run_started_real, 0.0)
                latency_ms = (clock.monotonic() - t0) * 1000.0
                if error is None:
                    ctx.stats.record_call(request.endpoint, latency_ms, None, at_s)
                else:
                    ctx.stats.record_call(
                        request.endpoint, latency_ms, type(error).__name__, at_s,
                        error.status, error.message,
                    )  # fmt: skip

    def enqueue(
        self,
        endpoint: str,
        at: float,
        send: Send,
        command: Command,
        exc: ApiUnavailable | None = None,
        kind: EntryKind | None = None,
    ) -> Job:
        """Queue a call behind what waits (opening the backlog: the driver goes offline)."""
        ctx = self._ctx
        clock = ctx.clock
        backlog = self.backlog
        if backlog is None:
            config = ctx.client.config
            backlog = self.backlog = Backlog(
                now_real=clock.monotonic(),
                give_up_after_s=config.give_up_after_s,
                backoff=BackoffPolicy(config.backoff_base_s, config.backoff_cap_s,
                                      config.max_retries),
            )  # fmt: skip
            wait_s = backlog.first_wait_s(self._jitter(0), exc.retry_after_s if exc else None)
            backlog.retry_at = clock.now() + wait_s * clock.speed
            log.info(
                "driver_offline",
                driver_id=self.driver_id,
                endpoint=endpoint,
                status=exc.status if exc else None,
                message=exc.message if exc else None,
            )
        job = Job(send, command)
        entry_kind_ = kind or entry_kind(endpoint)
        task_id = getattr(command, "task_id", None) or None
        thinned, dropped = backlog.thinned, backlog.dropped_locations
        # a call that failed before it was queued was sent once already; one queued behind
        # others while the API is away has not been sent at all
        backlog.add(Entry(endpoint, task_id, at, entry_kind_, job, 1 if exc else 0))
        stats = ctx.stats
        stats.record_queued(endpoint, location=entry_kind_ is EntryKind.LOCATION)
        if backlog.thinned != thinned or backlog.dropped_locations != dropped:
            stats.record_backlog(
                thinned=backlog.thinned - thinned, dropped=backlog.dropped_locations - dropped
            )
        return job

    async def resend_head(self) -> Resent:
        """Resend the oldest waiting call (its `after` runs once it went out); an empty backlog
        is closed (None): the driver is online again."""
        backlog = self.backlog
        assert backlog is not None
        if not backlog:
            self.backlog = None
            log.info("driver_online", driver_id=self.driver_id)
            return None
        ctx = self._ctx
        clock, stats = ctx.clock, ctx.stats
        entry = backlog.entries[0]
        job = entry.payload
        pacer = ctx.pacer
        if pacer is not None:
            delay_s = pacer.delay_s(
                clock.monotonic(), lifecycle=entry.kind is not EntryKind.LOCATION
            )
            if delay_s > 0.0:
                await clock.sleep_real(delay_s)
        if entry.sends:  # a resend; the first attempt of a call queued while away is not
            stats.record_retry(entry.endpoint)
        try:
            await job.send()
        except ApiUnavailable as exc:
            wait_s = backlog.failed(self._jitter(backlog.failures + 1), exc.retry_after_s)
            backlog.retry_at = clock.now() + wait_s * clock.speed
            return StillAway(exc, backlog.overdue(clock.monotonic()))
        except ApiError as exc:
            backlog.sent(clock.monotonic())
            self._record_sent(entry, exc)
            self._log_refused(entry.endpoint, exc, queued=True)
            return Refused(exc, entry)
        backlog.sent(clock.monotonic())
        self._record_sent(entry, None)
        if job.after is not None:
            job.after()
        return entry

    def _record_sent(self, entry: Entry[Job], error: ApiError | None) -> None:
        ctx = self._ctx
        clock = ctx.clock
        latency_ms = max(clock.now() - entry.at, 0.0) / clock.speed * 1000.0
        at_s = max(clock.monotonic() - ctx.run_started_real, 0.0)
        if error is None:
            ctx.stats.record_call(entry.endpoint, latency_ms, None, at_s)
        else:
            _record_failed(ctx, entry.endpoint, latency_ms, at_s, error, entry.payload.command)

    def _log_refused(self, endpoint: str, exc: ApiError, *, queued: bool) -> None:
        log.warning(
            "call_failed",
            driver_id=self.driver_id,
            endpoint=endpoint,
            status=exc.status,
            error=type(exc).__name__,
            message=exc.message,
            **({"queued": True} if queued else {}),
        )

    def _jitter(self, failures: int) -> float:
        """A deterministic spread in [0, 1) per driver and attempt (no generator per driver)."""
        return ((zlib.crc32(self.driver_id.encode()) / 2**32) + failures * 0.6180339887) % 1.0


def _record_failed(
    ctx: DriverContext,
    endpoint: str,
    latency_ms: float,
    at_s: float,
    exc: ApiError,
    command: Command,
) -> None:
    """A refused call in the stats: its error class, HTTP status, Bringg's message and the order
    it was for (the report's failures by status and message, and the failed orders' last error)."""
    order_id = getattr(command, "task_id", None)
    ctx.stats.record_call(
        endpoint, latency_ms, type(exc).__name__, at_s, exc.status, exc.message,
        order_id if isinstance(order_id, int) else None,
    )  # fmt: skip

"""Runs one simulated driver: the lifecycle machine, the fleet client, a route and the clock.

The runner is the I/O shell around `lifecycle.Lifecycle`: it feeds events (an order offered, a
call confirmed, the geofence entered, a webhook's cancel or update) and executes the commands it
gets back. Between events it keeps a few timers in simulated time (next location update, arrival
at the stop, notes during the dwell, end of the dwell) and sleeps until the earliest of them, or
until `offer()` / `cancel()` / `update()` wake it.

Location updates are drift-free: each deadline is the previous one plus the interval, and the
update carries the *scheduled* tick as `reported_time`. Every call's latency is measured from
the time it was scheduled, not from when it went out, so a lagging generator or a stalled API
shows up in the figures instead of hiding (no coordinated omission).

When the API is away (a call still fails with `ApiUnavailable` after the client's retries) the
driver behaves like a phone that lost its connection (policy: `offline.py`): the call and every
later one queue in a backlog, the order goes on locally (the driver drives, checks in, dwells),
and a "flush" timer resends the head with a capped back-off that continues the client's; the
calls go out in order when the API answers again, each recorded once with its latency from the
scheduled time (a 60 s outage shows as ~60 s of latency, not as errors). An order whose calls
still wait is reported (`record_order`, `on_order_end`) only when they went out. An order is
given up when no call went out for `api.give_up_after_s` or when the API refuses one of its
lifecycle calls for good; it is then reported failed with its last error and cancelled on the
API side when possible. While the API is healthy no backlog exists: one attribute test per call.
"""

from __future__ import annotations

import datetime
import math
import random
import zlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from functools import partial
from typing import Protocol

import structlog

from driver_agent.core.clock import Clock, Wakeup
from driver_agent.core.config import DriverConfig
from driver_agent.core.endpoints import Endpoint
from driver_agent.core.errors import ApiError, ApiUnavailable, TransitionError
from driver_agent.core.model import NoteKind, Order, Stop, StopKind
from driver_agent.fleetapi.client import FleetClient
from driver_agent.fleetapi.wire import DriverProfile, Note, WayPointUpdate
from driver_agent.metrics.stats import GivenUpOrder, StatsCollector
from driver_agent.sim.gpsnoise import GpsNoise
from driver_agent.sim.lifecycle import (
    NON_FATAL_FAILURES,
    AddNote,
    ArrivedAtStop,
    AssignDriver,
    Assigned,
    CancelOrder,
    CheckedIn,
    CheckedOut,
    CheckIn,
    CheckOut,
    Command,
    CommandFailed,
    Completed,
    CompleteOrder,
    DriveTo,
    Dwell,
    DwellFinished,
    EtaChanged,
    Event,
    Lifecycle,
    LocationTick,
    OrderCancelled,
    OrderOffered,
    OrderOutcome,
    OrderUpdated,
    PlannedNote,
    SendLocation,
    Started,
    StartOrder,
    StopWork,
    UpdateOrder,
)
from driver_agent.sim.navigator import Navigator
from driver_agent.sim.offline import (
    CANCEL_AFTER_REFUSAL,
    Backlog,
    BackoffPolicy,
    Entry,
    EntryKind,
    entry_kind,
)
from driver_agent.sim.pacing import RatePacer, budget_short, ping_due
from driver_agent.sim.stopplan import Leg

log = structlog.get_logger("driver_agent.driver")


class Recorder(Protocol):
    """Receives what the report's map shows: positions and stop events."""

    def position(self, driver_id: str, lat: float, lng: float, t_ms: int) -> None: ...

    def event(
        self, kind: str, driver_id: str, task_id: int, lat: float, lng: float, t_ms: int
    ) -> None: ...


@dataclass(frozen=True)
class ProofAssets:
    """Real small images sent as proof of delivery."""

    photo: Note
    signature: Note


@dataclass
class DriverContext:
    """What every driver of a fleet shares: one client, one clock, one stats collector."""

    client: FleetClient
    clock: Clock
    stats: StatsCollector
    navigator: Navigator
    config: DriverConfig
    proof: ProofAssets
    seed: int = 1
    run_started_real: float = 0.0
    recorder: Recorder | None = None
    on_order_end: Callable[[Driver, Order, str], None] | None = None
    pacer: RatePacer | None = None
    budget_reserve_ratio: float = 0.1
    skipped_pings: int = 0

    def __post_init__(self) -> None:
        # the client's resends and reconciliations count in this run's stats
        if self.client.on_retry is None:
            self.client.on_retry = self.stats.record_retry


@dataclass(frozen=True, slots=True)
class DriverSpec:
    driver_id: str
    name: str
    lat: float
    lng: float
    phone: str | None = None


Send = Callable[[], Awaitable[object]]


@dataclass(slots=True)
class _Job:
    """A queued call: how to send it again, the command it carries out, what to do once sent."""

    send: Send
    command: Command
    after: Callable[[], None] | None = None


@dataclass(slots=True)
class _Ended:
    """An order that ended locally while its calls still wait in the backlog."""

    order: Order
    outcome: str
    stage_durations_s: dict[str, float]
    distance_m: float
    at: float


class Driver:
    """One simulated driver: `run()` it in a task; `offer()`, `cancel()`, `update()` it."""

    def __init__(self, spec: DriverSpec, ctx: DriverContext) -> None:
        self.spec = spec
        self.driver_id = spec.driver_id
        self._ctx = ctx
        self._clock = ctx.clock
        self._client = ctx.client
        self._stats = ctx.stats
        self.lifecycle = Lifecycle()
        self.lat, self.lng = spec.lat, spec.lng
        # Both generators are built on first use (a Random is ~2.5 KB, and an idle driver never
        # draws): the same seed strings, so the same draws as building them here.
        self._rng_made: random.Random | None = None
        self._noise_made: GpsNoise | None = None
        self._inbox: list[Event] = []  # a few events at most: a list is 300 B smaller than a deque
        self._wakeup = Wakeup()
        self._known_to_api = False
        self._last_sent: float | None = None  # the last busy location update that went out
        self._closing = False
        # the current leg and stop
        self._leg: Leg | None = None
        self._leg_started = 0.0
        self._leg_target: StopKind | None = None  # the stop the current leg leads to
        self._distance_m = 0.0
        # timers, simulated epoch seconds
        self._next_ping = math.inf
        self._arrive_at = math.inf
        self._dwell_until = math.inf
        self._notes: list[tuple[float, AddNote]] = []
        self._pending_notes: list[AddNote] = []
        self._dwell_kind = StopKind.PICKUP
        # the API is away: calls waiting to go out (None while healthy), an order ended locally
        self._backlog: Backlog[_Job] | None = None
        self._ended: _Ended | None = None

    @property
    def _rng(self) -> random.Random:
        """Legs and notes draw from this; `{seed}:{driver_id}`, made on first use."""
        rng = self._rng_made
        if rng is None:
            rng = self._rng_made = random.Random(f"{self._ctx.seed}:{self.driver_id}")
        return rng

    @property
    def _noise(self) -> GpsNoise:
        """The phone's GPS error; its own generator `{seed}:{driver_id}:gps`, made on first use."""
        noise = self._noise_made
        if noise is None:
            rng = random.Random(f"{self._ctx.seed}:{self.driver_id}:gps")
            noise = self._noise_made = self._ctx.navigator.noise(rng)
        return noise

    # ---- from outside -----------------------------------------------------------------------

    def offer(self, order: Order) -> None:
        self._post(OrderOffered(order))

    def cancel(self, reason_id: int = 0, reason: str = "") -> None:
        """Bringg cancelled the order (webhook): stop all work on it."""
        self._post(OrderCancelled(reason_id, reason, by_api=False))

    def cancel_by_driver(self, reason_id: int, reason: str) -> None:
        """The driver side cancels the order (Cancel Order call)."""
        self._post(OrderCancelled(reason_id, reason, by_api=True))

    def where(self) -> tuple[float, float]:
        """The driver's true position now (no GPS noise)."""
        return self._position(self._clock.now())

    def place(self, lat: float, lng: float) -> None:
        """Put an idle driver somewhere else (relocated near a far-away order)."""
        self.lat, self.lng = lat, lng

    def update(self, change: OrderUpdated) -> None:
        self._post(change)

    def close(self) -> None:
        """Finish the order in hand, then return from `run()`."""
        self._closing = True
        self._wakeup.set()

    def _post(self, event: Event) -> None:
        self._inbox.append(event)
        self._wakeup.set()

    # ---- the loop ---------------------------------------------------------------------------

    async def run(self) -> None:
        clock = self._clock
        self._next_ping = clock.now() + self._ctx.config.idle_ping_interval_s
        while True:
            if self._closing and not self.lifecycle.is_active and not self._inbox:
                backlog = self._backlog
                if backlog is None:
                    return
                if not backlog.has_calls():  # only positions wait: a stopping phone drops them
                    self._stats.record_backlog(dropped=backlog.drop_locations())
                    self._backlog = None
                    return
            woke = await clock.sleep_until(self._next_due()[0], self._wakeup)
            while self._inbox:
                await self._take(self._inbox.pop(0), clock.now())
            if not woke:
                await self._fire_due_timers()

    def _next_due(self) -> tuple[float, str]:
        """The earliest timer: (simulated time, which)."""
        due = (self._next_ping, "ping")
        if self._arrive_at < due[0]:
            due = (self._arrive_at, "arrive")
        if self._notes and self._notes[0][0] < due[0]:
            due = (self._notes[0][0], "note")
        if self._dwell_until < due[0]:
            due = (self._dwell_until, "dwell")
        backlog = self._backlog
        if backlog is not None and backlog.retry_at < due[0]:
            due = (backlog.retry_at, "flush")
        return due

    async def _fire_due_timers(self) -> None:
        """Fire every timer that is due, earliest first, so calls go out in time order."""
        while True:
            at, which = self._next_due()
            if at > self._clock.now() or self._inbox:
                return
            if which == "ping":
                busy = self.lifecycle.is_busy
                config = self._ctx.config
                interval = config.ping_interval_s if busy else config.idle_ping_interval_s
                self._next_ping = at + interval
                await self._ping(at)
            elif which == "arrive":
                self._arrive_at = math.inf
                await self._arrive(at)
            elif which == "note":
                _, command = self._notes.pop(0)
                await self._send_note(command, at)
            elif which == "flush":
                await self._flush()
            else:
                self._dwell_until = math.inf
                await self._feed(DwellFinished(self._dwell_kind), at)

    async def _take(self, event: Event, now: float) -> None:
        """An event from outside; a cancel or update that raced the order's end is dropped."""
        try:
            await self._feed(event, now)
        except TransitionError as exc:
            if isinstance(event, OrderOffered):
                raise  # offering to a busy driver is the fleet's bug
            log.info("event_ignored", driver_id=self.driver_id, state=exc.state, event=exc.event)

    # ---- position ---------------------------------------------------------------------------

    def _position(self, t: float) -> tuple[float, float]:
        """True position at simulated time t (on the leg, or parked)."""
        if self._leg is not None:
            return self._leg.lat_lng_at(t - self._leg_started)
        return self.lat, self.lng

    def _reported(self, t: float) -> tuple[float, float]:
        """What the phone reports at t: the position plus correlated GPS noise."""
        lat, lng = self._position(t)
        noisy_lat, noisy_lng, _accuracy_m = self._noise.apply(lat, lng, t)
        return noisy_lat, noisy_lng

    def _settle(self, t: float) -> None:
        """Fix the true position at t as the current one (before re-routing or parking)."""
        self.lat, self.lng = self._position(t)

    # ---- events and commands ----------------------------------------------------------------

    async def _feed(self, event: Event, at: float) -> None:
        commands = self.lifecycle.handle(event, int(at * 1000))
        for command in commands:
            await self._execute(command, at)

    async def _execute(self, command: Command, at: float) -> None:
        ctx, order = self._ctx, self.lifecycle.order
        assert order is not None
        task_id = order.task_id
        client = self._client
        send: Send
        if isinstance(command, AssignDriver):
            if self._known_to_api:
                send = partial(client.assign_driver, task_id, user_external_id=self.driver_id)
            else:
                profile = DriverProfile(
                    external_id=self.driver_id, name=self.spec.name, phone=self.spec.phone
                )
                send = partial(client.assign_driver, task_id, user=profile)
            if await self._call(Endpoint.ASSIGN_DRIVER, at, send, command) is not FAILED:
                self._known_to_api = True
                await self._feed(Assigned(), self._clock.now())
        elif isinstance(command, StartOrder):
            lat, lng = self._reported(at)
            send = partial(client.start_task, task_id, lat=lat, lng=lng, reported_time_ms=_ms(at))
            if await self._call(Endpoint.START_TASK, at, send, command) is not FAILED:
                now = self._clock.now()
                self._stats.driver_busy(self.driver_id, True, _ms(at))
                self._last_sent = at
                self._next_ping = at + ctx.config.ping_interval_s
                await self._feed(Started(), now)
        elif isinstance(command, DriveTo):
            rerouted = self._leg is not None and self._leg_target is command.stop.kind
            self._drive_to(command.stop, at)
            if rerouted:  # tell Bringg the new ETA at the moved stop
                await self._feed(EtaChanged(command.stop.kind, _ms(self._arrive_at)), at)
        elif isinstance(command, SendLocation):
            # the tick's fix, as _reported(at) gave it: computing it again gives the same
            await self._send_location(at, task_id, (command.lat, command.lng))
        elif isinstance(command, CheckIn):
            send = partial(
                client.checkin,
                task_id,
                kind=command.kind,
                lat=command.lat,
                lng=command.lng,
                reported_time_ms=_ms(at),
            )
            if await self._call(Endpoint.CHECKIN, at, send, command) is not FAILED:
                self._record("checkin", task_id, command.lat, command.lng, at)
                await self._feed(CheckedIn(command.kind, self._plan_notes(command.kind)), at)
        elif isinstance(command, AddNote):
            self._pending_notes.append(command)  # sent during the dwell that follows
        elif isinstance(command, Dwell):
            self._start_dwell(command.kind, order, at)
        elif isinstance(command, CheckOut):
            lat, lng = self._reported(at)
            send = partial(
                client.checkout, task_id, kind=command.kind, lat=lat, lng=lng,
                reported_time_ms=_ms(at),
            )  # fmt: skip
            if await self._call(Endpoint.CHECKOUT, at, send, command) is not FAILED:
                self._record("checkout", task_id, lat, lng, at)
                await self._feed(CheckedOut(command.kind), at)
        elif isinstance(command, CompleteOrder):
            lat, lng = self._reported(at)
            send = partial(client.end_task, task_id, lat=lat, lng=lng, reported_time_ms=_ms(at))
            if await self._call(Endpoint.END_TASK, at, send, command) is not FAILED:
                await self._feed(Completed(), at)
                self._finish(order, "completed", at)
        elif isinstance(command, CancelOrder):
            lat, lng = self._reported(at)
            send = partial(
                client.cancel_delivery,
                task_id,
                reason_id=command.reason_id,
                reason=command.reason or None,
                lat=lat,
                lng=lng,
                reported_time_ms=_ms(at),
            )
            await self._call(Endpoint.CANCEL_DELIVERY, at, send, command)
        elif isinstance(command, UpdateOrder):
            eta = WayPointUpdate(command.kind, eta=_iso(command.eta_ms))
            send = partial(client.update_task, task_id, way_points=[eta], reported_time_ms=_ms(at))
            await self._call(Endpoint.UPDATE_TASK, at, send, command)
        elif isinstance(command, StopWork):
            self._stop_work(order, at)
        else:  # pragma: no cover - the lifecycle emits nothing else
            raise AssertionError(f"unknown command {command!r}")

    async def _call(
        self, endpoint: str, scheduled: float, send: Send | Awaitable[object], command: Command
    ) -> object:
        """One API call: latency from `scheduled` to stats; a refusal fed back as an event.

        Returns the answer, FAILED (refused for good), or the `_Job` queued in the backlog when
        the API is away (the caller goes on as if it was confirmed). `send` makes the call; the
        location tick passes the call itself instead (no factory on the hot path) and gets the
        ApiUnavailable back, to queue it."""
        if self._backlog is not None:  # offline: behind what already waits, in order
            assert callable(send)
            return self._enqueue(endpoint, scheduled, send, command)
        clock = self._clock
        lag_s = max(clock.now() - scheduled, 0.0) / clock.speed
        t0 = clock.monotonic()
        pacer = self._ctx.pacer
        if pacer is not None:
            lifecycle = endpoint != Endpoint.UPDATE_DRIVER_LOCATION
            delay_s = pacer.delay_s(t0, lifecycle=lifecycle)
            if delay_s > 0.0:
                await clock.sleep_real(delay_s)
        error: str | None = None
        queued = False
        try:
            return await (send() if callable(send) else send)
        except ApiUnavailable as exc:
            # still away after the client's retries: the phone goes offline with this call
            queued = True
            if not callable(send):
                return exc
            return self._enqueue(endpoint, scheduled, send, command, exc)
        except ApiError as exc:
            error = type(exc).__name__
            await self._refused(endpoint, command, exc)
            return FAILED
        finally:
            if not queued:  # a queued call is recorded once, when it finally goes out
                latency_ms = (lag_s + clock.monotonic() - t0) * 1000.0
                self._stats.record_call(
                    endpoint,
                    latency_ms,
                    error,
                    max(clock.monotonic() - self._ctx.run_started_real, 0.0),
                )

    async def _refused(self, endpoint: str, command: Command, exc: ApiError) -> None:
        """The API refused a call for good: the lifecycle hears it; an order that fails on a
        refused lifecycle call is given up (reported with the error, cancelled when possible)."""
        log.warning(
            "call_failed",
            driver_id=self.driver_id,
            endpoint=endpoint,
            status=exc.status,
            error=type(exc).__name__,
            message=exc.message,
        )
        lifecycle = self.lifecycle
        order = lifecycle.order
        if not lifecycle.is_active or order is None:
            return
        await self._feed(CommandFailed(command, exc.message), self._clock.now())
        if lifecycle.outcome is OrderOutcome.FAILED:
            self._gave_up(order.task_id, endpoint, exc, "refused")
            if endpoint in CANCEL_AFTER_REFUSAL:
                await self._cancel_given_up(order.task_id)

    # ---- riding out an outage -----------------------------------------------------------------

    def _enqueue(
        self,
        endpoint: str,
        at: float,
        send: Send,
        command: Command,
        exc: ApiUnavailable | None = None,
        kind: EntryKind | None = None,
    ) -> _Job:
        clock = self._clock
        backlog = self._backlog
        if backlog is None:
            config = self._client.config
            backlog = self._backlog = Backlog(
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
        job = _Job(send, command)
        entry_kind_ = kind or entry_kind(endpoint)
        task_id = getattr(command, "task_id", None) or None
        thinned, dropped = backlog.thinned, backlog.dropped_locations
        # a call that failed before it was queued was sent once already; one queued behind
        # others while the API is away has not been sent at all
        backlog.add(Entry(endpoint, task_id, at, entry_kind_, job, 1 if exc else 0))
        stats = self._stats
        stats.record_queued(endpoint, location=entry_kind_ is EntryKind.LOCATION)
        if backlog.thinned != thinned or backlog.dropped_locations != dropped:
            stats.record_backlog(
                thinned=backlog.thinned - thinned, dropped=backlog.dropped_locations - dropped
            )
        return job

    def _jitter(self, failures: int) -> float:
        """A deterministic spread in [0, 1) per driver and attempt (no generator per driver)."""
        return ((zlib.crc32(self.driver_id.encode()) / 2**32) + failures * 0.6180339887) % 1.0

    async def _flush(self) -> None:
        """Resend what waits, oldest first, until the backlog is empty or the API fails again."""
        backlog = self._backlog
        assert backlog is not None
        clock, stats = self._clock, self._stats
        while backlog:
            entry = backlog.entries[0]
            job = entry.payload
            pacer = self._ctx.pacer
            if pacer is not None:
                delay_s = pacer.delay_s(
                    clock.monotonic(), lifecycle=entry.kind is not EntryKind.LOCATION
                )
                if delay_s > 0.0:
                    await clock.sleep_real(delay_s)
            if entry.sends:  # a resend; the first attempt of a call queued while away is not
                stats.record_retry(entry.endpoint)
            error: str | None = None
            try:
                await job.send()
            except ApiUnavailable as exc:
                wait_s = backlog.failed(self._jitter(backlog.failures + 1), exc.retry_after_s)
                backlog.retry_at = clock.now() + wait_s * clock.speed
                if backlog.overdue(clock.monotonic()):
                    await self._give_up_overdue(backlog, exc)
                return
            except ApiError as exc:
                error = type(exc).__name__
                backlog.sent(clock.monotonic())
                self._record_sent(entry, error)
                await self._refused_queued(entry, exc)
            else:
                backlog.sent(clock.monotonic())
                self._record_sent(entry, error)
                if job.after is not None:
                    job.after()
            ended = self._ended
            if ended is not None and not backlog.holds(ended.order.task_id):
                self._ended = None
                self._report_end(ended, ended.outcome)
        self._backlog = None
        log.info("driver_online", driver_id=self.driver_id)

    def _record_sent(self, entry: Entry[_Job], error: str | None) -> None:
        clock = self._clock
        latency_ms = max(clock.now() - entry.at, 0.0) / clock.speed * 1000.0
        self._stats.record_call(
            entry.endpoint,
            latency_ms,
            error,
            max(clock.monotonic() - self._ctx.run_started_real, 0.0),
        )

    async def _refused_queued(self, entry: Entry[_Job], exc: ApiError) -> None:
        """A queued call was refused for good when it finally went out."""
        log.warning(
            "call_failed",
            driver_id=self.driver_id,
            endpoint=entry.endpoint,
            status=exc.status,
            error=type(exc).__name__,
            message=exc.message,
            queued=True,
        )
        task_id = entry.task_id
        if entry.kind is EntryKind.CLEANUP:
            self._stats.record_cancel_after_give_up(cancelled=False)
            return
        if task_id is None or entry.kind is EntryKind.LOCATION:
            return
        lifecycle, ended = self.lifecycle, self._ended
        order = lifecycle.order
        active = lifecycle.is_active and order is not None and order.task_id == task_id
        if entry.kind is EntryKind.EXTRA:
            if active:  # a note or an ETA: counted as refused, the order goes on
                await self._feed(
                    CommandFailed(entry.payload.command, exc.message), self._clock.now()
                )
            return
        if ended is not None and ended.order.task_id == task_id and ended.outcome == "cancelled":
            # cancelled meanwhile: its waiting calls are moot, the order stays cancelled
            assert self._backlog is not None
            self._backlog.drop_order(task_id)
            return
        await self._give_up(task_id, entry.endpoint, exc, "refused", entry.payload.command)
        if entry.endpoint in CANCEL_AFTER_REFUSAL:
            await self._cancel_given_up(task_id)

    async def _give_up_overdue(self, backlog: Backlog[_Job], exc: ApiUnavailable) -> None:
        """Nothing went out for give_up_after_s: give up the waiting orders (their cancels wait
        for the API) and start the clock again for what is left. A stopping driver abandons
        the cancels that waited as long."""
        if self._closing:
            for entry in backlog.drop_cleanups():
                log.warning("cancel_abandoned", driver_id=self.driver_id, order_id=entry.task_id)
                self._stats.record_cancel_after_give_up(cancelled=False)
        for task_id in backlog.orders():
            head = next(
                e
                for e in backlog.entries
                if e.task_id == task_id and e.kind in (EntryKind.LIFECYCLE, EntryKind.EXTRA)
            )
            await self._give_up(task_id, head.endpoint, exc, "no_progress", head.payload.command)
            await self._cancel_given_up(task_id)
        backlog.progress(self._clock.monotonic())

    async def _give_up(
        self, task_id: int, endpoint: str, exc: ApiError, reason: str, command: Command
    ) -> None:
        """Stop waiting for this order: drop its calls, report it failed with the last error."""
        if self._backlog is not None:
            self._backlog.drop_order(task_id)
        self._gave_up(task_id, endpoint, exc, reason)
        lifecycle, ended = self.lifecycle, self._ended
        order = lifecycle.order
        if lifecycle.is_active and order is not None and order.task_id == task_id:
            if isinstance(command, NON_FATAL_FAILURES):  # given up as a whole, not as a note
                command = CompleteOrder(task_id)
            await self._feed(CommandFailed(command, exc.message), self._clock.now())
        elif ended is not None and ended.order.task_id == task_id:
            self._ended = None
            self._report_end(ended, "failed")

    def _gave_up(self, task_id: int, endpoint: str, exc: ApiError, reason: str) -> None:
        log.warning(
            "order_given_up",
            driver_id=self.driver_id,
            order_id=task_id,
            endpoint=endpoint,
            status=exc.status,
            message=exc.message,
            reason=reason,
        )
        self._stats.record_given_up(
            GivenUpOrder(self.driver_id, task_id, endpoint, exc.status, exc.message, reason)
        )

    async def _cancel_given_up(self, task_id: int) -> None:
        """Tell the API a given-up order will not be done (best effort; queued while away)."""
        clock = self._clock
        at = clock.now()
        lat, lng = self._reported(at)
        reason_id = self._ctx.config.cancel_reason_id
        send = partial(
            self._client.cancel_delivery,
            task_id,
            reason_id=reason_id,
            reason="driver-agent gave the order up",
            lat=lat,
            lng=lng,
            reported_time_ms=_ms(at),
        )
        command = CancelOrder(task_id, reason_id, "given up")
        if self._backlog is not None:
            job = self._enqueue(Endpoint.CANCEL_DELIVERY, at, send, command, kind=EntryKind.CLEANUP)
            job.after = self._cancelled_after_give_up
            return
        try:
            await send()
        except ApiUnavailable as exc:
            job = self._enqueue(Endpoint.CANCEL_DELIVERY, at, send, command, exc, EntryKind.CLEANUP)
            job.after = self._cancelled_after_give_up
        except ApiError as exc:
            log.warning(
                "cancel_refused", driver_id=self.driver_id, order_id=task_id, message=exc.message
            )
            self._stats.record_cancel_after_give_up(cancelled=False)
        else:
            self._cancelled_after_give_up()

    def _cancelled_after_give_up(self) -> None:
        self._stats.record_cancel_after_give_up(cancelled=True)

    async def _ping(self, at: float) -> None:
        lifecycle, ctx = self.lifecycle, self._ctx
        budget = self._client.rate_limit
        if lifecycle.is_busy:
            interval = ctx.config.ping_interval_s
            if not ping_due(budget, ctx.budget_reserve_ratio, self._last_sent, at, interval):
                ctx.skipped_pings += 1  # short on budget: this one can wait a tick
                return
            lat, lng = self._reported(at)
            await self._feed(LocationTick(lat, lng), at)
        elif self._known_to_api and not lifecycle.is_active:
            if budget_short(budget, ctx.budget_reserve_ratio):
                ctx.skipped_pings += 1
                return
            await self._send_location(at, None)

    async def _send_location(
        self, at: float, task_id: int | None, fix: tuple[float, float] | None = None
    ) -> None:
        lat, lng = self._reported(at) if fix is None else fix
        clock = self._clock
        # the generator's own lag: the call goes out now, `at` was its tick
        lateness_ms = max(clock.now() - at, 0.0) / clock.speed * 1000.0
        client = self._client
        started = (task_id,) if task_id is not None else ()
        command = SendLocation(task_id or 0, lat, lng)
        sent: object = None
        if self._backlog is None:  # the hot path: the call itself, no factory
            call = client.update_driver_location(
                user_external_id=self.driver_id,
                lat=lat,
                lng=lng,
                reported_time_ms=_ms(at),
                started_tasks=started,
            )
            sent = await self._call(Endpoint.UPDATE_DRIVER_LOCATION, at, call, command)
            if sent is FAILED:
                return
            offline = isinstance(sent, ApiUnavailable)
        else:
            offline = True
        if offline:  # it waits for the API, behind what already waits
            send = partial(
                client.update_driver_location,
                user_external_id=self.driver_id,
                lat=lat,
                lng=lng,
                reported_time_ms=_ms(at),
                started_tasks=started,
            )
            exc = sent if isinstance(sent, ApiUnavailable) else None
            sent = self._enqueue(Endpoint.UPDATE_DRIVER_LOCATION, at, send, command, exc)
        if task_id is not None:
            self._last_sent = at
        if isinstance(sent, _Job):  # waits for the API: counted when it has gone out
            sent.after = partial(self._location_sent, at, task_id, lat, lng)
            return
        self._location_sent(at, task_id, lat, lng, lateness_ms)

    def _location_sent(
        self, at: float, task_id: int | None, lat: float, lng: float, lateness_ms: float = -1.0
    ) -> None:
        """A location the API took. `lateness_ms` is from its tick to when it went out; a queued
        one (-1) went out just now, after the outage."""
        if task_id is not None:
            if lateness_ms < 0.0:
                clock = self._clock
                lateness_ms = max(clock.now() - at, 0.0) / clock.speed * 1000.0
            self._stats.record_ping(self.driver_id, _ms(at), lateness_ms)
        if self._ctx.recorder is not None:
            self._ctx.recorder.position(self.driver_id, lat, lng, _ms(at))

    def _close_leg(self, at: float) -> None:
        """Stand where the current leg has brought the driver by `at`; count what was driven."""
        if self._leg is not None:
            self._settle(at)
            self._distance_m += self._leg.movement.distance_at(at - self._leg_started)[0]
            self._leg = None
        self._arrive_at = math.inf

    def _drive_to(self, stop: Stop, at: float) -> None:
        self._close_leg(at)
        self._leg = self._ctx.navigator.leg(self.lat, self.lng, stop, self._rng)
        self._leg_started = at
        self._leg_target = stop.kind
        self._arrive_at = at + self._leg.arrive_s

    async def _arrive(self, at: float) -> None:
        leg, kind = self._leg, self._leg_target
        if leg is None or kind is None:
            return
        lat, lng = self._reported(at)
        await self._feed(ArrivedAtStop(kind, lat, lng), at)

    def _plan_notes(self, kind: StopKind) -> tuple[PlannedNote, ...]:
        config, rng = self._ctx.config, self._rng
        notes: list[PlannedNote] = []
        if rng.random() < config.note_text_ratio:
            text = "Picked up, sealed" if kind is StopKind.PICKUP else "Left with customer"
            notes.append(PlannedNote(NoteKind.TEXT, text))
        if rng.random() < config.note_photo_ratio:
            notes.append(PlannedNote(NoteKind.PHOTO))
        if kind is StopKind.DROPOFF and rng.random() < config.note_signature_ratio:
            notes.append(PlannedNote(NoteKind.SIGNATURE))
        return tuple(notes)

    def _start_dwell(self, kind: StopKind, order: Order, at: float) -> None:
        dwell_s = self._leg.dwell_s if self._leg is not None else 60.0
        end = at + dwell_s
        opens = order.stop(kind).no_earlier_than_ms
        if opens is not None and opens / 1000.0 > at:  # early: wait for the window to open
            end = max(end, opens / 1000.0 + min(dwell_s, 120.0))
        self._dwell_until = end
        self._dwell_kind = kind
        # proof of delivery is taken at the handover, in the second half of the dwell
        pending, self._pending_notes = self._pending_notes, []
        for i, command in enumerate(pending):
            self._notes.append((at + dwell_s * (0.5 + 0.4 * i / len(pending)), command))

    async def _send_note(self, command: AddNote, at: float) -> None:
        proof = self._ctx.proof
        planned = command.note
        if planned.kind is NoteKind.PHOTO:
            note = proof.photo
        elif planned.kind is NoteKind.SIGNATURE:
            note = proof.signature
        else:
            note = Note.text_note(planned.text or "note")
        lat, lng = self._reported(at)
        send = partial(
            self._client.create_note,
            command.task_id, note, kind=command.kind, lat=lat, lng=lng, reported_time_ms=_ms(at),
        )  # fmt: skip
        await self._call(Endpoint.CREATE_NOTE, at, send, command)

    def _stop_work(self, order: Order, at: float) -> None:
        outcome = self.lifecycle.outcome
        self._dwell_until = math.inf
        self._notes.clear()
        self._pending_notes.clear()
        if outcome is not None:
            self._record(outcome.value, order.task_id, self.lat, self.lng, at)
            self._finish(order, outcome.value, at)

    def _finish(self, order: Order, outcome: str, at: float) -> None:
        self._close_leg(at)
        ended = _Ended(order, outcome, self.lifecycle.stage_durations_s(), self._distance_m, at)
        self._distance_m = 0.0
        self._next_ping = at + self._ctx.config.idle_ping_interval_s
        backlog = self._backlog
        if backlog is not None and backlog.holds(order.task_id):
            self._ended = ended  # done here, not yet at the API: reported once its calls went
            return
        self._report_end(ended, outcome)

    def _report_end(self, ended: _Ended, outcome: str) -> None:
        """The order's outcome, for the stats, the log and the fleet (a new order may follow)."""
        order = ended.order
        stats = self._stats
        # busy until here: the order's queued positions counted in its ping cadence
        stats.driver_busy(self.driver_id, False, _ms(ended.at))
        stats.record_order(self.driver_id, outcome, ended.stage_durations_s, ended.distance_m)
        log.info(
            "order_finished",
            driver_id=self.driver_id,
            order_id=order.task_id,
            outcome=outcome,
            **{k: round(v, 1) for k, v in ended.stage_durations_s.items()},
        )
        if self._ctx.on_order_end is not None:
            self._ctx.on_order_end(self, order, outcome)

    def _record(self, kind: str, task_id: int, lat: float, lng: float, at: float) -> None:
        if self._ctx.recorder is not None:
            self._ctx.recorder.event(kind, self.driver_id, task_id, lat, lng, _ms(at))


class _Failed:
    """What `_call` returns when the API refused the call for good."""


FAILED = _Failed()


def _ms(t: float) -> int:
    return round(t * 1000)


def _iso(ms: int) -> str:
    moment = datetime.datetime.fromtimestamp(ms / 1000, tz=datetime.UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")

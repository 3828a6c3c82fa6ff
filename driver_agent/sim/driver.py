"""Runs one simulated driver: the task loop around its lifecycle, its calls and its itinerary.

The driver is the I/O shell around `lifecycle.Lifecycle`, pulled in the h11 manner: an event
goes in (an order offered, the geofence entered, a timer fired, a webhook's cancel or update),
the driver pulls the next command, carries it out (the API call, through `api_calls` and
`calls`; a drive or a dwell, through `itinerary`), sends its outcome back in as an event, and
pulls again until nothing is left. Nothing recurses: a command's outcome is applied after the
rest of its batch, never in the middle of it. Between events the driver keeps a few timers in
simulated time (next location update, arrival at the stop, notes during the dwell, end of the
dwell, the next resend while the API is away) and sleeps until the earliest of them, or until
`offer()` / `cancel()` / `update()` wake it.

Location updates are drift-free: each deadline is the previous one plus the interval, and the
update carries the *scheduled* tick as `reported_time`.

When the API is away the driver behaves like a phone that lost its connection (`calls`,
`offline`): its calls queue, the order goes on locally, and the queued calls go out in order
when the API answers again. An order whose calls still wait is reported (`record_order`, the
fleet's `on_order_end`) only when they went out. An order is given up when no call went out for
`api.give_up_after_s` or when the API refuses one of its lifecycle calls for good; it is then
reported failed with its last error and cancelled on the API side when possible (`giveup`).
"""

from __future__ import annotations

import math

import structlog

from driver_agent.core.clock import Wakeup
from driver_agent.core.endpoints import Endpoint
from driver_agent.core.errors import TransitionError
from driver_agent.core.model import Order
from driver_agent.sim import lifecycle_messages as m
from driver_agent.sim.api_calls import ApiCommand, Request, ms, note_request, request_for
from driver_agent.sim.calls import Calls, Refused
from driver_agent.sim.context import DriverContext, DriverSpec, OrderEnded
from driver_agent.sim.giveup import Ended, Refusal, flush, give_up_refused
from driver_agent.sim.itinerary import Itinerary
from driver_agent.sim.lifecycle import Lifecycle
from driver_agent.sim.lifecycle_states import OrderOutcome, Stage
from driver_agent.sim.pings import ping, send_location

log = structlog.get_logger("driver_agent.driver")
_LOCATION = Endpoint.UPDATE_DRIVER_LOCATION


class Driver:
    """One simulated driver: `run()` it in a task; `offer()`, `cancel()`, `update()` it.

    `on_order_end(driver, order, outcome)` is told once per order, when it has ended and its
    calls went out (the fleet hands each driver its own)."""

    __slots__ = (
        "_clock",
        "_inbox",
        "_next_ping",
        "_on_order_end",
        "_stats",
        "_wakeup",
        "calls",
        "closing",
        "context",
        "driver_id",
        "ended",
        "itinerary",
        "known_to_api",
        "last_sent",
        "lifecycle",
        "spec",
    )  # fmt: skip

    def __init__(
        self, spec: DriverSpec, ctx: DriverContext, on_order_end: OrderEnded | None = None
    ) -> None:
        self.spec = spec
        self.driver_id = spec.driver_id
        self.context = ctx
        self._clock = ctx.clock
        self._stats = ctx.stats
        self._on_order_end = on_order_end
        self.lifecycle = Lifecycle()
        self.itinerary = Itinerary(
            spec.driver_id, spec.lat, spec.lng, ctx.navigator, ctx.config, ctx.seed
        )
        self.calls = Calls(spec.driver_id, ctx)
        self._inbox: list[
            m.Event
        ] = []  # a few events at most: a list is 300 B smaller than a deque
        self._wakeup = Wakeup()
        self.known_to_api = False
        self.last_sent: float | None = None  # the last busy location update that went out
        self.closing = False
        self._next_ping = math.inf
        self.ended: Ended | None = None  # ended here, its calls not yet at the API

    # ---- from outside -----------------------------------------------------------------------

    @property
    def lat(self) -> float:
        return self.itinerary.lat

    @property
    def lng(self) -> float:
        return self.itinerary.lng

    def offer(self, order: Order) -> None:
        self._post(m.OrderOffered(order))

    def cancel(self, reason_id: int = 0, reason: str = "") -> None:
        """Bringg cancelled the order (webhook): stop all work on it."""
        self._post(m.OrderCancelled(reason_id, reason, by_api=False))

    def cancel_by_driver(self, reason_id: int, reason: str) -> None:
        """The driver side cancels the order (Cancel Order call)."""
        self._post(m.OrderCancelled(reason_id, reason, by_api=True))

    def where(self) -> tuple[float, float]:
        """The driver's true position now (no GPS noise)."""
        return self.itinerary.position(self._clock.now())

    def place(self, lat: float, lng: float) -> None:
        """Put an idle driver somewhere else (relocated near a far-away order)."""
        self.itinerary.lat, self.itinerary.lng = lat, lng

    def update(self, change: m.OrderUpdated) -> None:
        self._post(change)

    def close(self) -> None:
        """Finish the order in hand, then return from `run()`."""
        self.closing = True
        self._wakeup.set()

    def _post(self, event: m.Event) -> None:
        self._inbox.append(event)
        self._wakeup.set()

    # ---- the loop ---------------------------------------------------------------------------

    async def run(self) -> None:
        profile = self.context.profile
        if profile is not None:  # own fleet: user, shift, left home
            await self.calls.day(profile.start_day(self.spec, self._clock.now()))
        await self._work()
        if profile is not None:  # after the last order: shift ended, home
            await self.calls.day(profile.end_day(self.spec))

    async def _work(self) -> None:
        clock = self._clock
        self._next_ping = clock.now() + self.context.config.idle_ping_interval_s
        while True:
            if self.closing and not self.lifecycle.is_active and not self._inbox:
                backlog = self.calls.backlog
                if backlog is None:
                    return
                if not backlog.has_calls():  # only positions wait: a stopping phone drops them
                    self._stats.record_backlog(dropped=backlog.drop_locations())
                    self.calls.backlog = None
                    return
            woke = await clock.sleep_until(self._next_due()[0], self._wakeup)
            while self._inbox:
                await self._take(self._inbox.pop(0), clock.now())
            if not woke:
                await self._fire_due_timers()

    def _next_due(self) -> tuple[float, str]:
        """The earliest timer: (simulated time, which)."""
        trip = self.itinerary
        due = (self._next_ping, "ping")
        if trip.arrive_at < due[0]:
            due = (trip.arrive_at, "arrive")
        if trip.notes and trip.notes[0][0] < due[0]:
            due = (trip.notes[0][0], "note")
        if trip.dwell_until < due[0]:
            due = (trip.dwell_until, "dwell")
        backlog = self.calls.backlog
        if backlog is not None and backlog.retry_at < due[0]:
            due = (backlog.retry_at, "flush")
        return due

    async def _fire_due_timers(self) -> None:
        """Fire every timer that is due, earliest first, so calls go out in time order."""
        trip = self.itinerary
        while True:
            at, which = self._next_due()
            if at > self._clock.now() or self._inbox:
                return
            if which == "ping":
                busy = self.lifecycle.is_busy
                config = self.context.config
                interval = config.ping_interval_s if busy else config.idle_ping_interval_s
                self._next_ping = at + interval
                await ping(self, at)
            elif which == "arrive":
                trip.arrive_at = math.inf
                if trip.leg is not None and trip.leg_target is not None:
                    lat, lng = trip.reported(at)
                    await self.feed(m.ArrivedAtStop(trip.leg_target, lat, lng), at)
            elif which == "note":
                _, command = trip.notes.pop(0)
                await self._send_note(command, at)
            elif which == "flush":
                await flush(self)
            else:
                trip.dwell_until = math.inf
                await self.feed(m.DwellFinished(trip.dwell_kind), at)

    async def _take(self, event: m.Event, now: float) -> None:
        """An event from outside; a cancel or update that raced the order's end is dropped."""
        try:
            await self.feed(event, now)
        except TransitionError as exc:
            if isinstance(event, m.OrderOffered):
                raise  # offering to a busy driver is the fleet's bug
            log.info("event_ignored", driver_id=self.driver_id, state=exc.state, event=exc.event)

    # ---- events in, commands out ------------------------------------------------------------

    async def feed(self, event: m.Event, at: float, refusal: Refusal | None = None) -> None:
        """Send an event into the lifecycle and pull commands until none is left; each one's
        outcome goes back in as an event, and the lifecycle applies it after the rest of its
        batch. An order a refused call failed (`refusal`, or one refused on the way) is given up
        once the lifecycle has moved it to failed."""
        lifecycle = self.lifecycle
        lifecycle.send(event, at)
        while (command := lifecycle.next_command()) is not None:
            refusal = await self._execute(command, lifecycle.at_s) or refusal
        if refusal is not None:
            await give_up_refused(self, refusal)

    async def _execute(self, command: m.Command, at: float) -> Refusal | None:
        """Carry out one command scheduled at `at`; a refused call is reported back."""
        trip, lifecycle = self.itinerary, self.lifecycle
        if isinstance(command, m.SendLocation):
            refused = await send_location(self, at, command)
            return None if refused is None else self._refused(command, refused)
        if isinstance(command, m.DriveTo):
            if trip.drive_to(command.stop, at):  # re-routed: tell Bringg the new ETA
                lifecycle.send(m.EtaChanged(command.stop.kind, ms(trip.arrive_at)), at)
        elif isinstance(command, m.AddNote):
            trip.pending_notes.append(command)  # sent during the dwell that follows
        elif isinstance(command, m.Dwell):
            assert lifecycle.order is not None
            trip.start_dwell(command.kind, lifecycle.order, at)
        elif isinstance(command, m.StopWork):
            self._stop_work(at)
        else:
            request = self.api_request(command, at)
            if request is None:  # this profile's API has no such call (an ETA under own-fleet)
                return None
            answer = await self.calls.call(request.endpoint, at, request.send, command)
            if isinstance(answer, Refused):
                return self._refused(
                    command, Refusal(command.task_id, request.endpoint, answer.exc)
                )
            self._confirmed(command, request, at)
        return None

    def shift_over(self) -> bool:
        """Its profile's shift is over (own fleet): it takes no new order."""
        profile = self.context.profile
        return profile is not None and profile.shift_over(self.spec, self._clock.now())

    def _sends_locations(self) -> bool:
        profile = self.context.profile
        return profile is None or profile.sends_locations

    def api_request(self, command: ApiCommand, at: float) -> Request | None:
        """The call that carries out `command` under this run's profile (None: it has none)."""
        ctx, reported = self.context, self.itinerary.reported
        if ctx.profile is not None:
            return ctx.profile.request_for(command, self.spec, at=at, reported=reported)
        return request_for(
            command, ctx.fleet_client(), self.spec, known_to_api=self.known_to_api, at=at,
            reported=reported,
        )  # fmt: skip

    def _confirmed(self, command: m.Command, request: Request, at: float) -> None:
        """The call went out (or waits for the API, which counts the same): its outcome."""
        lifecycle = self.lifecycle
        if isinstance(command, m.AssignDriver):
            self.known_to_api = True
            lifecycle.send(m.Assigned(), self._clock.now())
        elif isinstance(command, m.StartOrder):
            now = self._clock.now()
            # without location updates (own fleet) busy time counts, ping gaps do not
            busy_at = ms(at) if self._sends_locations() else None
            self._stats.driver_busy(self.driver_id, True, busy_at)
            self.last_sent = at
            self._next_ping = at + self.context.config.ping_interval_s
            lifecycle.send(m.Started(), now)
        elif isinstance(command, m.CheckIn):
            self.record("checkin", command.task_id, request.lat, request.lng, at)
            notes = self.itinerary.plan_notes(command.kind)
            lifecycle.send(m.CheckedIn(command.kind, notes), at)
        elif isinstance(command, m.CheckOut):
            self.record("checkout", command.task_id, request.lat, request.lng, at)
            lifecycle.send(m.CheckedOut(command.kind), at)
        elif isinstance(command, m.CompleteOrder):
            lifecycle.send(m.Completed(), at)

    def _refused(self, command: m.Command, refusal: Refusal) -> Refusal | None:
        """The API refused a call for good: the lifecycle hears it (while the order is on)."""
        lifecycle = self.lifecycle
        if not lifecycle.is_active or lifecycle.order is None:
            return None
        lifecycle.send(m.CommandFailed(command, refusal.exc.message), self._clock.now())
        return refusal

    # ---- location updates and notes ---------------------------------------------------------

    async def _send_note(self, command: m.AddNote, at: float) -> None:
        trip = self.itinerary
        ctx = self.context
        if ctx.profile is not None:
            request = ctx.profile.note_request(
                command, self.spec, ctx.proof, at=at, reported=trip.reported
            )
        else:
            request = note_request(
                command, ctx.fleet_client(), ctx.proof, at=at, reported=trip.reported
            )
        answer = await self.calls.call(request.endpoint, at, request.send, command)
        if isinstance(answer, Refused) and self.lifecycle.is_active:
            failed = m.CommandFailed(command, answer.exc.message)
            refusal = Refusal(command.task_id, request.endpoint, answer.exc)
            await self.feed(failed, self._clock.now(), refusal)

    # ---- the end of an order ----------------------------------------------------------------

    def _stop_work(self, at: float) -> None:
        lifecycle, trip = self.lifecycle, self.itinerary
        order, outcome = lifecycle.order, lifecycle.outcome
        trip.stop_work()
        if order is not None and outcome is not None:
            self.record(outcome.value, order.task_id, trip.lat, trip.lng, at)
            self._finish(order, outcome, at)

    def _finish(self, order: Order, outcome: OrderOutcome, at: float) -> None:
        trip = self.itinerary
        trip.close_leg(at)
        durations = self.lifecycle.stage_durations_s()
        walked_s = trip.take_walked_s()
        if walked_s > 0.0:  # the walks to stops off the road and back to the van
            durations[Stage.ON_FOOT.value] = walked_s
        ended = Ended(order, outcome.value, durations, trip.take_distance_m(), at)
        self._next_ping = at + self.context.config.idle_ping_interval_s
        backlog = self.calls.backlog
        if backlog is not None and backlog.holds(order.task_id):
            self.ended = ended  # done here, not yet at the API: reported once its calls went
            return
        self.report_end(ended, outcome.value)

    def report_end(self, ended: Ended, outcome: str) -> None:
        """The order's outcome, for the stats, the log and the fleet (a new order may follow)."""
        order = ended.order
        stats = self._stats
        # busy until here: the order's queued positions counted in its ping cadence
        stats.driver_busy(self.driver_id, False, ms(ended.at) if self._sends_locations() else None)
        stats.record_order(
            self.driver_id, outcome, ended.stage_durations_s, ended.distance_m,
            order_id=order.task_id, ended_at_ms=ms(ended.at), external_id=order.external_id,
        )  # fmt: skip
        log.info(
            "order_finished",
            driver_id=self.driver_id,
            order_id=order.task_id,
            outcome=outcome,
            **{k: round(v, 1) for k, v in ended.stage_durations_s.items()},
        )
        if self._on_order_end is not None:
            self._on_order_end(self, order, outcome)

    def record(self, kind: str, task_id: int, lat: float, lng: float, at: float) -> None:
        if self.context.recorder is not None:
            self.context.recorder.event(kind, self.driver_id, task_id, lat, lng, ms(at))

"""Runs a fleet: many drivers in one task group, fed orders from the webhook receiver.

Drivers start at a ramp-up rate; each runs behind an error boundary (one driver's failure is
counted and logged, the fleet goes on; `fail_fast` re-raises it, for tests). Orders arriving as
Delivery Created go to the nearest idle driver (the dispatcher); updates and cancellations go
to the driver holding the order. `stop()` is the graceful stop (no new orders; drivers finish
or cancel the order in hand, as configured); cancelling the caller's scope is the forced one.

`on_spawned` is called once the last driver has been spawned: the moment a process running a
large fleet may `gc.collect(); gc.freeze()` (the Fleet does not: the collector is the whole
process's, and a frozen fleet's reference cycles would never be collected in a process that
builds many fleets, like the tests).

With `hold_until_orders=N` (embedded mode) dispatching waits until all N orders arrived and all
drivers started, then hands them out in task-id order: with a virtual clock, a seed gives the
same assignment every time.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import AsyncIterable, Callable, Sequence
from dataclasses import dataclass

import anyio
import structlog

from driver_agent.core.clock import Membership
from driver_agent.core.model import Order, StopKind
from driver_agent.fleetapi.webhook_payloads import (
    DeliveryCancelled,
    DeliveryCreated,
    DeliveryUpdated,
    WebhookEvent,
)
from driver_agent.sim.context import DriverContext, DriverSpec, OrderEnded
from driver_agent.sim.crew import Crew
from driver_agent.sim.dispatch import Assignment, Dispatcher
from driver_agent.sim.driver import Driver
from driver_agent.sim.lifecycle_messages import OrderUpdated

log = structlog.get_logger("driver_agent.scheduler")

Relocator = Callable[[float, float, random.Random], tuple[float, float]]


@dataclass(frozen=True, slots=True)
class FleetProgress:
    orders_seen: int
    orders_final: int
    orders_expected: int | None
    drivers_started: int
    drivers_busy: int
    driver_errors: int
    relocations: int
    outcomes: dict[str, int]


class Fleet:
    def __init__(
        self,
        ctx: DriverContext,
        specs: Sequence[DriverSpec],
        *,
        ramp_up_per_s: float = 50.0,
        fail_fast: bool = False,
        relocate_beyond_m: float = 20_000.0,
        relocate: Relocator | None = None,
        on_stop: str = "finish",
        cancel_reason_id: int = 0,
        on_spawned: Callable[[], None] | None = None,
    ) -> None:
        self._ctx = ctx
        self.context = ctx
        ctx.stats.count_bytes(ctx.client)  # data sent and received, per time bucket
        self._clock = ctx.clock
        self._specs = list(specs)
        self._ramp_up_per_s = ramp_up_per_s
        self._fail_fast = fail_fast
        self._relocate = relocate
        self._on_stop = on_stop
        self._cancel_reason_id = cancel_reason_id
        self._on_spawned = on_spawned
        self._rng = random.Random(f"{ctx.seed}:fleet")
        self.dispatcher = Dispatcher(relocate_beyond_m)
        self.drivers: dict[str, Driver] = {}
        self.outcomes: Counter[str] = Counter()
        self.driver_errors = 0
        self.relocations = 0
        self._seen: set[int] = set()
        self._expected: int | None = None
        self._held: list[Order] | None = None
        self._hold_count = 0
        self._setup: Membership | None = None
        self._running = 0
        self._spawned = False
        self._stopping = False
        self._finished = anyio.Event()
        self._stop_requested = anyio.Event()
        # what each driver it spawns tells the fleet (one bound method, shared by all of them)
        self._order_end: OrderEnded = self._order_ended

    # ---- control ----------------------------------------------------------------------------

    def progress(self) -> FleetProgress:
        busy = sum(1 for d in self.drivers.values() if d.lifecycle.is_active)
        return FleetProgress(
            orders_seen=len(self._seen),
            orders_final=sum(self.outcomes.values()),
            orders_expected=self._expected,
            drivers_started=len(self.drivers),
            drivers_busy=busy,
            driver_errors=self.driver_errors,
            relocations=self.relocations,
            outcomes=dict(self.outcomes),
        )

    def expect(self, orders: int) -> None:
        """Set how many orders the run waits for (embedded mode: those actually created)."""
        self._expected = orders
        if self._held is not None:
            self._hold_count = orders
            self._maybe_release_hold()
        self._check_finished()

    def stop(self) -> None:
        """Graceful stop: no new orders; drivers finish (or cancel) what they hold, then return."""
        if self._stopping:
            return
        self._stopping = True
        for order in self.dispatcher.close():
            self.outcomes["not_started"] += 1
            log.info("order_not_started", order_id=order.task_id)
        if self._held:
            self.outcomes["not_started"] += len(self._held)
        self._held = None
        self._release_setup()
        for driver in self.drivers.values():
            if self._on_stop == "cancel" and driver.lifecycle.is_active:
                driver.cancel_by_driver(self._cancel_reason_id, "run stopped")
            driver.close()
        self._stop_requested.set()
        self._check_finished()

    def interrupted(self) -> int:
        """After a forced stop: count the orders drivers still had in hand as interrupted."""
        active = sum(1 for d in self.drivers.values() if d.lifecycle.is_active)
        if active:
            self.outcomes["interrupted"] += active
        return active

    async def run(
        self,
        events: AsyncIterable[WebhookEvent] | None,
        *,
        expected_orders: int | None = None,
        hold_until_orders: int | None = None,
    ) -> FleetProgress:
        """Run until `expected_orders` reached a final state or `stop()`; returns the tally."""
        self._expected = expected_orders
        if hold_until_orders:
            self._held, self._hold_count = [], hold_until_orders
            # the spawner is the setup actor: virtual time moves for its ramp-up, then waits
            # (the membership stays awake once the spawner ends) until every order is in
            self._setup = self._clock.join()
        async with anyio.create_task_group() as tg, Crew(tg) as crew:
            tg.start_soon(self._spawn, crew)
            if events is not None:
                tg.start_soon(self._consume, events)
            await self._finished.wait()
            tg.cancel_scope.cancel()
        self._release_setup()
        return self.progress()

    # ---- drivers ----------------------------------------------------------------------------

    async def _spawn(self, crew: Crew) -> None:
        if self._setup is not None:
            self._setup.__enter__()  # bind it to this task; _release_setup() leaves it
        step_s = 1.0 / self._ramp_up_per_s if self._ramp_up_per_s > 0 else 0.0
        clock = self._clock
        ramp_started = clock.monotonic()
        for i, spec in enumerate(self._specs):
            if self._stopping:
                break
            driver = Driver(spec, self._ctx, self._order_end)
            self.drivers[spec.driver_id] = driver
            self._running += 1
            crew.start(self._run_driver, driver, self._clock.join(), name=spec.driver_id)
            if self._held is None:
                self._idle(driver)
            if step_s and i + 1 < len(self._specs):
                # drift-free: driver i + 1 is due at start + (i + 1) steps, not one step after
                # driver i got going (sleeps overshoot, so summed steps ramp up too slowly and
                # bunch the drivers' ping ticks); drivers already due spawn without sleeping
                delay_s = ramp_started + (i + 1) * step_s - clock.monotonic()
                if delay_s > 0.0:
                    await clock.sleep_real(delay_s)
        self._spawned = True
        if self._on_spawned is not None:
            self._on_spawned()  # e.g. gc.freeze(): every driver is now long-lived
        self._maybe_release_hold()
        self._check_finished()

    async def _run_driver(self, driver: Driver, membership: Membership) -> None:
        with membership:
            try:
                await driver.run()
            except Exception as exc:  # the per-driver error boundary
                self.driver_errors += 1
                log.error(
                    "driver_failed", driver_id=driver.driver_id, error=type(exc).__name__,
                    message=str(exc), exc_info=True,
                )  # fmt: skip
                order = driver.lifecycle.order
                if order is not None and driver.lifecycle.is_active:
                    self.dispatcher.order_ended(order.task_id)
                    self._count("failed")
                if self._fail_fast:
                    raise
            finally:
                self._running -= 1
                self._check_finished()

    def _idle(self, driver: Driver) -> None:
        if self._stopping or driver.shift_over():  # a driver off shift goes home
            driver.close()
            return
        assignment = self.dispatcher.driver_idle(driver.driver_id, driver.lat, driver.lng)
        if assignment is not None:
            self._apply(assignment)

    def _apply(self, assignment: Assignment) -> None:
        driver = self.drivers[assignment.driver_id]
        order = assignment.order
        if assignment.relocate and self._relocate is not None:
            lat, lng = self._relocate(order.pickup.lat, order.pickup.lng, self._rng)
            driver.place(lat, lng)
            self.relocations += 1
            self._ctx.stats.record_relocation(driver.driver_id)
            if self._ctx.recorder is not None:
                t_ms = self._clock.now_ms()
                self._ctx.recorder.event(
                    "relocation", driver.driver_id, order.task_id, lat, lng, t_ms
                )
        recorder = self._ctx.recorder
        if recorder is not None:
            t_ms = self._clock.now_ms()
            for kind, stop in (("pickup", order.pickup), ("dropoff", order.dropoff)):
                recorder.event(kind, driver.driver_id, order.task_id, stop.lat, stop.lng, t_ms)
        driver.offer(order)

    def _order_ended(self, driver: Driver, order: Order, outcome: str) -> None:
        self.dispatcher.order_ended(order.task_id)
        if outcome != "reassigned":  # a reassigned order goes on with another driver
            self._count(outcome)
        self._idle(driver)

    def _count(self, outcome: str) -> None:
        self.outcomes[outcome] += 1
        self._check_finished()

    def _check_finished(self) -> None:
        expected = self._expected
        done = expected is not None and sum(self.outcomes.values()) >= expected
        if done and not self._stopping:
            self.stop()
            return
        if not self._stopping and self._running == 0 and self._spawned:
            log.warning("no_driver_left", orders_waiting=len(self.dispatcher.waiting()))
            self.stop()  # every shift is over: what waits is not started
            return
        if self._stopping and self._running == 0 and self._spawned:
            self._finished.set()

    # ---- orders from webhooks ---------------------------------------------------------------

    async def _consume(self, events: AsyncIterable[WebhookEvent]) -> None:
        async for event in events:
            if isinstance(event, DeliveryCreated):
                self._created(event.order)
            elif isinstance(event, DeliveryUpdated):
                self._updated(event)
            elif isinstance(event, DeliveryCancelled):
                self._cancelled(event)
            else:
                log.info("webhook_ignored", kind=type(event).__name__)

    def _created(self, order: Order) -> None:
        if order.task_id in self._seen or self._stopping:
            return
        self._seen.add(order.task_id)
        if self._held is not None:
            self._held.append(order)
            self._maybe_release_hold()
            return
        assignment = self.dispatcher.order_arrived(order)
        if assignment is not None:
            self._apply(assignment)

    def _maybe_release_hold(self) -> None:
        held = self._held
        if held is None or not self._spawned or len(held) < self._hold_count:
            return
        self._held = None
        for driver in self.drivers.values():  # idle in spawn order, orders in task-id order
            self.dispatcher.driver_idle(driver.driver_id, driver.lat, driver.lng)
        for order in sorted(held, key=lambda o: o.task_id):
            assignment = self.dispatcher.order_arrived(order)
            if assignment is not None:
                self._apply(assignment)
        self._release_setup()

    def _release_setup(self) -> None:
        if self._setup is not None:
            self._setup.leave()
            self._setup = None

    def _updated(self, event: DeliveryUpdated) -> None:
        changes: list[OrderUpdated] = []
        wp = event.way_point
        if wp is not None and wp.kind is not None:
            has_position = wp.lat is not None and wp.lng is not None
            changes.append(
                OrderUpdated(
                    wp.kind,
                    lat=wp.lat if has_position else None,
                    lng=wp.lng if has_position else None,
                    address=wp.address,
                    no_earlier_than_ms=wp.no_earlier_than_ms,
                    no_later_than_ms=wp.no_later_than_ms,
                )
            )
        if event.full_order is not None:
            for kind in (StopKind.PICKUP, StopKind.DROPOFF):
                stop = event.full_order.stop(kind)
                changes.append(
                    OrderUpdated(
                        kind, lat=stop.lat, lng=stop.lng, address=stop.address or None,
                        no_earlier_than_ms=stop.no_earlier_than_ms,
                        no_later_than_ms=stop.no_later_than_ms,
                    )
                )  # fmt: skip
        if event.note is not None and event.note.note:
            changes.append(OrderUpdated(note=event.note.note))
        holder = self.dispatcher.holder(event.task_id)
        if holder is not None:
            for change in changes:
                self.drivers[holder].update(change)
            return
        for order in self.dispatcher.waiting():
            if order.task_id == event.task_id and event.full_order is not None:
                self.dispatcher.replace_waiting(event.full_order)

    def _cancelled(self, event: DeliveryCancelled) -> None:
        found = self.dispatcher.withdraw(event.task_id)
        if isinstance(found, str):
            self.drivers[found].cancel(event.reason_id or 0, event.reason or "")
        elif isinstance(found, Order):
            self._count("cancelled")
        elif self._held is not None:
            before = len(self._held)
            self._held = [o for o in self._held if o.task_id != event.task_id]
            self._hold_count -= before - len(self._held)
            if len(self._held) < before:
                self._count("cancelled")

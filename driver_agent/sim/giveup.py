"""How a driver rides out an outage and gives orders up: the backlog's resends, seen from the order.

`flush` resends what waits, oldest first, pulling one outcome at a time from `Calls.resend_head`
until the backlog is empty or the API fails again. An order that ended locally while its calls
waited is reported once they went out. An order is given up (reported failed with its last error,
its waiting calls dropped) when no call went out for `api.give_up_after_s` (`overdue`), or when
the API refuses one of its lifecycle calls for good, at once or when the call finally went out;
then it is cancelled on the API side when possible (best effort, queued while the API is away; a
driver that is stopping abandons the cancels that waited as long). A refused note or ETA update
is only counted: the order goes on. Policy is `offline.py`'s; these are the driver's moves.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING

import structlog

from driver_agent.core.errors import ApiError, ApiUnavailable
from driver_agent.core.model import Order
from driver_agent.metrics.stats import GivenUpOrder
from driver_agent.sim.api_calls import GIVEN_UP_REASON
from driver_agent.sim.calls import Job, Refused, StillAway
from driver_agent.sim.lifecycle import NON_FATAL_FAILURES
from driver_agent.sim.lifecycle_messages import CancelOrder, Command, CommandFailed, CompleteOrder
from driver_agent.sim.lifecycle_states import OrderOutcome
from driver_agent.sim.offline import CANCEL_AFTER_REFUSAL, Entry, EntryKind

if TYPE_CHECKING:
    from driver_agent.sim.driver import Driver

log = structlog.get_logger("driver_agent.driver")


@dataclass(frozen=True, slots=True)
class Refusal:
    """A call of order `task_id` refused for good; the order is given up once the lifecycle
    has failed it."""

    task_id: int
    endpoint: str
    exc: ApiError


@dataclass(slots=True)
class Ended:
    """An order that ended locally while its calls still wait in the backlog."""

    order: Order
    outcome: str
    stage_durations_s: dict[str, float]
    distance_m: float
    at: float


async def flush(driver: Driver) -> None:
    """Resend what waits, oldest first, until the backlog is empty or the API fails again."""
    calls = driver.calls
    while True:
        resent = await calls.resend_head()
        if resent is None:  # nothing waits: online again
            return
        if isinstance(resent, StillAway):
            if resent.overdue:
                await _give_up_overdue(driver, resent.exc)
            return
        if isinstance(resent, Refused):
            assert resent.entry is not None
            await _refused_queued(driver, resent.entry, resent.exc)
        ended, backlog = driver.ended, calls.backlog
        if ended is not None and backlog is not None and not backlog.holds(ended.order.task_id):
            driver.ended = None
            driver.report_end(ended, ended.outcome)


async def give_up_refused(driver: Driver, refusal: Refusal) -> None:
    """A call was refused at once: if that failed its order, give the order up."""
    lifecycle = driver.lifecycle
    order = lifecycle.order
    failed = lifecycle.outcome is OrderOutcome.FAILED
    if failed and order is not None and order.task_id == refusal.task_id:
        _gave_up(driver, refusal.task_id, refusal.endpoint, refusal.exc, "refused")
        if refusal.endpoint in CANCEL_AFTER_REFUSAL:
            await _cancel_given_up(driver, refusal.task_id)


async def _refused_queued(driver: Driver, entry: Entry[Job], exc: ApiError) -> None:
    """A queued call was refused for good when it finally went out."""
    task_id = entry.task_id
    if entry.kind is EntryKind.CLEANUP:
        driver.context.stats.record_cancel_after_give_up(cancelled=False)
        return
    if task_id is None or entry.kind is EntryKind.LOCATION:
        return
    lifecycle, ended = driver.lifecycle, driver.ended
    order = lifecycle.order
    active = lifecycle.is_active and order is not None and order.task_id == task_id
    if entry.kind is EntryKind.EXTRA:
        if active:  # a note or an ETA: counted as refused, the order goes on
            now = driver.context.clock.now()
            await driver.feed(CommandFailed(entry.payload.command, exc.message), now)
        return
    if ended is not None and ended.order.task_id == task_id and ended.outcome == "cancelled":
        # cancelled meanwhile: its waiting calls are moot, the order stays cancelled
        assert driver.calls.backlog is not None
        driver.calls.backlog.drop_order(task_id)
        return
    await _give_up(driver, task_id, entry.endpoint, exc, "refused", entry.payload.command)
    if entry.endpoint in CANCEL_AFTER_REFUSAL:
        await _cancel_given_up(driver, task_id)


async def _give_up_overdue(driver: Driver, exc: ApiUnavailable) -> None:
    """Nothing went out for give_up_after_s: give up the waiting orders (their cancels wait
    for the API) and start the clock again for what is left. A stopping driver abandons the
    cancels that waited as long."""
    backlog = driver.calls.backlog
    assert backlog is not None
    if driver.closing:
        for entry in backlog.drop_cleanups():
            log.warning("cancel_abandoned", driver_id=driver.driver_id, order_id=entry.task_id)
            driver.context.stats.record_cancel_after_give_up(cancelled=False)
    for task_id in backlog.orders():
        head = next(
            e
            for e in backlog.entries
            if e.task_id == task_id and e.kind in (EntryKind.LIFECYCLE, EntryKind.EXTRA)
        )
        await _give_up(driver, task_id, head.endpoint, exc, "no_progress", head.payload.command)
        await _cancel_given_up(driver, task_id)
    backlog.progress(driver.context.clock.monotonic())


async def _give_up(
    driver: Driver, task_id: int, endpoint: str, exc: ApiError, reason: str, command: Command
) -> None:
    """Stop waiting for this order: drop its calls, report it failed with the last error."""
    backlog = driver.calls.backlog
    if backlog is not None:
        backlog.drop_order(task_id)
    _gave_up(driver, task_id, endpoint, exc, reason)
    lifecycle, ended = driver.lifecycle, driver.ended
    order = lifecycle.order
    if lifecycle.is_active and order is not None and order.task_id == task_id:
        if isinstance(command, NON_FATAL_FAILURES):  # given up as a whole, not as a note
            command = CompleteOrder(task_id)
        await driver.feed(CommandFailed(command, exc.message), driver.context.clock.now())
    elif ended is not None and ended.order.task_id == task_id:
        driver.ended = None
        driver.report_end(ended, "failed")


def _gave_up(driver: Driver, task_id: int, endpoint: str, exc: ApiError, reason: str) -> None:
    log.warning(
        "order_given_up",
        driver_id=driver.driver_id,
        order_id=task_id,
        endpoint=endpoint,
        status=exc.status,
        message=exc.message,
        reason=reason,
    )
    driver.context.stats.record_given_up(
        GivenUpOrder(driver.driver_id, task_id, endpoint, exc.status, exc.message, reason)
    )


async def _cancel_given_up(driver: Driver, task_id: int) -> None:
    """Tell the API a given-up order will not be done (best effort; queued while away)."""
    at = driver.context.clock.now()
    command = CancelOrder(task_id, driver.context.config.cancel_reason_id, GIVEN_UP_REASON)
    request = driver.api_request(command, at)
    assert request is not None  # every profile can cancel
    calls, stats = driver.calls, driver.context.stats
    endpoint = request.endpoint
    if calls.backlog is not None:
        job = calls.enqueue(endpoint, at, request.send, command, kind=EntryKind.CLEANUP)
        job.after = partial(stats.record_cancel_after_give_up, cancelled=True)
        return
    try:
        await request.send()
    except ApiUnavailable as exc:
        job = calls.enqueue(endpoint, at, request.send, command, exc, EntryKind.CLEANUP)
        job.after = partial(stats.record_cancel_after_give_up, cancelled=True)
    except ApiError as exc:
        log.warning(
            "cancel_refused", driver_id=driver.driver_id, order_id=task_id, message=exc.message
        )
        stats.record_cancel_after_give_up(cancelled=False)
    else:
        stats.record_cancel_after_give_up(cancelled=True)

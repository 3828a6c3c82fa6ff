"""A driver's location updates: the tick, the call (fast path or queued), what it counted.

Drift-free: each deadline is the previous one plus the interval, and the update carries the
*scheduled* tick as `reported_time`. A busy driver's tick goes through its lifecycle (which
answers with `SendLocation`); an idle driver known to the API sends its own, when the rate-limit
budget allows. A queued update (the API away) is counted when it has gone out.
"""

from __future__ import annotations

from functools import partial
from typing import TYPE_CHECKING

from driver_agent.core.endpoints import Endpoint
from driver_agent.core.errors import ApiUnavailable
from driver_agent.sim import lifecycle_messages as m
from driver_agent.sim.api_calls import ms
from driver_agent.sim.calls import Job, Refused
from driver_agent.sim.giveup import Refusal
from driver_agent.sim.pacing import budget_short, ping_due

if TYPE_CHECKING:
    from driver_agent.sim.driver import Driver

_LOCATION = Endpoint.UPDATE_DRIVER_LOCATION


async def ping(driver: Driver, at: float) -> None:
    """The location tick `at`: a busy driver's goes through its lifecycle (SendLocation), an
    idle one known to the API sends its own; under a profile without locations (own fleet) the
    fix only goes on the report's map."""
    lifecycle, ctx = driver.lifecycle, driver.context
    if ctx.profile is not None and not ctx.profile.sends_locations:
        if lifecycle.is_busy and ctx.recorder is not None:  # no call: the map still shows it
            lat, lng = driver.itinerary.reported(at)
            ctx.recorder.position(driver.driver_id, lat, lng, ms(at))
        return
    budget = ctx.client.rate_limit
    if lifecycle.is_busy:
        interval = ctx.config.ping_interval_s
        if not ping_due(budget, ctx.budget_reserve_ratio, driver.last_sent, at, interval):
            return  # short on budget: this one can wait a tick
        lat, lng = driver.itinerary.reported(at)
        await driver.feed(m.LocationTick(lat, lng), at)
    elif driver.known_to_api and not lifecycle.is_active:
        if budget_short(budget, ctx.budget_reserve_ratio):
            return
        await send_location(driver, at)


async def send_location(
    driver: Driver, at: float, command: m.SendLocation | None = None
) -> Refusal | None:
    """The location update of tick `at`: a busy driver's (the lifecycle's `command`, with
    the tick's fix) or an idle one's (a fix drawn now, no order)."""
    task_id: int | None
    if command is None:
        lat, lng = driver.itinerary.reported(at)
        command, task_id = m.SendLocation(0, lat, lng), None
    else:
        lat, lng, task_id = command.lat, command.lng, command.task_id
    clock = driver.context.clock
    # the generator's own lag: the call goes out now, `at` was its tick
    lateness_ms = max(clock.now() - at, 0.0) / clock.speed * 1000.0
    client, calls = driver.context.fleet_client(), driver.calls
    started = (task_id,) if task_id is not None else ()
    endpoint = _LOCATION
    sent: object = None
    if calls.backlog is None:  # the hot path: the call itself, no factory
        call = client.update_driver_location(
            user_external_id=driver.driver_id, lat=lat, lng=lng, reported_time_ms=ms(at),
            started_tasks=started,
        )  # fmt: skip
        sent = await calls.call(endpoint, at, call, command)
        if isinstance(sent, Refused):
            return Refusal(task_id or 0, endpoint, sent.exc)
        offline = isinstance(sent, ApiUnavailable)
    else:
        offline = True
    if offline:  # it waits for the API, behind what already waits
        send = partial(
            client.update_driver_location, user_external_id=driver.driver_id, lat=lat,
            lng=lng, reported_time_ms=ms(at), started_tasks=started,
        )  # fmt: skip
        exc = sent if isinstance(sent, ApiUnavailable) else None
        sent = calls.enqueue(endpoint, at, send, command, exc)
    if task_id is not None:
        driver.last_sent = at
    if isinstance(sent, Job):  # waits for the API: counted when it has gone out
        sent.after = partial(location_sent, driver, at, task_id, lat, lng)
        return None
    location_sent(driver, at, task_id, lat, lng, lateness_ms)
    return None


def location_sent(
    driver: Driver,
    at: float,
    task_id: int | None,
    lat: float,
    lng: float,
    lateness_ms: float = -1.0,
) -> None:
    """A location the API took. `lateness_ms` is from its tick to when it went out; a queued
    one (-1) went out just now, after the outage."""
    if task_id is not None:
        if lateness_ms < 0.0:
            clock = driver.context.clock
            lateness_ms = max(clock.now() - at, 0.0) / clock.speed * 1000.0
        driver.context.stats.record_ping(driver.driver_id, ms(at), lateness_ms)
    if driver.context.recorder is not None:
        driver.context.recorder.position(driver.driver_id, lat, lng, ms(at))

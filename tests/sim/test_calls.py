"""One driver's calls: answered, refused for good, or queued while the API is away and resent."""

from __future__ import annotations

from typing import Any

from driver_agent.core.errors import ApiUnavailable, RejectedError
from driver_agent.core.model import StopKind
from driver_agent.sim.calls import Calls, Job, Refused, StillAway
from driver_agent.sim.context import DriverContext
from driver_agent.sim.lifecycle_messages import CheckOut, CompleteOrder, SendLocation
from driver_agent.sim.offline import EntryKind

DO = StopKind.DROPOFF


def away() -> ApiUnavailable:
    return ApiUnavailable("checkout", 503, "down for maintenance")


def endpoint_counts(ctx: DriverContext) -> dict[str, tuple[int, int]]:
    """endpoint -> (calls recorded, errors)."""
    return {
        e.endpoint: (e.count, sum(e.errors.values()))
        for e in ctx.stats.statistics().endpoints
        if e.count
    }


async def test_an_answered_call_is_recorded_once_with_its_latency_from_the_schedule(
    offline_context: DriverContext, fake_client: Any
) -> None:
    calls = Calls("drv-1", offline_context)
    scheduled = offline_context.clock.now() - 2.0  # the generator is 2 s late
    answer = await calls.call(
        "checkout", scheduled, lambda: fake_client.checkout(7), CheckOut(7, DO)
    )
    assert answer == {}
    [checkout] = offline_context.stats.statistics().endpoints
    assert (checkout.count, checkout.latency_ms.max) == (1, 2000.0)
    assert calls.backlog is None


async def test_a_call_refused_for_good_comes_back_as_refused_and_counts_as_an_error(
    offline_context: DriverContext, fake_client: Any
) -> None:
    calls = Calls("drv-1", offline_context)
    refusal = RejectedError("end_task", 400, "task already done")
    fake_client.fail["end_task"] = [refusal]
    now = offline_context.clock.now()
    answer = await calls.call("end_task", now, lambda: fake_client.end_task(7), CompleteOrder(7))
    assert answer == Refused(refusal)
    assert endpoint_counts(offline_context) == {"end_task": (1, 1)}
    assert calls.backlog is None


async def test_an_away_api_queues_the_call_and_those_after_it_then_resends_them_in_order(
    offline_context: DriverContext, fake_client: Any
) -> None:
    clock = offline_context.clock
    calls = Calls("drv-1", offline_context)
    fake_client.fail["checkout"] = [away(), away()]
    at = clock.now()
    queued = await calls.call("checkout", at, lambda: fake_client.checkout(7), CheckOut(7, DO))
    assert isinstance(queued, Job)
    assert calls.backlog is not None
    assert calls.backlog.retry_at > at  # not a tight loop
    # while away, a later call waits behind it without going out
    later = await calls.call(
        "end_task", at + 1.0, lambda: fake_client.end_task(7), CompleteOrder(7)
    )
    assert isinstance(later, Job)
    sent: list[str] = []
    later.after = lambda: sent.append("end_task")
    assert fake_client.endpoints() == ["checkout"]
    assert endpoint_counts(offline_context) == {}  # recorded when they go out, not before

    clock.advance(20.0)
    still = await calls.resend_head()
    assert isinstance(still, StillAway)
    assert not still.overdue
    clock.advance(20.0)
    first = await calls.resend_head()
    second = await calls.resend_head()
    assert [getattr(e, "endpoint", e) for e in (first, second)] == ["checkout", "end_task"]
    assert sent == ["end_task"]
    assert fake_client.endpoints() == ["checkout", "checkout", "checkout", "end_task"]
    assert await calls.resend_head() is None  # online again: the backlog is closed
    assert calls.backlog is None
    stats = offline_context.stats.statistics()
    assert endpoint_counts(offline_context) == {"checkout": (1, 0), "end_task": (1, 0)}
    checkout = next(e for e in stats.endpoints if e.endpoint == "checkout")
    assert checkout.latency_ms.max == 40_000.0  # from its scheduled time: the outage is latency


async def test_an_api_away_for_give_up_after_s_makes_the_backlog_overdue(
    offline_context: DriverContext, fake_client: Any
) -> None:
    clock = offline_context.clock
    calls = Calls("drv-1", offline_context)
    fake_client.fail["update_driver_location"] = [away() for _ in range(3)]
    send = lambda: fake_client.update_driver_location(lat=1.0, lng=2.0)  # noqa: E731
    await calls.call("update_driver_location", clock.now(), send, SendLocation(7, 1.0, 2.0))
    assert calls.backlog is not None
    assert calls.backlog.entries[0].kind is EntryKind.LOCATION
    clock.advance(30.0)
    outcome = await calls.resend_head()
    assert isinstance(outcome, StillAway)
    assert not outcome.overdue
    clock.advance(fake_client.config.give_up_after_s)
    outcome = await calls.resend_head()  # nothing went out for give_up_after_s
    assert isinstance(outcome, StillAway)
    assert outcome.overdue

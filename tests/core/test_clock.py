"""The clock: virtual time jumps only when every participant sleeps; wakeups end sleeps early."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import cast

import anyio
import pytest

from driver_agent.core.clock import Membership, RealClock, VirtualClock, Wakeup, _WakeSlots


async def test_a_lone_sleeper_jumps_straight_to_its_deadline() -> None:
    clock = VirtualClock(start=1000.0)
    await clock.sleep(30.0)
    assert clock.now() == 1030.0
    assert clock.now_ms() == 1_030_000


async def test_time_waits_for_a_participant_that_is_busy() -> None:
    clock = VirtualClock(start=0.0)
    seen: list[tuple[str, float]] = []
    release = anyio.Event()

    async def sleeper() -> None:
        with sleeper_member:
            await clock.sleep(10.0)
            seen.append(("sleeper", clock.now()))

    async def busy() -> None:
        with busy_member:
            await release.wait()  # not asleep on the clock: time must not move
            seen.append(("busy", clock.now()))

    sleeper_member, busy_member = clock.join(), clock.join()
    async with anyio.create_task_group() as tg:
        tg.start_soon(sleeper)
        tg.start_soon(busy)
        for _ in range(20):
            await anyio.lowlevel.checkpoint()
        assert clock.now() == 0.0
        release.set()
    assert seen == [("busy", 0.0), ("sleeper", 10.0)]


async def test_participants_wake_in_deadline_order_with_exact_times() -> None:
    clock = VirtualClock(start=0.0)
    log: list[tuple[str, float]] = []

    async def ticker(name: str, interval_s: float, n: int, member: Membership) -> None:
        with member:
            deadline = 0.0
            for _ in range(n):
                deadline += interval_s
                await clock.sleep_until(deadline)
                log.append((name, clock.now()))

    async with anyio.create_task_group() as tg:
        tg.start_soon(ticker, "a", 10.0, 3, clock.join())
        tg.start_soon(ticker, "b", 15.0, 2, clock.join())
    assert log[:3] == [("a", 10.0), ("b", 15.0), ("a", 20.0)]
    assert sorted(log[3:]) == [("a", 30.0), ("b", 30.0)]


async def test_a_wakeup_ends_a_sleep_early_and_reports_it() -> None:
    clock = VirtualClock(start=0.0)
    wakeup = Wakeup()
    results: list[tuple[bool, float]] = []

    async def waiter(member: Membership) -> None:
        with member:
            results.append((await clock.sleep_until(100.0, wakeup), clock.now()))
            results.append((await clock.sleep_until(200.0, wakeup), clock.now()))

    async def poker(member: Membership) -> None:
        with member:
            await clock.sleep_until(40.0)
            wakeup.set()

    async with anyio.create_task_group() as tg:
        tg.start_soon(waiter, clock.join())
        tg.start_soon(poker, clock.join())
    assert results == [(True, 40.0), (False, 200.0)]


async def test_a_wakeup_set_before_the_sleep_returns_at_once() -> None:
    clock = VirtualClock(start=0.0)
    wakeup = Wakeup()
    wakeup.set()
    assert await clock.sleep_until(50.0, wakeup) is True
    assert clock.now() == 0.0


async def test_a_cancelled_sleeper_no_longer_holds_time() -> None:
    clock = VirtualClock(start=0.0)

    async def long_sleeper(member: Membership) -> None:
        with member:
            await clock.sleep(1000.0)

    with clock.join():
        async with anyio.create_task_group() as tg:
            tg.start_soon(long_sleeper, clock.join())
            for _ in range(5):
                await anyio.lowlevel.checkpoint()
            assert clock.now() == 0.0  # the body is awake: no jump
            tg.cancel_scope.cancel()
        await clock.sleep(5.0)
    assert clock.now() == 5.0


async def test_advance_by_hand_wakes_due_sleepers() -> None:
    clock = VirtualClock(start=0.0)
    done = anyio.Event()

    async def sleeper(member: Membership) -> None:
        with member:
            await clock.sleep(10.0)
            done.set()

    with clock.join():  # the test body counts as awake, so no auto-jump
        async with anyio.create_task_group() as tg:
            tg.start_soon(sleeper, clock.join())
            await anyio.lowlevel.checkpoint()
            clock.advance(9.0)
            await anyio.lowlevel.checkpoint()
            assert not done.is_set()
            clock.advance(1.0)
            await done.wait()
    assert clock.now() == 10.0


def test_real_clock_runs_simulated_time_at_its_speed() -> None:
    clock = RealClock(speed=60.0, start=1_000_000.0)
    t0 = clock.now()
    m0 = clock.monotonic()
    assert 1_000_000.0 <= t0 < 1_000_060.0
    t1 = clock.now()
    assert (t1 - t0) == pytest.approx((clock.monotonic() - m0) * 60.0, abs=60 * 0.05)
    with pytest.raises(ValueError, match="speed"):
        RealClock(speed=0)


async def test_real_clock_sleep_until_the_past_returns_and_wakeup_works() -> None:
    clock = RealClock(speed=1000.0)
    await clock.sleep_until(clock.now() - 10)
    wakeup = Wakeup()
    wakeup.set()
    assert await clock.sleep_until(clock.now() + 3600 * 1000, wakeup) is True


async def test_real_clock_wakeup_set_during_the_sleep_ends_it_and_the_deadline_does_not() -> None:
    clock = RealClock(speed=1_000_000.0)
    wakeup = Wakeup()
    woken: list[bool] = []

    async def sleeper() -> None:
        woken.append(await clock.sleep_until(clock.now() + 3600 * 1_000_000, wakeup))

    with anyio.fail_after(5):
        async with anyio.create_task_group() as group:
            group.start_soon(sleeper)
            await anyio.wait_all_tasks_blocked()
            wakeup.set()
    assert woken == [True]
    # one simulated second is a microsecond here: the deadline ends the sleep, not a wakeup
    assert await clock.sleep_until(clock.now() + 1.0, wakeup) is False


async def test_real_clock_sleep_with_a_wakeup_is_cancelled_from_outside_and_lets_go() -> None:
    clock = RealClock(speed=1.0)
    wakeup = Wakeup()
    ended: list[str] = []

    async def sleeper(scope: anyio.CancelScope) -> None:
        with scope:
            await clock.sleep_until(clock.now() + 3600.0, wakeup)
            ended.append("returned")
        ended.append("cancelled" if scope.cancel_called else "left")

    scope = anyio.CancelScope()
    with anyio.fail_after(5):
        async with anyio.create_task_group() as group:
            group.start_soon(sleeper, scope)
            await anyio.wait_all_tasks_blocked()
            scope.cancel()
    assert ended == ["cancelled"]
    wakeup.set()  # the cancelled sleep holds nothing of the wakeup: it is only remembered
    assert await clock.sleep_until(clock.now() + 3600.0, wakeup) is True


async def test_other_tasks_sleeps_neither_hold_nor_move_time_while_a_participant_works() -> None:
    clock = VirtualClock(start=0.0)
    woke: list[tuple[str, float]] = []
    release = anyio.Event()

    async def worker(member: Membership) -> None:
        with member:
            await release.wait()  # busy (say, in an HTTP call): time must stand still
            await clock.sleep_until(10.0)
            woke.append(("worker", clock.now()))

    async def bystander() -> None:  # not a participant, e.g. a progress display
        await clock.sleep_until(5.0)
        woke.append(("bystander", clock.now()))

    async with anyio.create_task_group() as tg:
        tg.start_soon(worker, clock.join())
        tg.start_soon(bystander)
        for _ in range(20):
            await anyio.lowlevel.checkpoint()
        assert clock.now() == 0.0
        assert woke == []
        release.set()
    # the bystander is woken first; a non-participant may see time already past its deadline
    assert [name for name, _ in woke] == ["bystander", "worker"]
    assert woke[0][1] >= 5.0
    assert woke[1][1] == 10.0


async def test_a_membership_never_entered_holds_time_until_it_leaves() -> None:
    clock = VirtualClock(start=0.0)
    setup = clock.join()  # an actor that never sleeps on the clock
    done = anyio.Event()

    async def sleeper(member: Membership) -> None:
        with member:
            await clock.sleep(30.0)
            done.set()

    async with anyio.create_task_group() as tg:
        tg.start_soon(sleeper, clock.join())
        for _ in range(20):
            await anyio.lowlevel.checkpoint()
        assert clock.now() == 0.0
        setup.leave()
        await done.wait()
    assert clock.now() == 30.0


class _SlotLoop:
    """time() and call_at() on a hand-moved clock; futures from the running loop."""

    def __init__(self, real: asyncio.AbstractEventLoop) -> None:
        self.real = real
        self.now = 1000.0
        self.timers: list[tuple[float, Callable[..., None], tuple[object, ...]]] = []

    def time(self) -> float:
        return self.now

    def create_future(self) -> asyncio.Future[None]:
        return self.real.create_future()

    def call_at(self, when: float, callback: Callable[..., None], *args: object) -> None:
        self.timers.append((when, callback, args))

    def advance_to(self, t: float) -> None:
        self.now = t
        due = [(cb, args) for when, cb, args in self.timers if when <= t]
        self.timers = [timer for timer in self.timers if timer[0] > t]
        for callback, args in due:
            callback(*args)


async def test_wake_slots_share_one_timer_and_never_wake_early() -> None:
    fake = _SlotLoop(asyncio.get_running_loop())
    loop = cast(asyncio.AbstractEventLoop, fake)
    slots = _WakeSlots(0.005)
    a = slots.add(loop, 0.0101)  # due at 1000.0101: the slot ending at 1000.015
    b = slots.add(loop, 0.0149)  # the same slot
    c = slots.add(loop, 0.0151)  # the next one
    assert len(fake.timers) == 2
    fake.advance_to(1000.0101)
    assert not a.done()  # its deadline, but not its slot's end: never early, never stray
    fake.advance_to(1000.015)
    assert a.done()
    assert b.done()
    assert not c.done()
    c.cancel()  # a settled future (cancelled, or woken by a Wakeup) is skipped
    fake.advance_to(1000.02)
    assert fake.timers == []

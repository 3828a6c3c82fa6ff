"""The session's cap on requests in flight (`InFlight`): first come first served, slots handed
straight to the oldest waiter, a cancelled waiter never loses or leaks a slot."""

from __future__ import annotations

import anyio
import anyio.lowlevel
import pytest

from driver_agent.fleetapi.inflight import InFlight


async def test_free_slots_are_taken_at_once_and_counted() -> None:
    limit = InFlight(2)
    async with limit:
        async with limit:
            assert limit.borrowed_tokens == 2
        assert limit.borrowed_tokens == 1
    assert limit.borrowed_tokens == 0


async def test_waiters_get_slots_in_arrival_order() -> None:
    limit = InFlight(1)
    order: list[int] = []
    release = anyio.Event()

    async def holder() -> None:
        async with limit:
            await release.wait()

    async def waiter(n: int) -> None:
        async with limit:
            order.append(n)
            await anyio.lowlevel.checkpoint()

    async with anyio.create_task_group() as group:
        group.start_soon(holder)
        await anyio.lowlevel.checkpoint()
        for n in range(3):
            group.start_soon(waiter, n)
            await anyio.lowlevel.checkpoint()
        assert limit.borrowed_tokens == 1
        assert order == []
        release.set()
    assert order == [0, 1, 2]
    assert limit.borrowed_tokens == 0


async def test_a_waiter_cancelled_before_its_turn_leaves_the_queue() -> None:
    limit = InFlight(1)
    got: list[str] = []
    release = anyio.Event()

    async def holder() -> None:
        async with limit:
            await release.wait()

    async def waiter(name: str) -> None:
        async with limit:
            got.append(name)

    async with anyio.create_task_group() as group:
        group.start_soon(holder)
        await anyio.lowlevel.checkpoint()
        with anyio.CancelScope() as scope:
            scope.cancel()
            await waiter("cancelled")  # waits (the slot is held), then is cancelled
        group.start_soon(waiter, "next")
        await anyio.lowlevel.checkpoint()
        release.set()
    assert got == ["next"]
    assert limit.borrowed_tokens == 0


async def test_a_waiter_cancelled_as_it_is_handed_a_slot_loses_no_slot() -> None:
    limit = InFlight(1)
    got: list[str] = []
    first = anyio.CancelScope()

    async def waiter(name: str, scope: anyio.CancelScope) -> None:
        with scope:
            async with limit:
                got.append(name)

    async with anyio.create_task_group() as group:
        await limit.__aenter__()  # this task holds the one slot
        group.start_soon(waiter, "first", first)
        group.start_soon(waiter, "second", anyio.CancelScope())
        await anyio.lowlevel.checkpoint()
        await limit.__aexit__(None, None, None)  # hands the slot to "first" ...
        first.cancel()  # ... which is cancelled before it runs
        assert limit.borrowed_tokens == 1
    assert got[-1] == "second"  # "first" used the slot or passed it on: never lost
    assert limit.borrowed_tokens == 0


@pytest.mark.parametrize("limit", [0, -1])
def test_a_limit_below_one_is_refused(limit: int) -> None:
    with pytest.raises(ValueError, match="limit"):
        InFlight(limit)

"""Keeping the collector out of a large fleet's way: freeze again at each new busy high."""

from __future__ import annotations

import gc
from typing import Any

import anyio

from driver_agent.commands.collector import SettlePolicy, keep_settled
from driver_agent.core.clock import VirtualClock
from driver_agent.sim.fleet import FleetProgress


def test_it_freezes_at_each_new_high_of_busy_drivers_half_again_the_last() -> None:
    policy = SettlePolicy(growth=1.5, min_busy=1_000)
    busy = [10, 999, 1_000, 1_200, 1_499, 1_500, 1_400, 2_249, 2_250, 100_000, 120_000]
    assert [policy.should_freeze(n) for n in busy] == [
        False, False, True, False, False, True, False, False, True, True, False,
    ]  # fmt: skip
    assert policy.frozen_at == 100_000


class _Fleet:
    def __init__(self) -> None:
        self.busy = 0

    def progress(self) -> FleetProgress:
        return FleetProgress(
            orders_seen=0, orders_final=0, orders_expected=None, drivers_started=self.busy,
            drivers_busy=self.busy, driver_errors=0, relocations=0, outcomes={},
        )  # fmt: skip


async def test_keep_settled_freezes_the_objects_made_since_the_last_look() -> None:
    clock = VirtualClock(start=0.0)  # no participants: each of its sleeps ends at once
    fleet: Any = _Fleet()
    before = gc.get_freeze_count()

    async def let_it_look() -> None:
        for _ in range(5):
            await anyio.lowlevel.checkpoint()

    try:
        async with anyio.create_task_group() as tg:
            tg.start_soon(keep_settled, fleet, clock, SettlePolicy(min_busy=10))
            await let_it_look()
            assert gc.get_freeze_count() == before  # nobody busy: nothing frozen
            fleet.busy = 50
            made = [[i] for i in range(1_000)]  # objects the collector tracks
            await let_it_look()
            assert gc.get_freeze_count() >= before + len(made)
            tg.cancel_scope.cancel()
    finally:
        gc.unfreeze()

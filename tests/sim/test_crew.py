"""`Crew`: drivers as plain asyncio tasks, with a task group's guarantees."""

from __future__ import annotations

import asyncio

import anyio
import pytest

from driver_agent.sim.crew import Crew


async def test_leaving_the_block_cancels_the_tasks_still_running_and_waits_for_them() -> None:
    ended: list[str] = []

    async def worker(name: str, forever: bool) -> None:
        try:
            if forever:
                await asyncio.Event().wait()
            ended.append(f"{name} done")
        except asyncio.CancelledError:
            await asyncio.sleep(0)  # cleanup that awaits still runs to its end
            ended.append(f"{name} cancelled")
            raise

    async with anyio.create_task_group() as group, Crew(group) as crew:
        crew.start(worker, "a", False, name="a")
        crew.start(worker, "b", True, name="b")
        await anyio.wait_all_tasks_blocked()
        await asyncio.sleep(0)  # a's done callback
        assert len(crew) == 1
        assert {t.get_name() for t in asyncio.all_tasks()} >= {"b"}
    assert ended == ["a done", "b cancelled"]
    assert len(crew) == 0


async def test_a_cancelled_group_cancels_the_crews_tasks() -> None:
    cancelled = []

    async def worker() -> None:
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            cancelled.append(True)
            raise

    with anyio.CancelScope() as outer:
        async with anyio.create_task_group() as group, Crew(group) as crew:
            crew.start(worker, name="w")
            await anyio.wait_all_tasks_blocked()
            outer.cancel()
            await anyio.sleep(3600)
    assert cancelled == [True]


async def test_a_failing_task_cancels_the_group_and_its_error_is_the_groups() -> None:
    others_cancelled = []

    async def failing() -> None:
        await asyncio.sleep(0)
        raise RuntimeError("road graph corrupted")

    async def patient() -> None:
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            others_cancelled.append(True)
            raise

    with pytest.RaisesGroup(pytest.RaisesExc(RuntimeError, match="road graph corrupted")):
        async with anyio.create_task_group() as group, Crew(group) as crew:
            group.start_soon(patient)
            crew.start(patient, name="p")
            crew.start(failing, name="f")
            await anyio.sleep(3600)
    assert others_cancelled == [True, True]

"""Group commit: inputs that arrive while a commit runs share the next one; a failed commit
fails its inputs and the ones decided on top of them, and nothing else."""

from __future__ import annotations

import anyio
import anyio.lowlevel
import pytest

from driver_agent.bridge import calls as build
from driver_agent.bridge.groupcommit import Batch, GroupCommit
from driver_agent.core.errors import OutboxError

T_MS = 1_900_000_000_000


def ping(k: int) -> list[build.Call]:
    return [build.location(f"drv-{k % 3}", 60.17, 24.94, T_MS + k, [])]


async def test_inputs_arriving_during_a_commit_share_the_next_one() -> None:
    written: list[int] = []
    release = anyio.Event()

    async def write(batch: Batch[build.Call]) -> None:
        written.append(len(batch.items))
        if len(written) == 1:
            await release.wait()  # the first commit is slow: everything else queues behind it

    group = GroupCommit(write, on_failure=lambda: None)
    stored: list[int] = []

    async def one(k: int) -> None:
        await group.stored(group.add(ping(k), changed=False))
        stored.append(k)

    async with anyio.create_task_group() as tg:
        tg.start_soon(one, 0)
        await anyio.wait_all_tasks_blocked()
        for k in range(1, 50):
            tg.start_soon(one, k)
        await anyio.wait_all_tasks_blocked()
        assert stored == []  # nobody is answered before its commit
        release.set()
        with anyio.fail_after(5):
            while len(stored) < 50:
                await anyio.lowlevel.checkpoint()
        tg.cancel_scope.cancel()
    assert written == [1, 49]
    assert group.commits == 2
    assert sorted(stored) == list(range(50))


async def test_a_failed_commit_fails_its_inputs_and_those_decided_after_them() -> None:
    release = anyio.Event()
    rollbacks: list[int] = []
    attempts = 0

    async def write(batch: Batch[build.Call]) -> None:
        nonlocal attempts
        attempts += 1
        if attempts == 1:
            await release.wait()
            raise OutboxError("outbox x.sqlite3: cannot append: disk I/O error")

    group = GroupCommit(write, on_failure=lambda: rollbacks.append(attempts))
    outcomes: dict[int, str] = {}

    async def one(k: int) -> None:
        try:
            await group.stored(group.add(ping(k), changed=True))
        except OutboxError as exc:
            outcomes[k] = str(exc)
        else:
            outcomes[k] = "stored"

    async with anyio.create_task_group() as tg:
        tg.start_soon(one, 0)  # in the failing commit
        await anyio.wait_all_tasks_blocked()
        tg.start_soon(one, 1)  # decided on top of it, waiting in the open batch
        await anyio.wait_all_tasks_blocked()
        release.set()
        await anyio.wait_all_tasks_blocked()
        tg.start_soon(one, 2)  # after the rollback: a fresh batch
        with anyio.fail_after(5):
            while len(outcomes) < 3:
                await anyio.lowlevel.checkpoint()
        tg.cancel_scope.cancel()
    assert rollbacks == [1]
    assert "disk I/O error" in outcomes[0]
    assert "disk I/O error" in outcomes[1]
    assert outcomes[2] == "stored"


async def test_a_batch_reports_its_error_to_every_waiter() -> None:
    async def write(batch: Batch[build.Call]) -> None:
        raise OutboxError("outbox y: full")

    group = GroupCommit(write, on_failure=lambda: None)
    batch = group.add(ping(0), changed=False)
    for _ in range(2):
        with pytest.raises(OutboxError, match="full"):
            await group.stored(batch)

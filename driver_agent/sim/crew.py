"""A fleet's driver tasks: plain asyncio tasks tied to the fleet's task group.

Why not `task_group.start_soon`: on asyncio, each anyio task-group child holds a task handle,
its own cancel scope and an `Event` (whose `asyncio.Event` holds a deque), ~2.4 KB a driver, a
fifth of a busy driver's memory. A `Crew` starts each driver as a plain asyncio task instead and
keeps the task group's guarantees for them:

- Leaving the `async with Crew(group)` block (normally, by an error or by cancellation)
  cancels the drivers still running and waits for them, shielded, before the group ends.
- A driver that raises cancels the group (as a failing child does) and its exception is raised
  when the block is left, inside the task group, which reports it as a failing child's.

Under another anyio backend (trio) the drivers are the task group's children, as before.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from types import TracebackType
from typing import Any

import anyio
import anyio.abc


class Crew:
    """Start tasks with `start()` inside `async with Crew(task_group):`."""

    def __init__(self, group: anyio.abc.TaskGroup) -> None:
        self._group = group
        self._tasks: set[asyncio.Task[None]] = set()
        self._failure: BaseException | None = None

    def start(self, func: Callable[..., Coroutine[Any, Any, None]], *args: Any, name: str) -> None:
        """Run `func(*args)` in a task of its own, named `name`."""
        loop = asyncio._get_running_loop()
        if loop is None:  # not asyncio: the task group runs it
            self._group.start_soon(func, *args, name=name)
            return
        task = loop.create_task(func(*args), name=name)
        self._tasks.add(task)
        task.add_done_callback(self._ended)

    def __len__(self) -> int:
        """Tasks started here that are still running."""
        return len(self._tasks)

    def _ended(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if task.cancelled():
            return
        exc = task.exception()
        if exc is not None and self._failure is None:
            self._failure = exc
            self._group.cancel_scope.cancel()

    async def __aenter__(self) -> Crew:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        with anyio.CancelScope(shield=True):
            while self._tasks:
                for task in self._tasks:
                    task.cancel()
                await asyncio.wait(list(self._tasks))
        failure, self._failure = self._failure, None
        if failure is not None:
            raise failure

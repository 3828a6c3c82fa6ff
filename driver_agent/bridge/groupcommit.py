"""Group commit: every input that arrives while one outbox commit runs goes into the next one.

The daemon decides each input at once, on the event loop (the walker is in memory), and adds
the calls it implies to the open `Batch`, then awaits `GroupCommit.stored(batch)`: the first
waiter that finds no commit running takes the open batch and hands it to `write` (one
transaction, one fsync for all of them); the others wait for that commit, and whoever's batch
is still open after it leads the next one. No task of its own: it runs wherever inputs wait.
Each input waits on its batch and is answered only once the batch is on disk, so "acknowledged"
still means durable, while a burst of N inputs costs one commit instead of N.

A failed write fails its batch and the open one too (its inputs were decided on top of the
failed ones): every waiter gets an `OutboxError` and the daemon goes back to the state last on
disk (`on_failure`), so nothing answered 200 is missing and nothing missing was answered 200.

What a batch gathers is generic: the daemon's outbox calls, or (the head of a bridge split
across workers, `commands.bridgehead`) the positions bound for one worker, which stores them in
its own outbox; there the failure is the worker's (`error`), not the outbox's.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

import anyio

from driver_agent.core.errors import DriverAgentError, OutboxError

T = TypeVar("T")


class Batch(Generic[T]):
    """What the inputs gathered for one commit (`items`: the daemon's calls), and whether the
    walker state changed."""

    __slots__ = ("changed", "done", "error", "inputs", "items")

    def __init__(self) -> None:
        self.items: list[T] = []
        self.changed = False
        self.inputs = 0
        self.done = False
        self.error: str | None = None


class GroupCommit(Generic[T]):
    """The open batch and the commits; `write(batch)` runs one transaction and raises `error`
    (one message) when it could not."""

    def __init__(
        self,
        write: Callable[[Batch[T]], Awaitable[None]],
        on_failure: Callable[[], None],
        *,
        error: type[DriverAgentError] = OutboxError,
    ) -> None:
        self._write = write
        self._on_failure = on_failure
        self._error = error
        self._open: Batch[T] = Batch()
        self._writing = False
        self._written = anyio.Event()
        self.commits = 0

    @property
    def busy(self) -> bool:
        """A commit runs or inputs wait for the next one."""
        return self._writing or self._open.inputs > 0

    def add(self, items: list[T], changed: bool = False) -> Batch[T]:
        """Put one input's items into the open batch; then await `stored(batch)`."""
        batch = self._open
        batch.items.extend(items)
        batch.changed = batch.changed or changed
        batch.inputs += 1
        return batch

    async def stored(self, batch: Batch[T]) -> None:
        """Until `batch` is on disk (committing it, and whatever joined it, if nobody is); the
        `error` type if it could not be written."""
        while not batch.done:
            if self._writing:
                await self._written.wait()
                continue
            await self._commit_open()
        if batch.error is not None:
            raise self._error(batch.error)

    async def _commit_open(self) -> None:
        taken, self._open = self._open, Batch()
        self._writing = True
        error: str | None = "the bridge stopped before this input was stored"
        try:
            await self._write(taken)
            error = None
            self.commits += 1
        except self._error as exc:
            error = str(exc)
            # the open batch was decided on top of the failed one: it fails too
            failed, self._open = self._open, Batch()
            self._on_failure()
            _finish(failed, error)
        finally:
            _finish(taken, error)
            self._writing = False
            written, self._written = self._written, anyio.Event()
            written.set()


def _finish(batch: Batch[T], error: str | None) -> None:
    batch.done = True
    batch.error = error

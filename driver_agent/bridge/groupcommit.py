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
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import anyio

from driver_agent.bridge.calls import Call
from driver_agent.core.errors import OutboxError


class Batch:
    """The calls of the inputs gathered for one commit, and whether the walker state changed."""

    __slots__ = ("calls", "changed", "done", "error", "inputs")

    def __init__(self) -> None:
        self.calls: list[Call] = []
        self.changed = False
        self.inputs = 0
        self.done = False
        self.error: str | None = None


class GroupCommit:
    """The open batch and the commits; `write(batch)` runs one transaction."""

    def __init__(
        self,
        write: Callable[[Batch], Awaitable[None]],
        on_failure: Callable[[], None],
    ) -> None:
        self._write = write
        self._on_failure = on_failure
        self._open = Batch()
        self._writing = False
        self._written = anyio.Event()
        self.commits = 0

    @property
    def busy(self) -> bool:
        """A commit runs or inputs wait for the next one."""
        return self._writing or self._open.inputs > 0

    def add(self, calls: list[Call], changed: bool) -> Batch:
        """Put one input's calls into the open batch; then await `stored(batch)`."""
        batch = self._open
        batch.calls.extend(calls)
        batch.changed = batch.changed or changed
        batch.inputs += 1
        return batch

    async def stored(self, batch: Batch) -> None:
        """Until `batch` is on disk (committing it, and whatever joined it, if nobody is); an
        `OutboxError` if it could not be written."""
        while not batch.done:
            if self._writing:
                await self._written.wait()
                continue
            await self._commit_open()
        if batch.error is not None:
            raise OutboxError(batch.error)

    async def _commit_open(self) -> None:
        taken, self._open = self._open, Batch()
        self._writing = True
        error: str | None = "the bridge stopped before this input was stored"
        try:
            await self._write(taken)
            error = None
            self.commits += 1
        except OutboxError as exc:
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


def _finish(batch: Batch, error: str | None) -> None:
    batch.done = True
    batch.error = error

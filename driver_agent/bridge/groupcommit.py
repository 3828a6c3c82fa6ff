"""Group commit: every input that arrives while one outbox commit runs goes into the next one.

The daemon decides each input at once, on the event loop (the walker is in memory), and adds
the calls it implies to the open `Batch`; `GroupCommit.run` takes the open batch whenever the
previous commit is done and hands it to `write` (one transaction, one fsync for all of them).
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

    __slots__ = ("_done", "calls", "changed", "error", "inputs")

    def __init__(self) -> None:
        self.calls: list[Call] = []
        self.changed = False
        self.inputs = 0
        self.error: str | None = None
        self._done = anyio.Event()

    async def wait(self) -> None:
        """Until the batch is on disk; an `OutboxError` if it could not be written."""
        await self._done.wait()
        if self.error is not None:
            raise OutboxError(self.error)

    def finish(self, error: str | None = None) -> None:
        self.error = error
        self._done.set()


class GroupCommit:
    """The open batch and the loop that commits it; `write(batch)` runs one transaction."""

    def __init__(
        self,
        write: Callable[[Batch], Awaitable[None]],
        on_failure: Callable[[], None],
    ) -> None:
        self._write = write
        self._on_failure = on_failure
        self._open = Batch()
        self._ready = anyio.Event()
        self._writing = False
        self.commits = 0

    @property
    def busy(self) -> bool:
        """A commit runs or inputs wait for the next one."""
        return self._writing or self._open.inputs > 0

    def add(self, calls: list[Call], changed: bool) -> Batch:
        """Put one input's calls into the open batch (the caller then awaits `batch.wait()`)."""
        batch = self._open
        batch.calls.extend(calls)
        batch.changed = batch.changed or changed
        batch.inputs += 1
        self._ready.set()
        return batch

    async def run(self) -> None:
        """Commit the open batch whenever it holds something, one at a time, until cancelled."""
        while True:
            await self._ready.wait()
            self._ready = anyio.Event()
            batch, self._open = self._open, Batch()
            self._writing = True
            try:
                await self._write(batch)
            except OutboxError as exc:
                failed, self._open = self._open, Batch()
                self._on_failure()
                batch.finish(str(exc))
                failed.finish(str(exc))
                continue
            except BaseException:
                batch.finish("the bridge stopped before this input was stored")
                raise
            finally:
                self._writing = False
            self.commits += 1
            batch.finish()

"""Time for everything that waits: real time with a speed factor, and a virtual clock for tests.

Two timelines: *simulated* time (`now()`, `sleep_until()`; epoch seconds, sent to the API as
`reported_time`) and *real* time (`monotonic()`, `sleep_real()`), which token lifetimes, network
timeouts and back-off use. `RealClock(speed=60)` plays one simulated minute per real second.

`VirtualClock` never sleeps: when every registered participant is asleep on the clock, it jumps
to the earliest deadline. Tasks doing I/O are not asleep, so a driver waiting for an HTTP answer
holds simulated time still, and results do not depend on how fast the machine is.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import math
import time
from typing import Protocol

import anyio
import anyio.lowlevel


class Wakeup:
    """Lets another task end a `sleep_until(..., wakeup=w)` early (an order arrived, say)."""

    __slots__ = ("_future", "_on_set", "_pending", "_scope")

    def __init__(self) -> None:
        self._scope: anyio.CancelScope | None = None
        self._future: asyncio.Future[None] | None = None
        self._pending = False
        self._on_set: _Entry | None = None

    def set(self) -> None:
        self._pending = True
        if self._scope is not None:
            self._scope.cancel()
        if self._future is not None and not self._future.done():
            self._future.set_result(None)
        if self._on_set is not None:
            self._on_set.wake()

    def consume(self) -> bool:
        """True once for each burst of `set()` calls since the last consume."""
        was, self._pending = self._pending, False
        return was


class Membership:
    """A registered actor of a clock; `leave()` (or leaving the `with` block) unregisters it.

    Entering the `with` block inside the actor's task binds the membership to that task: the
    clock then knows when this actor sleeps. A membership never entered is an actor that is
    always awake (it holds time still until it leaves).
    """

    __slots__ = ("_clock", "_left", "_task")

    def __init__(self, clock: VirtualClock | None) -> None:
        self._clock = clock
        self._left = clock is None
        self._task: int | None = None

    def leave(self) -> None:
        if not self._left and self._clock is not None:
            self._left = True
            self._clock._leave(self._task)

    def __enter__(self) -> Membership:
        if self._clock is not None and not self._left:
            self._task = anyio.get_current_task().id
            self._clock._bind(self._task)
        return self

    def __exit__(self, *exc: object) -> None:
        self.leave()


class Clock(Protocol):
    speed: float

    def join(self) -> Membership:
        """Register an actor *before* starting its task; a virtual clock waits for it."""

    def now(self) -> float:
        """Simulated epoch seconds."""

    def now_ms(self) -> int:
        """Simulated epoch milliseconds, as `reported_time` wants them."""

    def monotonic(self) -> float:
        """Real seconds from an arbitrary origin (token lifetimes, timeouts)."""

    async def sleep_until(self, t: float, wakeup: Wakeup | None = None) -> bool:
        """Sleep until simulated time `t`; True if `wakeup` ended the sleep early."""

    async def sleep(self, seconds: float) -> None:
        """Sleep a span of simulated time."""

    async def sleep_real(self, seconds: float) -> None:
        """Sleep a span of real time (back-off)."""


def wall_time_s() -> float:
    """The real wall clock (epoch seconds, UTC), for labelling a report; never for scheduling."""
    return time.time()


WAKE_SLOT_S = 0.005
"""`RealClock` wakes sleepers with a wakeup in 5 ms slots of real time (never early)."""


class RealClock:
    """Wall-clock time, optionally accelerated: `speed` simulated seconds per real second.

    On asyncio, sleeps with a wakeup (every driver's tick) end in slots of `wake_slot_s` real
    seconds: one loop timer per slot wakes every sleeper due in it, never before its deadline
    and at most one slot after. A fleet of 100,000 drivers then keeps a few thousand timers in
    the event loop's heap instead of one per driver, and the drivers due together run in one
    loop iteration (a busy fleet's ticks cost ~15 % less CPU)."""

    def __init__(
        self, speed: float = 1.0, start: float | None = None, wake_slot_s: float = WAKE_SLOT_S
    ) -> None:
        if speed <= 0:
            raise ValueError("speed must be > 0")
        if not wake_slot_s > 0:
            raise ValueError("wake_slot_s must be > 0")
        self.speed = speed
        self._origin_real = time.monotonic()
        self._origin_sim = time.time() if start is None else start
        self._slots = _WakeSlots(wake_slot_s)

    def join(self) -> Membership:
        return Membership(None)

    def now(self) -> float:
        return self._origin_sim + (time.monotonic() - self._origin_real) * self.speed

    def now_ms(self) -> int:
        return int(self.now() * 1000)

    def monotonic(self) -> float:
        return time.monotonic()

    async def sleep_until(self, t: float, wakeup: Wakeup | None = None) -> bool:
        delay = (t - self.now()) / self.speed
        loop = asyncio._get_running_loop()  # None under another anyio backend (trio)
        if wakeup is None:
            await (asyncio.sleep if loop is not None else anyio.sleep)(max(delay, 0.0))
            return False
        if wakeup.consume():
            await anyio.lowlevel.checkpoint()
            return True
        if loop is not None:
            # On asyncio: one future that the deadline's slot or `wakeup.set()` resolves, as
            # asyncio.sleep does it; an outer cancellation cancels the task as before. Every
            # tick of every driver ends here: anyio's scope and backend lookup cost ~7% of a
            # busy fleet's CPU, a loop timer per sleep ~15% more.
            future = self._slots.add(loop, delay)
            wakeup._future = future
            try:
                await future
            finally:
                wakeup._future = None
            return wakeup.consume()
        # A plain sleep that `wakeup.set()` cancels: the common end, the deadline, raises
        # nothing and allocates no Event (a timeout scope around an Event.wait() did both on
        # every location tick of every driver).
        with anyio.CancelScope() as scope:
            wakeup._scope = scope
            try:
                await anyio.sleep(max(delay, 0.0))
            finally:
                wakeup._scope = None
        return wakeup.consume()

    async def sleep(self, seconds: float) -> None:
        await anyio.sleep(max(seconds, 0.0) / self.speed)

    async def sleep_real(self, seconds: float) -> None:
        await anyio.sleep(max(seconds, 0.0))


class _WakeSlots:
    """Futures to resolve, by slot of real time on one event loop; one loop timer per slot."""

    __slots__ = ("_loop", "_slot_s", "_waiting")

    def __init__(self, slot_s: float) -> None:
        self._slot_s = slot_s
        self._loop: asyncio.AbstractEventLoop | None = None
        self._waiting: dict[int, list[asyncio.Future[None]]] = {}

    def add(self, loop: asyncio.AbstractEventLoop, delay_s: float) -> asyncio.Future[None]:
        """A future resolved at the end of the slot holding `delay_s` from now (not before)."""
        if loop is not self._loop:  # a new loop (a clock reused across runs): its own slots
            self._loop, self._waiting = loop, {}
        future = loop.create_future()
        slot = math.ceil((loop.time() + max(delay_s, 0.0)) / self._slot_s)
        due = self._waiting.get(slot)
        if due is None:
            due = self._waiting[slot] = []
            loop.call_at(slot * self._slot_s, self._fire, slot)
        due.append(future)
        return future

    def _fire(self, slot: int) -> None:
        for future in self._waiting.pop(slot, ()):
            if not future.done():  # a wakeup or a cancellation may have settled it
                future.set_result(None)


class _Entry:
    __slots__ = ("clock", "counted", "done", "event")

    def __init__(self, clock: VirtualClock, counted: bool) -> None:
        self.clock = clock
        self.event = anyio.Event()
        self.done = False
        self.counted = counted  # a participant's sleep (others neither hold nor move time)

    def wake(self) -> None:
        if not self.done:
            self.done = True
            if self.counted:
                self.clock._sleeping -= 1
            self.event.set()


class VirtualClock:
    """Deterministic simulated time for tests; jumps when all participants sleep on it.

    Register each concurrent actor with `clock.join()` before its task starts (so a task that
    starts late cannot be skipped over), enter the membership inside that task, and leave when
    it ends. Time jumps when every participant sleeps on the clock; other tasks' sleeps wait for
    that and do not count (they wake in deadline order, but may see time already past their
    deadline). With no participants registered, any sleep jumps at once (a test body acting
    alone).
    """

    speed = 1.0

    def __init__(self, start: float = 1_700_000_000.0) -> None:
        self._start = start
        self._now = start
        self._heap: list[tuple[float, int, _Entry]] = []
        self._seq = itertools.count()
        self._participants = 0
        self._sleeping = 0  # participants asleep on the clock
        self._bound: dict[int, int] = {}  # task id -> memberships bound to it

    def now(self) -> float:
        return self._now

    def now_ms(self) -> int:
        return int(self._now * 1000)

    def monotonic(self) -> float:
        return self._now - self._start

    def join(self) -> Membership:
        self._participants += 1
        return Membership(self)

    def _bind(self, task: int) -> None:
        self._bound[task] = self._bound.get(task, 0) + 1

    def _leave(self, task: int | None) -> None:
        self._participants -= 1
        if task is not None:
            left = self._bound[task] - 1
            if left:
                self._bound[task] = left
            else:
                del self._bound[task]
        self._maybe_jump()

    def advance(self, seconds: float) -> None:
        """Move time forward by hand, waking every sleeper whose deadline passed."""
        self._now += seconds
        self._wake_due()

    async def sleep_until(self, t: float, wakeup: Wakeup | None = None) -> bool:
        if wakeup is not None and wakeup.consume():
            await anyio.lowlevel.checkpoint()
            return True
        if t <= self._now:
            await anyio.lowlevel.checkpoint()
            return False
        counted = anyio.get_current_task().id in self._bound
        entry = _Entry(self, counted)
        heapq.heappush(self._heap, (t, next(self._seq), entry))
        if counted:
            self._sleeping += 1
        if wakeup is not None:
            wakeup._on_set = entry
        try:
            self._maybe_jump()
            await entry.event.wait()
        finally:
            if wakeup is not None:
                wakeup._on_set = None
            if not entry.done:  # cancelled while asleep
                entry.done = True
                if entry.counted:
                    self._sleeping -= 1
                self._maybe_jump()
        return wakeup.consume() if wakeup is not None else False

    async def sleep(self, seconds: float) -> None:
        await self.sleep_until(self._now + max(seconds, 0.0))

    async def sleep_real(self, seconds: float) -> None:
        await self.sleep(seconds)

    def _wake_due(self) -> None:
        while self._heap and self._heap[0][0] <= self._now:
            _, _, entry = heapq.heappop(self._heap)
            entry.wake()

    def _maybe_jump(self) -> None:
        """Jump to the earliest deadline when every participant sleeps (with none: at once)."""
        while self._heap and self._sleeping >= self._participants:
            while self._heap and self._heap[0][2].done:
                heapq.heappop(self._heap)
            if not self._heap:
                return
            self._now = max(self._now, self._heap[0][0])
            self._wake_due()
            if self._participants == 0:
                return  # the woken task's next sleep moves time again

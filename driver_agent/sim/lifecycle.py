"""One driver's order lifecycle as a pure state machine, pulled one command at a time.

Sans-I/O in the h11 manner: the driver runner `send`s events in (what happened: an order was
offered, an API call was confirmed, the geofence was entered, a webhook arrived) and pulls the
commands to carry out with `next_command()` (API calls, where to drive, how long to dwell, when to
stop), feeding each command's outcome back in as an event. An event is applied only once the
batch of commands before it has been pulled, so no command runs against a state its batch did
not see. Nothing here waits, logs or reads a clock: times are passed in and only stored.
`handle(event, now_ms) -> commands` is the single step underneath.

States, happy path (each "…ing" state waits for the confirmation of the call it emitted):

```
idle -OrderOffered-> offered -Assigned-> assigned -Started-> en_route_to_pickup
  -ArrivedAtStop(pickup)-> checking_in_at_pickup -CheckedIn(pickup)-> at_pickup
  -DwellFinished(pickup)-> checking_out_of_pickup -CheckedOut(pickup)-> en_route_to_dropoff
  -ArrivedAtStop(dropoff)-> checking_in_at_dropoff -CheckedIn(dropoff)-> at_dropoff
  -DwellFinished(dropoff)-> checking_out_of_dropoff -CheckedOut(dropoff)-> completing
  -Completed-> done
```

From every active state (offered … completing): `OrderCancelled` -> cancelled (a driver-side
cancel emits `CancelOrder`), `Reassigned` -> reassigned, `CommandFailed` -> failed (except a
refused `SendLocation`, `AddNote` or `UpdateOrder`, which is counted in `refused_calls` and the
order carries on), `OrderUpdated` stores the change and re-routes (`DriveTo`) when the stop the
driver is heading to moved. Every move into a terminal state ends with `StopWork`. `LocationTick`
is allowed in every state and emits `SendLocation` only while busy (started and not ended). The
terminal states done, cancelled, failed and reassigned keep the order and its timestamps for the
stats, and take a new `OrderOffered`. A repeated `OrderCancelled` or a `CommandFailed` in
cancelled is a no-op (webhook retries, calls racing the cancel). Anything else raises
`TransitionError(state, event_name)`.

The transitions are data: `TRANSITIONS` maps (state, event type, stop kind or None) to a handler.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

from driver_agent.core.errors import TransitionError
from driver_agent.core.model import Order, StopKind
from driver_agent.sim.lifecycle_messages import (
    AddNote,
    ArrivedAtStop,
    AssignDriver,
    Assigned,
    CancelOrder,
    CheckedIn,
    CheckedOut,
    CheckIn,
    CheckOut,
    Command,
    CommandFailed,
    Commands,
    Completed,
    CompleteOrder,
    DriveTo,
    Dwell,
    DwellFinished,
    EtaChanged,
    Event,
    LocationTick,
    OrderCancelled,
    OrderOffered,
    OrderUpdated,
    Reassigned,
    SendLocation,
    Started,
    StartOrder,
    StopWork,
    UpdateOrder,
)
from driver_agent.sim.lifecycle_states import (
    ACTIVE_STATES,
    BUSY_STATES,
    TERMINAL_STATES,
    DriverState,
    OrderOutcome,
    Stage,
)

_S = DriverState
NON_FATAL_FAILURES: tuple[type[Command], ...] = (SendLocation, AddNote, UpdateOrder)


def event_name(event: Event) -> str:
    """`ArrivedAtStop(pickup)` for events keyed by stop kind, else the class name."""
    kind = _kind_key(event)
    name = type(event).__name__
    return f"{name}({kind})" if kind is not None else name


_KEYED_BY_KIND = (ArrivedAtStop, CheckedIn, DwellFinished, CheckedOut, EtaChanged)


def _kind_key(event: Event) -> StopKind | None:
    if isinstance(event, _KEYED_BY_KIND):  # a tuple built once, not a union per call
        return event.kind
    return None


class Lifecycle:
    """The state of ONE driver's current order. Not thread-safe; one runner drives it."""

    __slots__ = (
        "_batch", "_events", "_order", "_pulled", "_state", "arrived_at_ms", "assigned_at_ms",
        "at_s", "checked_in_at_ms", "checked_out_at_ms", "ended_at_ms", "offered_at_ms",
        "refused_calls", "started_at_ms", "update_notes",
    )  # fmt: skip

    def __init__(self) -> None:
        self._state = DriverState.IDLE
        self._order: Order | None = None
        self._reset_times()
        self.update_notes: list[str] = []
        self.refused_calls = 0
        # pull style: events waiting to be applied, the batch being pulled and its event's time
        self._events: list[tuple[Event, float]] | None = None
        self._batch: Commands = ()
        self._pulled = 0
        self.at_s = 0.0

    def _reset_times(self) -> None:
        self.offered_at_ms: int | None = None
        self.assigned_at_ms: int | None = None
        self.started_at_ms: int | None = None
        self.arrived_at_ms: dict[StopKind, int] = {}
        self.checked_in_at_ms: dict[StopKind, int] = {}
        self.checked_out_at_ms: dict[StopKind, int] = {}
        self.ended_at_ms: int | None = None

    @property
    def state(self) -> DriverState:
        return self._state

    @property
    def order(self) -> Order | None:
        """The current (or last ended) order, with every update applied."""
        return self._order

    @property
    def is_busy(self) -> bool:
        """Started and not ended: location must go out at least every MAX_PING_GAP_S."""
        return self._state in BUSY_STATES

    @property
    def is_active(self) -> bool:
        return self._state in ACTIVE_STATES

    @property
    def outcome(self) -> OrderOutcome | None:
        """How the last order ended; None while idle or active."""
        return TERMINAL_STATES.get(self._state)

    def send(self, event: Event, at_s: float) -> None:
        """An event that happened at simulated time `at_s` (epoch seconds). It is applied once
        every command of the batch before it has been pulled: at once when none is pending
        (then a refused one raises `TransitionError` here), else by `next_command()`."""
        if self._events or self._pulled < len(self._batch):
            if self._events is None:
                self._events = []  # made when first needed: most drivers never queue
            self._events.append((event, at_s))
            return
        self._apply(event, at_s)

    def next_command(self) -> Command | None:
        """The next command to carry out, None when there is nothing left to do.

        The rest of the current batch comes first; then the next queued event is applied and
        its batch begins. `at_s` is then the time of the event the command answers. An event
        that is refused (`TransitionError`) drops what was still queued behind it: the flow it
        was part of stops there."""
        batch, pulled = self._batch, self._pulled
        if pulled < len(batch):
            self._pulled = pulled + 1
            return batch[pulled]
        events = self._events
        while events:
            event, at_s = events.pop(0)
            try:
                self._apply(event, at_s)
            except TransitionError:
                events.clear()
                raise
            if self._batch:
                self._pulled = 1
                return self._batch[0]
        return None

    def _apply(self, event: Event, at_s: float) -> None:
        self._batch = self.handle(event, int(at_s * 1000))
        self._pulled = 0
        self.at_s = at_s

    def handle(self, event: Event, now_ms: int) -> Commands:
        """Apply one event now; return its commands, in order. Raises TransitionError."""
        handler = TRANSITIONS.get((self._state, type(event), _kind_key(event)))
        if handler is None:
            raise TransitionError(self._state.value, event_name(event))
        new_state, commands = handler(self, event, now_ms)
        if new_state in TERMINAL_STATES and self._state not in TERMINAL_STATES:
            self.ended_at_ms = now_ms
        self._state = new_state
        return commands

    def stage_durations_s(self) -> dict[str, float]:
        """Durations of the stages this order went through, simulated seconds, by `Stage`."""
        pu, do = StopKind.PICKUP, StopKind.DROPOFF
        spans = {
            Stage.ASSIGN_TO_START: (self.assigned_at_ms, self.started_at_ms),
            Stage.START_TO_PICKUP: (self.started_at_ms, self.checked_in_at_ms.get(pu)),
            Stage.PICKUP_DWELL: (self.checked_in_at_ms.get(pu), self.checked_out_at_ms.get(pu)),
            Stage.PICKUP_TO_DROPOFF: (
                self.checked_out_at_ms.get(pu),
                self.checked_in_at_ms.get(do),
            ),
            Stage.DROPOFF_DWELL: (self.checked_in_at_ms.get(do), self.checked_out_at_ms.get(do)),
            Stage.END_TO_END: (self.offered_at_ms, self.ended_at_ms),
        }
        return {
            stage.value: (end - start) / 1000.0
            for stage, (start, end) in spans.items()
            if start is not None and end is not None
        }

    # ---- handlers: (self, event, now_ms) -> (new state, commands) -------------------------------

    def _task_id(self) -> int:
        assert self._order is not None  # every handler but _offer runs with an order
        return self._order.task_id

    def _offer(self, event: OrderOffered, now_ms: int) -> tuple[DriverState, Commands]:
        self._order = event.order
        self._reset_times()
        self.update_notes = []
        self.refused_calls = 0
        self.offered_at_ms = now_ms
        return _S.OFFERED, (AssignDriver(event.order.task_id),)

    def _assigned(self, event: Assigned, now_ms: int) -> tuple[DriverState, Commands]:
        self.assigned_at_ms = now_ms
        return _S.ASSIGNED, (StartOrder(self._task_id()),)

    def _started(self, event: Started, now_ms: int) -> tuple[DriverState, Commands]:
        assert self._order is not None
        self.started_at_ms = now_ms
        return _S.EN_ROUTE_TO_PICKUP, (DriveTo(self._order.pickup),)

    def _arrived(self, event: ArrivedAtStop, now_ms: int) -> tuple[DriverState, Commands]:
        self.arrived_at_ms[event.kind] = now_ms
        nxt = (
            _S.CHECKING_IN_AT_PICKUP if event.kind is StopKind.PICKUP else _S.CHECKING_IN_AT_DROPOFF
        )
        return nxt, (CheckIn(self._task_id(), event.kind, event.lat, event.lng),)

    def _checked_in(self, event: CheckedIn, now_ms: int) -> tuple[DriverState, Commands]:
        self.checked_in_at_ms[event.kind] = now_ms
        task_id = self._task_id()
        notes = tuple(AddNote(task_id, event.kind, note) for note in event.notes)
        nxt = _S.AT_PICKUP if event.kind is StopKind.PICKUP else _S.AT_DROPOFF
        return nxt, (*notes, Dwell(event.kind))

    def _dwell_finished(self, event: DwellFinished, now_ms: int) -> tuple[DriverState, Commands]:
        pickup = event.kind is StopKind.PICKUP
        nxt = _S.CHECKING_OUT_OF_PICKUP if pickup else _S.CHECKING_OUT_OF_DROPOFF
        return nxt, (CheckOut(self._task_id(), event.kind),)

    def _checked_out(self, event: CheckedOut, now_ms: int) -> tuple[DriverState, Commands]:
        assert self._order is not None
        self.checked_out_at_ms[event.kind] = now_ms
        if event.kind is StopKind.PICKUP:
            return _S.EN_ROUTE_TO_DROPOFF, (DriveTo(self._order.dropoff),)
        return _S.COMPLETING, (CompleteOrder(self._order.task_id),)

    def _completed(self, event: Completed, now_ms: int) -> tuple[DriverState, Commands]:
        return _S.DONE, (StopWork(),)

    def _cancelled(self, event: OrderCancelled, now_ms: int) -> tuple[DriverState, Commands]:
        if event.by_api:
            return _S.CANCELLED, (
                CancelOrder(self._task_id(), event.reason_id, event.reason),
                StopWork(),
            )
        return _S.CANCELLED, (StopWork(),)

    def _updated(self, event: OrderUpdated, now_ms: int) -> tuple[DriverState, Commands]:
        order = self._order
        assert order is not None
        old = order.stop(event.kind)
        changes: dict[str, Any] = {
            name: value
            for name in ("lat", "lng", "address", "no_earlier_than_ms", "no_later_than_ms")
            if (value := getattr(event, name)) is not None
        }
        new = dataclasses.replace(old, **changes)
        if event.kind is StopKind.PICKUP:
            self._order = dataclasses.replace(order, pickup=new)
        else:
            self._order = dataclasses.replace(order, dropoff=new)
        if event.note is not None:
            self.update_notes.append(event.note)
        heading_there = self._state is _EN_ROUTE[event.kind]
        if heading_there and (new.lat, new.lng) != (old.lat, old.lng):
            return self._state, (DriveTo(new),)
        return self._state, ()

    def _reassigned(self, event: Reassigned, now_ms: int) -> tuple[DriverState, Commands]:
        return _S.REASSIGNED, (StopWork(),)

    def _failed(self, event: CommandFailed, now_ms: int) -> tuple[DriverState, Commands]:
        if isinstance(event.command, NON_FATAL_FAILURES):
            self.refused_calls += 1
            return self._state, ()
        return _S.FAILED, (StopWork(),)

    def _tick(self, event: LocationTick, now_ms: int) -> tuple[DriverState, Commands]:
        if self._state in BUSY_STATES:
            return self._state, (SendLocation(self._task_id(), event.lat, event.lng),)
        return self._state, ()

    def _eta(self, event: EtaChanged, now_ms: int) -> tuple[DriverState, Commands]:
        return self._state, (UpdateOrder(self._task_id(), event.kind, event.eta_ms),)

    def _ignore(self, event: Event, now_ms: int) -> tuple[DriverState, Commands]:
        return self._state, ()


_BEFORE_DROPOFF = ACTIVE_STATES[
    ACTIVE_STATES.index(_S.ASSIGNED) : ACTIVE_STATES.index(_S.CHECKING_IN_AT_DROPOFF)
]
_EN_ROUTE = {StopKind.PICKUP: _S.EN_ROUTE_TO_PICKUP, StopKind.DROPOFF: _S.EN_ROUTE_TO_DROPOFF}
_Handler = Callable[[Lifecycle, Any, int], tuple[DriverState, Commands]]
_Key = tuple[DriverState, type[Any], StopKind | None]
_PU, _DO = StopKind.PICKUP, StopKind.DROPOFF
_L = Lifecycle

TRANSITIONS: dict[_Key, _Handler] = {
    # a new order: from idle or after the previous one ended
    **{(s, OrderOffered, None): _L._offer for s in (_S.IDLE, *TERMINAL_STATES)},
    # the happy path
    (_S.OFFERED, Assigned, None): _L._assigned,
    (_S.ASSIGNED, Started, None): _L._started,
    (_S.EN_ROUTE_TO_PICKUP, ArrivedAtStop, _PU): _L._arrived,
    (_S.CHECKING_IN_AT_PICKUP, CheckedIn, _PU): _L._checked_in,
    (_S.AT_PICKUP, DwellFinished, _PU): _L._dwell_finished,
    (_S.CHECKING_OUT_OF_PICKUP, CheckedOut, _PU): _L._checked_out,
    (_S.EN_ROUTE_TO_DROPOFF, ArrivedAtStop, _DO): _L._arrived,
    (_S.CHECKING_IN_AT_DROPOFF, CheckedIn, _DO): _L._checked_in,
    (_S.AT_DROPOFF, DwellFinished, _DO): _L._dwell_finished,
    (_S.CHECKING_OUT_OF_DROPOFF, CheckedOut, _DO): _L._checked_out,
    (_S.COMPLETING, Completed, None): _L._completed,
    # what may happen at any point of an active order
    **{(s, OrderCancelled, None): _L._cancelled for s in ACTIVE_STATES},
    **{(s, OrderUpdated, None): _L._updated for s in ACTIVE_STATES},
    **{(s, Reassigned, None): _L._reassigned for s in ACTIVE_STATES},
    **{(s, CommandFailed, None): _L._failed for s in ACTIVE_STATES},
    # ETA updates for a stop not reached yet
    **{(s, EtaChanged, _PU): _L._eta for s in (_S.ASSIGNED, _S.EN_ROUTE_TO_PICKUP)},
    **{(s, EtaChanged, _DO): _L._eta for s in _BEFORE_DROPOFF},
    # pings: always allowed, sent only while busy
    **{(s, LocationTick, None): _L._tick for s in DriverState},
    # webhook retries and calls racing a cancel
    (_S.CANCELLED, OrderCancelled, None): _L._ignore,
    (_S.CANCELLED, CommandFailed, None): _L._ignore,
}

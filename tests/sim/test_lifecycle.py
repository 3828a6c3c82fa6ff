"""The lifecycle machine: every state × event, allowed (new state, commands) or refused."""

from __future__ import annotations

import typing

import pytest

from driver_agent.core.errors import TransitionError
from driver_agent.core.model import NoteKind, Order, Stop, StopKind
from driver_agent.sim.lifecycle import Lifecycle
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
    PlannedNote,
    Reassigned,
    SendLocation,
    Started,
    StartOrder,
    StopWork,
    UpdateOrder,
)
from driver_agent.sim.lifecycle_states import DriverState, OrderOutcome

S = DriverState
PU, DO = StopKind.PICKUP, StopKind.DROPOFF
PICKUP = Stop(PU, 52.5000, 13.4000, way_point_id=11, address="Store")
DROPOFF = Stop(DO, 52.5200, 13.4500, way_point_id=12, address="Customer")
ORDER = Order(task_id=7, pickup=PICKUP, dropoff=DROPOFF)
NEXT_ORDER = Order(task_id=8, pickup=PICKUP, dropoff=DROPOFF)
MOVED_PICKUP = Stop(PU, 52.5010, 13.4010, way_point_id=11, address="Store")
MOVED_DROPOFF = Stop(DO, 52.5300, 13.4600, way_point_id=12, address="Customer")
PICKUP_NOTES = (PlannedNote(NoteKind.PHOTO),)
DROPOFF_NOTES = (PlannedNote(NoteKind.SIGNATURE), PlannedNote(NoteKind.TEXT, "left at door"))
T0_MS = 1_700_000_000_000

# How to reach each state from idle.
_HAPPY: list[tuple[DriverState, Event]] = [
    (S.OFFERED, OrderOffered(ORDER)),
    (S.ASSIGNED, Assigned()),
    (S.EN_ROUTE_TO_PICKUP, Started()),
    (S.CHECKING_IN_AT_PICKUP, ArrivedAtStop(PU, 52.5001, 13.4001)),
    (S.AT_PICKUP, CheckedIn(PU, PICKUP_NOTES)),
    (S.CHECKING_OUT_OF_PICKUP, DwellFinished(PU)),
    (S.EN_ROUTE_TO_DROPOFF, CheckedOut(PU)),
    (S.CHECKING_IN_AT_DROPOFF, ArrivedAtStop(DO, 52.5201, 13.4501)),
    (S.AT_DROPOFF, CheckedIn(DO, DROPOFF_NOTES)),
    (S.CHECKING_OUT_OF_DROPOFF, DwellFinished(DO)),
    (S.COMPLETING, CheckedOut(DO)),
    (S.DONE, Completed()),
]
PATHS: dict[DriverState, list[Event]] = {S.IDLE: []}
for _i, (_state, _) in enumerate(_HAPPY):
    PATHS[_state] = [event for _, event in _HAPPY[: _i + 1]]
PATHS[S.CANCELLED] = [OrderOffered(ORDER), OrderCancelled()]
PATHS[S.FAILED] = [OrderOffered(ORDER), CommandFailed(AssignDriver(7), "403")]
PATHS[S.REASSIGNED] = [OrderOffered(ORDER), Reassigned("driver-2")]


def reach(state: DriverState) -> Lifecycle:
    lifecycle = Lifecycle()
    for i, event in enumerate(PATHS[state]):
        lifecycle.handle(event, T0_MS + i * 60_000)
    assert lifecycle.state is state
    return lifecycle


# The columns: every event type, split where stop kind or content changes the outcome.
EVENTS: dict[str, Event] = {
    "offer": OrderOffered(NEXT_ORDER),
    "assigned": Assigned(),
    "started": Started(),
    "arrived_pickup": ArrivedAtStop(PU, 52.5001, 13.4001),
    "arrived_dropoff": ArrivedAtStop(DO, 52.5201, 13.4501),
    "checked_in_pickup": CheckedIn(PU, PICKUP_NOTES),
    "checked_in_dropoff": CheckedIn(DO, DROPOFF_NOTES),
    "dwell_pickup": DwellFinished(PU),
    "dwell_dropoff": DwellFinished(DO),
    "checked_out_pickup": CheckedOut(PU),
    "checked_out_dropoff": CheckedOut(DO),
    "completed": Completed(),
    "cancel_webhook": OrderCancelled(5, "customer cancelled"),
    "cancel_api": OrderCancelled(3, "shop closed", by_api=True),
    "update_dropoff_moved": OrderUpdated(DO, lat=52.5300, lng=13.4600),
    "update_pickup_moved": OrderUpdated(PU, lat=52.5010, lng=13.4010),
    "update_window": OrderUpdated(DO, no_earlier_than_ms=T0_MS, no_later_than_ms=T0_MS + 1),
    "update_note": OrderUpdated(note="ring twice"),
    "reassigned": Reassigned("driver-2"),
    "failed_start": CommandFailed(StartOrder(7), "403 task not found"),
    "failed_ping": CommandFailed(SendLocation(7, 1.0, 2.0), "403"),
    "tick": LocationTick(52.51, 13.42),
    "eta_pickup": EtaChanged(PU, T0_MS + 600_000),
    "eta_dropoff": EtaChanged(DO, T0_MS + 1_200_000),
}

ACTIVE = [
    S.OFFERED,
    S.ASSIGNED,
    S.EN_ROUTE_TO_PICKUP,
    S.CHECKING_IN_AT_PICKUP,
    S.AT_PICKUP,
    S.CHECKING_OUT_OF_PICKUP,
    S.EN_ROUTE_TO_DROPOFF,
    S.CHECKING_IN_AT_DROPOFF,
    S.AT_DROPOFF,
    S.CHECKING_OUT_OF_DROPOFF,
    S.COMPLETING,
]
BUSY = ACTIVE[2:]
Outcome = tuple[DriverState, tuple[Command, ...]]

ALLOWED: dict[tuple[DriverState, str], Outcome] = {
    (S.IDLE, "offer"): (S.OFFERED, (AssignDriver(8),)),
    (S.DONE, "offer"): (S.OFFERED, (AssignDriver(8),)),
    (S.CANCELLED, "offer"): (S.OFFERED, (AssignDriver(8),)),
    (S.FAILED, "offer"): (S.OFFERED, (AssignDriver(8),)),
    (S.REASSIGNED, "offer"): (S.OFFERED, (AssignDriver(8),)),
    (S.OFFERED, "assigned"): (S.ASSIGNED, (StartOrder(7),)),
    (S.ASSIGNED, "started"): (S.EN_ROUTE_TO_PICKUP, (DriveTo(PICKUP),)),
    (S.EN_ROUTE_TO_PICKUP, "arrived_pickup"): (
        S.CHECKING_IN_AT_PICKUP,
        (CheckIn(7, PU, 52.5001, 13.4001),),
    ),
    (S.CHECKING_IN_AT_PICKUP, "checked_in_pickup"): (
        S.AT_PICKUP,
        (AddNote(7, PU, PlannedNote(NoteKind.PHOTO)), Dwell(PU)),
    ),
    (S.AT_PICKUP, "dwell_pickup"): (S.CHECKING_OUT_OF_PICKUP, (CheckOut(7, PU),)),
    (S.CHECKING_OUT_OF_PICKUP, "checked_out_pickup"): (S.EN_ROUTE_TO_DROPOFF, (DriveTo(DROPOFF),)),
    (S.EN_ROUTE_TO_DROPOFF, "arrived_dropoff"): (
        S.CHECKING_IN_AT_DROPOFF,
        (CheckIn(7, DO, 52.5201, 13.4501),),
    ),
    (S.CHECKING_IN_AT_DROPOFF, "checked_in_dropoff"): (
        S.AT_DROPOFF,
        (
            AddNote(7, DO, PlannedNote(NoteKind.SIGNATURE)),
            AddNote(7, DO, PlannedNote(NoteKind.TEXT, "left at door")),
            Dwell(DO),
        ),
    ),
    (S.AT_DROPOFF, "dwell_dropoff"): (S.CHECKING_OUT_OF_DROPOFF, (CheckOut(7, DO),)),
    (S.CHECKING_OUT_OF_DROPOFF, "checked_out_dropoff"): (S.COMPLETING, (CompleteOrder(7),)),
    (S.COMPLETING, "completed"): (S.DONE, (StopWork(),)),
    # cancelled: a retried webhook or a call that raced the cancel changes nothing
    (S.CANCELLED, "cancel_webhook"): (S.CANCELLED, ()),
    (S.CANCELLED, "cancel_api"): (S.CANCELLED, ()),
    (S.CANCELLED, "failed_start"): (S.CANCELLED, ()),
    (S.CANCELLED, "failed_ping"): (S.CANCELLED, ()),
}
for _s in ACTIVE:
    ALLOWED[_s, "cancel_webhook"] = (S.CANCELLED, (StopWork(),))
    ALLOWED[_s, "cancel_api"] = (S.CANCELLED, (CancelOrder(7, 3, "shop closed"), StopWork()))
    ALLOWED[_s, "update_window"] = (_s, ())
    ALLOWED[_s, "update_note"] = (_s, ())
    ALLOWED[_s, "update_dropoff_moved"] = (_s, ())
    ALLOWED[_s, "update_pickup_moved"] = (_s, ())
    ALLOWED[_s, "reassigned"] = (S.REASSIGNED, (StopWork(),))
    ALLOWED[_s, "failed_start"] = (S.FAILED, (StopWork(),))
    ALLOWED[_s, "failed_ping"] = (_s, ())
# re-route only when the stop the driver is heading to moved
ALLOWED[S.EN_ROUTE_TO_DROPOFF, "update_dropoff_moved"] = (
    S.EN_ROUTE_TO_DROPOFF,
    (DriveTo(MOVED_DROPOFF),),
)
ALLOWED[S.EN_ROUTE_TO_PICKUP, "update_pickup_moved"] = (
    S.EN_ROUTE_TO_PICKUP,
    (DriveTo(MOVED_PICKUP),),
)
for _s in S:
    pings = (SendLocation(7, 52.51, 13.42),) if _s in BUSY else ()
    ALLOWED[_s, "tick"] = (_s, pings)
for _s in [S.ASSIGNED, S.EN_ROUTE_TO_PICKUP]:
    ALLOWED[_s, "eta_pickup"] = (_s, (UpdateOrder(7, PU, T0_MS + 600_000),))
for _s in [
    S.ASSIGNED,
    S.EN_ROUTE_TO_PICKUP,
    S.CHECKING_IN_AT_PICKUP,
    S.AT_PICKUP,
    S.CHECKING_OUT_OF_PICKUP,
    S.EN_ROUTE_TO_DROPOFF,
]:
    ALLOWED[_s, "eta_dropoff"] = (_s, (UpdateOrder(7, DO, T0_MS + 1_200_000),))

CASES = [(state, column) for state in S for column in EVENTS]


@pytest.mark.parametrize(("state", "column"), CASES, ids=[f"{s}-{c}" for s, c in CASES])
def test_every_state_and_event_moves_or_is_refused_as_the_table_says(
    state: DriverState, column: str
) -> None:
    lifecycle = reach(state)
    event = EVENTS[column]
    expected = ALLOWED.get((state, column))
    if expected is None:
        with pytest.raises(TransitionError) as caught:
            lifecycle.handle(event, T0_MS + 3_600_000)
        assert caught.value.state == state.value
        assert caught.value.event.startswith(type(event).__name__)
        assert lifecycle.state is state
    else:
        commands = lifecycle.handle(event, T0_MS + 3_600_000)
        assert (lifecycle.state, commands) == expected


def test_the_table_has_a_column_for_every_event_type() -> None:
    covered = {type(event) for event in EVENTS.values()}
    assert covered == set(typing.get_args(Event))


def test_a_refused_event_names_state_and_event_with_its_stop_kind() -> None:
    lifecycle = reach(S.EN_ROUTE_TO_PICKUP)
    with pytest.raises(TransitionError, match=r"'ArrivedAtStop\(dropoff\)'.*'en_route_to_pickup'"):
        lifecycle.handle(ArrivedAtStop(DO, 0.0, 0.0), T0_MS)


def test_happy_path_records_stage_timestamps_and_durations() -> None:
    lifecycle = Lifecycle()
    times_s = [0, 5, 20, 320, 325, 445, 450, 1250, 1260, 1380, 1385, 1390]
    for (_, event), t_s in zip(_HAPPY, times_s, strict=True):
        lifecycle.handle(event, T0_MS + t_s * 1000)
    assert lifecycle.outcome is OrderOutcome.COMPLETED
    assert lifecycle.ended_at_ms == T0_MS + 1_390_000
    assert lifecycle.stage_durations_s() == {
        "assign_to_start": 15.0,
        "start_to_pickup": 305.0,
        "pickup_dwell": 125.0,
        "pickup_to_dropoff": 810.0,
        "dropoff_dwell": 125.0,
        "end_to_end": 1390.0,
    }


def test_a_cancelled_order_reports_only_the_stages_it_went_through() -> None:
    lifecycle = Lifecycle()
    lifecycle.handle(OrderOffered(ORDER), T0_MS)
    lifecycle.handle(Assigned(), T0_MS + 2_000)
    lifecycle.handle(Started(), T0_MS + 3_000)
    lifecycle.handle(OrderCancelled(1, "gone"), T0_MS + 63_000)
    assert lifecycle.outcome is OrderOutcome.CANCELLED
    assert lifecycle.stage_durations_s() == {"assign_to_start": 1.0, "end_to_end": 63.0}


def test_a_repeated_cancel_does_not_move_the_end_time() -> None:
    lifecycle = reach(S.CANCELLED)
    ended = lifecycle.ended_at_ms
    lifecycle.handle(OrderCancelled(), T0_MS + 999_000)
    assert lifecycle.ended_at_ms == ended


def test_an_update_is_applied_to_the_order_and_later_routes_use_it() -> None:
    lifecycle = reach(S.ASSIGNED)
    assert lifecycle.handle(OrderUpdated(PU, lat=52.5010, lng=13.4010), T0_MS) == ()
    lifecycle.handle(OrderUpdated(DO, address="Back door", no_later_than_ms=T0_MS + 9), T0_MS)
    lifecycle.handle(OrderUpdated(note="ring twice"), T0_MS)
    assert lifecycle.handle(Started(), T0_MS) == (DriveTo(MOVED_PICKUP),)
    assert lifecycle.order is not None
    assert lifecycle.order.dropoff == Stop(
        DO, 52.52, 13.45, way_point_id=12, address="Back door", no_later_than_ms=T0_MS + 9
    )
    assert lifecycle.update_notes == ["ring twice"]


def test_an_update_to_the_same_coordinates_does_not_reroute() -> None:
    lifecycle = reach(S.EN_ROUTE_TO_DROPOFF)
    assert lifecycle.handle(OrderUpdated(DO, lat=52.52, lng=13.45), T0_MS) == ()


def test_an_update_with_lat_but_no_lng_is_refused_naming_the_fields() -> None:
    with pytest.raises(ValueError, match="lat and lng"):
        OrderUpdated(DO, lat=1.0)


def test_refused_pings_and_notes_are_counted_and_the_order_carries_on() -> None:
    lifecycle = reach(S.AT_DROPOFF)
    lifecycle.handle(CommandFailed(SendLocation(7, 0.0, 0.0)), T0_MS)
    lifecycle.handle(CommandFailed(AddNote(7, DO, PlannedNote())), T0_MS)
    lifecycle.handle(CommandFailed(UpdateOrder(7, DO, T0_MS)), T0_MS)
    assert (lifecycle.state, lifecycle.refused_calls) == (S.AT_DROPOFF, 3)
    assert lifecycle.handle(CommandFailed(CheckOut(7, DO)), T0_MS) == (StopWork(),)
    assert lifecycle.outcome is OrderOutcome.FAILED


def test_a_new_order_after_the_last_one_ended_starts_from_a_clean_slate() -> None:
    lifecycle = reach(S.DONE)
    lifecycle.handle(OrderOffered(NEXT_ORDER), T0_MS + 5_000_000)
    assert lifecycle.order == NEXT_ORDER
    assert lifecycle.outcome is None
    assert lifecycle.ended_at_ms is None
    assert lifecycle.checked_in_at_ms == {}
    assert lifecycle.stage_durations_s() == {}


@pytest.mark.parametrize(
    ("state", "busy", "outcome"),
    [
        (S.IDLE, False, None),
        (S.OFFERED, False, None),
        (S.ASSIGNED, False, None),
        (S.EN_ROUTE_TO_PICKUP, True, None),
        (S.AT_DROPOFF, True, None),
        (S.COMPLETING, True, None),
        (S.DONE, False, OrderOutcome.COMPLETED),
        (S.CANCELLED, False, OrderOutcome.CANCELLED),
        (S.FAILED, False, OrderOutcome.FAILED),
        (S.REASSIGNED, False, OrderOutcome.REASSIGNED),
    ],
    ids=str,
)
def test_busy_only_between_start_and_end_and_outcome_only_at_the_end(
    state: DriverState, busy: bool, outcome: OrderOutcome | None
) -> None:
    lifecycle = reach(state)
    assert (lifecycle.is_busy, lifecycle.outcome) == (busy, outcome)


# -- pulled one command at a time ----------------------------------------------------------------


def pull_all(lifecycle: Lifecycle) -> list[Command]:
    commands: list[Command] = []
    while (command := lifecycle.next_command()) is not None:
        commands.append(command)
    return commands


def test_an_event_sent_while_a_batch_is_pulled_is_applied_after_the_rest_of_that_batch() -> None:
    lifecycle = reach(S.CHECKING_IN_AT_DROPOFF)
    lifecycle.send(CheckedIn(DO, DROPOFF_NOTES), 1_000.0)
    assert lifecycle.next_command() == AddNote(7, DO, PlannedNote(NoteKind.SIGNATURE))
    # an outcome that moves the state on arrives while the batch is half pulled
    lifecycle.send(DwellFinished(DO), 1_200.0)
    assert lifecycle.next_command() == AddNote(7, DO, PlannedNote(NoteKind.TEXT, "left at door"))
    assert (lifecycle.state, lifecycle.at_s) == (S.AT_DROPOFF, 1_000.0)
    assert lifecycle.next_command() == Dwell(DO)
    assert lifecycle.state is S.AT_DROPOFF  # the whole batch ran against the state that made it
    assert lifecycle.next_command() == CheckOut(7, DO)
    assert (lifecycle.state, lifecycle.at_s) == (S.CHECKING_OUT_OF_DROPOFF, 1_200.0)
    assert lifecycle.next_command() is None


def test_events_are_applied_in_the_order_sent_with_their_own_times() -> None:
    lifecycle = Lifecycle()
    lifecycle.send(OrderOffered(ORDER), 10.0)
    lifecycle.send(Assigned(), 12.5)
    assert pull_all(lifecycle) == [AssignDriver(7), StartOrder(7)]
    assert (lifecycle.offered_at_ms, lifecycle.assigned_at_ms) == (10_000, 12_500)
    assert lifecycle.next_command() is None


def test_a_refused_event_drops_what_was_queued_behind_it() -> None:
    lifecycle = reach(S.CHECKING_IN_AT_DROPOFF)
    lifecycle.send(CheckedIn(DO, DROPOFF_NOTES), 1.0)  # a batch of three is pending
    lifecycle.send(ArrivedAtStop(PU, 0.0, 0.0), 2.0)  # the wrong stop: queued behind it
    lifecycle.send(DwellFinished(DO), 3.0)
    assert [type(lifecycle.next_command()) for _ in range(3)] == [AddNote, AddNote, Dwell]
    with pytest.raises(TransitionError, match="ArrivedAtStop"):
        lifecycle.next_command()
    assert lifecycle.next_command() is None  # what was queued behind it is gone
    assert lifecycle.state is S.AT_DROPOFF


def test_an_event_with_nothing_pending_is_applied_at_once_and_refused_there() -> None:
    lifecycle = reach(S.EN_ROUTE_TO_PICKUP)
    with pytest.raises(TransitionError):
        lifecycle.send(ArrivedAtStop(DO, 0.0, 0.0), 1.0)
    lifecycle.send(ArrivedAtStop(PU, 52.5001, 13.4001), 2.0)
    assert (lifecycle.state, lifecycle.at_s) == (S.CHECKING_IN_AT_PICKUP, 2.0)
    assert pull_all(lifecycle) == [CheckIn(7, PU, 52.5001, 13.4001)]


def test_every_move_into_a_terminal_state_ends_with_stop_work() -> None:
    for state in (S.DONE, S.CANCELLED, S.FAILED, S.REASSIGNED):
        lifecycle = Lifecycle()
        for i, event in enumerate(PATHS[state]):
            lifecycle.send(event, float(i))
        assert pull_all(lifecycle)[-1] == StopWork(), state

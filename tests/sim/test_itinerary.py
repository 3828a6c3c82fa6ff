"""A driver's itinerary: legs, re-routes, distance, the dwell and its notes, in simulated time."""

from __future__ import annotations

import math

import pytest

from driver_agent.core.config import DriverConfig
from driver_agent.core.model import NoteKind, Order, Stop, StopKind
from driver_agent.geo.geometry import haversine_m
from driver_agent.sim.itinerary import DEFAULT_DWELL_S, Itinerary
from driver_agent.sim.lifecycle_messages import AddNote, PlannedNote
from driver_agent.sim.navigator import Navigator

PU, DO = StopKind.PICKUP, StopKind.DROPOFF
T0 = 1_760_000_000.0
PICKUP = Stop(PU, 52.51, 13.41)
DROPOFF = Stop(DO, 52.52, 13.45)
ORDER = Order(7, PICKUP, DROPOFF)


def itinerary(config: DriverConfig | None = None, seed: int = 3) -> Itinerary:
    return Itinerary("drv-1", 52.50, 13.40, Navigator(None), config or DriverConfig(), seed)


def test_a_parked_driver_stands_still_and_the_phone_adds_a_few_metres_of_noise() -> None:
    trip = itinerary()
    assert trip.position(T0) == trip.position(T0 + 600.0) == (52.50, 13.40)
    lat, lng = trip.reported(T0)
    assert 0.0 < haversine_m(lat, lng, 52.50, 13.40) < 100.0


def test_the_same_seed_draws_the_same_legs_and_fixes() -> None:
    first, second = itinerary(), itinerary()
    for trip in (first, second):
        trip.drive_to(PICKUP, T0)
    assert first.arrive_at == second.arrive_at
    assert first.reported(T0 + 30.0) == second.reported(T0 + 30.0)
    third = itinerary(seed=4)
    third.drive_to(PICKUP, T0)
    assert third.arrive_at != first.arrive_at


def test_a_leg_arrives_near_its_stop_and_closing_it_counts_the_distance() -> None:
    trip = itinerary()
    assert trip.drive_to(PICKUP, T0) is False  # a first leg is not a re-route
    assert T0 < trip.arrive_at < math.inf
    trip.close_leg(trip.arrive_at)
    assert trip.leg is None
    assert trip.arrive_at == math.inf
    assert haversine_m(trip.lat, trip.lng, PICKUP.lat, PICKUP.lng) < 50.0
    driven = haversine_m(52.50, 13.40, PICKUP.lat, PICKUP.lng)
    assert trip.take_distance_m() == pytest.approx(driven, rel=0.2)
    assert trip.take_distance_m() == 0.0  # the next order counts from zero


def test_a_new_leg_to_the_same_stop_is_a_reroute_from_where_the_driver_is() -> None:
    trip = itinerary()
    trip.drive_to(DROPOFF, T0)
    halfway = T0 + (trip.arrive_at - T0) / 2
    where = trip.position(halfway)
    moved = Stop(DO, 52.53, 13.46)
    assert trip.drive_to(moved, halfway) is True
    assert (trip.lat, trip.lng) == where
    assert trip.distance_m > 0.0
    assert trip.drive_to(PICKUP, halfway + 1.0) is False  # another stop: not a re-route


def test_notes_are_timed_in_the_second_half_of_the_dwell() -> None:
    trip = itinerary()
    notes = [AddNote(7, DO, PlannedNote(NoteKind.PHOTO)), AddNote(7, DO, PlannedNote())]
    trip.pending_notes.extend(notes)
    trip.start_dwell(DO, ORDER, T0)  # no leg: the default dwell
    assert trip.dwell_until == T0 + DEFAULT_DWELL_S
    assert [command for _, command in trip.notes] == notes
    times = [t for t, _ in trip.notes]
    assert times == [T0 + DEFAULT_DWELL_S * 0.5, T0 + DEFAULT_DWELL_S * 0.7]
    assert trip.pending_notes == []
    trip.stop_work()
    assert (trip.dwell_until, trip.notes) == (math.inf, [])


def test_an_early_driver_dwells_until_the_delivery_window_opens() -> None:
    opens_ms = int((T0 + 3_600.0) * 1000)
    order = Order(7, PICKUP, Stop(DO, 52.52, 13.45, no_earlier_than_ms=opens_ms))
    trip = itinerary()
    trip.start_dwell(DO, order, T0)
    assert trip.dwell_until == T0 + 3_600.0 + DEFAULT_DWELL_S


@pytest.mark.parametrize(
    ("kind", "expected"),
    [
        (PU, [NoteKind.TEXT, NoteKind.PHOTO]),
        (DO, [NoteKind.TEXT, NoteKind.PHOTO, NoteKind.SIGNATURE]),
    ],
)
def test_planned_notes_follow_the_configured_ratios(
    kind: StopKind, expected: list[NoteKind]
) -> None:
    always = DriverConfig(note_text_ratio=1.0, note_photo_ratio=1.0, note_signature_ratio=1.0)
    assert [note.kind for note in itinerary(always).plan_notes(kind)] == expected
    never = DriverConfig(note_text_ratio=0.0, note_photo_ratio=0.0, note_signature_ratio=0.0)
    assert itinerary(never).plan_notes(kind) == ()

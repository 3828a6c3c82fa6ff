"""Each lifecycle command's API call: endpoint, arguments, and the fix it reports."""

from __future__ import annotations

from typing import Any

import pytest

from driver_agent.core.model import NoteKind, StopKind
from driver_agent.fleetapi.wire import DriverProfile, Note, WayPointUpdate
from driver_agent.sim import lifecycle_messages as m
from driver_agent.sim.api_calls import ApiCommand, iso, ms, note_request, request_for
from driver_agent.sim.context import DriverSpec, ProofAssets

PU, DO = StopKind.PICKUP, StopKind.DROPOFF
AT = 1_760_000_000.25
SPEC = DriverSpec("drv-1", "Ada Driver", 52.5, 13.4, phone="+4930123456")
FIX = (52.501, 13.401)
AT_MS = 1_760_000_000_250


class Fixes:
    """reported(at): counts the fixes drawn."""

    def __init__(self) -> None:
        self.drawn: list[float] = []

    def __call__(self, at: float) -> tuple[float, float]:
        self.drawn.append(at)
        return FIX


@pytest.mark.parametrize(
    ("command", "endpoint", "arguments", "fixes"),
    [
        (m.StartOrder(7), "start_task", {"lat": FIX[0], "lng": FIX[1]}, 1),
        (m.CheckIn(7, PU, 52.6, 13.6), "checkin", {"kind": PU, "lat": 52.6, "lng": 13.6}, 0),
        (m.CheckOut(7, DO), "checkout", {"kind": DO, "lat": FIX[0], "lng": FIX[1]}, 1),
        (m.CompleteOrder(7), "end_task", {"lat": FIX[0], "lng": FIX[1]}, 1),
        (
            m.CancelOrder(7, 3, "shop closed"),
            "cancel_delivery",
            {"reason_id": 3, "reason": "shop closed", "lat": FIX[0], "lng": FIX[1]},
            1,
        ),
        (m.CancelOrder(7, 3, ""), "cancel_delivery", {"reason_id": 3, "reason": None}, 1),
        (
            m.UpdateOrder(7, DO, AT_MS + 600_000),
            "update_task",
            {"way_points": [WayPointUpdate(DO, eta="2025-10-09T09:03:20.250Z")]},
            0,
        ),
    ],
    ids=lambda value: type(value).__name__ if not isinstance(value, str | dict | int) else None,
)
async def test_each_command_makes_its_call_with_the_scheduled_time(
    fake_client: Any, command: ApiCommand, endpoint: str, arguments: dict[str, Any], fixes: int
) -> None:
    reported = Fixes()
    request = request_for(command, fake_client, SPEC, known_to_api=True, at=AT, reported=reported)
    assert request.endpoint == endpoint
    assert len(reported.drawn) == fixes  # a fix is drawn only for a call that reports one
    await request.send()
    [(called, sent)] = fake_client.calls
    assert called == endpoint
    assert sent["task_id"] == 7
    assert sent["reported_time_ms"] == AT_MS
    assert {k: sent[k] for k in arguments} == arguments


async def test_a_driver_unknown_to_the_api_is_assigned_with_its_profile_then_by_its_id(
    fake_client: Any,
) -> None:
    reported = Fixes()
    for known in (False, True):
        request = request_for(
            m.AssignDriver(7), fake_client, SPEC, known_to_api=known, at=AT, reported=reported
        )
        await request.send()
    first, second = (arguments for _, arguments in fake_client.calls)
    assert first["user"] == DriverProfile(
        external_id="drv-1", name="Ada Driver", phone="+4930123456"
    )
    assert second["user_external_id"] == "drv-1"
    assert reported.drawn == []


@pytest.mark.parametrize(
    ("planned", "expected"),
    [
        (m.PlannedNote(NoteKind.PHOTO), "photo"),
        (m.PlannedNote(NoteKind.SIGNATURE), "signature"),
        (m.PlannedNote(NoteKind.TEXT, "left at door"), "left at door"),
    ],
)
async def test_a_note_sends_the_proof_image_or_its_text(
    fake_client: Any, planned: m.PlannedNote, expected: str
) -> None:
    proof = ProofAssets(Note.text_note("photo"), Note.text_note("signature"))
    request = note_request(m.AddNote(7, DO, planned), fake_client, proof, at=AT, reported=Fixes())
    await request.send()
    [(endpoint, sent)] = fake_client.calls
    assert (endpoint, request.endpoint) == ("create_note", "create_note")
    assert sent["note"] == Note.text_note(expected)
    assert (sent["lat"], sent["lng"], sent["kind"]) == (*FIX, DO)


def test_times_become_the_apis_epoch_milliseconds_and_iso_text() -> None:
    assert ms(AT) == AT_MS
    assert iso(AT_MS) == "2025-10-09T08:53:20.250Z"

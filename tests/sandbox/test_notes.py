"""sandbox.notes: create_note keys a note by its own external_id, whatever its type."""

from __future__ import annotations

import base64
from typing import Any

from driver_agent.sandbox.rules import SandboxState
from driver_agent.sandbox.settings import SandboxSettings

NOW = 1_800_000_000.0
CREATE = {
    "title": "Order",
    "customer": {"name": "Jane", "address": "Aleksanterinkatu 1"},
    "way_points": [
        {"address": "Kamppi", "lat": 60.169, "lng": 24.932},
        {"address": "Kallio", "lat": 60.184, "lng": 24.950},
    ],
}
PDF = "data:application/pdf;base64," + base64.b64encode(b"%PDF-1.4 x").decode()


def at_pickup() -> tuple[SandboxState, int]:
    state = SandboxState(SandboxSettings(), token_part=lambda: "opaque")
    task_id: int = state.create_task(CREATE, NOW).body["task"]["id"]  # type: ignore[index]
    user = {"external_id": "d1", "name": "Driver One"}
    for call, body in [
        ("assign_driver", {"user": user}),
        ("start_task", {}),
        ("checkin", {"pickup_dropoff_option": "pickup"}),
    ]:
        assert state.fleet(call, {"task_id": task_id, **body}, NOW).body["success"] is True
    return state, task_id


def note(state: SandboxState, task_id: int, **body: Any) -> dict[str, Any]:
    reply = state.fleet("create_note", {"task_id": task_id, **body}, NOW)
    assert reply.status == 200, reply.body
    created: dict[str, Any] = reply.body["task"]  # type: ignore[assignment]
    return created


def test_documents_without_a_key_are_separate_notes_keyed_by_their_id() -> None:
    state, task_id = at_pickup()
    first = note(state, task_id, type="Document", document=PDF)
    second = note(state, task_id, type="Document", document=PDF)
    assert first["id"] != second["id"]  # not answered as a repeat of the first
    assert first["external_id"] == str(first["id"])
    assert state.world.orders[task_id].repeats == {}


def test_a_document_with_a_key_is_created_once() -> None:
    state, task_id = at_pickup()
    first = note(state, task_id, type="Document", file=PDF, external_id="pod-1")
    again = note(state, task_id, type="Document", file=PDF, external_id="pod-1")
    assert again == first
    assert first["external_id"] == "pod-1"

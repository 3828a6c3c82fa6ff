"""sandbox.notes: create_note keys a note by its own external_id, whatever its type."""

from __future__ import annotations

import base64
from typing import Any

from sandbox_pure import PureSandbox

PDF = "data:application/pdf;base64," + base64.b64encode(b"%PDF-1.4 x").decode()


def at_pickup(pure: PureSandbox) -> int:
    task_id = pure.assigned()
    assert pure.call("start_task", task_id=task_id).body["success"] is True
    assert pure.call("checkin", task_id=task_id).body["success"] is True
    return task_id


def note(pure: PureSandbox, task_id: int, **body: Any) -> dict[str, Any]:
    reply = pure.call("create_note", task_id=task_id, **body)
    assert reply.status == 200, reply.body
    created: dict[str, Any] = reply.body["task"]  # type: ignore[assignment]
    return created


def test_documents_without_a_key_are_separate_notes_keyed_by_their_id() -> None:
    pure = PureSandbox()
    task_id = at_pickup(pure)
    first = note(pure, task_id, type="Document", document=PDF)
    second = note(pure, task_id, type="Document", document=PDF)
    assert first["id"] != second["id"]  # not answered as a repeat of the first
    assert first["external_id"] == str(first["id"])
    assert pure.state.world.orders[task_id].repeats == {}


def test_a_document_with_a_key_is_created_once() -> None:
    pure = PureSandbox()
    task_id = at_pickup(pure)
    first = note(pure, task_id, type="Document", file=PDF, external_id="pod-1")
    again = note(pure, task_id, type="Document", file=PDF, external_id="pod-1")
    assert again == first
    assert first["external_id"] == "pod-1"

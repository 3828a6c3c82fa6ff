"""Tests for driver_agent.fleetapi.wire: notes, driver profiles and Update Order parts."""

from __future__ import annotations

import base64
import json
import re
from typing import TYPE_CHECKING

import pytest

from driver_agent.core.model import NoteKind, StopKind
from driver_agent.fleetapi.wire import (
    MAX_NOTE_FILE_BYTES,
    DriverProfile,
    IntegrationEvent,
    Note,
    WayPointUpdate,
)

if TYPE_CHECKING:
    from collections.abc import Callable

JPEG = b"\xff\xd8\xff\xe0" + b"\x00" * 60
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 60
PDF = b"%PDF-1.7\n" + b"\x00" * 60


@pytest.mark.parametrize(
    ("note", "expected"),
    [
        pytest.param(Note.text_note("left at door"), {"type": "TaskNote", "note": "left at door"}),
        pytest.param(
            Note.photo(JPEG),
            {
                "type": "TaskPhoto",
                "image": "data:image/jpeg;base64," + base64.b64encode(JPEG).decode(),
            },
            id="jpeg photo",
        ),
        pytest.param(
            Note.signature(PNG, signer="J. Doe"),
            {
                "type": "Signature",
                "note": "J. Doe",
                "image": "data:image/png;base64," + base64.b64encode(PNG).decode(),
            },
            id="png signature",
        ),
        pytest.param(
            Note(NoteKind.FORM, form={"age_checked": True}),
            {"type": "Form", "form": {"age_checked": True}},
            id="form",
        ),
        pytest.param(
            Note(NoteKind.DOCUMENT, document=PDF, document_name="pod.pdf"),
            {
                "type": "Document",
                "document": "data:application/pdf;base64," + base64.b64encode(PDF).decode(),
                "document_name": "pod.pdf",
            },
            id="pdf document",
        ),
    ],
)
def test_notes_render_their_documented_fields(note: Note, expected: dict[str, object]) -> None:
    fields = note.fields()
    assert fields == expected
    json.dumps(fields)  # ready for the wire


@pytest.mark.parametrize(
    ("build", "field"),
    [
        pytest.param(lambda: Note(NoteKind.TEXT), "note.text", id="text without text"),
        pytest.param(lambda: Note(NoteKind.PHOTO), "note.image", id="photo without image"),
        pytest.param(lambda: Note.photo(b"GIF89a" + b"\x00" * 10), "note.image", id="gif"),
        pytest.param(
            lambda: Note.photo(JPEG + b"\x00" * MAX_NOTE_FILE_BYTES), "note.image", id="too big"
        ),
        pytest.param(lambda: Note.photo(b""), "note.image", id="empty image"),
        pytest.param(
            lambda: Note(NoteKind.TEXT, text="x", image=JPEG), "note.image", id="image on text"
        ),
        pytest.param(lambda: Note(NoteKind.FORM), "note.form", id="empty form"),
        pytest.param(lambda: Note(NoteKind.DOCUMENT), "note.document", id="no document"),
        pytest.param(
            lambda: Note(NoteKind.DOCUMENT, document=b"\x00" * (MAX_NOTE_FILE_BYTES + 1)),
            "note.document",
            id="document too big",
        ),
    ],
)
def test_bad_notes_are_refused_before_sending_naming_the_field(
    build: Callable[[], object], field: str
) -> None:
    with pytest.raises(ValueError, match="^" + re.escape(field)):
        build()


def test_an_image_of_exactly_the_limit_is_accepted() -> None:
    image = JPEG + b"\x00" * (MAX_NOTE_FILE_BYTES - len(JPEG))
    assert len(Note.photo(image).image or b"") == MAX_NOTE_FILE_BYTES


def test_driver_profile_renders_only_what_is_known() -> None:
    assert DriverProfile("d-1").to_json() == {"external_id": "d-1", "name": "Delivery Driver"}
    full = DriverProfile("d-2", name="Ann", phone="+15551234567", email="a@example.com")
    assert full.to_json() == {
        "external_id": "d-2",
        "name": "Ann",
        "phone": "+15551234567",
        "email": "a@example.com",
    }


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        pytest.param({"external_id": ""}, "user.external_id", id="empty id"),
        pytest.param({"external_id": "x" * 256}, "user.external_id", id="id too long"),
        pytest.param({"external_id": "d", "name": ""}, "user.name", id="empty name"),
        pytest.param({"external_id": "d", "phone": "5551234"}, "user.phone", id="local phone"),
        pytest.param({"external_id": "d", "phone": "+1 555 1234"}, "user.phone", id="spaces"),
    ],
)
def test_bad_driver_profiles_are_refused_naming_the_field(
    kwargs: dict[str, str], field: str
) -> None:
    with pytest.raises(ValueError, match="^" + re.escape(field)):
        DriverProfile(**kwargs)


def test_update_order_parts_render_their_wire_keys() -> None:
    update = WayPointUpdate(StopKind.DROPOFF, eta="2024-01-01T10:00:00Z", note="traffic")
    assert update.to_json() == {
        "way_point_position": 2,
        "eta": "2024-01-01T10:00:00Z",
        "note": "traffic",
    }
    event = IntegrationEvent("HUB", "at the hub")
    assert event.to_json() == {"status_code": "HUB", "description": "at the hub"}

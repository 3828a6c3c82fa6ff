"""The values callers hand to the fleet calls: notes, driver profiles, Update Order parts (pure).

Each is checked when built (ValueError naming the field), before anything is sent, and renders
its own part of a request body (`fields()` / `to_json()`); `bodies.py` puts the bodies together
and `views.py` reads the answers. `OrderRequest` is the merchant side's order to create.
"""

from __future__ import annotations

import base64
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

from driver_agent.core.model import NoteKind, StopKind

if TYPE_CHECKING:
    pass

MAX_NOTE_FILE_BYTES = 10 * 1024 * 1024  # Add Note/POD: "File size limit 10 MB"
MAX_EXTERNAL_ID_CHARS = 255  # Assign Driver: user.external_id
DEFAULT_DRIVER_NAME = "Delivery Driver"  # what the docs say to send when the name is unknown

_JPEG_MAGIC = b"\xff\xd8\xff"
_PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
_PDF_MAGIC = b"%PDF-"
_PHONE = re.compile(r"\+\d{6,15}")  # E.164-like: plus, country code, digits only


@dataclass(frozen=True, slots=True)
class OrderRequest:
    """One order to create on the merchant side: which merchant path and the JSON body."""

    kind: str  # "create_task" or "manhattan"
    external_id: str
    body: dict[str, object]


def image_mime(data: bytes, field: str) -> str:
    """`image/jpeg` or `image/png` from the magic bytes; anything else is refused."""
    if data.startswith(_JPEG_MAGIC):
        return "image/jpeg"
    if data.startswith(_PNG_MAGIC):
        return "image/png"
    raise ValueError(f"{field}: not a JPEG or PNG image (the API takes only those)")


def _document_mime(data: bytes) -> str:
    if data.startswith(_PDF_MAGIC):
        return "application/pdf"
    if data.startswith(_JPEG_MAGIC):
        return "image/jpeg"
    if data.startswith(_PNG_MAGIC):
        return "image/png"
    return "application/octet-stream"


def _check_size(data: bytes, field: str) -> None:
    if not data:
        raise ValueError(f"{field}: empty file")
    if len(data) > MAX_NOTE_FILE_BYTES:
        raise ValueError(
            f"{field}: {len(data)} bytes is over the documented limit of {MAX_NOTE_FILE_BYTES}"
        )


def data_uri(data: bytes, mime: str) -> str:
    """`data:image/jpeg;base64,...` as the Add Note/POD examples send images."""
    return f"data:{mime};base64,{base64.b64encode(data).decode('ascii')}"


@dataclass(frozen=True, slots=True)
class Note:
    """A note or proof of delivery for Add Note/POD, checked when built (before any sending).

    TEXT needs `text`; PHOTO and SIGNATURE need `image` (raw JPEG or PNG bytes, at most 10 MB);
    FORM needs `form`; DOCUMENT needs `document` (raw bytes, at most 10 MB). `text` may go along
    with any kind as a caption.
    """

    kind: NoteKind
    text: str | None = None
    image: bytes | None = None
    form: dict[str, object] | None = None
    document: bytes | None = None
    document_name: str | None = None

    def __post_init__(self) -> None:
        kind = self.kind
        if kind is NoteKind.TEXT and not self.text:
            raise ValueError("note.text: a TaskNote needs text")
        if kind in (NoteKind.PHOTO, NoteKind.SIGNATURE):
            if self.image is None:
                raise ValueError(f"note.image: a {kind.value} needs image bytes")
            _check_size(self.image, "note.image")
            image_mime(self.image, "note.image")
        elif self.image is not None:
            raise ValueError(f"note.image: not allowed on a {kind.value}")
        if kind is NoteKind.FORM and not self.form:
            raise ValueError("note.form: a Form needs at least one field")
        if kind is NoteKind.DOCUMENT:
            if self.document is None:
                raise ValueError("note.document: a Document needs file bytes")
            _check_size(self.document, "note.document")
        elif self.document is not None:
            raise ValueError(f"note.document: not allowed on a {kind.value}")

    @classmethod
    def text_note(cls, text: str) -> Note:
        return cls(NoteKind.TEXT, text=text)

    @classmethod
    def photo(cls, image: bytes, caption: str | None = None) -> Note:
        return cls(NoteKind.PHOTO, text=caption, image=image)

    @classmethod
    def signature(cls, image: bytes, signer: str | None = None) -> Note:
        return cls(NoteKind.SIGNATURE, text=signer, image=image)

    def fields(self) -> dict[str, object]:
        """The note's own fields of the create_note body (`type`, `note`, `image`, ...)."""
        out: dict[str, object] = {"type": self.kind.value}
        if self.text is not None:
            out["note"] = self.text
        if self.image is not None:
            out["image"] = data_uri(self.image, image_mime(self.image, "note.image"))
        if self.form is not None:
            out["form"] = self.form
        if self.document is not None:
            out["document"] = data_uri(self.document, _document_mime(self.document))
            if self.document_name is not None:
                out["document_name"] = self.document_name
        return out


@dataclass(frozen=True, slots=True)
class DriverProfile:
    """The `user` object of Assign Driver for a driver Bringg has not seen yet."""

    external_id: str
    name: str = DEFAULT_DRIVER_NAME
    phone: str | None = None
    email: str | None = None
    job_description: str | None = None
    profile_image: str | None = None

    def __post_init__(self) -> None:
        if not self.external_id:
            raise ValueError("user.external_id: required")
        if len(self.external_id) > MAX_EXTERNAL_ID_CHARS:
            raise ValueError(f"user.external_id: longer than {MAX_EXTERNAL_ID_CHARS} characters")
        if not self.name:
            raise ValueError("user.name: required (send 'Delivery Driver' if unknown)")
        if self.phone is not None and _PHONE.fullmatch(self.phone) is None:
            raise ValueError("user.phone: must be international format, '+<country code>...'")

    def to_json(self) -> dict[str, object]:
        out: dict[str, object] = {"external_id": self.external_id, "name": self.name}
        for key in ("phone", "email", "job_description", "profile_image"):
            value = getattr(self, key)
            if value is not None:
                out[key] = value
        return out


@dataclass(frozen=True, slots=True)
class WayPointUpdate:
    """One `way_points[]` entry of Update Order; times are ISO-8601 strings as on the wire."""

    kind: StopKind
    scheduled_at: str | None = None
    no_earlier_than: str | None = None
    no_later_than: str | None = None
    eta: str | None = None
    note: str | None = None

    def to_json(self) -> dict[str, object]:
        out: dict[str, object] = {"way_point_position": self.kind.position}
        for key in ("scheduled_at", "no_earlier_than", "no_later_than", "eta", "note"):
            value = getattr(self, key)
            if value is not None:
                out[key] = value
        return out


@dataclass(frozen=True, slots=True)
class IntegrationEvent:
    """`integration_event` of Update Order."""

    status_code: str
    description: str = ""

    def to_json(self) -> dict[str, object]:
        return {"status_code": self.status_code, "description": self.description}

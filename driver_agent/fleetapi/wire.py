"""JSON <-> values for the fleet calls: request bodies, note payloads and the `task` view.

Pure and shared: the client builds its request bodies here and parses answers here; the sandbox
may read the same shapes. Body builders return plain dicts ready for `json.dumps` and leave out
every optional field that is None, so Bringg applies its documented defaults (an omitted
`reported_time` means "now"). Bad input raises ValueError naming the field.
"""

from __future__ import annotations

import base64
import math
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

from driver_agent.core.model import NoteKind, StopKind, TaskStatus

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

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


def _check_position(lat: float | None, lng: float | None) -> None:
    if (lat is None) != (lng is None):
        raise ValueError("lat/lng: send both or neither")
    if lat is not None and not (math.isfinite(lat) and -90.0 <= lat <= 90.0):
        raise ValueError(f"lat: {lat!r} is not a latitude")
    if lng is not None and not (math.isfinite(lng) and -180.0 <= lng <= 180.0):
        raise ValueError(f"lng: {lng!r} is not a longitude")


def task_body(
    task_id: int,
    *,
    lat: float | None = None,
    lng: float | None = None,
    reported_time_ms: int | None = None,
    kind: StopKind | None = None,
) -> dict[str, object]:
    """The common body of the per-order calls: task_id, position, time, which stop."""
    _check_position(lat, lng)
    body: dict[str, object] = {"task_id": task_id}
    if lat is not None:
        body["lat"] = lat
        body["lng"] = lng
    if reported_time_ms is not None:
        body["reported_time"] = reported_time_ms
    if kind is not None:
        body["pickup_dropoff_option"] = kind.value
    return body


def location_body(
    *,
    user_external_id: str | None,
    user_id: int | None,
    lat: float,
    lng: float,
    reported_time_ms: int | None,
    started_tasks: Sequence[int],
) -> dict[str, object]:
    """Update Driver Location; kept flat and cheap, it is the hot call."""
    if user_external_id is None and user_id is None:
        raise ValueError("user_external_id/user_id: one of them is required")
    _check_position(lat, lng)
    body: dict[str, object] = {"lat": lat, "lng": lng}
    if user_external_id is not None:
        body["user_external_id"] = user_external_id
    if user_id is not None:
        body["user_id"] = user_id
    if reported_time_ms is not None:
        body["reported_time"] = reported_time_ms
    if started_tasks:
        body["started_tasks"] = [{"task_id": task_id} for task_id in started_tasks]
    return body


def cluster_body(
    task_ids: Sequence[int],
    *,
    kind: StopKind,
    lat: float | None,
    lng: float | None,
    reported_time_ms: int | None,
) -> dict[str, object]:
    if not task_ids:
        raise ValueError("task_ids: at least one task id is required")
    _check_position(lat, lng)
    body: dict[str, object] = {"task_ids": list(task_ids), "pickup_dropoff_option": kind.value}
    if lat is not None:
        body["lat"] = lat
        body["lng"] = lng
    if reported_time_ms is not None:
        body["reported_time"] = reported_time_ms
    return body


@dataclass(frozen=True, slots=True)
class WayPointView:
    """A way point of a `task` answer; everything but `id` is optional on the wire."""

    id: int
    position: int | None = None
    lat: float | None = None
    lng: float | None = None
    checkin_time: str | None = None
    checkout_time: str | None = None
    done: bool | None = None


@dataclass(frozen=True, slots=True)
class TaskView:
    """What the driver needs of a `task` answer: strict on `id`/`status`, lenient on the rest."""

    task_id: int
    status: TaskStatus
    user_id: int | None = None
    active_way_point_id: int | None = None
    way_points: tuple[WayPointView, ...] = ()
    external_id: str | None = None

    def way_point(self, kind: StopKind) -> WayPointView | None:
        for way_point in self.way_points:
            if way_point.position == kind.position:
                return way_point
        return None


def _req_int(value: object, field: str) -> int:
    if value is None:
        raise ValueError(f"{field}: missing")
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise ValueError(f"{field}: expected an integer, got {type(value).__name__}")
    try:
        return int(value)
    except ValueError:
        raise ValueError(f"{field}: expected an integer, got {value!r}") from None


def _opt_int(value: object) -> int | None:
    """Lenient: optional integers that do not parse are treated as absent."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return int(value)
    return None


def _opt_float(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        return None
    try:
        number = float(value)
    except ValueError:
        return None
    return number if math.isfinite(number) else None


def _opt_str(value: object) -> str | None:
    return value if isinstance(value, str) else None


def parse_way_point(raw: object, field: str) -> WayPointView:
    if not isinstance(raw, dict):
        raise ValueError(f"{field}: expected an object")
    way_point_id = _req_int(raw.get("id"), f"{field}.id")
    done = raw.get("done")
    return WayPointView(
        id=way_point_id,
        position=_opt_int(raw.get("position")),
        lat=_opt_float(raw.get("lat")),
        lng=_opt_float(raw.get("lng")),
        checkin_time=_opt_str(raw.get("checkin_time")),
        checkout_time=_opt_str(raw.get("checkout_time")),
        done=done if isinstance(done, bool) else None,
    )


def parse_task(raw: object) -> TaskView:
    """A `task` object from a fleet answer; ValueError names the field that is wrong."""
    if not isinstance(raw, dict):
        raise ValueError("task: expected an object")
    task_id = _req_int(raw.get("id"), "task.id")
    status_code = _req_int(raw.get("status"), "task.status")
    try:
        status = TaskStatus(status_code)
    except ValueError:
        raise ValueError(f"task.status: unknown status code {status_code}") from None
    raw_way_points = raw.get("way_points")
    way_points: tuple[WayPointView, ...] = ()
    if isinstance(raw_way_points, list):
        way_points = tuple(
            parse_way_point(item, f"task.way_points[{index}]")
            for index, item in enumerate(raw_way_points)
        )
    return TaskView(
        task_id=task_id,
        status=status,
        user_id=_opt_int(raw.get("user_id")),
        active_way_point_id=_opt_int(raw.get("active_way_point_id")),
        way_points=way_points,
        external_id=_opt_str(raw.get("external_id")),
    )


def parse_task_answer(body: Mapping[str, object]) -> TaskView:
    """`{"success": true, "task": {...}}` -> TaskView."""
    if "task" not in body:
        raise ValueError("task: missing from the answer")
    return parse_task(body["task"])


def parse_id_list(body: Mapping[str, object], key: str) -> list[int]:
    """Cluster answers: `{"success": true, "way_points_checked_in": [ids...]}`."""
    raw = body.get(key)
    if raw is None:
        return []
    if not isinstance(raw, list):
        raise ValueError(f"{key}: expected a list of ids")
    return [_req_int(item, f"{key}[{index}]") for index, item in enumerate(raw)]


def error_message(body: object, fallback: str) -> str:
    """The server's reason from an error body: `message`, `title` or OAuth `error`."""
    if isinstance(body, dict):
        for key in ("message", "title", "error_description", "error_message", "error"):
            value = body.get(key)
            if isinstance(value, str) and value:
                return value
    return fallback

"""`create_note`: text, photo, signature, form and document notes, keyed by their
`external_id` so that a repeat answers the note created the first time (pure).

Images and documents come as base64 data URLs within `max_note_bytes`; a photo or a signature
must be a JPEG or PNG whose bytes say so.
"""

from __future__ import annotations

import base64
import binascii
import re

from driver_agent.core.model import TaskStatus
from driver_agent.sandbox.fleet_checks import requested_stop
from driver_agent.sandbox.records import iso_ms
from driver_agent.sandbox.requests import NOTE_KEY_WORDS, NoteKey, NoteKind, decode_api, fix
from driver_agent.sandbox.world import (
    JsonDict,
    Reply,
    Violation,
    World,
    missing,
    refused,
)

NOTE_TYPES = frozenset(
    {"TaskNote", "TaskPhoto", "Signature", "Form", "Document", "HtmlTaskNote", "FormattedTaskNote"}
)
NOTE_KIND_WORDS = {"type": f"type must be one of {', '.join(sorted(NOTE_TYPES))}"}
TEXT_NOTE_TYPES = frozenset({"TaskNote", "HtmlTaskNote", "FormattedTaskNote"})
IMAGE_MAGIC = {"image/jpeg": b"\xff\xd8\xff", "image/png": b"\x89PNG\r\n\x1a\n"}
_DATA_URL = re.compile(r"^data:(?P<mime>[\w.+-]+/[\w.+-]+);base64,(?P<data>.*)$", re.DOTALL)


def _size_text(limit: int) -> str:
    mb = 1024 * 1024
    return f"{limit // mb} MB" if limit % mb == 0 else f"{limit} bytes"


def _decode_data_url(value: object, key: str, limit: int, *, images_only: bool) -> int:
    """Validate a base64 data URL; returns the decoded size in bytes."""
    if not isinstance(value, str):
        raise missing(key)
    m = _DATA_URL.match(value)
    if m is None:
        raise Violation(400, f"{key} must be a data URL: data:image/jpeg;base64,... or image/png")
    mime, data = m["mime"], m["data"]
    if images_only and mime not in IMAGE_MAGIC:
        raise Violation(400, f"{key}: only JPEG and PNG images are accepted, got {mime}")
    if len(data) * 3 // 4 > limit + 3:
        raise Violation(400, f"{key} is larger than the limit of {_size_text(limit)}")
    try:
        raw = base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError):
        raise Violation(400, f"{key} is not valid base64") from None
    if len(raw) > limit:
        raise Violation(400, f"{key} is larger than the limit of {_size_text(limit)}")
    magic = IMAGE_MAGIC.get(mime)
    if magic is not None and not raw.startswith(magic):
        raise Violation(400, f"{key}: the data is not a {mime.split('/')[1].upper()} image")
    return len(raw)


def create_note(world: World, body: JsonDict, now_s: float) -> Reply:
    order = world.order(body.get("task_id"))
    if order.status is TaskStatus.CANCELLED:
        raise refused("Can not add a note of a cancelled task")
    key = decode_api(body, NoteKey, NOTE_KEY_WORDS).external_id
    if key is not None and not 1 <= len(key) <= 255:
        raise Violation(400, NOTE_KEY_WORDS["external_id"])
    if key is not None and key in order.note_ids:
        order.repeated("create_note")
        note_id = order.note_ids[key]
        existing = next(n for wp in order.way_points for n in wp.notes if n["id"] == note_id)
        return Reply(200, {"success": True, "task": existing})
    kind = decode_api(body, NoteKind, NOTE_KIND_WORDS).type
    if kind not in NOTE_TYPES:
        raise Violation(400, NOTE_KIND_WORDS["type"])
    wanted = requested_stop(body)
    visited = [wp for wp in order.way_points if wp.checkin_time is not None]
    if not visited:
        raise refused("Can not add a note before the driver arrived at a stop")
    if wanted is not None:
        wp = order.way_points[0] if wanted == 1 else order.dropoff
        if wp.checkin_time is None:
            raise refused(f"Can not add a note at {wp.option} before checking in there")
    else:
        wp = visited[-1]
    limit = world.settings.max_note_bytes
    text = body.get("note")
    size: int | None = None
    if kind in TEXT_NOTE_TYPES:
        if not isinstance(text, str) or not text.strip():
            raise Violation(400, "Can't create eempty message", rc=1)
    elif kind in ("TaskPhoto", "Signature"):
        size = _decode_data_url(body.get("image"), "image", limit, images_only=True)
    elif kind == "Form":
        form = body.get("form", text)
        if not isinstance(form, dict | list | str) or not form:
            raise missing("form")
    else:  # Document
        field = next((k for k in ("document", "file", "image") if k in body), "document")
        if isinstance(body.get("url"), str) and field not in body:
            size = None
        else:
            size = _decode_data_url(body.get(field), field, limit, images_only=False)
    at = fix(body)
    lat, lng = at.lat, at.lng
    created = iso_ms(at.ms(now_s) / 1000)
    note_id = world.note_id()
    note: JsonDict = {
        "id": note_id,
        "task_id": order.id,
        "way_point_id": wp.id,
        "type": kind,
        "note": text if isinstance(text, str) else None,
        "form": body.get("form") if kind == "Form" else None,
        "url": body.get("url") or (f"sandbox://notes/{note_id}" if size is not None else None),
        "size_bytes": size,
        "user_id": order.user_id,
        "created_at": created,
        "updated_at": created,
        "lat": lat,
        "lng": lng,
        "pending_upload": False,
        "external_id": key if key is not None else str(note_id),
    }
    wp.notes.append(note)
    if key is not None:
        order.note_ids[key] = note_id
    return Reply(200, {"success": True, "task": note})  # seed 001: the note under "task"

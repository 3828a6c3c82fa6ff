"""The developer API's notes: Create Note and Update Note (pure).

A note belongs to a way point of an order (`way_point_id`, default: the active way point, or
the last one of a finished order). Types as the seed lists them: TaskNote (the default),
HtmlTaskNote (a `url`), FormattedTaskNote, Form (`form` or `note`), TaskPhoto and Signature (a
`url` or an `image`). A text note needs text ("Can't create eempty message", the seed's words);
a done or cancelled order takes no note and no note change.
"""

from __future__ import annotations

from driver_agent.sandbox.devapi_order_edits import add_note
from driver_agent.sandbox.devapi_orders import order_of, refuse_finished
from driver_agent.sandbox.devapi_world import (
    DevWorld,
    int_param,
    not_found,
    opt_int,
    opt_number,
    opt_str,
)
from driver_agent.sandbox.records import iso_ms
from driver_agent.sandbox.world import JsonDict, Reply, Violation

NOTE_TYPES = ("TaskNote", "HtmlTaskNote", "FormattedTaskNote", "Form", "TaskPhoto", "Signature")
TEXT_TYPES = ("TaskNote", "HtmlTaskNote", "FormattedTaskNote")
EMPTY_MESSAGE = "Can't create eempty message"


def _size(value: object, name: str, limit: int) -> None:
    if value is None:
        return
    if not isinstance(value, str):
        raise Violation(400, f"{name} must be a string", rc=0)
    if len(value) > limit:
        raise Violation(400, f"{name} is larger than {limit} bytes", rc=0)


def create_note(dev: DevWorld, body: JsonDict, now_s: float) -> Reply:
    order = order_of(dev, body, "task_id")
    kind = opt_str(body, "type") or "TaskNote"
    if kind not in NOTE_TYPES:
        raise Violation(400, f"type must be one of {', '.join(NOTE_TYPES)}", rc=0)
    limit = dev.world.settings.max_note_bytes
    text = opt_str(body, "note", limit)
    url = opt_str(body, "url", 4096)
    _size(body.get("image"), "image", limit)
    form = body.get("form")
    if kind in TEXT_TYPES and not (text and text.strip()):
        raise Violation(400, EMPTY_MESSAGE, rc=1)
    if kind == "HtmlTaskNote" and not url:
        raise Violation(400, "param is missing or the value is empty: url", rc=0)
    if kind == "Form" and not (form or text):
        raise Violation(400, "param is missing or the value is empty: form", rc=0)
    if form is not None and not isinstance(form, dict | list | str):
        raise Violation(400, "form must be an object, an array or a string", rc=0)
    if kind in ("TaskPhoto", "Signature") and not (url or body.get("image")):
        raise Violation(400, "param is missing or the value is empty: url", rc=0)
    wp_id = opt_int(body, "way_point_id")
    user_id = opt_int(body, "user_id")
    lat, lng = opt_number(body, "lat"), opt_number(body, "lng")
    if wp_id is None:
        wp_id = order.active_way_point.id if not order.finished else order.dropoff.id
    elif not any(wp.id == wp_id for wp in order.way_points):
        raise not_found()
    refuse_finished(order)
    if user_id is not None and user_id not in dev.users:
        raise not_found()
    author = user_id if user_id is not None else order.user_id
    given: JsonDict = {"note": text, "type": kind, "url": url, "form": form, "lat": lat,
                       "lng": lng, "user_id": author}  # fmt: skip
    note = add_note(dev, order, given, wp_id, now_s)
    if body.get("image") is not None and url is None:
        note["url"] = f"sandbox://notes/{note['id']}"
    order.transitions.append(f"note:{kind}")
    return Reply(200, {"success": True, "task": note})  # the seed answers the note as "task"


def update_note(dev: DevWorld, body: JsonDict, now_s: float) -> Reply:
    note_id = int_param(body, "id")
    found = dev.notes.get(note_id)
    if found is None:
        raise not_found()
    order_id, note = found
    text = opt_str(body, "note", dev.world.settings.max_note_bytes)
    url = opt_str(body, "url", 4096)
    if "note" in body and not (text and text.strip()):
        raise Violation(400, EMPTY_MESSAGE, rc=1)
    refuse_finished(dev.world.orders[order_id])
    if text is not None:
        note["note"] = text
    if url is not None:
        note["url"] = url
    note["updated_at"] = iso_ms(now_s)
    return Reply(200, {"task_note": note, "success": True})


NOTE_HANDLERS = {"create_note": create_note, "update_note": update_note}

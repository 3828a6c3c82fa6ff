"""The fleet API's answers as typed values: the `task` view, its way points, cluster id lists.

Pure. msgspec decodes and checks in one pass: `id` and `status` are required, the rest is
optional; numbers sent as strings ("77", "40.8") are read as numbers, as Bringg sometimes sends
them; unknown fields are ignored. A malformed answer raises ValueError naming the field and the
value (`task.way_points[0].id: missing (required)`), which the client turns into an ApiError.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, TypeVar

import msgspec

from driver_agent.core.model import StopKind, TaskStatus
from driver_agent.core.typed import describe, join

if TYPE_CHECKING:
    from collections.abc import Mapping

T = TypeVar("T")

Latitude = Annotated[float, msgspec.Meta(ge=-90.0, le=90.0)]
Longitude = Annotated[float, msgspec.Meta(ge=-180.0, le=180.0)]


class WayPointView(msgspec.Struct, frozen=True):
    """A way point of a `task` answer; everything but `id` is optional on the wire."""

    id: int
    position: int | None = None
    lat: Latitude | None = None
    lng: Longitude | None = None
    checkin_time: str | None = None
    checkout_time: str | None = None
    done: bool | None = None


class TaskView(msgspec.Struct, frozen=True):
    """What the driver needs of a `task` answer: strict on `id`/`status`, lenient on the rest."""

    task_id: int = msgspec.field(name="id")
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


def read(raw: object, type_: type[T], where: str) -> T:
    """`raw` (decoded JSON) as a `type_`; ValueError `where.field: what was wrong` otherwise."""
    try:
        return msgspec.convert(raw, type_, strict=False)
    except msgspec.ValidationError as exc:
        place, message = describe(str(exc), raw)
        raise ValueError(f"{join(where, place)}: {message}") from None


def parse_task(raw: object) -> TaskView:
    """A `task` object from a fleet answer; ValueError names the field that is wrong."""
    return read(raw, TaskView, "task")


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
    return read(raw, list[int], key)


def error_message(body: object, fallback: str) -> str:
    """The server's reason from an error body: `message`, `title` or OAuth `error`."""
    if isinstance(body, dict):
        for key in ("message", "title", "error_description", "error_message", "error"):
            value = body.get(key)
            if isinstance(value, str) and value:
                return value
    return fallback

"""The request bodies the sandbox checks, as msgspec Structs, and how a wrong one is answered
(pure).

A handler decodes the group of fields it is about to use, at the point its checks always ran, so
that a refusal by state still comes before a complaint about a field. Unknown keys are ignored,
as Bringg does. A field of the wrong type is a 400 naming the field:

- on Bringg's API (`decode_api`) in the sandbox's documented words, which the client relies on:
  `lat must be a number`, `way_points[0] must be an object`, `reason_id must be an integer`;
- on the sandbox's own admin endpoints (`decode`) in `core.typed`'s words, with the value:
  `status: expected an integer or null, got 'x' (a string)`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import TypeVar

import msgspec

from driver_agent.core.typed import convert
from driver_agent.sandbox.world import JsonDict, Violation

T = TypeVar("T")

_EXPECTED = re.compile(r"^expected (?P<want>.+?)(?: or null)?, got ")
_ANY_INDEX = re.compile(r"\[\d+\]")
_KINDS = {
    "a table/object": "an object",
    "a list": "an array",
    "a string": "a string",
    "a number": "a number",
    "an integer": "an integer",
    "true or false": "a boolean",
}


def decode(body: JsonDict, type_: type[T]) -> T:
    """An admin body as a `type_`; a wrong field is a 400 naming it and its value."""

    def error(where: str, message: str) -> Violation:
        return Violation(400, f"{where}: {message}")

    return convert(body, type_, error=error)


def decode_api(
    body: object, type_: type[T], words: Mapping[str, str] | None = None, *, where: str = ""
) -> T:
    """An API body as a `type_`; a wrong field is a 400 saying `<field> must be <kind>`, or
    `words[field]` where the documented message says more (`[]` stands for any list index,
    `{where}` for the field with its indices); `where` is the body's own place, if nested."""

    def error(where: str, message: str) -> Violation:
        said = words and words.get(_ANY_INDEX.sub("[]", where))
        if said:
            return Violation(400, said.format(where=where))
        expected = _EXPECTED.match(message)
        if expected and expected["want"] in _KINDS:
            return Violation(400, f"{where} must be {_KINDS[expected['want']]}")
        return Violation(400, f"{where}: {message}")

    return convert(body, type_, where=where, error=error)


class Place(msgspec.Struct, frozen=True):
    """A merchant way point's coordinates; missing ones are geocoded from its address."""

    lat: float | None = None
    lng: float | None = None


class Fix(msgspec.Struct, frozen=True):
    """Where and when a fleet call happened; `reported_time` defaults to its receipt."""

    lat: float | None = None
    lng: float | None = None
    reported_time: int | float | None = None

    def ms(self, now_s: float) -> int:
        return int(now_s * 1000) if self.reported_time is None else int(self.reported_time)


FIX_WORDS = {"reported_time": "reported_time must be an integer epoch in milliseconds"}


def fix(body: JsonDict) -> Fix:
    return decode_api(body, Fix, FIX_WORDS)


class Cost(msgspec.Struct, frozen=True):
    """The order facts a driver's call may change along the way."""

    delivery_cost: float | None = None
    green_delivery: bool | None = None


def cost(body: JsonDict) -> Cost:
    return decode_api(body, Cost)


def missing_words(*fields: str) -> dict[str, str]:
    """Bringg's words for a mandatory field that is absent, empty or of the wrong type."""
    return {f: f"param is missing or the value is empty: {f}" for f in fields}


class User(msgspec.Struct, frozen=True):
    """`assign_driver`'s `user`: the driver, created on first sight; the profile fields are kept
    as given (UNSET: not given)."""

    external_id: str | None = None
    name: str | None = None
    phone: str | msgspec.UnsetType | None = msgspec.UNSET
    job_description: object = msgspec.UNSET
    profile_image: object = msgspec.UNSET
    email: object = msgspec.UNSET

    def profile(self) -> dict[str, object]:
        given = {
            "job_description": self.job_description,
            "profile_image": self.profile_image,
            "phone": self.phone,
            "email": self.email,
        }
        return {k: v for k, v in given.items() if v is not msgspec.UNSET}


class Assignee(msgspec.Struct, frozen=True):
    user: User | None = None


ASSIGNEE_WORDS = {
    **missing_words("user.external_id", "user.name"),
    "user.phone": "user.phone must be in international format: +<country code>...",
}


class CancelReason(msgspec.Struct, frozen=True):
    reason_id: int | None = None
    reason: str | None = None


class WayPointChange(msgspec.Struct, frozen=True):
    """One entry of `update_task`'s `way_points`; the dates are read by `records.parse_date`."""

    way_point_position: int | None = None
    scheduled_at: object = None
    no_earlier_than: object = None
    no_later_than: object = None
    eta: object = None


class TaskUpdate(msgspec.Struct, frozen=True):
    way_points: list[WayPointChange] = []
    integration_event: dict[str, object] | None = None
    fleet_extras: dict[str, object] | None = None


TASK_UPDATE_WORDS = {"way_points[].way_point_position": "{where} must be 1 or 2"}


class Location(msgspec.Struct, frozen=True):
    """`update_driver_location`: a position is required."""

    lat: float | None = None
    lng: float | None = None
    reported_time: int | float | None = None


LOCATION_WORDS = {**FIX_WORDS, "lat": "lat must be a number", "lng": "lng must be a number"}


class NoteKey(msgspec.Struct, frozen=True):
    """`create_note`'s `external_id`: the note's key within its order."""

    external_id: str | None = None


NOTE_KEY_WORDS = {"external_id": "external_id must be a string of 1 to 255 characters"}


class NoteKind(msgspec.Struct, frozen=True):
    type: str = "TaskNote"


class Cluster(msgspec.Struct, frozen=True):
    task_ids: list[object] | None = None


class Quantity(msgspec.Struct, frozen=True):
    """The admin's inventory change: the new `original_quantity`."""

    original_quantity: int | None = None

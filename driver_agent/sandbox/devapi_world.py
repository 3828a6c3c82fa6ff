"""What the developer API remembers next to the orders: users, shifts, home events and delivery
blocks, their ids, and the parameter checks every service shares (pure).

Errors in the seed's words: an unknown record is HTTP 404 `ActiveRecord::RecordNotFound` (rc 0),
a missing parameter HTTP 400 `param is missing or the value is empty: <name>` (rc 0), a call the
state does not allow HTTP 200 with `success: false` and the seed's message.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass, field

from driver_agent.sandbox.records import iso_ms
from driver_agent.sandbox.world import JsonDict, Violation, World

_DIGITS = re.compile(r"[0-9]{1,18}")
RECORD_NOT_FOUND = "ActiveRecord::RecordNotFound"


def not_found() -> Violation:
    return Violation(404, RECORD_NOT_FOUND, rc=0)


def missing(name: str) -> Violation:
    return Violation(400, f"param is missing or the value is empty: {name}", rc=0)


def refused(message: str, rc: int | None = 1) -> Violation:
    """A well-formed call the state does not allow: HTTP 200, success false."""
    return Violation(200, message, rc=rc)


def as_int(value: object, name: str) -> int:
    """An id as the seed sends it: a number, or digits in a string (Update Order's example)."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and _DIGITS.fullmatch(value.strip()):
        return int(value.strip())
    raise Violation(400, f"{name} must be an integer", rc=0)


def int_param(body: JsonDict, name: str) -> int:
    """A mandatory integer parameter (absent, null or "" is missing)."""
    value = body.get(name)
    if value is None or value == "":
        raise missing(name)
    return as_int(value, name)


def opt_int(body: JsonDict, name: str) -> int | None:
    value = body.get(name)
    return None if value is None or value == "" else as_int(value, name)


def opt_str(body: JsonDict, name: str, max_len: int = 255) -> str | None:
    value = body.get(name)
    if value is None:
        return None
    if isinstance(value, int | float) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str):
        raise Violation(400, f"{name} must be a string", rc=0)
    if len(value) > max_len:
        raise Violation(400, f"{name} is longer than {max_len} characters", rc=0)
    return value


def opt_bool(body: JsonDict, name: str) -> bool | None:
    """true/false, 0/1 or their strings, as the seed allows ("false or 0")."""
    value = body.get(name)
    if value is None:
        return None
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    if isinstance(value, str) and value.strip().lower() in ("true", "false", "0", "1"):
        return value.strip().lower() in ("true", "1")
    raise Violation(400, f"{name} must be true or false (or 1 or 0)", rc=0)


def opt_number(body: JsonDict, name: str) -> float | None:
    value = body.get(name)
    if value is None or value == "":
        return None
    if isinstance(value, int | float) and not isinstance(value, bool):
        number = float(value)
    elif isinstance(value, str):
        try:
            number = float(value)
        except ValueError:
            raise Violation(400, f"{name} must be a number", rc=0) from None
    else:
        raise Violation(400, f"{name} must be a number", rc=0)
    if number != number or number in (float("inf"), float("-inf")):
        raise Violation(400, f"{name} must be a number", rc=0)
    return number


def int_list(value: object, name: str) -> list[int]:
    if not isinstance(value, list):
        raise Violation(400, f"{name} must be an array of integers", rc=0)
    return [as_int(v, f"{name}[{i}]") for i, v in enumerate(value)]


def _iso(t_s: float | None) -> str | None:
    return None if t_s is None else iso_ms(t_s)


@dataclass(slots=True)
class Shift:
    id: int
    user_id: int
    start_s: float
    end_s: float | None = None

    def view(self) -> JsonDict:
        return {
            "id": self.id,
            "user_id": self.user_id,
            "start_shift": iso_ms(self.start_s),
            "end_shift": None if self.end_s is None else iso_ms(self.end_s),
        }


@dataclass(slots=True)
class User:
    id: int
    uuid: str
    name: str
    created_s: float
    email: str | None = None
    phone: str | None = None
    external_id: str | None = None
    job_description: str | None = None
    team_ids: list[int] = field(default_factory=list)
    driver: bool = True
    admin: bool = False
    dispatcher: bool = False
    home_address: str | None = None
    home_lat: float | None = None
    home_lng: float | None = None
    lat: float | None = None  # the last position a call gave
    lng: float | None = None
    at_home: bool = False
    shift: Shift | None = None  # the open shift
    home_events: list[JsonDict] = field(default_factory=list)

    def view(self) -> JsonDict:
        """The `user` object (the seed's fields that the sandbox knows; never a password)."""
        return {
            "id": self.id,
            "uuid": self.uuid,
            "name": self.name,
            "email": self.email,
            "phone": self.phone,
            "external_id": self.external_id,
            "job_description": self.job_description,
            "team_ids": list(self.team_ids),
            "driver": self.driver,
            "admin": self.admin,
            "dispatcher": self.dispatcher,
            "status": "online" if self.shift is not None else "offline",
            "active_shift_id": None if self.shift is None else self.shift.id,
            "at_home": self.at_home,
            "home_address": self.home_address,
            "home_lat": self.home_lat,
            "home_lng": self.home_lng,
            "lat": self.lat,
            "lng": self.lng,
            "access_token": None,
            "authentication_token": None,
            "created_at": iso_ms(self.created_s),
            "updated_at": iso_ms(self.created_s),
        }


@dataclass(slots=True)
class DeliveryBlock:
    id: int
    team_id: int
    name: str
    description: str | None
    start_s: float
    end_s: float
    original_capacity: int
    user_ids: list[int] = field(default_factory=list)
    break_start_s: float | None = None
    break_end_s: float | None = None
    schedule_ids: dict[int, int] = field(default_factory=dict)  # user id -> schedule row id

    def running(self, now_s: float) -> bool:
        return self.start_s <= now_s < self.end_s


@dataclass
class DevWorld:
    """The developer API's records; orders stay in the shared `World`."""

    world: World
    merchant_id: int = 11271
    users: dict[int, User] = field(default_factory=dict)
    users_by_external_id: dict[str, int] = field(default_factory=dict)
    shifts: list[Shift] = field(default_factory=list)
    blocks: dict[int, DeliveryBlock] = field(default_factory=dict)
    order_teams: dict[int, list[int]] = field(default_factory=dict)
    ended_by_checkout: set[int] = field(default_factory=set)  # orders End Order may acknowledge
    notes: dict[int, tuple[int, JsonDict]] = field(default_factory=dict)  # note id -> (order, note)

    def __post_init__(self) -> None:
        rng = random.Random(f"developer-api-ids:{self.world.settings.seed}")
        self._next_shift_id = rng.randrange(1_000_000, 9_000_000)
        self._next_block_id = rng.randrange(1_000, 9_000)
        self._next_schedule_id = rng.randrange(100_000, 900_000)

    def shift_id(self) -> int:
        self._next_shift_id += 1
        return self._next_shift_id

    def block_id(self) -> int:
        self._next_block_id += 1
        return self._next_block_id

    def schedule_id(self) -> int:
        self._next_schedule_id += 1
        return self._next_schedule_id

    def user(self, user_id: int) -> User:
        found = self.users.get(user_id)
        if found is None:
            raise not_found()
        return found

    def block_user(self, user_id: int) -> User:
        """A user named by a delivery-block call: the seed's own not-found wording."""
        found = self.users.get(user_id)
        if found is None:
            raise Violation(
                404, f"Couldn't find user with id {user_id}, merchant_id {self.merchant_id}"
            )
        return found

    def block(self, block_id: int) -> DeliveryBlock:
        found = self.blocks.get(block_id)
        if found is None:
            raise Violation(
                404,
                f"Couldn't find delivery block with id {block_id}, merchant_id {self.merchant_id}",
            )
        return found

    def block_view(self, block: DeliveryBlock) -> JsonDict:
        users = [self.users[u] for u in block.user_ids if u in self.users]
        return {
            "id": block.id,
            "name": block.name,
            "description": block.description,
            "start_time": iso_ms(block.start_s),
            "end_time": iso_ms(block.end_s),
            "break_start_time": None
            if block.break_start_s is None
            else iso_ms(block.break_start_s),
            "break_end_time": None if block.break_end_s is None else iso_ms(block.break_end_s),
            "capacity": len(block.user_ids),
            "original_capacity": block.original_capacity,
            "delivery_block_schedule_id": None,
            "user_ids": list(block.user_ids),
            "team_id": block.team_id,
            "ical": None,
            "users": [{"id": u.id, "name": u.name, "email": u.email} for u in users],
        }

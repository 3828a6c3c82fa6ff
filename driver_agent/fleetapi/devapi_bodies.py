"""The developer API's request bodies (seed 001): one msgspec Struct per service, built here (pure).

Field names and types are the seed's "Body Params" (and "Query Params" for the GETs). Optional
fields left at None are not sent (`omit_defaults`), so Bringg applies its own defaults. `body()`
checks a Struct (ValueError naming the field) and returns the plain dict the session sends; for
a GET, `query()` turns it into the query string's parameters (a list as Rails reads it:
`team_ids[]=1&team_ids[]=2`).

Two of the seed's rules live here: Cancel Order names the order by `id` or `external_id` (one
of them is required), and Update Order's `user_id` assigns the order ("If user_id is not
input, the order is unassigned": a caller that updates other fields passes the driver again).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import msgspec

if TYPE_CHECKING:
    from collections.abc import Mapping

Json = dict[str, object]

NOTE_TYPES = ("TaskNote", "FormattedTaskNote", "Form", "HtmlTaskNote", "Signature", "TaskPhoto")
RECURRING = ("all", "future")  # Update / Delete a Delivery Block: which blocks of a series


class Body(msgspec.Struct, omit_defaults=True, kw_only=True, forbid_unknown_fields=True):
    """A request body: unset optional fields are left out of the JSON."""


class CreateOrderBody(Body):
    """Create Order (Task): a customer (new, or `customer_id`), way points, teams, a driver."""

    title: str | None = None
    external_id: str | None = None
    scheduled_at: str | None = None
    customer: Json | None = None
    customer_id: int | None = None
    teams: list[int] | None = None
    user_id: int | None = None
    way_points: list[Json] | None = None


class CreateUserBody(Body):
    name: str
    company_id: int | None = None
    merchant_id: int | None = None
    team_ids: list[int] | None = None
    email: str | None = None
    password: str | None = None
    phone: str | None = None
    external_id: str | None = None
    job_description: str | None = None
    admin: bool | None = None
    driver: bool | None = None
    dispatcher: bool | None = None
    home_address: str | None = None
    home_lat: float | None = None
    home_lng: float | None = None


class UserIdBody(Body):
    """Start Shift and End Shift."""

    user_id: int


class HomeEventBody(Body):
    """Driver Home Events: `id` is the driver's."""

    id: int
    at_home: bool


class NoParamsBody(Body):
    """Open Orders and Get Shifts Schedule ("Requires no parameters")."""


class OrderIdBody(Body):
    """Get Order; and Start, Arrived (check-in), Left (check-out), End Order as the seed shows
    them."""

    id: int


class OrderStepBody(OrderIdBody):
    """A driver's step (Start, Arrived, Left, End): the seed's `id`, and what a driver app adds
    and the sandbox checks: the caller (`user_id`, the order's driver), the way point it means
    (`way_point_id`, the active one) and where the driver is (`lat`/`lng`; the developer API has
    no location call)."""

    user_id: int | None = None
    way_point_id: int | None = None
    lat: float | None = None
    lng: float | None = None


class UpdateOrderBody(Body):
    id: int
    user_id: int | None = None
    title: str | None = None
    external_id: str | None = None
    external_user_id: str | None = None
    status: int | None = None
    ready_to_execute: bool | None = None
    note: str | None = None
    priority: int | None = None
    customer_id: int | None = None
    merchant_id: int | None = None
    delivery_price: float | None = None
    total_price: float | None = None
    left_to_be_paid: float | None = None
    payment_method: int | None = None
    team_ids: list[int] | None = None
    tag_id: int | None = None
    task_type_id: int | None = None
    way_points: list[Json] | None = None


class CancelOrderBody(Body):
    id: int | None = None
    external_id: str | None = None
    reason_id: int | None = None
    reason: str | None = None


class CreateNoteBody(Body):
    task_id: int
    note: str
    way_point_id: int | None = None
    type: str | None = None
    url: str | None = None
    user_id: int | None = None
    # not in the seed's field list: a TaskPhoto / Signature taken in the app, as a data URI
    # (the sandbox takes it; a real account may want `url` to an uploaded file instead)
    image: str | None = None


class UpdateNoteBody(Body):
    id: int
    note: str | None = None
    url: str | None = None


class TeamIdsQuery(Body):
    """Get Real-time Driver Availability (query parameters)."""

    team_ids: list[int]


class BlockIdBody(Body):
    """Get a Delivery Block (query) and Delete a Delivery Block."""

    id: int
    recurring: str | None = None


class BlockFields(Body):
    name: str | None = None
    description: str | None = None
    team_id: int | None = None
    original_capacity: int | None = None
    start_time: str | None = None
    end_time: str | None = None
    break_start_time: str | None = None
    break_end_time: str | None = None


class CreateBlockBody(BlockFields):
    user_ids: list[int] | None = None


class UpdateBlockBody(BlockFields, kw_only=True):
    id: int
    recurring: str | None = None


class BlockUserBody(Body):
    """Assign and Unassign a Driver to / from a Delivery Block."""

    delivery_block_id: int
    user_id: int


class DriverBlocksBody(Body):
    """Drivers Delivery Blocks: the range in epoch seconds."""

    user_ids: list[int]
    start_time: int
    end_time: int


class TeamBlocksBody(Body):
    """Team Delivery Blocks: the range in epoch seconds."""

    team_id: int
    start_time: int
    end_time: int


class CreateCustomerFields(Body):
    """Create Customer's own fields (the partner API adds and signs the credentials)."""

    name: str
    phone: str | None = None
    email: str | None = None
    address: str | None = None
    address_second_line: str | None = None
    city: str | None = None
    state: str | None = None
    zipcode: str | None = None
    lat: float | None = None
    lng: float | None = None
    external_id: str | None = None


_as_dict = msgspec.to_builtins


def body(value: Body) -> Json:
    """The plain dict to send, after the seed's rules; ValueError names the field."""
    check(value)
    result: Json = _as_dict(value)
    return result


def query(value: Body) -> list[tuple[str, str]]:
    """A GET's query parameters: scalars as text, lists as repeated `name[]`."""
    params: list[tuple[str, str]] = []
    for key, item in body(value).items():
        if isinstance(item, list):
            params.extend((f"{key}[]", _text(element)) for element in item)
        else:
            params.append((key, _text(item)))
    return params


def _text(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def check(value: Body) -> None:
    """The rules a Struct's types do not carry; ValueError `field: what is wrong`."""
    fields: Mapping[str, object] = {f: getattr(value, f) for f in value.__struct_fields__}
    for name, item in fields.items():
        if isinstance(item, float) and not math.isfinite(item):
            raise ValueError(f"{name}: {item!r} is not a finite number")
    if isinstance(value, CreateUserBody | CreateCustomerFields) and not value.name.strip():
        raise ValueError("name: must not be empty")
    if isinstance(value, CreateUserBody):
        _position("home_lat", "home_lng", value.home_lat, value.home_lng)
    if isinstance(value, OrderStepBody):
        _position("lat", "lng", value.lat, value.lng)
    if isinstance(value, CreateCustomerFields):
        _position("lat", "lng", value.lat, value.lng)
        if not (value.phone or value.email):
            raise ValueError("phone/email: one of them is required")
    if isinstance(value, CreateOrderBody) and value.customer is None and value.customer_id is None:
        raise ValueError("customer/customer_id: the order needs a customer, new or existing")
    if isinstance(value, CancelOrderBody) and value.id is None and not value.external_id:
        raise ValueError("id/external_id: one of them names the order to cancel")
    if isinstance(value, CreateNoteBody):
        if value.type is not None and value.type not in NOTE_TYPES:
            raise ValueError(f"type: {value.type!r} is not one of {', '.join(NOTE_TYPES)}")
        if not value.note and value.type in (None, "TaskNote", "HtmlTaskNote"):
            raise ValueError("note: a text note must not be empty")
    if isinstance(value, BlockIdBody | UpdateBlockBody) and value.recurring not in (
        None,
        *RECURRING,
    ):
        raise ValueError(f"recurring: {value.recurring!r} is not one of {', '.join(RECURRING)}")
    capacity = getattr(value, "original_capacity", None)
    if isinstance(capacity, int) and capacity < 0:
        raise ValueError(f"original_capacity: {capacity!r} is below 0")
    if isinstance(value, DriverBlocksBody | TeamBlocksBody) and value.end_time < value.start_time:
        raise ValueError(f"end_time: {value.end_time!r} is before start_time {value.start_time!r}")


def _position(lat_key: str, lng_key: str, lat: float | None, lng: float | None) -> None:
    if (lat is None) != (lng is None):
        raise ValueError(f"{lat_key}/{lng_key}: send both or neither")
    if lat is not None and not -90.0 <= lat <= 90.0:
        raise ValueError(f"{lat_key}: {lat!r} is not a latitude")
    if lng is not None and not -180.0 <= lng <= 180.0:
        raise ValueError(f"{lng_key}: {lng!r} is not a longitude")

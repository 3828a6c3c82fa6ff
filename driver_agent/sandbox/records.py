"""What the sandbox remembers: orders, way points, drivers and their ping gaps; JSON views (pure).

Also the two time formats of the wire: ISO-8601 UTC strings with milliseconds out
(`2020-06-02T11:43:28.866Z`), and the looser date strings merchants send in
(`2017-10-31T12:00:00-5`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone

from driver_agent.core.model import MAX_PING_GAP_S, TaskStatus

MAX_DATE_DISTANCE_S = 10 * 365.25 * 86400  # seed 004: times must fall within '10 years'

_DATE = re.compile(
    r"^(?P<year>[+-]?\d{4,})-(?P<month>\d{1,2})-(?P<day>\d{1,2})"
    r"(?:[T ](?P<hour>\d{1,2}):(?P<minute>\d{2})(?::(?P<second>\d{2})(?P<frac>\.\d+)?)?)?"
    r"\s*(?P<tz>Z|[+-]\d{1,2}(?::?\d{2})?)?$"
)


def iso_ms(t_s: float) -> str:
    """Epoch seconds -> `2020-06-02T11:43:28.866Z`."""
    dt = datetime.fromtimestamp(t_s, UTC)
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{dt.microsecond // 1000:03d}Z"


class DateError(ValueError):
    """A date string the sandbox refuses; `message` is the documented wording."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def parse_date(value: object, field_name: str, now_s: float) -> float:
    """A merchant date string -> epoch seconds; DateError with Bringg's wording when bad."""
    if not isinstance(value, str):
        raise DateError(f"One of the parameters is incorrect: [{field_name} must be a string]")
    m = _DATE.match(value.strip())
    if m is None:
        raise DateError(
            f"One of the parameters is incorrect: [Time '{value}' is invalid for '{field_name}']"
        )
    out_of_range = DateError(
        "One of the parameters is incorrect: "
        f"[Time '{value}' is out of range '10 years' for '{field_name}']"
    )
    year = int(m["year"])
    if not 1 <= year <= 9999:
        raise out_of_range
    tz = m["tz"]
    offset = timedelta(0)
    if tz and tz != "Z":
        sign = -1 if tz[0] == "-" else 1
        digits = tz[1:].replace(":", "")
        hours = int(digits[:-2]) if len(digits) > 2 else int(digits)
        minutes = int(digits[-2:]) if len(digits) > 2 else 0
        offset = sign * timedelta(hours=hours, minutes=minutes)
    try:
        dt = datetime(
            year,
            int(m["month"]),
            int(m["day"]),
            int(m["hour"] or 0),
            int(m["minute"] or 0),
            int(m["second"] or 0),
            int(float(m["frac"] or 0) * 1_000_000),
            tzinfo=timezone(offset),
        )
    except ValueError:
        raise DateError(
            f"One of the parameters is incorrect: [Time '{value}' is invalid for '{field_name}']"
        ) from None
    t_s = dt.timestamp()
    if abs(t_s - now_s) > MAX_DATE_DISTANCE_S:
        raise out_of_range
    return t_s


@dataclass(slots=True)
class WayPoint:
    id: int
    position: int
    lat: float
    lng: float
    address: str | None = None
    extra: dict[str, object] = field(default_factory=dict)  # city, zipcode, phone, email, ...
    scheduled_at: str | None = None
    no_earlier_than: str | None = None
    no_later_than: str | None = None
    eta: str | None = None
    customer: dict[str, object] | None = None
    inventory: list[dict[str, object]] = field(default_factory=list)
    notes: list[dict[str, object]] = field(default_factory=list)
    checkin_time: str | None = None
    checkout_time: str | None = None
    checkin_lat: float | None = None
    checkin_lng: float | None = None
    checkout_lat: float | None = None
    checkout_lng: float | None = None
    done: bool = False

    @property
    def option(self) -> str:
        return "pickup" if self.position == 1 else "dropoff"

    def view(self, task_id: int) -> dict[str, object]:
        out: dict[str, object] = {
            "id": self.id,
            "task_id": task_id,
            "position": self.position,
            "pickup_dropoff_option": self.option,
            "lat": self.lat,
            "lng": self.lng,
            "address": self.address,
            "address_second_line": None,
            "city": None,
            "zipcode": None,
            "phone": None,
            "email": None,
        }
        out.update(self.extra)
        out.update(
            {
                "scheduled_at": self.scheduled_at,
                "no_earlier_than": self.no_earlier_than,
                "no_later_than": self.no_later_than,
                "eta": self.eta,
                "checkin_time": self.checkin_time,
                "checkout_time": self.checkout_time,
                "checkin_lat": self.checkin_lat,
                "checkin_lng": self.checkin_lng,
                "checkout_lat": self.checkout_lat,
                "checkout_lng": self.checkout_lng,
                "done": self.done,
                "customer": self.customer,
                "customer_id": self.customer.get("id") if self.customer else None,
                "inventory": self.inventory,
                "notes": self.notes,
            }
        )
        return out


@dataclass(slots=True)
class Order:
    id: int
    uuid: str
    external_id: str | None
    title: str
    created_at: float
    way_points: list[WayPoint]
    status: TaskStatus = TaskStatus.CREATED
    customer: dict[str, object] | None = None
    user_id: int | None = None
    active: int = 0  # index into way_points
    started_time: float | None = None
    ended_time: float | None = None
    cancelled_at: float | None = None
    cancellation_lat: float | None = None
    cancellation_lng: float | None = None
    cancel_reason_id: int | None = None
    cancel_reason: str | None = None
    automatically_cancelled: int = 0
    start_lat: float | None = None
    start_lng: float | None = None
    delivery_cost: float | None = None
    green_delivery: bool | None = None
    fleet_extras: dict[str, object] | None = None
    delivery_id: str | None = None
    fleet_error: str | None = None
    extras: dict[str, object] | None = None
    packages: list[dict[str, object]] = field(default_factory=list)
    preparation_status: object = None
    preparation_status_id: object = None
    integration_events: list[dict[str, object]] = field(default_factory=list)
    source: str = "create_task"
    partner: dict[str, object] = field(default_factory=dict)  # e.g. the Manhattan request
    request_id: str = ""
    # the oracle for "no duplicated transitions": every transition applied, in order, and how
    # many repeats of an applied call were answered (refused as "already ...", never applied)
    transitions: list[str] = field(default_factory=list)
    repeats: dict[str, int] = field(default_factory=dict)
    note_ids: dict[str, int] = field(default_factory=dict)  # note external_id -> note id

    def repeated(self, transition: str) -> None:
        self.repeats[transition] = self.repeats.get(transition, 0) + 1

    @property
    def pickup(self) -> WayPoint:
        return self.way_points[0]

    @property
    def dropoff(self) -> WayPoint:
        return self.way_points[-1]

    @property
    def active_way_point(self) -> WayPoint:
        return self.way_points[self.active]

    @property
    def finished(self) -> bool:
        return self.status in (TaskStatus.DONE, TaskStatus.CANCELLED)

    def notes_count(self) -> int:
        return sum(len(wp.notes) for wp in self.way_points)

    def view(self) -> dict[str, object]:
        """The `task` object of fleet and merchant responses (seed 001/004 field names)."""
        return {
            "id": self.id,
            "uuid": self.uuid,
            "external_id": self.external_id,
            "title": self.title,
            "status": int(self.status),
            "user_id": self.user_id,
            "customer_id": self.customer.get("id") if self.customer else None,
            "customer": self.customer,
            "active_way_point_id": None if self.finished else self.active_way_point.id,
            "created_at": iso_ms(self.created_at),
            "scheduled_at": self.dropoff.scheduled_at,
            "lat": self.dropoff.lat,
            "lng": self.dropoff.lng,
            "address": self.dropoff.address,
            "started_time": _iso_or_none(self.started_time),
            "ended_time": _iso_or_none(self.ended_time),
            "cancelled_at": _iso_or_none(self.cancelled_at),
            "cancellation_lat": self.cancellation_lat,
            "cancellation_lng": self.cancellation_lng,
            "automatically_cancelled": self.automatically_cancelled,
            "start_lat": self.start_lat,
            "start_lng": self.start_lng,
            "last_way_point_lat": self.dropoff.lat,
            "last_way_point_lng": self.dropoff.lng,
            "delivery_cost": self.delivery_cost,
            "green_delivery": self.green_delivery,
            "fleet_delivery_external_id": self.delivery_id,
            "extras": self.extras,
            "way_points": [wp.view(self.id) for wp in self.way_points],
            "task_notes": [n for wp in self.way_points for n in wp.notes],
        }

    def delivery_created(self) -> dict[str, object]:
        """The Delivery Created webhook body: exactly two way points, pickup then dropoff."""
        return {
            "id": self.id,
            "uuid": self.uuid,
            "title": self.title,
            "external_id": self.external_id,
            "extras": self.extras,
            "priority": self.id,
            "run_id": None,
            "service_plan_id": None,
            "task_configuration_id": None,
            "price_before_tax": None,
            "left_to_be_paid": None,
            "total_price": None,
            "tag_id": None,
            "pre_delivery_tip": None,
            "tip": None,
            "type": "delivery",
            "request_id": self.request_id,
            "customer": self.customer,
            "team": None,
            "packages": self.packages,
            "preparation_status": self.preparation_status,
            "preparation_status_id": self.preparation_status_id,
            "quote_id": None,
            "required_skills": [],
            "way_points": [
                {**wp.view(self.id), "asap": False} for wp in (self.pickup, self.dropoff)
            ],
        }


def _iso_or_none(t_s: float | None) -> str | None:
    return None if t_s is None else iso_ms(t_s)


@dataclass(slots=True)
class Driver:
    """A driver created by assign_driver, with the ping-cadence watch.

    Gaps are measured between consecutive `reported_time`s while the driver has a started order;
    the watch begins at start_task's reported_time. A fix older than the last one counts as out of
    order, never as a negative gap.
    """

    user_id: int
    external_id: str
    name: str
    profile: dict[str, object] = field(default_factory=dict)
    started: set[int] = field(default_factory=set)
    location_count: int = 0
    last_lat: float | None = None
    last_lng: float | None = None
    last_t_ms: int | None = None
    watch_t_ms: int | None = None  # the last reported_time inside the watch
    gap_count: int = 0
    gap_sum_ms: int = 0
    max_gap_ms: int = 0
    gaps_over_30s: int = 0
    out_of_order: int = 0

    def record_fix(self, lat: float, lng: float, t_ms: int) -> None:
        self.location_count += 1
        if self.last_t_ms is not None and t_ms < self.last_t_ms:
            self.out_of_order += 1
            return
        self.last_lat, self.last_lng, self.last_t_ms = lat, lng, t_ms
        if self.watch_t_ms is not None:
            gap_ms = t_ms - self.watch_t_ms
            if gap_ms < 0:  # before the start_task that opened the watch
                self.out_of_order += 1
                return
            self.gap_count += 1
            self.gap_sum_ms += gap_ms
            if gap_ms > self.max_gap_ms:
                self.max_gap_ms = gap_ms
            if gap_ms > MAX_PING_GAP_S * 1000:
                self.gaps_over_30s += 1
            self.watch_t_ms = t_ms

    def order_started(self, task_id: int, t_ms: int) -> None:
        if not self.started:
            self.watch_t_ms = t_ms
        self.started.add(task_id)

    def order_stopped(self, task_id: int) -> None:
        self.started.discard(task_id)
        if not self.started:
            self.watch_t_ms = None

    def view(self) -> dict[str, object]:
        return {
            "user_id": self.user_id,
            "external_id": self.external_id,
            "name": self.name,
            "started_tasks": sorted(self.started),
            "location_count": self.location_count,
            "last_fix": (
                None
                if self.last_t_ms is None
                else {"lat": self.last_lat, "lng": self.last_lng, "reported_time": self.last_t_ms}
            ),
            "gap_count": self.gap_count,
            "mean_gap_s": self.gap_sum_ms / self.gap_count / 1000 if self.gap_count else None,
            "max_gap_s": self.max_gap_ms / 1000,
            "gaps_over_30s": self.gaps_over_30s,
            "out_of_order": self.out_of_order,
        }

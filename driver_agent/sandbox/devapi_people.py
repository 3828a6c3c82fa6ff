"""The developer API's people: Create User, Start / End Shift, Driver Home Events, Get Shifts
Schedule and Get Real-time Driver Availability (pure).

A user is a driver unless created with `driver: false`. A driver has at most one open shift;
"available" (seed: online and on shift) means an open shift, the sandbox having no app login.
The shifts schedule lists every (delivery block, assigned driver) as the seed's weekly row:
hours since Monday 00:00 UTC of the block's week.
"""

from __future__ import annotations

import math

from driver_agent.sandbox.devapi_world import (
    DevWorld,
    Shift,
    User,
    int_list,
    int_param,
    missing,
    opt_bool,
    opt_number,
    opt_str,
    refused,
)
from driver_agent.sandbox.world import JsonDict, Reply, Violation

WEEK_S = 7 * 86400
MONDAY_OFFSET_S = 4 * 86400  # the epoch was a Thursday: Monday 1970-01-05 is 4 days on


def create_user(dev: DevWorld, body: JsonDict, now_s: float) -> Reply:
    name = opt_str(body, "name")
    if not name:
        raise missing("name")
    external_id = opt_str(body, "external_id")
    if external_id is not None and external_id in dev.users_by_external_id:
        raise refused(f"User with external_id {external_id} exists already")
    team_ids = int_list(body["team_ids"], "team_ids") if body.get("team_ids") is not None else []
    home_lat, home_lng = opt_number(body, "home_lat"), opt_number(body, "home_lng")
    if home_lat is not None and not -90 <= home_lat <= 90:
        raise Violation(400, "home_lat must be between -90 and 90", rc=0)
    if home_lng is not None and not -180 <= home_lng <= 180:
        raise Violation(400, "home_lng must be between -180 and 180", rc=0)
    flags = {k: opt_bool(body, k) for k in ("driver", "admin", "dispatcher")}
    email, phone = opt_str(body, "email"), opt_str(body, "phone", 32)
    job, home = opt_str(body, "job_description"), opt_str(body, "home_address")
    opt_str(body, "password", 1024)  # checked, never kept: the sandbox has no login
    world = dev.world
    user = User(
        id=world.user_id(),
        uuid=world.new_uuid(),
        name=name,
        created_s=now_s,
        email=email,
        phone=phone,
        external_id=external_id,
        job_description=job,
        team_ids=team_ids,
        driver=flags["driver"] is not False,
        admin=bool(flags["admin"]),
        dispatcher=bool(flags["dispatcher"]),
        home_address=home,
        home_lat=home_lat,
        home_lng=home_lng,
    )
    dev.users[user.id] = user
    if external_id is not None:
        dev.users_by_external_id[external_id] = user.id
    return Reply(200, {"success": True, "user": user.view()})


def _driver(dev: DevWorld, body: JsonDict, key: str = "user_id") -> User:
    user = dev.user(int_param(body, key))
    if not user.driver:
        raise refused(f"User {user.id} is not a driver")
    return user


def start_shift(dev: DevWorld, body: JsonDict, now_s: float) -> Reply:
    user = _driver(dev, body)
    if user.shift is not None:
        raise Violation(
            200,
            "",
            body={
                "success": False,
                "rc": 1,
                "message": f"User {user.id} already has an open shift",
                "shift": user.shift.view(),
            },
        )
    shift = Shift(dev.shift_id(), user.id, now_s)
    user.shift = shift
    dev.shifts.append(shift)
    return Reply(200, {"success": True, "shift": shift.view()})


def end_shift(dev: DevWorld, body: JsonDict, now_s: float) -> Reply:
    user = _driver(dev, body)
    shift = user.shift
    if shift is None:
        raise refused(f"User {user.id} has no open shift")
    shift.end_s = now_s
    user.shift = None
    return Reply(200, {"success": True, "shift": shift.view()})


def driver_home_event(dev: DevWorld, body: JsonDict, now_s: float) -> Reply:
    user = _driver(dev, body, "id")
    at_home = opt_bool(body, "at_home")
    if at_home is None:
        raise missing("at_home")
    what = "got home" if at_home else "left home"
    user.at_home = at_home
    user.home_events.append({"event": what.replace(" ", "_"), "at": now_s})
    return Reply(200, {"success": True, "message": f"Driver {user.name} (ID: {user.id}) {what}"})


def _hour_of_week(t_s: float) -> float:
    return ((t_s - MONDAY_OFFSET_S) % WEEK_S) / 3600


def get_shifts_schedule(dev: DevWorld, body: JsonDict, now_s: float) -> Reply:
    rows: list[JsonDict] = []
    for block in dev.blocks.values():
        start = math.floor(_hour_of_week(block.start_s))
        end = start + math.ceil((block.end_s - block.start_s) / 3600)
        for user_id in block.user_ids:
            rows.append(
                {
                    "id": block.schedule_ids[user_id],
                    "user_id": user_id,
                    "team_id": block.team_id,
                    "merchant_id": dev.merchant_id,
                    "start_hour": start,
                    "end_hour": end,
                }
            )
    return Reply(200, {"success": True, "shift_schedules": rows})


def team_ids_of(value: object) -> list[int] | None:
    """`team_ids` from a body (an array) or a query string (repeated, `[]` or comma separated)."""
    if value is None or value == "" or value == []:
        return None
    if isinstance(value, str):
        value = [v for v in value.split(",") if v.strip()]
    elif isinstance(value, list) and all(isinstance(v, str) for v in value):
        value = [p for v in value for p in str(v).split(",") if p.strip()]
    return int_list(value, "team_ids")


def driver_availability(dev: DevWorld, body: JsonDict, now_s: float) -> Reply:
    wanted = team_ids_of(body.get("team_ids"))
    drivers: list[JsonDict] = []
    for user in dev.users.values():
        if not user.driver or user.shift is None:
            continue
        if wanted is not None and not set(wanted) & set(user.team_ids):
            continue
        lat = user.lat if user.lat is not None else user.home_lat
        lng = user.lng if user.lng is not None else user.home_lng
        drivers.append(
            {"id": user.id, "name": user.name, "lat": lat, "lng": lng, "team_ids": user.team_ids}
        )
    return Reply(200, {"success": True, "rc": 0, "drivers": drivers})


PEOPLE_HANDLERS = {
    "create_user": create_user,
    "start_shift": start_shift,
    "end_shift": end_shift,
    "driver_home_event": driver_home_event,
    "get_shifts_schedule": get_shifts_schedule,
    "driver_availability": driver_availability,
}

"""The developer API (seed 001) over real HTTP on loopback: the per-service URLs, the working
day of an own driver (user, shift, home, assign, start, arrive, note, leave, end, got home),
the delivery blocks, and every documented error."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from driver_agent.sandbox import SandboxSettings
from driver_agent.sandbox.devapi import HANDLERS
from driver_agent.sandbox.devapi_routes import GET_SERVICES, SERVICE_NAMES, service_paths

START_S = 1_767_225_600.0  # 2026-01-01T00:00Z, a Thursday
NOT_FOUND = {"success": False, "rc": 0, "message": "ActiveRecord::RecordNotFound"}


@pytest.fixture
def sandbox_settings() -> SandboxSettings:
    return SandboxSettings(webhook_retry_delay_s=0, start_s=START_S, seed=7)


class Dev:
    """A test client of the developer API: each service at the URL the sandbox lists."""

    def __init__(self, url: str) -> None:
        self.http = httpx.Client(base_url=url)
        listed = self.http.get("/_sandbox/services").json()
        self.urls: dict[str, str] = listed["services"]

    def raw(self, name: str, body: Any = None, method: str = "POST") -> httpx.Response:
        if method == "GET":
            return self.http.request("GET", self.urls[name], params=body)
        return self.http.post(self.urls[name], json=body if body is not None else {})

    def ok(self, name: str, body: Any = None, method: str = "POST") -> Any:
        reply = self.raw(name, body, method)
        assert reply.status_code == 200, reply.text
        data = reply.json()
        assert not isinstance(data, dict) or data.get("success") is True, data
        return data

    def refused(self, name: str, body: Any, status: int = 200) -> dict[str, Any]:
        reply = self.raw(name, body)
        assert reply.status_code == status, reply.text
        data: dict[str, Any] = reply.json()
        assert data["success"] is False
        return data

    def state(self) -> dict[str, Any]:
        data: dict[str, Any] = self.http.get("/_sandbox/state").json()
        return data

    def order_state(self, task_id: int) -> dict[str, Any]:
        return next(o for o in self.state()["orders"] if o["task_id"] == task_id)

    def advance(self, seconds: float) -> None:
        assert self.http.post("/_sandbox/clock", json={"advance_s": seconds}).status_code == 200

    def user(self, name: str = "Dave Smithson", **fields: Any) -> int:
        return int(self.ok("create_user", {"name": name, "driver": True, **fields})["user"]["id"])

    def order(self, **fields: Any) -> int:
        body = {
            "title": "Rush delivery",
            "customer": {"name": "Mr. Customer", "address": "1900 Wall st"},
            "way_points": [{"address": "4196 Water St."}, {"address": "416 Water St."}],
            **fields,
        }
        return int(self.ok("create_order", body)["task"]["id"])


@pytest.fixture
def dev(sandbox_url: str) -> Iterator[Dev]:
    client = Dev(sandbox_url)
    yield client
    client.http.close()


# -- URLs -------------------------------------------------------------------------------------


def test_service_urls_follow_the_portal_form_and_the_seed() -> None:
    paths = service_paths(7)
    assert list(paths) == list(SERVICE_NAMES)
    assert service_paths(7) == paths
    assert service_paths(8) != paths
    assert len(set(paths.values())) == len(paths)
    for path in paths.values():
        _, services, service_id, first, second = path.split("/")
        assert services == "services"
        assert len(service_id) == 8
        int(service_id, 16)
        assert len(first) == len(second) == 36
        assert first != second


def test_the_sandbox_lists_its_urls_and_answers_only_there(dev: Dev) -> None:
    assert set(dev.urls) == set(SERVICE_NAMES)
    assert all(u.startswith(str(dev.http.base_url)) for u in dev.urls.values())
    good = httpx.URL(dev.urls["get_order"]).path
    _, _, service_id, first, second = good.split("/")
    for wrong in (
        f"/services/{service_id}/{first}/{first}",
        f"/services/00000000/{first}/{second}",
        f"{good}/extra",
        "/services/get_order",
    ):
        reply = dev.http.post(wrong, json={"id": 1})
        assert reply.status_code == 404, wrong
        assert reply.json()["success"] is False
    # another service's URL runs that service, not this one
    assert dev.raw("create_user", {"id": 1}).json()["message"].endswith(": name")
    trailing = dev.http.post(good + "/", json={"id": 1})  # the service: an unknown order
    assert trailing.status_code == 404
    assert trailing.json() == NOT_FOUND


def test_every_service_name_has_a_handler() -> None:
    assert set(HANDLERS) == set(SERVICE_NAMES)


def test_a_fault_targets_a_service_by_name(dev: Dev) -> None:
    fault = {"status": 503, "count": 1, "paths": ["/services/create_user"]}
    assert dev.http.post("/_sandbox/faults", json=fault).status_code == 200
    assert dev.raw("create_user", {"name": "Ann"}).status_code == 503
    assert dev.raw("create_user", {"name": "Ann"}).status_code == 200
    calls = dev.state()["calls"]["/services/create_user"]
    assert calls["by_status"] == {"503": 1, "200": 1}


def test_get_only_where_the_seed_shows_get(dev: Dev) -> None:
    for name in SERVICE_NAMES:
        status = dev.http.get(dev.urls[name]).status_code
        if name in GET_SERVICES:
            assert status in (200, 400), name  # 400: the id a GET must give is missing
        else:
            assert status == 404, name
    assert dev.http.put(dev.urls["get_order"], json={"id": 1}).status_code == 404


def test_no_token_is_needed_and_the_url_never_shows_in_state(dev: Dev) -> None:
    dev.ok("create_user", {"name": "Ann"})
    state = dev.state()
    assert "/services/create_user" in state["calls"]
    for url in dev.urls.values():
        assert httpx.URL(url).path not in str(state)


# -- the working day ---------------------------------------------------------------------------


def test_an_own_driver_walks_a_whole_day(dev: Dev) -> None:
    created = dev.ok(
        "create_user",
        {"company_id": 1, "team_ids": [7990], "name": "User Name", "email": "t@example.com",
         "password": "example-password", "external_id": "1", "job_description": "Site Manager",
         "admin": False, "driver": True, "dispatcher": False},
    )["user"]  # fmt: skip
    user_id = created["id"]
    assert created["at_home"] is False
    assert created["active_shift_id"] is None
    assert "password" not in str(created)
    shift = dev.ok("start_shift", {"user_id": user_id})["shift"]
    assert shift["end_shift"] is None
    left = dev.ok("driver_home_event", {"id": user_id, "at_home": False})
    assert left["message"] == f"Driver User Name (ID: {user_id}) left home"
    task_id = dev.order(teams=[7990])
    assert [o["id"] for o in dev.ok("open_orders")] == [task_id]
    assigned = dev.ok("update_order", {"id": task_id, "user_id": str(user_id)})["task"]
    assert assigned["user_id"] == user_id
    assert assigned["status"] == 1
    assert dev.ok("start_order", {"id": task_id})["task"]["status"] == 2
    pickup, dropoff = (
        wp["id"] for wp in dev.ok("get_order", {"id": task_id})["task"]["way_points"]
    )
    assert dev.ok("checkin", {"id": task_id})["task"]["status"] == 3
    note = dev.ok("create_note", {"task_id": task_id, "note": "Collected", "user_id": user_id})
    assert note["task"]["way_point_id"] == pickup
    assert note["task"]["type"] == "TaskNote"
    changed = dev.ok("update_note", {"id": note["task"]["id"], "note": "Collected 3 boxes"})
    assert changed["task_note"]["note"] == "Collected 3 boxes"
    after_pickup = dev.ok("checkout", {"id": task_id})["task"]
    assert after_pickup["status"] == 2
    assert after_pickup["active_way_point_id"] == dropoff
    dev.ok("checkin", {"id": task_id, "lat": 40.7, "lng": -74.0})
    for kind, extra in (
        ("Signature", {"url": "https://example.com/sig.png"}),
        ("TaskPhoto", {"image": "data:image/png;base64,iVBORw0KGgo="}),
        ("Form", {"form": {"age_checked": True}}),
        ("HtmlTaskNote", {"note": "Google", "url": "https://www.google.com"}),
    ):
        made = dev.ok("create_note", {"task_id": task_id, "type": kind, **extra})["task"]
        assert made["type"] == kind
        assert made["way_point_id"] == dropoff
        assert (made["url"] is None) is (kind == "Form")
    done = dev.ok("checkout", {"id": task_id})["task"]
    assert done["status"] == 4
    assert done["ended_time"] is not None
    assert dev.ok("end_order", {"id": task_id})["task"]["status"] == 4
    assert dev.refused("end_order", {"id": task_id})["message"] == "Can't update a done order"
    assert dev.ok("open_orders") == []
    ended = dev.ok("end_shift", {"user_id": user_id})["shift"]
    assert ended["id"] == shift["id"]
    assert ended["end_shift"] is not None
    home = dev.ok("driver_home_event", {"id": user_id, "at_home": True})
    assert home["message"] == f"Driver User Name (ID: {user_id}) got home"

    state = dev.state()
    order = next(o for o in state["orders"] if o["task_id"] == task_id)
    assert order["transitions"] == [
        f"assign:{user_id}", "start_order", "checkin:1", "note:TaskNote", "checkout:1",
        "checkin:2", "note:Signature", "note:TaskPhoto", "note:Form", "note:HtmlTaskNote",
        "checkout:2", "end_order",
    ]  # fmt: skip
    assert order["status_name"] == "done"
    assert order["source"] == "developer_api"
    (user,) = state["users"]
    assert user["at_home"] is True
    assert user["lat"] == 40.7
    assert [e["event"] for e in user["home_events"]] == ["left_home", "got_home"]
    assert state["shifts"] == [ended]


def test_the_walk_keeps_to_its_rules(dev: Dev) -> None:
    driver, other = dev.user(), dev.user("Tom Parkman")
    task_id = dev.order()
    no_driver = dev.refused("start_order", {"id": task_id})
    assert no_driver["message"] == "Can't start an order with no driver assigned"
    dev.ok("update_order", {"id": task_id, "user_id": driver})
    shift = dev.refused("start_order", {"id": task_id})["message"]
    assert shift == f"Driver {driver} has no open shift: start a shift first"
    dev.ok("start_shift", {"user_id": driver})
    dev.ok("start_shift", {"user_id": other})
    wrong = dev.refused("start_order", {"id": task_id, "user_id": other})
    assert wrong["message"] == f"Order {task_id} is assigned to another driver"
    assert dev.refused("checkin", {"id": task_id})["message"].startswith("Order was not started")
    dev.ok("start_order", {"id": task_id})
    assert dev.refused("start_order", {"id": task_id})["message"] == "Order already started"
    reassign = dev.refused("update_order", {"id": task_id, "user_id": other})
    assert reassign["message"] == "Can't reassign a started order"
    leave = dev.refused("checkout", {"id": task_id})["message"]
    assert leave == "Can't leave way point 1 before arriving there"
    dropoff = dev.ok("get_order", {"id": task_id})["task"]["way_points"][1]["id"]
    skip = dev.refused("checkin", {"id": task_id, "way_point_id": dropoff})["message"]
    assert skip == f"Way point {dropoff} is not the order's next way point"
    early = dev.refused("end_order", {"id": task_id})["message"]
    assert early == "Can't end an order before arriving at its last way point"
    dev.ok("checkin", {"id": task_id})
    again = dev.refused("checkin", {"id": task_id})["message"]
    assert again == "Already arrived at way point 1: leave it first"
    dev.ok("checkout", {"id": task_id})
    dev.ok("checkin", {"id": task_id})
    assert dev.ok("end_order", {"id": task_id})["task"]["status"] == 4  # at the last stop
    for name, body in (
        ("update_order", {"id": task_id, "title": "x"}),
        ("checkout", {"id": task_id}),
        ("checkin", {"id": task_id}),
        ("start_order", {"id": task_id}),
        ("cancel_order", {"id": task_id}),
        ("create_note", {"task_id": task_id, "note": "late"}),
    ):
        assert dev.refused(name, body)["message"] == "Can't update a done order", name
    state = dev.state()
    order = next(o for o in state["orders"] if o["task_id"] == task_id)
    assert order["transitions"][-1] == "end_order"
    assert state["repeats"][str(task_id)] == {"start_order": 1, "checkin:1": 1}


def test_cancel_from_every_state_before_done(dev: Dev) -> None:
    driver = dev.user()
    dev.ok("start_shift", {"user_id": driver})
    steps: list[tuple[str, dict[str, Any]]] = [
        ("update_order", {"user_id": driver}), ("start_order", {}), ("checkin", {}),
        ("checkout", {}), ("checkin", {}),
    ]  # fmt: skip
    for n in range(len(steps) + 1):
        task_id = dev.order(external_id=f"ext-{n}")
        for name, extra in steps[:n]:
            dev.ok(name, {"id": task_id, **extra})
        by = {"id": task_id} if n % 2 else {"external_id": f"ext-{n}"}
        cancelled = dev.ok("cancel_order", {**by, "reason_id": 163, "reason": "Other"})["task"]
        assert cancelled["status"] == 7
        assert cancelled["task_cancellation_reason"] == "Other"
        message = dev.refused("cancel_order", {"id": task_id})["message"]
        assert message == "Can't update a cancelled order"
    assert dev.ok("open_orders") == []
    assert dev.refused("cancel_order", {"external_id": "nope"}, 404) == NOT_FOUND


def test_a_delivery_block_driver_starts_an_unassigned_order_of_its_team(dev: Dev) -> None:
    driver, outsider = dev.user(team_ids=[15130]), dev.user("Eli")
    for user_id in (driver, outsider):
        dev.ok("start_shift", {"user_id": user_id})
    block = dev.ok(
        "create_delivery_block",
        {"team_id": 15130, "name": "Morning Shift 005", "description": "Daily Morning Shift",
         "start_time": "2026-01-01 00:00:00", "end_time": "2026-01-01 05:00:00",
         "original_capacity": 10},
    )["delivery_block"]  # fmt: skip
    dev.ok("assign_delivery_block", {"delivery_block_id": block["id"], "user_id": driver})
    task_id = dev.order(teams=[15130])
    refused = dev.refused("start_order", {"id": task_id, "user_id": outsider})
    assert refused["message"] == "Can't start an order with no driver assigned"
    started = dev.ok("start_order", {"id": task_id, "user_id": driver})["task"]
    assert started["user_id"] == driver
    assert started["status"] == 2
    dev.advance(6 * 3600)  # the block is over: no more starts by block
    later = dev.order(teams=[15130])
    assert dev.refused("start_order", {"id": later, "user_id": driver})["success"] is False


# -- people ------------------------------------------------------------------------------------


def test_users_shifts_and_home_events_errors(dev: Dev) -> None:
    missing = dev.refused("create_user", {"email": "a@b.c"}, 400)
    assert missing == {"success": False, "rc": 0,
                       "message": "param is missing or the value is empty: name"}  # fmt: skip
    dev.user(external_id="d-1")
    assert (
        "exists already"
        in dev.refused("create_user", {"name": "X", "external_id": "d-1"})["message"]
    )
    dispatcher = dev.user("Disp", driver=False, dispatcher=True)
    assert dev.refused("start_shift", {"user_id": dispatcher})["message"].endswith("not a driver")
    for name in ("start_shift", "end_shift"):
        assert dev.refused(name, {"user_id": 1}, 404) == NOT_FOUND
        assert dev.refused(name, {}, 400)["message"].endswith(": user_id")
    assert dev.refused("driver_home_event", {"id": 1, "at_home": True}, 404) == NOT_FOUND
    driver = dev.user("Ann")
    assert dev.refused("driver_home_event", {"id": driver}, 400)["message"].endswith("at_home")
    assert dev.refused("end_shift", {"user_id": driver})["message"].endswith("no open shift")
    first = dev.ok("start_shift", {"user_id": driver})["shift"]
    again = dev.refused("start_shift", {"user_id": driver})
    assert again["shift"] == first
    assert again["message"].endswith("already has an open shift")


def test_availability_lists_drivers_on_shift_in_the_teams_asked(dev: Dev) -> None:
    michael = dev.user("Michael", team_ids=[1, 2], home_lat=32.22, home_lng=34.23)
    eli = dev.user("Eli", team_ids=[1, 3])
    dev.user("Off shift", team_ids=[1])
    for user_id in (michael, eli):
        dev.ok("start_shift", {"user_id": user_id})

    def names(params: Any) -> list[str]:
        found = dev.ok("driver_availability", params, method="GET")
        assert found["rc"] == 0
        return [d["name"] for d in found["drivers"]]

    assert names({"team_ids": [2]}) == ["Michael"]
    assert names({"team_ids": "2,3"}) == ["Michael", "Eli"]
    assert names({"team_ids[]": [3]}) == ["Eli"]
    assert names(None) == ["Michael", "Eli"]
    drivers = dev.ok("driver_availability", {"team_ids": [1]})["drivers"]
    assert drivers[0] == {"id": michael, "name": "Michael", "lat": 32.22, "lng": 34.23,
                          "team_ids": [1, 2]}  # fmt: skip
    bad = dev.raw("driver_availability", {"team_ids": "x"}, method="GET")
    assert bad.status_code == 400
    assert "team_ids" in bad.json()["message"]


def test_shifts_schedule_comes_from_assigned_delivery_blocks(dev: Dev) -> None:
    driver = dev.user()
    block = dev.ok(
        "create_delivery_block",
        {"team_id": 9, "start_time": "2026-01-06 06:00:00", "end_time": "2026-01-06 15:00:00",
         "original_capacity": 1, "user_ids": [driver]},
    )["delivery_block"]  # fmt: skip
    rows = dev.ok("get_shifts_schedule", method="GET")["shift_schedules"]
    assert [(r["user_id"], r["team_id"], r["start_hour"], r["end_hour"]) for r in rows] == [
        (driver, 9, 30, 39)  # Tuesday 06:00 to 15:00, as the seed counts hours
    ]
    dev.ok("unassign_delivery_block", {"delivery_block_id": block["id"], "user_id": driver})
    assert dev.ok("get_shifts_schedule")["shift_schedules"] == []


# -- delivery blocks ---------------------------------------------------------------------------


def test_delivery_block_crud_assign_and_lists(dev: Dev) -> None:
    dave, tom = dev.user(), dev.user("Tom Parkman", email="tomp@example.com")
    made = dev.ok(
        "create_delivery_block",
        {"team_id": 15130, "name": "Morning Shift 005", "description": "Daily Morning Shift",
         "start_time": "2026-01-02 08:00:00", "end_time": "2026-01-02 13:00:00",
         "original_capacity": 2},
    )["delivery_block"]  # fmt: skip
    block_id = made["id"]
    assert made["start_time"] == "2026-01-02T08:00:00.000Z"
    assert (made["capacity"], made["original_capacity"], made["user_ids"]) == (0, 2, [])
    for user_id in (dave, tom):
        assert dev.ok(
            "assign_delivery_block", {"delivery_block_id": block_id, "user_id": user_id}
        ) == {"success": True}
    got = dev.ok("get_delivery_block", {"id": block_id}, method="GET")["delivery_block"]
    assert got["capacity"] == 2
    assert got["users"][1] == {"id": tom, "name": "Tom Parkman", "email": "tomp@example.com"}
    twice = {"delivery_block_id": block_id, "user_id": dave}
    assert dev.refused("assign_delivery_block", twice) == {
        "success": False, "message": "Driver already assigned to block", "rc": 2
    }  # fmt: skip
    third = dev.user("Third")
    full = dev.refused("assign_delivery_block", {"delivery_block_id": block_id, "user_id": third})
    assert "full" in full["message"]
    too_small = dev.refused("update_delivery_block", {"id": block_id, "original_capacity": 1})
    assert "below" in too_small["message"]
    updated = dev.ok(
        "update_delivery_block",
        {"id": block_id, "name": "Late Shift", "start_time": "2026-01-02T19:00:00.000Z",
         "end_time": "2026-01-02T20:00:00.000Z", "original_capacity": 10},
    )["delivery_block"]  # fmt: skip
    assert (updated["name"], updated["end_time"]) == ("Late Shift", "2026-01-02T20:00:00.000Z")
    start, end = 1_767_312_000, 1_767_398_400  # 2026-01-02 .. 2026-01-03
    by_driver = dev.ok("delivery_blocks_by_driver",
                       {"user_ids": [tom], "start_time": start, "end_time": end})  # fmt: skip
    assert [b["id"] for b in by_driver["delivery_blocks"]] == [block_id]
    as_text = {"team_id": 15130, "start_time": str(start), "end_time": str(end)}
    by_team = dev.ok("delivery_blocks_by_team", as_text)
    assert [b["id"] for b in by_team["delivery_blocks"]] == [block_id]
    elsewhere = {"team_id": 1, "start_time": start, "end_time": end}
    assert dev.ok("delivery_blocks_by_team", elsewhere)["delivery_blocks"] == []
    missing = dev.refused("delivery_blocks_by_driver", {"user_ids": [tom], "end_time": end}, 400)
    assert missing["message"] == "param is missing or the value is empty: start_time"
    busy = dev.refused("delete_delivery_block", {"id": block_id})
    assert busy["message"] == "cannot delete delivery block, driver assigned"
    for user_id in (dave, tom):
        dev.ok("unassign_delivery_block", {"delivery_block_id": block_id, "user_id": user_id})
    not_assigned = dev.refused(
        "unassign_delivery_block", {"delivery_block_id": block_id, "user_id": dave}
    )
    assert (not_assigned["message"], not_assigned["rc"]) == ("Driver is not assigned to block", 2)
    assert dev.ok("delete_delivery_block", {"id": block_id}, method="GET") == {"success": True}
    gone = dev.raw("get_delivery_block", {"id": block_id}, method="GET")
    assert gone.status_code == 404
    assert gone.json()["message"] == (
        f"Couldn't find delivery block with id {block_id}, merchant_id 11271"
    )


def test_delivery_block_errors_in_the_seeds_words(dev: Dev) -> None:
    capacity = dev.refused(
        "create_delivery_block",
        {"team_id": 1, "start_time": "2026-01-02 08:00:00", "end_time": "2026-01-02 09:00:00"},
        400,
    )
    assert capacity["message"] == "param is missing or the value is empty: original_capacity"
    backwards = dev.refused(
        "create_delivery_block",
        {"team_id": 1, "original_capacity": 1, "start_time": "2026-01-02 09:00:00",
         "end_time": "2026-01-02 08:00:00"},
        400,
    )  # fmt: skip
    assert backwards["message"] == "end_time must be after start_time"
    driver = dev.user()
    nobody = dev.refused(
        "assign_delivery_block", {"delivery_block_id": 1285, "user_id": 81617}, 404
    )
    assert nobody["message"] == "Couldn't find user with id 81617, merchant_id 11271"
    no_block = dev.refused(
        "assign_delivery_block", {"delivery_block_id": 1285, "user_id": driver}, 404
    )
    assert no_block["message"] == "Couldn't find delivery block with id 1285, merchant_id 11271"
    block = dev.ok(
        "create_delivery_block",
        {"team_id": 1, "original_capacity": 1, "start_time": "2026-01-01 00:00:00",
         "end_time": "2026-01-01 01:00:00", "user_ids": [driver]},
    )["delivery_block"]  # fmt: skip
    dev.advance(2 * 3600)
    passed = dev.refused(
        "unassign_delivery_block", {"delivery_block_id": block["id"], "user_id": driver}
    )
    assert (passed["message"], passed["rc"]) == ("Not allowed, unassign time has passed", 1)


# -- orders: errors ----------------------------------------------------------------------------


def test_unknown_orders_and_missing_ids(dev: Dev) -> None:
    for name in ("get_order", "update_order", "start_order", "checkin", "checkout", "end_order",
                 "cancel_order"):  # fmt: skip
        assert dev.refused(name, {"id": 999}, 404) == NOT_FOUND, name
        assert dev.refused(name, {"id": "abc"}, 400)["message"] == "id must be an integer"
    assert dev.refused("create_note", {"task_id": 999, "note": "x"}, 404) == NOT_FOUND
    assert dev.refused("update_note", {"id": 999, "note": "x"}, 404) == NOT_FOUND
    assert dev.refused("get_order", {}, 400)["message"] == (
        "param is missing or the value is empty: id"
    )


def test_update_order_takes_the_seeds_example_and_refuses_status_jumps(dev: Dev) -> None:
    driver = dev.user()
    task_id = dev.order()
    body = {"id": task_id, "delivery_price": "250", "discount": "25", "external_id": "123456",
            "left_to_be_paid": "75.5", "post_delivery_tip_cash": "15", "title": "Daily Delivery",
            "user_id": str(driver), "note": "Drop at dock 3"}  # fmt: skip
    task = dev.ok("update_order", body)["task"]
    assert (task["title"], task["delivery_price"], task["left_to_be_paid"]) == (
        "Daily Delivery", 250.0, 75.5
    )  # fmt: skip
    assert task["external_id"] == "123456"
    assert task["user_id"] == driver
    assert [n["note"] for n in task["task_notes"]] == ["Drop at dock 3"]
    jump = dev.refused("update_order", {"id": task_id, "status": 4}, 400)
    assert jump["message"].startswith("status is not changed by Update Order")
    nobody = dev.refused("update_order", {"id": task_id, "user_id": 81029}, 404)
    assert nobody["message"] == "Couldn't find user with id 81029, merchant_id 11271"
    bad_price = dev.refused("update_order", {"id": task_id, "tip": "lots"}, 400)
    assert bad_price["message"] == "tip must be a number"
    pickup, dropoff = task["way_points"]
    pizza = {"name": "Lg. Meaty Pizza", "price": "22.0", "original_quantity": 1, "pending": True}
    changed = dev.ok(
        "update_order",
        {"id": task_id, "way_points": [{"id": dropoff["id"], "inventory": [pizza]},
                                       {"id": pickup["id"], "phone": "+1234567890"}]},
    )["task"]  # fmt: skip
    assert changed["way_points"][0]["phone"] == "+1234567890"
    assert [i["name"] for i in changed["way_points"][1]["inventory"]] == ["Lg. Meaty Pizza"]
    bad = {"id": task_id, "way_points": [{"id": pickup["id"], "phone": "+1"}, {"id": 1}]}
    assert dev.refused("update_order", bad, 404) == NOT_FOUND
    half = {"id": task_id, "way_points": [{"id": pickup["id"], "phone": "+2"},
                                          {"id": dropoff["id"], "lat": "north"}]}  # fmt: skip
    assert dev.refused("update_order", half, 400)["message"] == "way_point.lat must be a number"
    after = dev.ok("get_order", {"id": task_id})["task"]["way_points"][0]
    assert after["phone"] == "+1234567890"  # nothing of a refused update is applied
    unassigned = dev.ok("update_order", {"id": task_id, "user_id": None})["task"]
    assert unassigned["user_id"] is None
    assert unassigned["status"] == 0


def test_notes_errors(dev: Dev) -> None:
    task_id = dev.order()
    empty = dev.refused("create_note", {"task_id": task_id, "note": " "}, 400)
    assert empty == {"success": False, "rc": 1, "message": "Can't create eempty message"}
    kind = dev.refused("create_note", {"task_id": task_id, "note": "x", "type": "Poem"}, 400)
    assert kind["message"].startswith("type must be one of")
    wp = dev.refused("create_note", {"task_id": task_id, "note": "x", "way_point_id": 1}, 404)
    assert wp == NOT_FOUND
    html = dev.refused(
        "create_note", {"task_id": task_id, "note": "x", "type": "HtmlTaskNote"}, 400
    )
    assert html["message"].endswith(": url")
    note_id = dev.ok("create_note", {"task_id": task_id, "note": "x"})["task"]["id"]
    assert dev.refused("update_note", {"id": note_id, "note": ""}, 400)["rc"] == 1


def test_orders_of_the_merchant_api_are_served_too(dev: Dev) -> None:
    token = dev.http.post(
        "/oauth/token",
        json={"grant_type": "client_credentials", "client_id": "sandbox-merchant",
              "client_secret": "sandbox-merchant-secret"},
    ).json()["access_token"]  # fmt: skip
    made = dev.http.post(
        "/services/create_task",
        json={"title": "T", "customer": {"name": "J"}, "way_points": [{"address": "A"}]},
        headers={"Authorization": f"Bearer {token}"},
    )
    task_id = made.json()["task"]["id"]
    assert dev.ok("get_order", {"id": task_id})["task"]["id"] == task_id
    assert [o["id"] for o in dev.ok("open_orders")] == [task_id]

"""sandbox.requests: the bodies the sandbox checks, decoded as Structs, refused in the
documented words on Bringg's API and in core.typed's words (with the value) on the admin side."""

from __future__ import annotations

from typing import Any

import msgspec
import pytest
from sandbox_pure import CREATE, NOW, PureSandbox

from driver_agent.sandbox.requests import Fix, decode, decode_api
from driver_agent.sandbox.world import Reply, Violation


class Entry(msgspec.Struct):
    position: int | None = None


class Body(msgspec.Struct):
    entries: list[Entry] = []
    flag: bool | None = None
    extras: dict[str, object] | None = None


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"flag": "yes"}, "flag must be a boolean"),
        ({"extras": [1]}, "extras must be an object"),
        ({"entries": {}}, "entries must be an array"),
        ({"entries": [{}, 3]}, "entries[1] must be an object"),
        ({"entries": [{"position": 1.5}]}, "entries[0].position must be an integer"),
    ],
)
def test_api_bodies_are_refused_naming_the_field_in_the_documented_words(
    body: dict[str, Any], message: str
) -> None:
    with pytest.raises(Violation) as caught:
        decode_api(body, Body)
    assert (caught.value.status, caught.value.message) == (400, message)


def test_documented_words_may_say_more_for_any_index() -> None:
    words = {"entries[].position": "{where} must be 1 or 2"}
    with pytest.raises(Violation) as caught:
        decode_api({"entries": [{}, {"position": "2"}]}, Body, words)
    assert caught.value.message == "entries[1].position must be 1 or 2"


def test_admin_bodies_are_refused_with_the_value() -> None:
    with pytest.raises(Violation) as caught:
        decode({"flag": "yes"}, Body)
    assert caught.value.message == "flag: expected true or false or null, got 'yes' (a string)"


def test_unknown_keys_are_ignored_and_a_fix_defaults_to_the_time_of_receipt() -> None:
    at = decode_api({"lat": 1, "lng": 2.5, "speed": "fast"}, Fix)
    assert (at.lat, at.lng, at.ms(NOW)) == (1.0, 2.5, int(NOW * 1000))
    assert decode_api({"reported_time": 10**15 + 1}, Fix).ms(NOW) == 10**15 + 1  # exact


# Every fleet call's wrongly typed field: the answer the sandbox always gave (status, message).
ASSIGN = {"user": {"external_id": "d1", "name": "Driver One"}}  # as PureSandbox.assigned
MISSING_IDS = "param is missing or the value is empty: task_ids"
BAD_NOTE_KEY = "external_id must be a string of 1 to 255 characters"
WRONG: list[tuple[str, bool, dict[str, Any], str]] = [
    ("assign_driver", False, {"user": "d1"}, "user must be an object"),
    ("assign_driver", False, {"user": {"external_id": 7, "name": "D"}},
     "param is missing or the value is empty: user.external_id"),
    ("assign_driver", False, {"user": {"external_id": "d2", "name": ""}},
     "param is missing or the value is empty: user.name"),
    ("assign_driver", False, {"user": {"external_id": "d2", "name": "D", "phone": 5}},
     "user.phone must be in international format: +<country code>..."),
    ("assign_driver", False, {**ASSIGN, "delivery_cost": "5"}, "delivery_cost must be a number"),
    ("assign_driver", False, {**ASSIGN, "green_delivery": 1}, "green_delivery must be a boolean"),
    ("assign_driver", False, {"user_external_id": 5}, "user_external_id must be a string"),
    ("start_task", True, {"lat": "60"}, "lat must be a number"),
    ("start_task", True, {"reported_time": True},
     "reported_time must be an integer epoch in milliseconds"),
    ("cancel_delivery", True, {"reason_id": "1"}, "reason_id must be an integer"),
    ("cancel_delivery", True, {"reason_id": 1, "reason": 2}, "reason must be a string"),
    ("cancel_delivery", True, {}, "param is missing or the value is empty: reason_id"),
    ("update_task", True, {"way_points": {}}, "way_points must be an array"),
    ("update_task", True, {"way_points": [1]}, "way_points[0] must be an object"),
    ("update_task", True, {"way_points": [{"way_point_position": "1"}]},
     "way_points[0].way_point_position must be 1 or 2"),
    ("update_task", True, {"way_points": [{"way_point_position": 3}]},
     "way_points[0].way_point_position must be 1 or 2"),
    ("update_task", True, {"way_points": [{}]},
     "param is missing or the value is empty: way_points[0].way_point_position"),
    ("update_task", True, {"integration_event": []}, "integration_event must be an object"),
    ("update_task", True, {"fleet_extras": "x"}, "fleet_extras must be an object"),
    ("update_driver_location", False, {"user_external_id": "d1", "lng": 2}, "lat must be a number"),
    ("update_driver_location", False, {"user_external_id": "d1", "lat": 1, "lng": None},
     "lng must be a number"),
    ("cluster_check_in", False, {"task_ids": 5}, MISSING_IDS),
    ("cluster_check_in", False, {"task_ids": []}, MISSING_IDS),
    ("create_note", True, {"external_id": 5}, BAD_NOTE_KEY),
    ("create_note", True, {"external_id": ""}, BAD_NOTE_KEY),
]  # fmt: skip


@pytest.mark.parametrize(("call", "with_task", "body", "message"), WRONG)
def test_fleet_calls_refuse_a_wrong_field_as_they_always_did(
    call: str, with_task: bool, body: dict[str, Any], message: str
) -> None:
    pure = PureSandbox()
    task_id = pure.assigned()
    sent = {"task_id": task_id, **body} if with_task or call == "assign_driver" else body
    reply = pure.call(call, **sent)
    assert (reply.status, reply.body) == (400, {"success": False, "message": message})


def _create(**fields: Any) -> dict[str, Any]:
    return {**CREATE, **fields}


WP = CREATE["way_points"]
MERCHANT_WRONG: list[tuple[dict[str, Any], str]] = [
    (_create(way_points={"a": 1}), "way_points must be an array"),
    (_create(way_points=[WP[0], "x"]), "way_points[1] must be an object"),
    (_create(way_points=[{**WP[0], "lat": "60"}, WP[1]]), "way_points[0].lat must be a number"),
    (_create(way_points=[WP[0], {**WP[1], "customer": []}]),
     "way_points[1].customer must be an object"),
    (_create(customer="Jane"), "customer must be an object"),
    (_create(way_points=[{**WP[0], "inventory": {}}, WP[1]]),
     "way_points[0].inventory must be an array"),
    (_create(way_points=[{**WP[0], "inventory": [{"name": "a"}, 2]}, WP[1]]),
     "way_points[0].inventory[1] must be an object"),
    (_create(way_points=[{**WP[0], "inventory": [{"inventory": [{}, None]}]}, WP[1]]),
     "way_points[0].inventory[0].inventory[1] must be an object"),
]  # fmt: skip


@pytest.mark.parametrize(("body", "message"), MERCHANT_WRONG)
def test_create_order_refuses_a_wrong_field_as_it_always_did(
    body: dict[str, Any], message: str
) -> None:
    reply = PureSandbox().state.create_task(body, NOW)
    assert (reply.status, reply.body) == (400, {"success": False, "message": message})


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"reason_id": True}, "reason_id must be an integer"),
        ({"reason": 5}, "reason must be a string"),
    ],
)
def test_a_merchant_cancel_refuses_a_wrong_reason_as_it_always_did(
    change: dict[str, Any], message: str
) -> None:
    pure = PureSandbox()
    reply = pure.state.cancel_order(pure.create(), change, NOW)
    assert reply == Reply(400, {"success": False, "message": message})

"""Webhook payload parsing: every seed-002 example, Delivery Created, errors naming fields."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from driver_agent.core.errors import ConfigError
from driver_agent.core.model import NoteKind, StopKind
from driver_agent.fleetapi.webhook_payloads import (
    DeliveryCancelled,
    DeliveryCreated,
    DeliveryUpdated,
    InventoryChange,
    MerchantRegistered,
    NoteChange,
    PayloadError,
    ReturnDeliveryCreated,
    UndrivableOrderError,
    WayPointChange,
    WebhookKind,
    decode_body,
    parse_webhook,
)

DATA = Path(__file__).parent.parent / "data" / "webhooks"


def fixture_bytes(name: str) -> bytes:
    return (DATA / f"{name}.json").read_bytes()


def fixture_doc(name: str) -> dict[str, object]:
    doc = json.loads(fixture_bytes(name))
    assert isinstance(doc, dict)
    return doc


def created_doc() -> dict[str, object]:
    return fixture_doc("created")


def way_points(doc: dict[str, object]) -> list[dict[str, object]]:
    wps = doc["way_points"]
    assert isinstance(wps, list)
    return wps


# 2020-06-30T11:00:00Z etc. as epoch milliseconds, computed independently of the parser.
T_2020_06_30_11 = 1593514800000
T_2020_06_30_12 = T_2020_06_30_11 + 3_600_000
T_2020_06_30_16 = T_2020_06_30_11 + 5 * 3_600_000
T_2020_06_09_125929_883 = 1591707569883
T_2020_07_16_140241 = 1594908161000
T_2020_07_16_143727 = 1594910247000

SEED_002 = [
    (
        "updated_address",
        DeliveryUpdated(
            task_id=7694849,
            delivery_id="123",
            way_point=WayPointChange(
                id=11812926,
                position=2,
                address="6307 LAKE WHEELER RD",
                lat=35.6959427,
                lng=-78.69186169999999,
            ),
        ),
    ),
    (
        "updated_address_second_line",
        DeliveryUpdated(
            task_id=9896721,
            delivery_id="ABCD1234",
            way_point=WayPointChange(id=14840469, position=2, address_second_line="Apartment 3"),
        ),
    ),
    (
        "updated_scheduled_at",
        DeliveryUpdated(
            task_id=7694849,
            delivery_id="123",
            way_point=WayPointChange(id=11812925, position=1, scheduled_at_ms=T_2020_06_30_11),
        ),
    ),
    (
        "updated_window",
        DeliveryUpdated(
            task_id=7694849,
            delivery_id="123",
            way_point=WayPointChange(
                id=11812925,
                position=1,
                no_earlier_than_ms=T_2020_06_30_12,
                no_later_than_ms=T_2020_06_30_16,
            ),
        ),
    ),
    (
        "updated_phone",
        DeliveryUpdated(
            task_id=9896721,
            delivery_id="ABCD1234",
            way_point=WayPointChange(id=14840469, position=2, phone="+15555555556"),
        ),
    ),
    (
        "updated_email",
        DeliveryUpdated(
            task_id=9896721,
            delivery_id="ABCD1234",
            way_point=WayPointChange(id=14840469, position=2, email="[email protected]"),
        ),
    ),
    (
        "updated_inventory",
        DeliveryUpdated(
            task_id=9896721,
            delivery_id="ABCD1234",
            inventory=InventoryChange(
                id=37792187, original_quantity=3, name="Mild Chicken Sandwich"
            ),
        ),
    ),
    (
        "updated_note",
        DeliveryUpdated(
            task_id=7694849,
            delivery_id="123",
            note=NoteChange(
                id=10284559,
                note="Customer added a note",
                kind=NoteKind.TEXT,
                way_point_id=11812926,
                user_id=660963,
                created_at_ms=T_2020_06_09_125929_883,
            ),
        ),
    ),
    (
        "updated_name_and_scheduled_at",
        DeliveryUpdated(
            task_id=11277545,
            delivery_id="ABCD1234",
            way_point=WayPointChange(
                id=16672790, position=2, name="Name Changed", scheduled_at_ms=T_2020_07_16_140241
            ),
        ),
    ),
    (
        "updated_city_and_scheduled_at",
        DeliveryUpdated(
            task_id=11277918,
            delivery_id="ABCD1234",
            way_point=WayPointChange(
                id=16673227, position=2, city="Chicago", scheduled_at_ms=T_2020_07_16_143727
            ),
        ),
    ),
    (
        "updated_zipcode",
        DeliveryUpdated(
            task_id=9896721,
            delivery_id="ABCD1234",
            way_point=WayPointChange(id=14840468, position=1, zipcode="12345"),
        ),
    ),
    (
        "updated_lat_lng",
        DeliveryUpdated(
            task_id=11277918,
            delivery_id="ABCD1234",
            way_point=WayPointChange(id=16673227, position=2, lat=36.0, lng=-79.0),
        ),
    ),
]


@pytest.mark.parametrize(("name", "expected"), SEED_002, ids=[name for name, _ in SEED_002])
def test_every_partial_seed_002_example_parses_into_its_typed_change(
    name: str, expected: DeliveryUpdated
) -> None:
    event = parse_webhook(WebhookKind.DELIVERY_UPDATED, fixture_bytes(name))
    assert event == expected
    assert isinstance(event, DeliveryUpdated)
    assert event.raw == fixture_doc(name)


def test_every_update_fixture_on_disk_is_covered_by_the_table() -> None:
    on_disk = {p.stem for p in DATA.glob("updated_*.json")}
    assert on_disk == {name for name, _ in SEED_002} | {"updated_packages", "updated_full_payload"}


def test_packages_update_keeps_the_packages_and_preparation_status() -> None:
    event = parse_webhook(WebhookKind.DELIVERY_UPDATED, fixture_bytes("updated_packages"))
    assert isinstance(event, DeliveryUpdated)
    assert (event.task_id, event.delivery_id) == (123456789, "ABCD1234")
    assert event.task is not None
    assert event.full_order is None
    assert event.task.id == 123456789
    assert [p["external_id"] for p in event.task.packages] == ["testing_1", "testing_2"]
    assert (event.task.preparation_status, event.task.preparation_status_id) == (
        "READY_FOR_PICKUP",
        3,
    )


def test_full_payload_update_carries_the_whole_order() -> None:
    event = parse_webhook(WebhookKind.DELIVERY_UPDATED, fixture_bytes("updated_full_payload"))
    assert isinstance(event, DeliveryUpdated)
    assert event.task is None
    assert event.full_order is not None
    assert event.full_order.task_id == 20377415
    assert event.full_order.dropoff.address == "11 Wall St"


def test_way_point_change_kind_follows_position() -> None:
    assert WayPointChange(id=1, position=1).kind is StopKind.PICKUP
    assert WayPointChange(id=1, position=2).kind is StopKind.DROPOFF
    assert WayPointChange(id=1).kind is None


def test_delivery_created_becomes_an_order_with_both_stops() -> None:
    event = parse_webhook(WebhookKind.DELIVERY_CREATED, fixture_bytes("created"))
    assert isinstance(event, DeliveryCreated)
    order = event.order
    assert order.task_id == 20377415
    assert order.title == "Order 002-758763"
    assert order.external_id == "002-758763-20210715"
    assert order.delivery_id == ""
    assert (order.pickup.kind, order.dropoff.kind) == (StopKind.PICKUP, StopKind.DROPOFF)
    assert (order.pickup.lat, order.pickup.lng) == (40.748441, -73.985664)
    assert (order.dropoff.way_point_id, order.dropoff.address) == (27750917, "11 Wall St")
    assert order.pickup.no_earlier_than_ms == 1920473400000  # 2030-11-09T16:50:00Z
    assert order.dropoff.no_later_than_ms == 1920477600000  # 2030-11-09T18:00:00Z
    assert order.extras["request_id"] == "72afd436-dfb9-491e-a388-ac7ad0393dec"
    assert event.raw["team"] == {"external_id": "104947", "name": "Team 1"}


def test_delivery_created_way_points_in_any_order_and_by_position_only() -> None:
    doc = created_doc()
    wps = way_points(doc)
    for wp in wps:
        del wp["pickup_dropoff_option"]
    doc["way_points"] = [wps[1], wps[0]]
    event = parse_webhook(WebhookKind.DELIVERY_CREATED, json.dumps(doc).encode())
    assert isinstance(event, DeliveryCreated)
    assert event.order.pickup.way_point_id == 27750916
    assert event.order.dropoff.way_point_id == 27750917


def test_times_without_zone_are_utc_and_fractions_of_any_length_parse() -> None:
    doc = created_doc()
    wps = way_points(doc)
    wps[0]["no_earlier_than"] = "2030-11-09T16:50:00"
    wps[0]["no_later_than"] = "2030-11-09T16:50:00.000000+00:00"
    event = parse_webhook(WebhookKind.DELIVERY_CREATED, json.dumps(doc).encode())
    assert isinstance(event, DeliveryCreated)
    assert event.order.pickup.no_earlier_than_ms == 1920473400000
    assert event.order.pickup.no_later_than_ms == 1920473400000


def _break(doc: dict[str, object], path: tuple[object, ...], value: object) -> None:
    target: object = doc
    for step in path[:-1]:
        target = target[step]  # type: ignore[index]
    if value is _DELETE:
        del target[path[-1]]  # type: ignore[attr-defined]
    else:
        target[path[-1]] = value  # type: ignore[index]


_DELETE = object()

CREATED_ERRORS = [
    ("missing id", ("id",), _DELETE, "id", "missing"),
    ("null id", ("id",), None, "id", "missing"),
    ("id not a number", ("id",), "abc", "id", "integer"),
    ("id is a boolean", ("id",), True, "id", "integer"),
    ("no way points", ("way_points",), _DELETE, "way_points", "missing"),
    ("one way point", ("way_points",), [{}], "way_points", "exactly 2"),
    ("way points not a list", ("way_points",), {}, "way_points", "list"),
    ("way point not an object", ("way_points", 1), 7, "way_points[1]", "object"),
    ("lat out of range", ("way_points", 1, "lat"), 91, "way_points[1].lat", "outside"),
    ("lng is text", ("way_points", 0, "lng"), "east", "way_points[0].lng", "number"),
    (
        "bad window",
        ("way_points", 0, "no_later_than"),
        "soon",
        "way_points[0].no_later_than",
        "ISO",
    ),
    (
        "unknown option",
        ("way_points", 0, "pickup_dropoff_option"),
        "both",
        "way_points[0].pickup_dropoff_option",
        "unsupported",
    ),
    (
        "two dropoffs",
        ("way_points", 0, "pickup_dropoff_option"),
        "dropoff",
        "way_points[1]",
        "second dropoff",
    ),
]


@pytest.mark.parametrize(
    ("path", "value", "field", "words"),
    [case[1:] for case in CREATED_ERRORS],
    ids=[case[0] for case in CREATED_ERRORS],
)
def test_bad_delivery_created_names_the_field(
    path: tuple[object, ...], value: object, field: str, words: str
) -> None:
    doc = created_doc()
    _break(doc, path, value)
    with pytest.raises(PayloadError) as caught:
        parse_webhook(WebhookKind.DELIVERY_CREATED, json.dumps(doc).encode())
    assert caught.value.field == field
    assert words in str(caught.value)
    assert str(caught.value).startswith(f"{field}: ")
    assert not isinstance(caught.value, UndrivableOrderError)


@pytest.mark.parametrize("key", ["lat", "lng"])
def test_address_only_way_point_is_refused_as_undrivable_naming_the_field(key: str) -> None:
    doc = created_doc()
    way_points(doc)[1][key] = None
    with pytest.raises(UndrivableOrderError) as caught:
        parse_webhook(WebhookKind.DELIVERY_CREATED, json.dumps(doc).encode())
    assert caught.value.field == f"way_points[1].{key}"
    assert isinstance(caught.value, ConfigError)


@pytest.mark.parametrize(
    ("body", "words"),
    [
        (b"{not json", "malformed JSON"),
        (b"", "malformed JSON"),
        (b"\xff\xfe", "malformed JSON"),
        (b"[1, 2]", "expected a JSON object, got list"),
        (b'"text"', "expected a JSON object, got str"),
    ],
    ids=["broken", "empty", "not utf-8", "array", "string"],
)
def test_a_body_that_is_not_a_json_object_is_a_payload_error_on_body(
    body: bytes, words: str
) -> None:
    with pytest.raises(PayloadError) as caught:
        decode_body(body)
    assert caught.value.field == "body"
    assert words in caught.value.message


UPDATED_ERRORS = [
    ({"delivery_id": "1", "way_point": {"id": 1}}, "task_id"),
    ({"task_id": 1, "way_point": {"id": 1}}, "delivery_id"),
    ({"task_id": 1, "delivery_id": "", "way_point": {"id": 1}}, "delivery_id"),
    ({"task_id": 1, "delivery_id": "1"}, "way_point"),
    ({"task_id": 1, "delivery_id": "1", "way_point": {"position": 1}}, "way_point.id"),
    (
        {"task_id": 1, "delivery_id": "1", "way_point": {"id": 1, "position": 3}},
        "way_point.position",
    ),
    ({"task_id": 1, "delivery_id": "1", "way_point": {"id": 1, "lat": "x"}}, "way_point.lat"),
    ({"task_id": 1, "delivery_id": "1", "way_point": []}, "way_point"),
    ({"task_id": 1, "delivery_id": "1", "task_inventory": {"name": "x"}}, "task_inventory.id"),
    ({"task_id": 1, "delivery_id": "1", "task_note": {"id": 1, "note": 5.5}}, "task_note.note"),
    ({"task_id": 1, "delivery_id": "1", "task": {"id": 1, "packages": [1]}}, "task.packages[0]"),
    ({"task_id": 1, "delivery_id": "1", "task": {"id": 1, "way_points": []}}, "task.way_points"),
]


@pytest.mark.parametrize(
    ("doc", "field"), UPDATED_ERRORS, ids=[field for _, field in UPDATED_ERRORS]
)
def test_bad_delivery_updated_names_the_field(doc: dict[str, object], field: str) -> None:
    with pytest.raises(PayloadError) as caught:
        parse_webhook(WebhookKind.DELIVERY_UPDATED, json.dumps(doc).encode())
    assert caught.value.field == field


def test_unknown_note_type_keeps_the_note_without_a_kind() -> None:
    doc = {"task_id": 1, "delivery_id": "d", "task_note": {"id": 9, "type": "Hologram"}}
    event = parse_webhook(WebhookKind.DELIVERY_UPDATED, json.dumps(doc).encode())
    assert isinstance(event, DeliveryUpdated)
    assert event.note == NoteChange(id=9, kind=None)


@pytest.mark.parametrize(
    ("doc", "expected"),
    [
        (
            {
                "delivery_id": "ABCD1234",
                "id": 7694849,
                "reason_id": 3,
                "reason": "Other: customer moved",
                "request_id": "0b7e8c9e-5a0e-4c1c-9f7e-1c2d3e4f5a6b",
            },
            DeliveryCancelled(
                task_id=7694849,
                delivery_id="ABCD1234",
                reason_id=3,
                reason="Other: customer moved",
                request_id="0b7e8c9e-5a0e-4c1c-9f7e-1c2d3e4f5a6b",
            ),
        ),
        (
            {"delivery_id": "ABCD1234", "id": 7694849},
            DeliveryCancelled(task_id=7694849, delivery_id="ABCD1234"),
        ),
        (
            {"delivery_id": "ABCD1234", "task_id": 7694849, "reason_id": None},
            DeliveryCancelled(task_id=7694849, delivery_id="ABCD1234"),
        ),
    ],
    ids=["all fields", "no reason", "task_id instead of id"],
)
def test_delivery_cancelled_parses_with_or_without_reason(
    doc: dict[str, object], expected: DeliveryCancelled
) -> None:
    assert parse_webhook(WebhookKind.DELIVERY_CANCELLED, json.dumps(doc).encode()) == expected


@pytest.mark.parametrize(
    ("kind", "doc", "field"),
    [
        (WebhookKind.DELIVERY_CANCELLED, {"delivery_id": "x"}, "id"),
        (WebhookKind.DELIVERY_CANCELLED, {"id": 5}, "delivery_id"),
        (
            WebhookKind.DELIVERY_CANCELLED,
            {"id": 5, "delivery_id": "x", "reason_id": "n"},
            "reason_id",
        ),
        (WebhookKind.RETURN_DELIVERY_CREATED, {"task_id": 5}, "return_task_id"),
        (WebhookKind.MERCHANT_REGISTERED, {"merchant_uuid": ""}, "merchant_uuid"),
        (WebhookKind.MERCHANT_REGISTERED, {"merchant_uuid": []}, "merchant_uuid"),
    ],
    ids=[
        "cancel id",
        "cancel delivery_id",
        "cancel reason_id",
        "return id",
        "merchant",
        "merchant type",
    ],
)
def test_missing_identifiers_are_named(
    kind: WebhookKind, doc: dict[str, object], field: str
) -> None:
    with pytest.raises(PayloadError) as caught:
        parse_webhook(kind, json.dumps(doc).encode())
    assert caught.value.field == field


def test_return_delivery_created_tolerates_an_unknown_body() -> None:
    doc = {"return_task_id": 555, "way_points": [{"whatever": True}], "anything": None}
    event = parse_webhook(WebhookKind.RETURN_DELIVERY_CREATED, json.dumps(doc).encode())
    assert event == ReturnDeliveryCreated(return_task_id=555, raw=doc)


def test_merchant_registered_carries_the_uuid() -> None:
    uuid = "6f1c2a4e-8f0d-4c5e-9a7b-2d3c4e5f6a7b"
    doc: dict[str, object] = {"merchant_uuid": uuid}
    event = parse_webhook(WebhookKind.MERCHANT_REGISTERED, json.dumps(doc).encode())
    assert event == MerchantRegistered(merchant_uuid=uuid, raw=doc)


def test_numeric_strings_for_ids_are_accepted() -> None:
    doc = {"task_id": "7694849", "delivery_id": 123, "way_point": {"id": 1.0, "lat": "35.5"}}
    event = parse_webhook(WebhookKind.DELIVERY_UPDATED, json.dumps(doc).encode())
    assert event == DeliveryUpdated(
        task_id=7694849, delivery_id="123", way_point=WayPointChange(id=1, lat=35.5)
    )

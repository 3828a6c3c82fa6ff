"""The developer API's request bodies against the seed's own examples (seed 001)."""

from __future__ import annotations

import pytest

from driver_agent.fleetapi import devapi_bodies as b


def test_create_user_is_the_seeds_example() -> None:
    body = b.CreateUserBody(
        company_id=1,
        team_ids=[7990],
        name="User Name",
        email="test@test-company.com",
        password="example-password",
        external_id="1",
        job_description="Site Manager",
        admin=False,
        driver=True,
        dispatcher=False,
    )
    assert b.body(body) == {
        "company_id": 1,
        "team_ids": [7990],
        "name": "User Name",
        "email": "test@test-company.com",
        "password": "example-password",
        "external_id": "1",
        "job_description": "Site Manager",
        "admin": False,
        "driver": True,
        "dispatcher": False,
    }


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (b.UserIdBody(user_id=77484), {"user_id": 77484}),  # Start / End Shift
        (b.HomeEventBody(id=81617, at_home=True), {"id": 81617, "at_home": True}),
        (b.OrderIdBody(id=9707185), {"id": 9707185}),  # Start / Get / Check-in / out / End
        (b.NoParamsBody(), {}),  # Open Orders: "Requires no parameters"
        (
            b.CancelOrderBody(id=30145621, reason_id=163, reason="Reason for choosing Other"),
            {"id": 30145621, "reason_id": 163, "reason": "Reason for choosing Other"},
        ),
        (b.CancelOrderBody(external_id="ABC123"), {"external_id": "ABC123"}),
        (
            b.CreateNoteBody(
                task_id=12345,
                way_point_id=56789,
                note="Google",
                type="HtmlTaskNote",
                url="https://www.google.com",
                user_id=44444,
            ),
            {
                "task_id": 12345,
                "way_point_id": 56789,
                "note": "Google",
                "type": "HtmlTaskNote",
                "url": "https://www.google.com",
                "user_id": 44444,
            },
        ),
        (
            b.UpdateNoteBody(id=12345678, note="Changed note", url="https://www.bringg.com"),
            {"id": 12345678, "note": "Changed note", "url": "https://www.bringg.com"},
        ),
        (
            b.CreateBlockBody(
                team_id=15130,
                name="Morning Shift 005",
                description="Daily Morning Shift",
                start_time="2018-07-23 08:00:00",
                end_time="2018-07-23 13:00:00",
                original_capacity=10,
            ),
            {
                "team_id": 15130,
                "name": "Morning Shift 005",
                "description": "Daily Morning Shift",
                "start_time": "2018-07-23 08:00:00",
                "end_time": "2018-07-23 13:00:00",
                "original_capacity": 10,
            },
        ),
        (
            b.UpdateBlockBody(id=12345, original_capacity=10, team_id=54321),
            {"id": 12345, "original_capacity": 10, "team_id": 54321},
        ),
        (b.BlockIdBody(id=1246), {"id": 1246}),  # Delete a Delivery Block
        (
            b.BlockUserBody(delivery_block_id=1285, user_id=81617),
            {"delivery_block_id": 1285, "user_id": 81617},
        ),
        (
            b.DriverBlocksBody(user_ids=[81617, 82267], start_time=1531612800, end_time=1534291200),
            {"user_ids": [81617, 82267], "start_time": 1531612800, "end_time": 1534291200},
        ),
        (
            b.TeamBlocksBody(team_id=12345, start_time=1541513000, end_time=1542376985),
            {"team_id": 12345, "start_time": 1541513000, "end_time": 1542376985},
        ),
    ],
)
def test_each_body_is_the_seeds_example(value: b.Body, expected: dict[str, object]) -> None:
    assert b.body(value) == expected


def test_update_order_sends_the_driver_and_leaves_out_what_is_unset() -> None:
    body = b.UpdateOrderBody(id=8497619, user_id=81029, title="Daily Delivery", status=4)
    assert b.body(body) == {"id": 8497619, "user_id": 81029, "title": "Daily Delivery", "status": 4}


def test_a_get_sends_its_parameters_in_the_query_string_lists_as_rails_reads_them() -> None:
    assert b.query(b.TeamIdsQuery(team_ids=[12345, 67890])) == [
        ("team_ids[]", "12345"),
        ("team_ids[]", "67890"),
    ]
    assert b.query(b.BlockIdBody(id=1285)) == [("id", "1285")]


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (b.CancelOrderBody(reason_id=1), "id/external_id: one of them names the order"),
        (b.CreateNoteBody(task_id=1, note="x", type="Sticker"), "type: 'Sticker' is not one of"),
        (b.CreateNoteBody(task_id=1, note=""), "note: a text note must not be empty"),
        (b.CreateUserBody(name="  "), "name: must not be empty"),
        (b.CreateUserBody(name="A", home_lat=91.0, home_lng=0.0), "home_lat: 91.0 is not a lat"),
        (b.CreateUserBody(name="A", home_lat=1.0), "home_lat/home_lng: send both or neither"),
        (b.UpdateBlockBody(id=1, recurring="never"), "recurring: 'never' is not one of all"),
        (b.CreateBlockBody(original_capacity=-1), "original_capacity: -1 is below 0"),
        (b.TeamBlocksBody(team_id=1, start_time=10, end_time=5), "end_time: 5 is before"),
        (b.CreateCustomerFields(name="C"), "phone/email: one of them is required"),
        (b.UpdateOrderBody(id=1, delivery_price=float("inf")), "delivery_price: inf is not"),
    ],
)
def test_bad_input_is_refused_naming_the_field(value: b.Body, message: str) -> None:
    with pytest.raises(ValueError, match=message.replace("(", r"\(")):
        b.body(value)


def test_a_photo_or_signature_note_may_have_no_text() -> None:
    assert b.body(b.CreateNoteBody(task_id=1, note="", type="Signature", url="https://x/s.png"))

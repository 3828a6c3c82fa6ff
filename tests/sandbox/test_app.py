"""The sandbox over real HTTP on loopback: tokens, merchant orders, Manhattan, the fleet walk,
webhooks out to a receiver, rate limits and faults."""

from __future__ import annotations

import base64
import json
import threading
from collections.abc import Awaitable, Callable, Iterator, MutableMapping
from typing import Any

import anyio
import httpx
import pytest

from driver_agent.core.serving import serve_app_in_thread
from driver_agent.sandbox import SandboxApp, SandboxClock, SandboxSettings, serve_sandbox_in_thread
from driver_agent.sandbox.merchant_orders import MAX_WAY_POINTS_MESSAGE

START_S = 1_767_225_600.0  # 2026-01-01: the seed-001 dates (2017) stay within '10 years'
FLEET = {
    "grant_type": "client_credentials",
    "client_id": "sandbox-fleet",
    "client_secret": "sandbox-fleet-secret",
}
MERCHANT = {
    "grant_type": "client_credentials",
    "client_id": "sandbox-merchant",
    "client_secret": "sandbox-merchant-secret",
}
MANHATTAN = "/partner-integrations-service/v1/integrations/manhattan/orders"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64

SEED_001_GENERIC: dict[str, Any] = {
    "title": "Generic Title",
    "external_id": "ABC15D",
    "scheduled_at": "2017-10-31T12:00:00-5",
    "customer": {
        "name": "Mr. Customer",
        "address": "1900 Wall st, New York, NY",
        "phone": "0545454545",
        "allow_sending_sms": True,
        "allow_sending_email": False,
    },
    "teams": [4248, 8419],
    "way_points": [
        {
            "customer": {"name": "restaurant", "phone": "0123456789"},
            "scheduled_at": "2017-10-31T11:00:00-5",
            "address": "4196 Water St. New York, NY 10002",
            "city": "New York",
            "address_type": 1,
            "location_name": "Public Library",
        },
        {
            "customer": {"name": "Mr. Customer", "phone": "05456974815"},
            "scheduled_at": "2017-10-31T12:00:00-5",
            "address": "416 Water St. New York, NY 10002",
            "delivery_confirmation_signature": "2",
            "note": "Please don't ring the bell. Baby is sleeping.",
            "inventory": [
                {
                    "name": "temp",
                    "price": 10.4,
                    "external_id": "12321312",
                    "description": "This is a cool setup",
                    "original_quantity": 5,
                    "scan_string": "34242342342323432432234",
                    "weight": 100,
                }
            ],
        },
    ],
}
SEED_001_CUSTOMER_ID: dict[str, Any] = {
    "title": "Order Title Goes Here",
    "external_id": "EXT1234",
    "customer_id": 45678,
    "way_points": [
        {
            "customer": {
                "name": "Warehouse",
                "address": "350 5th Ave, New York, NY 10118",
                "address_second_line": "1st floor, 3rd door on the right",
            },
            "scheduled_at": "2017-03-31T11:00:00-5",
            "note": "Here is the note on the 1st waypoint",
            "inventory": [
                {"name": "Acme Cat Litter 1kg", "pending": True, "original_quantity": 1},
                {"id": 72407, "original_quantity": 2},
            ],
            "must_approve_inventory": True,
        },
        {
            "customer_id": 45678,
            "scheduled_at": "2017-03-31T12:00:00-5",
            "note": "Here is the note on the 2nd waypoint",
        },
    ],
    "teams": [4248, 8419],
}
SEED_001_NESTED: dict[str, Any] = {
    "title": "Delivery for Jane Smith",
    "external_id": "EXT1234",
    "customer": {"name": "Jane Smith"},
    "teams": [1234],
    "way_points": [
        {
            "customer": {"name": "Jane Smith", "address": "350 5th Ave, New York, NY 10118"},
            "scheduled_at": "2018-05-31T11:00:00-5",
            "note": "Don't ring the bell. Knock",
            "inventory": [
                {
                    "price": 12.00,
                    "name": "Super Meal",
                    "original_quantity": 1,
                    "inventory": [
                        {"price": 2.75, "name": "Superfood Side", "original_quantity": 1}
                    ],
                }
            ],
        }
    ],
}
SEED_003_REQUEST_DRIVER: dict[str, Any] = {
    "shipRequest": {
        "provider": "DeliveryProviderExample",
        "carrierCode": "DPE",
        "shipment": {
            "shipDate": "2026-09-16T13:00:14.596Z",
            "deliveryDate": "2026-09-17T09:00:14.596Z",
            "description": "P1234567890123",
            "serviceLevel": "EXPRESS",
            "fulfillmentId": "ORDER-123456-789101",
            "orderId": "ORDER-123456-78910",
            "monetaryValue": "100",
            "currencyCode": "USD",
            "shipper": {
                "contact": {"personName": "John Smith", "phoneNumber": "+1234567890"},
                "address": {
                    "streetLines": ["123 Main St, New York, NY 10022, USA"],
                    "city": "New York",
                    "stateOrProvinceCode": "NY",
                    "postalCode": "10022",
                },
            },
            "recipient": {
                "contact": {"personName": "Alex Johnson", "phoneNumber": "+1234567890"},
                "address": {
                    "streetLines": ["456 Oak Ave"],
                    "city": "New York",
                    "stateOrProvinceCode": "NY",
                    "postalCode": "10019",
                },
            },
            "referenceFields": [{"key1": "Chicago", "key2": "delivery"}],
            "packages": [
                {
                    "contentDescription": "Package - P1234567890123",
                    "weight": {"value": 5, "weightUnits": "KG"},
                    "dimensions": {"length": 20, "width": 10, "height": 5},
                }
            ],
        },
    }
}
SEED_003_CANCEL: dict[str, Any] = {  # the FulfillmentCancel event, trimmed to its identifying parts
    "Messages": None,
    "CurrentObject": {
        "ServiceLevelCode": "SD",
        "Process": "/fulfillment/cancel/",
        "FulfillmentId": "ORDER-123456-789101",
        "CancelReasonId": {"FulfillmentReasonId": "This order is not needed anymore"},
        "OrgId": "PARTNER",
    },
    "EventName": "FulfillmentCancel",
    "ChangeSet": {"MaxStatusId": "3000.000", "FulfillmentId": "ORDER-123456-789101"},
}


@pytest.fixture
def sandbox_settings() -> SandboxSettings:
    return SandboxSettings(webhook_retry_delay_s=0, start_s=START_S)


class Api:
    """A thin test client: tokens for both sides, fleet and merchant calls, admin calls."""

    def __init__(self, url: str) -> None:
        self.http = httpx.Client(base_url=url)
        self.fleet_auth = self._auth(FLEET)
        self.merchant_auth = self._auth(MERCHANT)

    def _auth(self, creds: dict[str, str]) -> dict[str, str]:
        reply = self.http.post("/oauth/token", json=creds)
        assert reply.status_code == 200, reply.text
        return {"Authorization": f"Bearer {reply.json()['access_token']}"}

    def fleet(self, name: str, **body: Any) -> httpx.Response:
        return self.http.post(f"/open_fleet_services/{name}", json=body, headers=self.fleet_auth)

    def merchant(self, path: str, body: dict[str, Any]) -> httpx.Response:
        return self.http.post(path, json=body, headers=self.merchant_auth)

    def create(self, **fields: Any) -> int:
        body: dict[str, Any] = {
            "title": "T",
            "customer": {"name": "Jane"},
            "way_points": [{"address": "Kamppi"}, {"address": "Kallio"}],
        }
        body.update(fields)
        reply = self.merchant("/services/create_task", body)
        assert reply.json()["success"] is True, reply.text
        return int(reply.json()["task"]["id"])

    def state(self) -> dict[str, Any]:
        reply = self.http.get("/_sandbox/state")
        assert reply.status_code == 200
        state: dict[str, Any] = reply.json()
        return state

    def order(self, task_id: int) -> dict[str, Any]:
        return next(o for o in self.state()["orders"] if o["task_id"] == task_id)

    def driver(self, external_id: str) -> dict[str, Any]:
        return next(d for d in self.state()["drivers"] if d["external_id"] == external_id)

    def advance(self, seconds: float) -> None:
        assert self.http.post("/_sandbox/clock", json={"advance_s": seconds}).status_code == 200

    def settle(self) -> None:
        assert self.http.post("/_sandbox/settle", json={"timeout_s": 10}).json()["idle"] is True


@pytest.fixture
def api(sandbox_url: str) -> Iterator[Api]:
    client = Api(sandbox_url)
    yield client
    client.http.close()


# -- tokens and transport rules ------------------------------------------------------------------


def test_token_has_the_documented_fields(sandbox_url: str) -> None:
    reply = httpx.post(sandbox_url + "/oauth/token", json=FLEET)
    body = reply.json()
    assert reply.status_code == 200
    assert (body["token_type"], body["expires_in"], body["created_at"]) == (
        "Bearer",
        1800,
        int(START_S),
    )
    assert isinstance(body["access_token"], str)
    assert len(body["access_token"]) > 40


def test_token_also_accepts_a_form_encoded_body(sandbox_url: str) -> None:
    reply = httpx.post(sandbox_url + "/oauth/token", data=MERCHANT)
    assert reply.status_code == 200


def test_wrong_secret_gets_401(sandbox_url: str) -> None:
    reply = httpx.post(sandbox_url + "/oauth/token", json={**FLEET, "client_secret": "wrong"})
    assert reply.status_code == 401
    assert reply.json()["success"] is False


def test_token_expires_after_1800_s_of_sandbox_time(api: Api) -> None:
    task_id = api.create()
    api.advance(1799)
    assert api.fleet("start_task", task_id=task_id).status_code == 200
    api.advance(1)
    reply = api.fleet("start_task", task_id=task_id)
    assert (reply.status_code, reply.json()) == (
        401,
        {"success": False, "message": "Token expired"},
    )


@pytest.mark.parametrize(
    "path",
    [
        "/oauth/token?client_id=sandbox-fleet&client_secret=sandbox-fleet-secret",
        "/open_fleet_services/start_task?access_token=abc",
    ],
)
def test_credentials_in_the_url_get_401(sandbox_url: str, path: str) -> None:
    reply = httpx.post(sandbox_url + path, json=FLEET)
    assert reply.status_code == 401


@pytest.mark.parametrize(
    "path", ["/oauth/token", "/open_fleet_services/start_task", "/services/create_task", "/nope"]
)
def test_get_on_any_api_path_is_404(sandbox_url: str, path: str) -> None:
    assert httpx.get(sandbox_url + path).status_code == 404


def test_tokens_work_only_on_their_own_side(api: Api) -> None:
    wrong_side = api.http.post("/services/create_task", json={}, headers=api.fleet_auth)
    assert wrong_side.status_code == 401
    wrong_side = api.http.post("/open_fleet_services/checkin", json={}, headers=api.merchant_auth)
    assert wrong_side.status_code == 401
    assert api.http.post("/open_fleet_services/checkin", json={}).status_code == 401


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"{not json", "malformed JSON body: Expecting property name enclosed in double quotes"),
        (b"[1, 2]", "the JSON body must be an object"),
    ],
)
def test_malformed_json_is_a_400_that_says_what_is_wrong(
    api: Api, content: bytes, message: str
) -> None:
    reply = api.http.post("/open_fleet_services/checkin", content=content, headers=api.fleet_auth)
    assert reply.status_code == 400
    assert reply.json()["message"].startswith(message)


def test_every_response_carries_ratelimit_headers(api: Api) -> None:
    replies = [
        api.fleet("start_task", task_id=1),
        api.http.get("/nope"),
        api.http.get("/_sandbox/state"),
        api.http.post("/open_fleet_services/checkin", json={}),
        api.http.post("/oauth/token", json=FLEET),
    ]
    for reply in replies:
        assert {"ratelimit-limit", "ratelimit-remaining", "ratelimit-reset"} <= set(reply.headers)
    assert replies[0].headers["ratelimit-limit"] == "100000"


# -- merchant side -------------------------------------------------------------------------------


def test_seed_001_create_order_example_gives_a_drivable_order(api: Api) -> None:
    reply = api.merchant("/services/create_task", SEED_001_GENERIC)
    task = reply.json()["task"]
    assert reply.status_code == 200
    assert (task["title"], task["external_id"], task["status"]) == ("Generic Title", "ABC15D", 0)
    pickup, dropoff = task["way_points"]
    assert pickup["address"] == "4196 Water St. New York, NY 10002"
    assert pickup["scheduled_at"] == "2017-10-31T16:00:00.000Z"
    assert pickup["customer"]["name"] == "restaurant"
    assert dropoff["inventory"][0]["name"] == "temp"
    assert dropoff["notes"][0]["note"] == "Please don't ring the bell. Baby is sleeping."
    for wp in (pickup, dropoff):
        assert 60.160 < wp["lat"] < 60.200
        assert 24.900 < wp["lng"] < 24.980
    assert task["customer"]["name"] == "Mr. Customer"


def test_seed_001_examples_with_customer_id_and_nested_inventory(api: Api) -> None:
    first = api.merchant("/services/create_task", SEED_001_CUSTOMER_ID).json()
    assert first["success"] is True
    assert first["task"]["customer"]["id"] == 45678
    assert len(first["task"]["way_points"][0]["inventory"]) == 2
    duplicate = api.merchant("/services/create_task", SEED_001_NESTED)
    assert (duplicate.status_code, duplicate.json()) == (
        200,
        {"success": False, "message": "Task with external id EXT1234 exists already"},
    )
    nested = api.merchant("/services/create_task", {**SEED_001_NESTED, "external_id": "J1"})
    inventory = nested.json()["task"]["way_points"][1]["inventory"]
    assert [row["name"] for row in inventory] == ["Super Meal", "Superfood Side"]
    assert inventory[1]["parent_task_inventory_id"] == inventory[0]["id"]


@pytest.mark.parametrize(
    ("body", "status", "message"),
    [
        (
            {"customer": {"name": "A"}, "way_points": [{"address": "a"}] * 3},
            400,
            MAX_WAY_POINTS_MESSAGE,
        ),
        (
            {
                "customer": {"name": "A"},
                "way_points": [{"address": "a", "no_earlier_than": "+92022-02-01T00:00:00Z"}],
            },
            200,
            "One of the parameters is incorrect: [Time '+92022-02-01T00:00:00Z' is out of range "
            "'10 years' for 'no_earlier_than']",
        ),
        (
            {"customer_id": 99999, "way_points": [{"address": "a"}]},
            200,
            "Customer 99999 does not exist",
        ),
    ],
)
def test_seed_004_errors_where_they_apply(
    api: Api, body: dict[str, Any], status: int, message: str
) -> None:
    reply = api.merchant("/services/create_task", body)
    assert (reply.status_code, reply.json()) == (status, {"success": False, "message": message})
    assert api.state()["orders"] == []


def test_manhattan_request_driver_get_and_cancel(api: Api) -> None:
    created = api.merchant(MANHATTAN, SEED_003_REQUEST_DRIVER)
    body = created.json()
    assert created.status_code == 200
    assert body["severityType"] == "SUCCESS"
    assert body["notifications"] == [
        {"code": "0000", "message": None, "severity": "SUCCESS", "source": "Bringg"}
    ]
    assert body["provider"] == "DeliveryProviderExample"
    (shipment,) = body["completedShipments"]
    assert shipment["carrierCode"] == "DPE"
    assert shipment["billingWeight"] == {"value": 5, "weightUnits": "KG"}
    assert shipment["shipDate"] == "2026-09-16T13:00:14.596Z".rstrip("Z")
    task_id = int(shipment["shipmentId"])
    order = api.order(task_id)
    assert (order["external_id"], order["source"]) == ("ORDER-123456-789101", "manhattan")
    for ref in (str(task_id), "ORDER-123456-789101"):
        got = api.http.get(f"{MANHATTAN}/{ref}", headers=api.merchant_auth)
        assert got.status_code == 200
        assert got.json()["completedShipments"][0]["shipmentId"] == str(task_id)
    missing = api.http.get(f"{MANHATTAN}/424242", headers=api.merchant_auth)
    assert missing.status_code == 404
    assert missing.json()["notifications"][0]["message"] == "general error"
    assert missing.json()["severityType"] == "ERROR"
    cancelled = api.merchant(MANHATTAN + "/cancel", SEED_003_CANCEL)
    assert cancelled.json() == {
        "severityType": "SUCCESS",
        "notifications": [
            {
                "severity": "SUCCESS",
                "source": "Bringg",
                "code": "0000",
                "message": "Cancelled successfully",
            }
        ],
        "provider": None,
        "completedShipments": None,
    }
    assert api.order(task_id)["status"] == 7
    again = api.merchant(MANHATTAN + "/cancel", SEED_003_CANCEL).json()
    assert again["notifications"][0]["message"] == "Failed to cancel the order"
    assert again["severityType"] == "ERROR"


# -- the fleet walk ------------------------------------------------------------------------------


def _png_data_url() -> str:
    return "data:image/png;base64," + base64.b64encode(PNG).decode()


def test_full_fleet_walk_with_each_status_confirmed_in_state(api: Api) -> None:
    task_id = api.create()
    t0 = int(START_S * 1000)
    pickup_id, dropoff_id = (wp["id"] for wp in api.order(task_id)["way_points"])
    steps: list[tuple[str, dict[str, Any], int, int | None]] = [
        ("assign_driver", {"user": {"external_id": "d1", "name": "Delivery Driver"}}, 1, pickup_id),
        ("start_task", {"lat": 60.17, "lng": 24.93, "reported_time": t0}, 2, pickup_id),
        (
            "checkin",
            {"pickup_dropoff_option": "pickup", "reported_time": t0 + 60_000},
            3,
            pickup_id,
        ),
        (
            "create_note",
            {"type": "TaskPhoto", "image": _png_data_url(), "way_point_position": 1},
            3,
            pickup_id,
        ),
        ("checkout", {"pickup_dropoff_option": "pickup"}, 2, dropoff_id),
        ("checkin", {"pickup_dropoff_option": "dropoff"}, 3, dropoff_id),
        ("create_note", {"type": "Signature", "image": _png_data_url()}, 3, dropoff_id),
        ("checkout", {"pickup_dropoff_option": "dropoff"}, 3, dropoff_id),
        ("end_task", {"lat": 60.18, "lng": 24.95}, 4, None),
    ]
    for name, body, status, active in steps:
        reply = api.fleet(name, task_id=task_id, **body)
        assert reply.status_code == 200, reply.text
        assert reply.json()["success"] is True, (name, reply.text)
        order = api.order(task_id)
        assert (order["status"], order["active_way_point_id"]) == (status, active), name
    order = api.order(task_id)
    assert order["driver"] == "d1"
    assert order["notes"] == 2
    assert all(wp["checkin_time"] and wp["checkout_time"] for wp in order["way_points"])
    calls = api.state()["calls"]
    assert calls["/open_fleet_services/checkin"] == {"count": 2, "by_status": {"200": 2}}


def test_refused_calls_over_http_change_nothing(api: Api) -> None:
    task_id = api.create()
    api.fleet("assign_driver", task_id=task_id, user={"external_id": "d1", "name": "D"})
    api.fleet("start_task", task_id=task_id)
    api.fleet("checkin", task_id=task_id)
    before = api.order(task_id)
    for name in ("checkin", "start_task", "end_task"):
        reply = api.fleet(name, task_id=task_id)
        assert reply.status_code == 200
        assert reply.json()["success"] is False
        assert isinstance(reply.json()["message"], str)
    assert api.order(task_id) == before
    unknown = api.fleet("checkin", task_id=123)
    assert (unknown.status_code, unknown.json()) == (
        403,
        {"success": False, "message": "Task not found"},
    )


@pytest.mark.parametrize("steps", [0, 1, 2, 3, 4, 5])
def test_cancel_over_http_from_every_state_before_done_and_refused_after(
    api: Api, steps: int
) -> None:
    walk: list[tuple[str, dict[str, Any]]] = [
        ("assign_driver", {"user": {"external_id": "d1", "name": "D"}}),
        ("start_task", {}),
        ("checkin", {}),
        ("checkout", {}),
        ("checkin", {}),
    ]
    task_id = api.create()
    for name, body in walk[:steps]:
        assert api.fleet(name, task_id=task_id, **body).json()["success"] is True
    reply = api.fleet("cancel_delivery", task_id=task_id, reason_id=0, reason="customer gone")
    assert reply.json()["task"]["status"] == 7
    assert api.order(task_id)["status"] == 7
    done = api.create(external_id="done")
    for name, body in [*walk, ("end_task", {})]:
        api.fleet(name, task_id=done, **body)
    refused = api.fleet("cancel_delivery", task_id=done, reason_id=0).json()
    assert refused["message"] == "Can not cancel of a done task"


def test_a_45_s_gap_between_pings_is_counted(api: Api) -> None:
    task_id = api.create()
    t0 = int(START_S * 1000)
    api.fleet("assign_driver", task_id=task_id, user={"external_id": "d9", "name": "D"})
    api.fleet("start_task", task_id=task_id, reported_time=t0)
    for offset_s in (10, 20, 65, 75):
        reply = api.fleet(
            "update_driver_location",
            user_external_id="d9",
            lat=60.17,
            lng=24.94,
            reported_time=t0 + offset_s * 1000,
        )
        assert reply.json() == {"success": True, "rc": 0}
    driver = api.driver("d9")
    assert (driver["max_gap_s"], driver["gaps_over_30s"], driver["location_count"]) == (45.0, 1, 4)
    missing = api.fleet("update_driver_location", lat=1, lng=2)
    assert (missing.status_code, missing.json()) == (
        403,
        {"success": False, "message": "Missing user id/external_id"},
    )


# -- webhooks ------------------------------------------------------------------------------------


Message = MutableMapping[str, Any]


class Receiver:
    """A tiny fleet webhook endpoint: records requests and answers from a script."""

    def __init__(self, statuses: list[int], *, hang_first: bool = False) -> None:
        self.statuses = statuses
        self.hang_first = hang_first
        self.requests: list[tuple[str, str | None, dict[str, Any]]] = []
        self._second = threading.Event()

    async def __call__(
        self,
        scope: Message,
        receive: Callable[[], Awaitable[Message]],
        send: Callable[[Message], Awaitable[None]],
    ) -> None:
        assert scope["type"] == "http"
        raw = b""
        while True:
            message = await receive()
            raw += message.get("body", b"")
            if not message.get("more_body"):
                break
        headers = dict(scope["headers"])
        auth = headers.get(b"authorization")
        self.requests.append(
            (scope["path"], auth.decode() if auth else None, json.loads(raw or b"{}"))
        )
        attempt = len(self.requests)
        if self.hang_first and attempt == 1:
            await anyio.to_thread.run_sync(self._second.wait, 10)  # until the retry arrives
        else:
            self._second.set()
        status = self.statuses[min(attempt, len(self.statuses)) - 1]
        body = json.dumps({"success": True, "delivery_id": f"fleet-{attempt}"}).encode()
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [(b"content-type", b"application/json")],
            }
        )
        await send({"type": "http.response.body", "body": body})


def _sandbox_with(receiver: Receiver, **settings: Any) -> Iterator[tuple[Api, Receiver]]:
    with serve_app_in_thread(receiver) as fleet_url:
        options: dict[str, Any] = {"webhook_retry_delay_s": 0, "start_s": START_S}
        options.update(settings)
        with serve_sandbox_in_thread(
            SandboxSettings(fleet_webhook_url=fleet_url, **options)
        ) as url:
            api = Api(url)
            try:
                yield api, receiver
            finally:
                api.http.close()


@pytest.fixture
def flaky_fleet() -> Iterator[tuple[Api, Receiver]]:
    yield from _sandbox_with(Receiver([503, 503, 200]))


def test_delivery_created_goes_out_with_the_merchant_key_and_is_retried_on_503(
    flaky_fleet: tuple[Api, Receiver],
) -> None:
    api, receiver = flaky_fleet
    task_id = api.create(external_id="W1")
    api.settle()
    assert len(receiver.requests) == 3
    for path, auth, payload in receiver.requests:
        assert path == "/webhooks/delivery_created"
        assert auth == "sandbox-merchant-api-key"
        assert payload["id"] == task_id
        assert [wp["position"] for wp in payload["way_points"]] == [1, 2]
    order = api.order(task_id)
    assert (order["delivery_id"], order["status"]) == ("fleet-3", 6)
    stats = api.state()["webhooks"]["delivery_created"]
    assert stats == {"sent": 1, "failed": 0, "attempts": 3}


def test_delivery_created_gives_up_after_three_retries() -> None:
    for api, receiver in _sandbox_with(Receiver([503])):
        task_id = api.create()
        api.settle()
        assert len(receiver.requests) == 4
        assert api.state()["webhooks"]["delivery_created"]["failed"] == 1
        assert api.order(task_id)["fleet_error"] == "Delivery Created failed: HTTP 503"


def test_delivery_created_is_retried_when_the_fleet_does_not_answer_in_time() -> None:
    for api, receiver in _sandbox_with(Receiver([200], hang_first=True), webhook_timeout_s=0.3):
        task_id = api.create()
        api.settle()
        assert len(receiver.requests) == 2
        assert api.order(task_id)["delivery_id"] == "fleet-2"


def test_admin_update_and_cancel_send_delivery_updated_and_cancelled(
    flaky_fleet: tuple[Api, Receiver],
) -> None:
    api, receiver = flaky_fleet
    task_id = api.create()
    api.settle()
    update = {
        "way_point": {
            "position": 2,
            "no_earlier_than": "2026-06-30T12:00:00.000Z",
            "no_later_than": "2026-06-30T16:00:00.000Z",
        }
    }
    reply = api.http.post(f"/_sandbox/orders/{task_id}/update", json=update).json()
    assert reply["webhook"]["status"] == 200
    path, _, payload = receiver.requests[-1]
    dropoff_id = api.order(task_id)["way_points"][1]["id"]
    assert path == "/webhooks/delivery_updated"
    assert payload == {
        "task_id": task_id,
        "delivery_id": "fleet-3",
        "way_point": {
            "no_earlier_than": "2026-06-30T12:00:00.000Z",
            "no_later_than": "2026-06-30T16:00:00.000Z",
            "id": dropoff_id,
            "position": 2,
        },
    }
    api.http.post(f"/_sandbox/orders/{task_id}/update", json={"full": True})
    _, _, full = receiver.requests[-1]
    assert (full["task_id"], full["delivery_id"], full["task"]["id"]) == (
        task_id,
        "fleet-3",
        task_id,
    )
    cancel = {"reason_id": 12, "reason": "Other: customer moved"}
    api.http.post(f"/_sandbox/orders/{task_id}/cancel", json=cancel)
    path, _, cancelled = receiver.requests[-1]
    assert path == "/webhooks/delivery_cancelled"
    assert {k: cancelled[k] for k in ("delivery_id", "id", "reason_id", "reason")} == {
        "delivery_id": "fleet-3",
        "id": task_id,
        "reason_id": 12,
        "reason": "Other: customer moved",
    }
    assert isinstance(cancelled["request_id"], str)
    assert api.order(task_id)["status"] == 7


# -- rate limit and faults -----------------------------------------------------------------------


def test_rate_limit_answers_429_with_retry_after_per_credential() -> None:
    settings = SandboxSettings(rate_limit_per_window=3, rate_window_s=60, start_s=START_S + 30)
    with serve_sandbox_in_thread(settings) as url:
        api = Api(url)  # one token request per side
        first = api.fleet("start_task", task_id=1)
        assert first.headers["ratelimit-remaining"] == "1"
        api.fleet("start_task", task_id=1)
        throttled = api.fleet("start_task", task_id=1)
        assert throttled.status_code == 429
        assert throttled.headers["retry-after"] == "30"
        assert throttled.headers["ratelimit-remaining"] == "0"
        assert api.merchant("/services/create_task", {}).status_code != 429
        api.advance(30)
        assert api.fleet("start_task", task_id=1).status_code == 403
        api.http.close()


def test_faults_answer_errors_then_clear(api: Api) -> None:
    admin = api.http
    admin.post("/_sandbox/faults", json={"status": 503, "count": 2})
    statuses = [api.fleet("start_task", task_id=1).status_code for _ in range(3)]
    assert statuses == [503, 503, 403]
    admin.post("/_sandbox/faults", json={"status": 429, "count": 1, "retry_after_s": 1})
    throttled = api.fleet("start_task", task_id=1)
    assert (throttled.status_code, throttled.headers["retry-after"]) == (429, "1")
    admin.post("/_sandbox/faults", json={"status": 502, "duration_s": 120})
    assert api.http.post("/oauth/token", json=FLEET).status_code == 200
    assert api.fleet("start_task", task_id=1).status_code == 502
    api.advance(121)
    api.fleet_auth = api._auth(FLEET)
    assert api.fleet("start_task", task_id=1).status_code == 403
    location = "/open_fleet_services/update_driver_location"
    admin.post("/_sandbox/faults", json={"status": 504, "count": 5, "paths": [location]})
    assert api.fleet("start_task", task_id=1).status_code == 403
    assert api.fleet("update_driver_location", user_id=1, lat=1, lng=1).status_code == 504
    admin.post("/_sandbox/faults", json={"clear": True})
    assert api.fleet("update_driver_location", user_id=1, lat=1, lng=1).status_code == 403
    assert api.state()["faults"] == []


class RecordingClock(SandboxClock):
    """Sandbox time as usual; a delay fault's wait is recorded instead of slept."""

    def __init__(self) -> None:
        super().__init__(START_S)
        self.slept: list[float] = []

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)


def test_delay_faults_wait_through_the_sandbox_clock_once_per_count(
    sandbox_settings: SandboxSettings,
) -> None:
    clock = RecordingClock()
    app = SandboxApp(sandbox_settings, clock=clock)
    with serve_sandbox_in_thread(app=app) as url:
        api = Api(url)
        assert api.http.post("/_sandbox/faults", json={"delay_s": 0.3, "count": 1}).is_success
        assert api.fleet("start_task", task_id=1).status_code == 403  # slowed, then answered
        assert clock.slept == [0.3]
        api.fleet("start_task", task_id=1)
        assert clock.slept == [0.3]  # the count is used up: no more waiting
        path = "/_sandbox/state"
        api.http.post("/_sandbox/faults", json={"delay_s": 2, "count": 1, "paths": [path]})
        assert api.http.get(path).status_code == 200
        assert clock.slept == [0.3, 2.0]  # an admin path, named in paths, waits too
        api.http.close()


def test_bad_admin_requests_are_400(api: Api) -> None:
    assert api.http.post("/_sandbox/clock", json={"advance_s": -5}).status_code == 400
    assert api.http.post("/_sandbox/faults", json={"status": 700, "count": 1}).status_code == 400
    missing = api.http.post("/_sandbox/orders/1/update", json={"full": True})
    assert missing.status_code == 404


@pytest.mark.parametrize("first_s", [1e308, 10**19, 3.2e9], ids=["1e308", "20-digits", "101y"])
def test_the_sandbox_clock_moves_at_most_100_years_and_keeps_answering(
    api: Api, first_s: float
) -> None:
    refused = api.http.post("/_sandbox/clock", json={"advance_s": first_s})
    assert refused.status_code == 400
    assert "100 years" in refused.json()["message"]
    api.advance(3.0e9)  # 95 years: allowed, once
    again = api.http.post("/_sandbox/clock", json={"advance_s": 3.0e9})
    assert again.status_code == 400
    assert api.state()["now_s"] > START_S + 3.0e9
    assert api.http.post("/oauth/token", json=FLEET).status_code == 200


@pytest.mark.parametrize(
    ("content", "content_type", "status", "fragment"),
    [
        pytest.param(b"[" * 100_000, "application/json", 400, "deeper than 64", id="deep"),
        pytest.param(b'{"task_id": ' + b"1" * 5000 + b"}", None, 400, "5000 digits", id="huge"),
        pytest.param(b'{"task_id": 1}', "text/plain", 415, "text/plain", id="not-json-type"),
        pytest.param(b'{"a": "\\udc00"}', None, 400, "surrogate", id="lone-surrogate"),
    ],
)
def test_api_bodies_outside_the_json_limits_get_a_4xx_naming_the_problem(
    api: Api, content: bytes, content_type: str | None, status: int, fragment: str
) -> None:
    headers = dict(api.fleet_auth)
    if content_type:
        headers["content-type"] = content_type
    reply = api.http.post("/open_fleet_services/checkin", content=content, headers=headers)
    assert reply.status_code == status
    assert fragment in reply.json()["message"]

"""The developer API client on the wire, against scripted answers (httpx.MockTransport).

What goes out (method, the service's own URL, body or query), what comes back (the documented
refusals as our ApiErrors with the server's message), retries, reconciliation and statistics per
service. The end-to-end calls against the embedded sandbox are in test_devapi_sandbox.py.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import random
from collections.abc import Awaitable, Callable
from urllib.parse import urlencode

import httpx
import pytest

from driver_agent.core.clock import VirtualClock
from driver_agent.core.config import ApiConfig, OwnFleetConfig
from driver_agent.core.errors import (
    ApiUnavailable,
    AuthError,
    ConfigError,
    ForbiddenError,
    OutcomeUnknown,
    RejectedError,
)
from driver_agent.core.model import Secret, TaskStatus
from driver_agent.fleetapi import devapi_bodies as b
from driver_agent.fleetapi.devapi import DevApiClient, PartnerCredentials, configured_urls
from driver_agent.fleetapi.devapi_services import SERVICES, Service
from driver_agent.fleetapi.devapi_session import service_urls
from driver_agent.fleetapi.devapi_views import OrderView

BASE = "https://developer-api.example"
URLS = {name: f"{BASE}/services/{i:04d}/uuid-a-{name}/uuid-b" for i, name in enumerate(SERVICES)}
TASK = {"id": 9707185, "status": 2, "user_id": 7, "way_points": [{"id": 1, "position": 1}]}

Handler = Callable[[httpx.Request], httpx.Response]


class Wire:
    """Answers scripted per service name; records what was sent."""

    def __init__(self) -> None:
        self.sent: list[httpx.Request] = []
        self.script: dict[str, list[Handler]] = {}
        self.by_path = {httpx.URL(url).path: name for name, url in URLS.items()}

    def answer(self, service: str, *handlers: Handler) -> None:
        self.script.setdefault(service, []).extend(handlers)

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.sent.append(request)
        name = self.by_path.get(request.url.path, request.url.path)
        queue = self.script.get(name, [])
        return queue.pop(0)(request) if queue else httpx.Response(404)

    def body(self, index: int = -1) -> object:
        return json.loads(self.sent[index].content)


def ok(payload: object) -> Handler:
    return lambda request: httpx.Response(200, json=payload)


def status(code: int, payload: object = None) -> Handler:
    return lambda request: httpx.Response(code, json=payload)


def lost(request: httpx.Request) -> httpx.Response:
    raise httpx.ReadError("connection reset after the request was written", request=request)


def never_sent(request: httpx.Request) -> httpx.Response:
    raise httpx.ConnectError("connection refused", request=request)


@pytest.fixture
def wire() -> Wire:
    return Wire()


@pytest.fixture
def calls() -> list[tuple[str, int | None]]:
    return []


@pytest.fixture
def client(wire: Wire, calls: list[tuple[str, int | None]]) -> DevApiClient:
    http = httpx.AsyncClient(transport=httpx.MockTransport(wire))
    return DevApiClient(
        URLS,
        ApiConfig(max_retries=2, backoff_base_s=0.1, backoff_cap_s=1.0),
        VirtualClock(),
        http=http,
        rng=random.Random(1),
        on_response=lambda name, code, _latency: calls.append((name, code)),
    )


async def test_each_order_step_posts_the_id_to_its_own_url(
    wire: Wire, client: DevApiClient
) -> None:
    steps: dict[Service, Callable[[int], Awaitable[OrderView | None]]] = {
        Service.START_ORDER: client.start_order,
        Service.CHECKIN: client.checkin,
        Service.CHECKOUT: client.checkout,
        Service.END_ORDER: client.end_order,
        Service.GET_ORDER: client.get_order,
    }
    for service, step in steps.items():
        wire.answer(service, ok({"success": True, "task": TASK}))
        order = await step(9707185)
        assert order is not None
        assert order.status is TaskStatus.ON_THE_WAY
        sent = wire.sent[-1]
        assert (sent.method, str(sent.url)) == ("POST", URLS[service])
        assert wire.body() == {"id": 9707185}


async def test_shifts_home_and_users(wire: Wire, client: DevApiClient) -> None:
    wire.answer(Service.CREATE_USER, ok({"success": True, "user": {"id": 81617, "driver": True}}))
    wire.answer(Service.START_SHIFT, ok({"success": True, "shift": {"id": 5, "start_shift": "t"}}))
    wire.answer(Service.DRIVER_HOME_EVENT, ok({"success": True, "message": "left home"}))
    wire.answer(Service.END_SHIFT, ok({"success": True, "shift": {"id": 5, "end_shift": "u"}}))
    user = await client.create_user(b.CreateUserBody(name="Dave", driver=True, company_id=1))
    assert wire.body() == {"name": "Dave", "driver": True, "company_id": 1}
    shift = await client.start_shift(user.id)
    assert wire.body() == {"user_id": 81617}
    assert shift is not None
    assert shift.id == 5
    assert await client.driver_home_event(user.id, at_home=False) == "left home"
    assert wire.body() == {"id": 81617, "at_home": False}
    ended = await client.end_shift(user.id)
    assert ended is not None
    assert ended.end_shift == "u"


async def test_the_gets_carry_their_parameters_in_the_query(
    wire: Wire, client: DevApiClient
) -> None:
    wire.answer(Service.DRIVER_AVAILABILITY, ok({"success": True, "drivers": [{"id": 1}]}))
    wire.answer(Service.GET_DELIVERY_BLOCK, ok({"success": True, "delivery_block": {"id": 1285}}))
    wire.answer(Service.GET_SHIFTS_SCHEDULE, ok({"success": True, "shift_schedules": []}))
    assert [d.id for d in await client.driver_availability([12345, 67890])] == [1]
    assert wire.sent[-1].method == "GET"
    assert wire.sent[-1].url.query == b"team_ids%5B%5D=12345&team_ids%5B%5D=67890"
    assert (await client.get_delivery_block(1285)).id == 1285
    assert wire.sent[-1].url.params["id"] == "1285"
    assert await client.get_shifts_schedule() == []
    assert wire.sent[-1].url.query == b""


async def test_open_orders_reads_a_bare_list(wire: Wire, client: DevApiClient) -> None:
    wire.answer(Service.OPEN_ORDERS, ok([TASK, {**TASK, "id": 2, "status": 0}]))
    assert [o.id for o in await client.open_orders()] == [9707185, 2]
    assert wire.body() == {}


async def test_delivery_blocks(wire: Wire, client: DevApiClient) -> None:
    block = {"id": 1285, "user_ids": [81617], "original_capacity": 10}
    wire.answer(Service.CREATE_DELIVERY_BLOCK, ok({"success": True, "delivery_block": block}))
    wire.answer(Service.ASSIGN_DELIVERY_BLOCK, ok({"success": True}))
    wire.answer(
        Service.DELIVERY_BLOCKS_BY_DRIVER, ok({"success": True, "delivery_blocks": [block]})
    )
    wire.answer(Service.DELETE_DELIVERY_BLOCK, ok({"success": True}))
    created = await client.create_delivery_block(
        b.CreateBlockBody(team_id=1, original_capacity=10, start_time="a", end_time="b")
    )
    assert created.original_capacity == 10
    assert await client.assign_delivery_block(1285, 81617) is True
    assert wire.body() == {"delivery_block_id": 1285, "user_id": 81617}
    blocks = await client.delivery_blocks_by_driver([81617], start_time=1, end_time=2)
    assert [x.id for x in blocks] == [1285]
    assert await client.delete_delivery_block(1285) is True
    assert wire.body() == {"id": 1285}


@pytest.mark.parametrize(
    ("handler", "error", "message"),
    [
        (ok({"success": False, "rc": 0, "message": "ActiveRecord::RecordNotFound"}),
         RejectedError, "ActiveRecord::RecordNotFound"),
        (ok({"success": False, "message": "Can't update a done order"}),
         RejectedError, "Can't update a done order"),
        (status(422, {"message": "param is missing or the value is empty: id"}),
         RejectedError, "param is missing"),
        (status(401, {"message": "bad service"}), AuthError, "bad service"),
        (status(403, {"message": "not yours"}), ForbiddenError, "not yours"),
        (ok({"success": True}), RejectedError, "unreadable answer: task: missing"),
    ],
)  # fmt: skip
async def test_documented_refusals_become_our_errors_with_the_message(
    wire: Wire, client: DevApiClient, handler: Handler, error: type[Exception], message: str
) -> None:
    wire.answer(Service.CHECKOUT, handler)
    with pytest.raises(error) as info:
        await client.checkout(1234)
    assert message in str(info.value)
    assert getattr(info.value, "endpoint", None) == "checkout"
    assert len(wire.sent) == 1  # a refusal is not retried


async def test_a_5xx_is_retried_and_counted_under_the_service_name(
    wire: Wire, client: DevApiClient, calls: list[tuple[str, int | None]]
) -> None:
    wire.answer(Service.GET_ORDER, status(503), ok({"success": True, "task": TASK}))
    assert await client.get_order(1) is not None
    assert calls == [("get_order", 503), ("get_order", 200)]
    stats = client.statistics()
    assert (stats.requests, stats.retries, stats.reconciled) == (2, 1, 0)


async def test_a_step_resent_after_an_unknown_outcome_is_reconciled(
    wire: Wire, client: DevApiClient
) -> None:
    wire.answer(
        Service.START_ORDER, lost, ok({"success": False, "message": "Order already started"})
    )
    assert await client.start_order(1) is None  # applied the first time: no second start
    assert client.statistics().reconciled == 1


async def test_already_is_a_refusal_when_no_attempt_may_have_applied(
    wire: Wire, client: DevApiClient
) -> None:
    wire.answer(
        Service.START_ORDER, never_sent, ok({"success": False, "message": "Order already started"})
    )
    with pytest.raises(RejectedError, match="already started"):
        await client.start_order(1)


async def test_a_create_whose_answer_was_lost_is_not_sent_twice(
    wire: Wire, client: DevApiClient
) -> None:
    wire.answer(Service.CREATE_NOTE, lost, ok({"success": True, "task": {"id": 2}}))
    with pytest.raises(OutcomeUnknown):
        await client.create_note(b.CreateNoteBody(task_id=1, note="hello"))
    assert len(wire.sent) == 1


async def test_a_step_that_keeps_failing_after_it_may_have_applied_is_outcome_unknown(
    wire: Wire, client: DevApiClient
) -> None:
    wire.answer(Service.CHECKIN, status(502), status(503), status(503))
    with pytest.raises(OutcomeUnknown):
        await client.checkin(1)
    assert len(wire.sent) == 3  # max_retries = 2
    wire.answer(Service.GET_ORDER, never_sent, never_sent, never_sent)
    with pytest.raises(ApiUnavailable) as info:
        await client.get_order(1)
    assert not isinstance(info.value, OutcomeUnknown)


async def test_the_service_urls_never_show_in_errors_or_reprs(
    wire: Wire, client: DevApiClient
) -> None:
    echo = f"no route for {URLS['end_order']} ({httpx.URL(URLS['end_order']).path})"
    wire.answer(Service.END_ORDER, ok({"success": False, "message": echo}))
    with pytest.raises(RejectedError) as info:
        await client.end_order(1)
    assert "uuid-a" not in str(info.value)
    assert "[secure]" in str(info.value)
    assert "uuid-a" not in repr(client)


async def test_a_service_without_a_url_is_named(wire: Wire) -> None:
    only = {"start_order": URLS["start_order"]}
    http = httpx.AsyncClient(transport=httpx.MockTransport(wire))
    client = DevApiClient(only, ApiConfig(), VirtualClock(), http=http)
    assert client.services == {"start_order"}
    with pytest.raises(ConfigError, match=r"own_fleet\.services\.checkin: no URL configured"):
        await client.checkin(1)
    assert wire.sent == []


def test_service_urls_join_the_sandboxs_paths_and_hide_bad_ones() -> None:
    listing = {"checkin": "/services/1/a/b"}
    urls = service_urls(listing, base_url="http://127.0.0.1:8800/")
    assert urls == {"checkin": "http://127.0.0.1:8800/services/1/a/b"}
    with pytest.raises(ConfigError) as info:
        service_urls({"checkin": "http://bringg.example/services/SECRET"})
    assert "SECRET" not in str(info.value)
    with pytest.raises(ConfigError, match=r"own_fleet\.services\.nope: unknown service"):
        service_urls({"nope": "https://x.example/"})


def test_configured_urls_reveal_the_table_for_the_client() -> None:
    own = OwnFleetConfig(services={"checkin": Secret(URLS["checkin"])})
    assert configured_urls(own) == {"checkin": URLS["checkin"]}


async def test_create_customer_posts_the_signed_form(wire: Wire, client: DevApiClient) -> None:
    partner = PartnerCredentials(
        f"{BASE}/partner_api", 1, Secret("K6PAAwvx6-3PtAA4zvEV"), Secret("my-secret-key")
    )
    wire.by_path["/partner_api/customers"] = "create_customer"
    wire.answer("create_customer", ok({"success": True, "customer": {"id": 16439}}))
    customer = await client.create_customer(
        partner, b.CreateCustomerFields(name="test c", email="abctest@test.com")
    )
    assert customer.id == 16439
    sent = wire.body()
    assert isinstance(sent, dict)
    assert str(wire.sent[-1].url) == f"{BASE}/partner_api/customers"
    assert sent["timestamp"] == "1700000000000"  # the clock's epoch ms
    unsigned = {k: str(x) for k, x in sent.items() if k != "signature"}
    expected = hmac.new(
        b"my-secret-key", urlencode(sorted(unsigned.items())).encode(), hashlib.sha1
    ).hexdigest()
    assert sent["signature"] == expected
    assert list(sent) == [*sorted(unsigned), "signature"]


async def test_a_partner_refusal_never_echoes_the_token_or_the_key(
    wire: Wire, client: DevApiClient
) -> None:
    partner = PartnerCredentials(f"{BASE}/partner_api", 1, Secret("tok-123"), Secret("key-456"))
    wire.by_path["/partner_api/customers"] = "create_customer"
    echo = {"success": False, "message": "bad signature for tok-123 with key-456"}
    wire.answer("create_customer", ok(echo))
    with pytest.raises(RejectedError) as info:
        await client.create_customer(partner, b.CreateCustomerFields(name="c", phone="1"))
    assert str(info.value).count("[secure]") == 2
    assert "tok-123" not in str(info.value)
    assert "key-456" not in str(info.value)


def test_partner_credentials_come_from_the_config_only_when_complete() -> None:
    assert PartnerCredentials.from_config(OwnFleetConfig()) is None
    full = OwnFleetConfig(
        partner_url="https://x.example/partner_api",
        company_id=3,
        access_token=Secret("t"),
        secret_key=Secret("k"),
    )
    partner = PartnerCredentials.from_config(full)
    assert partner is not None
    assert partner.company_id == 3
    assert "k" not in repr(partner.secret_key)


async def test_a_drivers_step_may_name_the_caller_the_way_point_and_the_position(
    wire: Wire, client: DevApiClient
) -> None:
    wire.answer(Service.CHECKIN, ok({"success": True, "task": TASK}))
    await client.checkin(9707185, user_id=7, way_point_id=1, lat=40.44, lng=-80.0)
    assert wire.body() == {
        "id": 9707185,
        "user_id": 7,
        "way_point_id": 1,
        "lat": 40.44,
        "lng": -80.0,
    }
    with pytest.raises(ValueError, match="checkin: lat/lng: send both or neither"):
        await client.checkin(9707185, lat=40.44)


async def test_a_checkout_resent_after_its_answer_was_lost_is_reconciled(
    wire: Wire, client: DevApiClient
) -> None:
    moved_on = {"success": False, "message": "Way point 1 is not the order's next way point"}
    wire.answer(Service.CHECKOUT, lost, ok(moved_on))
    assert await client.checkout(1, way_point_id=1) is None
    wire.answer(Service.CHECKOUT, ok(moved_on))  # no doubt about this one: a refusal
    with pytest.raises(RejectedError, match="not the order's next way point"):
        await client.checkout(1, way_point_id=1)


async def test_a_step_given_up_in_doubt_and_sent_again_later_is_reconciled(
    wire: Wire, client: DevApiClient
) -> None:
    wire.answer(Service.START_ORDER, lost, lost, lost)
    with pytest.raises(OutcomeUnknown):
        await client.start_order(5, lat=1.0, lng=2.0)
    wire.answer(Service.START_ORDER, ok({"success": False, "message": "Order already started"}))
    assert await client.start_order(5, lat=1.5, lng=2.5) is None  # elsewhere now: same step
    wire.answer(Service.START_ORDER, ok({"success": False, "message": "Order already started"}))
    with pytest.raises(RejectedError):  # the doubt was settled: now it is a refusal
        await client.start_order(5)
    assert client.statistics().reconciled == 1

"""The webhook receiver over real HTTP on loopback: keys, replies, the channel, busy and retries."""

from __future__ import annotations

import json
import socket
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeAlias

import anyio
import anyio.lowlevel
import httpx
import pytest
import uvicorn

from driver_agent.core.clock import VirtualClock
from driver_agent.core.config import WebhookConfig
from driver_agent.core.errors import ConfigError
from driver_agent.core.model import Secret
from driver_agent.fleetapi.webhook_payloads import (
    DeliveryCancelled,
    DeliveryCreated,
    DeliveryUpdated,
    MerchantRegistered,
    ReturnDeliveryCreated,
    WebhookEvent,
    WebhookKind,
    parse_webhook,
)
from driver_agent.fleetapi.webhooks import (
    WebhookReceiver,
    WebhookSettings,
    create_webhook_app,
)

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Callable, Iterator

    from starlette.types import ASGIApp

DATA = Path(__file__).parent.parent / "data" / "webhooks"
KEY = "merchant-key-1"
OTHER_KEY = "merchant-key-2"
SETTINGS = WebhookSettings(api_keys=(Secret(KEY), Secret(OTHER_KEY)))
AUTH = {"Authorization": f"Bearer {KEY}"}
MakeReceiver: TypeAlias = "Callable[..., WebhookReceiver]"


def fixture_bytes(name: str) -> bytes:
    return (DATA / f"{name}.json").read_bytes()


def created_doc() -> dict[str, object]:
    doc = json.loads(fixture_bytes("created"))
    assert isinstance(doc, dict)
    return doc


@asynccontextmanager
async def serving(app: ASGIApp) -> AsyncIterator[httpx.AsyncClient]:
    """Serve `app` on 127.0.0.1:<free port> inside the caller's task; yield a client for it.

    The socket is bound and listening before uvicorn starts, so requests queue in the backlog
    until it accepts them: ready without polling.
    """
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    sock.listen(64)
    port = sock.getsockname()[1]
    config = uvicorn.Config(app, lifespan="off", log_level="warning", access_log=False)
    server = uvicorn.Server(config)
    try:
        async with anyio.create_task_group() as tg:
            tg.start_soon(lambda: server.serve(sockets=[sock]))
            async with httpx.AsyncClient(
                base_url=f"http://127.0.0.1:{port}", trust_env=False, timeout=10.0
            ) as client:
                yield client
            server.should_exit = True
    finally:
        sock.close()


@pytest.fixture
def make_receiver() -> Iterator[MakeReceiver]:
    """WebhookReceiver(...) that is closed after the test (its streams warn when left open)."""
    made: list[WebhookReceiver] = []

    def make(settings: WebhookSettings = SETTINGS, **kwargs: Any) -> WebhookReceiver:
        made.append(WebhookReceiver(settings, **kwargs))
        return made[-1]

    yield make
    for receiver in made:
        receiver.__exit__(None, None, None)


def pending(receiver: WebhookReceiver) -> list[WebhookEvent]:
    """Everything handed over so far, without waiting."""
    events: list[WebhookEvent] = []
    while True:
        try:
            events.append(receiver.receive_stream.receive_nowait())
        except anyio.WouldBlock:
            return events


SEED_002 = sorted(p.stem for p in DATA.glob("updated_*.json"))


async def test_every_seed_002_example_is_accepted_and_handed_over_typed(
    make_receiver: MakeReceiver,
) -> None:
    assert len(SEED_002) == 14  # 13 documented examples and the full-payload wrapper
    receiver = make_receiver()
    async with serving(receiver.app) as client:
        for name in SEED_002:
            response = await client.post(
                "/webhooks/delivery_updated", content=fixture_bytes(name), headers=AUTH
            )
            assert (name, response.status_code, response.json()) == (name, 200, {"success": True})
    expected = [parse_webhook(WebhookKind.DELIVERY_UPDATED, fixture_bytes(n)) for n in SEED_002]
    events = pending(receiver)
    assert events == expected
    assert all(isinstance(event, DeliveryUpdated) for event in events)
    assert receiver.statistics()["received"] == {"delivery_updated": 14}


async def test_delivery_created_is_answered_with_a_delivery_id_and_the_order_arrives(
    make_receiver: MakeReceiver,
) -> None:
    receiver = make_receiver()
    async with serving(receiver.app) as client:
        response = await client.post(
            "/webhooks/delivery_created", content=fixture_bytes("created"), headers=AUTH
        )
    assert response.status_code == 200
    assert response.json() == {"success": True, "delivery_id": "da-20377415"}
    [event] = pending(receiver)
    assert isinstance(event, DeliveryCreated)
    assert event.order.task_id == 20377415
    assert event.order.delivery_id == "da-20377415"
    assert event.order.dropoff.address == "11 Wall St"


async def test_a_consumer_task_reading_an_unbuffered_channel_gets_each_order(
    make_receiver: MakeReceiver,
) -> None:
    receiver = make_receiver(SETTINGS, buffer_size=0)
    got: list[WebhookEvent] = []

    async def consume() -> None:
        async for event in receiver.receive_stream:
            got.append(event)

    async with anyio.create_task_group() as tg:
        tg.start_soon(consume)
        async with serving(receiver.app) as client:
            for task_id in (1, 2, 3):
                doc = created_doc()
                doc["id"] = task_id
                response = await client.post("/webhooks/delivery_created", json=doc, headers=AUTH)
                assert response.json() == {"success": True, "delivery_id": f"da-{task_id}"}
        receiver.close()
    assert [e.order.task_id for e in got if isinstance(e, DeliveryCreated)] == [1, 2, 3]


@pytest.mark.parametrize(
    "authorization",
    [KEY, f"Bearer {KEY}", f"bearer   {KEY}", OTHER_KEY, f"Bearer {OTHER_KEY}"],
    ids=["raw", "bearer", "bearer lower case", "second merchant", "second bearer"],
)
async def test_every_configured_key_is_accepted_raw_or_as_bearer(
    authorization: str, make_receiver: MakeReceiver
) -> None:
    receiver = make_receiver()
    async with serving(receiver.app) as client:
        response = await client.post(
            "/webhooks/delivery_cancelled",
            json={"id": 5, "delivery_id": "da-5"},
            headers={"Authorization": authorization},
        )
    assert response.status_code == 200
    assert pending(receiver) == [DeliveryCancelled(task_id=5, delivery_id="da-5")]


@pytest.mark.parametrize(
    ("keys", "headers"),
    [
        ((Secret(KEY),), {}),
        ((Secret(KEY),), {"Authorization": ""}),
        ((Secret(KEY),), {"Authorization": "wrong"}),
        ((Secret(KEY),), {"Authorization": "Bearer wrong"}),
        ((Secret(KEY),), {"Authorization": "Bearer"}),
        ((Secret(KEY),), {"Authorization": f"Basic {KEY}"}),
        ((Secret(KEY),), {"x-api-key": KEY}),
        ((), {}),
        ((), {"Authorization": ""}),
        ((Secret(""),), {"Authorization": ""}),
    ],
    ids=[
        "missing",
        "empty",
        "wrong",
        "wrong bearer",
        "bearer without key",
        "basic scheme",
        "key in another header",
        "no keys configured",
        "no keys configured, empty header",
        "only an empty key configured",
    ],
)
async def test_a_wrong_or_missing_key_gets_401_and_nothing_is_handed_over(
    keys: tuple[Secret, ...], headers: dict[str, str], make_receiver: MakeReceiver
) -> None:
    receiver = make_receiver(WebhookSettings(api_keys=keys))
    async with serving(receiver.app) as client:
        response = await client.post(
            "/webhooks/delivery_created", content=fixture_bytes("created"), headers=headers
        )
    assert response.status_code == 401
    assert response.json()["success"] is False
    assert KEY not in response.text
    assert pending(receiver) == []
    assert receiver.statistics()["rejected"] == {"delivery_created:401": 1}


@pytest.mark.parametrize(
    ("path", "body", "words"),
    [
        ("/webhooks/delivery_created", b"{not json", "malformed JSON"),
        ("/webhooks/delivery_updated", b"", "malformed JSON"),
        ("/webhooks/delivery_cancelled", b"[]", "expected a JSON object"),
        ("/webhooks/merchant_registered", b"{}", "merchant_uuid: missing"),
        ("/webhooks/return_delivery_created", b'{"id": 4}', "return_task_id: missing"),
        ("/webhooks/delivery_updated", b'{"task_id": 1}', "delivery_id: missing"),
    ],
    ids=["created", "updated empty", "cancelled array", "merchant", "return", "updated"],
)
async def test_a_bad_body_gets_400_naming_the_problem(
    path: str, body: bytes, words: str, make_receiver: MakeReceiver
) -> None:
    receiver = make_receiver()
    async with serving(receiver.app) as client:
        response = await client.post(path, content=body, headers=AUTH)
    assert response.status_code == 400
    assert response.json()["success"] is False
    assert words in response.json()["error_message"]
    assert pending(receiver) == []


@pytest.mark.parametrize(
    ("change", "field"),
    [
        (lambda doc: doc.pop("id"), "id: missing"),
        (lambda doc: doc.__setitem__("way_points", doc["way_points"][:1]), "way_points: expected"),
        (lambda doc: doc["way_points"].append({}), "way_points: expected exactly 2"),
        (lambda doc: doc["way_points"][0].__setitem__("lat", 123), "way_points[0].lat"),
    ],
    ids=["missing id", "one way point", "three way points", "lat out of range"],
)
async def test_a_bad_delivery_created_gets_400_naming_the_field(
    change: Callable[[dict[str, object]], object],
    field: str,
    make_receiver: MakeReceiver,
) -> None:
    doc = created_doc()
    change(doc)
    receiver = make_receiver()
    async with serving(receiver.app) as client:
        response = await client.post("/webhooks/delivery_created", json=doc, headers=AUTH)
    assert response.status_code == 400
    assert response.json()["error_message"].startswith(field)
    assert pending(receiver) == []


async def test_an_address_only_way_point_is_refused_with_the_documented_200_body(
    make_receiver: MakeReceiver,
) -> None:
    doc = created_doc()
    way_points = doc["way_points"]
    assert isinstance(way_points, list)
    del way_points[1]["lat"]
    receiver = make_receiver()
    async with serving(receiver.app) as client:
        response = await client.post("/webhooks/delivery_created", json=doc, headers=AUTH)
    assert response.status_code == 200
    body = response.json()
    assert body["success"] is False
    assert body["error_message"].startswith("way_points[1].lat: missing")
    assert pending(receiver) == []


async def test_a_retried_delivery_created_gets_the_same_id_and_one_order(
    make_receiver: MakeReceiver,
) -> None:
    counter = iter(range(100))
    receiver = make_receiver(SETTINGS, delivery_id_for=lambda e: f"ours-{next(counter)}")
    async with serving(receiver.app) as client:
        replies = [
            (
                await client.post(
                    "/webhooks/delivery_created", content=fixture_bytes("created"), headers=AUTH
                )
            ).json()
            for _ in range(3)
        ]
    assert replies == [{"success": True, "delivery_id": "ours-0"}] * 3
    events = pending(receiver)
    assert len(events) == 1
    assert isinstance(events[0], DeliveryCreated)
    assert events[0].order.delivery_id == "ours-0"
    assert receiver.statistics()["duplicates"] == {"delivery_created": 2}


async def test_concurrent_retries_of_one_delivery_created_hand_it_over_once(
    make_receiver: MakeReceiver,
) -> None:
    receiver = make_receiver()
    replies: list[object] = []
    async with serving(receiver.app) as client:

        async def post() -> None:
            response = await client.post(
                "/webhooks/delivery_created", content=fixture_bytes("created"), headers=AUTH
            )
            replies.append(response.json())

        async with anyio.create_task_group() as tg:
            for _ in range(5):
                tg.start_soon(post)
    assert replies == [{"success": True, "delivery_id": "da-20377415"}] * 5
    assert len(pending(receiver)) == 1


async def test_a_full_channel_gets_fleet_busy_in_bounded_time_then_a_retry_succeeds(
    make_receiver: MakeReceiver,
) -> None:
    clock = VirtualClock()
    receiver = make_receiver(SETTINGS, buffer_size=1, clock=clock)
    other = created_doc()
    other["id"] = 99
    async with serving(receiver.app) as client:
        first = await client.post("/webhooks/delivery_created", json=other, headers=AUTH)
        assert first.json() == {"success": True, "delivery_id": "da-99"}
        started = clock.monotonic()
        busy = await client.post(
            "/webhooks/delivery_created", content=fixture_bytes("created"), headers=AUTH
        )
        waited_s = clock.monotonic() - started
        update = await client.post(
            "/webhooks/delivery_updated", content=fixture_bytes("updated_phone"), headers=AUTH
        )
        assert [e.order.task_id for e in pending(receiver) if isinstance(e, DeliveryCreated)] == [
            99
        ]
        retry = await client.post(
            "/webhooks/delivery_created", content=fixture_bytes("created"), headers=AUTH
        )
    assert (busy.status_code, busy.json()) == (
        200,
        {"success": False, "error_message": "fleet busy"},
    )
    assert SETTINGS.busy_timeout_s <= waited_s < SETTINGS.busy_timeout_s + 1
    assert update.status_code == 503
    assert retry.json() == {"success": True, "delivery_id": "da-20377415"}
    [event] = pending(receiver)
    assert isinstance(event, DeliveryCreated)
    assert event.order.task_id == 20377415


async def test_a_closed_channel_refuses_orders_and_asks_bringg_to_retry_the_rest(
    make_receiver: MakeReceiver,
) -> None:
    receiver = make_receiver()
    receiver.close()
    async with serving(receiver.app) as client:
        created = await client.post(
            "/webhooks/delivery_created", content=fixture_bytes("created"), headers=AUTH
        )
        cancelled = await client.post(
            "/webhooks/delivery_cancelled", json={"id": 1, "delivery_id": "d"}, headers=AUTH
        )
    assert (created.status_code, created.json()["success"]) == (200, False)
    assert "not receiving" in created.json()["error_message"]
    assert cancelled.status_code == 503


async def test_delivery_cancelled_arrives_as_a_typed_event(
    make_receiver: MakeReceiver,
) -> None:
    receiver = make_receiver()
    body = {
        "delivery_id": "da-7694849",
        "id": 7694849,
        "reason_id": 3,
        "reason": "Other: customer moved",
        "request_id": "0b7e8c9e-5a0e-4c1c-9f7e-1c2d3e4f5a6b",
    }
    async with serving(receiver.app) as client:
        response = await client.post("/webhooks/delivery_cancelled", json=body, headers=AUTH)
    assert (response.status_code, response.json()) == (200, {"success": True})
    assert pending(receiver) == [
        DeliveryCancelled(
            task_id=7694849,
            delivery_id="da-7694849",
            reason_id=3,
            reason="Other: customer moved",
            request_id="0b7e8c9e-5a0e-4c1c-9f7e-1c2d3e4f5a6b",
        )
    ]


async def test_return_delivery_created_and_merchant_registered_get_their_documented_replies(
    make_receiver: MakeReceiver,
) -> None:
    receiver = make_receiver()
    uuid = "6f1c2a4e-8f0d-4c5e-9a7b-2d3c4e5f6a7b"
    async with serving(receiver.app) as client:
        returned = await client.post(
            "/webhooks/return_delivery_created",
            json={"return_task_id": 555, "unknown": {"shape": True}},
            headers=AUTH,
        )
        again = await client.post(
            "/webhooks/return_delivery_created", json={"return_task_id": 555}, headers=AUTH
        )
        merchant = await client.post(
            "/webhooks/merchant_registered", json={"merchant_uuid": uuid}, headers=AUTH
        )
    assert returned.status_code == 200
    assert returned.json() == {"success": True, "return_delivery_id": "da-return-555"}
    assert again.json() == returned.json()
    assert merchant.status_code == 200
    assert merchant.json() == {"success": True, "merchant_uuid": uuid}
    events = pending(receiver)
    assert [type(e) for e in events] == [ReturnDeliveryCreated, MerchantRegistered]
    assert events[1] == MerchantRegistered(merchant_uuid=uuid, raw={"merchant_uuid": uuid})


async def test_unknown_paths_are_404_and_other_methods_405(
    make_receiver: MakeReceiver,
) -> None:
    receiver = make_receiver()
    async with serving(receiver.app) as client:
        unknown = await client.post("/webhooks/get_quote", json={}, headers=AUTH)
        get = await client.get("/webhooks/delivery_created", headers=AUTH)
        put = await client.put("/webhooks/delivery_updated", json={}, headers=AUTH)
    assert (unknown.status_code, get.status_code, put.status_code) == (404, 405, 405)


async def test_configured_paths_replace_the_defaults(
    make_receiver: MakeReceiver,
) -> None:
    settings = WebhookSettings(
        api_keys=(Secret(KEY),),
        paths={WebhookKind.DELIVERY_CREATED: "/bringg/created"},
    )
    receiver = make_receiver(settings)
    async with serving(receiver.app) as client:
        moved = await client.post("/bringg/created", content=fixture_bytes("created"), headers=AUTH)
        old = await client.post(
            "/webhooks/delivery_created", content=fixture_bytes("created"), headers=AUTH
        )
        kept = await client.post(
            "/webhooks/delivery_cancelled", json={"id": 1, "delivery_id": "d"}, headers=AUTH
        )
    assert (moved.status_code, old.status_code, kept.status_code) == (200, 404, 200)


async def test_a_callable_sink_gets_the_events_and_can_refuse_them() -> None:
    taken: list[WebhookEvent] = []
    accept = True

    def offer(event: WebhookEvent) -> bool:
        if accept:
            taken.append(event)
        return accept

    app = create_webhook_app(SETTINGS, offer, clock=VirtualClock())
    async with serving(app) as client:
        ok = await client.post(
            "/webhooks/delivery_cancelled", json={"id": 1, "delivery_id": "d"}, headers=AUTH
        )
        accept = False
        refused = await client.post(
            "/webhooks/delivery_created", content=fixture_bytes("created"), headers=AUTH
        )
    assert ok.status_code == 200
    assert refused.json() == {"success": False, "error_message": "fleet busy"}
    assert taken == [DeliveryCancelled(task_id=1, delivery_id="d")]


async def test_an_async_sink_is_awaited_before_the_reply_goes_out() -> None:
    """The bridge answers Bringg only once the order is durable: the reply waits for the sink."""
    handled: list[WebhookEvent] = []
    entered, release = anyio.Event(), anyio.Event()

    async def handle(event: WebhookEvent) -> bool:
        entered.set()
        await release.wait()  # e.g. the outbox commit
        handled.append(event)
        return True

    app = create_webhook_app(SETTINGS, handle, clock=VirtualClock())
    replies: list[httpx.Response] = []
    async with serving(app) as client:

        async def post() -> None:
            replies.append(
                await client.post(
                    "/webhooks/delivery_created", content=fixture_bytes("created"), headers=AUTH
                )
            )

        async with anyio.create_task_group() as tg:
            tg.start_soon(post)
            await entered.wait()
            for _ in range(200):  # ample turns for a reply that did not wait
                await anyio.lowlevel.checkpoint()
            assert replies == []  # no answer while the sink is still working
            release.set()
    assert replies[0].json()["success"] is True
    assert len(handled) == 1


async def test_an_async_sink_that_refuses_gets_fleet_busy() -> None:
    async def refuse(event: WebhookEvent) -> bool:
        return False

    app = create_webhook_app(SETTINGS, refuse, clock=VirtualClock())
    async with serving(app) as client:
        reply = await client.post(
            "/webhooks/delivery_created", content=fixture_bytes("created"), headers=AUTH
        )
    assert reply.json() == {"success": False, "error_message": "fleet busy"}


async def test_a_bug_in_our_code_is_logged_and_answered_500_without_killing_the_server(
    make_receiver: MakeReceiver,
) -> None:
    def broken(event: DeliveryCreated) -> str:
        raise RuntimeError("bug")

    receiver = make_receiver(SETTINGS, delivery_id_for=broken)
    async with serving(receiver.app) as client:
        response = await client.post(
            "/webhooks/delivery_created", content=fixture_bytes("created"), headers=AUTH
        )
        after = await client.post(
            "/webhooks/delivery_cancelled", json={"id": 1, "delivery_id": "d"}, headers=AUTH
        )
    assert response.status_code == 500
    assert response.json() == {"success": False, "error_message": "internal error"}
    assert after.status_code == 200


async def chunks_of(body: bytes) -> AsyncIterator[bytes]:
    for start in range(0, len(body), 64):
        yield body[start : start + 64]


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
async def test_an_oversized_body_is_refused_with_413(
    chunked: bool, make_receiver: MakeReceiver
) -> None:
    receiver = make_receiver(WebhookSettings(api_keys=(Secret(KEY),), max_body_bytes=100))
    body = fixture_bytes("created")
    content = chunks_of(body) if chunked else body
    async with serving(receiver.app) as client:
        response = await client.post("/webhooks/delivery_created", content=content, headers=AUTH)
        small = await client.post(
            "/webhooks/delivery_cancelled",
            content=chunks_of(b'{"id": 1, "delivery_id": "d"}'),
            headers=AUTH,
        )
    assert response.status_code == 413
    assert small.status_code == 200
    assert pending(receiver) == [DeliveryCancelled(task_id=1, delivery_id="d")]


@pytest.mark.parametrize(
    ("kwargs", "where"),
    [
        ({"port": 70000}, "webhooks.port"),
        ({"busy_timeout_s": 30.0}, "webhooks.busy_timeout_s"),
        ({"busy_timeout_s": 0.0}, "webhooks.busy_timeout_s"),
        ({"max_body_bytes": 0}, "webhooks.max_body_bytes"),
        ({"paths": {WebhookKind.DELIVERY_UPDATED: "webhooks/x"}}, "webhooks.delivery_updated_path"),
        (
            {"paths": {WebhookKind.MERCHANT_REGISTERED: "/webhooks/delivery_created"}},
            "webhooks.merchant_registered_path",
        ),
    ],
    ids=["port", "busy too long", "busy zero", "body limit", "relative path", "duplicate path"],
)
def test_bad_settings_name_the_key(kwargs: dict[str, object], where: str) -> None:
    with pytest.raises(ConfigError) as caught:
        WebhookSettings(**kwargs)  # type: ignore[arg-type]
    assert caught.value.where == where


def test_settings_from_config_carry_key_host_port_and_paths() -> None:
    config = WebhookConfig(
        host="0.0.0.0",
        port=9000,
        api_key=Secret("k"),
        delivery_updated_path="/hooks/updated",
    )
    settings = WebhookSettings.from_config(config)
    assert (settings.host, settings.port, settings.api_keys) == ("0.0.0.0", 9000, (Secret("k"),))
    assert settings.path(WebhookKind.DELIVERY_UPDATED) == "/hooks/updated"
    assert settings.path(WebhookKind.DELIVERY_CREATED) == "/webhooks/delivery_created"
    assert WebhookSettings.from_config(WebhookConfig()).api_keys == ()


def test_settings_never_show_the_keys() -> None:
    assert KEY not in repr(SETTINGS)

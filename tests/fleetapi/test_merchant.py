"""The merchant client refuses answers it cannot use with our own errors, never a crash."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from driver_agent.core.clock import VirtualClock
from driver_agent.core.errors import AuthError, RejectedError
from driver_agent.core.model import Secret
from driver_agent.core.serving import serve_app_in_thread
from driver_agent.fleetapi.merchant import MANHATTAN_PATH, MerchantClient
from driver_agent.fleetapi.wire import OrderRequest
from driver_agent.sandbox.settings import SandboxSettings

ANSWERS: dict[str, Response] = {}


async def token(request: Request) -> Response:
    return ANSWERS.get("token") or JSONResponse({"access_token": "t", "expires_in": 1800})


async def create(request: Request) -> Response:
    return ANSWERS["create"]


APP = Starlette(
    routes=[
        Route("/oauth/token", token, methods=["POST"]),
        Route("/services/create_task", create, methods=["POST"]),
        Route(MANHATTAN_PATH, create, methods=["POST"]),
    ]
)


@pytest.mark.parametrize(
    ("kind", "token_answer", "create_answer", "error"),
    [
        pytest.param("create_task", None, PlainTextResponse("<html>oops</html>"), RejectedError,
                     id="html-200"),
        pytest.param("create_task", None, JSONResponse({"success": True, "task": {"id": "x"}}),
                     RejectedError, id="task-id-not-a-number"),
        pytest.param("manhattan", None, JSONResponse({"completedShipments": ["x"]}),
                     RejectedError, id="shipment-not-an-object"),
        pytest.param("create_task", PlainTextResponse("not json"), None, RejectedError,
                     id="token-not-json"),
        pytest.param("create_task", JSONResponse({"token": "t"}), None, AuthError,
                     id="token-without-access-token"),
    ],
)  # fmt: skip
async def test_answers_it_cannot_use_are_our_errors(
    kind: str, token_answer: Response | None, create_answer: Response | None, error: type
) -> None:
    ANSWERS.clear()
    if token_answer is not None:
        ANSWERS["token"] = token_answer
    if create_answer is not None:
        ANSWERS["create"] = create_answer
    with serve_app_in_thread(APP) as url:
        async with httpx.AsyncClient(trust_env=False) as http:
            client = MerchantClient(http, url, "m", Secret("s"), VirtualClock())
            with pytest.raises(error):
                await client.create(OrderRequest(kind, "da-1", {}))


def _order(external_id: str) -> OrderRequest:
    body: dict[str, object] = {
        "title": "Flowers",
        "external_id": external_id,
        "customer": {"name": "Aino Virtanen", "phone": "+358401234567"},
        "way_points": [
            {"address": "Depot NW", "lat": 60.17295, "lng": 24.94331},
            {"address": "Bulevardi 5, Helsinki", "lat": 60.16625, "lng": 24.93902},
        ],
    }
    return OrderRequest("create_task", external_id, body)


async def _admin(url: str, path: str, body: dict[str, object] | None = None) -> Any:
    async with httpx.AsyncClient(base_url=url, trust_env=False) as http:
        response = await (http.get(path) if body is None else http.post(path, json=body))
        response.raise_for_status()
        return response.json()


def _merchant(http: httpx.AsyncClient, url: str, settings: SandboxSettings) -> MerchantClient:
    return MerchantClient(
        http, url, settings.merchant_client_id, settings.merchant_client_secret, VirtualClock()
    )


async def test_a_create_order_whose_answer_was_lost_exists_once_and_is_reported_reconciled(
    sandbox_url: str, sandbox_settings: SandboxSettings
) -> None:
    fault = {"lose_answer": True, "count": 1, "paths": ["/services/create_task"]}
    await _admin(sandbox_url, "/_sandbox/faults", fault)
    async with httpx.AsyncClient(trust_env=False) as http:
        created = await _merchant(http, sandbox_url, sandbox_settings).create(_order("da-lost-1"))
    state = await _admin(sandbox_url, "/_sandbox/state")
    mine = [o for o in state["orders"] if o.get("external_id") == "da-lost-1"]
    assert created is None  # the resend met "exists already": the first attempt was applied
    assert len(mine) == 1
    assert state["calls"]["/services/create_task"]["by_status"] == {"503": 1, "200": 1}


async def test_exists_already_without_a_lost_answer_is_a_refusal_not_a_reconciliation(
    sandbox_url: str, sandbox_settings: SandboxSettings
) -> None:
    async with httpx.AsyncClient(trust_env=False) as http:
        merchant = _merchant(http, sandbox_url, sandbox_settings)
        first = await merchant.create(_order("da-twice-1"))
        with pytest.raises(RejectedError, match="exists already"):
            await merchant.create(_order("da-twice-1"))
    assert isinstance(first, int)


async def test_a_create_order_that_never_reached_the_api_is_retried_and_made_once(
    sandbox_url: str, sandbox_settings: SandboxSettings
) -> None:
    fault = {"status": 503, "count": 2, "paths": ["/services/create_task"]}
    await _admin(sandbox_url, "/_sandbox/faults", fault)
    async with httpx.AsyncClient(trust_env=False) as http:
        created = await _merchant(http, sandbox_url, sandbox_settings).create(_order("da-503-1"))
    state = await _admin(sandbox_url, "/_sandbox/state")
    assert isinstance(created, int)
    assert [o["task_id"] for o in state["orders"] if o.get("external_id") == "da-503-1"] == [
        created
    ]

"""The merchant client refuses answers it cannot use with our own errors, never a crash."""

from __future__ import annotations

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from driver_agent.clock import VirtualClock
from driver_agent.errors import AuthError, RejectedError
from driver_agent.merchant import MANHATTAN_PATH, MerchantClient
from driver_agent.model import Secret
from driver_agent.orders import OrderRequest
from driver_agent.serving import serve_app_in_thread

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

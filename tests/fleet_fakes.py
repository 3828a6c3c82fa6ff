"""A scriptable fake fleet API and sandbox helpers, shared by tests/fleetapi's client tests.

`FakeFleet` is a small Starlette app (served by uvicorn in a background thread, see
tests/fleetapi/conftest.py) covering what the sandbox cannot be told to do: record exact request
bodies, reject every token, answer with exhausted RateLimit budgets or HTTP-date Retry-After.
The sandbox helpers create merchant orders and call its admin endpoints.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from driver_agent.core.config import ApiConfig
from driver_agent.core.model import Secret, TaskStatus

CLIENT_ID = "fleet-test"
SECRET = "s3cr3t-value-never-shown"
UNKNOWN_TASK = 404404
JPEG = b"\xff\xd8\xff\xe0" + b"\x00" * 32


@dataclass
class Fault:
    status: int
    body: dict[str, Any] = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class FakeFleet:
    """What the server saw and what it will do next; shared with the server thread."""

    url: str = ""
    lock: threading.Lock = field(default_factory=threading.Lock)
    token_requests: int = 0
    token_bodies: list[dict[str, Any]] = field(default_factory=list)
    valid_tokens: set[str] = field(default_factory=set)
    expires_in: int = 1800
    calls: list[tuple[str, dict[str, Any], str]] = field(default_factory=list)
    faults: list[Fault] = field(default_factory=list)
    reject_every_token: bool = False
    rate_headers: dict[str, str] = field(default_factory=dict)

    def reset(self) -> None:
        with self.lock:
            self.token_requests = 0
            self.token_bodies.clear()
            self.valid_tokens.clear()
            self.expires_in = 1800
            self.calls.clear()
            self.faults.clear()
            self.reject_every_token = False
            self.rate_headers = {}

    def expire_tokens(self) -> None:
        """What advancing the sandbox clock past 1800 s does to every token issued so far."""
        with self.lock:
            self.valid_tokens.clear()

    def script(self, *faults: Fault) -> None:
        with self.lock:
            self.faults.extend(faults)

    def endpoints_called(self) -> list[str]:
        with self.lock:
            return [name for name, _, _ in self.calls]


def fake_task(task_id: int, status: TaskStatus, **extra: Any) -> dict[str, Any]:
    return {
        "id": task_id,
        "status": int(status),
        "user_id": 77,
        "active_way_point_id": 9002 if status is TaskStatus.ON_THE_WAY else 9001,
        "way_points": [
            {"id": 9001, "position": 1, "lat": 40.7, "lng": -73.9},
            {"id": 9002, "position": 2, "lat": 40.8, "lng": -73.95},
        ],
        **extra,
    }


STATUS_AFTER = {
    "assign_driver": TaskStatus.ASSIGNED,
    "start_task": TaskStatus.ON_THE_WAY,
    "checkin": TaskStatus.CHECKED_IN,
    "checkout": TaskStatus.ON_THE_WAY,
    "end_task": TaskStatus.DONE,
    "complete_task": TaskStatus.DONE,  # the python SDK's name, for the path-override test
    "cancel_delivery": TaskStatus.CANCELLED,
}


def build_app(fleet: FakeFleet) -> Starlette:
    async def token(request: Request) -> JSONResponse:
        body = await request.json()
        with fleet.lock:
            fleet.token_requests += 1
            fleet.token_bodies.append(body)
            good = body.get("client_id") == CLIENT_ID and body.get("client_secret") == SECRET
            if body.get("grant_type") != "client_credentials" or not good:
                return JSONResponse({"error": "invalid_client"}, status_code=401)
            issued = f"tok-{fleet.token_requests}"
            if not fleet.reject_every_token:
                fleet.valid_tokens.add(issued)
            expires_in = fleet.expires_in
        return JSONResponse(
            {
                "access_token": issued,
                "token_type": "Bearer",
                "expires_in": expires_in,
                "created_at": 1591084369,
            }
        )

    async def fleet_call(request: Request) -> JSONResponse:
        name = request.path_params["name"]
        body = await request.json()
        bearer = request.headers.get("authorization", "").removeprefix("Bearer ")
        with fleet.lock:
            fleet.calls.append((name, body, bearer))
            if bearer not in fleet.valid_tokens:
                return JSONResponse({"success": False, "message": "Unauthorized"}, 401)
            fault = fleet.faults.pop(0) if fleet.faults else None
            rate_headers = dict(fleet.rate_headers)
        if fault is not None:
            return JSONResponse(fault.body, fault.status, headers=fault.headers)
        if body.get("task_id") == UNKNOWN_TASK:
            return JSONResponse({"success": False, "message": "Task not found"}, 403)
        answer: dict[str, Any] = {"success": True}
        if name in STATUS_AFTER:
            answer["task"] = fake_task(body["task_id"], STATUS_AFTER[name])
        elif name == "update_driver_location":
            answer["rc"] = 0
        elif name == "create_note":
            answer["note"] = {"id": 5, "type": body.get("type"), "task_id": body["task_id"]}
        elif name == "update_task":
            answer["task"] = fake_task(body["task_id"], TaskStatus.ON_THE_WAY)
        elif name == "cluster_check_in":
            answer["way_points_checked_in"] = [t * 10 + 1 for t in body["task_ids"]]
        elif name == "cluster_check_out":
            answer["way_points_checked_out"] = [t * 10 + 1 for t in body["task_ids"]]
        return JSONResponse(answer, headers=rate_headers)

    return Starlette(
        routes=[
            Route("/oauth/token", token, methods=["POST"]),
            Route("/open_fleet_services/{name}", fleet_call, methods=["POST"]),
            Route("/custom/{name}", fleet_call, methods=["POST"]),
        ]
    )


def fake_config(url: str, **overrides: Any) -> ApiConfig:
    settings: dict[str, Any] = {
        "api_url": url,
        "client_id": CLIENT_ID,
        "client_secret": Secret(SECRET),
        "max_retries": 3,
        "backoff_base_s": 0.5,
        "backoff_cap_s": 4.0,
        "transport": "httpx",
    }
    settings.update(overrides)
    return ApiConfig(**settings)


# -- the embedded sandbox ------------------------------------------------------------------

FLEET_CREDENTIALS = ("sandbox-fleet", "sandbox-fleet-secret")
MERCHANT_CREDENTIALS = ("sandbox-merchant", "sandbox-merchant-secret")
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32


def sandbox_config(url: str, **overrides: Any) -> ApiConfig:
    settings: dict[str, Any] = {
        "api_url": url,
        "client_id": FLEET_CREDENTIALS[0],
        "client_secret": Secret(FLEET_CREDENTIALS[1]),
        "max_retries": 3,
        "backoff_base_s": 0.5,
        "backoff_cap_s": 4.0,
        "transport": "aiohttp",
    }
    settings.update(overrides)
    return ApiConfig(**settings)


async def sandbox_admin(url: str, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
    """An admin call (`/_sandbox/...`): GET without a body, POST with one."""
    async with httpx.AsyncClient(base_url=url, trust_env=False) as http:
        response = await http.get(path) if body is None else await http.post(path, json=body)
    response.raise_for_status()
    answer: dict[str, Any] = response.json()
    return answer


async def merchant_orders(url: str, count: int) -> list[int]:
    """Create `count` orders the way a merchant does; returns their task ids."""
    async with httpx.AsyncClient(base_url=url, trust_env=False) as http:
        token = await http.post(
            "/oauth/token",
            json={
                "grant_type": "client_credentials",
                "client_id": MERCHANT_CREDENTIALS[0],
                "client_secret": MERCHANT_CREDENTIALS[1],
            },
        )
        auth = {"Authorization": f"Bearer {token.json()['access_token']}"}
        task_ids = []
        for n in range(count):
            created = await http.post(
                "/services/create_task",
                headers=auth,
                json={
                    "title": f"order {n}",
                    "external_id": f"ext-{n}",
                    "customer": {"name": f"Customer {n}", "phone": "+358401234567"},
                    "way_points": [
                        {"address": "Mannerheimintie 1", "lat": 60.17, "lng": 24.94},
                        {"address": "Aleksanterinkatu 5", "lat": 60.169, "lng": 24.95},
                    ],
                },
            )
            assert created.status_code == 200, created.text
            task_ids.append(created.json()["task"]["id"])
    return task_ids


async def sandbox_calls(url: str, path: str) -> int:
    state = await sandbox_admin(url, "/_sandbox/state")
    return int(state["calls"].get(path, {}).get("count", 0))

"""Shared by the end-to-end run tests: a free loopback port, the sandbox merchant's token, and
the fleet calls counted on both sides."""

from __future__ import annotations

import socket
from typing import Any

import httpx

from driver_agent.core.config import ApiConfig
from driver_agent.sandbox.settings import SandboxSettings


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


async def merchant_auth(http: httpx.AsyncClient) -> dict[str, str]:
    """The Authorization header of the sandbox's well-known merchant (creates orders)."""
    defaults = SandboxSettings()
    token = await http.post(
        "/oauth/token",
        json={
            "grant_type": "client_credentials",
            "client_id": defaults.merchant_client_id,
            "client_secret": defaults.merchant_client_secret.reveal(),
        },
    )
    return {"Authorization": f"Bearer {token.json()['access_token']}"}


FLEET_PREFIX = "/open_fleet_services/"


def call_counts(
    report: dict[str, Any], sandbox_state: dict[str, Any]
) -> tuple[dict[str, int], dict[str, int]]:
    """(the run's report.json calls per endpoint, the sandbox's own count of the same)."""
    ours = {e["endpoint"]: e["count"] for e in report["stats"]["endpoints"]}
    theirs = {
        path.removeprefix(FLEET_PREFIX): calls["count"]
        for path, calls in sandbox_state["calls"].items()
        if path.startswith(FLEET_PREFIX)
    }
    return ours, theirs


async def create_order(
    url: str, pickup: tuple[float, float], dropoff: tuple[float, float], n: int = 1
) -> int:
    """One order made as a merchant makes it (the sandbox then posts Delivery Created); its
    task id."""
    async with httpx.AsyncClient(base_url=url, trust_env=False) as http:
        created = await http.post(
            "/services/create_task",
            headers=await merchant_auth(http),
            json={
                "title": f"order {n}",
                "external_id": f"ext-{n}",
                "customer": {"name": "Customer", "phone": "+358401234567"},
                "way_points": [
                    {"address": "Pickup", "lat": pickup[0], "lng": pickup[1]},
                    {"address": "Dropoff", "lat": dropoff[0], "lng": dropoff[1]},
                ],
            },
        )
    assert created.status_code == 200, created.text
    return int(created.json()["task"]["id"])


def sandbox_api(url: str) -> ApiConfig:
    """The sandbox's fleet API with its well-known client, no retries, short back-offs."""
    defaults = SandboxSettings()
    return ApiConfig(
        api_url=url,
        client_id=defaults.client_id,
        client_secret=defaults.client_secret,
        max_retries=0,
        backoff_base_s=0.02,
        backoff_cap_s=0.1,
    )

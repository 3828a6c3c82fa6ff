"""Shared by the end-to-end run tests: a free loopback port, the sandbox merchant's token, and
the fleet calls counted on both sides."""

from __future__ import annotations

import socket
from typing import Any

import httpx

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

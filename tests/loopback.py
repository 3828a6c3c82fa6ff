"""Shared by the end-to-end run tests: a free loopback port and the sandbox merchant's token."""

from __future__ import annotations

import socket

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

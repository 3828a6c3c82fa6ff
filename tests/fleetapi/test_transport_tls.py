"""HTTPS for real: the client walks an order over TLS 1.2+, and refuses what it must refuse."""

from __future__ import annotations

import ssl
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import anyio
import pytest
import trustme

from driver_agent.core.clock import VirtualClock
from driver_agent.core.config import ApiConfig
from driver_agent.core.errors import ApiUnavailable, ConfigError, ForbiddenError
from driver_agent.core.model import Secret
from driver_agent.core.serving import serve_app
from driver_agent.fleetapi.client import FleetClient
from driver_agent.fleetapi.transport import tls_context
from driver_agent.sandbox import SandboxSettings, create_app

TRANSPORTS = ("builtin", "aiohttp", "httpx")


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture(scope="module")
def server_files(ca: trustme.CA, tmp_path_factory: pytest.TempPathFactory) -> tuple[str, str, str]:
    """(cert chain, key, CA) PEM files for a server at 127.0.0.1."""
    folder = tmp_path_factory.mktemp("tls")
    cert = ca.issue_cert("127.0.0.1", "localhost")
    chain, key, ca_pem = folder / "chain.pem", folder / "key.pem", folder / "ca.pem"
    cert.private_key_pem.write_to_path(str(key))
    with chain.open("wb") as out:
        for blob in cert.cert_chain_pems:
            out.write(blob.bytes())
    ca.cert_pem.write_to_path(str(ca_pem))
    return str(chain), str(key), str(ca_pem)


@asynccontextmanager
async def https_sandbox(chain: str, key: str) -> AsyncIterator[str]:
    app = create_app(SandboxSettings())
    async with anyio.create_task_group() as tg:
        url = await tg.start(lambda task_status: serve_app(
            app, "127.0.0.1", 0, certfile=chain, keyfile=key, task_status=task_status))  # fmt: skip
        yield url
        tg.cancel_scope.cancel()


def api(url: str, ca_file: str, transport: str) -> ApiConfig:
    return ApiConfig(
        api_url=url,
        client_id="sandbox-fleet",
        client_secret=Secret("sandbox-fleet-secret"),
        ca_file=ca_file,
        transport=transport,
        max_retries=0,
    )


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_the_client_talks_to_an_https_api_with_tls_1_2_or_newer(
    server_files: tuple[str, str, str], transport: str
) -> None:
    chain, key, ca_file = server_files
    async with https_sandbox(chain, key) as url:
        assert url.startswith("https://")
        client = FleetClient(api(url, ca_file, transport), VirtualClock())
        try:  # the sandbox's 403 for an unknown driver: the token and the call went over TLS
            with pytest.raises(ForbiddenError, match="User not found"):
                await client.update_driver_location(user_external_id="nobody", lat=60.0, lng=24.0)
        finally:
            await client.aclose()
        # what the same policy negotiates with this server
        host, port = url.removeprefix("https://").split(":")
        context = tls_context(ca_file)
        stream = await anyio.connect_tcp(
            host, int(port), ssl_context=context, tls_standard_compatible=False
        )
        async with stream:
            version = stream.extra(anyio.streams.tls.TLSAttribute.tls_version)
        assert version in ("TLSv1.2", "TLSv1.3")


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_a_certificate_from_an_untrusted_ca_is_refused(
    server_files: tuple[str, str, str], transport: str
) -> None:
    chain, key, _ = server_files
    async with https_sandbox(chain, key) as url:
        client = FleetClient(api(url, "", transport), VirtualClock())
        try:
            with pytest.raises(ApiUnavailable, match=r"(?i)certificate|ssl|tls"):
                await client.update_driver_location(user_external_id="d", lat=60.0, lng=24.0)
        finally:
            await client.aclose()


def test_a_bad_ca_file_is_a_config_error_naming_the_key(tmp_path: Path) -> None:
    bad = tmp_path / "ca.pem"
    bad.write_text("not a certificate")
    with pytest.raises(ConfigError) as info:
        tls_context(str(bad))
    assert info.value.where == "api.ca_file"


def test_the_tls_policy_refuses_anything_older_than_1_2() -> None:
    assert tls_context().minimum_version is ssl.TLSVersion.TLSv1_2

"""Tests for fleetapi.transport: TLS policy and the shared pool's settings (the URL policy:
tests/core/test_validation.py)."""

from __future__ import annotations

import asyncio
import ssl

import httpx
import pytest

from driver_agent.core.config import ApiConfig
from driver_agent.fleetapi.http11 import Http11Transport, ResponseTooLargeError
from driver_agent.fleetapi.transport import (
    TLS12_CIPHERS,
    PooledClient,
    open_http_pool,
    tls_context,
)

# Seed 000 lists these (IANA names given there translated to OpenSSL's).
SEED_000_TLS12 = {
    "ECDHE-ECDSA-AES128-GCM-SHA256",
    "ECDHE-RSA-AES128-GCM-SHA256",
    "ECDHE-ECDSA-AES256-GCM-SHA384",
    "ECDHE-RSA-AES256-GCM-SHA384",
    "AES128-GCM-SHA256",
    "AES256-GCM-SHA384",
    "ECDHE-ECDSA-AES128-SHA256",
    "ECDHE-RSA-AES128-SHA256",
    "ECDHE-ECDSA-AES256-SHA384",
    "ECDHE-RSA-AES256-SHA384",
    "AES128-SHA256",
    "AES256-SHA256",
    "ECDHE-ECDSA-AES128-SHA",
    "ECDHE-RSA-AES128-SHA",
    "ECDHE-ECDSA-AES256-SHA",
    "ECDHE-RSA-AES256-SHA",
    "ECDHE-ECDSA-CHACHA20-POLY1305",
    "ECDHE-RSA-CHACHA20-POLY1305",
}


def test_tls_context_requires_tls_1_2_and_verifies_certificates() -> None:
    context = tls_context()
    assert context.minimum_version is ssl.TLSVersion.TLSv1_2
    assert context.verify_mode is ssl.CERT_REQUIRED
    assert context.check_hostname


def test_tls_context_offers_only_the_suites_bringg_lists() -> None:
    offered = tls_context().get_ciphers()
    tls12 = {c["name"] for c in offered if c["protocol"] != "TLSv1.3"}
    assert tls12 <= SEED_000_TLS12
    assert tls12 == set(TLS12_CIPHERS)  # every suite we asked for is available
    assert all(c["protocol"] in ("TLSv1.2", "TLSv1.3") for c in offered)


@pytest.mark.parametrize("transport", ["httpx", "aiohttp"])
async def test_the_pool_has_explicit_limits_and_no_redirects(transport: str) -> None:
    config = ApiConfig(max_in_flight=12, timeout_s=3.0, transport=transport)
    async with open_http_pool(config) as pool:
        assert isinstance(pool, httpx.AsyncClient)
        assert pool.timeout == httpx.Timeout(3.0)
        assert not pool.follow_redirects
        assert pool.headers["user-agent"].startswith("driver-agent/")
        engine = pool._transport
        if transport == "aiohttp":
            assert type(engine).__name__ == "GuardedAiohttpTransport"
            assert engine.limits == httpx.Limits(max_connections=12, max_keepalive_connections=12)
        else:
            assert isinstance(engine, httpx.AsyncHTTPTransport)
            assert engine._pool._max_connections == 12
            assert engine._pool._max_keepalive_connections == 12


async def test_the_builtin_pool_is_a_pooled_httpx_client_with_the_same_settings() -> None:
    config = ApiConfig(max_in_flight=12, timeout_s=3.0, transport="builtin")
    async with open_http_pool(config) as pool:
        assert isinstance(pool, PooledClient)
        assert pool.timeout == httpx.Timeout(3.0)
        assert not pool.follow_redirects
        assert isinstance(pool._transport, Http11Transport)


class _Capture:
    """A raw loopback server that records each request's bytes and answers a fixed JSON."""

    def __init__(self) -> None:
        self.requests: list[bytes] = []
        self.tasks: set[asyncio.Task[None]] = set()
        self.writers: set[asyncio.StreamWriter] = set()

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self.tasks.add(task)
        self.writers.add(writer)
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = next(
                    int(line.split(b":", 1)[1])
                    for line in head.split(b"\r\n")
                    if line.lower().startswith(b"content-length:")
                )
                self.requests.append(head + await reader.readexactly(length))
                body = b'{"success":true}'
                writer.write(
                    b"HTTP/1.1 200 OK\r\nSet-Cookie: s=1\r\nContent-Type: application/json\r\n"
                    b"Content-Length: %d\r\n\r\n%s" % (len(body), body)
                )
        except asyncio.IncompleteReadError:
            pass
        finally:
            writer.close()

    async def stop(self) -> None:
        """Close every server-side socket and wait for the handlers to see it."""
        for writer in self.writers:
            writer.close()
        await asyncio.gather(*self.tasks, return_exceptions=True)


def _parse(raw: bytes) -> tuple[bytes, dict[bytes, bytes], bytes]:
    head, _, body = raw.partition(b"\r\n\r\n")
    first, *lines = head.split(b"\r\n")
    headers = {k.strip().lower(): v.strip() for k, _, v in (x.partition(b":") for x in lines)}
    return first, headers, body


async def test_the_short_path_sends_what_httpx_would_send_and_answers_a_real_response() -> None:
    capture = _Capture()
    listener = await asyncio.start_server(capture.handle, "127.0.0.1", 0)
    url = f"http://127.0.0.1:{listener.sockets[0].getsockname()[1]}/open_fleet_services/x"
    body = {"user_external_id": "d-é", "lat": 40.77, "lng": -73.97}
    auth = {"Authorization": "Bearer tok"}
    async with listener, open_http_pool(ApiConfig(transport="builtin")) as pool:
        fast = await pool.post(httpx.URL(url), json=body, headers=auth)  # the short path
        pool.cookies.clear()
        slow = await pool.post(url, json=body, headers=auth)  # a str URL: httpx's own path
    await capture.stop()
    (fast_line, fast_headers, fast_body), (slow_line, slow_headers, slow_body) = map(
        _parse, capture.requests
    )
    assert fast_line == slow_line == b"POST /open_fleet_services/x HTTP/1.1"
    assert fast_headers == slow_headers
    assert fast_headers[b"authorization"] == b"Bearer tok"
    assert fast_body == slow_body == '{"user_external_id":"d-é","lat":40.77,"lng":-73.97}'.encode()
    for response in (fast, slow):
        assert response.json() == {"success": True}
        assert response.request.method == "POST"
        assert response.request.url == httpx.URL(url)
        assert response.elapsed.total_seconds() >= 0
    assert pool.cookies.get("s") == "1"  # cookies are still honoured on the short path


async def test_the_short_path_sends_each_calls_own_headers_as_they_change() -> None:
    capture = _Capture()
    listener = await asyncio.start_server(capture.handle, "127.0.0.1", 0)
    url = httpx.URL(f"http://127.0.0.1:{listener.sockets[0].getsockname()[1]}/x")
    token = {"Authorization": "Bearer one"}
    async with listener, open_http_pool(ApiConfig(transport="builtin")) as pool:

        async def post(headers: dict[str, str] | None) -> None:
            pool.cookies.clear()  # the answers set one: without, the short path is taken
            assert await pool.post_short(url, {}, headers) is not None

        await post(token)
        await post(token)
        token["Authorization"] = "Bearer two"  # the same dict, changed in place
        await post(token)
        await post({"Authorization": "Bearer three"})
        pool.headers["X-Run"] = "r1"  # the client's own headers changed
        await post({"Authorization": "Bearer three"})
        await post(None)
        pool.cookies.set("s", "2")  # a cookie to send: httpx's own path sends it
        assert await pool.post_short(url, {}, None) is None
    await capture.stop()
    sent = [_parse(raw)[1] for raw in capture.requests]
    assert [h.get(b"authorization") for h in sent] == [
        b"Bearer one", b"Bearer one", b"Bearer two", b"Bearer three", b"Bearer three", None,
    ]  # fmt: skip
    assert [h.get(b"x-run") for h in sent] == [None, None, None, None, b"r1", b"r1"]


async def test_the_builtin_pool_takes_its_caps_from_the_api_config() -> None:
    capture = _Capture()  # answers {"success":true} (16 bytes) with a cookie
    listener = await asyncio.start_server(capture.handle, "127.0.0.1", 0)
    url = httpx.URL(f"http://127.0.0.1:{listener.sockets[0].getsockname()[1]}/x")
    tight = ApiConfig(transport="builtin", max_response_bytes=15)
    roomy = ApiConfig(transport="builtin", max_response_bytes=16, keepalive_expiry_s=1e-6)
    async with listener:
        async with open_http_pool(tight) as pool:
            with pytest.raises(ResponseTooLargeError, match="max_response_bytes"):
                await pool.post(url, json={})
        async with open_http_pool(roomy) as pool:
            for _ in range(2):
                pool.cookies.clear()
                assert (await pool.post(url, json={})).json() == {"success": True}
                assert pool.cookies.get("s") == "1"
    await capture.stop()
    assert len(capture.requests) == 3
    assert len(capture.tasks) == 3  # keep-alive expiry of 1 us: every request on a new socket


async def test_the_short_path_honours_auth_and_hooks_set_through_the_public_api() -> None:
    capture = _Capture()
    listener = await asyncio.start_server(capture.handle, "127.0.0.1", 0)
    url = httpx.URL(f"http://127.0.0.1:{listener.sockets[0].getsockname()[1]}/x")
    seen: list[int] = []

    async def hook(response: httpx.Response) -> None:
        seen.append(response.status_code)

    async with listener, open_http_pool(ApiConfig(transport="builtin")) as pool:
        pool.auth = httpx.BasicAuth("user", "pass")
        pool.event_hooks = {"request": [], "response": [hook]}
        await pool.post(url, json={"a": 1})
    await capture.stop()
    _, headers, _ = _parse(capture.requests[0])
    assert headers[b"authorization"].startswith(b"Basic ")
    assert seen == [200]

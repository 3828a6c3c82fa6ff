"""The HTTP seam under the fleet client: TLS policy, URL policy and the one shared pool.

- TLS 1.2 or newer, with the TLS 1.2 suites Bringg lists (seed 000, "TLS PROTOCOL") minus the
  four SHA-1 CBC ones; TLS 1.3 suites are fixed by OpenSSL and all acceptable.
- Plain `http://` only to loopback hosts unless `api.allow_insecure_http = true`; credentials in
  a URL are refused (Bringg wants authorization in headers only).
- One `httpx.AsyncClient` for the whole process, its keep-alive pool as large as its connection
  cap, so a busy fleet never closes and reopens connections (see perf-anchors.md).
- `api.transport` picks the engine under the httpx API: "builtin" (`Http11Transport`, our own
  HTTP/1.1 keep-alive pool on asyncio protocols; the fastest, asyncio only), "aiohttp"
  (httpx-aiohttp; asyncio only) or "httpx" (httpcore; any anyio backend). Whichever it is,
  callers see httpx types and httpx errors only. `bench/README.md` has the figures.
"""

from __future__ import annotations

import ipaddress
import ssl
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import httpx

from driver_agent import __version__
from driver_agent.errors import ConfigError
from driver_agent.http11 import Http11Transport

if TYPE_CHECKING:
    from driver_agent.config import ApiConfig

# OpenSSL names of the TLS 1.2 suites in seed 000, AEAD with forward secrecy first. Left out on
# purpose: TLS_ECDHE_{ECDSA,RSA}_WITH_AES_{128,256}_CBC_SHA (SHA-1 MACs); the server accepts the
# stronger ones listed here.
TLS12_CIPHERS = (
    "ECDHE-ECDSA-AES128-GCM-SHA256",
    "ECDHE-RSA-AES128-GCM-SHA256",
    "ECDHE-ECDSA-AES256-GCM-SHA384",
    "ECDHE-RSA-AES256-GCM-SHA384",
    "ECDHE-ECDSA-CHACHA20-POLY1305",
    "ECDHE-RSA-CHACHA20-POLY1305",
    "AES128-GCM-SHA256",
    "AES256-GCM-SHA384",
    "ECDHE-ECDSA-AES128-SHA256",
    "ECDHE-RSA-AES128-SHA256",
    "ECDHE-ECDSA-AES256-SHA384",
    "ECDHE-RSA-AES256-SHA384",
    "AES128-SHA256",
    "AES256-SHA256",
)

USER_AGENT = f"driver-agent/{__version__}"
TRANSPORTS = ("builtin", "aiohttp", "httpx")


def tls_context() -> ssl.SSLContext:
    """Certificate-verifying client context: TLS >= 1.2, Bringg's suites only."""
    context = ssl.create_default_context()
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.set_ciphers(":".join(TLS12_CIPHERS))
    return context


def is_loopback_host(host: str) -> bool:
    """127.0.0.0/8, ::1 and `localhost` (names under `.localhost` too)."""
    name = host.strip("[]").lower()
    if name == "localhost" or name.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def check_url(url: str, where: str, *, allow_insecure_http: bool) -> str:
    """`url` if the policy allows it, else ConfigError naming the config key `where`."""
    if not url:
        raise ConfigError(where, "a URL is required")
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
    except ValueError as exc:
        raise ConfigError(where, f"not a URL: {exc}") from None
    if parts.scheme not in ("http", "https") or not host:
        raise ConfigError(where, f"{url!r} is not an http(s) URL with a host")
    if parts.username is not None or parts.password is not None:
        raise ConfigError(where, "credentials in the URL are refused; they go in headers")
    if parts.scheme == "http" and not allow_insecure_http and not is_loopback_host(host):
        raise ConfigError(
            where,
            f"plain http to {host!r} is refused; use https, or set api.allow_insecure_http = true",
        )
    return url


def open_http_pool(config: ApiConfig) -> httpx.AsyncClient:
    """The one shared `httpx.AsyncClient`: explicit timeout, keep-alive = max connections,
    Bringg's TLS policy, no redirects, no proxy settings from the environment.

    The caller owns it: `await pool.aclose()` (or `async with`).
    """
    if config.max_in_flight < 1:
        raise ConfigError("api.max_in_flight", f"must be >= 1, got {config.max_in_flight}")
    if not config.timeout_s > 0:
        raise ConfigError("api.timeout_s", f"must be > 0, got {config.timeout_s}")
    if config.transport not in TRANSPORTS:
        raise ConfigError(
            "api.transport", f"one of {', '.join(TRANSPORTS)}; got {config.transport!r}"
        )
    context = tls_context()
    limits = httpx.Limits(
        max_connections=config.max_in_flight,
        max_keepalive_connections=config.max_in_flight,
    )
    engine: httpx.AsyncBaseTransport | None = None
    if config.transport == "builtin":
        engine = Http11Transport(ssl_context=context, max_connections=config.max_in_flight)
    elif config.transport == "aiohttp":
        engine = _aiohttp_engine(context, limits)
    return httpx.AsyncClient(
        timeout=httpx.Timeout(config.timeout_s),
        limits=limits,
        verify=context,
        follow_redirects=False,
        trust_env=False,
        headers={"User-Agent": USER_AGENT, "Accept": "application/json"},
        transport=engine,
    )


def _aiohttp_engine(context: ssl.SSLContext, limits: httpx.Limits) -> httpx.AsyncBaseTransport:
    import aiohttp
    from httpx_aiohttp import AiohttpTransport

    class GuardedAiohttpTransport(AiohttpTransport):
        """httpx-aiohttp maps most aiohttp errors to httpx ones; this maps the rest."""

        async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
            try:
                return await super().handle_async_request(request)
            except (TimeoutError, aiohttp.ClientError) as exc:
                if isinstance(exc, TimeoutError):
                    raise httpx.TimeoutException(str(exc) or "timed out", request=request) from exc
                raise httpx.RemoteProtocolError(str(exc), request=request) from exc

    return GuardedAiohttpTransport(verify=context, limits=limits, trust_env=False)

"""The HTTP seam under the fleet client: TLS policy, URL policy and the one shared pool.

- TLS 1.2 or newer, with the TLS 1.2 suites Bringg lists (seed 000, "TLS PROTOCOL") minus the
  four SHA-1 CBC ones; TLS 1.3 suites are fixed by OpenSSL and all acceptable.
- Plain `http://` only to loopback hosts unless `api.allow_insecure_http = true`; credentials in
  a URL are refused (Bringg wants authorization in headers only).
- One `httpx.AsyncClient` for the whole process, its keep-alive pool as large as its connection
  cap, so a busy fleet never closes and reopens connections (see perf-anchors.md).
- `api.transport` picks the engine under the httpx API: "builtin" (`Http11Transport`, our own
  HTTP/1.1 keep-alive pool on asyncio protocols, answers parsed by llhttp; the fastest, asyncio
  only), "aiohttp" (httpx-aiohttp; asyncio only) or "httpx" (httpcore; any anyio backend).
  Whichever it is, callers see httpx types and httpx errors only. `bench/README.md` has the
  figures.
- The builtin engine gets `api.max_response_bytes` (a longer answer body is
  `ResponseTooLargeError`), `api.keepalive_expiry_s` (idle sockets older are closed, not
  reused) and, with every request, `api.timeout_s` as httpx's connect, read, write and pool
  timeouts; the other engines get the keep-alive expiry through `httpx.Limits`. Its retry rule
  (`http11`): ConnectError, ConnectTimeout and PoolTimeout mean the request was never sent;
  any other httpx.TransportError (OutcomeUnknownError, ReadTimeout, WriteTimeout, ...) means it
  may have reached the server.
"""

from __future__ import annotations

import datetime
import ssl
import time
from http.cookiejar import CookieJar
from typing import TYPE_CHECKING, Any

import httpx
import msgspec

from driver_agent import __version__
from driver_agent.core.errors import ConfigError
from driver_agent.core.validation import check_pool
from driver_agent.fleetapi.http11 import Http11Transport, PoolKey
from driver_agent.fleetapi.http11_parser import Answer

if TYPE_CHECKING:
    from driver_agent.core.config import ApiConfig

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
# the extension of a short-path `httpx.Response` that holds its request body's size in bytes
BODY_BYTES_SENT = "driver_agent.body_bytes_sent"
# compact UTF-8 JSON in the dict's key order, as `json.dumps(separators=(",", ":"),
# ensure_ascii=False)` writes it, about eight times faster (a non-finite float becomes null)
_encode_json = msgspec.json.Encoder().encode


def tls_context(ca_file: str = "") -> ssl.SSLContext:
    """Certificate-verifying client context: TLS >= 1.2, Bringg's suites only.

    `ca_file` adds trusted certificate authorities (PEM) to the system's, for a sandbox or a
    proxy behind a private CA.
    """
    context = ssl.create_default_context()
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.set_ciphers(":".join(TLS12_CIPHERS))
    if ca_file:
        try:
            context.load_verify_locations(cafile=ca_file)
        except (OSError, ssl.SSLError) as exc:
            raise ConfigError("api.ca_file", f"cannot load {ca_file!r}: {exc}") from None
    return context


def open_http_pool(config: ApiConfig) -> httpx.AsyncClient:
    """The one shared `httpx.AsyncClient`: explicit timeout, keep-alive = max connections,
    Bringg's TLS policy, no redirects, no proxy settings from the environment.

    The caller owns it: `await pool.aclose()` (or `async with`).
    """
    check_pool(config)
    context = tls_context(config.ca_file)
    limits = httpx.Limits(
        max_connections=config.max_in_flight,
        max_keepalive_connections=config.max_in_flight,
        keepalive_expiry=config.keepalive_expiry_s,
    )
    settings: dict[str, Any] = {
        "timeout": httpx.Timeout(config.timeout_s),
        "limits": limits,
        "verify": context,
        "follow_redirects": False,
        "trust_env": False,
        "headers": {"User-Agent": USER_AGENT, "Accept": "application/json"},
    }
    if config.transport == "builtin":
        engine = Http11Transport(
            ssl_context=context,
            max_connections=config.max_in_flight,
            max_response_bytes=config.max_response_bytes,
            keepalive_expiry_s=config.keepalive_expiry_s,
        )  # the write timeout travels with each request: settings["timeout"].write
        return PooledClient(engine, **settings)
    if config.transport == "aiohttp":
        return httpx.AsyncClient(transport=_aiohttp_engine(context, limits), **settings)
    return httpx.AsyncClient(**settings)


class Exchanged:
    """A short-path exchange: the engine's answer, the request body's size in bytes, how long
    it took, and the shared `httpx.Request` of its URL."""

    __slots__ = ("answer", "elapsed_s", "sent", "template")

    def __init__(self, answer: Answer, sent: int, elapsed_s: float, template: httpx.Request):
        self.answer = answer
        self.sent = sent
        self.elapsed_s = elapsed_s
        self.template = template


class PooledClient(httpx.AsyncClient):
    """An `httpx.AsyncClient` on `Http11Transport` whose plain JSON POSTs take a short path.

    `post(url, json=..., headers=...)` with an `httpx.URL` and nothing else set, on a client
    without auth, cookies, event hooks, a base URL, redirect-following, proxies from the
    environment or mounts, is serialised here straight to HTTP/1.1 bytes (the same headers and
    compact UTF-8 JSON httpx would send, encoded by msgspec; a non-finite float, which httpx
    refuses, is written as null: the body builders refuse those before) and handed to the
    engine, skipping httpx's generic request building, auth and redirect loops, which cost more
    CPU than the network I/O itself. Any other call takes httpx's normal path through the same
    engine. Every error is an httpx error
    and carries the full `httpx.Request` (built only on failure).

    Only httpx's public API is used: those conditions are read from the public properties
    (`auth`, `event_hooks`, `base_url`, `follow_redirects`, `trust_env`, `cookies`), and mounts,
    which httpx sets only at construction, are recorded from this constructor's arguments.

    The short path's answer is a real `httpx.Response`. Its `.request` is one `httpx.Request`
    per URL, built once and shared (method and URL; not this call's headers or body): building
    a full Request per call costs ~12 us, over a tenth of the whole request's CPU.
    """

    def __init__(self, engine: Http11Transport, **settings: Any) -> None:
        super().__init__(transport=engine, **settings)
        self._fast_engine = engine
        self._fast_mounts = bool(settings.get("mounts"))
        self._fast_encoding = settings.get("default_encoding", "utf-8")
        self._fast_heads: dict[httpx.URL, tuple[PoolKey, bytes, httpx.Request]] = {}
        self._fast_last: tuple[httpx.URL, tuple[PoolKey, bytes, httpx.Request]] | None = None
        self._fast_defaults: tuple[list[tuple[bytes, bytes]], dict[bytes, bytes]] = ([], {})
        # the last call's extra headers (a copy) and its header lines: the token changes seldom
        self._fast_lines: tuple[dict[str, str] | None, bytes] | None = None
        self._fast_timeouts: tuple[httpx.Timeout | None, dict[str, float | None]] = (None, {})

    async def post(  # the same parameters as httpx.AsyncClient.post, all accepted
        self,
        url: httpx.URL | str,
        *,
        json: Any = None,
        headers: Any = None,
        **others: Any,
    ) -> httpx.Response:
        if any(
            value is not httpx.USE_CLIENT_DEFAULT and value is not None for value in others.values()
        ):
            return await super().post(url, json=json, headers=headers, **others)
        done = await self.post_short(url, json, headers)
        if done is None:
            return await super().post(url, json=json, headers=headers, **others)
        return self.response_for(done)

    async def post_short(self, url: httpx.URL | str, json: Any, headers: Any) -> Exchanged | None:
        """`post(url, json=json, headers=headers)` on the short path, its answer as the engine
        read it (`response_for` makes it the `httpx.Response` that `post` returns); None, with
        nothing sent, when the call must take httpx's own path (`post`)."""
        if (
            json is None
            or not isinstance(url, httpx.URL)
            or not (headers is None or isinstance(headers, dict))
            or self.auth is not None
            or self.follow_redirects
            or self.trust_env
            or self._fast_mounts
            or self.event_hooks["request"]
            or self.event_hooks["response"]
            or _may_hold_cookies(self.cookies.jar)
            or not self.base_url.is_relative_url
        ):
            return None
        last = self._fast_last
        if last is not None and last[0] is url:  # hashing an httpx.URL formats it: skip that
            head = last[1]
        else:
            head = self._fast_heads.get(url) or self._head_for(url)
            self._fast_last = (url, head)
        key, prefix, template = head
        try:
            lines = self._header_lines(headers)
        except (UnicodeEncodeError, ValueError):  # let httpx say what is wrong with them
            return None
        body = _encode_json(json)
        data = b"".join(
            (
                prefix,
                lines,
                b"Content-Length: ",
                str(len(body)).encode(),
                b"\r\nContent-Type: application/json\r\n\r\n",
                body,
            )
        )

        def request() -> httpx.Request:
            return self.build_request("POST", url, json=json, headers=headers)

        started = time.perf_counter()
        answer = await self._fast_engine.exchange(key, data, self._timeout_dict(), request)
        return Exchanged(answer, len(body), time.perf_counter() - started, template)

    def response_for(self, done: Exchanged) -> httpx.Response:
        """The `httpx.Response` of a short-path exchange (cookies it sets are kept)."""
        answer = done.answer
        response = httpx.Response(
            answer.status,
            headers=answer.headers,
            content=answer.body,
            request=done.template,
            extensions={
                "http_version": b"HTTP/1.1",
                "reason_phrase": answer.reason,
                BODY_BYTES_SENT: done.sent,
            },
        )
        response.elapsed = datetime.timedelta(seconds=done.elapsed_s)
        response.default_encoding = self._fast_encoding
        if any(name.lower() == b"set-cookie" for name, _ in answer.headers):
            self.cookies.extract_cookies(response)
        return response

    def _head_for(self, url: httpx.URL) -> tuple[PoolKey, bytes, httpx.Request]:
        key = self._fast_engine.pool_key(url)
        host = url.netloc
        prefix = b"POST " + url.raw_path + b" HTTP/1.1\r\nHost: " + host + b"\r\n"
        head = (key, prefix, httpx.Request("POST", url))
        if len(self._fast_heads) < 1024:
            self._fast_heads[url] = head
        return head

    def _header_lines(self, extra: dict[str, str] | None) -> bytes:
        raw = self.headers.raw
        defaults, _ = self._fast_defaults
        if raw != defaults:
            self._fast_defaults = (raw, {name.lower(): value for name, value in raw})
            self._fast_lines = None
        extra = extra or None
        last = self._fast_lines
        if last is not None and last[0] == extra:
            return last[1]
        lines = self._merged_lines(extra)
        self._fast_lines = (dict(extra) if extra else None, lines)
        return lines

    def _merged_lines(self, extra: dict[str, str] | None) -> bytes:
        merged = self._fast_defaults[1]
        if extra:
            merged = dict(merged)
            for name, value in extra.items():
                name_b, value_b = name.encode("ascii"), value.encode("ascii")
                if b"\r" in value_b or b"\n" in value_b or b":" in name_b:
                    raise ValueError("not a header")
                merged[name_b.lower()] = value_b
        return b"".join(name + b": " + value + b"\r\n" for name, value in merged.items())

    def _timeout_dict(self) -> dict[str, float | None]:
        timeout, as_dict = self._fast_timeouts
        if timeout is not self.timeout:
            as_dict = self.timeout.as_dict()
            self._fast_timeouts = (self.timeout, as_dict)
        return as_dict


def _may_hold_cookies(jar: CookieJar) -> bool:
    """Whether `jar` may hold a cookie: its table of domains (a stdlib detail) is not empty,
    an O(1) check where counting the cookies walks the table on every request. A table left
    with an empty domain only sends a request down httpx's own path."""
    table = getattr(jar, "_cookies", None)
    return bool(table) if isinstance(table, dict) else len(jar) > 0


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

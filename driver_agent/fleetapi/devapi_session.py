"""One developer API account's calls on the wire: per-service URLs, retries, reconciliation.

The developer API (seed 001) has no token: each service's URL, `/services/{serviceId}/{uuid1}/
{uuid2}`, is its credential (`own_fleet.services`). The URLs are kept out of every message: an
error or a log line names the service, never its URL. The rest is the fleet client's machinery,
reused: the shared HTTP pool (`transport.open_http_pool`, the `[api]` timeouts and engine),
answers and httpx errors as our ApiErrors (`answers.translate`, `answers.transport_error`: 401,
403, other refusals, `"success": false` + `message`, 5xx/429 with the server's wait), the capped
exponential back-off with full jitter (`ratelimit.backoff_s`, sleeping through
`clock.sleep_real()`), and `session.ClientStatistics`.

Callers observe every attempt through `on_response(service, status or None, latency_s)` and
every resend and reconciliation through `on_retry(service, reconciled)`: statistics, thresholds
and the report see each service under its name (`start_order.p95_ms`). How a service may be
resent is its `Kind` in `devapi_services`; a `MOVE` resent after an unknown outcome whose
refusal says "already" returns `RECONCILED` (compared by identity). As in the fleet session, a
step whose retries ran out while its outcome was unknown is remembered (`call_key`) until it
gets a definite answer, so the same step sent again later is reconciled as well.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING

import anyio
import httpx
import msgspec

from driver_agent.core.errors import ApiUnavailable, ConfigError, OutcomeUnknown, RejectedError
from driver_agent.core.redaction import redact_text
from driver_agent.core.validation import check_pool, check_url
from driver_agent.fleetapi.answers import json_or_none, translate, transport_error
from driver_agent.fleetapi.devapi_services import (
    SERVICES,
    Kind,
    Service,
    ServiceSpec,
    is_already_done,
)
from driver_agent.fleetapi.ratelimit import backoff_s
from driver_agent.fleetapi.session import (
    MAX_MESSAGE_CHARS,
    MAX_UNSURE_CALLS,
    RECONCILED,
    ClientStatistics,
    OnResponse,
    OnRetry,
    body_bytes_sent,
)
from driver_agent.fleetapi.transport import open_http_pool

if TYPE_CHECKING:
    from driver_agent.core.clock import Clock
    from driver_agent.core.config import ApiConfig

Params = list[tuple[str, str]]
CallKey = tuple[str, bytes]
_WHERE = frozenset({"lat", "lng"})  # where the driver was: not part of which call it is
SERVICE_KEY = "own_fleet.services"


def service_urls(
    table: Mapping[str, str], *, base_url: str = "", allow_insecure_http: bool = False
) -> dict[str, str]:
    """Checked service URLs: `table` maps a service name to its URL, or to a path under
    `base_url` (the embedded sandbox lists paths: `GET /_sandbox/services`). ConfigError names
    the service, never the URL (it is the credential)."""
    urls: dict[str, str] = {}
    for name, value in table.items():
        where = f"{SERVICE_KEY}.{name}"
        if name not in SERVICES:
            raise ConfigError(where, "unknown service")
        url = base_url.rstrip("/") + value if value.startswith("/") and base_url else value
        try:
            check_url(url, where, allow_insecure_http=allow_insecure_http)
        except ConfigError:
            raise ConfigError(
                where, "not a usable URL (the value is not shown: a secret)"
            ) from None
        urls[name] = url
    return urls


def call_key(name: str, body: Mapping[str, object]) -> CallKey:
    """The key by which a step sent again (now, or later by a caller that gave up) is
    recognised: the service and its body but the position, keys sorted."""
    which = {k: v for k, v in body.items() if k not in _WHERE}
    return (name, msgspec.json.encode(which, order="sorted"))


class DevApiSession:
    """Talks to one developer API account; safe for many tasks."""

    def __init__(
        self,
        urls: Mapping[str, str],
        api: ApiConfig,
        clock: Clock,
        *,
        http: httpx.AsyncClient | None = None,
        rng: random.Random | None = None,
        on_response: OnResponse | None = None,
        on_retry: OnRetry | None = None,
        limiter: anyio.CapacityLimiter | None = None,
    ) -> None:
        check_pool(api)
        urls = service_urls(urls, allow_insecure_http=api.allow_insecure_http)
        self._urls = {name: httpx.URL(url) for name, url in urls.items()}
        # every URL and path is masked in messages, longest first (a path is in its URL)
        secrets = {*urls.values(), *(u.raw_path.decode("ascii") for u in self._urls.values())}
        self._secrets = sorted(secrets, key=len, reverse=True)
        self._api = api
        self._clock = clock
        self._owns_http = http is None
        self._http = http if http is not None else open_http_pool(api)
        self._rng = rng if rng is not None else random.Random(0)
        self._on_response = on_response
        self.on_retry = on_retry
        self._limiter = limiter if limiter is not None else anyio.CapacityLimiter(api.max_in_flight)
        self._requests = 0
        self._retries = 0
        self._reconciled = 0
        self._unsure: dict[CallKey, None] = {}  # steps whose last attempt's outcome is unknown
        self.bytes_sent = 0  # request and answer bodies of every attempt that got an answer
        self.bytes_received = 0

    def __repr__(self) -> str:
        return f"{type(self).__name__}(services={sorted(self._urls)!r})"  # names, never URLs

    async def aclose(self) -> None:
        """Close the HTTP pool if this session built it."""
        if self._owns_http:
            await self._http.aclose()

    @property
    def config(self) -> ApiConfig:
        return self._api

    @property
    def rate_limit(self) -> None:
        """The developer API documents no rate-limit headers: no budget to pace by."""
        return None

    @property
    def services(self) -> frozenset[str]:
        """The services this session has a URL for."""
        return frozenset(self._urls)

    def statistics(self) -> ClientStatistics:
        return ClientStatistics(
            requests=self._requests,
            retries=self._retries,
            token_refreshes=0,  # no token: the URL is the credential
            in_flight=int(self._limiter.borrowed_tokens),
            reconciled=self._reconciled,
        )

    async def send(
        self, service: str, body: Mapping[str, object], params: Params | None = None
    ) -> dict[str, object]:
        """Send a finished body (a POST) or query (`params`, a GET) to `service` and return the
        answer's JSON object (a bare list comes back as `{"items": [...]}`). ConfigError when the
        service has no URL; ApiError subclasses as the module says."""
        spec = SERVICES.get(service)
        if spec is None:
            raise ValueError(f"service: {service!r} is not a developer API service")
        url = self._urls.get(service)
        if url is None:
            raise ConfigError(f"{SERVICE_KEY}.{service}", "no URL configured for this service")
        return await self.send_to(service, url, spec, body, params)

    async def send_to(
        self,
        name: str,
        url: httpx.URL,
        spec: ServiceSpec | None,
        body: Mapping[str, object],
        params: Params | None = None,
        *,
        secrets: tuple[str, ...] = (),
    ) -> dict[str, object]:
        """`send` to a known URL; `spec` None: a `CREATE` (resent only when surely not applied).
        `secrets`: more values to mask in messages (the partner API's token)."""
        kind = spec.kind if spec is not None else Kind.CREATE
        masked = (*self._secrets, *secrets)

        def scrub(text: str) -> str:
            return redact_text(text, *masked)[:MAX_MESSAGE_CHARS]

        key = call_key(name, body) if kind is Kind.MOVE else None
        unsure = key is not None and key in self._unsure  # an earlier call may have applied
        attempt = 0
        while True:
            try:
                response = await self._request(name, url, body, params, scrub)
                answer = self._answer(name, response, scrub)
            except ApiUnavailable as exc:
                lost = isinstance(exc, OutcomeUnknown)
                unsure = unsure or lost or (exc.status is not None and exc.status >= 500)
                attempt += 1
                if (kind is Kind.CREATE and lost) or attempt > self._api.max_retries:
                    if key is not None and unsure:
                        self._remember_unsure(key)
                    raise self._gave_up(kind, unsure, exc) from None
                await self._back_off(name, attempt, exc)
                continue
            except RejectedError as exc:
                if key is not None:
                    self._unsure.pop(key, None)  # a definite answer
                if unsure and spec is not None and is_already_done(spec, exc.message):
                    self._reconciled += 1
                    if self.on_retry is not None:
                        self.on_retry(name, True)
                    return RECONCILED
                raise
            if key is not None:
                self._unsure.pop(key, None)
            return answer

    def _remember_unsure(self, key: CallKey) -> None:
        unsure = self._unsure
        unsure.pop(key, None)
        unsure[key] = None
        if len(unsure) > MAX_UNSURE_CALLS:
            del unsure[next(iter(unsure))]  # the oldest: bounded memory

    def _gave_up(self, kind: Kind, unsure: bool, exc: ApiUnavailable) -> ApiUnavailable:
        if not unsure or kind in (Kind.READ, Kind.SET) or isinstance(exc, OutcomeUnknown):
            return exc
        return OutcomeUnknown(exc.endpoint, exc.status, exc.message, exc.retry_after_s)

    async def _back_off(self, name: str, attempt: int, exc: ApiUnavailable) -> None:
        self._retries += 1
        if self.on_retry is not None:
            self.on_retry(name, False)
        api = self._api
        wait_s = backoff_s(
            attempt,
            base_s=api.backoff_base_s,
            cap_s=api.backoff_cap_s,
            rng=self._rng,
            server_wait_s=exc.retry_after_s,
        )
        await self._clock.sleep_real(wait_s)

    async def _request(
        self,
        name: str,
        url: httpx.URL,
        body: Mapping[str, object],
        params: Params | None,
        scrub: Callable[[str], str],
    ) -> httpx.Response:
        """One attempt. httpx errors become ApiErrors here and nowhere else."""
        self._requests += 1
        hook = self._on_response
        clock = self._clock
        started = clock.monotonic() if hook is not None else 0.0
        try:
            async with self._limiter:
                if params is not None:
                    response = await self._http.get(url, params=tuple(params))
                else:
                    response = await self._http.post(url, json=body)
        except httpx.HTTPError as exc:
            if hook is not None and isinstance(exc, httpx.TransportError):
                hook(name, None, clock.monotonic() - started)
            raise transport_error(name, exc, scrub) from None
        if hook is not None:
            hook(name, response.status_code, clock.monotonic() - started)
        self.bytes_received += len(response.content)
        self.bytes_sent += body_bytes_sent(response)
        return response

    def _answer(
        self, name: str, response: httpx.Response, scrub: Callable[[str], str]
    ) -> dict[str, object]:
        if name == Service.OPEN_ORDERS and 200 <= response.status_code < 300:
            items = json_or_none(response)
            if isinstance(items, list):  # Open Orders answers with a bare list of tasks
                return {"success": True, "items": items}
        return translate(name, response, self._clock, scrub)

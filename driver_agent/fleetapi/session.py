"""One fleet API account's calls on the wire: token, retries, rate limits, reconciliation.

`FleetSession.send(endpoint, body)` POSTs a finished wire body with `Authorization: Bearer
<token>` (`auth.py`), refreshed once after a 401; answers and httpx errors become our ApiErrors in
`answers.py`. `FleetClient` (client.py) adds one typed method per documented call on top.

Resending follows `resend.py`, per endpoint. Location and update_task are resent freely. A call
that changes an order is resent too, but once one attempt's outcome is unknown (OutcomeUnknown
or a 5xx) a refusal that says "already in that state" ends it as success: a *reconciled* retry
(`send` returns `RECONCILED`). The session remembers such unknown outcomes per call
(`resend.call_key`: endpoint, task, stop, note) until the call gets a definite answer, so a caller
that gives up and sends the same call later (the driver after an outage, the bridge's outbox) is
reconciled as well. When the retries run out on a call that may have been applied, the error
raised is OutcomeUnknown (whatever the last attempt said).

Retries wait a capped exponential back-off with full jitter (the injected `random.Random`), never
less than `Retry-After` or, when `RateLimit-Remaining` is 0, `RateLimit-Reset`. Back-off sleeps go
through `clock.sleep_real()`. The session does not log: callers observe every attempt through
`on_response(endpoint, status or None, latency_s)`, every resend and reconciliation through
`on_retry(endpoint, reconciled)`, and read `statistics()` / `rate_limit` and the running totals
`bytes_sent` / `bytes_received` (request and answer bodies; plain counters, nothing per call).
"""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

import httpx

from driver_agent.core.endpoints import ENDPOINTS
from driver_agent.core.errors import ApiError, ApiUnavailable, OutcomeUnknown, RejectedError
from driver_agent.core.redaction import redact_text
from driver_agent.core.validation import check_api
from driver_agent.fleetapi.answers import json_object, translate, transport_error
from driver_agent.fleetapi.auth import BearerToken
from driver_agent.fleetapi.inflight import InFlight, Limiter
from driver_agent.fleetapi.ratelimit import RateLimitBudget, backoff_s, parse_rate_limit
from driver_agent.fleetapi.resend import (
    CallKey,
    call_key,
    is_already_done,
    may_have_applied,
)
from driver_agent.fleetapi.transport import (
    BODY_BYTES_SENT,
    Exchanged,
    PooledClient,
    open_http_pool,
)

if TYPE_CHECKING:
    from driver_agent.core.clock import Clock
    from driver_agent.core.config import ApiConfig

MAX_MESSAGE_CHARS = 300
MAX_UNSURE_CALLS = 10_000  # calls remembered as "outcome unknown" until their next answer

OnResponse = Callable[[str, int | None, float], None]
OnRetry = Callable[[str, bool], None]
RECONCILED: dict[str, object] = {"success": True, "reconciled": True}  # compared by identity


@dataclass(frozen=True, slots=True)
class ClientStatistics:
    """Counters since the client was built. `requests` counts every HTTP attempt."""

    requests: int
    retries: int
    token_refreshes: int
    in_flight: int
    reconciled: int = 0  # resent calls the API had already applied (counted once, as success)


class FleetSession:
    """Talks to one fleet API account. Share one per credentials; it is safe for many tasks."""

    def __init__(
        self,
        config: ApiConfig,
        clock: Clock,
        *,
        http: httpx.AsyncClient | None = None,
        rng: random.Random | None = None,
        on_response: OnResponse | None = None,
        limiter: Limiter | None = None,
        on_retry: OnRetry | None = None,
    ) -> None:
        check_api(config, remote=True)
        base = config.api_url.rstrip("/")
        self._urls = {name: httpx.URL(base + config.path(name)) for name in ENDPOINTS}

        self._config = config
        self._clock = clock
        self._owns_http = http is None
        self._http = http if http is not None else open_http_pool(config)
        self._short = self._http if isinstance(self._http, PooledClient) else None
        self._rng = rng if rng is not None else random.Random(0)
        self._on_response = on_response
        self.on_retry = on_retry
        self._limiter: Limiter = limiter if limiter is not None else InFlight(config.max_in_flight)
        self._max_retries = config.max_retries
        self._token = BearerToken(config, clock, self._post, self._scrub)

        self._rl_headers: httpx.Headers | None = None
        self._rl_observed_at = 0.0
        self._rl_budget: RateLimitBudget | None = None

        self._requests = 0
        self.bytes_sent = 0  # request and answer bodies of every attempt that got an answer
        self.bytes_received = 0
        self._retries = 0
        self._reconciled = 0
        self._unsure: dict[CallKey, None] = {}  # calls whose last attempt's outcome is unknown

    def __repr__(self) -> str:
        config = self._config
        return f"{type(self).__name__}(api_url={config.api_url!r}, client_id={config.client_id!r})"

    async def aclose(self) -> None:
        """Close the HTTP pool if this client built it."""
        if self._owns_http:
            await self._http.aclose()

    # -- observation ------------------------------------------------------------------------

    @property
    def config(self) -> ApiConfig:
        """The settings this client was built with (the driver reads `give_up_after_s`)."""
        return self._config

    @property
    def rate_limit(self) -> RateLimitBudget | None:
        """The budget the latest response with RateLimit headers announced, if any."""
        if self._rl_budget is None and self._rl_headers is not None:
            # parsed once per response that carried the headers, not on every read: drivers
            # read it before every location update
            self._rl_budget = parse_rate_limit(self._rl_headers, self._rl_observed_at)
        return self._rl_budget

    def statistics(self) -> ClientStatistics:
        return ClientStatistics(
            requests=self._requests,
            retries=self._retries,
            token_refreshes=self._token.refreshes,
            in_flight=int(self._limiter.borrowed_tokens),
            reconciled=self._reconciled,
        )

    # -- sending ----------------------------------------------------------------------------

    async def send(self, endpoint: str, body: Mapping[str, object]) -> dict[str, object]:
        """POST a finished wire body to `endpoint` as is, and return the answer's JSON object.

        Every typed call above goes through here, and so may a caller holding a body it built
        earlier (the bridge's outbox). The token, one re-authentication on 401, retries, rate
        limits, statistics and resend reconciliation apply as to the typed calls: an
        order-changing call is recognised across resends by `resend.call_key(endpoint, body)`,
        and when an earlier attempt's outcome was unknown an "already in that state" refusal
        returns `RECONCILED` (`{"success": True, "reconciled": True}`, compared by identity).
        Raises ValueError for an endpoint that is not in `core.endpoints.ENDPOINTS`, ApiError
        subclasses as described above."""
        url = self._urls.get(endpoint)
        if url is None:
            raise ValueError(f"endpoint: {endpoint!r} is not a fleet API call")
        key = call_key(endpoint, body)
        unsure = key is not None and key in self._unsure  # an earlier attempt may have applied
        attempt = 0
        reauthenticated = False
        while True:
            try:
                auth = await self._token.header()
                response = await self._attempt(endpoint, url, body, auth)
                if isinstance(response, dict):  # a plain success, read off the engine's answer
                    answer = response
                else:
                    if response.status_code == 401 and not reauthenticated:
                        reauthenticated = True
                        self._token.retire(auth)  # unless someone refreshed since we sent
                        continue
                    answer = translate(endpoint, response, self._clock, self._scrub)
            except ApiUnavailable as exc:
                unsure = unsure or (
                    key is not None
                    and exc.endpoint == endpoint
                    and may_have_applied(exc.status, isinstance(exc, OutcomeUnknown))
                )
                attempt += 1
                if attempt > self._max_retries:
                    raise self._gave_up(key if unsure else None, exc) from None
                await self._back_off(endpoint, attempt, exc)
                continue
            except ApiError as exc:
                refusal: ApiError | None = exc
            else:
                refusal = None
            # A definite answer, success or refusal: the call is no longer unsure.
            if unsure:
                assert key is not None
                self._unsure.pop(key, None)
                if isinstance(refusal, RejectedError) and is_already_done(
                    endpoint, refusal.message
                ):
                    self._reconciled += 1
                    if self.on_retry is not None:
                        self.on_retry(endpoint, True)
                    return RECONCILED
            if refusal is not None:
                raise refusal
            return answer

    def _gave_up(self, unsure_key: CallKey | None, exc: ApiUnavailable) -> ApiUnavailable:
        """The error that ends a call whose retries ran out: OutcomeUnknown, remembered under its
        key, when an attempt may have been applied."""
        if unsure_key is None:
            return exc
        self._remember_unsure(unsure_key)
        if isinstance(exc, OutcomeUnknown):
            return exc
        return OutcomeUnknown(exc.endpoint, exc.status, exc.message, exc.retry_after_s)

    async def _back_off(self, endpoint: str, attempt: int, exc: ApiUnavailable) -> None:
        self._retries += 1
        if self.on_retry is not None:
            self.on_retry(endpoint, False)
        wait_s = backoff_s(
            attempt,
            base_s=self._config.backoff_base_s,
            cap_s=self._config.backoff_cap_s,
            rng=self._rng,
            server_wait_s=exc.retry_after_s,
        )
        await self._clock.sleep_real(wait_s)

    def _remember_unsure(self, key: CallKey) -> None:
        unsure = self._unsure
        unsure.pop(key, None)
        unsure[key] = None
        if len(unsure) > MAX_UNSURE_CALLS:
            del unsure[next(iter(unsure))]  # the oldest: bounded memory, at worst one duplicate

    async def _post(
        self,
        endpoint: str,
        url: httpx.URL,
        body: Mapping[str, object],
        auth: dict[str, str] | None,
    ) -> httpx.Response:
        """One attempt, its answer as an `httpx.Response` (the token's calls)."""
        response = await self._attempt(endpoint, url, body, auth, plain=False)
        assert not isinstance(response, dict)
        return response

    async def _attempt(
        self,
        endpoint: str,
        url: httpx.URL,
        body: Mapping[str, object],
        auth: dict[str, str] | None,
        *,
        plain: bool = True,
    ) -> httpx.Response | dict[str, object]:
        """One attempt. httpx errors become ApiErrors here and nowhere else.

        With `plain`, a 2xx answer of our own engine's short path that is a JSON object
        without `success: false`, and has no headers to act on (rate limits, cookies, a content
        encoding), is returned decoded, without building an `httpx.Response` (on a busy fleet's
        location updates that cost ~9% of the CPU); anything else is the `httpx.Response`."""
        self._requests += 1
        hook = self._on_response
        clock = self._clock
        started = clock.monotonic() if hook is not None else 0.0
        short = self._short
        try:
            async with self._limiter:
                if short is not None:
                    done: Exchanged | httpx.Response | None = await short.post_short(
                        url, body, auth
                    )
                    if done is None:
                        done = await self._http.post(url, json=body, headers=auth)
                else:
                    done = await self._http.post(url, json=body, headers=auth)
        except httpx.HTTPError as exc:
            if hook is not None and isinstance(exc, httpx.TransportError):
                hook(endpoint, None, clock.monotonic() - started)
            raise transport_error(endpoint, exc, self._scrub) from None
        if isinstance(done, Exchanged):
            if hook is not None:
                hook(endpoint, done.answer.status, clock.monotonic() - started)
            answer = plain_answer(done) if plain else None
            if answer is not None:
                self.bytes_received += len(done.answer.body)
                self.bytes_sent += done.sent
                return answer
            assert short is not None
            response = short.response_for(done)
        else:
            response = done
            if hook is not None:
                hook(endpoint, response.status_code, clock.monotonic() - started)
        self.bytes_received += len(response.content)
        sent = response.extensions.get(BODY_BYTES_SENT)  # our engine's short path noted it
        self.bytes_sent += sent if sent is not None else body_bytes_sent(response)
        headers = response.headers
        if "ratelimit-remaining" in headers or "ratelimit" in headers:
            self._rl_headers = headers
            self._rl_observed_at = clock.monotonic()
            self._rl_budget = None
        return response

    def _scrub(self, text: str) -> str:
        """Cut to size and mask secrets (the client secret and the token included), should a
        server echo them."""
        return redact_text(
            text[:MAX_MESSAGE_CHARS], self._config.client_secret.reveal(), self._token.token
        )


_ACTED_ON = frozenset((b"ratelimit", b"ratelimit-remaining", b"set-cookie", b"content-encoding"))


def plain_answer(done: Exchanged) -> dict[str, object] | None:
    """A short-path answer's JSON object when it is a plain success (2xx, a JSON object, no
    `success: false`, none of the headers the session or httpx act on), else None."""
    answer = done.answer
    if not 200 <= answer.status < 300:
        return None
    for name, _ in answer.headers:
        if name.lower() in _ACTED_ON:
            return None
    decoded = json_object(answer.body)
    if decoded is None or decoded.get("success") is False:
        return None
    return decoded


def body_bytes_sent(response: httpx.Response) -> int:
    """The request body's size in bytes: as our own engine's short path noted it (it keeps no
    body on the shared request), else the request's own content."""
    sent = response.extensions.get(BODY_BYTES_SENT)
    if isinstance(sent, int):
        return sent
    try:
        return len(response.request.content)
    except (httpx.RequestNotRead, RuntimeError):  # a streamed body, or no request at all
        return 0

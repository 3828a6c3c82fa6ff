"""The fleet API client: token cache, one typed method per documented call, retries.

Every call is a JSON POST with `Authorization: Bearer <token>`. The token comes from the OAuth2
client-credentials endpoint, is cached, and is refreshed `token_refresh_margin_s` before it
expires (real time: `clock.monotonic()`), and once more after a 401. One refresh runs at a time
for the whole client, so a thousand callers meeting an expired token cause one token request.

Outside errors are translated here and only here (`_post` for httpx, `_translate` for answers):

    401            refresh the token once and resend; still 401 -> AuthError
    403            ForbiddenError, never retried
    other 4xx/3xx  RejectedError with the server's message
    200 + success: false              RejectedError with the server's message
    5xx, 429                          ApiUnavailable, retried up to `max_retries` times
    connect error/timeout, pool timeout, unsupported protocol
                                      ApiUnavailable: the request never left ("never sent")
    any other httpx.TransportError (read timeout, read/write error, the engine's
    OutcomeUnknownError and other RemoteProtocolErrors)
                                      OutcomeUnknown: it may have been applied

Resending follows `resend.py`, per endpoint. Location and update_task are resent freely. A call
that changes an order is resent too, but once one attempt's outcome is unknown (OutcomeUnknown
or a 5xx) a refusal that says "already in that state" ends it as success: a *reconciled* retry,
returning a `TaskView` with the task id and the status the refusal named (cluster calls: no way
point ids). The client remembers such unknown outcomes per call (endpoint, task, stop) until the
call gets a definite answer, so a caller that gives up and sends the same call later (the driver
after an outage, the bridge's outbox) is reconciled as well. When the retries run out on a call
that may have been applied, the error raised is OutcomeUnknown (whatever the last attempt said).
`create_note` carries a client-made `external_id` derived from the note, by which a resend is
recognised rather than added twice.

Retries wait a capped exponential back-off with full jitter (the injected `random.Random`), never
less than `Retry-After` or, when `RateLimit-Remaining` is 0, `RateLimit-Reset`. Back-off sleeps go
through `clock.sleep_real()`. The client does not log: callers observe every attempt through
`on_response(endpoint, status or None, latency_s)`, every resend and reconciliation through
`on_retry(endpoint, reconciled)`, and read `statistics()` / `rate_limit`.
"""

from __future__ import annotations

import math
import random
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING

import anyio
import httpx

from driver_agent.core.endpoints import ENDPOINTS, Endpoint
from driver_agent.core.errors import (
    ApiError,
    ApiUnavailable,
    AuthError,
    ForbiddenError,
    OutcomeUnknown,
    RejectedError,
)
from driver_agent.core.model import TOKEN_TTL_S, StopKind
from driver_agent.core.redaction import redact_text
from driver_agent.core.validation import check_api
from driver_agent.fleetapi import wire
from driver_agent.fleetapi.ratelimit import (
    RateLimitBudget,
    backoff_s,
    http_date_epoch_s,
    parse_rate_limit,
    server_wait_s,
)
from driver_agent.fleetapi.resend import (
    CallKey,
    call_key,
    is_already_done,
    may_have_applied,
    note_external_id,
    reconciled_status,
)
from driver_agent.fleetapi.transport import open_http_pool
from driver_agent.fleetapi.wire import TaskView

if TYPE_CHECKING:
    from collections.abc import Sequence

    from driver_agent.core.clock import Clock
    from driver_agent.core.config import ApiConfig
    from driver_agent.fleetapi.wire import DriverProfile, IntegrationEvent, Note, WayPointUpdate

TOKEN_ENDPOINT = "token"  # the endpoint name errors and `on_response` use for Get Token
MAX_MESSAGE_CHARS = 300
MAX_UNSURE_CALLS = 10_000  # calls remembered as "outcome unknown" until their next answer

OnResponse = Callable[[str, int | None, float], None]
OnRetry = Callable[[str, bool], None]
# never sent: the connection was not made, or no pooled connection was free
NEVER_SENT = (
    httpx.ConnectError,
    httpx.ConnectTimeout,
    httpx.PoolTimeout,
    httpx.UnsupportedProtocol,
)
_RECONCILED: dict[str, object] = {"success": True, "reconciled": True}  # compared by identity


@dataclass(frozen=True, slots=True)
class ClientStatistics:
    """Counters since the client was built. `requests` counts every HTTP attempt."""

    requests: int
    retries: int
    token_refreshes: int
    in_flight: int
    reconciled: int = 0  # resent calls the API had already applied (counted once, as success)


class FleetClient:
    """Talks to one fleet API account. Share one per credentials; it is safe for many tasks."""

    def __init__(
        self,
        config: ApiConfig,
        clock: Clock,
        *,
        http: httpx.AsyncClient | None = None,
        rng: random.Random | None = None,
        on_response: OnResponse | None = None,
        limiter: anyio.CapacityLimiter | None = None,
        on_retry: OnRetry | None = None,
    ) -> None:
        check_api(config, remote=True)
        base = config.api_url.rstrip("/")
        self._urls = {name: httpx.URL(base + config.path(name)) for name in ENDPOINTS}
        self._token_url = httpx.URL(config.resolved_token_url())

        self._config = config
        self._clock = clock
        self._owns_http = http is None
        self._http = http if http is not None else open_http_pool(config)
        self._rng = rng if rng is not None else random.Random(0)
        self._on_response = on_response
        self.on_retry = on_retry
        self._limiter = (
            limiter if limiter is not None else anyio.CapacityLimiter(config.max_in_flight)
        )
        self._max_retries = config.max_retries

        self._token_lock = anyio.Lock()
        self._auth: dict[str, str] | None = None  # {"Authorization": "Bearer ..."}, per token
        self._refresh_at = -math.inf
        self._token_fetches = 0
        self._token_failure: AuthError | ApiUnavailable | None = None

        self._rl_headers: httpx.Headers | None = None
        self._rl_observed_at = 0.0
        self._rl_budget: RateLimitBudget | None = None

        self._requests = 0
        self._retries = 0
        self._reconciled = 0
        self._token_refreshes = 0
        self._unsure: dict[CallKey, None] = {}  # calls whose last attempt's outcome is unknown

    def __repr__(self) -> str:
        return (
            f"FleetClient(api_url={self._config.api_url!r}, client_id={self._config.client_id!r})"
        )

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
            token_refreshes=self._token_refreshes,
            in_flight=int(self._limiter.borrowed_tokens),
            reconciled=self._reconciled,
        )

    # -- the documented calls ---------------------------------------------------------------

    async def assign_driver(
        self,
        task_id: int,
        *,
        user: DriverProfile | None = None,
        user_external_id: str | None = None,
        delivery_cost_cents: float | None = None,
        green_delivery: bool | None = None,
        reported_time_ms: int | None = None,
    ) -> TaskView:
        """Assign a new driver (`user`) or a known one (`user_external_id`) to the order."""
        if (user is None) == (user_external_id is None):
            raise ValueError("assign_driver: give exactly one of user, user_external_id")
        body = wire.task_body(task_id, reported_time_ms=reported_time_ms)
        if user is not None:
            body["user"] = user.to_json()
        else:
            body["user_external_id"] = user_external_id
        _put_extras(body, delivery_cost_cents, green_delivery)
        answer = await self.send(Endpoint.ASSIGN_DRIVER, body)
        return self._task(Endpoint.ASSIGN_DRIVER, answer, task_id)

    async def start_task(
        self,
        task_id: int,
        *,
        lat: float | None = None,
        lng: float | None = None,
        reported_time_ms: int | None = None,
        delivery_cost_cents: float | None = None,
        green_delivery: bool | None = None,
    ) -> TaskView:
        body = wire.task_body(task_id, lat=lat, lng=lng, reported_time_ms=reported_time_ms)
        _put_extras(body, delivery_cost_cents, green_delivery)
        answer = await self.send(Endpoint.START_TASK, body)
        return self._task(Endpoint.START_TASK, answer, task_id)

    async def update_driver_location(
        self,
        *,
        user_external_id: str | None = None,
        user_id: int | None = None,
        lat: float,
        lng: float,
        reported_time_ms: int | None = None,
        started_tasks: Sequence[int] = (),
    ) -> None:
        body = wire.location_body(
            user_external_id=user_external_id,
            user_id=user_id,
            lat=lat,
            lng=lng,
            reported_time_ms=reported_time_ms,
            started_tasks=started_tasks,
        )
        await self.send(Endpoint.UPDATE_DRIVER_LOCATION, body)

    async def checkin(
        self,
        task_id: int,
        *,
        kind: StopKind | None = None,
        lat: float | None = None,
        lng: float | None = None,
        reported_time_ms: int | None = None,
    ) -> TaskView:
        body = wire.task_body(
            task_id, lat=lat, lng=lng, reported_time_ms=reported_time_ms, kind=kind
        )
        answer = await self.send(Endpoint.CHECKIN, body)
        return self._task(Endpoint.CHECKIN, answer, task_id)

    async def checkout(
        self,
        task_id: int,
        *,
        kind: StopKind | None = None,
        lat: float | None = None,
        lng: float | None = None,
        reported_time_ms: int | None = None,
    ) -> TaskView:
        body = wire.task_body(
            task_id, lat=lat, lng=lng, reported_time_ms=reported_time_ms, kind=kind
        )
        answer = await self.send(Endpoint.CHECKOUT, body)
        return self._task(Endpoint.CHECKOUT, answer, task_id, kind)

    async def create_note(
        self,
        task_id: int,
        note: Note,
        *,
        kind: StopKind | None = None,
        lat: float | None = None,
        lng: float | None = None,
        reported_time_ms: int | None = None,
    ) -> dict[str, object]:
        """Add a note / proof of delivery; the Note was size- and type-checked when built."""
        body = wire.task_body(
            task_id, lat=lat, lng=lng, reported_time_ms=reported_time_ms, kind=kind
        )
        if kind is not None:
            body["way_point_position"] = kind.position
        fields = note.fields()
        body.update(fields)
        body["external_id"] = note_external_id(task_id, kind, reported_time_ms, fields)
        return await self.send(Endpoint.CREATE_NOTE, body)

    async def end_task(
        self,
        task_id: int,
        *,
        lat: float | None = None,
        lng: float | None = None,
        reported_time_ms: int | None = None,
        delivery_cost_cents: float | None = None,
    ) -> TaskView:
        """Complete Order."""
        body = wire.task_body(task_id, lat=lat, lng=lng, reported_time_ms=reported_time_ms)
        _put_extras(body, delivery_cost_cents, None)
        answer = await self.send(Endpoint.END_TASK, body)
        return self._task(Endpoint.END_TASK, answer, task_id)

    async def cancel_delivery(
        self,
        task_id: int,
        *,
        reason_id: int,
        reason: str | None = None,
        lat: float | None = None,
        lng: float | None = None,
        reported_time_ms: int | None = None,
    ) -> TaskView:
        body = wire.task_body(task_id, lat=lat, lng=lng, reported_time_ms=reported_time_ms)
        body["reason_id"] = reason_id
        if reason is not None:
            body["reason"] = reason
        answer = await self.send(Endpoint.CANCEL_DELIVERY, body)
        return self._task(Endpoint.CANCEL_DELIVERY, answer, task_id)

    async def update_task(
        self,
        task_id: int,
        *,
        way_points: Sequence[WayPointUpdate] = (),
        delivery_cost_cents: float | None = None,
        reported_time_ms: int | None = None,
        integration_event: IntegrationEvent | None = None,
        fleet_extras: Mapping[str, object] | None = None,
        green_delivery: bool | None = None,
    ) -> dict[str, object]:
        body = wire.task_body(task_id, reported_time_ms=reported_time_ms)
        if way_points:
            body["way_points"] = [way_point.to_json() for way_point in way_points]
        if integration_event is not None:
            body["integration_event"] = integration_event.to_json()
        if fleet_extras is not None:
            body["fleet_extras"] = dict(fleet_extras)
        _put_extras(body, delivery_cost_cents, green_delivery)
        return await self.send(Endpoint.UPDATE_TASK, body)

    async def cluster_check_in(
        self,
        task_ids: Sequence[int],
        *,
        kind: StopKind = StopKind.PICKUP,
        lat: float | None = None,
        lng: float | None = None,
        reported_time_ms: int | None = None,
    ) -> list[int]:
        """Check in many orders at one place; returns the way point ids checked in."""
        body = wire.cluster_body(
            task_ids, kind=kind, lat=lat, lng=lng, reported_time_ms=reported_time_ms
        )
        answer = await self.send(Endpoint.CLUSTER_CHECK_IN, body)
        return self._ids(Endpoint.CLUSTER_CHECK_IN, answer, "way_points_checked_in")

    async def cluster_check_out(
        self,
        task_ids: Sequence[int],
        *,
        kind: StopKind = StopKind.PICKUP,
        lat: float | None = None,
        lng: float | None = None,
        reported_time_ms: int | None = None,
    ) -> list[int]:
        """Check out many orders at one place; returns the way point ids checked out."""
        body = wire.cluster_body(
            task_ids, kind=kind, lat=lat, lng=lng, reported_time_ms=reported_time_ms
        )
        answer = await self.send(Endpoint.CLUSTER_CHECK_OUT, body)
        return self._ids(Endpoint.CLUSTER_CHECK_OUT, answer, "way_points_checked_out")

    # -- the machinery ----------------------------------------------------------------------

    async def send(self, endpoint: str, body: Mapping[str, object]) -> dict[str, object]:
        """POST a finished wire body to `endpoint` as is, and return the answer's JSON object.

        Every typed call above goes through here, and so may a caller holding a body it built
        earlier (the bridge's outbox). The token, one re-authentication on 401, retries, rate
        limits, statistics and resend reconciliation apply as to the typed calls: an
        order-changing call is recognised across resends by `resend.call_key(endpoint, body)`,
        and when an earlier attempt's outcome was unknown an "already in that state" refusal
        returns `{"success": True, "reconciled": True}`. Raises ValueError for an endpoint that
        is not in `core.endpoints.ENDPOINTS`, ApiError subclasses as described above."""
        url = self._urls.get(endpoint)
        if url is None:
            raise ValueError(f"endpoint: {endpoint!r} is not a fleet API call")
        key = call_key(endpoint, body)
        unsure = key is not None and key in self._unsure  # an earlier attempt may have applied
        attempt = 0
        reauthenticated = False
        while True:
            try:
                auth = await self._valid_auth()
                response = await self._post(endpoint, url, body, auth)
                if response.status_code == 401 and not reauthenticated:
                    reauthenticated = True
                    if self._auth is auth:  # nobody refreshed since we sent: retire it
                        self._refresh_at = -math.inf
                    continue
                answer = self._translate(endpoint, response)
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
                    return _RECONCILED
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

    async def _valid_auth(self) -> dict[str, str]:
        auth = self._auth
        if auth is not None and self._clock.monotonic() < self._refresh_at:
            return auth
        fetches_seen = self._token_fetches
        async with self._token_lock:
            auth = self._auth
            if auth is not None and self._clock.monotonic() < self._refresh_at:
                return auth
            failure = self._token_failure
            if failure is not None and self._token_fetches != fetches_seen:
                # Someone tried while we queued, and failed: share the verdict, do not pile on.
                raise _copy_error(failure)
            self._token_fetches += 1
            try:
                auth = await self._fetch_token()
            except (AuthError, ApiUnavailable) as exc:
                self._token_failure = exc
                raise
            self._token_failure = None
            return auth

    async def _fetch_token(self) -> dict[str, str]:
        config = self._config
        body: dict[str, object] = {
            "grant_type": "client_credentials",
            "client_id": config.client_id,
            "client_secret": config.client_secret.reveal(),
        }
        sent_at = self._clock.monotonic()
        response = await self._post(TOKEN_ENDPOINT, self._token_url, body, None)
        status = response.status_code
        if status in (400, 401, 403):
            reason = self._message(_json_or_none(response), response.reason_phrase)
            raise AuthError(
                TOKEN_ENDPOINT,
                status,
                f"credentials for client_id {config.client_id!r} refused: {reason}",
            )
        answer = self._translate(TOKEN_ENDPOINT, response)
        token = answer.get("access_token")
        if "error" in answer or not isinstance(token, str) or not token:
            reason = self._message(answer, "no access_token in the answer")
            raise AuthError(TOKEN_ENDPOINT, status, reason)
        expires_in = answer.get("expires_in")
        lifetime_s = (
            float(expires_in)
            if isinstance(expires_in, int | float)
            and not isinstance(expires_in, bool)
            and expires_in > 0
            else float(TOKEN_TTL_S)
        )
        margin_s = min(max(config.token_refresh_margin_s, 0.0), lifetime_s / 2)
        auth = {"Authorization": f"Bearer {token}"}
        self._auth = auth
        self._refresh_at = sent_at + lifetime_s - margin_s
        self._token_refreshes += 1
        return auth

    async def _post(
        self,
        endpoint: str,
        url: httpx.URL,
        body: Mapping[str, object],
        auth: dict[str, str] | None,
    ) -> httpx.Response:
        """One attempt. httpx errors become ApiErrors here and nowhere else."""
        self._requests += 1
        hook = self._on_response
        clock = self._clock
        started = clock.monotonic() if hook is not None else 0.0
        try:
            async with self._limiter:
                response = await self._http.post(url, json=body, headers=auth)
        except httpx.TransportError as exc:
            if hook is not None:
                hook(endpoint, None, clock.monotonic() - started)
            message = self._scrub(_describe(exc))
            if isinstance(exc, NEVER_SENT):
                raise ApiUnavailable(endpoint, None, message) from None
            raise OutcomeUnknown(endpoint, None, message) from None
        except httpx.HTTPError as exc:
            raise RejectedError(endpoint, None, self._scrub(_describe(exc))) from None
        if hook is not None:
            hook(endpoint, response.status_code, clock.monotonic() - started)
        headers = response.headers
        if "ratelimit-remaining" in headers or "ratelimit" in headers:
            self._rl_headers = headers
            self._rl_observed_at = clock.monotonic()
            self._rl_budget = None
        return response

    def _translate(self, endpoint: str, response: httpx.Response) -> dict[str, object]:
        """The answer's JSON object, or the ApiError its status and body call for."""
        status = response.status_code
        if 200 <= status < 300:
            answer = _json_or_none(response)
            if not isinstance(answer, dict):
                raise RejectedError(endpoint, status, "the answer is not a JSON object")
            if answer.get("success") is False:
                raise RejectedError(endpoint, status, self._message(answer, "success: false"))
            return answer
        if status == 429 or status >= 500:
            headers = response.headers
            now_epoch_s = http_date_epoch_s(headers.get("date"))
            budget = parse_rate_limit(headers, self._clock.monotonic())
            wait_s = server_wait_s(
                headers.get("retry-after"),
                budget,
                self._clock.now() if now_epoch_s is None else now_epoch_s,
            )
            message = self._message(_json_or_none(response), response.reason_phrase)
            raise ApiUnavailable(endpoint, status, message, retry_after_s=wait_s)
        message = self._message(_json_or_none(response), response.reason_phrase)
        if status == 401:
            raise AuthError(endpoint, status, message)
        if status == 403:
            raise ForbiddenError(endpoint, status, message)
        raise RejectedError(endpoint, status, message)

    def _task(
        self,
        endpoint: str,
        answer: Mapping[str, object],
        task_id: int,
        kind: StopKind | None = None,
    ) -> TaskView:
        if answer is _RECONCILED:
            return TaskView(task_id, reconciled_status(endpoint, kind))
        try:
            return wire.parse_task_answer(answer)
        except ValueError as exc:
            raise RejectedError(endpoint, 200, f"unreadable answer: {exc}") from None

    def _ids(self, endpoint: str, answer: Mapping[str, object], key: str) -> list[int]:
        if answer is _RECONCILED:
            return []  # already applied: the API's refusal names no way point ids
        try:
            return wire.parse_id_list(answer, key)
        except ValueError as exc:
            raise RejectedError(endpoint, 200, f"unreadable answer: {exc}") from None

    def _message(self, body: object, fallback: str) -> str:
        return self._scrub(wire.error_message(body, fallback or "no reason given"))

    def _scrub(self, text: str) -> str:
        """Cut to size and mask secrets (the client secret and the token included), should a
        server echo them."""
        auth = self._auth
        token = auth["Authorization"].removeprefix("Bearer ") if auth is not None else ""
        return redact_text(text[:MAX_MESSAGE_CHARS], self._config.client_secret.reveal(), token)


def _put_extras(
    body: dict[str, object], delivery_cost_cents: float | None, green_delivery: bool | None
) -> None:
    if delivery_cost_cents is not None:
        if not (math.isfinite(delivery_cost_cents) and delivery_cost_cents >= 0):
            raise ValueError(f"delivery_cost_cents: {delivery_cost_cents!r} is not a cost")
        body["delivery_cost"] = delivery_cost_cents
    if green_delivery is not None:
        body["green_delivery"] = green_delivery


def _json_or_none(response: httpx.Response) -> object:
    try:
        return response.json()
    except ValueError:
        return None


def _describe(exc: httpx.HTTPError) -> str:
    detail = str(exc)
    return f"{type(exc).__name__}: {detail}" if detail else type(exc).__name__


def _copy_error(exc: AuthError | ApiUnavailable) -> AuthError | ApiUnavailable:
    if isinstance(exc, ApiUnavailable):
        return type(exc)(exc.endpoint, exc.status, exc.message, exc.retry_after_s)
    return AuthError(exc.endpoint, exc.status, exc.message)


@asynccontextmanager
async def open_fleet_client(
    config: ApiConfig,
    clock: Clock,
    *,
    rng: random.Random | None = None,
    on_response: OnResponse | None = None,
    on_retry: OnRetry | None = None,
) -> AsyncIterator[FleetClient]:
    """A FleetClient over the process's one HTTP pool, closed on the way out."""
    client = FleetClient(config, clock, rng=rng, on_response=on_response, on_retry=on_retry)
    try:
        yield client
    finally:
        await client.aclose()

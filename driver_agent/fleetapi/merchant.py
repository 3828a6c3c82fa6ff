"""The merchant side of Bringg, as far as driver-agent needs it: create orders to drive.

Embedded mode (and a load test of a remote sandbox, given merchant credentials) creates orders
through Create Order and the Manhattan Request Driver path with the merchant's own OAuth2 client
credentials; Bringg then sends each order to the fleet as a Delivery Created webhook.

Creating an order is not idempotent, so it is resent with care: an attempt that never reached
the API (connect failed, no free connection) or was answered 429 is simply retried; an attempt
whose outcome is unknown (the socket died after the request went out, a timeout, a 5xx) is resent
with the same `external_id`, and "Task with external id X exists already" to such a resend means
the first attempt was applied: the order exists once, and `create` reports it as reconciled
(`None`) instead of failing or creating it twice.
"""

from __future__ import annotations

import random
from typing import Annotated, TypeVar

import httpx
import msgspec

from driver_agent.core.clock import Clock
from driver_agent.core.errors import ApiUnavailable, AuthError, OutcomeUnknown, RejectedError
from driver_agent.core.model import Secret
from driver_agent.fleetapi.answers import NEVER_SENT
from driver_agent.fleetapi.ratelimit import backoff_s
from driver_agent.fleetapi.resend import may_have_applied
from driver_agent.fleetapi.views import read
from driver_agent.fleetapi.wire import OrderRequest

T = TypeVar("T")

MANHATTAN_PATH = "/partner-integrations-service/v1/integrations/manhattan/orders"
TOKEN_MARGIN_S = 60.0
EXISTS_ALREADY = "exists already"  # seed 004's refusal of a second order with one external id
MAX_TOKEN_LIFETIME_S = 10**7
TaskId = Annotated[int, msgspec.Meta(ge=0, le=2**63 - 1)]  # ids may come as digit strings


class _Shipment(msgspec.Struct):
    shipmentId: TaskId


class _ManhattanAnswer(msgspec.Struct):
    completedShipments: Annotated[list[_Shipment], msgspec.Meta(min_length=1)]


class _CreatedTask(msgspec.Struct):
    id: TaskId


class _CreateTaskAnswer(msgspec.Struct):
    task: _CreatedTask | None = None


class _Token(msgspec.Struct):
    access_token: Annotated[str, msgspec.Meta(min_length=1)]
    expires_in: object = 1800


Lifetime = Annotated[float, msgspec.Meta(gt=0, lt=MAX_TOKEN_LIFETIME_S)]


class MerchantClient:
    """Creates orders as one merchant; holds its token (refreshed before it expires)."""

    def __init__(
        self,
        http: httpx.AsyncClient,
        base_url: str,
        client_id: str,
        client_secret: Secret,
        clock: Clock,
        *,
        token_url: str = "",
        create_task_path: str = "/services/create_task",
        max_retries: int = 4,
        backoff_base_s: float = 0.5,
        backoff_cap_s: float = 30.0,
    ) -> None:
        self._http = http
        self._max_retries = max_retries
        self._backoff = (backoff_base_s, backoff_cap_s)
        self._rng = random.Random(0)  # the back-off's jitter
        self._base = base_url.rstrip("/")
        self._token_url = token_url or self._base + "/oauth/token"
        self._client_id = client_id
        self._secret = client_secret
        self._clock = clock
        self._create_task_path = create_task_path
        self._auth: dict[str, str] = {}
        self._refresh_at = 0.0

    def __repr__(self) -> str:
        return f"MerchantClient({self._base!r}, client_id={self._client_id!r})"

    async def create(self, request: OrderRequest) -> int | None:
        """Create one order; Bringg's task id, or None when a resend found it created already.

        Retries what is retryable (`max_retries`, exponential back-off through the clock); a
        refusal or the last unavailability is raised.
        """
        maybe_applied = False
        attempt = 0
        while True:
            try:
                return await self._create_once(request)
            except ApiUnavailable as exc:  # OutcomeUnknown included
                unknown = isinstance(exc, OutcomeUnknown)
                maybe_applied = maybe_applied or may_have_applied(exc.status, unknown)
                attempt += 1
                if attempt > self._max_retries:
                    raise
                base_s, cap_s = self._backoff
                await self._clock.sleep_real(
                    backoff_s(
                        attempt,
                        base_s=base_s,
                        cap_s=cap_s,
                        rng=self._rng,
                        server_wait_s=exc.retry_after_s,
                    )
                )
            except RejectedError as exc:
                if maybe_applied and EXISTS_ALREADY in exc.message:
                    return None  # our earlier attempt was applied: the order exists once
                raise

    async def _create_once(self, request: OrderRequest) -> int:
        if request.kind == "manhattan":
            body = await self._post(MANHATTAN_PATH, request.body)
            shipments = _answer("manhattan", body, _ManhattanAnswer).completedShipments
            return shipments[0].shipmentId
        body = await self._post(self._create_task_path, request.body)
        if body.get("success") is not True:
            raise RejectedError("create_task", 200, str(body.get("message", "refused")))
        created = _answer("create_task", body, _CreateTaskAnswer)
        if created.task is None:
            raise RejectedError("create_task", 200, "no task in the answer")
        return created.task.id

    async def _post(self, path: str, body: dict[str, object]) -> dict[str, object]:
        headers = await self._headers()
        try:
            response = await self._http.post(self._base + path, json=body, headers=headers)
        except NEVER_SENT as exc:
            raise ApiUnavailable(path, None, type(exc).__name__) from None
        except httpx.TransportError as exc:  # it may have reached the API and been applied
            raise OutcomeUnknown(path, None, type(exc).__name__) from None
        except httpx.HTTPError as exc:
            raise RejectedError(path, None, type(exc).__name__) from None
        if response.status_code >= 500 or response.status_code == 429:
            raise ApiUnavailable(path, response.status_code, response.text[:200])
        answer = _json(response)
        if response.status_code != 200 or not isinstance(answer, dict):
            raise RejectedError(path, response.status_code, str(answer)[:300])
        return answer

    async def _headers(self) -> dict[str, str]:
        if self._auth and self._clock.monotonic() < self._refresh_at:
            return self._auth
        body = {
            "grant_type": "client_credentials",
            "client_id": self._client_id,
            "client_secret": self._secret.reveal(),
        }
        try:
            response = await self._http.post(self._token_url, json=body)
        except httpx.HTTPError as exc:
            raise ApiUnavailable("token", None, type(exc).__name__) from None
        if response.status_code != 200:
            raise AuthError("token", response.status_code, "merchant credentials refused")
        try:
            token = read(_json(response), _Token, "token")
        except ValueError as exc:
            raise AuthError("token", response.status_code, f"unusable answer: {exc}") from None
        self._auth = {"Authorization": f"Bearer {token.access_token}"}
        try:
            lifetime = msgspec.convert(token.expires_in, Lifetime, strict=True)
        except msgspec.ValidationError:
            lifetime = 1800.0
        self._refresh_at = self._clock.monotonic() + max(lifetime - TOKEN_MARGIN_S, 0.0)
        return self._auth


def _json(response: httpx.Response) -> object:
    """The answer's JSON; an answer that is not JSON is a refusal naming its status."""
    try:
        return response.json()
    except ValueError:  # JSONDecodeError, UnicodeDecodeError
        raise RejectedError(
            "merchant", response.status_code, f"not JSON: {response.text[:100]!r}"
        ) from None


def _answer(endpoint: str, body: object, type_: type[T]) -> T:
    """`body` read as `type_`; a RejectedError naming the field otherwise."""
    try:
        return read(body, type_, "")
    except ValueError as exc:
        raise RejectedError(endpoint, 200, f"unusable answer: {exc}") from None

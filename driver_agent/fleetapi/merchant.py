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

import httpx

from driver_agent.core.clock import Clock
from driver_agent.core.errors import ApiUnavailable, AuthError, OutcomeUnknown, RejectedError
from driver_agent.core.model import Secret
from driver_agent.fleetapi.client import NEVER_SENT
from driver_agent.fleetapi.ratelimit import backoff_s
from driver_agent.fleetapi.resend import may_have_applied
from driver_agent.fleetapi.wire import OrderRequest

MANHATTAN_PATH = "/partner-integrations-service/v1/integrations/manhattan/orders"
TOKEN_MARGIN_S = 60.0
EXISTS_ALREADY = "exists already"  # seed 004's refusal of a second order with one external id


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
            shipments = body.get("completedShipments")
            if not isinstance(shipments, list) or not shipments:
                raise RejectedError("manhattan", 200, "no completed shipment in the answer")
            first = shipments[0]
            return _task_id(
                "manhattan", first.get("shipmentId") if isinstance(first, dict) else None
            )
        body = await self._post(self._create_task_path, request.body)
        task = body.get("task")
        if body.get("success") is not True or not isinstance(task, dict):
            raise RejectedError("create_task", 200, str(body.get("message", "refused")))
        return _task_id("create_task", task.get("id"))

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
        token = _json(response)
        access = token.get("access_token") if isinstance(token, dict) else None
        if not isinstance(access, str) or not access:
            raise AuthError("token", response.status_code, "no access_token in the answer")
        self._auth = {"Authorization": f"Bearer {access}"}
        expires_in = token.get("expires_in", 1800) if isinstance(token, dict) else 1800
        valid = isinstance(expires_in, int | float) and not isinstance(expires_in, bool)
        lifetime = float(expires_in) if valid and 0 < expires_in < 10**7 else 1800.0
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


def _task_id(endpoint: str, value: object) -> int:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and value.isascii() and value.isdigit() and len(value) <= 19:
        return int(value)
    raise RejectedError(endpoint, 200, f"no task id in the answer (got {value!r:.40})")

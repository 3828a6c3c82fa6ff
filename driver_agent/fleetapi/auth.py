"""The fleet client's bearer token: fetched, cached, refreshed early, one refresh at a time.

The token comes from the OAuth2 client-credentials endpoint, is cached, and is refreshed
`token_refresh_margin_s` before it expires (real time: `clock.monotonic()`), and once more after a
401 (`retire`). One refresh runs at a time for the whole client, so a thousand callers meeting an
expired token cause one token request; callers that queued behind a failed refresh share its
verdict instead of piling on. The POST itself is the client's (`Post`), so token requests are
counted and observed like every other.
"""

from __future__ import annotations

import math
from collections.abc import Awaitable, Callable, Mapping
from typing import TYPE_CHECKING, Annotated

import anyio
import httpx
import msgspec

from driver_agent.core.errors import ApiUnavailable, AuthError
from driver_agent.core.model import TOKEN_TTL_S
from driver_agent.fleetapi.answers import copy_error, json_or_none, message, translate

if TYPE_CHECKING:
    from driver_agent.core.clock import Clock
    from driver_agent.core.config import ApiConfig

TOKEN_ENDPOINT = "token"  # the endpoint name errors and `on_response` use for Get Token

Post = Callable[
    [str, httpx.URL, Mapping[str, object], "dict[str, str] | None"], Awaitable[httpx.Response]
]
Lifetime = Annotated[float, msgspec.Meta(gt=0)]


class BearerToken:
    """The `Authorization` header of one client, kept valid."""

    def __init__(
        self, config: ApiConfig, clock: Clock, post: Post, scrub: Callable[[str], str]
    ) -> None:
        self._config = config
        self._clock = clock
        self._post = post
        self._scrub = scrub
        self._url = httpx.URL(config.resolved_token_url())
        self._lock = anyio.Lock()
        self._auth: dict[str, str] | None = None  # {"Authorization": "Bearer ..."}, per token
        self._refresh_at = -math.inf
        self._fetches = 0
        self._failure: AuthError | ApiUnavailable | None = None
        self.refreshes = 0  # tokens obtained

    @property
    def token(self) -> str:
        """The current token ("" before the first), for masking in messages."""
        auth = self._auth
        return auth["Authorization"].removeprefix("Bearer ") if auth is not None else ""

    def retire(self, auth: dict[str, str]) -> None:
        """`auth` drew a 401: refresh before the next call, unless someone already did."""
        if self._auth is auth:
            self._refresh_at = -math.inf

    async def header(self) -> dict[str, str]:
        """A valid `Authorization` header, fetching a token when needed."""
        auth = self._auth
        if auth is not None and self._clock.monotonic() < self._refresh_at:
            return auth
        fetches_seen = self._fetches
        async with self._lock:
            auth = self._auth
            if auth is not None and self._clock.monotonic() < self._refresh_at:
                return auth
            failure = self._failure
            if failure is not None and self._fetches != fetches_seen:
                # Someone tried while we queued, and failed: share the verdict, do not pile on.
                raise copy_error(failure)
            self._fetches += 1
            try:
                auth = await self._fetch()
            except (AuthError, ApiUnavailable) as exc:
                self._failure = exc
                raise
            self._failure = None
            return auth

    async def _fetch(self) -> dict[str, str]:
        config = self._config
        body: dict[str, object] = {
            "grant_type": "client_credentials",
            "client_id": config.client_id,
            "client_secret": config.client_secret.reveal(),
        }
        sent_at = self._clock.monotonic()
        response = await self._post(TOKEN_ENDPOINT, self._url, body, None)
        status = response.status_code
        if status in (400, 401, 403):
            reason = message(json_or_none(response), response.reason_phrase, self._scrub)
            raise AuthError(
                TOKEN_ENDPOINT,
                status,
                f"credentials for client_id {config.client_id!r} refused: {reason}",
            )
        answer = translate(TOKEN_ENDPOINT, response, self._clock, self._scrub)
        token = answer.get("access_token")
        if "error" in answer or not isinstance(token, str) or not token:
            reason = message(answer, "no access_token in the answer", self._scrub)
            raise AuthError(TOKEN_ENDPOINT, status, reason)
        lifetime_s = _lifetime_s(answer.get("expires_in"))
        margin_s = min(max(config.token_refresh_margin_s, 0.0), lifetime_s / 2)
        auth = {"Authorization": f"Bearer {token}"}
        self._auth = auth
        self._refresh_at = sent_at + lifetime_s - margin_s
        self.refreshes += 1
        return auth


def _lifetime_s(expires_in: object) -> float:
    """`expires_in` when it is a positive number of seconds, the documented TTL otherwise."""
    try:
        return msgspec.convert(expires_in, Lifetime, strict=True)
    except msgspec.ValidationError:
        return float(TOKEN_TTL_S)

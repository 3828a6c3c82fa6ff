"""What an HTTP answer or an httpx error means to the fleet client, as our ApiErrors (pure).

Outside errors are translated here and only here:

    401            AuthError (the client refreshes the token once before it gets here)
    403            ForbiddenError, never retried
    other 4xx/3xx  RejectedError with the server's message
    200 + success: false              RejectedError with the server's message
    5xx, 429                          ApiUnavailable, with the server's wait (Retry-After,
                                      RateLimit-Reset when the budget is spent)
    connect error/timeout, pool timeout, unsupported protocol
                                      ApiUnavailable: the request never left ("never sent")
    any other httpx.TransportError (read timeout, read/write error, the engine's
    OutcomeUnknownError and other RemoteProtocolErrors)
                                      OutcomeUnknown: it may have been applied

Messages pass through the caller's `scrub` (cut to size, secrets masked) before they go into an
error. Answers are decoded with msgspec; a body that is not JSON reads as None.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import httpx
import msgspec

from driver_agent.core.errors import (
    ApiError,
    ApiUnavailable,
    AuthError,
    ForbiddenError,
    OutcomeUnknown,
    RejectedError,
)
from driver_agent.fleetapi.ratelimit import http_date_epoch_s, parse_rate_limit, server_wait_s
from driver_agent.fleetapi.views import error_message

if TYPE_CHECKING:
    from collections.abc import Callable

    from driver_agent.core.clock import Clock

# never sent: the connection was not made, or no pooled connection was free
NEVER_SENT = (
    httpx.ConnectError,
    httpx.ConnectTimeout,
    httpx.PoolTimeout,
    httpx.UnsupportedProtocol,
)

_decode = msgspec.json.Decoder().decode


def json_or_none(response: httpx.Response) -> object:
    """The answer's decoded JSON, or None when it is not JSON."""
    try:
        return _decode(response.content)
    except msgspec.DecodeError:
        return None


def json_object(content: bytes) -> dict[str, object] | None:
    """`content` decoded when it is a JSON object, else None."""
    try:
        decoded = _decode(content)
    except msgspec.DecodeError:
        return None
    return decoded if isinstance(decoded, dict) else None


def message(body: object, fallback: str, scrub: Callable[[str], str]) -> str:
    """The server's reason (`views.error_message`), scrubbed."""
    return scrub(error_message(body, fallback or "no reason given"))


def translate(
    endpoint: str, response: httpx.Response, clock: Clock, scrub: Callable[[str], str]
) -> dict[str, object]:
    """The answer's JSON object, or the ApiError its status and body call for."""
    status = response.status_code
    if 200 <= status < 300:
        answer = json_or_none(response)
        if not isinstance(answer, dict):
            raise RejectedError(endpoint, status, "the answer is not a JSON object")
        if answer.get("success") is False:
            raise RejectedError(endpoint, status, message(answer, "success: false", scrub))
        return answer
    reason = message(json_or_none(response), response.reason_phrase, scrub)
    if status == 429 or status >= 500:
        headers = response.headers
        now_epoch_s = http_date_epoch_s(headers.get("date"))
        budget = parse_rate_limit(headers, clock.monotonic())
        wait_s = server_wait_s(
            headers.get("retry-after"),
            budget,
            clock.now() if now_epoch_s is None else now_epoch_s,
        )
        raise ApiUnavailable(endpoint, status, reason, retry_after_s=wait_s)
    if status == 401:
        raise AuthError(endpoint, status, reason)
    if status == 403:
        raise ForbiddenError(endpoint, status, reason)
    raise RejectedError(endpoint, status, reason)


def transport_error(endpoint: str, exc: httpx.HTTPError, scrub: Callable[[str], str]) -> ApiError:
    """The ApiError for an httpx error raised while sending: never sent, maybe applied, or (not
    a transport error: a bad URL or header) a refusal."""
    text = scrub(describe(exc))
    if not isinstance(exc, httpx.TransportError):
        return RejectedError(endpoint, None, text)
    if isinstance(exc, NEVER_SENT):
        return ApiUnavailable(endpoint, None, text)
    return OutcomeUnknown(endpoint, None, text)


def describe(exc: httpx.HTTPError) -> str:
    detail = str(exc)
    return f"{type(exc).__name__}: {detail}" if detail else type(exc).__name__


def copy_error(exc: AuthError | ApiUnavailable) -> AuthError | ApiUnavailable:
    """A fresh copy, to raise the same verdict in another task."""
    if isinstance(exc, ApiUnavailable):
        return type(exc)(exc.endpoint, exc.status, exc.message, exc.retry_after_s)
    return AuthError(exc.endpoint, exc.status, exc.message)

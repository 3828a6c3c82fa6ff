"""Tests for driver_agent.fleetapi.answers: HTTP answers and httpx errors as our ApiErrors."""

from __future__ import annotations

import httpx
import pytest

from driver_agent.core.clock import VirtualClock
from driver_agent.core.errors import (
    ApiError,
    ApiUnavailable,
    AuthError,
    ForbiddenError,
    OutcomeUnknown,
    RejectedError,
)
from driver_agent.fleetapi.answers import json_or_none, translate, transport_error
from driver_agent.fleetapi.http11 import OutcomeUnknownError

REQUEST = httpx.Request("POST", "https://api.example/open_fleet_services/checkin")


def _answer(status: int, content: bytes, **headers: str) -> httpx.Response:
    return httpx.Response(status, content=content, headers=headers, request=REQUEST)


def _masked(text: str) -> str:
    return text.replace("s3cr3t", "***")


def test_a_json_object_is_the_answer() -> None:
    answer = translate(
        "checkin", _answer(200, b'{"success":true,"task":{"id":1}}'), VirtualClock(), _masked
    )
    assert answer == {"success": True, "task": {"id": 1}}


@pytest.mark.parametrize(
    ("status", "content", "error", "message"),
    [
        (200, b"[1]", RejectedError, "the answer is not a JSON object"),
        (200, b"<html>", RejectedError, "the answer is not a JSON object"),
        (200, b'{"success":false,"message":"Task not found s3cr3t"}', RejectedError,
         "Task not found ***"),
        (400, b'{"title":"Bad value"}', RejectedError, "Bad value"),
        (401, b"", AuthError, "Unauthorized"),
        (403, b'{"message":"not yours"}', ForbiddenError, "not yours"),
        (503, b"", ApiUnavailable, "Service Unavailable"),
        (429, b'{"message":"slow down"}', ApiUnavailable, "slow down"),
        (302, b"", RejectedError, "Found"),
    ],
)  # fmt: skip
def test_each_status_is_its_error_with_the_servers_reason_scrubbed(
    status: int, content: bytes, error: type[ApiError], message: str
) -> None:
    with pytest.raises(error) as caught:
        translate("checkin", _answer(status, content), VirtualClock(), _masked)
    assert type(caught.value) is error
    assert (caught.value.endpoint, caught.value.status, caught.value.message) == (
        "checkin",
        status,
        message,
    )


def test_a_429_carries_the_servers_wait() -> None:
    with pytest.raises(ApiUnavailable) as caught:
        translate("checkin", _answer(429, b"", **{"Retry-After": "7"}), VirtualClock(), _masked)
    assert caught.value.retry_after_s == 7


@pytest.mark.parametrize(
    ("exc", "error"),
    [
        (httpx.ConnectError("refused"), ApiUnavailable),
        (httpx.ConnectTimeout("slow"), ApiUnavailable),
        (httpx.PoolTimeout("full"), ApiUnavailable),
        (httpx.UnsupportedProtocol("ftp"), ApiUnavailable),
        (httpx.ReadTimeout("late"), OutcomeUnknown),
        (httpx.WriteError("broken pipe"), OutcomeUnknown),
        (OutcomeUnknownError("closed mid-answer"), OutcomeUnknown),
        (httpx.InvalidURL("bad"), RejectedError),
    ],
)
def test_httpx_errors_are_never_sent_or_maybe_applied(
    exc: httpx.HTTPError, error: type[ApiError]
) -> None:
    translated = transport_error("checkin", exc, _masked)
    assert type(translated) is error
    assert translated.message.startswith(type(exc).__name__)


def test_a_body_that_is_not_json_reads_as_none() -> None:
    assert json_or_none(_answer(200, b"\xff")) is None
    assert json_or_none(_answer(200, b'{"a": [1]}')) == {"a": [1]}

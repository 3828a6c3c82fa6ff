"""Tests for driver_agent.fleetapi.webhook_schema: wire shapes read leniently, checks named."""

from __future__ import annotations

import math

import pytest

from driver_agent.fleetapi.webhook_schema import (
    PayloadError,
    RawCancelled,
    RawOrder,
    RawStop,
    coordinate,
    position,
    read,
    required,
    text,
    time_ms,
)


def test_ids_and_strings_come_in_either_form() -> None:
    raw = read({"id": "12", "task_id": 7.0, "delivery_id": 99, "reason": None}, RawCancelled)
    assert (raw.id, raw.task_id, text(raw.delivery_id), raw.reason) == (12, 7, "99", None)
    stop = read({"lat": "60.5", "lng": 24, "extra": [1]}, RawStop)
    assert (stop.lat, stop.lng) == (60.5, 24.0)


@pytest.mark.parametrize(
    ("doc", "field", "words"),
    [
        pytest.param({"id": True}, "task.id", "True (a boolean)", id="boolean id"),
        pytest.param({"id": 1.5}, "task.id", "1.5 (a number)", id="fractional id"),
        pytest.param({"id": 2**63}, "task.id", "integer", id="over 64 bits"),
        pytest.param({"way_points": [{"lat": "north"}]}, "task.way_points[0].lat", "'north'"),
        pytest.param({"way_points": [7]}, "task.way_points[0]", "object", id="not an object"),
        pytest.param({"title": []}, "task.title", "a list", id="title a list"),
    ],
)
def test_a_wrong_type_names_the_dotted_field_and_the_value(
    doc: dict[str, object], field: str, words: str
) -> None:
    with pytest.raises(PayloadError) as caught:
        read(doc, RawOrder, "task")
    assert caught.value.field == field
    assert words in caught.value.message


def test_the_checks_a_schema_cannot_say() -> None:
    assert required(5, "id") == 5
    for absent in (None, ""):
        with pytest.raises(PayloadError, match=r"^delivery_id: missing"):
            required(absent, "delivery_id")
    assert position(2, "p") == 2
    with pytest.raises(PayloadError, match=r"^p: expected 1 or 2, got 3"):
        position(3, "p")
    assert coordinate(-90.0, "lat", 90.0) == -90.0
    for bad in (90.5, math.nan):
        with pytest.raises(PayloadError, match=r"^lat: .* is outside"):
            coordinate(bad, "lat", 90.0)


def test_times_are_iso_8601_and_a_missing_zone_means_utc() -> None:
    assert time_ms("1970-01-01T00:00:01.500Z", "t") == 1500
    assert time_ms("1970-01-01T00:00:01", "t") == 1000
    assert time_ms("1970-01-01T02:00:00+02:00", "t") == 0
    assert time_ms("", "t") is None
    assert time_ms(None, "t") is None
    with pytest.raises(PayloadError, match=r"^w.no_later_than: expected an ISO-8601 time"):
        time_ms("soon", "w.no_later_than")

"""The statistics snapshot's JSON form: out in field order, back in one strict pass that names
the dotted key and the value of a bad field."""

from __future__ import annotations

import json
import random
from typing import Any

import msgspec
import pytest

from driver_agent.core.errors import ConfigError
from driver_agent.metrics.stats import StatsCollector
from driver_agent.metrics.stats_snapshot import (
    EndpointSnapshot,
    GivenUpOrder,
    Resilience,
    StatsSnapshot,
)

T0_MS = 1_700_000_000_000


def _snapshot() -> StatsSnapshot:
    stats = StatsCollector(bucket_s=2.0)
    rng = random.Random(9)
    for i in range(500):
        error = rng.choice([None, None, None, "ApiUnavailable", "RejectedError"])
        stats.record_call(rng.choice(["checkin", "checkout"]), rng.uniform(1, 400), error, i / 10)
    stats.driver_busy("d1", True, at_ms=T0_MS)
    stats.record_ping("d1", T0_MS + 35_000, 3.5)
    stats.record_order("d1", "completed", {"end_to_end": 900.0}, 4200.0)
    stats.record_relocation("d2")
    for _ in range(3):
        stats.record_retry("checkin")
    stats.record_retry("checkin", reconciled=True)
    stats.record_queued("update_driver_location", location=True)
    stats.record_given_up(GivenUpOrder("d1", 7, "checkout", 503, "sandbox fault", "no_progress"))
    stats.record_given_up(GivenUpOrder("d2", 8, "checkin", None, "ReadTimeout", "no_progress"))
    return stats.statistics()


def _json(snapshot: StatsSnapshot) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(json.dumps(snapshot.to_dict()))
    return data


def test_a_snapshot_round_trips_through_json() -> None:
    snapshot = _snapshot()
    assert StatsSnapshot.from_dict(_json(snapshot)) == snapshot


def test_the_json_form_keeps_the_field_order_of_the_structs() -> None:
    data = _json(_snapshot())
    assert list(data) == [
        "bucket_s", "max_ping_gap_s", "totals", "endpoints", "timeline", "stages_s",
        "ping_lateness_ms", "drivers", "resilience", "bytes_sent", "bytes_received",
    ]  # fmt: skip
    assert list(data["endpoints"][0]) == [
        "endpoint", "count", "errors", "latency_ms", "errors_by_status", "top_messages",
    ]  # fmt: skip
    assert list(data["resilience"])[:2] == ["retries", "retries_by_endpoint"]
    assert data["resilience"]["given_up_orders"][1] == {
        "driver_id": "d2",
        "task_id": 8,
        "endpoint": "checkin",
        "status": None,
        "message": "ReadTimeout",
        "reason": "no_progress",
    }


@pytest.mark.parametrize(
    ("path", "where"),
    [
        (("totals", "pings"), "stats.totals.pings"),
        (("drivers", 0, "pings"), "stats.drivers[0].pings"),
        (("endpoints", 1, "latency_ms", "p95"), "stats.endpoints[1].latency_ms.p95"),
        (("stages_s", "end_to_end", "p95"), "stats.stages_s[...].p95"),
    ],
    ids=["totals", "driver", "endpoint-latency", "stage"],
)
def test_a_snapshot_with_a_missing_field_names_its_dotted_key(
    path: tuple[str | int, ...], where: str
) -> None:
    data = _json(_snapshot())
    parent: Any = data
    for key in path[:-1]:
        parent = parent[key]
    del parent[path[-1]]
    with pytest.raises(ConfigError) as caught:
        StatsSnapshot.from_dict(data)
    assert (caught.value.where, caught.value.message) == (where, "missing (required)")


@pytest.mark.parametrize(
    ("path", "value", "message"),
    [
        (("resilience", "given_up_orders", 0, "status"), "503", "expected an integer or null"),
        (("totals", "calls"), True, "expected an integer, got True (a boolean)"),
        (("bucket_s",), "2", "expected a number, got '2' (a string)"),
        (("drivers",), {}, "expected a list, got a table/object"),
    ],
    ids=["status", "bool-count", "string-number", "object-for-list"],
)
def test_a_mistyped_field_is_named_with_its_value(
    path: tuple[str | int, ...], value: object, message: str
) -> None:
    data = _json(_snapshot())
    parent: Any = data
    for key in path[:-1]:
        parent = parent[key]
    parent[path[-1]] = value
    with pytest.raises(ConfigError) as caught:
        StatsSnapshot.from_dict(data, "report.stats")
    where = "report.stats" + "".join(f"[{k}]" if isinstance(k, int) else f".{k}" for k in path)
    assert caught.value.where == where
    assert caught.value.message.startswith(message)


def test_a_snapshot_written_before_resilience_reads_as_nothing_to_show() -> None:
    data = _json(_snapshot())
    del data["resilience"]
    assert StatsSnapshot.from_dict(data).resilience == Resilience()


def test_the_snapshot_parts_are_frozen() -> None:
    snapshot = _snapshot()
    with pytest.raises(AttributeError):
        snapshot.bucket_s = 1.0  # type: ignore[misc]
    changed = msgspec.structs.replace(snapshot, bucket_s=4.0)
    assert (changed.bucket_s, snapshot.bucket_s) == (4.0, 2.0)


@pytest.mark.parametrize(
    ("count", "errors", "rate"),
    [(10, {"ApiUnavailable": 2, "AuthError": 1}, 0.3), (0, {}, None)],
)
def test_an_endpoint_counts_its_errors_over_every_class(
    count: int, errors: dict[str, int], rate: float | None
) -> None:
    empty = StatsCollector().statistics().ping_lateness_ms
    endpoint = EndpointSnapshot("checkin", count, errors, empty)
    assert endpoint.error_count == sum(errors.values())
    assert endpoint.error_rate == rate

"""The bridge's calls: final wire bodies built once, each carrying its device time."""

from __future__ import annotations

import pytest

from driver_agent.bridge import calls
from driver_agent.core.endpoints import Endpoint
from driver_agent.core.model import StopKind

T_MS = 1_714_564_800_000


def test_each_builder_gives_the_body_the_api_takes_with_the_device_time() -> None:
    assert calls.assign("drv-1", 7, T_MS) == calls.Call(
        "drv-1",
        Endpoint.ASSIGN_DRIVER,
        {"task_id": 7, "reported_time": T_MS,
         "user": {"external_id": "drv-1", "name": "Delivery Driver"}},
        T_MS,
    )  # fmt: skip
    assert calls.start("drv-1", 7, T_MS, None).body == {"task_id": 7, "reported_time": T_MS}
    assert calls.start("drv-1", 7, T_MS, (60.17, 24.94)).body == {
        "task_id": 7, "lat": 60.17, "lng": 24.94, "reported_time": T_MS,
    }  # fmt: skip
    checkout = calls.at_stop(
        Endpoint.CHECKOUT, "drv-1", 7, lat=60.17, lng=24.94, t_ms=T_MS, kind=StopKind.DROPOFF
    )
    assert (checkout.endpoint, checkout.reported_time_ms) == (Endpoint.CHECKOUT, T_MS)
    assert checkout.body["pickup_dropoff_option"] == "dropoff"
    ping = calls.location("drv-1", 60.17, 24.94, T_MS, [7])
    assert ping.body == {
        "user_external_id": "drv-1", "lat": 60.17, "lng": 24.94, "reported_time": T_MS,
        "started_tasks": [{"task_id": 7}],
    }  # fmt: skip
    assert "started_tasks" not in calls.location("drv-1", 60.17, 24.94, T_MS, []).body


def test_a_place_that_is_not_one_is_refused_when_the_call_is_built() -> None:
    with pytest.raises(ValueError, match="lat"):
        calls.location("drv-1", 91.0, 24.94, T_MS, [])

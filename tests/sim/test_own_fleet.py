"""The own-fleet profile's mapping of lifecycle commands to the developer API's services."""

from __future__ import annotations

import pytest

from driver_agent.core.model import StopKind
from driver_agent.fleetapi.devapi import DevApiClient
from driver_agent.sim import lifecycle_messages as m
from driver_agent.sim.context import DriverSpec
from driver_agent.sim.own_fleet import OwnFleetProfile

SPEC = DriverSpec("drv-00001", "Aino Virtanen", 60.17, 24.94, "+3585000")


def fix(_at: float) -> tuple[float, float]:
    return (60.171, 24.941)


@pytest.fixture
def profile() -> OwnFleetProfile:
    client = object.__new__(DevApiClient)  # calls are only built here, never made
    return OwnFleetProfile(client, user_ids={"drv-00001": 4242})


@pytest.mark.parametrize(
    ("command", "service"),
    [
        (m.AssignDriver(7), "update_order"),
        (m.StartOrder(7), "start_order"),
        (m.CheckIn(7, StopKind.PICKUP, 60.0, 24.0), "checkin"),
        (m.CheckOut(7, StopKind.DROPOFF), "checkout"),
        (m.CompleteOrder(7), "end_order"),
        (m.CancelOrder(7, 3, "customer not home"), "cancel_order"),
    ],
)
def test_each_command_goes_to_its_service(
    profile: OwnFleetProfile, command: m.Command, service: str
) -> None:
    request = profile.request_for(command, SPEC, at=100.0, reported=fix)  # type: ignore[arg-type]
    assert request is not None
    assert request.endpoint == service
    keywords = request.send.keywords  # type: ignore[attr-defined]
    if service == "update_order":
        assert request.send.args[0].user_id == 4242  # type: ignore[attr-defined]
    elif service != "cancel_order":
        assert keywords["user_id"] == 4242


def test_an_eta_change_has_no_call_and_no_location_is_sent(profile: OwnFleetProfile) -> None:
    eta = m.UpdateOrder(7, StopKind.DROPOFF, 1_760_000_000_000)
    assert profile.request_for(eta, SPEC, at=1.0, reported=fix) is None
    assert profile.sends_locations is False


def test_the_day_creates_the_user_only_when_not_mapped(profile: OwnFleetProfile) -> None:
    assert [r.endpoint for r in profile.start_day(SPEC, 0.0)] == [
        "start_shift",
        "driver_home_event",
    ]
    other = DriverSpec("drv-00002", "Eero Laine", 60.17, 24.94)
    assert [r.endpoint for r in profile.start_day(other, 0.0)] == [
        "create_user", "start_shift", "driver_home_event",
    ]  # fmt: skip
    assert profile.end_day(SPEC) == []  # its shift never opened


def test_a_shift_is_over_after_its_length(profile: OwnFleetProfile) -> None:
    profile.shift_length_s = 3600.0
    assert not profile.shift_over(SPEC, 10_000.0)  # not on shift yet
    profile.on_shift[SPEC.driver_id] = 1_000.0
    assert not profile.shift_over(SPEC, 4_599.0)
    assert profile.shift_over(SPEC, 4_600.0)
    assert [r.endpoint for r in profile.end_day(SPEC)] == ["end_shift", "driver_home_event"]

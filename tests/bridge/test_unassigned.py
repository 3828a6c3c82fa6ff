"""Telling "Bringg does not know this driver yet" apart from a real refusal."""

from __future__ import annotations

import pytest

from driver_agent.bridge.unassigned import Refusal, UnassignedDrivers
from driver_agent.core.endpoints import Endpoint

LOCATION = Endpoint.UPDATE_DRIVER_LOCATION


def test_a_location_refused_403_before_the_assignment_is_expected_and_said_once() -> None:
    drivers = UnassignedDrivers()
    assert drivers.refused(LOCATION, "drv-1", 403) is Refusal.FIRST_UNASSIGNED
    assert drivers.refused(LOCATION, "drv-1", 403) is Refusal.UNASSIGNED
    assert drivers.refused(LOCATION, "drv-2", 403) is Refusal.FIRST_UNASSIGNED
    drivers.acknowledged(Endpoint.START_TASK, "drv-1")  # not an assignment
    assert drivers.refused(LOCATION, "drv-1", 403) is Refusal.UNASSIGNED
    drivers.acknowledged(Endpoint.ASSIGN_DRIVER, "drv-1")
    assert drivers.refused(LOCATION, "drv-1", 403) is Refusal.ERROR  # Bringg knows it now


@pytest.mark.parametrize(
    ("endpoint", "status"),
    [(LOCATION, 400), (LOCATION, None), (Endpoint.CHECKIN, 403), (Endpoint.START_TASK, 403)],
)
def test_other_refusals_stay_errors(endpoint: Endpoint, status: int | None) -> None:
    assert UnassignedDrivers().refused(endpoint, "drv-1", status) is Refusal.ERROR


def test_a_driver_assigned_in_an_earlier_run_is_known() -> None:
    assert UnassignedDrivers({"drv-1"}).refused(LOCATION, "drv-1", 403) is Refusal.ERROR

"""Which refused location updates mean "Bringg does not know this driver yet" (pure).

Bringg learns a driver from its first Assign Driver (or from its dashboard); before that, its
location updates are refused with 403 "User not found". That is not an error: the vehicle simply
has no order yet. `UnassignedDrivers` tells such a refusal apart from a real one: a 403 on
`update_driver_location` for a driver that was neither assigned in an earlier run (the walker's
durable state) nor acknowledged by Assign Driver in this one. The daemon then counts it apart,
has the walker hold the driver's positions until its first order, and says so once per driver.
"""

from __future__ import annotations

from collections.abc import Iterable
from enum import Enum

from driver_agent.core.endpoints import Endpoint

HTTP_FORBIDDEN = 403


class Refusal(Enum):
    ERROR = "error"  # a real refusal: counted as an error and a drop, logged as a warning
    UNASSIGNED = "unassigned"  # the driver has no order yet, said already
    FIRST_UNASSIGNED = "first_unassigned"  # the same, the first time for this driver: say it


class UnassignedDrivers:
    """Drivers Bringg knows (`known`), and the verdict on each refused call."""

    def __init__(self, known: Iterable[str] = ()) -> None:
        self._known = set(known)
        self._said: set[str] = set()

    def acknowledged(self, endpoint: str, driver_id: str) -> None:
        """The API acknowledged a call: after an Assign Driver, Bringg knows the driver."""
        if endpoint == Endpoint.ASSIGN_DRIVER:
            self._known.add(driver_id)

    def refused(self, endpoint: str, driver_id: str, status: int | None) -> Refusal:
        if (
            endpoint != Endpoint.UPDATE_DRIVER_LOCATION
            or status != HTTP_FORBIDDEN
            or driver_id in self._known
        ):
            return Refusal.ERROR
        if driver_id in self._said:
            return Refusal.UNASSIGNED
        self._said.add(driver_id)
        return Refusal.FIRST_UNASSIGNED

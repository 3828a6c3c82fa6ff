"""The fleet API's endpoints: the one table of their names, paths and kinds (pure values).

Config checks `api.paths` against it, the client builds its URLs from it, the resend policy and
the offline backlog read an endpoint's kind from it, and the bridge names its calls with it. The
sandbox keeps its own list on purpose: it is the independent emulator we test against.

- `lifecycle`: the call moves an order (assign, start, check-in/out, end, cancel). The others
  are the location ping and the extras (a note, an ETA update).
- `resend`: `FREE` when sending it twice is harmless (the same fix, the same ETA);
  `RECONCILED` when a resend after an unknown outcome must treat "already in that state" as
  success (see `fleetapi.resend`).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from types import MappingProxyType
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Mapping

PATH_PREFIX = "/open_fleet_services/"


class Endpoint(StrEnum):
    """A fleet API call; values are the API's endpoint names."""

    ASSIGN_DRIVER = "assign_driver"
    START_TASK = "start_task"
    UPDATE_DRIVER_LOCATION = "update_driver_location"
    CHECKIN = "checkin"
    CREATE_NOTE = "create_note"
    CHECKOUT = "checkout"
    END_TASK = "end_task"
    CANCEL_DELIVERY = "cancel_delivery"
    UPDATE_TASK = "update_task"
    CLUSTER_CHECK_IN = "cluster_check_in"
    CLUSTER_CHECK_OUT = "cluster_check_out"


class Resend(StrEnum):
    FREE = "free"
    RECONCILED = "reconciled"


@dataclass(frozen=True, slots=True)
class EndpointSpec:
    """One row of the table."""

    name: Endpoint
    lifecycle: bool
    resend: Resend

    @property
    def path(self) -> str:
        """The default path (`api.paths.<name>` may override it)."""
        return PATH_PREFIX + self.name


_TABLE = (
    EndpointSpec(Endpoint.ASSIGN_DRIVER, lifecycle=True, resend=Resend.RECONCILED),
    EndpointSpec(Endpoint.START_TASK, lifecycle=True, resend=Resend.RECONCILED),
    EndpointSpec(Endpoint.UPDATE_DRIVER_LOCATION, lifecycle=False, resend=Resend.FREE),
    EndpointSpec(Endpoint.CHECKIN, lifecycle=True, resend=Resend.RECONCILED),
    EndpointSpec(Endpoint.CREATE_NOTE, lifecycle=False, resend=Resend.RECONCILED),
    EndpointSpec(Endpoint.CHECKOUT, lifecycle=True, resend=Resend.RECONCILED),
    EndpointSpec(Endpoint.END_TASK, lifecycle=True, resend=Resend.RECONCILED),
    EndpointSpec(Endpoint.CANCEL_DELIVERY, lifecycle=True, resend=Resend.RECONCILED),
    EndpointSpec(Endpoint.UPDATE_TASK, lifecycle=False, resend=Resend.FREE),
    EndpointSpec(Endpoint.CLUSTER_CHECK_IN, lifecycle=True, resend=Resend.RECONCILED),
    EndpointSpec(Endpoint.CLUSTER_CHECK_OUT, lifecycle=True, resend=Resend.RECONCILED),
)
_BY_NAME: dict[str, EndpointSpec] = {str(spec.name): spec for spec in _TABLE}
ENDPOINTS: Mapping[str, EndpointSpec] = MappingProxyType(_BY_NAME)  # in the API's order


def default_path(endpoint: str) -> str:
    """The path of `endpoint` when `api.paths` does not override it."""
    spec = ENDPOINTS.get(endpoint)
    return spec.path if spec is not None else PATH_PREFIX + endpoint

"""The one endpoint table: its rows, and that the independent sandbox serves the same calls."""

from __future__ import annotations

from driver_agent.core.endpoints import ENDPOINTS, Endpoint, Resend, default_path
from driver_agent.sandbox.fleet import FLEET_HANDLERS


def test_every_endpoint_has_one_row_under_its_own_name() -> None:
    assert list(ENDPOINTS) == [e.value for e in Endpoint]
    assert all(spec.name == name for name, spec in ENDPOINTS.items())


def test_the_sandbox_oracle_serves_exactly_the_endpoints_of_the_table() -> None:
    # the sandbox keeps its own list on purpose; this is where the two must agree
    assert set(FLEET_HANDLERS) == set(ENDPOINTS)


def test_only_the_location_ping_and_the_extras_do_not_move_an_order() -> None:
    not_lifecycle = {name for name, spec in ENDPOINTS.items() if not spec.lifecycle}
    assert not_lifecycle == {"update_driver_location", "create_note", "update_task"}


def test_every_lifecycle_call_is_reconciled_when_resent() -> None:
    assert all(spec.resend is Resend.RECONCILED for spec in ENDPOINTS.values() if spec.lifecycle)


def test_default_paths() -> None:
    assert ENDPOINTS["checkin"].path == "/open_fleet_services/checkin"
    assert default_path("end_task") == "/open_fleet_services/end_task"
    assert default_path("not_in_the_table") == "/open_fleet_services/not_in_the_table"

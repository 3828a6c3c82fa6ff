"""A pure sandbox (the rules without HTTP) for the tests of its modules: `PureSandbox()`."""

from __future__ import annotations

from typing import Any

from driver_agent.sandbox.rules import SandboxState
from driver_agent.sandbox.settings import SandboxSettings
from driver_agent.sandbox.world import Reply

NOW = 1_800_000_000.0
CREATE: dict[str, Any] = {
    "title": "Order",
    "customer": {"name": "Jane", "address": "Aleksanterinkatu 1"},
    "way_points": [
        {"address": "Kamppi", "lat": 60.169, "lng": 24.932},
        {"address": "Kallio", "lat": 60.184, "lng": 24.950},
    ],
}


class PureSandbox:
    """The sandbox's rules at a fixed time `NOW`: create orders, make fleet calls."""

    def __init__(self) -> None:
        self.state = SandboxState(SandboxSettings(), token_part=lambda: "opaque")

    def create(self, **fields: Any) -> int:
        reply = self.state.create_task({**CREATE, **fields}, NOW)
        assert reply.status == 200, reply.body
        task: dict[str, Any] = reply.body["task"]  # type: ignore[assignment]
        return int(task["id"])

    def call(self, name: str, **body: Any) -> Reply:
        return self.state.fleet(name, body, NOW)

    def assigned(self, **fields: Any) -> int:
        """A new order assigned to driver d1."""
        task_id = self.create(**fields)
        user = {"external_id": "d1", "name": "Driver One"}
        assert self.call("assign_driver", task_id=task_id, user=user).body["success"] is True
        return task_id

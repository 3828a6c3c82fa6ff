"""The embedded Bringg sandbox: a local HTTP server playing Bringg for one fleet and one merchant.

Pure rules (rules.py with fleet.py, fleet_checks.py, notes.py, clusters.py, merchant_orders.py,
manhattan.py, records.py, world.py, faults.py, geocode.py, settings.py; the developer API of
seed 001 in devapi*.py) under a thin ASGI shell
(app.py, with bodies.py, admin.py and clock.py) and a webhook sender; the
`driver-agent sandbox` command is `driver_agent.commands.sandbox`. The HTTP side is imported on
first use, so importing a pure module of this package does not pull in anyio, httpx or uvicorn.
The sandbox is our test oracle, so it imports only `driver_agent.core` (import-linter checks it).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from driver_agent.sandbox.settings import SandboxSettings

if TYPE_CHECKING:
    from driver_agent.sandbox.app import (
        SandboxApp,
        create_app,
        serve_sandbox,
        serve_sandbox_in_thread,
    )
    from driver_agent.sandbox.clock import SandboxClock

__all__ = [
    "SandboxApp",
    "SandboxClock",
    "SandboxSettings",
    "create_app",
    "serve_sandbox",
    "serve_sandbox_in_thread",
]


def __getattr__(name: str) -> Any:
    if name == "SandboxClock":
        return importlib.import_module("driver_agent.sandbox.clock").SandboxClock
    if name in __all__:
        return getattr(importlib.import_module("driver_agent.sandbox.app"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

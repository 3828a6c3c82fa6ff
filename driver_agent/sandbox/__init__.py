"""The embedded Bringg sandbox: a local HTTP server playing Bringg for one fleet and one merchant.

Pure rules (rules.py with fleet.py, merchant.py, manhattan.py, records.py, world.py, faults.py,
geocode.py, settings.py) under a thin ASGI shell (app.py) and a webhook sender; `main.py` is the
`driver-agent sandbox` command.
"""

from __future__ import annotations

from driver_agent.sandbox.app import (
    SandboxApp,
    SandboxClock,
    create_app,
    serve_sandbox,
    serve_sandbox_in_thread,
)
from driver_agent.sandbox.settings import SandboxSettings

__all__ = [
    "SandboxApp",
    "SandboxClock",
    "SandboxSettings",
    "create_app",
    "serve_sandbox",
    "serve_sandbox_in_thread",
]

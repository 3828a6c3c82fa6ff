"""Subcommands that compose the edges: demo, run, sandbox, bridge.

`fleetrun` composes one run for `run` and `demo` (and the benchmark): sandbox, webhook receiver,
client, fleet, live views and the report. It sits here, above `sim` and `report`, because it
wires both.
"""

from __future__ import annotations

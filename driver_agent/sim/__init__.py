"""The simulated drivers: one order's lifecycle, one driver, and the fleet that runs them.

Pure: `lifecycle` (THE state machine: handle(event) -> commands) with `lifecycle_messages`,
`offline`, `dispatch`, `orders`, `pacing`, and the movement on the road (`motion`, `gpsnoise`,
`stopplan`, `navigator`). Edges: `driver` (lifecycle + client + route + clock) and `fleet` (many
drivers: ramp-up, error boundary, dispatch). `pod_assets/` holds the proof-of-delivery images.
"""

from __future__ import annotations

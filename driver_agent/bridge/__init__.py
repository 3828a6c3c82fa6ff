"""The telematics bridge: device positions in, fleet API calls out.

Building blocks, bottom to top: `positions` (the Position value and the input parsers) and
`metrics` (Prometheus text exposition) and `geofence` (check-in / check-out decisions) are pure;
`outbox` (the durable SQLite queue) and `sources` (the HTTP input app and the NDJSON reader) do
I/O. The daemon that wires them to the client and the lifecycle sits on top of these.
"""

from __future__ import annotations

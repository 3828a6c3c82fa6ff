"""The telematics bridge: device positions in, fleet API calls out.

Building blocks, bottom to top:

- values: `state` (the walk's durable state as msgspec structs);
- pure: `positions` (the Position value and the input parsers), `geofence` (check-in / check-out
  decisions), `calls` (each call's final wire body, built once), `walker` (devices, orders and
  positions to calls), `watch` (the watchdog's bookkeeping), `metrics` (Prometheus text);
- I/O: `outbox` (the durable SQLite queue), `sender` (posts what the outbox holds), `sources`
  (the HTTP input app and the NDJSON reader), `replay` (GPX), `devicemap` (the device map file),
  and `daemon`, which wires them to the client and the webhook receiver.
"""

from __future__ import annotations

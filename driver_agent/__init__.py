"""driver-agent: the driver's side of Bringg's fleet API.

Layers, bottom to top: values (errors, model, wire), pure logic (config, geo, tracks, lifecycle,
stats, report, sandbox rules, geofence), edges that do I/O (clock, client, driver, scheduler, logs,
serving, webhooks, sandbox app, bridge daemon), and the CLI on top; a module imports only from its
own layer or below.
"""

from __future__ import annotations

__version__ = "0.1.0"

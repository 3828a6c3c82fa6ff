"""driver-agent: the driver's side of Bringg's fleet API.

Packages by feature, bottom to top: `core` (errors, values, config, time, logs), then `fleetapi`,
`geo`, `metrics` and `sandbox` side by side, then `sim` and `bridge`, then `report`, and the CLI
(`cli`, `commands`) on top; a package imports only from below (import-linter checks it: `make
test`). Inside each package, pure modules never import an I/O library (`tests/test_layers.py`).
"""

from __future__ import annotations

__version__ = "0.1.0"

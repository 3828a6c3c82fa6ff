"""The bottom of the house: errors, frozen values, config, bounded JSON, redaction, time, logs.

Imports nothing of ours outside `core`. Pure: `errors`, `model`, `config`, `jsonbody`,
`redaction`. Edges that every package shares: `clock` (real and virtual time), `logs` (structlog
setup and the terminal's status line), `serving` (serve an ASGI app on a port).
"""

from __future__ import annotations

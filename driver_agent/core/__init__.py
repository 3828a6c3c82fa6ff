"""The bottom of the house: errors, frozen values, the endpoint table, config and its checks,
bounded JSON, redaction, time, logs.

Imports nothing of ours outside `core`. Pure: `errors`, `model`, `endpoints` (the one table of
the fleet API's calls), `config`, `validation` (the URL policy and the settings' checks),
`jsonbody`, `redaction`. Edges that every package shares: `clock` (real and virtual time),
`logs` (structlog setup and the terminal's status line), `serving` (serve an ASGI app on a port).
"""

from __future__ import annotations

"""Subcommands that compose the edges: demo, run, bridge."""

from __future__ import annotations

"""The configuration's decode errors, worded for a person (pure): a secret's value is never
shown, an entry of a `dict[str, str]` table is named by its key, a bad `own_fleet.services` entry
by its service name only (its URL is the credential)."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any

from driver_agent.core.errors import ConfigError
from driver_agent.core.typed import describe


def config_error(
    table: Mapping[str, Any], where: str, message: str, secret_keys: Collection[str]
) -> ConfigError:
    """`convert`'s error, with a secret's value never shown and an entry of a `dict[str, str]`
    table (`api.paths`, `bridge.device_map`, `bridge.gpx`) named by its key."""
    if where in secret_keys:
        return ConfigError(where, "expected a string (the value is not shown: a secret)")
    if where.startswith("own_fleet.services"):
        return _service_error(table, where)
    if where.endswith("[...]"):
        section, _, key = where.removesuffix("[...]").partition(".")
        inner = table.get(section, {})
        entries = inner.get(key) if isinstance(inner, dict) else None
        if isinstance(entries, dict):
            for name, value in entries.items():
                if not isinstance(value, str):
                    shown = describe("Expected `str`, got `value`", value)[1]
                    return ConfigError(f"{section}.{key}.{name}", shown)
    return ConfigError(where, message)


def _service_error(table: Mapping[str, Any], where: str) -> ConfigError:
    """A bad `own_fleet.services` entry, named by its service and never shown (a credential)."""
    inner = table.get("own_fleet", {})
    services = inner.get("services") if isinstance(inner, dict) else None
    if isinstance(services, dict):
        for name, value in services.items():
            if not isinstance(value, str):
                return ConfigError(
                    f"own_fleet.services.{name}", "expected a URL string (not shown: a secret)"
                )
    return ConfigError("own_fleet.services", "expected a table of service name = URL")

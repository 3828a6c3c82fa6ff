"""Which driver each device drives: `bridge.device_map_file` overlaid by `bridge.device_map`.

The file is a JSON object, device id -> driver external id; every GPX replay's device must be in
the map. Errors name the file or the dotted key, and the device.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import msgspec

from driver_agent.core.errors import ConfigError
from driver_agent.core.typed import convert

if TYPE_CHECKING:
    from driver_agent.core.config import BridgeConfig

DriverId = Annotated[str, msgspec.Meta(min_length=1)]


def load_device_map(config: BridgeConfig) -> dict[str, str]:
    """`device_map_file` (a JSON object device -> driver) overlaid by `device_map`."""
    mapping: dict[str, str] = {}
    if config.device_map_file:
        mapping.update(read_device_map_file(config.device_map_file))
    mapping.update(config.device_map)
    if not mapping:
        raise ConfigError(
            "bridge.device_map", "empty: map each device to a driver (--device-map van-1=drv-1)"
        )
    for device in config.gpx:
        if device not in mapping:
            raise ConfigError(f"bridge.gpx.{device}", "this device is not in bridge.device_map")
    return mapping


def read_device_map_file(path: str) -> dict[str, str]:
    try:
        raw = json.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(path, f"cannot read the device map: {exc.strerror}") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(path, f"the device map is not valid JSON: {exc}") from None

    def not_an_object(where: str, message: str) -> ConfigError:
        return ConfigError(
            where, f"the device map must be a JSON object, device -> driver: {message}"
        )

    entries = convert(raw, dict[str, object], where=path, error=not_an_object)
    # one entry at a time, so that an error names its device (msgspec names no dict key)
    return {
        device: convert(driver, DriverId, where=f"{path}: {device}")
        for device, driver in entries.items()
    }

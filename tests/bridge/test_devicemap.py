"""The device map: a JSON file overlaid by the config's table; errors name the file and device."""

from __future__ import annotations

from pathlib import Path

import msgspec
import pytest

from driver_agent.bridge.devicemap import load_device_map
from driver_agent.core.config import BridgeConfig
from driver_agent.core.errors import ConfigError


def test_the_device_map_comes_from_a_file_and_the_flags_and_must_cover_gpx_devices(
    tmp_path: Path,
) -> None:
    path = tmp_path / "devices.json"
    path.write_text('{"van-1": "drv-1", "van-2": "drv-2"}')
    config = BridgeConfig(device_map_file=str(path), device_map={"van-2": "drv-9"})
    assert load_device_map(config) == {"van-1": "drv-1", "van-2": "drv-9"}
    with pytest.raises(ConfigError, match=r"bridge\.gpx\.van-3"):
        load_device_map(msgspec.structs.replace(config, gpx={"van-3": "x.gpx"}))
    path.write_text("[1, 2]")
    with pytest.raises(ConfigError, match="JSON object"):
        load_device_map(config)
    with pytest.raises(ConfigError, match=r"bridge\.device_map"):
        load_device_map(BridgeConfig())


@pytest.mark.parametrize(
    ("text", "named"),
    [
        pytest.param('{"van-1": ""}', "van-1", id="empty-driver"),
        pytest.param('{"van-1": "drv-1", "van-2": 7}', "van-2", id="number"),
        pytest.param('{"van-1": ', "not valid JSON", id="broken"),
    ],
)
def test_a_bad_entry_names_the_file_and_the_device(tmp_path: Path, text: str, named: str) -> None:
    path = tmp_path / "devices.json"
    path.write_text(text)
    with pytest.raises(ConfigError) as info:
        load_device_map(BridgeConfig(device_map_file=str(path)))
    assert str(path) in str(info.value)
    assert named in str(info.value)

"""The config loader: the example file, precedence, secrets and errors naming the key."""

from __future__ import annotations

from pathlib import Path

import pytest

from driver_agent.core.config import Config, load_config, masked
from driver_agent.core.errors import ConfigError

ROOT = Path(__file__).resolve().parents[2]


def test_example_config_loads_and_equals_the_defaults() -> None:
    assert load_config(ROOT / "config.example.toml") == Config()


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "c.toml"
    path.write_text(text)
    return path


def test_flags_override_the_file_and_the_environment_supplies_secrets(tmp_path: Path) -> None:
    path = write(
        tmp_path, '[run]\ndrivers = 5\n[api]\napi_url = "https://x.example"\nclient_id = "fleet"\n'
    )
    config = load_config(
        path,
        env={"DRIVER_AGENT_CLIENT_SECRET": "s3cr3t"},
        overrides={"run.drivers": 7, "run.speed": None},
    )
    assert config.run.drivers == 7
    assert config.run.speed == 60.0
    assert config.api.client_secret.reveal() == "s3cr3t"
    assert "s3cr3t" not in repr(config)
    assert "s3cr3t" not in str(masked(config))


@pytest.mark.parametrize(
    ("text", "where", "fragment"),
    [
        ("[run]\ndrivers = -1\n", "run.drivers", "-1"),
        ('[run]\ndrivers = "many"\n', "run.drivers", "'many'"),
        ("[run]\nspeed = 0\n", "run.speed", "0"),
        ("[run]\ndriverz = 3\n", "run.driverz", "unknown key"),
        ("[runn]\n", "runn", "unknown key"),
        ("[driver]\nping_interval_s = 45\n", "driver.ping_interval_s", "45"),
        ('[run]\non_stop = "abort"\n', "run.on_stop", "'abort'"),
        (
            '[api]\napi_url = "http://bringg.example"\nclient_id = "x"\nclient_secret = "y"\n',
            "api.api_url",
            "plain http",
        ),
        ('[api]\napi_url = "https://bringg.example"\n', "api.client_id", "required"),
        ('[api.paths]\nstart = "/x"\n', "api.paths.start", "unknown endpoint"),
        ("[bridge]\nradius_in_m = 90.0\n", "bridge.radius_out_m", "hysteresis"),
        ('[thresholds]\nchecks = "p95_ms < 1"\n', "thresholds.checks", "list of strings"),
        (
            '[bridge]\nlisten_host = "0.0.0.0"\n',
            "bridge.input_key",
            "DRIVER_AGENT_BRIDGE_INPUT_KEY",
        ),
        ('[run]\nrun_id = "a b"\n', "run.run_id", "'a b'"),
        ("[run]\nrun_id = 7\n", "run.run_id", "7"),
    ],
)
def test_bad_values_name_the_dotted_key_and_the_value(
    tmp_path: Path, text: str, where: str, fragment: str
) -> None:
    with pytest.raises(ConfigError) as info:
        load_config(write(tmp_path, text))
    assert info.value.where == where
    assert fragment in str(info.value)


def test_broken_toml_names_the_file_and_line(tmp_path: Path) -> None:
    path = write(tmp_path, "[run]\ndrivers = 3\nspeed = = 2\n")
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert info.value.where == f"{path}:3"


def test_missing_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read"):
        load_config(tmp_path / "nope.toml")


def test_an_exposed_bridge_input_loads_with_a_key_and_a_loopback_one_without() -> None:
    exposed = load_config(
        env={"DRIVER_AGENT_BRIDGE_INPUT_KEY": "k-1"}, overrides={"bridge.listen_host": "0.0.0.0"}
    )
    assert exposed.bridge.input_key.reveal() == "k-1"
    assert "k-1" not in str(masked(exposed))
    for host in ("127.0.0.1", "::1", "localhost"):
        assert not load_config(overrides={"bridge.listen_host": host}).bridge.input_key


def test_loopback_http_is_allowed_without_the_insecure_switch() -> None:
    config = load_config(
        overrides={
            "api.api_url": "http://127.0.0.1:8700",
            "api.client_id": "f",
            "api.client_secret": "s",
        }
    )
    assert config.api.resolved_token_url() == "http://127.0.0.1:8700/oauth/token"


def test_the_example_config_documents_every_key_with_a_comment() -> None:
    import dataclasses
    import tomllib

    text = (ROOT / "config.example.toml").read_text()
    table = tomllib.loads(text)
    lines = [line.strip() for line in text.splitlines()]

    def is_setting(line: str) -> bool:
        return "=" in line and not line.startswith("#")

    for section in dataclasses.fields(Config):
        for f in dataclasses.fields(getattr(Config(), section.name)):
            assert f.name in table.get(section.name, {}), f"{section.name}.{f.name} missing"
            header = f"[{section.name}.{f.name}]"
            index = next(
                i
                for i, line in enumerate(lines)
                if line == header or (is_setting(line) and line.split("=")[0].strip() == f.name)
            )
            if lines[index] == header:  # a table: its comment follows the header
                assert lines[index + 1].startswith("#"), f"{header} has no comment"
                continue
            above = index - 1
            while above > 0 and is_setting(lines[above]):  # a group of keys shares a comment
                above -= 1
            assert lines[above].startswith("#"), f"{section.name}.{f.name} has no comment"

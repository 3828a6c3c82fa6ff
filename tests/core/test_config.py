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
        ('[thresholds]\nchecks = "p95_ms < 1"\n', "thresholds.checks", "list, got 'p95_ms < 1'"),
        ('[thresholds]\nchecks = ["a", 2]\n', "thresholds.checks[1]", "string, got 2"),
        ('[api]\ntimeout_s = "ten"\n', "api.timeout_s", "expected a number, got 'ten' (a string)"),
        ("[api]\nmax_in_flight = 1.5\n", "api.max_in_flight", "integer, got 1.5"),
        ('[api]\nallow_insecure_http = "yes"\n', "api.allow_insecure_http", "'yes'"),
        ("[bridge.gpx]\nvan-1 = 3\n", "bridge.gpx.van-1", "string, got 3"),
        ("api = 3\n", "api", "table/object, got 3"),
        ("[run]\ndrivers = true\n", "run.drivers", "True"),
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


@pytest.mark.parametrize("section", ["api", "bridge"])
def test_a_secret_of_the_wrong_type_is_named_but_never_shown(tmp_path: Path, section: str) -> None:
    key = {"api": "client_secret", "bridge": "input_key"}[section]
    with pytest.raises(ConfigError) as info:
        load_config(write(tmp_path, f"[{section}]\n{key} = 918273645\n"))
    assert info.value.where == f"{section}.{key}"
    assert "918273645" not in str(info.value)


def test_flag_values_are_not_coerced_a_string_port_is_an_error() -> None:
    with pytest.raises(ConfigError) as info:
        load_config(env={"DRIVER_AGENT_WEBHOOK_API_KEY": "k"}, overrides={"webhooks.port": "80"})
    assert str(info.value) == "webhooks.port: expected an integer, got '80' (a string)"


def test_the_masked_config_is_plain_data_with_every_section() -> None:
    shown = masked(load_config(env={"DRIVER_AGENT_MERCHANT_CLIENT_SECRET": "m-1"}))
    assert shown["merchant"]["client_secret"] == "[secure]"
    assert shown["api"]["client_secret"] == ""
    assert shown["run"]["drivers"] == 20
    assert list(shown) == [
        "api",
        "merchant",
        "webhooks",
        "driver",
        "run",
        "thresholds",
        "bridge",
        "log",
        "own_fleet",
        "distributed",
    ]


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
    import tomllib

    import msgspec

    text = (ROOT / "config.example.toml").read_text()
    table = tomllib.loads(text)
    lines = [line.strip() for line in text.splitlines()]

    def is_setting(line: str) -> bool:
        return "=" in line and not line.startswith("#")

    for section in msgspec.structs.fields(Config):
        for f in msgspec.structs.fields(section.type):
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

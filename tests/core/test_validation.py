"""The URL policy and the [api] checks: one set of rules and words for config, client and pool."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import msgspec
import pytest

from driver_agent.core.clock import VirtualClock
from driver_agent.core.config import ApiConfig, load_config
from driver_agent.core.errors import ConfigError
from driver_agent.core.model import Secret
from driver_agent.core.validation import check_api, check_url, is_loopback_host
from driver_agent.fleetapi.client import FleetClient
from driver_agent.fleetapi.transport import open_http_pool


@pytest.mark.parametrize(
    ("host", "expected"),
    [
        ("127.0.0.1", True),
        ("127.255.0.9", True),
        ("::1", True),
        ("[::1]", True),
        ("localhost", True),
        ("LOCALHOST", True),
        ("api.localhost", True),
        ("10.0.0.1", False),
        ("128.0.0.1", False),
        ("localhost.example.com", False),
        ("us2-admin-api.bringg.com", False),
    ],
)
def test_loopback_hosts_are_recognised(host: str, expected: bool) -> None:
    assert is_loopback_host(host) is expected


@pytest.mark.parametrize(
    ("url", "allow_insecure_http", "message"),
    [
        pytest.param("http://10.1.2.3/api", False, "plain http", id="private address"),
        pytest.param("http://api.example.com", False, "allow_insecure_http", id="names the flag"),
        pytest.param("ws://127.0.0.1", False, "not an http", id="other scheme"),
        pytest.param("https://", False, "not an http", id="no host"),
        pytest.param("https://u:p@h.example.com", True, "credentials", id="userinfo"),
        pytest.param("", False, "required", id="empty"),
    ],
)
def test_url_policy_refuses_with_a_config_error(
    url: str, allow_insecure_http: bool, message: str
) -> None:
    with pytest.raises(ConfigError, match=message) as caught:
        check_url(url, "api.api_url", allow_insecure_http=allow_insecure_http)
    assert caught.value.where == "api.api_url"
    assert "u:p" not in str(caught.value)


@pytest.mark.parametrize(
    ("url", "allow_insecure_http"),
    [
        ("https://us2-admin-api.bringg.com", False),
        ("http://127.0.0.1:8080", False),
        ("http://[::1]:8080/x", False),
        ("http://fleet.lan", True),
    ],
)
def test_url_policy_allows_https_loopback_and_opt_in(url: str, allow_insecure_http: bool) -> None:
    assert check_url(url, "api.api_url", allow_insecure_http=allow_insecure_http) == url


def test_query_strings_are_refused() -> None:
    with pytest.raises(ConfigError, match="query") as caught:
        check_url("https://api.example.com/?a=1", "api.api_url", allow_insecure_http=False)
    assert caught.value.where == "api.api_url"


GOOD = ApiConfig(api_url="https://api.example.com", client_id="id", client_secret=Secret("s"))


@pytest.mark.parametrize(
    "overrides",
    [
        pytest.param({"api_url": "http://api.example.com"}, id="plain http"),
        pytest.param({"api_url": "https://u:p@api.example.com"}, id="credentials"),
        pytest.param({"token_url": "ftp://api.example.com/token"}, id="token url"),
        pytest.param({"client_id": ""}, id="no client id"),
        pytest.param({"client_secret": Secret("")}, id="no secret"),
        pytest.param({"paths": {"fly": "/x"}}, id="unknown endpoint"),
        pytest.param({"paths": {"end_task": "x"}}, id="relative path"),
        pytest.param({"max_retries": -1}, id="negative retries"),
        pytest.param({"backoff_base_s": 5.0, "backoff_cap_s": 1.0}, id="base over cap"),
        pytest.param({"max_in_flight": 0}, id="no capacity"),
        pytest.param({"transport": "curl"}, id="unknown transport"),
    ],
)
def test_config_file_and_client_refuse_the_same_settings_with_the_same_error(
    tmp_path: Path, overrides: dict[str, Any]
) -> None:
    bad = msgspec.structs.replace(GOOD, **overrides)
    with pytest.raises(ConfigError) as from_check:
        check_api(bad)
    with pytest.raises(ConfigError) as from_client:
        FleetClient(bad, VirtualClock())
    assert str(from_client.value) == str(from_check.value)
    toml = tmp_path / "c.toml"
    toml.write_text(_toml(bad))
    with pytest.raises(ConfigError) as from_file:
        load_config(toml, env={})
    assert str(from_file.value) == str(from_check.value)


def test_the_pool_refuses_what_the_config_refuses() -> None:
    bad = msgspec.structs.replace(GOOD, max_in_flight=0)
    with pytest.raises(ConfigError) as from_pool:
        open_http_pool(bad)
    with pytest.raises(ConfigError) as from_check:
        check_api(bad)
    assert str(from_pool.value) == str(from_check.value) == "api.max_in_flight: must be > 0, got 0"


def _toml(api: ApiConfig) -> str:
    lines = ["[api]"]
    for f in msgspec.structs.fields(api):
        value = getattr(api, f.name)
        if f.name == "paths" or value == f.default:
            continue
        shown = value.reveal() if isinstance(value, Secret) else value
        lines.append(f"{f.name} = {_literal(shown)}")
    if api.paths:
        lines.append("[api.paths]")
        lines += [f"{name} = {_literal(path)}" for name, path in api.paths.items()]
    return "\n".join(lines) + "\n"


def _literal(value: object) -> str:
    if isinstance(value, bool):
        return str(value).lower()
    return f'"{value}"' if isinstance(value, str) else repr(value)

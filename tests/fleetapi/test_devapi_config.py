"""`[own_fleet]` and `api.profile`: the service table is a credential, never shown."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from driver_agent.core.config import OWN_FLEET_SERVICES, load_config, masked
from driver_agent.core.errors import ConfigError
from driver_agent.fleetapi.devapi_services import SERVICES, Service

if TYPE_CHECKING:
    from pathlib import Path

URL = "https://developer-api.bringg.com/services/ab12/0f4e-uuid1/77aa-uuid2"


def test_the_config_names_exactly_the_clients_services() -> None:
    assert set(OWN_FLEET_SERVICES) == {str(s) for s in Service} == set(SERVICES)


def test_the_fleet_profile_stays_the_default() -> None:
    config = load_config()
    assert config.api.profile == "fleet"
    assert config.own_fleet.services == {}
    assert config.own_fleet.shift_length_s == 8 * 3600.0


def test_a_service_table_loads_and_is_masked_everywhere(tmp_path: Path) -> None:
    config = load_config(
        _write(
            tmp_path, f'[api]\nprofile = "own_fleet"\n[own_fleet.services]\nstart_order = "{URL}"\n'
        ),
        env={
            "DRIVER_AGENT_OWN_FLEET_SECRET_KEY": "sk-1",
            "DRIVER_AGENT_OWN_FLEET_ACCESS_TOKEN": "at-1",
        },
    )
    assert config.api.profile == "own_fleet"
    assert config.own_fleet.services["start_order"].reveal() == URL
    assert config.own_fleet.secret_key.reveal() == "sk-1"
    shown = masked(config)["own_fleet"]
    assert shown["services"] == {"start_order": "[secure]"}
    assert shown["secret_key"] == shown["access_token"] == "[secure]"
    for text in (str(shown), repr(config), str(config)):
        assert not any(secret in text for secret in ("ab12", "sk-1", "at-1"))


@pytest.mark.parametrize(
    ("text", "where", "message"),
    [
        ('[own_fleet.services]\nstart_ordr = "https://x.example/s/1/2/3"\n',
         "own_fleet.services.start_ordr", "unknown service"),
        ('[own_fleet.services]\nstart_order = 7\n',
         "own_fleet.services.start_order", "expected a URL string (not shown: a secret)"),
        ('[own_fleet.services]\nstart_order = "http://bringg.example/services/SECRETPATH"\n',
         "own_fleet.services.start_order", "not an https URL"),
        ('[own_fleet.services]\nstart_order = "https://bringg.example/s?SECRETPATH=1"\n',
         "own_fleet.services.start_order", "not an https URL"),
        ('[own_fleet]\nservices = "SECRETPATH"\n', "own_fleet.services", "expected a table"),
        ('[api]\nprofile = "own-fleet"\n', "api.profile", "must be one of fleet, own_fleet"),
        ("[own_fleet]\nshift_length_s = -1\n", "own_fleet.shift_length_s", "must be >= 0"),
        ('[own_fleet]\npartner_url = "ftp://x"\n', "own_fleet.partner_url", "not an http(s) URL"),
    ],
)  # fmt: skip
def test_a_bad_entry_is_named_and_a_url_never_shown(
    tmp_path: Path, text: str, where: str, message: str
) -> None:
    with pytest.raises(ConfigError) as info:
        load_config(_write(tmp_path, text))
    assert info.value.where == where
    assert message in info.value.message
    assert "SECRETPATH" not in str(info.value)


def test_plain_http_to_loopback_is_allowed_for_a_local_sandbox(tmp_path: Path) -> None:
    text = '[own_fleet.services]\ncheckin = "http://127.0.0.1:8800/services/1/2/3"\n'
    assert load_config(_write(tmp_path, text)).own_fleet.services["checkin"]


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(text)
    return path

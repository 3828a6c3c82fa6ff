"""The `driver-agent sandbox` command: flags over environment over defaults; the start banner."""

from __future__ import annotations

import argparse
import io

import pytest

from driver_agent.commands.sandbox import add_arguments, describe, settings_from
from driver_agent.core.model import Secret


def parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    return parser.parse_args(list(argv))


def test_flags_win_over_the_environment_which_wins_over_defaults() -> None:
    env = {
        "SANDBOX_CLIENT_ID": "env-fleet",
        "SANDBOX_CLIENT_SECRET": "env-secret",
        "SANDBOX_MERCHANT_API_KEY": "env-key",
    }
    settings = settings_from(parse("--client-id", "flag-fleet", "--port", "0"), env)
    assert settings.client_id == "flag-fleet"
    assert settings.client_secret == Secret("env-secret")
    assert settings.merchant_api_key == Secret("env-key")
    assert settings.merchant_client_id == "sandbox-merchant"
    assert settings.fleet_webhook_url == ""


def test_the_banner_prints_default_credentials_but_never_configured_secrets() -> None:
    default = settings_from(parse(), {})
    out = io.StringIO()
    describe(default, "http://127.0.0.1:8700", out)
    assert "sandbox-fleet / sandbox-fleet-secret" in out.getvalue()
    custom = settings_from(parse("--client-secret", "hunter2", "--merchant-api-key", "k-9"), {})
    out = io.StringIO()
    describe(custom, "http://127.0.0.1:8700", out)
    assert "hunter2" not in out.getvalue()
    assert "k-9" not in out.getvalue()
    assert "[secure]" in out.getvalue()


@pytest.mark.parametrize("area", ["1,2,3", "a,b,c,d"])
def test_a_bad_area_flag_is_refused(area: str) -> None:
    with pytest.raises(SystemExit):
        parse("--area", area)


def test_an_inverted_area_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="area"):
        settings_from(parse("--area", "60.2,24.9,60.1,24.98"), {})

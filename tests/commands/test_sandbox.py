"""The `driver-agent sandbox` command: flags over environment over defaults; the start banner."""

from __future__ import annotations

import argparse
import io

import pytest

from driver_agent.commands.sandbox import add_arguments, describe, settings_from
from driver_agent.core.model import Secret
from driver_agent.geo.geometry import haversine_m
from driver_agent.geo.roads import RoadNetwork
from driver_agent.sandbox.devapi_routes import GET_SERVICES, service_paths
from driver_agent.sandbox.rules import SandboxState

NOW = 1_767_225_600.0


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


def test_the_banner_lists_every_developer_api_service_url() -> None:
    out = io.StringIO()
    settings = settings_from(parse("--seed", "5"), {})
    describe(settings, "http://127.0.0.1:8700", out)
    printed = out.getvalue()
    for name, path in service_paths(5).items():
        line = next(row for row in printed.splitlines() if row.split()[:1] == [name])
        assert line.endswith(f"http://127.0.0.1:8700{path}")
        assert ("GET/POST" in line) is (name in GET_SERVICES)
    assert "http://127.0.0.1:8700/_sandbox/services" in printed


@pytest.mark.parametrize("area", ["1,2,3", "a,b,c,d"])
def test_a_bad_area_flag_is_refused(area: str) -> None:
    with pytest.raises(SystemExit):
        parse("--area", area)


def test_an_inverted_area_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="area"):
        settings_from(parse("--area", "60.2,24.9,60.1,24.98"), {})


def test_addresses_land_on_the_roads_of_the_chosen_map() -> None:
    for argv, lat_range in (((), (60.16, 60.18)), (("--map", "liechtenstein"), (47.04, 47.28))):
        settings = settings_from(parse(*argv), {})
        network = RoadNetwork.load(parse(*argv).road_network)
        assert len(settings.places) > 1000
        for lat, lng in settings.places[:200]:
            assert lat_range[0] < lat < lat_range[1]
            on_road = network.snap(lat, lng)
            assert on_road is not None
            assert haversine_m(lat, lng, *on_road) < 0.5
        # an order given by address alone starts and ends on those roads
        state = SandboxState(settings, token_part=lambda: "opaque")
        reply = state.create_task(
            {"customer": {"name": "C", "phone": "+3585"}, "way_points": [{"address": "Any 1"}]},
            NOW,
        )
        order = state.world.orders[reply.body["task"]["id"]]  # type: ignore[index]
        for wp in order.way_points:
            assert (wp.lat, wp.lng) in settings.places


def test_the_area_flag_keeps_the_road_points_inside_it() -> None:
    box = "60.165,24.935,60.172,24.945"
    settings = settings_from(parse("--area", box), {})
    assert settings.area == (60.165, 24.935, 60.172, 24.945)
    assert 0 < len(settings.places) < len(settings_from(parse(), {}).places)
    with pytest.raises(ValueError, match="no road of the map"):
        settings_from(parse("--area", "10,10,11,11"), {})

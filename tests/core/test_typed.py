from __future__ import annotations

import msgspec
import pytest

from driver_agent.core.errors import ConfigError
from driver_agent.core.typed import convert, describe, to_builtins


class Inner(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    lat: float
    tags: list[str] = []


class Outer(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    name: str
    items: list[Inner]
    client_secret: str = ""
    by_key: dict[str, Inner] = {}


def test_converts_and_round_trips() -> None:
    data = {"name": "a", "items": [{"lat": 1.5, "tags": ["x"]}], "client_secret": "", "by_key": {}}
    value = convert(data, Outer)
    assert value.items[0].lat == 1.5
    assert to_builtins(value) == data


def test_wrong_type_names_the_dotted_key_and_the_value() -> None:
    with pytest.raises(ConfigError) as info:
        convert({"name": "a", "items": [{"lat": 1.0}, {"lat": "north"}]}, Outer, where="stops")
    assert info.value.where == "stops.items[1].lat"
    assert info.value.message == "expected a number, got 'north' (a string)"


def test_no_string_to_number_coercion() -> None:
    with pytest.raises(ConfigError, match=r"^items\[0\]\.lat: expected a number, got '1' "):
        convert({"name": "a", "items": [{"lat": "1"}]}, Outer)


def test_unknown_and_missing_keys_are_named() -> None:
    with pytest.raises(ConfigError) as info:
        convert({"name": "a", "items": [{"lat": 1.0, "latt": 2}]}, Outer)
    assert (info.value.where, info.value.message) == ("items[0].latt", "unknown key (a typo?)")
    with pytest.raises(ConfigError) as info:
        convert({"items": []}, Outer, where="run")
    assert (info.value.where, info.value.message) == ("run.name", "missing (required)")


def test_secret_values_are_never_shown() -> None:
    with pytest.raises(ConfigError) as info:
        convert({"name": "a", "items": [], "client_secret": 123456789}, Outer)
    assert "123456789" not in str(info.value)
    assert info.value.where == "client_secret"


def test_long_values_are_shortened_and_dict_keys_marked() -> None:
    with pytest.raises(ConfigError) as info:
        convert({"name": "x" * 100, "items": [], "by_key": {"k": {"lat": True}}}, Outer)
    assert info.value.where == "by_key[...].lat"
    assert info.value.message == "expected a number, got a boolean"
    with pytest.raises(ConfigError) as info:
        convert({"name": 7.5 * 10**50, "items": []}, Outer)
    assert info.value.message.startswith("expected a string, got 7.5")


def test_callers_choose_their_error_type() -> None:
    class BadInput(Exception):
        def __init__(self, where: str, message: str) -> None:
            super().__init__(where, message)

    with pytest.raises(BadInput):
        convert({"name": 1, "items": []}, Outer, error=BadInput)


def test_describe_without_a_path() -> None:
    assert describe("Expected `object`, got `array`", [1]) == (
        "",
        "expected a table/object, got a list",
    )

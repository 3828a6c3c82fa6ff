"""Typed data from plain values: msgspec checks and builds in one pass; we name the place (pure).

Config tables, webhook payloads, position batches, outbox records and saved statistics all come
in as plain JSON/TOML values and leave as `msgspec.Struct`s. `convert` is the one way in: a wrong
type, a missing field or an unknown key raises `ConfigError` (or the caller's own error type)
whose `where` is the dotted key (`api.timeout_s`, `items[3].lat`) and whose message shows the
value, shortened, and never a secret's:

    >>> convert({"x": "ten"}, Point, where="start")
    ConfigError: start.x: expected float, got 'ten' (a string)

`to_builtins` is the one way out (dicts, lists, strings and numbers that `json` takes as is).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any, TypeVar

import msgspec

from driver_agent.core.errors import ConfigError
from driver_agent.core.redaction import is_secret

T = TypeVar("T")

ErrorFactory = Callable[[str, str], Exception]

_MESSAGE = re.compile(r"^(?P<what>.*?)(?: - at `\$(?P<path>[^`]*)`)?$", re.DOTALL)
_STEP = re.compile(r"\.([A-Za-z_][A-Za-z0-9_]*)|\[(\d+|\.\.\.)\]")
_UNKNOWN = re.compile(r"^Object contains unknown field `(?P<key>[^`]*)`$")
_MISSING = re.compile(r"^Object missing required field `(?P<key>[^`]*)`$")
_EXPECTED = re.compile(r"^Expected `(?P<want>[^`]*)`, got `(?P<got>[^`]*)`$")
_MISSING_VALUE = object()


def convert(
    data: object,
    type_: type[T],
    *,
    where: str = "",
    error: ErrorFactory = ConfigError,
    dec_hook: Callable[[type, Any], Any] | None = None,
) -> T:
    """`data` as a `type_`, checked strictly (no string-to-number coercion); `error(where,
    message)` naming the dotted key and the value otherwise."""
    try:
        return msgspec.convert(data, type_, strict=True, dec_hook=dec_hook)
    except msgspec.ValidationError as exc:
        place, message = describe(str(exc), data)
        raise error(join(where, place), message) from None


def to_builtins(value: object) -> Any:
    """Plain dicts, lists, strings, numbers, booleans and None, ready for `json.dumps`."""
    return msgspec.to_builtins(value)


def describe(text: str, data: object) -> tuple[str, str]:
    """msgspec's "Expected `int`, got `str` - at `$.a.b`" as ("a.b", "expected int, got 'x' (a
    string)"), looking the value up in `data`."""
    match = _MESSAGE.match(text)
    what = match.group("what") if match else text
    path = (match.group("path") if match else None) or ""
    steps = _steps(path)
    place = _dotted(steps)
    if unknown := _UNKNOWN.match(what):
        key = unknown.group("key")
        return join(place, key), "unknown key (a typo?)"
    if missing := _MISSING.match(what):
        return join(place, missing.group("key")), "missing (required)"
    value = _lookup(data, steps)
    if expected := _EXPECTED.match(what):
        want = _type_words(expected.group("want"))
        if value is _MISSING_VALUE:  # under a dict key msgspec does not name: its type only
            return place, f"expected {want}, got {_GOT_WORDS.get(expected.group('got'), 'a value')}"
        return place, f"expected {want}, got {_show(place, value)}"
    if value is _MISSING_VALUE:
        return place, _lower_first(what)
    return place, f"{_lower_first(what)}, got {_show(place, value)}"


def join(prefix: str, key: str) -> str:
    if not prefix:
        return key
    if not key:
        return prefix
    return prefix + key if key.startswith("[") else f"{prefix}.{key}"


def _steps(path: str) -> list[str | int | None]:
    steps: list[str | int | None] = []
    for name, index in _STEP.findall(path):
        if name:
            steps.append(name)
        elif index == "...":
            steps.append(None)  # a dict key msgspec does not name
        else:
            steps.append(int(index))
    return steps


def _dotted(steps: list[str | int | None]) -> str:
    out = ""
    for step in steps:
        if isinstance(step, str):
            out = join(out, step)
        elif step is None:
            out += "[...]"
        else:
            out += f"[{step}]"
    return out


def _lookup(data: object, steps: list[str | int | None]) -> object:
    value = data
    for step in steps:
        found = (isinstance(step, str) and isinstance(value, dict) and step in value) or (
            isinstance(step, int) and isinstance(value, list | tuple) and step < len(value)
        )
        if not found:
            return _MISSING_VALUE
        value = value[step]  # type: ignore[index]
    return value


_TYPE_WORDS = {
    "int": "an integer",
    "float": "a number",
    "str": "a string",
    "bool": "true or false",
    "object": "a table/object",
    "array": "a list",
    "null": "null",
}


_GOT_WORDS = {"int": "an integer", "float": "a number", "str": "a string", "bool": "a boolean",
              "object": "a table/object", "array": "a list", "null": "null"}  # fmt: skip


def _type_words(want: str) -> str:
    parts = [p.strip() for p in want.split("|")]
    return " or ".join(_TYPE_WORDS.get(p, p) for p in parts)


def _json_kind(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int):
        return "an integer"
    if isinstance(value, float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list | tuple):
        return "a list"
    return "a table/object"


def _show(place: str, value: object) -> str:
    if value is _MISSING_VALUE:
        return "a value of the wrong type"
    key = place.rsplit(".", 1)[-1]
    if is_secret(key, value):
        return f"a value ({_json_kind(value)}, not shown: secret)"
    if isinstance(value, dict | list | tuple):
        return _json_kind(value)
    shown = repr(value)
    if len(shown) > 40:
        shown = shown[:37] + "..."
    return f"{shown} ({_json_kind(value)})"


def _lower_first(text: str) -> str:
    return text[:1].lower() + text[1:]

"""Bounded reading and decoding of JSON request bodies: the one copy of the limits (pure).

Every HTTP input of the program (the run's and the bridge's webhook receiver, the bridge's
position input, the sandbox and its admin endpoints) reads its body through `CappedBody` and
decodes it with `decode_json`, so a client's mistake is always a `BodyError` carrying the HTTP
status to answer and a message naming the problem, never a 500:

- size: the declared `Content-Length` and then the bytes as they arrive are checked against the
  input's cap; the first byte past it is a 413 and the rest is not read (a 1 GB body is never
  buffered). The caps: 1 MiB for the webhook receivers (`WebhookSettings.max_body_bytes`),
  1 MB for the bridge's position input, 16 MB for the sandbox (a 10 MB photo in base64);
- `Content-Type` (`check_json_content_type`): a JSON body must be `application/json` or
  `application/<x>+json` (parameters such as `charset=utf-8` are ignored), anything else is a 415.
  A missing `Content-Type` is read as JSON: it says nothing, hand-written scripts omit it, and
  RFC 9110 §8.3 lets the recipient assume. (The OsmAnd input does not call this: phone apps and
  Traccar send form or query data under any type, and Traccar itself ignores the header.)
- encoding: UTF-8 only (RFC 8259 §8.1), a leading byte-order mark ignored; a string escaping a
  lone UTF-16 surrogate (`"\\ud800"`) is refused, as it cannot be written back as UTF-8;
- nesting: at most `MAX_DEPTH` (64) arrays and objects inside one another; checked before the
  decoder runs, so a 100,000-deep array costs one regex pass, not a `RecursionError`;
- numbers: integers of at most `MAX_INT_DIGITS` (20: every int64 and uint64 id fits) digits, any
  number literal at most `MAX_NUMBER_CHARS` (64) characters, floats finite (`1e400` is refused,
  and so are `NaN` and `Infinity`, which are not JSON). Python's own int-from-string limit
  (4,300 digits, a `ValueError`) is never reached.

Duplicate keys keep the last value, as `json` does.
"""

from __future__ import annotations

import json
import math
import re

from driver_agent.core.errors import ConfigError

MAX_DEPTH = 64
MAX_INT_DIGITS = 20
MAX_NUMBER_CHARS = 64
JSON_MEDIA_TYPE = "application/json"

# a JSON string (escapes included; unterminated up to the end, so that no match ever fails and
# the scan stays linear) or one bracket: strings are matched so that their brackets are skipped
_TOKENS = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"?|[\[\]{}]', re.DOTALL)
_LONE_SURROGATE = re.compile(r"[\ud800-\udfff]")


class BodyError(ConfigError):
    """A request body refused: `status` is the HTTP answer (400, 413 or 415); `line` is the
    line of a JSON syntax error, when there is one."""

    def __init__(
        self, status: int, message: str, where: str = "body", line: int | None = None
    ) -> None:
        super().__init__(where, message)
        self.status = status
        self.line = line


class CappedBody:
    """Collects a body chunk by chunk and refuses it (413) at the first byte past `limit_bytes`."""

    def __init__(self, limit_bytes: int) -> None:
        if limit_bytes <= 0:
            raise ValueError(f"limit_bytes must be > 0, got {limit_bytes}")
        self.limit_bytes = limit_bytes
        self._chunks: list[bytes] = []
        self._size = 0

    def check_declared(self, content_length: str | None) -> None:
        """Refuse at once when the declared `Content-Length` is over the cap."""
        if content_length is None:
            return
        text = content_length.strip()
        if text.isascii() and text.isdigit() and (len(text) > 18 or int(text) > self.limit_bytes):
            raise self.too_large()

    def add(self, chunk: bytes) -> None:
        self._size += len(chunk)
        if self._size > self.limit_bytes:
            self._chunks.clear()
            raise self.too_large()
        if chunk:
            self._chunks.append(chunk)

    def body(self) -> bytes:
        return b"".join(self._chunks)

    def too_large(self) -> BodyError:
        return BodyError(413, f"larger than {self.limit_bytes} bytes")


def check_json_content_type(content_type: str | None) -> None:
    """415 unless the `Content-Type` is missing, `application/json` or `application/*+json`."""
    if content_type is None or not content_type.strip():
        return
    media_type = content_type.split(";", 1)[0].strip().lower()
    if media_type == JSON_MEDIA_TYPE or (
        media_type.startswith("application/") and media_type.endswith("+json")
    ):
        return
    raise BodyError(415, f"Content-Type {_show(media_type)} is not {JSON_MEDIA_TYPE}")


def decode_json(raw: bytes, *, max_depth: int = MAX_DEPTH) -> object:
    """The JSON value of `raw` within the limits above; `BodyError(400, ...)` otherwise."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise BodyError(
            400, f"malformed JSON: not UTF-8 (bad byte at offset {exc.start})"
        ) from None
    return decode_json_text(text, max_depth=max_depth)


def decode_json_text(text: str, *, max_depth: int = MAX_DEPTH) -> object:
    """`decode_json` for text already decoded (an NDJSON line, say)."""
    text = text.removeprefix("\ufeff")
    if not text.strip():
        raise BodyError(400, "malformed JSON: empty body")
    _check_depth(text, max_depth)
    try:
        value = json.loads(
            text, parse_int=_parse_int, parse_float=_parse_float, parse_constant=_parse_constant
        )
    except json.JSONDecodeError as exc:
        raise BodyError(
            400,
            f"malformed JSON: {exc.msg} at line {exc.lineno} column {exc.colno}",
            line=exc.lineno,
        ) from None
    except RecursionError:  # pragma: no cover - _check_depth stops this long before
        raise BodyError(400, f"JSON nested deeper than {max_depth} levels") from None
    if "\\u" in text and _has_lone_surrogate(value):
        raise BodyError(400, "a JSON string holds a lone UTF-16 surrogate escape (not Unicode)")
    return value


def decode_json_object(raw: bytes, *, max_depth: int = MAX_DEPTH) -> dict[str, object]:
    """`decode_json`, and the value must be an object."""
    value = decode_json(raw, max_depth=max_depth)
    if not isinstance(value, dict):
        raise BodyError(400, f"expected a JSON object, got {json_type(value)}")
    return value


def json_type(value: object) -> str:
    """The JSON name of a decoded value's type, for messages."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    return "an object"


def _check_depth(text: str, max_depth: int) -> None:
    if text.count("[") + text.count("{") <= max_depth:
        return
    depth = 0
    for match in _TOKENS.finditer(text):
        token = match.group()
        if token == "[" or token == "{":
            depth += 1
            if depth > max_depth:
                raise BodyError(400, f"JSON nested deeper than {max_depth} levels")
        elif token == "]" or token == "}":
            depth -= 1


def _parse_int(literal: str) -> int:
    digits = len(literal) - literal.startswith("-")
    if digits > MAX_INT_DIGITS:
        raise BodyError(400, f"an integer of {digits} digits (at most {MAX_INT_DIGITS})")
    return int(literal)


def _parse_float(literal: str) -> float:
    if len(literal) > MAX_NUMBER_CHARS:
        raise BodyError(400, f"a number of {len(literal)} characters (at most {MAX_NUMBER_CHARS})")
    value = float(literal)
    if not math.isfinite(value):
        raise BodyError(400, f"the number {_show(literal)} is out of range")
    return value


def _parse_constant(name: str) -> float:
    raise BodyError(400, f"{name} is not a JSON number")


def _has_lone_surrogate(value: object) -> bool:
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            if _LONE_SURROGATE.search(item):
                return True
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return False


def _show(text: str) -> str:
    shown = repr(text)
    return shown if len(shown) <= 40 else shown[:37] + "..."

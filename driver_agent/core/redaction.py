"""Secret masking, the one definition (pure): log lines, report.json, the masked config and the
client's error messages all mask through `redact` and `redact_text`.

What is masked, as `[secure]`:

- a `Secret` (an empty one shows as "": there is nothing to hide, and that it is unset helps);
- the value of a key that looks secret (`SECRET_KEY`: secret, token, password, authorization, api
  key, credential), unless it is empty, or a number under a duration key such as
  `token_refresh_margin_s`;
- in text: a bearer token, the user:password@ of a URL, and any known secret value passed in.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, MutableMapping
from typing import Any

from driver_agent.core.model import MASK, Secret

__all__ = ["MASK", "SECRET_KEY", "is_secret", "redact", "redact_event", "redact_text"]

SECRET_KEY = re.compile(
    r"secret|token|password|passwd|authorization|api[_-]?key|apikey|credential", re.IGNORECASE
)
_BEARER = re.compile(r"(Bearer\s+)[A-Za-z0-9._~+/=-]+", re.IGNORECASE)
_URL_USERINFO = re.compile(r"(?P<scheme>[a-z][a-z0-9+.-]*://)[^/@\s]+@", re.IGNORECASE)


def redact_text(text: str, *secrets: str) -> str:
    """`text` with bearer tokens, URL credentials and each of `secrets` (known secret values,
    such as the client secret and the current token) masked."""
    for secret in secrets:
        if secret and secret in text:
            text = text.replace(secret, MASK)
    if "earer" in text:
        text = _BEARER.sub(r"\1" + MASK, text)
    if "@" in text:
        text = _URL_USERINFO.sub(r"\g<scheme>" + MASK + "@", text)
    return text


def is_secret(key: str, value: object) -> bool:
    """Whether the value under `key` is to be masked for its key alone."""
    if not SECRET_KEY.search(key) or value is None or (isinstance(value, str) and not value):
        return False
    is_duration = key.endswith(("_s", "_ms")) and isinstance(value, int | float)
    return not is_duration or isinstance(value, bool)


def redact(value: Any, key: str = "") -> Any:
    """A copy of `value` (under `key`, if any) with every secret masked; mappings stay mappings,
    sequences become lists, other values are returned as they are."""
    if isinstance(value, Secret):
        return MASK if value else ""
    if key and is_secret(key, value):
        return MASK
    if isinstance(value, Mapping):
        return {k: redact(v, str(k)) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [redact(v, key) for v in value]
    if isinstance(value, str):
        return redact_text(value)
    return value


def redact_event(
    _logger: Any, _method: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    """structlog processor: `redact` every value of the event."""
    for key in list(event_dict):
        event_dict[key] = redact(event_dict[key], key)
    return event_dict

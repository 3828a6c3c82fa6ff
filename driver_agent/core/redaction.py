"""Secret masking for log lines (pure): `Secret`s, secret-looking keys, bearer tokens in text."""

from __future__ import annotations

import re
from collections.abc import MutableMapping
from typing import Any

from driver_agent.core.model import Secret

_SECRET_KEY = re.compile(r"token|authorization|secret|password|api_key|apikey", re.IGNORECASE)
_BEARER = re.compile(r"(Bearer\s+)[A-Za-z0-9._~+/=-]+", re.IGNORECASE)
MASK = "[secure]"


def redact(value: Any) -> Any:
    """Mask secrets in a log value: `Secret`s, secret-looking keys, bearer tokens in text."""
    if isinstance(value, Secret):
        return MASK
    if isinstance(value, dict):
        return {k: MASK if _SECRET_KEY.search(str(k)) else redact(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [redact(v) for v in value]
    if isinstance(value, str) and "earer" in value:
        return _BEARER.sub(r"\1" + MASK, value)
    return value


def redact_event(
    _logger: Any, _method: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    """structlog processor: mask every secret-looking key and every secret inside a value."""
    for key in list(event_dict):
        if _SECRET_KEY.search(key):
            event_dict[key] = MASK
        else:
            event_dict[key] = redact(event_dict[key])
    return event_dict

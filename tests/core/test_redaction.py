"""One redaction: the same secrets are masked the same way in log lines, report.json and the
masked config (the client's error messages: tests/fleetapi/test_client.py)."""

from __future__ import annotations

import io
import json
from typing import Any

import msgspec
import structlog

from driver_agent.core.config import Config, masked
from driver_agent.core.model import Secret
from driver_agent.core.redaction import MASK, redact, redact_text
from driver_agent.report.document import mask_config

# one of each kind of secret, and what every place must turn it into
SECRETS: dict[str, Any] = {
    "client_secret": Secret("s3cr3t-1"),
    "empty_secret": Secret(""),
    "access_token": "tok-2",
    "token_refresh_margin_s": 60.0,  # a duration under a secret-looking key is not a secret
    "api_key": 12345,
    "passwd": "pw-3",
    "note": "sent Authorization: Bearer tok-4 to https://bob:pw-5@x.example/y",
    "headers": {"Authorization": "Bearer tok-6", "Accept": "application/json"},
    "unset_token": "",
}
MASKED: dict[str, Any] = {
    "client_secret": MASK,
    "empty_secret": "",
    "access_token": MASK,
    "token_refresh_margin_s": 60.0,
    "api_key": MASK,
    "passwd": MASK,
    "note": "sent Authorization: Bearer [secure] to https://[secure]@x.example/y",
    "headers": {"Authorization": MASK, "Accept": "application/json"},
    "unset_token": "",
}


def test_redact_masks_each_kind_of_secret() -> None:
    assert redact(SECRETS) == MASKED


def test_log_lines_mask_like_redact(log_lines: io.StringIO) -> None:
    structlog.get_logger("t").info("secrets_seen", **SECRETS)
    record = json.loads(log_lines.getvalue())
    assert {key: record[key] for key in SECRETS} == MASKED


def test_report_json_masks_like_redact() -> None:
    assert mask_config(SECRETS) == MASKED


def test_the_masked_config_masks_like_redact() -> None:
    config = msgspec.structs.replace(
        Config(),
        api=msgspec.structs.replace(Config().api, client_secret=Secret("s3cr3t-1")),
    )
    shown = masked(config)
    assert shown["api"]["client_secret"] == MASK
    assert shown["api"]["token_refresh_margin_s"] == Config().api.token_refresh_margin_s
    assert mask_config(shown) == shown  # the report masks it again, to the same


def test_known_secret_values_are_masked_in_text() -> None:
    assert redact_text("echo: abc and def", "abc", "", "def") == "echo: [secure] and [secure]"

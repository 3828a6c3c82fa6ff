"""Logging: secrets masked in every form they take; log lines and the status line share a tty."""

from __future__ import annotations

import io
import json

import structlog

from driver_agent.core.logs import Terminal, configure_logging
from driver_agent.core.model import Secret


def test_secrets_never_reach_the_log(log_lines: io.StringIO) -> None:
    log = structlog.get_logger("t")
    log.info(
        "token_refreshed",
        client_secret="s3cr3t-1",
        access_token="tok-2",
        headers={"Authorization": "Bearer tok-3", "Accept": "application/json"},
        message="sent Authorization: Bearer tok-4 to the API",
        key=Secret("s3cr3t-5"),
        api_key="k-6",
    )
    text = log_lines.getvalue()
    record = json.loads(text)
    for leaked in ("s3cr3t-1", "tok-2", "tok-3", "tok-4", "s3cr3t-5", "k-6"):
        assert leaked not in text
    assert record["headers"]["Accept"] == "application/json"
    assert record["message"] == "sent Authorization: Bearer [secure] to the API"


def test_levels_below_the_configured_one_are_dropped() -> None:
    stream = io.StringIO()
    configure_logging("warning", "json", stream)
    try:
        structlog.get_logger("t").info("quiet")
        structlog.get_logger("t").warning("loud")
    finally:
        structlog.reset_defaults()
    assert [json.loads(line)["event"] for line in stream.getvalue().splitlines()] == ["loud"]


def test_log_lines_scroll_above_the_status_line() -> None:
    stream = io.StringIO()
    terminal = Terminal(stream)
    terminal.line("first")
    terminal.status("orders 1/4")
    terminal.line("second")
    terminal.status("orders 2/4")
    terminal.end_status()
    assert stream.getvalue() == (
        "first\n\r\x1b[2Korders 1/4\r\x1b[2Ksecond\norders 1/4\r\x1b[2Korders 2/4\n"
    )

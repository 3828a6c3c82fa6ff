"""structlog, configured once: console lines on a terminal, JSON lines otherwise; secrets masked
(`core.redaction`)."""

from __future__ import annotations

import logging
import sys
from collections.abc import Mapping, MutableMapping
from typing import Any, TextIO

import structlog

from driver_agent.core.redaction import redact_event

CLEAR_LINE = "\r\x1b[2K"


class Terminal:
    """Log lines and one live status line sharing a terminal: logs scroll, the status stays last."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self._status = ""

    def line(self, message: str) -> None:
        self.stream.write((CLEAR_LINE if self._status else "") + message + "\n" + self._status)
        self.stream.flush()

    def status(self, text: str) -> None:
        self._status = text
        self.stream.write(CLEAR_LINE + text)
        self.stream.flush()

    def end_status(self) -> None:
        if self._status:
            self._status = ""
            self.stream.write("\n")
            self.stream.flush()


class _TerminalLogger:
    """structlog's logger interface, writing through the shared `Terminal`."""

    def __init__(self, terminal: Terminal) -> None:
        self._terminal = terminal

    def msg(self, message: str) -> None:
        self._terminal.line(message)

    log = debug = info = warn = warning = error = err = fatal = exception = critical = msg


_terminal: Terminal | None = None


def terminal() -> Terminal | None:
    """The terminal the logs write to, when they write to one (for a live status line)."""
    return _terminal


def configure_logging(
    level: str = "info",
    fmt: str = "auto",
    stream: TextIO | None = None,
    fields: dict[str, object] | None = None,
) -> None:
    """Set up structlog for the whole process; call once, from the CLI. `fields` go into every
    line (a Ray worker's `worker` number: its lines reach the head's log without a prefix)."""
    constant = dict(fields or {})

    def add_fields(_: Any, __: str, event: MutableMapping[str, Any]) -> Mapping[str, Any]:
        return {**constant, **event} if constant else event

    global _terminal
    out = stream if stream is not None else sys.stderr
    console = fmt == "console" or (fmt == "auto" and out.isatty())
    _terminal = Terminal(out) if out.isatty() else None
    renderer: Any = (
        structlog.dev.ConsoleRenderer(colors=out.isatty())
        if console
        else structlog.processors.JSONRenderer()
    )
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            add_fields,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            redact_event,
            structlog.processors.format_exc_info,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(
            logging.getLevelNamesMapping()[level.upper()]
        ),
        logger_factory=(
            (lambda *_: _TerminalLogger(_terminal))
            if _terminal is not None
            else structlog.PrintLoggerFactory(file=out)
        ),
        cache_logger_on_first_use=False,
    )

"""Fixtures shared by the core tests."""

from __future__ import annotations

import io
from collections.abc import Iterator

import pytest
import structlog

from driver_agent.core.logs import configure_logging


@pytest.fixture
def log_lines() -> Iterator[io.StringIO]:
    stream = io.StringIO()
    configure_logging("info", "json", stream)
    yield stream
    structlog.reset_defaults()

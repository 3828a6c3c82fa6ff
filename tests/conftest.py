"""Shared fixtures: a sandbox on a background thread (default credentials) and its settings."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from driver_agent.sandbox import SandboxSettings, serve_sandbox_in_thread


@pytest.fixture
def sandbox_settings() -> SandboxSettings:
    """Default sandbox settings (fleet sandbox-fleet / sandbox-fleet-secret, merchant
    sandbox-merchant / sandbox-merchant-secret); webhook retries without delay. Override this
    fixture in a test module to change them."""
    return SandboxSettings(webhook_retry_delay_s=0)


@pytest.fixture
def sandbox_url(sandbox_settings: SandboxSettings) -> Iterator[str]:
    """Base URL of a fresh sandbox served on 127.0.0.1 (port 0) from a background thread."""
    with serve_sandbox_in_thread(sandbox_settings) as url:
        yield url

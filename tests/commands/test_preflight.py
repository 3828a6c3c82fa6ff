"""Preflight: a mistake is found before the first request, as one line and exit code 2.

Each case runs the real command line in a subprocess, as a user would, and checks the exit code,
the one line naming the key and the value, and that no traceback is printed.
"""

from __future__ import annotations

import errno
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from driver_agent.commands.preflight import listen_error
from driver_agent.core.errors import ConfigError

CLI = [sys.executable, "-m", "driver_agent"]
REMOTE_ENV = {
    "DRIVER_AGENT_CLIENT_SECRET": "s3cret-value",
    "DRIVER_AGENT_WEBHOOK_API_KEY": "hook-key-value",
}


def run_cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*CLI, *args],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, **(env or {})},
        check=False,
    )


def one_line_error(result: subprocess.CompletedProcess[str], fragment: str) -> None:
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    assert "Traceback" not in result.stdout
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert fragment in lines[0], lines[0]
    for secret in REMOTE_ENV.values():
        assert secret not in result.stderr


@pytest.fixture
def taken_port() -> Iterator[int]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(1)
        yield int(sock.getsockname()[1])


def config_file(tmp_path: Path, text: str) -> str:
    path = tmp_path / "c.toml"
    path.write_text(text)
    return str(path)


def remote(*extra: str) -> list[str]:
    return ["run", "--api-url", "http://127.0.0.1:9", "--client-id", "fleet", *extra]


def test_a_typo_in_a_threshold_metric(tmp_path: Path) -> None:
    config = config_file(tmp_path, '[thresholds]\nchecks = ["p95 < 800"]\n')
    one_line_error(run_cli("run", "--config", config), "thresholds.checks[0]: unknown metric 'p95'")


def test_an_unknown_endpoint_in_a_threshold(tmp_path: Path) -> None:
    config = config_file(tmp_path, '[thresholds]\nchecks = ["update_location.p95_ms < 500"]\n')
    one_line_error(
        run_cli("run", "--config", config),
        "thresholds.checks[0]: unknown endpoint 'update_location'",
    )


def test_an_unwritable_report_directory(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    one_line_error(
        run_cli("run", "--report", str(blocker / "report")),
        f"run.report_dir: cannot write to '{blocker / 'report'}'",
    )


def test_no_drivers() -> None:
    one_line_error(run_cli("run", "--drivers", "0"), "run.drivers: must be at least 1, got 0")


def test_a_port_out_of_range() -> None:
    one_line_error(
        run_cli(*remote("--webhook-port", "99999"), env=REMOTE_ENV),
        "webhooks.port: must be a port number 0-65535, got 99999",
    )


def test_the_webhook_port_in_use(taken_port: int) -> None:
    one_line_error(
        run_cli(*remote("--webhook-port", str(taken_port)), env=REMOTE_ENV),
        f"webhooks.port: cannot listen on 127.0.0.1:{taken_port}",
    )


def test_the_live_map_port_in_use(tmp_path: Path, taken_port: int) -> None:
    config = config_file(tmp_path, f"[run]\nlive_map = true\nlive_map_port = {taken_port}\n")
    one_line_error(
        run_cli("run", "--config", config),
        f"run.live_map_port: cannot listen on 127.0.0.1:{taken_port}",
    )


def test_a_road_network_that_does_not_load(tmp_path: Path) -> None:
    broken = tmp_path / "city.roads.json.gz"
    broken.write_bytes(b"not a graph")
    one_line_error(run_cli("run", "--road-network", str(broken)), "run.road_network: ")
    one_line_error(run_cli("run", "--road-network", "/nonexistent.roads.json.gz"), "cannot read")


def test_a_missing_ca_file(tmp_path: Path) -> None:
    config = config_file(tmp_path, '[api]\nca_file = "/nonexistent/ca.pem"\n')
    one_line_error(
        run_cli(*remote("--config", config), env=REMOTE_ENV),
        "api.ca_file: cannot read '/nonexistent/ca.pem'",
    )


def test_the_sandbox_port_in_use_or_out_of_range(taken_port: int) -> None:
    one_line_error(
        run_cli("sandbox", "--port", str(taken_port)), f"cannot listen on 127.0.0.1:{taken_port}"
    )
    one_line_error(run_cli("sandbox", "--port", "99999"), "--port: must be a port number")


def test_the_bridge_listener_port_in_use_and_an_unwritable_outbox(
    tmp_path: Path, taken_port: int
) -> None:
    bridge = ["bridge", "--api-url", "http://127.0.0.1:9", "--client-id", "fleet"]
    bridge += ["--device-map", "van-1=drv-1", "--webhook-port", "0"]
    outbox = str(tmp_path / "outbox.sqlite3")
    one_line_error(
        run_cli(*bridge, "--outbox", outbox, "--listen-port", str(taken_port), env=REMOTE_ENV),
        f"bridge.listen_port: cannot listen on 127.0.0.1:{taken_port}",
    )
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    one_line_error(
        run_cli(
            *bridge, "--listen-port", "0", "--outbox", str(blocker / "o.sqlite3"), env=REMOTE_ENV
        ),
        "bridge.outbox: cannot write to",
    )


def test_a_port_lost_after_the_preflight_is_one_line_too() -> None:
    lost = OSError(errno.EADDRINUSE, "127.0.0.1:8701: Address already in use")
    error = listen_error(BaseExceptionGroup("run", [ValueError("x"), ExceptionGroup("g", [lost])]))
    assert isinstance(error, ConfigError)
    assert str(error) == "listen: cannot listen on 127.0.0.1:8701: Address already in use"
    assert listen_error(BaseExceptionGroup("run", [ValueError("x")])) is None

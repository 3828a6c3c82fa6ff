"""The command line as a user runs it: exit codes, one-line errors, remote mode end to end."""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from driver_agent.geo.roads import RoadNetwork

CLI = [sys.executable, "-m", "driver_agent"]


def run_cli(
    *args: str, env: dict[str, str] | None = None, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*CLI, *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **(env or {})},
        check=False,
    )


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["run", "--drivers", "many"], "--drivers: invalid int value: 'many'"),
        (["run", "--speed", "0"], "run.speed: must be > 0, got 0.0"),
        (["run", "--ping-interval", "45"], "driver.ping_interval_s: must be <= 30"),
        (["run", "--config", "/nonexistent/c.toml"], "/nonexistent/c.toml: cannot read"),
        (["run", "--api-url", "http://bringg.example"], "api.api_url: plain http is refused"),
        (["run", "--bogus"], "unrecognized arguments: --bogus"),
        (["nosuchcommand"], "invalid choice: 'nosuchcommand'"),
    ],
)
def test_bad_flags_and_configs_exit_2_with_one_clear_line(args: list[str], fragment: str) -> None:
    result = run_cli(*args)
    assert result.returncode == 2, result.stderr
    lines = [line for line in result.stderr.splitlines() if "error" in line]
    assert len(lines) == 1, result.stderr
    assert fragment in lines[0]


def test_a_bad_config_value_names_the_dotted_key(tmp_path: Path) -> None:
    config = tmp_path / "c.toml"
    config.write_text('[run]\ndrivers = 3\non_stop = "explode"\n')
    result = run_cli("run", "--config", str(config))
    assert result.returncode == 2
    assert "run.on_stop: must be one of finish, cancel; got 'explode'" in result.stderr


def test_secrets_are_not_accepted_as_flags() -> None:
    result = run_cli("run", "--client-secret", "hunter2")
    assert result.returncode == 2
    assert "unrecognized arguments" in result.stderr


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture
def sandbox_process() -> Iterator[tuple[str, int]]:
    """`driver-agent sandbox` as its own process, sending webhooks to a port we pick."""
    webhook_port = free_port()
    bbox = ",".join(str(v) for v in RoadNetwork.load().bbox)
    process = subprocess.Popen(
        [*CLI, "sandbox", "--port", "0", "--area", bbox,
         "--fleet-webhook-url", f"http://127.0.0.1:{webhook_port}",
         "--webhook-retry-delay-s", "0.5"],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert process.stdout is not None
        banner = process.stdout.readline()
        assert banner.startswith("Bringg sandbox listening on "), banner
        yield banner.split()[-1], webhook_port
    finally:
        process.terminate()
        process.wait(timeout=10)
        if process.stdout is not None:
            process.stdout.close()


@pytest.mark.timeout(180)
def test_remote_mode_drives_orders_on_a_separately_started_sandbox(
    sandbox_process: tuple[str, int], tmp_path: Path
) -> None:
    url, webhook_port = sandbox_process
    config = tmp_path / "remote.toml"
    config.write_text(
        '[merchant]\nclient_id = "sandbox-merchant"\n'
        '[thresholds]\nchecks = ["error_rate < 0.01", "orders_completed_ratio >= 0.99"]\n'
        '[log]\nformat = "json"\n'
    )
    env = {
        "DRIVER_AGENT_CLIENT_SECRET": "sandbox-fleet-secret",
        "DRIVER_AGENT_MERCHANT_CLIENT_SECRET": "sandbox-merchant-secret",
        "DRIVER_AGENT_WEBHOOK_API_KEY": "sandbox-merchant-api-key",
    }
    result = run_cli(
        "run", "--config", str(config), "--api-url", url, "--client-id", "sandbox-fleet",
        "--webhook-port", str(webhook_port), "--drivers", "3", "--orders", "4",
        "--speed", "300", "--report", str(tmp_path / "report"),
        env=env, timeout=150,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-2000:]
    assert "orders   4/4 done" in result.stdout
    state = httpx.get(url + "/_sandbox/state").json()
    assert sorted(o["status_name"] for o in state["orders"]) == ["done"] * 4
    report = json.loads((tmp_path / "report" / "report.json").read_text())
    assert report["mode"] == "remote"
    for secret in env.values():
        assert secret not in result.stdout + result.stderr
        assert secret not in json.dumps(report)


def test_summary_json_is_the_only_line_on_stdout_and_the_exports_are_written(
    tmp_path: Path,
) -> None:
    report = tmp_path / "report"
    result = run_cli(
        "run", "--drivers", "2", "--orders", "2", "--speed", "600", "--ramp-up", "100",
        "--rate", "500", "--report", str(report), "--summary-json", "--quiet", timeout=120,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert len(lines) == 1, result.stdout
    summary = json.loads(lines[0])
    assert summary["passed"] is True
    assert summary["orders"] == {"completed": 2}
    assert summary["report_dir"] == str(report.resolve())
    assert "report.html" in result.stderr  # the table went to stderr
    names = {p.name for p in report.iterdir()}
    assert {"report.json", "report.html", "requests.csv", "junit.xml"} <= names
    config = json.loads((report / "report.json").read_text())["config"]["run"]
    assert (config["ramp_up_per_s"], config["max_request_rate"]) == (100.0, 500.0)


METAVARS = {
    "URL", "ID", "HOST", "PORT", "N", "X", "S", "FILE", "PATH", "NAME", "DIR", "SECRET", "KEY",
    "LAT,LNG", "S,W,N,E", "DEVICE=DRIVER", "DEVICE=FILE", "INPUT", "GRAPH", "ACTION", "COMMAND",
    "ADDRESS",
}  # fmt: skip


def _parsers(
    parser: argparse.ArgumentParser, name: str = "driver-agent"
) -> Iterator[tuple[str, argparse.ArgumentParser]]:
    yield name, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub_name, sub in action.choices.items():
                yield from _parsers(sub, f"{name} {sub_name}")


def test_every_flag_of_every_subcommand_has_help_and_one_metavar_style() -> None:
    from driver_agent.cli import build_parser

    seen = 0
    for name, parser in _parsers(build_parser()):
        for action in parser._actions:
            if isinstance(
                action, argparse._HelpAction | argparse._VersionAction | argparse._SubParsersAction
            ):
                continue  # a subcommand's help is its parser's description
            where = f"{name} {'/'.join(action.option_strings) or action.dest}"
            assert action.help, f"{where}: no help text"
            if action.nargs != 0:
                assert action.metavar in METAVARS, f"{where}: metavar {action.metavar!r}"
            seen += 1
    assert seen > 60

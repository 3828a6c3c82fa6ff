"""`driver-agent bridge` as a real process: kill -9 mid-stream loses nothing it acknowledged,
SIGTERM stops it gracefully, bad flags exit 2."""

from __future__ import annotations

import json
import os
import signal
import sys
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
import anyio.abc
import httpx
import pytest
import structlog
from anyio.streams.text import TextReceiveStream

from driver_agent.bridge.outbox import Outbox
from driver_agent.cli import main

DRIVER = "drv-1"
WRONG_SECRET = "not-the-fleet-secret-7f3a"


async def _token(http: httpx.AsyncClient, client_id: str, secret: str) -> dict[str, str]:
    answer = await http.post(
        "/oauth/token",
        json={"grant_type": "client_credentials", "client_id": client_id, "client_secret": secret},
    )
    return {"Authorization": f"Bearer {answer.json()['access_token']}"}


async def make_driver(url: str) -> None:
    """An order assigned to DRIVER, so the sandbox knows the driver the positions are for."""
    async with httpx.AsyncClient(base_url=url, trust_env=False) as http:
        merchant = await _token(http, "sandbox-merchant", "sandbox-merchant-secret")
        created = await http.post(
            "/services/create_task",
            headers=merchant,
            json={
                "title": "kill test",
                "customer": {"name": "Customer", "phone": "+358401234567"},
                "way_points": [{"lat": 60.17, "lng": 24.94}, {"lat": 60.169, "lng": 24.95}],
            },
        )
        task_id = created.json()["task"]["id"]
        fleet = await _token(http, "sandbox-fleet", "sandbox-fleet-secret")
        assigned = await http.post(
            "/open_fleet_services/assign_driver",
            headers=fleet,
            json={"task_id": task_id, "user": {"external_id": DRIVER, "name": "Ann"}},
        )
        assert assigned.status_code == 200, assigned.text


async def admin(url: str, path: str, body: dict[str, Any]) -> None:
    async with httpx.AsyncClient(base_url=url, trust_env=False) as http:
        assert (await http.post(path, json=body)).status_code == 200


async def driver_view(url: str) -> dict[str, Any]:
    async with httpx.AsyncClient(base_url=url, trust_env=False) as http:
        state = (await http.get("/_sandbox/state")).json()
    return next(d for d in state["drivers"] if d["external_id"] == DRIVER)  # type: ignore[no-any-return]


@asynccontextmanager
async def bridge_process(
    config: Path,
    outbox: Path,
    url: str,
    *,
    secret: str = "sandbox-fleet-secret",
    log: list[dict[str, Any]] | None = None,
    more_devices: tuple[str, ...] = (),
) -> AsyncIterator[tuple[anyio.abc.Process, str]]:
    """The bridge as a child process; yields it and its input URL once it listens. Its JSON log
    events are appended to `log` as they come."""
    command = [
        sys.executable, "-m", "driver_agent", "bridge", "--config", str(config),
        "--api-url", url, "--client-id", "sandbox-fleet", "--listen-port", "0",
        "--webhook-port", "0", "--device-map", f"van-1={DRIVER}", "--outbox", str(outbox),
    ]  # fmt: skip
    for device in more_devices:
        command += ["--device-map", f"{device}=drv-{device}"]
    env = {**os.environ, "DRIVER_AGENT_CLIENT_SECRET": secret}
    events = log if log is not None else []
    process = await anyio.open_process(command, env=env, stdout=None, stderr=-1)
    assert process.stderr is not None
    lines = TextReceiveStream(process.stderr)
    try:
        async with anyio.create_task_group() as tg:
            buffer = ""
            input_url = ""
            with anyio.fail_after(20):
                async for chunk in lines:
                    buffer += chunk
                    *done, buffer = buffer.split("\n")
                    for line in done:
                        event = json.loads(line) if line.startswith("{") else {}
                        events.append(event)
                        if event.get("event") == "bridge_listening":
                            input_url = event["input_url"]
                    if input_url:
                        break
            assert input_url, "the bridge did not start"

            async def drain() -> None:
                rest = buffer
                async for chunk in lines:
                    rest += chunk
                    *done, rest = rest.split("\n")
                    events.extend(json.loads(line) for line in done if line.startswith("{"))

            tg.start_soon(drain)
            yield process, input_url
            tg.cancel_scope.cancel()
    finally:
        if process.returncode is None:
            process.kill()
        await process.wait()


async def wait_for_locations(url: str, count: int, timeout_s: float = 20.0) -> None:
    """Until the sandbox counted `count` locations of DRIVER (another process sends them)."""
    with anyio.fail_after(timeout_s):
        while (await driver_view(url))["location_count"] < count:  # noqa: ASYNC110
            await anyio.sleep(0.02)


async def post_positions(input_url: str, times_ms: list[int]) -> list[int]:
    """OsmAnd GETs, in order; returns the times the bridge acknowledged (200)."""
    acked = []
    async with httpx.AsyncClient(base_url=input_url, trust_env=False) as http:
        for k, t_ms in enumerate(times_ms):
            params = {"id": "van-1", "lat": f"{60.16 + k * 1e-4:.6f}", "lon": "24.93"}
            answer = await http.get("/", params={**params, "timestamp": str(t_ms)})
            assert answer.status_code == 200
            acked.append(t_ms)
    return acked


async def test_kill_9_mid_stream_loses_no_acknowledged_position_and_a_restart_sends_them_in_order(
    tmp_path: Path, sandbox_url: str
) -> None:
    config = tmp_path / "bridge.toml"
    config.write_text("[api]\nmax_retries = 0\nbackoff_base_s = 0.05\nbackoff_cap_s = 0.2\n")
    outbox = tmp_path / "outbox.sqlite3"
    await make_driver(sandbox_url)
    t0_ms = 1_900_000_000_000
    times = [t0_ms + k * 5000 for k in range(30)]
    async with bridge_process(config, outbox, sandbox_url) as (process, input_url):
        acked = await post_positions(input_url, times[:10])
        await wait_for_locations(sandbox_url, 10)  # the API is up: these go out as they come
        await admin(sandbox_url, "/_sandbox/faults", {"status": 503, "duration_s": 3600})
        acked += await post_positions(input_url, times[10:])
        process.send_signal(signal.SIGKILL)
        with pytest.raises(httpx.TransportError):
            await post_positions(input_url, [t0_ms + 999_000])
        await process.wait()
    assert (await driver_view(sandbox_url))["location_count"] == 10
    await admin(sandbox_url, "/_sandbox/faults", {"clear": True})
    async with bridge_process(config, outbox, sandbox_url) as (process, _):
        await wait_for_locations(sandbox_url, len(acked))
        process.send_signal(signal.SIGTERM)
        with anyio.fail_after(20):
            assert await process.wait() == 0
    driver = await driver_view(sandbox_url)
    assert driver["location_count"] == len(acked) == 30
    assert driver["out_of_order"] == 0
    assert driver["last_fix"]["reported_time"] == acked[-1]


async def test_kill_9_right_after_a_burst_of_200s_finds_every_answered_position_in_the_outbox(
    tmp_path: Path, sandbox_url: str
) -> None:
    """Group commit keeps the promise: 16 devices post at once (their positions share commits);
    the moment the last 200 arrives the bridge is killed; the file holds every answered one."""
    config = tmp_path / "bridge.toml"
    config.write_text("[api]\nmax_retries = 0\nbackoff_base_s = 0.05\nbackoff_cap_s = 0.2\n")
    outbox = tmp_path / "outbox.sqlite3"
    devices = tuple(f"van-{k}" for k in range(2, 18))
    await admin(sandbox_url, "/_sandbox/faults", {"status": 503, "duration_s": 3600})
    t0_ms = 1_900_000_000_000
    answered: dict[str, list[int]] = {device: [] for device in devices}

    async def burst(http: httpx.AsyncClient, device: str) -> None:
        for k in range(12):
            t_ms = t0_ms + k * 1000
            params = {"id": device, "lat": f"{60.16 + k * 1e-4:.6f}", "lon": "24.93"}
            answer = await http.get("/", params={**params, "timestamp": str(t_ms)})
            assert answer.status_code == 200
            answered[device].append(t_ms)

    async with bridge_process(config, outbox, sandbox_url, more_devices=devices) as (
        process,
        input_url,
    ):
        limits = httpx.Limits(max_connections=len(devices))
        async with httpx.AsyncClient(base_url=input_url, trust_env=False, limits=limits) as http:
            async with anyio.create_task_group() as tg:
                for device in devices:
                    tg.start_soon(burst, http, device)
            process.send_signal(signal.SIGKILL)
        await process.wait()
    with Outbox(outbox) as stored:
        for device in devices:
            calls = stored.peek(f"drv-{device}", limit=100)
            assert [c.reported_time_ms for c in calls] == answered[device]
    assert sum(len(times) for times in answered.values()) == 16 * 12


async def test_a_wrong_fleet_secret_is_said_once_turns_healthz_503_and_exits_1(
    tmp_path: Path, sandbox_url: str
) -> None:
    config = tmp_path / "bridge.toml"
    config.write_text("[api]\nmax_retries = 0\nbackoff_base_s = 0.02\nbackoff_cap_s = 0.05\n")
    await make_driver(sandbox_url)
    log: list[dict[str, Any]] = []
    outbox = tmp_path / "outbox.sqlite3"
    times = [1_900_000_000_000 + k * 5000 for k in range(5)]
    async with bridge_process(config, outbox, sandbox_url, secret=WRONG_SECRET, log=log) as (
        process,
        input_url,
    ):
        # positions are still accepted (and kept in the outbox) while the API refuses us
        assert await post_positions(input_url, times) == times
        async with httpx.AsyncClient(base_url=input_url, trust_env=False) as http:
            with anyio.fail_after(10):
                while (health := await http.get("/healthz")).status_code == 200:  # noqa: ASYNC110
                    await anyio.sleep(0.02)
            await anyio.sleep(0.3)  # several more probes of the token endpoint
            metrics = (await http.get("/metrics")).text
        process.send_signal(signal.SIGTERM)
        with anyio.fail_after(20):
            assert await process.wait() == 1
    assert health.status_code == 503
    assert "refused the bridge's credentials" in health.json()["reason"]
    assert health.json()["outbox_depth"] == len(times)
    assert 'errors_total{class="AuthError"}' in metrics
    said = [e for e in log if e.get("event") == "credentials_refused"]
    assert len(said) == 1, said
    assert said[0]["status"] == 401
    assert not [e for e in log if e.get("event") == "call_deferred"]
    assert (await driver_view(sandbox_url))["location_count"] == 0
    # fixed secret: the same outbox goes out, in order
    async with bridge_process(config, outbox, sandbox_url) as (process, _):
        await wait_for_locations(sandbox_url, len(times))
        process.send_signal(signal.SIGTERM)
        with anyio.fail_after(20):
            assert await process.wait() == 0
    assert (await driver_view(sandbox_url))["last_fix"]["reported_time"] == times[-1]
    assert WRONG_SECRET not in json.dumps(log)


@pytest.fixture
def _unconfigured_logs() -> Iterator[None]:
    """`main` configures logging to this test's captured stderr; undo that afterwards."""
    yield
    structlog.reset_defaults()


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["bridge", "--device-map", "van-1"], "DEVICE=VALUE"),
        (["bridge", "--device-map", "van-1=d", "--replay-speed", "0"], "bridge.replay_speed"),
        (["bridge", "--device-map", "van-1=d"], "api.api_url"),
    ],
    ids=["pair-without-equals", "zero-replay-speed", "no-api-url"],
)
@pytest.mark.usefixtures("_unconfigured_logs")
def test_bad_flags_exit_2_naming_the_setting(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    try:
        code = main(argv)
    except SystemExit as exited:  # argparse refuses the flag itself
        code = exited.code  # type: ignore[assignment]
    assert code == 2
    assert message in capsys.readouterr().err


@pytest.mark.usefixtures("_unconfigured_logs")
def test_outbox_files_of_another_worker_count_exit_2_before_anything_listens(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DRIVER_AGENT_CLIENT_SECRET", WRONG_SECRET)
    outbox = tmp_path / "outbox.sqlite3"
    with Outbox(outbox):
        pass  # written by a one-process bridge
    argv = ["bridge", "--api-url", "http://127.0.0.1:9", "--client-id", "fleet",
            "--device-map", "van-1=drv-1",
            "--device-map", "van-2=drv-2", "--outbox", str(outbox), "--workers", "2"]  # fmt: skip
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "bridge.outbox" in err
    assert "written by a bridge with 1 worker(s)" in err
    assert "--workers 1" in err

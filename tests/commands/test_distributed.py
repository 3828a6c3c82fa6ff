"""`driver-agent run --workers 2` on a local Ray cluster against the embedded sandbox: every order
done, the merged counts equal to the sandbox's own; a worker killed mid-run is reported and the
others finish. Real Ray, real worker processes, real HTTP on loopback; the run goes at 200x with
30 s pings, so each test takes about half a minute (most of it Ray starting its workers)."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import anyio
import pytest
from loopback import call_counts, free_port

from driver_agent.commands import preflight, ray_runtime
from driver_agent.commands.distributed import run_distributed
from driver_agent.commands.fleetrun import RunResult, RunStopper
from driver_agent.commands.head import Head
from driver_agent.core.clock import wall_time_s
from driver_agent.core.config import Config, load_config
from driver_agent.core.errors import ConfigError
from driver_agent.geo.roads import RoadNetwork
from driver_agent.sandbox.app import SandboxApp
from driver_agent.sim.routebook import load_routes

pytestmark = pytest.mark.timeout(240)


@pytest.fixture(scope="module")
def ray() -> Iterator[ModuleType]:
    module = ray_runtime.import_ray()
    config = load_config(overrides={"distributed.workers": 2})
    ray_runtime.start(module, config.distributed)
    yield module
    ray_runtime.stop(module)


def distributed_config(tmp_path: Path, **extra: object) -> Config:
    return load_config(
        overrides={
            "run.drivers": 40,
            "run.orders": 80,
            "run.seed": 5,
            "run.speed": 200.0,
            "driver.ping_interval_s": 30.0,
            "run.report_dir": str(tmp_path / "report"),
            "run.ramp_up_per_s": 400.0,
            "distributed.workers": 2,
            **extra,
        }
    )


async def run(
    config: Config, ray: ModuleType, on_head: Any = None
) -> tuple[RunResult, SandboxApp, dict[str, Any]]:
    network = RoadNetwork.load(config.run.road_network)
    apps: list[SandboxApp] = []
    urls: list[str] = []

    def on_sandbox(app: SandboxApp, url: str) -> None:
        apps.append(app)
        urls.append(url)

    result = await run_distributed(
        config, network, load_routes(()), ray, "127.0.0.1", stopper=RunStopper(),
        show_progress=False, on_sandbox=on_sandbox, on_head=on_head,
    )  # fmt: skip
    assert result.api_url == urls[0]  # the API the run called: the embedded sandbox's
    report = json.loads(result.json_path.read_text())
    return result, apps[0], report


async def test_two_workers_drive_every_order_and_the_merged_counts_are_the_sandboxs(
    tmp_path: Path, ray: ModuleType
) -> None:
    result, sandbox, report = await run(distributed_config(tmp_path), ray)
    state = sandbox.state.snapshot(wall_time_s())
    assert len(state["orders"]) == 80
    assert {o["status_name"] for o in state["orders"]} == {"done"}
    assert result.outcomes == {"completed": 80}
    assert result.exit_code == 0
    # the merged statistics count what the sandbox counted, endpoint by endpoint
    ours, theirs = call_counts(report, state)
    assert ours == theirs
    assert all(d["gaps_over_30s"] == 0 for d in state["drivers"])
    assert report["stats"]["totals"]["gaps_over_limit"] == 0
    assert report["stats"]["totals"]["drivers"] == 40
    # one row per worker, each with its own process and half the drivers; the rows add up
    workers = report["workers"]
    assert [w["index"] for w in workers] == [0, 1]
    assert {w["state"] for w in workers} == {"finished"}
    assert [w["drivers"] for w in workers] == [20, 20]
    assert len({w["pid"] for w in workers} | {os.getpid()}) == 3
    assert sum(w["requests"] for w in workers) == report["totals"]["requests"]
    assert sum(w["orders"].get("completed", 0) for w in workers) == 80
    assert all(w["cpu_s"] > 0 for w in workers)
    assert "Workers" in result.html_path.read_text()


async def run_and_kill_worker_one(
    tmp_path: Path, ray: ModuleType, **extra: object
) -> tuple[RunResult, SandboxApp, dict[str, Any]]:
    """A run whose worker 1 is killed (SIGKILL) once the head saw it finish 5 orders."""
    heads: list[Head] = []
    started = anyio.Event()

    def on_head(head: Head) -> None:
        heads.append(head)
        started.set()

    async def kill_worker_one_once_it_has_finished_orders() -> None:
        await started.wait()
        worker = heads[0].workers[1]
        while True:  # the head's own poll of the worker says how far it got
            if worker.status.orders_final >= 5:
                break
            await anyio.sleep(0.05)
        os.kill(worker.pid, signal.SIGKILL)

    async with anyio.create_task_group() as tg:
        tg.start_soon(kill_worker_one_once_it_has_finished_orders)
        outcome = await run(distributed_config(tmp_path, **extra), ray, on_head)
        tg.cancel_scope.cancel()  # (it has killed by then: 40 orders per worker)
    return outcome


async def test_a_worker_killed_mid_run_is_reported_and_the_others_finish(
    tmp_path: Path, ray: ModuleType
) -> None:
    result, sandbox, report = await run_and_kill_worker_one(tmp_path, ray)
    dead, alive = report["workers"][1], report["workers"][0]
    assert dead["state"] == "died"
    assert "died" in dead["cause"].lower() or "actor" in dead["cause"].lower()
    assert dead["orders_interrupted"] >= 1
    assert alive["state"] == "finished"
    # every order is accounted for: done by a worker, or interrupted with the dead one
    outcomes = result.outcomes
    assert outcomes["interrupted"] == dead["orders_interrupted"]
    assert sum(outcomes.values()) == 80
    assert outcomes["completed"] >= 40
    assert result.exit_code == 1  # interrupted orders fail the run, as in one process
    orders = sandbox.state.snapshot(wall_time_s())["orders"]
    done = [o for o in orders if o["status_name"] == "done"]
    # the dead worker may have finished an order after its last summary (polled every 0.25 s):
    # the API has it done, the run counts it interrupted; never the other way round
    assert outcomes["completed"] <= len(done) <= outcomes["completed"] + outcomes["interrupted"]


def test_without_ray_the_run_says_how_to_install_it(tmp_path: Path) -> None:
    """A Python where `import ray` fails: one line naming the extra, exit 2, before the run."""
    blocker = tmp_path / "ray.py"
    blocker.write_text("raise ImportError('not installed')\n")
    env = {**os.environ, "PYTHONPATH": f"{tmp_path}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    done = subprocess.run(
        [sys.executable, "-m", "driver_agent", "run", "--workers", "2", "--report",
         str(tmp_path / "r")],
        capture_output=True, text=True, env=env, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        "driver-agent: error: distributed.workers: needs Ray, which is not installed here: "
        "pip install 'driver-agent[ray]'"
    ]
    assert not (tmp_path / "r").exists()


def start_run(tmp_path: Path, *flags: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "driver_agent", "run", "--workers", "2", "--drivers", "20",
         "--orders", "400", "--speed", "200", "--ping-interval", "30", "--seed", "9",
         "--report", str(tmp_path / "report"), "--quiet", "--summary-json", *flags],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip


def wait_for_lines(process: subprocess.Popen[str], text: str, count: int = 1) -> None:
    """Read the run's log until `count` lines hold `text`."""
    assert process.stderr is not None
    seen: list[str] = []
    for line in process.stderr:
        seen.append(line)
        count -= text in line
        if count <= 0:
            return
    raise AssertionError(f"the run ended before {text!r} was logged:\n" + "".join(seen))


def test_sigint_stops_every_worker_gracefully_and_writes_the_report(tmp_path: Path) -> None:
    process = start_run(tmp_path)
    wait_for_lines(process, "order_finished", 3)
    process.send_signal(signal.SIGINT)
    out, err = process.communicate(timeout=120)
    assert process.returncode == 1, err[-3000:]  # orders not started: the run did not finish
    summary = json.loads(out.strip().splitlines()[-1])
    report = json.loads((tmp_path / "report" / "report.json").read_text())
    assert [w["state"] for w in report["workers"]] == ["finished", "finished"]
    # graceful: the orders in hand were finished, none was interrupted; the rest not started
    outcomes = [w["orders"] for w in report["workers"]]
    assert all("interrupted" not in o for o in outcomes)
    assert summary["orders"]["completed"] == sum(o.get("completed", 0) for o in outcomes) >= 3
    assert sum(o.get("not_started", 0) for o in outcomes) > 0


def test_a_second_sigint_stops_every_worker_at_once(tmp_path: Path) -> None:
    process = start_run(tmp_path, "--rate", "0")
    wait_for_lines(process, "order_finished", 3)
    process.send_signal(signal.SIGINT)
    wait_for_lines(process, "graceful")  # the head took the first one
    process.send_signal(signal.SIGINT)
    out, err = process.communicate(timeout=60)
    assert process.returncode == 1, err[-3000:]
    summary = json.loads(out.strip().splitlines()[-1])
    report = json.loads((tmp_path / "report" / "report.json").read_text())
    assert [w["state"] for w in report["workers"]] == ["stopped", "stopped"]
    # the orders in hand were cut off: each worker counts them as interrupted
    assert sum(w["orders"].get("interrupted", 0) for w in report["workers"]) >= 1
    assert summary["exit_code"] == 1


def test_the_live_map_is_refused_before_a_distributed_run() -> None:
    config = load_config(overrides={"distributed.workers": 2, "run.live_map": True})
    with pytest.raises(ConfigError, match=r"run\.live_map: not available in a run split"):
        preflight.check_run(config, embedded=True)


def test_more_workers_than_drivers_is_refused() -> None:
    with pytest.raises(ConfigError, match=r"distributed\.workers: must be <= run\.drivers \(3\)"):
        load_config(overrides={"distributed.workers": 4, "run.drivers": 3})


# a user's cluster with Ray's token authentication, which every process joining it must use
TOKEN_AUTH = {**os.environ, "RAY_AUTH_MODE": "token"}


@pytest.fixture
def ray_cluster() -> Iterator[str]:
    """A Ray cluster of its own (`ray start --head --block`, 2 CPUs, on loopback, token
    authentication), as a user's would be; its address."""
    port = free_port()
    temp = tempfile.mkdtemp(prefix="ray-")  # short: Ray's socket paths must fit 107 bytes
    ray_bin = Path(sys.executable).parent / "ray"
    process = subprocess.Popen(
        [str(ray_bin), "start", "--head", "--block", "--num-cpus", "2", "--port", str(port),
         "--node-ip-address", "127.0.0.1", "--include-dashboard", "false",
         "--disable-usage-stats", "--temp-dir", temp],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=TOKEN_AUTH,
    )  # fmt: skip
    try:
        yield f"127.0.0.1:{port}"
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=60)
        shutil.rmtree(temp, ignore_errors=True)


def test_a_run_joins_an_existing_ray_cluster_within_its_cpus(
    tmp_path: Path, ray_cluster: str
) -> None:
    def run_on_cluster(workers: int, report: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "driver_agent", "run", "--ray-address", ray_cluster,
             "--workers", str(workers), "--drivers", "6", "--orders", "6", "--speed", "300",
             "--ping-interval", "30", "--quiet", "--summary-json", "--report",
             str(tmp_path / report)],
            capture_output=True, text=True, timeout=120, check=False, env=TOKEN_AUTH,
        )  # fmt: skip

    done = run_on_cluster(2, "joined")
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads((tmp_path / "joined" / "report.json").read_text())
    assert [w["state"] for w in report["workers"]] == ["finished", "finished"]
    assert report["totals"]["orders_done"] == 6
    refused = run_on_cluster(3, "too-many")
    assert refused.returncode == 2
    assert "distributed.workers: the Ray cluster at" in refused.stderr
    assert "has 2 CPU(s) and each worker takes one: at most 2, got 3" in refused.stderr


async def test_under_fail_fast_a_dead_worker_stops_every_worker_at_once(
    tmp_path: Path, ray: ModuleType
) -> None:
    result, _, report = await run_and_kill_worker_one(tmp_path, ray, **{"run.fail_fast": True})
    assert [w["state"] for w in report["workers"]] == ["stopped", "died"]
    assert result.exit_code == 1
    assert result.outcomes.get("completed", 0) < 80  # it did not go on to the end
    assert report["workers"][0]["orders"].get("interrupted", 0) >= 1  # cut off at once

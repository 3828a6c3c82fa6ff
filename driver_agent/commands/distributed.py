"""`driver-agent run --workers N`: one run split across Ray workers, one report.

The head (this process) keeps what there is one of: the webhook receiver Bringg posts to, the
embedded sandbox (embedded mode), the run's own orders, the router, the live status line and the
report. Each worker is a Ray actor running one shard of the fleet (`commands.shard`). The head
routes each Delivery Created to a shard as it arrives (`sim.shardrouting`: the shard of the
nearest idle driver over the shards' summaries, polled every `POLL_EVERY_S`), and each update or
cancellation to the shard holding the order. When every expected order has ended (or on a stop),
it stops the shards, merges their statistics exactly (`metrics.stats_merge`) and writes the one
report, with a row per worker.

Faults: a worker that dies is reported with the cause; the orders it held count as interrupted
and the run goes on with the others (under `run.fail_fast` every worker stops at once). The
first SIGINT stops every worker gracefully (the report is still written), a second one at once.
"""

from __future__ import annotations

import signal
import sys
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import TextIO

import anyio
import msgspec
import structlog

from driver_agent.commands import ray_runtime
from driver_agent.commands.fleetrun import RunResult, RunStopper, new_run_id
from driver_agent.commands.head import Head, Worker
from driver_agent.commands.merchant_orders import create_orders
from driver_agent.commands.preflight import own_fleet_urls
from driver_agent.commands.runreport import build_run_report
from driver_agent.commands.runservices import open_run_services
from driver_agent.commands.shard import Shard, ShardStatus, shard_plans
from driver_agent.core.clock import RealClock, wall_time_s
from driver_agent.core.config import Config
from driver_agent.geo.roads import RoadNetwork
from driver_agent.metrics.stats_merge import merge
from driver_agent.report.document import write_report
from driver_agent.report.progress import ProgressView
from driver_agent.report.recorder import TrackRecorder
from driver_agent.sandbox.app import SandboxApp
from driver_agent.sim.routebook import RouteBook

log = structlog.get_logger("driver_agent.distributed")
FORCED_STOP_GRACE_S = 10.0  # a worker that does not answer a forced stop by then is killed


def execute(
    config: Config, network: RoadNetwork, routes: RouteBook, show_progress: bool
) -> RunResult:
    """The distributed run, from Ray's start to the written report."""
    ray = ray_runtime.import_ray()
    host = ray_runtime.start(ray, config.distributed)
    try:
        return anyio.run(_main, config, network, routes, ray, host, show_progress)
    finally:
        ray_runtime.stop(ray)


async def _main(
    config: Config,
    network: RoadNetwork,
    routes: RouteBook,
    ray: ModuleType,
    host: str,
    show_progress: bool,
    out: TextIO | None = None,
) -> RunResult:
    stopper = RunStopper()
    async with anyio.create_task_group() as tg:
        tg.start_soon(_signals, stopper)
        result = await run_distributed(
            config, network, routes, ray, host, stopper=stopper, show_progress=show_progress,
            out=out,
        )  # fmt: skip
        tg.cancel_scope.cancel()
    return result


async def _signals(stopper: RunStopper) -> None:
    with anyio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
        async for _ in signals:
            stopper.stop()


async def run_distributed(
    config: Config,
    network: RoadNetwork,
    routes: RouteBook,
    ray: ModuleType,
    host: str,
    *,
    stopper: RunStopper,
    show_progress: bool = True,
    out: TextIO | None = None,
    on_sandbox: Callable[[SandboxApp, str], None] | None = None,
    on_head: Callable[[Head], None] | None = None,
) -> RunResult:
    """The run to its report. `on_sandbox` and `on_head` let tests read the embedded sandbox and
    the head (its workers) while it runs."""
    if not config.run.run_id:
        config = msgspec.structs.replace(
            config, run=msgspec.structs.replace(config.run, run_id=new_run_id())
        )
    workers_n = config.distributed.workers
    clock = RealClock(speed=config.run.speed)
    started_ms, started_real = clock.now_ms(), clock.monotonic()
    origin_wall, origin_sim = wall_time_s(), clock.now()
    log.info("run_started", run_id=config.run.run_id, seed=config.run.seed, workers=workers_n)
    opened = open_run_services(config, clock, network, on_sandbox=on_sandbox, listen_host=host)
    async with opened as services:
        api = services.api
        if services.embedded and host != "127.0.0.1":
            # workers on other machines call the embedded sandbox (plain HTTP, no real
            # credentials) at the head's address
            api = msgspec.structs.replace(api, allow_insecure_http=True)
        own_urls = own_fleet_urls(config, services.sandbox_paths, api.api_url)
        log_format, log_level = ray_runtime.worker_logging(config, out or sys.stderr)
        plans = shard_plans(
            config, api, own_urls, workers_n, origin_wall, origin_sim, log_format, log_level
        )
        actor_class = ray.remote(num_cpus=1, max_restarts=0)(Shard)
        workers = [
            Worker(p.index, actor_class.remote(p), p.count, ShardStatus(p.index)) for p in plans
        ]
        head = Head(config, workers, ray, hold=services.embedded)
        for worker in workers:
            worker.node, worker.pid = await worker.actor.where.remote()
            log.info("worker_started", worker=worker.index, node=worker.node, pid=worker.pid)
        if on_head is not None:
            on_head(head)
        view = ProgressView(
            head, None, clock, out or sys.stderr, started_real,
            live=head.live, workers=head.workers_text,
        )  # fmt: skip
        try:
            async with anyio.create_task_group() as tg:
                for worker in workers:
                    tg.start_soon(head.watch, worker, worker.actor.run.remote())
                if services.embedded or config.merchant.client_id:
                    tg.start_soon(
                        create_orders, config, api, clock, network, routes.routes, head.expect
                    )
                tg.start_soon(head.consume, services.receiver.receive_stream)
                tg.start_soon(head.poll_forever, clock)
                tg.start_soon(_stop_on_signal, stopper, head)
                if config.run.duration_s > 0:
                    tg.start_soon(_stop_after, clock, config.run.duration_s, head)
                if show_progress:
                    tg.start_soon(view.run)
                await head.finished.wait()
                tg.cancel_scope.cancel()
        finally:
            view.finish()
    return _result(
        config, clock, network, head, services.embedded, started_ms, started_real, api.api_url
    )


async def _stop_on_signal(stopper: RunStopper, head: Head) -> None:
    await stopper.graceful.wait()
    log.warning("stop_requested", mode="graceful")
    head.stop()
    if not stopper.forced:
        with anyio.CancelScope() as stopper.scope:  # a second signal cancels it
            await anyio.sleep_forever()
    log.warning("stop_requested", mode="now")
    head.stop(forced=True)
    await anyio.sleep(FORCED_STOP_GRACE_S)
    for worker in head.workers:
        if worker.state == "running":
            head.ray.kill(worker.actor)


async def _stop_after(clock: RealClock, duration_s: float, head: Head) -> None:
    await clock.sleep_real(duration_s)
    log.info("duration_reached", duration_s=duration_s)
    head.stop()


def _result(
    config: Config,
    clock: RealClock,
    network: RoadNetwork,
    head: Head,
    embedded: bool,
    started_ms: int,
    started_real: float,
    api_url: str,
) -> RunResult:
    results = [w.result for w in head.workers if w.result is not None]
    stats = merge([r.stats for r in results])
    recorder = TrackRecorder()
    for result in results:
        recorder.merge(result.recorder)
    progress = head.progress()
    report = build_run_report(
        config, clock, stats, recorder, network,
        embedded=embedded, started_ms=started_ms, started_real=started_real,
        drivers=progress.drivers_started, relocations=progress.relocations,
        workers=head.rows(),
    )  # fmt: skip
    json_path, html_path = write_report(report, Path(config.run.report_dir))
    return RunResult(
        report, json_path, html_path, config.run.orders, dict(progress.outcomes),
        progress.driver_errors, api_url,
    )  # fmt: skip

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
from collections.abc import AsyncIterable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any, TextIO

import anyio
import msgspec
import structlog

from driver_agent.commands import ray_runtime
from driver_agent.commands.fleetrun import RunResult, RunStopper, new_run_id
from driver_agent.commands.merchant_orders import create_orders
from driver_agent.commands.preflight import own_fleet_urls
from driver_agent.commands.runreport import build_run_report
from driver_agent.commands.runservices import open_run_services
from driver_agent.commands.shard import Shard, ShardResult, ShardStatus, shard_plans
from driver_agent.core.clock import RealClock, wall_time_s
from driver_agent.core.config import Config
from driver_agent.core.redaction import redact_text
from driver_agent.fleetapi.webhook_payloads import (
    DeliveryCancelled,
    DeliveryCreated,
    DeliveryUpdated,
    WebhookEvent,
)
from driver_agent.geo.roads import RoadNetwork
from driver_agent.metrics.histogram import Histogram
from driver_agent.metrics.stats_merge import merge
from driver_agent.report.document import write_report
from driver_agent.report.progress import LiveCalls, ProgressView
from driver_agent.report.recorder import TrackRecorder
from driver_agent.report.run import WorkerRow
from driver_agent.sandbox.app import SandboxApp
from driver_agent.sim.fleet import FleetProgress
from driver_agent.sim.routebook import RouteBook
from driver_agent.sim.shardrouting import ShardRouter

log = structlog.get_logger("driver_agent.distributed")
POLL_EVERY_S = 0.25  # the shards' idle drivers and outcomes; live figures every 4th poll
FORCED_STOP_GRACE_S = 10.0  # a worker that does not answer a forced stop by then is killed


@dataclass
class Worker:
    """The head's view of one worker."""

    index: int
    actor: Any  # the Ray actor handle
    drivers: int
    status: ShardStatus
    node: str = ""
    pid: int = 0
    result: ShardResult | None = None
    state: str = "running"  # running, finished, stopped, died
    cause: str = ""
    interrupted: int = 0
    done: anyio.Event = field(default_factory=anyio.Event)


class Head:
    def __init__(self, config: Config, workers: list[Worker], ray: ModuleType) -> None:
        self.config = config
        self.workers = workers
        self.ray = ray
        self.router = ShardRouter(len(workers))
        expected = config.run.orders
        self.expected: int | None = expected if expected > 0 else None
        self.seen: set[int] = set()
        self.unroutable = 0  # orders that arrived when every worker was dead
        self.stopping = False
        self.forced = False
        self.finished = anyio.Event()

    # ---- orders in ----------------------------------------------------------------------------

    def expect(self, orders: int) -> None:
        """Embedded mode: the run waits for the orders actually created."""
        self.expected = orders
        self._check_finished()

    async def consume(self, events: AsyncIterable[WebhookEvent]) -> None:
        async for event in events:
            if isinstance(event, DeliveryCreated):
                self._created(event)
            elif isinstance(event, DeliveryUpdated | DeliveryCancelled):
                shard = self.router.holder(event.task_id)
                if shard is not None and self.workers[shard].state == "running":
                    self.workers[shard].actor.deliver.remote([event])
            else:
                log.info("webhook_ignored", kind=type(event).__name__)

    def _created(self, event: DeliveryCreated) -> None:
        task_id = event.order.task_id
        if task_id in self.seen or self.stopping:
            return
        self.seen.add(task_id)
        shard = self.router.route(event.order)
        if shard is None:
            self.unroutable += 1
            self._check_finished()
            return
        self.workers[shard].actor.deliver.remote([event])

    # ---- the shards' summaries ----------------------------------------------------------------

    async def poll_forever(self, clock: RealClock) -> None:
        n = 0
        while True:
            live = n % 4 == 0
            n += 1
            async with anyio.create_task_group() as tg:
                for worker in self.workers:
                    if worker.state == "running":
                        tg.start_soon(self._poll, worker, live)
            self._check_finished()
            await clock.sleep_real(POLL_EVERY_S)

    async def _poll(self, worker: Worker, live: bool) -> None:
        try:
            status: ShardStatus = await worker.actor.poll.remote(live)
        except self.ray.exceptions.RayError:
            return  # the worker's watcher reports why
        if worker.state != "running":
            return
        for driver_id in status.busy:
            self.router.busy(driver_id)
        for driver_id, lat, lng in status.idle:
            self.router.idle(worker.index, driver_id, lat, lng)
        if status.progress is not None:
            self.router.ended(worker.index, status.progress.orders_final)
        if not live:  # keep the last live figures
            last = worker.status
            status.calls, status.errors, status.pings = last.calls, last.errors, last.pings
            status.worst_gap_s, status.latency_ms = last.worst_gap_s, last.latency_ms
        worker.status = status

    # ---- the workers' ends --------------------------------------------------------------------

    async def watch(self, worker: Worker, run_ref: Any) -> None:
        """Wait for a worker's result; a worker that died is reported and its orders counted."""
        try:
            result: ShardResult = await run_ref
        except self.ray.exceptions.RayError as exc:
            self._died(worker, exc)
        else:
            worker.result = result
            worker.state = "stopped" if result.forced else "finished"
            self.router.ended(worker.index, result.progress.orders_final)
        finally:
            worker.done.set()
            self._check_finished()

    def _died(self, worker: Worker, exc: BaseException) -> None:
        worker.state = "died"
        worker.cause = redact_text(_first_line(exc))
        worker.interrupted = self.router.shard_died(worker.index)
        log.error(
            "worker_died", worker=worker.index, cause=worker.cause, interrupted=worker.interrupted
        )
        if self.config.run.fail_fast:
            self.stop(forced=True)

    # ---- stopping -----------------------------------------------------------------------------

    def stop(self, forced: bool = False) -> None:
        """Graceful: no new orders; every worker finishes (or cancels) what it holds. Forced:
        every worker stops at once."""
        first = not self.stopping
        self.stopping = True
        self.forced = self.forced or forced
        if first or forced:
            for worker in self.workers:
                if worker.state == "running":
                    worker.actor.stop.remote(forced)
        self._check_finished()

    def _check_finished(self) -> None:
        ended = sum(self.router.final) + self.unroutable
        ended += sum(w.interrupted for w in self.workers)
        if not self.stopping and self.expected is not None and ended >= self.expected:
            log.info("orders_all_ended", orders=ended)
            self.stop()
        if all(w.state != "running" for w in self.workers) and not self.stopping:
            log.error("no_worker_left")
            self.stop()
        if self.stopping and all(w.done.is_set() for w in self.workers):
            self.finished.set()

    # ---- what the status line shows -----------------------------------------------------------

    def progress(self) -> FleetProgress:
        outcomes: dict[str, int] = {}
        started = busy = errors = relocations = 0
        for worker in self.workers:
            p = worker.result.progress if worker.result else worker.status.progress
            if p is None:
                continue
            for outcome, n in p.outcomes.items():
                outcomes[outcome] = outcomes.get(outcome, 0) + n
            started += p.drivers_started
            busy += p.drivers_busy if worker.state == "running" else 0
            errors += p.driver_errors
            relocations += p.relocations
        interrupted = sum(w.interrupted for w in self.workers)
        if interrupted:
            outcomes["interrupted"] = outcomes.get("interrupted", 0) + interrupted
        if self.unroutable:
            outcomes["not_started"] = outcomes.get("not_started", 0) + self.unroutable
        return FleetProgress(
            orders_seen=len(self.seen), orders_final=sum(outcomes.values()),
            orders_expected=self.expected, drivers_started=started, drivers_busy=busy,
            driver_errors=errors, relocations=relocations, outcomes=outcomes,
        )  # fmt: skip

    def live(self) -> LiveCalls:
        by_endpoint: dict[str, Histogram] = {}
        for worker in self.workers:
            for name, histogram in worker.status.latency_ms.items():
                merged = by_endpoint.get(name)
                if merged is None:
                    merged = by_endpoint[name] = Histogram()
                merged.merge(histogram)
        p95 = max((h.percentile(95.0) for h in by_endpoint.values() if h.count), default=0.0)
        return LiveCalls(
            calls=sum(w.status.calls for w in self.workers),
            errors=sum(w.status.errors for w in self.workers),
            p95_ms=p95,
            worst_gap_s=max((w.status.worst_gap_s for w in self.workers), default=0.0),
        )

    def workers_text(self) -> str:
        parts = []
        for worker in self.workers:
            p = worker.status.progress
            done = p.outcomes.get("completed", 0) if p else 0
            parts.append(
                f"w{worker.index} {worker.state if worker.state != 'running' else ''}"
                f"{done} done, busy {p.drivers_busy if p else 0}/{worker.drivers}".replace(
                    "  ", " "
                )
            )
        return " · ".join(parts)

    def rows(self) -> list[WorkerRow]:
        rows = []
        for worker in self.workers:
            result = worker.result
            stats = result.stats.statistics() if result else None
            progress = result.progress if result else worker.status.progress
            rows.append(
                WorkerRow(
                    index=worker.index,
                    node=result.node if result else worker.node,
                    pid=result.pid if result else worker.pid,
                    drivers=worker.drivers,
                    outcomes=dict(progress.outcomes) if progress else {},
                    requests=stats.totals.calls if stats else worker.status.calls,
                    errors=stats.totals.errors if stats else worker.status.errors,
                    pings=stats.totals.pings if stats else worker.status.pings,
                    gaps_over_limit=stats.totals.gaps_over_limit if stats else 0,
                    lateness_p99_ms=stats.ping_lateness_ms.p99 if stats else 0.0,
                    cpu_s=result.cpu_s if result else 0.0,
                    state=worker.state,
                    cause=worker.cause,
                    interrupted=worker.interrupted,
                )
            )
        return rows


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
        own_urls = own_fleet_urls(config, services.sandbox_paths, api.api_url)
        plans = shard_plans(config, api, own_urls, workers_n, origin_wall, origin_sim)
        actor_class = ray.remote(num_cpus=1, max_restarts=0)(Shard)
        workers = [
            Worker(p.index, actor_class.remote(p), p.count, ShardStatus(p.index)) for p in plans
        ]
        head = Head(config, workers, ray)
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
    return _result(config, clock, network, head, services.embedded, started_ms, started_real)


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
        progress.driver_errors, "",
    )  # fmt: skip


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}".strip()

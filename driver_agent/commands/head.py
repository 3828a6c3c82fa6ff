"""The head of a run split across workers: routing, the workers' summaries, stop, the tally.

The head keeps one `Worker` per Ray actor (`commands.shard`), routes each Delivery Created to a
shard with its `ShardRouter` from the summaries it polls every `POLL_EVERY_S`, forwards updates
and cancellations to the shard holding the order, watches each worker's end (a worker that died
is reported with its cause, its orders in hand count as interrupted) and knows when the run is
over: every expected order ended, or a stop and every worker back. Its `progress()`, `live()`
and `workers_text()` feed the status line; `rows()` the report.
"""

from __future__ import annotations

from collections.abc import AsyncIterable
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

import anyio
import structlog

from driver_agent.commands.shard import ShardResult, ShardStatus
from driver_agent.core.clock import RealClock
from driver_agent.core.config import Config
from driver_agent.core.redaction import redact_text
from driver_agent.fleetapi.webhook_payloads import (
    DeliveryCancelled,
    DeliveryCreated,
    DeliveryUpdated,
    WebhookEvent,
)
from driver_agent.metrics.histogram import Histogram
from driver_agent.report.progress import LiveCalls
from driver_agent.report.run import WorkerRow
from driver_agent.sim.fleet import FleetProgress
from driver_agent.sim.shardrouting import ShardRouter

log = structlog.get_logger("driver_agent.distributed")
POLL_EVERY_S = 0.25  # the shards' idle drivers and outcomes; live figures every 4th poll


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
    def __init__(
        self, config: Config, workers: list[Worker], ray: ModuleType, *, hold: bool = False
    ) -> None:
        """`hold` (embedded mode, as one process does): orders wait until every worker has
        started its drivers and told where they are, then go out in task-id order."""
        self.config = config
        self._held: list[DeliveryCreated] | None = [] if hold else None
        self.workers = workers
        self.ray = ray
        self.router = ShardRouter(len(workers))
        expected = config.run.orders
        self.expected: int | None = expected if expected > 0 else None
        self.seen: set[int] = set()
        self.unroutable = 0  # orders no worker got: all dead, or still held at a stop
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
        if self._held is not None:
            self._held.append(event)
            return
        self._route(event)

    def _route(self, event: DeliveryCreated) -> None:
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
            self._release_held()
            self._check_finished()
            await clock.sleep_real(POLL_EVERY_S)

    def _release_held(self) -> None:
        held = self._held
        if held is None:
            return
        for worker in self.workers:
            if worker.state == "running" and worker.status.drivers_started < worker.drivers:
                return  # a worker is still spawning: its drivers are not in the router yet
        self._held = None
        for event in sorted(held, key=lambda e: e.order.task_id):
            self._route(event)

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
        self.router.ended(worker.index, status.orders_final)
        if not live:  # keep the last progress and live figures
            last = worker.status
            status.progress = last.progress
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
        if self._held:
            self.unroutable += len(self._held)  # never reached a worker: not started
        self._held = None
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
            # outcomes from every poll; the rest from the last live one
            ended = worker.result.progress.outcomes if worker.result else worker.status.outcomes
            for outcome, n in ended.items():
                outcomes[outcome] = outcomes.get(outcome, 0) + n
            p = worker.result.progress if worker.result else worker.status.progress
            if p is None:
                continue
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
        """`w0 12 done, busy 10/10 · w1 died 3 done, busy 0/10` for the status line."""
        parts = []
        for worker in self.workers:
            p = worker.status.progress
            state = "" if worker.state == "running" else f"{worker.state} "
            done, busy = (p.outcomes.get("completed", 0), p.drivers_busy) if p else (0, 0)
            parts.append(f"w{worker.index} {state}{done} done, busy {busy}/{worker.drivers}")
        return " · ".join(parts)

    def rows(self) -> list[WorkerRow]:
        rows = []
        for worker in self.workers:
            result = worker.result
            stats = result.stats.statistics() if result else None
            rows.append(
                WorkerRow(
                    index=worker.index,
                    node=result.node if result else worker.node,
                    pid=result.pid if result else worker.pid,
                    drivers=worker.drivers,
                    outcomes=dict(result.progress.outcomes if result else worker.status.outcomes),
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


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}".strip()

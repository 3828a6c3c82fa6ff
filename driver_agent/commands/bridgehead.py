"""`driver-agent bridge --workers N`: the bridge split across Ray workers behind one front door.

The head (this process) keeps what there is one of: the input port every tracker and Traccar
posts to, the webhook receiver Bringg posts to, `/healthz` and `/metrics`, the GPX replays and
the NDJSON feed. Each worker (`commands.bridgeworker`, a Ray actor on the same layer as `run
--workers`) owns a partition of the drivers (`bridge.partition`: a stable hash of the driver
id), their devices, their orders and their own outbox file, and runs the whole bridge for them.

- **Positions**: the head authenticates and parses each input (a bad one gets its 400 here),
  finds the device's worker, and forwards it with every other position bound there that
  arrived while the previous forward ran (a `GroupCommit` per worker: one frame on the
  worker's position channel, `bridge.channel`, and one outbox commit for all of them). The
  sender gets its 200 only when the worker answers that they are on disk; 503 when the worker
  did not (it died, or did not answer within `FORWARD_TIMEOUT_S`): the sender retries, and
  nothing answered 200 is lost.
- **Orders**: each Delivery Created goes to the worker that owns the chosen vehicle: the idle
  driver nearest the pickup over all workers (`sim.shardrouting`, from the idle drivers' last
  positions that the workers report every `POLL_EVERY_S`); with none seen, the worker with most
  idle drivers whose vehicles have not reported yet; with none idle, the worker with the fewest
  orders in hand. Bringg hears "accepted" once that worker stored it. Updates and cancellations
  go to the worker holding the order (all workers when the head does not know it: a worker
  ignores an order it does not hold).
- **Health and metrics**: `/metrics` is every worker's metrics added into the head's (inputs
  are counted at the head, the rest in the workers), plus `workers_up` and
  `worker_restarts_total`; `/healthz` is ok when every worker is running and ok, and lists them.
- **Faults**: a worker whose process dies is restarted by Ray (`max_restarts=-1`) on the same
  node (each worker is pinned to the node it was placed on: its outbox file is there); the head
  runs it again on the same partition and file, which continues the same walks. Its
  inputs get 503 meanwhile. The first SIGINT/SIGTERM stops every worker gracefully (each drains
  its outbox for `drain_timeout_s`); a second one at once (the outboxes are durable either way).
"""

from __future__ import annotations

import functools
import secrets
import sys
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from types import ModuleType
from typing import TYPE_CHECKING, Any

import anyio
import msgspec
import structlog

from driver_agent.bridge.channel import ChannelClient, ChannelError
from driver_agent.bridge.daemon import BridgeSummary, warn_open_doors
from driver_agent.bridge.devicemap import load_device_map
from driver_agent.bridge.feeds import start_feeds
from driver_agent.bridge.groupcommit import Batch, GroupCommit
from driver_agent.bridge.metrics import BridgeMetrics
from driver_agent.bridge.partition import partition_outbox, split_device_map
from driver_agent.bridge.positions import Position, PositionError
from driver_agent.bridge.sources import create_input_app
from driver_agent.commands import ray_runtime
from driver_agent.commands.bridgeworker import BridgeWorker, BridgeWorkerPlan, WorkerPoll
from driver_agent.core.errors import ConfigError, DriverAgentError
from driver_agent.core.serving import serve_app
from driver_agent.fleetapi.webhook_payloads import (
    DeliveryCancelled,
    DeliveryCreated,
    DeliveryUpdated,
    WebhookEvent,
)
from driver_agent.fleetapi.webhooks import WebhookSettings, create_webhook_app
from driver_agent.sim.shardrouting import ShardRouter

if TYPE_CHECKING:
    from anyio.abc import TaskStatus

    from driver_agent.core.clock import Clock
    from driver_agent.core.config import Config
    from driver_agent.core.model import Order

log = structlog.get_logger("driver_agent.bridge.head")

FORWARD_TIMEOUT_S = 10.0  # a worker that has not stored a forward by then: its senders get 503
POLL_EVERY_S = 0.5
POLL_TIMEOUT_S = 5.0
RESTART_PAUSE_S = 0.5


class WorkerUnavailableError(DriverAgentError):
    """A worker did not store the positions forwarded to it (their senders get 503)."""


@dataclass
class WorkerHandle:
    index: int
    actor: Any  # the Ray actor handle
    drivers: int
    devices: int
    outbox: str
    group: GroupCommit[Position] | None = None
    channel: ChannelClient | None = None  # the positions' way in, once the worker runs
    node: str = ""
    pid: int = 0
    up: bool = False
    restarts: int = 0
    status: WorkerPoll | None = None
    unseen_idle: int = 0
    finished_before: int = 0  # orders finished by its earlier processes
    summaries: list[BridgeSummary] = field(default_factory=list)

    @property
    def name(self) -> int:
        return self.index + 1

    @property
    def orders_finished(self) -> int:
        return self.finished_before + (self.status.orders_finished if self.status else 0)


def worker_plans(
    config: Config,
    device_map: dict[str, str],
    log_format: str,
    log_level: str,
    *,
    local: bool = True,
) -> list[BridgeWorkerPlan]:
    """One plan per worker: its part of the device map and its outbox; the head keeps the
    feeds and the end conditions. Every worker must own a driver. The position channels listen
    on loopback (`local`: every worker on this machine) or on every interface of their node."""
    n = config.distributed.workers
    parts = split_device_map(device_map, n)
    drivers = len(set(device_map.values()))
    for k, part in enumerate(parts):
        if not part:
            raise ConfigError(
                "distributed.workers",
                f"{n} workers for {drivers} driver(s): worker {k + 1} would own none (a "
                "driver's worker is a hash of its id); give fewer workers",
            )
    b = config.bridge
    token = secrets.token_hex(16)
    plans = []
    for k, part in enumerate(parts):
        own = msgspec.structs.replace(
            b,
            device_map=part,
            device_map_file="",
            gpx={},
            ndjson="",
            orders=0,
            duration_s=0.0,
            outbox=partition_outbox(b.outbox, k, n),
        )
        plans.append(
            BridgeWorkerPlan(
                k,
                n,
                msgspec.structs.replace(config, bridge=own),
                token,
                "127.0.0.1" if local else "",
                log_format,
                log_level,
            )
        )
    return plans


class BridgeHead:
    """The front door and the workers' supervisor; see the module docstring."""

    def __init__(
        self, config: Config, clock: Clock, ray: ModuleType, plans: list[BridgeWorkerPlan]
    ) -> None:
        self.config = config
        self.settings = b = config.bridge
        self.clock = clock
        self.ray = ray
        # every device's worker, from the workers' own parts of the map
        self.owner = {d: p.index for p in plans for d in p.config.bridge.device_map}
        self.router = ShardRouter(len(plans))
        self.metrics = BridgeMetrics()
        r = self.metrics.registry
        self.workers_up = r.gauge("driver_agent_bridge_workers_up", "Bridge workers running.")
        self.worker_restarts = r.counter(
            "driver_agent_bridge_worker_restarts_total",
            "Bridge worker processes that died and were started again.",
        )
        self.workers: list[WorkerHandle] = []
        self._token = plans[0].channel_token
        self.workers_up.set_function(lambda: float(sum(w.up for w in self.workers)))
        self.webhook_settings = WebhookSettings.from_config(config.webhooks)
        self.input_app = create_input_app(
            self.accept,
            self.metrics,
            health=self.health,
            input_key=b.input_key or None,
            render_metrics=self.render_metrics,
        )
        self.webhook_app = create_webhook_app(self.webhook_settings, self.take, clock=clock)
        self.input_url = ""
        self.webhook_url = ""
        self._stop = anyio.Event()
        self.forced = False

    def start_workers(self, plans: list[BridgeWorkerPlan]) -> None:
        actor_class = self.ray.remote(num_cpus=1, max_restarts=-1, max_task_retries=0)(BridgeWorker)
        placements = ray_runtime.pinned_placements(self.ray, len(plans))
        for plan, placement in zip(plans, placements, strict=True):
            part = plan.config.bridge.device_map
            handle = WorkerHandle(
                plan.index,
                actor_class.options(scheduling_strategy=placement).remote(plan),
                len(set(part.values())),
                len(part),
                plan.config.bridge.outbox,
            )
            handle.group = GroupCommit(
                functools.partial(self._forward, handle),
                lambda: None,
                error=WorkerUnavailableError,
            )
            self.workers.append(handle)

    # -- inputs ---------------------------------------------------------------------------

    def accept(self, position: Position) -> Awaitable[None]:
        """The sink of every source: the position joins its worker's next forward; done once
        the worker has it on disk."""
        k = self.owner.get(position.device_id)
        if k is None:
            raise PositionError(
                "device", f"{position.device_id!r} is not in the bridge's device map"
            )
        group = self.workers[k].group
        assert group is not None
        return group.stored(group.add([position]))

    async def _forward(self, worker: WorkerHandle, batch: Batch[Position]) -> None:
        if not batch.items:
            return
        channel = worker.channel
        if channel is None:
            raise WorkerUnavailableError(f"worker {worker.name} is not running")
        try:
            with anyio.fail_after(FORWARD_TIMEOUT_S):
                error = await channel.store(batch.items)
        except TimeoutError:
            await channel.close()
            raise WorkerUnavailableError(
                f"worker {worker.name} did not store the positions within {FORWARD_TIMEOUT_S:g} s"
            ) from None
        except ChannelError as exc:
            raise WorkerUnavailableError(f"worker {worker.name}: {exc}") from None
        if error is not None:
            raise WorkerUnavailableError(f"worker {worker.name}: {error}")

    async def take(self, event: WebhookEvent) -> bool:
        """A webhook: answered "accepted" once the worker that holds the order stored it."""
        if self.stopping:
            return False  # Bringg retries; the next run takes it
        if isinstance(event, DeliveryCreated):
            k = self._route(event.order)
            if k is None:
                return False
            # the placement stays even when the call fails: the worker may have stored the
            # order before it died or answered late, so Bringg's retry must go there too (a
            # second worker would walk the same order)
            taken = await self._take_at(self.workers[k], event)
            if taken:
                log.info("order_routed", order_id=event.order.task_id, worker=k + 1)
            return taken
        if isinstance(event, (DeliveryUpdated, DeliveryCancelled)):
            holder = self.router.holder(event.task_id)
            targets = self.workers if holder is None else [self.workers[holder]]
            answers = [await self._take_at(w, event) for w in targets]
            return all(answers)
        log.info("webhook_ignored", webhook=type(event).__name__)
        return True

    def _route(self, order: Order) -> int | None:
        known = self.router.holder(order.task_id)
        if known is not None:
            return known
        if self.router.idle_count == 0:
            spare = [w for w in self.workers if w.up and w.unseen_idle > 0]
            if spare:
                best = max(spare, key=lambda w: (w.unseen_idle, -w.index))
                best.unseen_idle -= 1
                self.router.place(order.task_id, best.index)
                return best.index
        return self.router.route(order)

    async def _take_at(self, worker: WorkerHandle, event: WebhookEvent) -> bool:
        try:
            with anyio.fail_after(FORWARD_TIMEOUT_S):
                taken: bool = await worker.actor.take.remote(event)
        except (TimeoutError, self.ray.exceptions.RayError) as exc:
            log.warning("webhook_not_stored", worker=worker.name, error=_first_line(exc))
            return False
        return taken

    # -- health and metrics -----------------------------------------------------------------

    def health(self) -> dict[str, Any]:
        rows: list[dict[str, Any]] = []
        quiet: set[str] = set()
        reason = ""
        for w in self.workers:
            h = w.status.health if (w.up and w.status is not None) else {}
            ok = bool(h.get("ok"))
            quiet.update(h.get("quiet_busy_drivers", ()))
            row: dict[str, Any] = {
                "worker": w.name,
                "ok": ok,
                "node": w.node,
                "pid": w.pid,
                "restarts": w.restarts,
                "drivers": w.drivers,
                "devices": w.devices,
                "outbox": w.outbox,
                "outbox_depth": h.get("outbox_depth", 0),
                "orders_active": h.get("orders_active", 0),
            }
            if not ok:
                why = h.get("reason") or ("not running" if not w.up else "starting")
                row["reason"] = why
                reason = reason or f"worker {w.name}: {why}"
            rows.append(row)
        state: dict[str, Any] = {"ok": not self.stopping and not reason}
        if self.stopping:
            state["reason"] = "stopping"
        elif reason:
            state["reason"] = reason
        return state | {
            "outbox_depth": sum(r["outbox_depth"] for r in rows),
            "orders_active": sum(r["orders_active"] for r in rows),
            "quiet_busy_drivers": sorted(quiet),
            "workers": rows,
        }

    def render_metrics(self) -> str:
        return self.metrics.render([w.status.metrics for w in self.workers if w.status])

    # -- running ----------------------------------------------------------------------------

    def stop(self, *, forced: bool = False) -> None:
        """Graceful: every worker drains its outbox for `drain_timeout_s` and ends; `forced`:
        the workers are killed (nothing answered is lost: it is in their files)."""
        if not self._stop.is_set():
            self._stop.set()
            for w in self.workers:
                if w.up:
                    w.actor.stop.remote()
        if forced and not self.forced:
            self.forced = True
            for w in self.workers:
                self.ray.kill(w.actor, no_restart=True)

    @property
    def stopping(self) -> bool:
        return self._stop.is_set()

    async def run(self, *, task_status: TaskStatus[BridgeHead] = anyio.TASK_STATUS_IGNORED) -> None:
        b, hooks = self.settings, self.webhook_settings
        async with anyio.create_task_group() as tg:
            self.input_url = await tg.start(serve_app, self.input_app, b.listen_host, b.listen_port)
            self.webhook_url = await tg.start(serve_app, self.webhook_app, hooks.host, hooks.port)
            warn_open_doors(self.config)
            async with anyio.create_task_group() as supervised:
                for worker in self.workers:
                    supervised.start_soon(self._supervise, worker)
                    tg.start_soon(self._poll_forever, worker)
                start_feeds(tg, b, self.accept, self.metrics, self.clock)
                if b.duration_s > 0:
                    tg.start_soon(self._stop_after, b.duration_s)
                log.info(
                    "bridge_listening",
                    input_url=self.input_url,
                    webhook_url=self.webhook_url,
                    workers=len(self.workers),
                    devices=len(self.owner),
                )
                task_status.started(self)
            tg.cancel_scope.cancel()  # every worker has ended
        log.info("bridge_stopped", **vars(self.summary()))

    async def _supervise(self, w: WorkerHandle) -> None:
        """Run the worker until it ends; when its process dies, run it again (Ray restarts
        the actor: the same partition, the same outbox file)."""
        while not self.forced:
            try:
                w.node, w.pid = await w.actor.where.remote()
                running = w.actor.run.remote()
                address: tuple[str, int] | None = await w.actor.address.remote()
                if address is not None:
                    host, port = address
                    w.channel = ChannelClient(host, port, self._token)
                    w.up = True
                    self.router.shard_back(w.index)
                    if self.stopping:
                        w.actor.stop.remote()  # the stop may have missed this process
                    log.info(
                        "worker_started", worker=w.name, node=w.node, pid=w.pid, outbox=w.outbox
                    )
                w.summaries.append(await running)
                await self._down(w)
                return
            except self.ray.exceptions.RayError as exc:
                await self._down(w)
                w.finished_before = w.orders_finished
                w.status = None
                self.router.shard_died(w.index)
                if self.forced:
                    return
                w.restarts += 1
                self.worker_restarts.inc()
                log.warning("worker_died", worker=w.name, error=_first_line(exc), restart=True)
                await anyio.sleep(RESTART_PAUSE_S)

    async def _down(self, w: WorkerHandle) -> None:
        w.up = False
        channel, w.channel = w.channel, None
        if channel is not None:
            await channel.close()

    async def _poll_forever(self, w: WorkerHandle) -> None:
        while True:
            if w.up:
                await self._poll(w)
            await anyio.sleep(POLL_EVERY_S)

    async def _poll(self, w: WorkerHandle) -> None:
        try:
            with anyio.fail_after(POLL_TIMEOUT_S):
                status: WorkerPoll = await w.actor.poll.remote()
        except (TimeoutError, self.ray.exceptions.RayError):
            return  # the supervisor hears of a death; a slow poll is retried next time
        if not status.started or not w.up:
            return
        w.status = status
        for driver_id, lat, lng in status.idle:
            self.router.idle(w.index, driver_id, lat, lng)
        for driver_id in status.busy:
            self.router.busy(driver_id)
        w.unseen_idle = status.unseen_idle
        for task_id in status.orders or ():
            self.router.place(task_id, w.index)
        self.router.ended(w.index, w.orders_finished)
        target = self.settings.orders
        finished = sum(x.orders_finished for x in self.workers)
        if target and finished >= target and not self.stopping:
            log.info("orders_target_reached", orders=finished)
            self.stop()

    async def _stop_after(self, duration_s: float) -> None:
        await self.clock.sleep(duration_s)
        log.info("duration_reached", duration_s=duration_s)
        self.stop()

    def summary(self) -> BridgeSummary:
        """Every worker's runs added up (what is left in the outboxes: their last runs')."""
        total = BridgeSummary()
        for w in self.workers:
            for s in w.summaries:
                total.positions_in += s.positions_in
                total.calls_sent += s.calls_sent
                total.calls_refused += s.calls_refused
                total.orders_finished += s.orders_finished
                total.credentials_refused = total.credentials_refused or s.credentials_refused
            if w.summaries:
                last = w.summaries[-1]
                total.left_in_outbox += last.left_in_outbox
                for reason, count in last.dropped.items():
                    total.dropped[reason] = total.dropped.get(reason, 0) + count
        return total


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


async def run_head(
    config: Config,
    clock: Clock,
    *,
    ray: ModuleType,
    plans: list[BridgeWorkerPlan],
    task_status: TaskStatus[BridgeHead] = anyio.TASK_STATUS_IGNORED,
) -> BridgeSummary:
    """Start the workers, serve until stopped, return every worker's runs added up."""
    head = BridgeHead(config, clock, ray, plans)
    head.start_workers(plans)
    await head.run(task_status=task_status)
    return head.summary()


def execute(
    config: Config,
    serve: Callable[[Callable[..., Awaitable[BridgeSummary]]], Awaitable[BridgeSummary | None]],
) -> BridgeSummary | None:
    """The split bridge from Ray's start to its stop: `serve(runner)` is the CLI's signal
    handling around `runner` (one process uses the same one)."""
    ray = ray_runtime.import_ray()
    log_format, log_level = ray_runtime.worker_logging(config, sys.stderr)
    local = not config.distributed.ray_address  # then Ray starts on this machine, on loopback
    plans = worker_plans(
        config, load_device_map(config.bridge), log_format, log_level, local=local
    )  # refused before Ray starts
    ray_runtime.start(ray, config.distributed)
    try:
        runner = functools.partial(run_head, ray=ray, plans=plans)
        return anyio.run(serve, runner)
    finally:
        ray_runtime.stop(ray)

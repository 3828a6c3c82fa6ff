"""One worker of a bridge split across workers: a partition of the fleet in its own process.

`driver-agent bridge --workers N` (`commands.bridgehead`) creates one `BridgeWorker` Ray actor
per partition (`bridge.partition`). Each runs a whole `Bridge` (walker, group commit, its own
outbox file, sender, token, watchdog) for the drivers it owns, without a public port: the head
takes every input and webhook. Positions come on a channel of their own (`bridge.channel`: a
TCP connection from the head, opened with the run's token), each batch answered once the
positions and their calls are in the worker's outbox (the head answers the senders only then:
"acknowledged" still means on disk). Orders come as Ray calls to `take`; `poll()` tells the head
what routing and the one `/metrics` and `/healthz` need.

The actor is restartable: after its process died (`kill -9`), Ray starts it again, the head
calls `run()` again, and the bridge reopens the same file and continues the same walks.
"""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import anyio
import anyio.abc
import structlog

from driver_agent.bridge.channel import serve_connection
from driver_agent.bridge.daemon import Bridge, BridgeSummary, run_bridge
from driver_agent.commands import ray_runtime
from driver_agent.core.clock import RealClock
from driver_agent.core.errors import DriverAgentError
from driver_agent.core.logs import configure_logging

if TYPE_CHECKING:
    from anyio.abc import TaskStatus

    from driver_agent.bridge.metrics import Snapshot
    from driver_agent.bridge.positions import Position
    from driver_agent.core.config import Config
    from driver_agent.fleetapi.webhook_payloads import WebhookEvent

log = structlog.get_logger("driver_agent.bridge.worker")


@dataclass(frozen=True)
class BridgeWorkerPlan:
    index: int
    workers: int
    # its part of the device map, its outbox file; no feeds and no end condition of its own
    config: Config
    channel_token: str  # what the head presents on the position channel
    # where the channel listens: loopback on one machine; empty on a cluster (every interface,
    # the node's address given to the head)
    channel_host: str = "127.0.0.1"
    log_format: str = "json"
    log_level: str = "info"


@dataclass
class WorkerPoll:
    """What the head polls: routing changes since the last poll, and the worker's figures."""

    index: int
    started: bool = False
    idle: list[tuple[str, float, float]] = field(default_factory=list)  # idle, moved since
    busy: list[str] = field(default_factory=list)  # no longer idle since the last poll
    unseen_idle: int = 0  # idle drivers whose vehicle has not reported yet
    orders: list[int] | None = None  # every order it holds: the first poll after a start
    orders_finished: int = 0  # in this process's run
    metrics: Snapshot = field(default_factory=dict)
    health: dict[str, Any] = field(default_factory=dict)


class BridgeWorker:
    def __init__(self, plan: BridgeWorkerPlan) -> None:
        self.plan = plan
        configure_logging(plan.log_level, plan.log_format, fields={"worker": plan.index + 1})
        self._bridge: Bridge | None = None
        self._started: anyio.Event | None = None  # made on the actor's event loop
        self._closed = False
        self._stop_requested = False
        self._reported_idle: dict[str, tuple[float, float]] = {}
        self._orders_told = False
        self._address: tuple[str, int] | None = None

    def where(self) -> tuple[str, int]:
        """(host name, process id)."""
        return socket.gethostname(), os.getpid()

    async def run(self) -> BridgeSummary:
        """The partition's bridge, until the head stops it; its summary."""
        clock = RealClock()
        summary: list[BridgeSummary] = []

        async def bridge_task(*, task_status: TaskStatus[Bridge]) -> None:
            config = self.plan.config
            summary.append(await run_bridge(config, clock, serve=False, task_status=task_status))
            tg.cancel_scope.cancel()  # the channel's listener

        try:
            async with anyio.create_task_group() as tg:
                bridge = await tg.start(bridge_task)
                listener = await anyio.create_tcp_listener(
                    local_host=self.plan.channel_host or "0.0.0.0",
                    local_port=0,
                )
                port = listener.extra(anyio.abc.SocketAttribute.local_port)
                self._address = (self.plan.channel_host or _node_address(), port)
                tg.start_soon(listener.serve, self._serve_channel)
                self._on_started(bridge)
            return summary[0]
        finally:
            self._closed = True
            self._started_event().set()  # nobody waits for a bridge that is gone

    def _on_started(self, bridge: Bridge) -> None:
        self._bridge = bridge
        if self._stop_requested:
            bridge.stop()
        self._started_event().set()
        log.info(
            "worker_ready",
            of=self.plan.workers,
            drivers=len(bridge.walker.drivers),
            devices=len(bridge.walker.device_map),
            outbox=str(bridge.outbox.path),
        )

    def _started_event(self) -> anyio.Event:
        if self._started is None:
            self._started = anyio.Event()
        return self._started

    async def _ready(self) -> Bridge | None:
        await self._started_event().wait()
        return None if self._closed else self._bridge

    async def address(self) -> tuple[str, int] | None:
        """Where the position channel listens, once the bridge runs (None: it ended)."""
        if await self._ready() is None:
            return None
        return self._address

    async def _serve_channel(self, stream: anyio.abc.SocketStream) -> None:
        await serve_connection(stream, self.plan.channel_token, self._store)

    async def _store(self, positions: list[Position]) -> str | None:
        """Store the positions (one group commit, shared with whatever else arrives); None once
        they are on disk, else why not (the head answers their senders 503: they retry)."""
        bridge = await self._ready()
        if bridge is None:
            return f"worker {self.plan.index + 1} has stopped"
        try:
            waits = [bridge.accept(position) for position in positions]
            for stored in waits:
                await stored
        except DriverAgentError as exc:
            return str(exc)
        return None

    async def take(self, event: WebhookEvent) -> bool:
        """A webhook the head routed here; True once it is stored (the head answers Bringg)."""
        bridge = await self._ready()
        return bridge is not None and await bridge.take(event)

    async def poll(self) -> WorkerPoll:
        status = WorkerPoll(self.plan.index)
        bridge = self._bridge
        if bridge is None or self._closed:
            return status
        walker = bridge.walker
        status.started = True
        busy = set(walker.busy_drivers())
        for driver_id in walker.drivers:
            if driver_id in busy:
                if self._reported_idle.pop(driver_id, None) is not None:
                    status.busy.append(driver_id)
                continue
            last = walker.last_position(driver_id)
            if last is None:
                status.unseen_idle += 1
            elif self._reported_idle.get(driver_id) != (last.lat, last.lng):
                self._reported_idle[driver_id] = (last.lat, last.lng)
                status.idle.append((driver_id, last.lat, last.lng))
        if not self._orders_told:
            status.orders = sorted(walker.orders())
            self._orders_told = True
        status.orders_finished = bridge.summary.orders_finished
        status.metrics = bridge.metrics.snapshot()
        status.health = bridge.health()
        return status

    async def stop(self) -> None:
        """Stop taking work, drain the outbox for `drain_timeout_s`, end `run()`."""
        self._stop_requested = True
        if self._bridge is not None:
            self._bridge.stop()


def _node_address() -> str:
    """This node's address in the Ray cluster (what the head connects to)."""
    address: str = ray_runtime.import_ray().util.get_node_ip_address()
    return address

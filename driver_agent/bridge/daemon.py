"""The telematics bridge daemon: positions in, Bringg lifecycle out, nothing lost.

One task group holds: the input server (Traccar forward, OsmAnd, /healthz, /metrics on
`bridge.listen_port`), the webhook receiver (`webhooks.port`; Delivery Created / Updated /
Cancelled), GPX replayers, the NDJSON reader, the outbox sender, a watchdog, and the end
conditions (`bridge.orders`, `bridge.duration_s`, or `stop()`, which the CLI calls on a signal).

Every input is decided at once by the `FleetWalker` (in memory, on the event loop), and the calls
it implies go into the open batch of a `GroupCommit`: one SQLite transaction (one fsync) appends
all the calls of the inputs that arrived while the previous commit ran, with the walker's state
when it changed, and only then do their sources get their 200. So an acknowledged position is on
disk, and a restarted bridge continues the same walk (which driver has which order, which stops
are checked in) and sends the backlog.

The watchdog (`watchdog.Watchdog`, every second of clock time) drops outbox calls past
`outbox_max_age_s` (counted), mirrors the outbox's drop counts and its oldest unsent age into the
metrics, and watches busy drivers whose device has been quiet for more than `MAX_PING_GAP_S`:
counted and shown as a gauge, and, only with `resend_last_position`, their last position is sent
again with its original time.

On stop, the sender gets `drain_timeout_s` to empty the outbox; what is left stays on disk.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import anyio
import anyio.to_thread
import structlog

from driver_agent.bridge.calls import Call
from driver_agent.bridge.devicemap import load_device_map
from driver_agent.bridge.feeds import start_feeds
from driver_agent.bridge.geofence import GeofenceConfig
from driver_agent.bridge.groupcommit import Batch, GroupCommit
from driver_agent.bridge.metrics import BridgeMetrics
from driver_agent.bridge.outbox import Outbox, PendingCall
from driver_agent.bridge.sender import OutboxSender
from driver_agent.bridge.sources import create_input_app
from driver_agent.bridge.state import WalkerState
from driver_agent.bridge.unassigned import Refusal, UnassignedDrivers
from driver_agent.bridge.walker import AssignRule, FleetWalker, Step
from driver_agent.bridge.watchdog import Watchdog
from driver_agent.core.endpoints import Endpoint
from driver_agent.core.errors import ApiError, ConfigError
from driver_agent.core.serving import serve_app
from driver_agent.fleetapi.client import open_fleet_client
from driver_agent.fleetapi.webhook_payloads import (
    DeliveryCancelled,
    DeliveryCreated,
    DeliveryUpdated,
    WebhookEvent,
)
from driver_agent.fleetapi.webhooks import WebhookSettings, create_webhook_app

if TYPE_CHECKING:
    from anyio.abc import TaskGroup, TaskStatus

    from driver_agent.bridge.positions import Position
    from driver_agent.core.clock import Clock
    from driver_agent.core.config import Config
    from driver_agent.fleetapi.client import FleetClient

log = structlog.get_logger("driver_agent.bridge")

STATE_KEY = "walker"


@dataclass
class BridgeSummary:
    """What one run did; `left_in_outbox` calls go out at the next start."""

    positions_in: int = 0
    calls_sent: int = 0
    calls_refused: int = 0
    orders_finished: int = 0
    left_in_outbox: int = 0
    dropped: dict[str, int] = field(default_factory=dict)
    # the token endpoint's refusal still standing at stop (a wrong client id or secret): the
    # CLI exits 1
    credentials_refused: str = ""


class Bridge:
    """The running daemon; `run()` serves until stopped. See the module docstring."""

    def __init__(
        self,
        config: Config,
        clock: Clock,
        outbox: Outbox,
        client: FleetClient,
        *,
        device_map: dict[str, str],
    ) -> None:
        self.config = config
        self.settings = b = config.bridge
        self.clock = clock
        self.outbox = outbox
        self.metrics = BridgeMetrics()
        geofence = GeofenceConfig(
            radius_in_m=b.radius_in_m,
            radius_out_m=b.radius_out_m,
            stop_speed_mps=b.stop_speed_mps,
            min_dwell_s=b.min_dwell_s,
        )
        self.walker = FleetWalker(device_map, assign=AssignRule(b.assign), geofence=geofence)
        self._saved = outbox.load_state(STATE_KEY, WalkerState)
        if self._saved is not None:
            self.walker.restore(self._saved)
        self._db = anyio.CapacityLimiter(1)
        self._group: GroupCommit[Call] = GroupCommit(self._write, self._rollback)
        self.sender = OutboxSender(
            outbox,
            client,
            clock,
            self.metrics,
            db_limiter=self._db,
            backoff_base_s=config.api.backoff_base_s,
            backoff_cap_s=config.api.backoff_cap_s,
            on_sent=self._on_sent,
            expected=self._before_assignment,
            committing=lambda: self._group.busy,
        )
        self.webhook_settings = WebhookSettings.from_config(config.webhooks)
        # Bringg hears "accepted" only once the order's first calls and the walker's state are
        # in the outbox: a crash right after the reply loses nothing
        self.webhook_app = create_webhook_app(self.webhook_settings, self.take, clock=clock)
        self.input_app = create_input_app(
            self.accept, self.metrics, health=self.health, input_key=b.input_key or None
        )
        self.input_url = ""
        self.webhook_url = ""
        self._stop = anyio.Event()
        self.watchdog = Watchdog(
            outbox,
            self.metrics,
            clock,
            self._db,
            walker=lambda: self.walker,
            commit=self._commit,
            resend_last_position=b.resend_last_position,
        )
        self.summary = BridgeSummary()
        self._unassigned = UnassignedDrivers(self.walker.assigned_drivers())
        self.metrics.outbox_depth.set_function(lambda: float(outbox.depth()))
        self.metrics.orders_active.set_function(lambda: float(len(self.walker.orders())))

    # -- inputs ---------------------------------------------------------------------------

    def accept(self, position: Position) -> Awaitable[None]:
        """The sink of every source. Decides the position now, in arrival order (a device not in
        the map is a `PositionError` here), and returns what to await: done once the position and
        its calls are on disk."""
        driver_id = self.walker.driver_of(position.device_id)
        batch = self._note(self.walker.feed(position))
        return self._stored(batch, driver_id)

    async def _stored(self, batch: Batch[Call] | None, driver_id: str) -> None:
        if batch is not None:
            await self._group.stored(batch)
        self.watchdog.quiet.heard(driver_id, self.clock.now())
        self.summary.positions_in += 1

    def stop(self) -> None:
        """End the run: stop taking work, drain the outbox for a while, return."""
        self._stop.set()

    @property
    def stopping(self) -> bool:
        return self._stop.is_set()

    def health(self) -> dict[str, Any]:
        refused = self.sender.credentials_error
        state: dict[str, Any] = {"ok": not self.stopping and refused is None}
        if refused is not None:
            state["reason"] = f"the fleet API refused the bridge's credentials: {refused.message}"
        elif self.stopping:
            state["reason"] = "stopping"
        return state | {
            "outbox_depth": self.outbox.depth(),
            "orders_active": len(self.walker.orders()),
            "quiet_busy_drivers": sorted(self.watchdog.quiet.quiet),
            "sending": self.sender.busy,
        }

    # -- running --------------------------------------------------------------------------

    async def run(
        self, *, serve: bool = True, task_status: TaskStatus[Bridge] = anyio.TASK_STATUS_IGNORED
    ) -> None:
        """Serve until stopped. Without `serve` (a worker of a bridge split across workers,
        `commands.bridgeworker`) no port is opened: the head takes the inputs and the webhooks
        and hands this bridge its share through `accept` and `take`."""
        b = self.settings
        async with anyio.create_task_group() as tg:
            await tg.start(self.sender.run)
            tg.start_soon(self.watchdog.run)
            if serve:
                await self._serve(tg)
            start_feeds(tg, b, self.accept, self.metrics, self.clock)
            if b.duration_s > 0:
                tg.start_soon(self._stop_after, b.duration_s)
            log.info(
                "bridge_listening" if serve else "bridge_worker_started",
                input_url=self.input_url,
                webhook_url=self.webhook_url,
                outbox=str(self.outbox.path),
                backlog=self.outbox.depth(),
                orders_active=len(self.walker.orders()),
            )
            task_status.started(self)
            await self._stop.wait()
            if self.sender.credentials_error is None:  # else nothing can drain: do not wait
                with anyio.move_on_after(b.drain_timeout_s):
                    await self.sender.wait_idle()
            tg.cancel_scope.cancel()
        self.summary.calls_sent = self.sender.sent
        self.summary.calls_refused = self.sender.refused
        self.summary.left_in_outbox = self.outbox.depth()
        self.summary.dropped = self.outbox.dropped_counts()
        refused = self.sender.credentials_error
        self.summary.credentials_refused = "" if refused is None else refused.message
        log.info("bridge_stopped", **vars(self.summary))

    async def _serve(self, tg: TaskGroup) -> None:
        b, hooks = self.settings, self.webhook_settings
        self.input_url = await tg.start(serve_app, self.input_app, b.listen_host, b.listen_port)
        self.webhook_url = await tg.start(serve_app, self.webhook_app, hooks.host, hooks.port)
        warn_open_doors(self.config)

    def _note(self, step: Step) -> Batch[Call] | None:
        """Log and count the step's decisions; its calls go into the open batch (None when there
        is nothing to store)."""
        for decision in step.decisions:
            self._observe(decision.event, decision.fields)
            log.info(decision.event, driver_id=decision.driver_id, **decision.fields)
        if step.late:
            self.metrics.late.inc(amount=step.late)
        if step.before_assignment:
            self.metrics.before_assignment.inc(amount=step.before_assignment)
        if not step.calls and not step.changed:
            return None
        return self._group.add(step.calls, step.changed)

    async def _commit(self, step: Step) -> None:
        """Store one step (a webhook's, a resend's) with whatever else is in its batch."""
        batch = self._note(step)
        if batch is not None:
            await self._group.stored(batch)

    async def _write(self, batch: Batch[Call]) -> None:
        """One transaction for a batch: its calls, and the walker's state if it changed (taken
        now, when the batch closes: it holds exactly the batch's inputs)."""
        if not batch.items and not batch.changed:
            return
        snapshot = self.walker.snapshot() if batch.changed else None
        append = functools.partial(
            self.outbox.append_many,
            batch.items,
            self.clock.now_ms(),
            state=None if snapshot is None else {STATE_KEY: snapshot},
        )
        await anyio.to_thread.run_sync(append, limiter=self._db)
        if snapshot is not None:
            self._saved = snapshot
        if batch.items:
            self.sender.appended()

    def _rollback(self) -> None:
        """The append failed: go back to the state last on disk (the source will retry)."""
        self.sender.appended()  # what it expected is not coming: let it see for itself
        b = self.settings
        geofence = self.walker.geofence
        fresh = FleetWalker(self.walker.device_map, assign=AssignRule(b.assign), geofence=geofence)
        if self._saved is not None:
            fresh.restore(self._saved)
        self.walker = fresh

    def _observe(self, event: str, fields: dict[str, Any]) -> None:
        if event == "checked_in":
            self.metrics.checkin(str(fields["kind"]))
        elif event == "checked_out":
            self.metrics.checkout(str(fields["kind"]))
        elif event == "order_cancelled":
            self.metrics.orders_finished.inc("cancelled")
            self._finished()

    def _before_assignment(self, call: PendingCall, exc: ApiError) -> bool:
        """A location update Bringg refused because it does not know the driver yet (403, no
        order assigned): not an error. Counted apart, said once per driver, and the driver's
        positions are held until its first order (`FleetWalker.hold`)."""
        verdict = self._unassigned.refused(call.endpoint, call.driver_id, exc.status)
        if verdict is Refusal.ERROR:
            return False
        self.metrics.before_assignment.inc()
        self.walker.hold(call.driver_id)
        if verdict is Refusal.FIRST_UNASSIGNED:
            log.info(
                "positions_held",
                driver_id=call.driver_id,
                status=exc.status,
                error=exc.message,
                reason="Bringg does not know this driver before its first order: not an "
                "error; its latest position is sent with the assignment",
            )
        return True

    def _on_sent(self, call: PendingCall) -> None:
        self._unassigned.acknowledged(call.endpoint, call.driver_id)
        if call.endpoint == Endpoint.END_TASK:
            self.metrics.orders_finished.inc("completed")
            self._finished()

    def _finished(self) -> None:
        self.summary.orders_finished += 1
        target = self.settings.orders
        if target and self.summary.orders_finished >= target and not self.stopping:
            log.info("orders_target_reached", orders=self.summary.orders_finished)
            self.stop()

    async def take(self, event: WebhookEvent) -> bool:
        """A webhook, handled and on disk before the receiver answers Bringg."""
        if self.stopping:
            return False  # Bringg retries; the next run takes it
        now_ms = self.clock.now_ms()
        if isinstance(event, DeliveryCreated):
            step = self.walker.add_order(event.order, now_ms)
        elif isinstance(event, DeliveryUpdated):
            step = self.walker.update_order(event)
        elif isinstance(event, DeliveryCancelled):
            step = self.walker.cancel_order(event.task_id, now_ms)
        else:
            log.info("webhook_ignored", webhook=type(event).__name__)
            return True
        await self._commit(step)
        return True

    async def _stop_after(self, duration_s: float) -> None:
        await self.clock.sleep(duration_s)
        log.info("duration_reached", duration_s=duration_s)
        self.stop()


def warn_open_doors(config: Config) -> None:
    """Say at start what is open that should not be: no webhook key, no input key."""
    b = config.bridge
    if not config.webhooks.api_key:
        log.warning("webhooks_refused", reason="no webhooks.api_key: orders cannot arrive")
    if not b.input_key:
        log.warning(
            "input_unauthenticated",
            listen_host=b.listen_host,
            reason="no bridge.input_key: any sender on this machine can post positions",
        )


async def run_bridge(
    config: Config,
    clock: Clock,
    *,
    serve: bool = True,
    task_status: TaskStatus[Bridge] = anyio.TASK_STATUS_IGNORED,
) -> BridgeSummary:
    """Open the outbox and the client, run the bridge until it stops, return its summary
    (`serve`: see `Bridge.run`)."""
    if not config.api.api_url:
        raise ConfigError(
            "api.api_url", "required for the bridge: the fleet API (or sandbox) to send to"
        )
    device_map = load_device_map(config.bridge)
    b = config.bridge
    outbox = Outbox(b.outbox, max_rows=b.outbox_max_rows, max_age_s=b.outbox_max_age_s)
    try:
        async with open_fleet_client(config.api, clock) as client:
            bridge = Bridge(config, clock, outbox, client, device_map=device_map)
            await bridge.run(serve=serve, task_status=task_status)
            return bridge.summary
    finally:
        outbox.close()

"""`driver-agent bridge`: the telematics bridge daemon (see driver_agent.bridge.daemon).

Flags override the `[bridge]` (and `[api]`, `[webhooks]`) config; `--device-map` and `--gpx`
add to the file's tables. Secrets come from the environment (DRIVER_AGENT_CLIENT_SECRET,
DRIVER_AGENT_WEBHOOK_API_KEY). The first SIGINT/SIGTERM stops gracefully (drain the outbox for
up to `drain_timeout_s`, keep the rest on disk); a second one stops at once, the outbox is
durable either way.
"""

from __future__ import annotations

import argparse
import functools
import signal
from collections.abc import Awaitable
from typing import TYPE_CHECKING, Any, Protocol

import anyio
import msgspec
import structlog

from driver_agent.bridge.daemon import Bridge, BridgeSummary, run_bridge
from driver_agent.bridge.devicemap import load_device_map
from driver_agent.cli import add_config_argument, config_from_args
from driver_agent.commands import bridgehead, preflight
from driver_agent.commands.bridgehead import BridgeHead
from driver_agent.core.clock import RealClock
from driver_agent.core.errors import ConfigError

if TYPE_CHECKING:
    from collections.abc import Callable

    from anyio.abc import TaskStatus

    from driver_agent.core.clock import Clock
    from driver_agent.core.config import Config

log = structlog.get_logger("driver_agent.commands.bridge")

EXIT_FORCED = 130
EXIT_CREDENTIALS_REFUSED = 1


def _pair(flag: str) -> Callable[[str], tuple[str, str]]:
    def parse(text: str) -> tuple[str, str]:
        key, sep, value = text.partition("=")
        if not sep or not key.strip() or not value.strip():
            raise argparse.ArgumentTypeError(f"{flag} expects DEVICE=VALUE, got {text!r}")
        return key.strip(), value.strip()

    return parse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_config_argument(parser)
    parser.add_argument("--api-url", metavar="URL", help="fleet API base URL (api.api_url)")
    parser.add_argument("--token-url", metavar="URL", help="OAuth2 token URL (api.token_url)")
    parser.add_argument("--client-id", metavar="ID", help="fleet client id (api.client_id)")
    parser.add_argument(
        "--webhook-host", metavar="HOST", help="webhook receiver host (webhooks.host)"
    )
    parser.add_argument(
        "--webhook-port", metavar="PORT", type=int, help="webhook receiver port (webhooks.port)"
    )
    parser.add_argument(
        "--listen-host", metavar="HOST", help="position input host (bridge.listen_host)"
    )
    parser.add_argument(
        "--listen-port", metavar="PORT", type=int, help="position input port (bridge.listen_port)"
    )
    parser.add_argument(
        "--device-map",
        action="append",
        type=_pair("--device-map"),
        default=[],
        metavar="DEVICE=DRIVER",
        help="map a device id to a driver external id (repeatable)",
    )
    parser.add_argument(
        "--device-map-file",
        metavar="FILE",
        help="JSON object device -> driver (bridge.device_map_file)",
    )
    parser.add_argument(
        "--gpx",
        action="append",
        type=_pair("--gpx"),
        default=[],
        metavar="DEVICE=FILE",
        help="replay a GPX file as this device from the start (repeatable)",
    )
    parser.add_argument(
        "--replay-speed",
        metavar="X",
        type=float,
        help="GPX replay speed factor (bridge.replay_speed)",
    )
    parser.add_argument(
        "--ndjson", metavar="FILE", help="read NDJSON positions, - for stdin (bridge.ndjson)"
    )
    parser.add_argument("--outbox", metavar="PATH", help="the SQLite outbox file (bridge.outbox)")
    parser.add_argument(
        "--orders", type=int, metavar="N", help="end after N final orders (bridge.orders)"
    )
    parser.add_argument(
        "--duration", type=float, metavar="S", help="end after S real seconds (bridge.duration_s)"
    )
    workers = parser.add_argument_group(
        "more than one core (Ray: pip install 'driver-agent[ray]'; docs/bridge.md#more-workers)"
    )
    workers.add_argument(
        "--workers",
        metavar="N",
        type=int,
        help="split the bridge across N Ray workers, each owning a partition of the drivers, "
        "their devices and an outbox file; 1 = one process, no Ray (distributed.workers)",
    )
    workers.add_argument(
        "--ray-address",
        metavar="ADDRESS",
        help="join this Ray cluster instead of starting one on this machine "
        "(distributed.ray_address)",
    )


def bridge_config(args: argparse.Namespace) -> Config:
    """The config file, the environment's secrets, then these flags."""
    overrides: dict[str, object] = {
        "api.api_url": args.api_url,
        "api.token_url": args.token_url,
        "api.client_id": args.client_id,
        "webhooks.host": args.webhook_host,
        "webhooks.port": args.webhook_port,
        "bridge.listen_host": args.listen_host,
        "bridge.listen_port": args.listen_port,
        "bridge.device_map_file": args.device_map_file,
        "bridge.replay_speed": args.replay_speed,
        "bridge.ndjson": args.ndjson,
        "bridge.outbox": args.outbox,
        "bridge.orders": args.orders,
        "bridge.duration_s": args.duration,
        "distributed.workers": getattr(args, "workers", None),
        "distributed.ray_address": getattr(args, "ray_address", None),
    }
    config = config_from_args(args, overrides)
    b = config.bridge
    if args.device_map or args.gpx:
        b = msgspec.structs.replace(
            b,
            device_map={**b.device_map, **dict(args.device_map)},
            gpx={**b.gpx, **dict(args.gpx)},
        )
        config = msgspec.structs.replace(config, bridge=b)
    return config


def run(args: argparse.Namespace) -> int:
    """Serve until a signal, `--orders` or `--duration`; 0 when it stopped gracefully, 1 when
    the fleet API was still refusing the bridge's credentials at the stop, 130 when a second
    signal forced it (the outbox keeps what was not sent either way).

    A wrong secret does not stop the daemon at once: positions keep arriving and are kept in the
    outbox (a restart loop under systemd or Kubernetes would refuse them instead), /healthz says
    503 with the reason so a probe or a monitor sees it, and the exit code at stop is 1 so that
    the unit or the pod ends as failed."""
    config = bridge_config(args)
    if not config.api.api_url:
        raise ConfigError("api.api_url", "required for the bridge (--api-url)")
    load_device_map(config.bridge)  # refuse a bad map before anything listens
    preflight.check_bridge(config)
    try:
        if config.distributed.enabled:
            summary = bridgehead.execute(config, functools.partial(_serve, config))
        else:
            summary = anyio.run(_serve, config, run_bridge)
    except BaseExceptionGroup as group:
        raise preflight.listen_error(group) or _single(group) from None
    if summary is None:
        return EXIT_FORCED
    if summary.credentials_refused:
        log.error("bridge_failed", reason="credentials refused", error=summary.credentials_refused)
        return EXIT_CREDENTIALS_REFUSED
    return 0


def _single(group: BaseExceptionGroup[BaseException]) -> BaseException:
    """The one error a task group wrapped (a ConfigError, say), so the CLI can map it."""
    errors: list[BaseException] = []
    pending: list[BaseException] = [group]
    while pending:
        exc = pending.pop()
        if isinstance(exc, BaseExceptionGroup):
            pending.extend(exc.exceptions)
        else:
            errors.append(exc)
    return errors[0] if len(errors) == 1 else group


class Runner(Protocol):
    """`run_bridge`, or the head's: runs until stopped, hands over what `stop()` stops."""

    def __call__(
        self, config: Config, clock: Clock, *, task_status: TaskStatus[Any]
    ) -> Awaitable[BridgeSummary]: ...


async def _serve(config: Config, runner: Runner) -> BridgeSummary | None:
    clock = RealClock()
    result: list[BridgeSummary] = []

    async def bridge_task(*, task_status: TaskStatus[Bridge | BridgeHead]) -> None:
        result.append(await runner(config, clock, task_status=task_status))
        tg.cancel_scope.cancel()

    with anyio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
        async with anyio.create_task_group() as tg:
            bridge: Bridge | BridgeHead = await tg.start(bridge_task)
            async for signum in signals:
                if not bridge.stopping:
                    log.info("bridge_stopping", signal=signal.Signals(signum).name)
                    bridge.stop()
                else:
                    log.warning("bridge_forced_stop", signal=signal.Signals(signum).name)
                    if isinstance(bridge, BridgeHead):
                        bridge.stop(forced=True)
                    tg.cancel_scope.cancel()
    return result[0] if result else None

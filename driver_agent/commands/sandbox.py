"""The `driver-agent sandbox` command: run the embedded Bringg sandbox on a port.

    driver-agent sandbox --host 127.0.0.1 --port 8700 --fleet-webhook-url http://127.0.0.1:8701

Credentials come from flags, else the environment (SANDBOX_CLIENT_ID, SANDBOX_CLIENT_SECRET,
SANDBOX_MERCHANT_CLIENT_ID, SANDBOX_MERCHANT_CLIENT_SECRET, SANDBOX_MERCHANT_API_KEY,
SANDBOX_FLEET_WEBHOOK_URL), else the well-known local defaults, which are printed at start.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
from typing import TextIO

import anyio

from driver_agent.cli import add_map_arguments
from driver_agent.commands.preflight import check_port_free, listen_error
from driver_agent.core.errors import ConfigError
from driver_agent.core.model import MASK, Secret
from driver_agent.geo.places import address_places
from driver_agent.geo.roads import RoadNetwork
from driver_agent.sandbox.app import serve_sandbox
from driver_agent.sandbox.settings import SandboxSettings

_DEFAULTS = SandboxSettings()
# flag dest -> (environment variable, default, is secret)
_CREDENTIALS: dict[str, tuple[str, str, bool]] = {
    "client_id": ("SANDBOX_CLIENT_ID", _DEFAULTS.client_id, False),
    "client_secret": ("SANDBOX_CLIENT_SECRET", _DEFAULTS.client_secret.reveal(), True),
    "merchant_client_id": ("SANDBOX_MERCHANT_CLIENT_ID", _DEFAULTS.merchant_client_id, False),
    "merchant_client_secret": (
        "SANDBOX_MERCHANT_CLIENT_SECRET",
        _DEFAULTS.merchant_client_secret.reveal(),
        True,
    ),
    "merchant_api_key": ("SANDBOX_MERCHANT_API_KEY", _DEFAULTS.merchant_api_key.reveal(), True),
    "fleet_webhook_url": ("SANDBOX_FLEET_WEBHOOK_URL", "", False),
}


_METAVARS = {
    "client_id": "ID",
    "client_secret": "SECRET",
    "merchant_client_id": "ID",
    "merchant_client_secret": "SECRET",
    "merchant_api_key": "KEY",
    "fleet_webhook_url": "URL",
}


def _area(text: str) -> tuple[float, float, float, float]:
    try:
        values = tuple(float(x) for x in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"--area: numbers expected, got {text!r}") from None
    if len(values) != 4:
        raise argparse.ArgumentTypeError("--area: min_lat,min_lng,max_lat,max_lng")
    return values[0], values[1], values[2], values[3]


def _places(
    road_network: str | None, area: tuple[float, float, float, float] | None, seed: int
) -> tuple[tuple[float, float, float, float], tuple[tuple[float, float], ...]]:
    """The area and the points on the map's roads where addresses land (one area rule: every
    order the sandbox creates can be driven on the roads the drivers use)."""
    network = RoadNetwork.load(road_network)
    whole, places = address_places(network, seed=seed)
    if area is None:
        return whole, places
    min_lat, min_lng, max_lat, max_lng = area
    inside = tuple(p for p in places if min_lat <= p[0] <= max_lat and min_lng <= p[1] <= max_lng)
    if not inside:
        raise ValueError(f"--area {area}: no road of the map {network.name!r} lies inside it")
    return area, inside


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The sandbox subcommand's flags."""
    parser.add_argument(
        "--host", metavar="HOST", default="127.0.0.1", help="address to bind (default 127.0.0.1)"
    )
    parser.add_argument(
        "--port", metavar="PORT", type=int, default=8700, help="port (default 8700; 0 = any)"
    )
    for dest, (env, default, secret) in _CREDENTIALS.items():
        shown = "the well-known local one" if secret else (default or "none")
        parser.add_argument(
            "--" + dest.replace("_", "-"),
            dest=dest,
            metavar=_METAVARS[dest],
            default=None,
            help=f"env {env}; default {shown}",
        )
    parser.add_argument(
        "--rate-limit",
        metavar="N",
        type=int,
        default=_DEFAULTS.rate_limit_per_window,
        help="requests per credential per window before 429 (default %(default)s)",
    )
    parser.add_argument(
        "--rate-window-s",
        metavar="S",
        type=float,
        default=_DEFAULTS.rate_window_s,
        help="the rate limit's window, seconds (default %(default)s)",
    )
    parser.add_argument(
        "--webhook-retry-delay-s",
        metavar="S",
        type=float,
        default=_DEFAULTS.webhook_retry_delay_s,
        help="wait before resending a webhook the fleet did not accept (default %(default)s)",
    )
    add_map_arguments(parser)
    parser.add_argument(
        "--area",
        type=_area,
        metavar="S,W,N,E",
        help="min_lat,min_lng,max_lat,max_lng: addresses without coordinates land on the roads "
        "of the map inside this box (default: the whole map)",
    )
    parser.add_argument(
        "--seed",
        metavar="N",
        type=int,
        default=_DEFAULTS.seed,
        help="seed for ids and the address points (default %(default)s)",
    )
    parser.add_argument(
        "--lenient-complete",
        action="store_true",
        help="allow end_task before checking in at the dropoff",
    )


def settings_from(
    args: argparse.Namespace, environ: dict[str, str] | None = None
) -> SandboxSettings:
    """Flags, else environment, else the local defaults."""
    env = os.environ if environ is None else environ
    area, places = _places(getattr(args, "road_network", None), args.area, args.seed)
    values: dict[str, str] = {}
    for dest, (name, default, _) in _CREDENTIALS.items():
        flag = getattr(args, dest, None)
        values[dest] = flag if flag is not None else env.get(name, default)
    return SandboxSettings(
        client_id=values["client_id"],
        client_secret=Secret(values["client_secret"]),
        merchant_client_id=values["merchant_client_id"],
        merchant_client_secret=Secret(values["merchant_client_secret"]),
        merchant_api_key=Secret(values["merchant_api_key"]),
        fleet_webhook_url=values["fleet_webhook_url"],
        rate_limit_per_window=args.rate_limit,
        rate_window_s=args.rate_window_s,
        webhook_retry_delay_s=args.webhook_retry_delay_s,
        area=area,
        places=places,
        seed=args.seed,
        strict_complete=not args.lenient_complete,
    )


def describe(settings: SandboxSettings, url: str, out: TextIO) -> None:
    """The start banner: where it listens and which credentials work (defaults shown in full)."""

    def shown(value: Secret, default: Secret) -> str:
        return value.reveal() if value == default else f"{MASK} (from flag or environment)"

    d = _DEFAULTS
    print(f"Bringg sandbox listening on {url}", file=out)
    print(f"  token URL         {url}/oauth/token", file=out)
    print(
        f"  fleet client      {settings.client_id} / "
        f"{shown(settings.client_secret, d.client_secret)}",
        file=out,
    )
    print(
        f"  merchant client   {settings.merchant_client_id} / "
        f"{shown(settings.merchant_client_secret, d.merchant_client_secret)}",
        file=out,
    )
    print(f"  merchant API key  {shown(settings.merchant_api_key, d.merchant_api_key)}", file=out)
    print(
        f"  fleet webhooks    {settings.fleet_webhook_url or '(none: nothing is sent)'}", file=out
    )
    lat0, lng0, lat1, lng1 = settings.area
    print(
        f"  addresses         on {len(settings.places)} road points in "
        f"{lat0:.4f},{lng0:.4f} .. {lat1:.4f},{lng1:.4f}",
        file=out,
    )
    print(f"  admin             {url}/_sandbox/state, /_sandbox/clock, /_sandbox/faults", file=out)
    out.flush()


def run(args: argparse.Namespace) -> int:
    """Serve until SIGINT or SIGTERM; 0 on a clean stop, 2 on bad settings."""
    try:
        check_port_free(args.host, args.port, "--port")
        settings = settings_from(args)
    except (ValueError, ConfigError) as e:
        print(f"sandbox: {e}", file=sys.stderr)
        return 2

    async def main() -> None:
        async with anyio.create_task_group() as tg:
            url = await tg.start(serve_sandbox, settings, args.host, args.port)
            describe(settings, url, sys.stdout)
            with anyio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
                async for _ in signals:
                    tg.cancel_scope.cancel()
                    break

    try:
        anyio.run(main)
    except (OSError, BaseExceptionGroup) as exc:  # the port taken after the preflight
        error = listen_error(exc)
        if error is None:
            raise
        print(f"sandbox: {error.message}", file=sys.stderr)
        return 2
    return 0

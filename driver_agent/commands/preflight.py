"""Preflight: everything that can be checked before the first request is checked before it.

A typo in a threshold, an unwritable report directory, a port in use or a road graph that does
not load used to surface only after the whole run (or as a traceback). Each check here raises
`ConfigError(key, message)` naming the key and the value, which the CLI prints as one line and
exit code 2 (`cli.main`), before anything starts:

- thresholds: syntax, known metric names, and known endpoint names in `endpoint.metric`;
- the report directory: created if missing, and writable;
- ports: valid (0-65535) and free on their host (the run's webhook receiver, the live map, the
  sandbox, the bridge's position input and webhook receiver); port 0 means "any" and is free;
- counts: `run.drivers` at least 1;
- files: the CA file, the road network (it must load), the bridge's outbox directory, GPX files.

A port can still be taken between the check and the bind: `listen_error` turns that `OSError`
into the same one-line error.
"""

from __future__ import annotations

import errno
import os
import socket
import ssl
import tempfile
from collections.abc import Iterable, Mapping
from pathlib import Path

from driver_agent.bridge.partition import check_outbox_layout
from driver_agent.commands import ray_runtime
from driver_agent.core.config import Config, ThresholdsConfig
from driver_agent.core.endpoints import ENDPOINTS
from driver_agent.core.errors import ConfigError
from driver_agent.fleetapi.devapi import configured_urls
from driver_agent.geo.roads import RoadNetwork
from driver_agent.metrics.thresholds import parse_thresholds


def is_embedded(config: Config) -> bool:
    """No API configured: the run starts the embedded sandbox (the fleet API's `api.api_url`,
    or under the own-fleet profile the service table `own_fleet.services`)."""
    if config.api.profile == "own_fleet":
        return not config.own_fleet.services
    return not config.api.api_url


PING_METRICS = frozenset({"max_ping_gap_s", "gaps_over_30s"})  # measured on location pings


def threshold_checks(config: Config) -> tuple[str, ...]:
    """The run's thresholds. Under the own-fleet profile the default ping-gap check is dropped:
    the developer API takes no locations, so there is no gap to measure (a check set in the
    config stays, and fails for want of data, as any check does)."""
    checks = config.thresholds.checks
    if config.api.profile == "own_fleet" and checks == ThresholdsConfig().checks:
        parsed = parse_thresholds(checks, "thresholds.checks")
        return tuple(t.expr for t in parsed if t.metric not in PING_METRICS)
    return checks


def own_fleet_urls(
    config: Config, sandbox_paths: Mapping[str, str] | None, api_url: str
) -> dict[str, str] | None:
    """The developer API's service URLs for an own-fleet run: the embedded sandbox's (its paths
    under `api_url`) or `own_fleet.services`; None under the fleet profile."""
    if config.api.profile != "own_fleet":
        return None
    if sandbox_paths is not None:
        return {name: api_url.rstrip("/") + path for name, path in sandbox_paths.items()}
    return configured_urls(config.own_fleet)


def check_run(config: Config, *, embedded: bool) -> RoadNetwork:
    """The preflight of `driver-agent run` / `demo`; returns the road network it loaded."""
    run = config.run
    if run.drivers < 1:
        raise ConfigError("run.drivers", f"must be at least 1, got {run.drivers!r}")
    check_thresholds(threshold_checks(config), "thresholds.checks")
    if config.distributed.enabled:
        if run.live_map:
            raise ConfigError(
                "run.live_map",
                "not available in a run split across workers (the drivers' positions are in "
                "the workers): use the report's map, or distributed.workers = 1",
            )
        ray_runtime.import_ray()  # not installed: one line, exit 2, before anything is written
    if config.api.profile == "own_fleet" and not embedded:
        missing = [s for s in OWN_FLEET_DAY if s not in config.own_fleet.services]
        if missing:
            raise ConfigError(
                "own_fleet.services",
                f"a driver's day needs these services too: {', '.join(missing)}",
            )
    check_writable_dir(run.report_dir, "run.report_dir")
    if config.api.ca_file:
        check_ca_file(config.api.ca_file, "api.ca_file")
    if not embedded:  # embedded mode binds its receiver to any free loopback port
        check_port_free(config.webhooks.host, config.webhooks.port, "webhooks.port")
    if run.live_map:
        check_port_free("127.0.0.1", run.live_map_port, "run.live_map_port")
    return load_network(run.road_network, "run.road_network")


# the services an own-fleet driver's day calls (sim/own_fleet.py)
OWN_FLEET_DAY = (
    "create_user", "start_shift", "driver_home_event", "update_order", "start_order", "checkin",
    "create_note", "checkout", "end_order", "cancel_order", "end_shift",
)  # fmt: skip


def check_bridge(config: Config) -> None:
    """The preflight of `driver-agent bridge`."""
    b = config.bridge
    check_port_free(b.listen_host, b.listen_port, "bridge.listen_port")
    check_port_free(config.webhooks.host, config.webhooks.port, "webhooks.port")
    if config.api.ca_file:
        check_ca_file(config.api.ca_file, "api.ca_file")
    outbox_dir = Path(b.outbox).parent
    check_writable_dir(str(outbox_dir) if str(outbox_dir) else ".", "bridge.outbox")
    check_outbox_layout(b.outbox, config.distributed.workers)
    for device, path in b.gpx.items():
        check_readable_file(path, f"bridge.gpx.{device}")
    if b.ndjson and b.ndjson != "-":
        check_readable_file(b.ndjson, "bridge.ndjson")


def check_thresholds(checks: Iterable[str], key: str) -> None:
    """Syntax and metric names (`metrics.thresholds`), and endpoint names from the endpoint
    table for `endpoint.metric` (`update_location.p95_ms` is a typo, not a metric without data)."""
    for i, threshold in enumerate(parse_thresholds(checks, key)):
        endpoint, dot, _name = threshold.metric.rpartition(".")
        if dot and endpoint not in ENDPOINTS:
            known = ", ".join(ENDPOINTS)
            raise ConfigError(
                f"{key}[{i}]",
                f"unknown endpoint {endpoint!r} in {threshold.expr!r}; known: {known}",
            )


def check_writable_dir(directory: str, key: str) -> Path:
    """`directory`, created if missing; ConfigError unless a file can be written in it."""
    path = Path(directory or ".")
    try:
        path.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=path, prefix=".driver-agent-preflight-"):
            pass
    except OSError as exc:
        raise ConfigError(key, f"cannot write to {str(path)!r}: {_reason(exc)}") from None
    return path


def check_readable_file(path: str, key: str) -> None:
    try:
        with open(path, "rb") as handle:
            handle.read(1)
    except OSError as exc:
        raise ConfigError(key, f"cannot read {path!r}: {_reason(exc)}") from None


def check_ca_file(path: str, key: str) -> None:
    check_readable_file(path, key)
    try:
        ssl.create_default_context().load_verify_locations(cafile=path)
    except (ssl.SSLError, ValueError) as exc:
        raise ConfigError(key, f"{path!r} holds no PEM certificate we can load: {exc}") from None


def check_port_free(host: str, port: int, key: str) -> None:
    """Valid, and nothing listens on it yet (port 0: the system picks a free one)."""
    if not 0 <= port <= 65535:
        raise ConfigError(key, f"must be a port number 0-65535, got {port!r}")
    if port == 0:
        return
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as exc:
        raise ConfigError(key, f"cannot resolve host {host!r}: {exc.strerror}") from None
    family, kind, proto, _name, address = infos[0]
    with socket.socket(family, kind, proto) as sock:
        if os.name == "posix":  # as servers bind: TIME_WAIT sockets do not count as taken
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(address)
        except OSError as exc:
            raise ConfigError(key, f"cannot listen on {host}:{port}: {_reason(exc)}") from None


def load_network(spec: str, key: str) -> RoadNetwork:
    """The road network (a bundled name or a file); ConfigError naming the key otherwise."""
    try:
        return RoadNetwork.load(spec)
    except ConfigError as exc:
        raise ConfigError(key, f"{spec!r}: {exc}") from None
    except OSError as exc:
        raise ConfigError(key, f"cannot read {spec!r}: {_reason(exc)}") from None


def listen_error(exc: BaseException) -> ConfigError | None:
    """The one-line error for a server that could not bind mid-run (a port taken after the
    preflight), found inside an exception group; None for anything else."""
    if isinstance(exc, BaseExceptionGroup):
        for inner in exc.exceptions:
            found = listen_error(inner)
            if found is not None:
                return found
        return None
    if isinstance(exc, OSError) and exc.errno in _LISTEN_ERRORS:
        return ConfigError("listen", f"cannot listen on {_reason(exc)}")
    return None


_LISTEN_ERRORS = (errno.EADDRINUSE, errno.EADDRNOTAVAIL, errno.EACCES)


def _reason(exc: OSError) -> str:
    return exc.strerror or str(exc)

"""Ray, the distributed engine a run split across workers stands on (an optional extra).

`import_ray()` fails with one line saying how to install it (exit 2: `ConfigError`); `start()`
starts a local Ray cluster on this machine's cores (every Ray process on loopback), or joins
the one at `distributed.ray_address`.
"""

from __future__ import annotations

import importlib
import logging
import os
from types import ModuleType
from typing import Any, TextIO

from driver_agent.core.config import Config, DistributedConfig
from driver_agent.core.errors import ConfigError

LOCAL_HOST = "127.0.0.1"  # a local cluster: every Ray process, and ours, on loopback
INSTALL_HINT = "needs Ray, which is not installed here: pip install 'driver-agent[ray]'"


def import_ray() -> ModuleType:
    # read when Ray is imported, so set first
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")  # no telemetry calls from a test tool
    os.environ.setdefault("RAY_DEDUP_LOGS", "0")  # every worker's log line, as it wrote it
    # a worker's lines reach the head's log as it wrote them (JSON stays JSON); each carries
    # its `worker` number instead of Ray's "(Actor pid=...)" prefix
    os.environ.setdefault("RAY_DISABLE_WORKER_LOG_PREFIX", "1")
    try:
        import ray
    except ImportError:
        raise ConfigError("distributed.workers", INSTALL_HINT) from None
    return ray


def start(ray: ModuleType, distributed: DistributedConfig) -> str:
    """Connect this process to Ray as the run's head; returns the address workers reach the head
    on (loopback for a local cluster)."""
    # Ray says on every start that token authentication is on (it is: keep it); one line that
    # is not ours would break a JSON log
    logging.getLogger("ray._private.authentication.authentication_token_setup").addFilter(
        _NotTheTokenNotice()
    )
    common = {
        "include_dashboard": False,
        "logging_level": logging.WARNING,
        "log_to_driver": True,
        "ignore_reinit_error": True,
    }
    if distributed.ray_address:
        try:
            ray.init(address=distributed.ray_address, **common)
        except ConnectionError as exc:
            raise ConfigError(
                "distributed.ray_address",
                f"cannot join the Ray cluster at {distributed.ray_address!r}: {exc}",
            ) from None
        cpus = int(ray.cluster_resources().get("CPU", 0))
        if cpus < distributed.workers:
            ray.shutdown()
            raise ConfigError(
                "distributed.workers",
                f"the Ray cluster at {distributed.ray_address!r} has {cpus} CPU(s) and each "
                f"worker takes one: at most {cpus}, got {distributed.workers}",
            )
        host: str = ray.util.get_node_ip_address()
        return host
    ray.init(num_cpus=distributed.workers, _node_ip_address=LOCAL_HOST, **common)
    return LOCAL_HOST


def stop(ray: ModuleType) -> None:
    if ray.is_initialized():
        ray.shutdown()


def worker_logging(config: Config, out: TextIO) -> tuple[str, str]:
    """(format, level) of the workers' logs, which Ray prints on the head's stderr: the head's
    format; on a terminal, warnings and up unless debugging (Ray prints their lines as they come,
    through the status line, which one process would scroll above it)."""
    fmt, level = config.log.format, config.log.level
    tty = out.isatty()
    if fmt == "auto":
        fmt = "console" if tty else "json"
    if tty and level == "info":
        level = "warning"
    return fmt, level


def pinned_placements(ray: ModuleType, workers: int) -> list[Any]:
    """A scheduling strategy per worker that keeps it on one node, the live nodes filled in turn
    up to their CPUs: a bridge worker's outbox file is on its node, so Ray must restart it
    there (on one machine every worker is on the one node anyway). The nodes are taken in the
    order of their addresses, so the same cluster (the same addresses and CPUs) puts worker k on
    the same machine at every start, where its file is."""
    affinity = importlib.import_module("ray.util.scheduling_strategies")
    live = sorted(
        (n for n in ray.nodes() if n["Alive"]),
        key=lambda n: (str(n.get("NodeManagerAddress", "")), str(n["NodeID"])),
    )
    free = {n["NodeID"]: int(n["Resources"].get("CPU", 0)) for n in live}
    nodes: list[str] = []
    while len(nodes) < workers and any(free.values()):
        for node_id in free:
            if free[node_id] > 0 and len(nodes) < workers:
                free[node_id] -= 1
                nodes.append(node_id)
    if len(nodes) < workers:
        raise ConfigError(
            "distributed.workers",
            f"the Ray cluster has CPUs for {len(nodes)} worker(s), not {workers}",
        )
    return [affinity.NodeAffinitySchedulingStrategy(node_id, soft=False) for node_id in nodes]


class _NotTheTokenNotice(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return not record.getMessage().startswith("Token authentication is enabled")

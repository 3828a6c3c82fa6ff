"""Which worker owns which vehicle when the bridge runs as several workers, and their outboxes.

A bridge split across N workers (`driver-agent bridge --workers N`) cuts the fleet by driver:
worker `crc32(driver id) mod N` owns the driver, every device mapped to it, the driver's orders
and their calls, in its own outbox file `<outbox stem>.<k>-of-<N><suffix>` (k from 1). A stable
hash, not the map's order: adding a van to the map moves no other van to another worker, so a
restart with a grown map finds every order walk in the file it was written to.

The files of one layout are not valid in another (an order walk lives in one partition's file),
so a start with a different worker count than the files on disk is refused, naming the file and
saying what to do (`check_outbox_layout`).
"""

from __future__ import annotations

import re
import zlib
from pathlib import Path

from driver_agent.core.errors import ConfigError


def partition_of(driver_id: str, workers: int) -> int:
    """The worker (0-based) that owns `driver_id`."""
    return zlib.crc32(driver_id.encode("utf-8")) % workers


def split_device_map(device_map: dict[str, str], workers: int) -> list[dict[str, str]]:
    """Each worker's part of the device map (device -> driver), in the map's order."""
    parts: list[dict[str, str]] = [{} for _ in range(workers)]
    for device, driver in device_map.items():
        parts[partition_of(driver, workers)][device] = driver
    return parts


def partition_outbox(path: str, index: int, workers: int) -> str:
    """Worker `index`'s outbox file; the configured path itself for one worker."""
    if workers == 1:
        return path
    p = Path(path)
    return str(p.with_name(f"{p.stem}.{index + 1}-of-{workers}{p.suffix}"))


def check_outbox_layout(path: str, workers: int) -> None:
    """Refuse to start `workers` workers on outbox files another worker count wrote."""
    p = Path(path)
    pattern = re.compile(rf"{re.escape(p.stem)}\.(\d+)-of-(\d+){re.escape(p.suffix)}")
    found: list[tuple[Path, int]] = []
    if workers > 1 and p.is_file():
        found.append((p, 1))
    if p.parent.is_dir():
        for candidate in sorted(p.parent.iterdir()):
            match = pattern.fullmatch(candidate.name)
            if match and int(match[2]) != workers:
                found.append((candidate, int(match[2])))
    if found:
        other, count = found[0]
        raise ConfigError(
            "bridge.outbox",
            f"{str(other)!r} was written by a bridge with {count} worker(s), and this one would "
            f"run {workers}: an order's walk and calls live in one worker's file. Run with "
            f"--workers {count} until /metrics shows outbox_depth 0 and orders_active 0, then "
            "move those files away (or give another --outbox)",
        )

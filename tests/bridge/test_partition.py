"""Which worker owns which vehicle, and the outbox files of one worker count."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from driver_agent.bridge.partition import (
    check_outbox_layout,
    partition_of,
    partition_outbox,
    split_device_map,
)
from driver_agent.core.errors import ConfigError


@given(st.dictionaries(st.text(min_size=1), st.text(min_size=1), max_size=50), st.integers(1, 8))
def test_every_device_lands_in_exactly_one_part_with_every_other_device_of_its_driver(
    device_map: dict[str, str], workers: int
) -> None:
    parts = split_device_map(device_map, workers)
    assert len(parts) == workers
    merged = {device: driver for part in parts for device, driver in part.items()}
    assert merged == device_map
    assert sum(len(part) for part in parts) == len(device_map)
    for k, part in enumerate(parts):
        assert all(partition_of(driver, workers) == k for driver in part.values())


def test_a_drivers_worker_does_not_move_when_other_vans_join_the_map() -> None:
    small = {f"van-{k}": f"drv-{k}" for k in range(100)}
    grown = {**small, **{f"van-{k}": f"drv-{k}" for k in range(100, 300)}}
    before = {d: k for k, part in enumerate(split_device_map(small, 4)) for d in part}
    after = {d: k for k, part in enumerate(split_device_map(grown, 4)) for d in part}
    assert all(after[device] == worker for device, worker in before.items())
    # and the hash spreads a fleet: no worker gets less than half its share
    sizes = [len(part) for part in split_device_map(grown, 4)]
    assert min(sizes) > 300 / 4 / 2


def test_each_worker_has_its_own_file_beside_the_configured_one() -> None:
    assert partition_outbox("/var/lib/da/outbox.sqlite3", 0, 1) == "/var/lib/da/outbox.sqlite3"
    assert partition_outbox("/var/lib/da/outbox.sqlite3", 0, 3) == (
        "/var/lib/da/outbox.1-of-3.sqlite3"
    )
    assert partition_outbox("box", 2, 3) == "box.3-of-3"


def test_files_of_another_worker_count_are_refused_naming_the_file_and_what_to_do(
    tmp_path: Path,
) -> None:
    outbox = str(tmp_path / "outbox.sqlite3")
    check_outbox_layout(outbox, 1)  # nothing there yet
    check_outbox_layout(outbox, 2)
    Path(outbox).write_bytes(b"")
    check_outbox_layout(outbox, 1)
    with pytest.raises(ConfigError) as one_to_two:
        check_outbox_layout(outbox, 2)
    assert one_to_two.value.where == "bridge.outbox"
    assert "outbox.sqlite3' was written by a bridge with 1 worker(s)" in str(one_to_two.value)
    assert "--workers 1" in str(one_to_two.value)
    Path(outbox).unlink()
    for k in range(2):
        Path(partition_outbox(outbox, k, 2)).write_bytes(b"")
    Path(outbox + "-wal").write_bytes(b"")  # SQLite's side files are not outboxes
    check_outbox_layout(outbox, 2)
    for workers in (1, 3):
        with pytest.raises(ConfigError) as other:
            check_outbox_layout(outbox, workers)
        assert "outbox.1-of-2.sqlite3' was written by a bridge with 2 worker(s)" in str(other.value)
    check_outbox_layout(str(tmp_path / "other.sqlite3"), 3)  # another outbox name is free

"""The durable outbox: order per driver, ack, bounds with counters, errors, and kill -9."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from driver_agent.bridge.outbox import NewCall, Outbox, Synchronous
from driver_agent.core.errors import OutboxError

T0_MS = 1_714_564_800_000


def location(lat: float, t_ms: int) -> dict[str, object]:
    return {"lat": lat, "lng": 13.4, "reported_time": t_ms}


def test_pending_calls_survive_a_reopen_with_their_reported_time(tmp_path: Path) -> None:
    path = tmp_path / "outbox.db"
    with Outbox(path) as box:
        first = box.append("d1", "update_driver_location", location(1.0, T0_MS - 5000), T0_MS)
        box.append("d1", "checkin", {"task_id": 7}, T0_MS + 1, reported_time_ms=T0_MS - 10)
    with Outbox(path) as box:
        calls = box.peek("d1")
        assert [(c.id, c.endpoint, c.reported_time_ms) for c in calls] == [
            (first, "update_driver_location", T0_MS - 5000),
            (first + 1, "checkin", T0_MS - 10),
        ]
        assert calls[0].body == location(1.0, T0_MS - 5000)
        assert calls[1].enqueued_at_ms == T0_MS + 1
        assert box.depth() == 2


def test_the_file_is_in_wal_mode_with_the_chosen_synchronous_level(tmp_path: Path) -> None:
    path = tmp_path / "outbox.db"
    with Outbox(path, synchronous=Synchronous.NORMAL) as box:
        box.append("d1", "e", {}, T0_MS)
    db = sqlite3.connect(path)
    try:
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    finally:
        db.close()


def test_calls_come_out_in_order_per_driver_and_heads_give_each_drivers_oldest(
    tmp_path: Path,
) -> None:
    with Outbox(tmp_path / "o.db") as box:
        ids = box.append_many(
            [
                NewCall("d1", "update_driver_location", location(1.0, T0_MS)),
                NewCall("d2", "update_driver_location", location(2.0, T0_MS)),
                NewCall("d1", "update_driver_location", location(1.1, T0_MS + 1000)),
                NewCall("d2", "checkin", {"task_id": 2}),
                NewCall("d1", "checkin", {"task_id": 1}),
            ],
            T0_MS,
        )
        assert [c.id for c in box.peek("d1")] == [ids[0], ids[2], ids[4]]
        assert [c.id for c in box.peek("d2", limit=1)] == [ids[1]]
        assert [(c.driver_id, c.id) for c in box.heads()] == [("d1", ids[0]), ("d2", ids[1])]
        assert box.drivers() == ["d1", "d2"]
        assert box.ack([ids[0], ids[1], 999_999]) == 2
        assert [(c.driver_id, c.id) for c in box.heads()] == [("d1", ids[2]), ("d2", ids[3])]
        assert box.depth() == 3


def test_record_attempt_counts_tries_until_ack(tmp_path: Path) -> None:
    with Outbox(tmp_path / "o.db") as box:
        call_id = box.append("d1", "e", {}, T0_MS)
        box.record_attempt([call_id])
        box.record_attempt([call_id])
        assert box.peek("d1")[0].attempts == 2


def test_size_bound_drops_the_oldest_and_counts_them_durably(tmp_path: Path) -> None:
    path = tmp_path / "o.db"
    with Outbox(path, max_rows=3) as box:
        ids = [box.append("d1", "e", {"n": n}, T0_MS + n) for n in range(5)]
        assert [c.id for c in box.peek("d1")] == ids[2:]
        assert box.depth() == 3
        assert box.dropped_counts() == {"overflow": 2}
    with Outbox(path, max_rows=3) as box:
        box.append_many([NewCall("d2", "e", {}) for _ in range(2)], T0_MS + 10)
        assert box.depth() == 3
        assert box.dropped_counts() == {"overflow": 4}


def test_age_bound_drops_expired_calls_and_reports_oldest_age(tmp_path: Path) -> None:
    with Outbox(tmp_path / "o.db", max_age_s=60) as box:
        assert box.oldest_age_s(T0_MS) == 0.0
        box.append("d1", "e", {"n": 0}, T0_MS)
        box.append("d1", "e", {"n": 1}, T0_MS + 30_000)
        assert box.oldest_age_s(T0_MS + 61_000) == pytest.approx(61.0)
        assert box.drop_expired(T0_MS + 61_000) == 1
        assert [c.body for c in box.peek("d1")] == [{"n": 1}]
        assert box.drop_expired(T0_MS + 61_000) == 0
        assert box.depth() == 1
        assert box.dropped_counts() == {"expired": 1}


def test_discard_counts_refused_calls_by_reason(tmp_path: Path) -> None:
    with Outbox(tmp_path / "o.db") as box:
        call_id = box.append("d1", "checkin", {"task_id": 404}, T0_MS)
        assert box.discard([call_id]) == 1
        assert box.discard([call_id]) == 0
        assert box.dropped_counts() == {"rejected": 1}
        assert box.depth() == 0


@pytest.mark.parametrize(
    "make_path",
    [
        pytest.param(lambda d: d / "missing-dir" / "o.db", id="parent-missing"),
        pytest.param(lambda d: d, id="a-directory"),
        pytest.param(
            lambda d: (
                (d / "junk.db").write_bytes(b"this is not a database" * 400) and d / "junk.db"
            ),
            id="corrupt-file",
        ),
    ],
)
def test_unusable_file_raises_outbox_error_naming_the_path(
    make_path: object, tmp_path: Path
) -> None:
    path = make_path(tmp_path)  # type: ignore[operator]
    with pytest.raises(OutboxError, match=str(tmp_path)):
        Outbox(path)


def test_a_body_that_is_not_json_is_refused_before_anything_is_stored(tmp_path: Path) -> None:
    with Outbox(tmp_path / "o.db") as box:
        with pytest.raises(OutboxError, match="JSON"):
            box.append("d1", "e", {"bad": float("nan")}, T0_MS)
        assert box.depth() == 0


def test_using_a_closed_outbox_raises_outbox_error(tmp_path: Path) -> None:
    box = Outbox(tmp_path / "o.db")
    box.close()
    box.close()
    with pytest.raises(OutboxError, match="closed"):
        box.depth()


CHILD = textwrap.dedent(
    """
    import sys
    from driver_agent.bridge.outbox import Outbox
    box = Outbox(sys.argv[1])
    n = 0
    while True:
        driver = "d%d" % (n % 3)
        call_id = box.append(driver, "update_driver_location", {"n": n}, 1714564800000 + n)
        print(call_id, driver, n, flush=True)
        n += 1
    """
)


def test_kill_9_loses_no_acknowledged_call(tmp_path: Path) -> None:
    path = tmp_path / "o.db"
    acknowledged: list[tuple[int, str, int]] = []
    with subprocess.Popen(
        [sys.executable, "-c", CHILD, str(path)],
        stdout=subprocess.PIPE,
        text=True,
        cwd=Path(__file__).resolve().parents[2],
    ) as child:
        assert child.stdout is not None
        try:
            for line in child.stdout:
                call_id, driver, n = line.split()
                acknowledged.append((int(call_id), driver, int(n)))
                if len(acknowledged) == 150:
                    os.kill(child.pid, signal.SIGKILL)
                    break
        finally:
            child.kill()
    assert child.returncode == -signal.SIGKILL
    assert len(acknowledged) == 150
    with Outbox(path) as box:
        for driver in ("d0", "d1", "d2"):
            stored = [(c.id, c.body["n"]) for c in box.peek(driver, limit=10_000)]
            expected = [(i, n) for i, d, n in acknowledged if d == driver]
            assert stored[: len(expected)] == expected
            assert [i for i, _ in stored] == sorted(i for i, _ in stored)


def test_state_is_written_with_the_calls_in_one_transaction_and_survives_a_reopen(
    tmp_path: Path,
) -> None:
    path = tmp_path / "outbox.sqlite3"
    with Outbox(path) as outbox:
        outbox.append_many([NewCall("d1", "checkin", {"task_id": 1})], T0_MS, state={"w": {"a": 1}})
        outbox.append_many([], T0_MS, state={"other": {"b": 2}})
        outbox.append_many([], T0_MS, state={"other": None, "w": {"a": 3}})
    with Outbox(path) as outbox:
        assert outbox.load_state() == {"w": {"a": 3}}
        assert [c.endpoint for c in outbox.peek("d1")] == ["checkin"]


def test_state_that_cannot_be_stored_leaves_the_calls_out_too(tmp_path: Path) -> None:
    with Outbox(tmp_path / "outbox.sqlite3") as outbox:
        with pytest.raises(OutboxError, match="JSON"):
            outbox.append_many(
                [NewCall("d1", "checkin", {"task_id": 1})], T0_MS, state={"w": {"x": object()}}
            )
        assert (outbox.depth(), outbox.load_state()) == (0, {})

"""The durable outbox: order per driver, ack, bounds with counters, typed rows and state, errors,
the schema version, and kill -9."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

import msgspec
import pytest

from driver_agent.bridge.calls import Call
from driver_agent.bridge.outbox import Outbox
from driver_agent.bridge.outbox_file import SCHEMA_VERSION, Synchronous
from driver_agent.core.endpoints import Endpoint
from driver_agent.core.errors import OutboxError

T0_MS = 1_714_564_800_000
PING = Endpoint.UPDATE_DRIVER_LOCATION
CHECKIN = Endpoint.CHECKIN


def location(lat: float, t_ms: int) -> dict[str, object]:
    return {"lat": lat, "lng": 13.4, "reported_time": t_ms}


def call(driver: str, endpoint: Endpoint = PING, body: dict[str, object] | None = None,
         t_ms: int = T0_MS) -> Call:  # fmt: skip
    return Call(driver, endpoint, {} if body is None else body, t_ms)


class Saved(msgspec.Struct):
    a: int


def test_pending_calls_survive_a_reopen_with_their_reported_time(tmp_path: Path) -> None:
    path = tmp_path / "outbox.db"
    with Outbox(path) as box:
        first = box.append(call("d1", PING, location(1.0, T0_MS - 5000), T0_MS - 5000), T0_MS)
        box.append(call("d1", CHECKIN, {"task_id": 7}, T0_MS - 10), T0_MS + 1)
    with Outbox(path) as box:
        calls = box.peek("d1")
        assert [(c.id, c.endpoint, c.reported_time_ms) for c in calls] == [
            (first, PING, T0_MS - 5000),
            (first + 1, CHECKIN, T0_MS - 10),
        ]
        assert calls[0].body == location(1.0, T0_MS - 5000)
        assert calls[1].enqueued_at_ms == T0_MS + 1
        assert box.depth() == 2


def test_the_file_is_in_wal_mode_with_the_chosen_synchronous_level(tmp_path: Path) -> None:
    path = tmp_path / "outbox.db"
    with Outbox(path, synchronous=Synchronous.NORMAL) as box:
        box.append(call("d1", PING, {}), T0_MS)
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
                call("d1", PING, location(1.0, T0_MS)),
                call("d2", PING, location(2.0, T0_MS)),
                call("d1", PING, location(1.1, T0_MS + 1000)),
                call("d2", CHECKIN, {"task_id": 2}),
                call("d1", CHECKIN, {"task_id": 1}),
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
        call_id = box.append(call("d1", PING, {}), T0_MS)
        box.record_attempt([call_id])
        box.record_attempt([call_id])
        assert box.peek("d1")[0].attempts == 2


def test_size_bound_drops_the_oldest_and_counts_them_durably(tmp_path: Path) -> None:
    path = tmp_path / "o.db"
    with Outbox(path, max_rows=3) as box:
        ids = [box.append(call("d1", PING, {"n": n}), T0_MS + n) for n in range(5)]
        assert [c.id for c in box.peek("d1")] == ids[2:]
        assert box.depth() == 3
        assert box.dropped_counts() == {"overflow": 2}
    with Outbox(path, max_rows=3) as box:
        box.append_many([call("d2") for _ in range(2)], T0_MS + 10)
        assert box.depth() == 3
        assert box.dropped_counts() == {"overflow": 4}


def test_age_bound_drops_expired_calls_and_reports_oldest_age(tmp_path: Path) -> None:
    with Outbox(tmp_path / "o.db", max_age_s=60) as box:
        assert box.oldest_age_s(T0_MS) == 0.0
        box.append(call("d1", PING, {"n": 0}), T0_MS)
        box.append(call("d1", PING, {"n": 1}), T0_MS + 30_000)
        assert box.oldest_age_s(T0_MS + 61_000) == pytest.approx(61.0)
        assert box.drop_expired(T0_MS + 61_000) == 1
        assert [c.body for c in box.peek("d1")] == [{"n": 1}]
        assert box.drop_expired(T0_MS + 61_000) == 0
        assert box.depth() == 1
        assert box.dropped_counts() == {"expired": 1}


def test_discard_counts_refused_calls_by_reason(tmp_path: Path) -> None:
    with Outbox(tmp_path / "o.db") as box:
        call_id = box.append(call("d1", CHECKIN, {"task_id": 404}), T0_MS)
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
            box.append(call("d1", PING, {"bad": float("nan")}), T0_MS)
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
    from driver_agent.bridge.calls import Call
    from driver_agent.bridge.outbox import Outbox
    box = Outbox(sys.argv[1])
    n = 0
    while True:
        driver = "d%d" % (n % 3)
        t_ms = 1714564800000 + n
        call_id = box.append(Call(driver, "update_driver_location", {"n": n}, t_ms), t_ms)
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
        outbox.append_many([call("d1", CHECKIN, {"task_id": 1})], T0_MS, state={"w": Saved(1)})
        outbox.append_many([], T0_MS, state={"other": {"b": 2}})
        outbox.append_many([], T0_MS, state={"other": None, "w": Saved(3)})
    with Outbox(path) as outbox:
        assert outbox.state_keys() == ["w"]
        assert outbox.load_state("w", Saved) == Saved(3)
        assert outbox.load_state("other", Saved) is None
        assert [c.endpoint for c in outbox.peek("d1")] == [CHECKIN]


def test_state_that_cannot_be_stored_leaves_the_calls_out_too(tmp_path: Path) -> None:
    with Outbox(tmp_path / "outbox.sqlite3") as outbox:
        with pytest.raises(OutboxError, match="JSON"):
            outbox.append_many(
                [call("d1", CHECKIN, {"task_id": 1})], T0_MS, state={"w": {"x": object()}}
            )
        assert (outbox.depth(), outbox.state_keys()) == (0, [])


def test_a_state_of_the_wrong_shape_names_the_file_the_key_and_the_field(tmp_path: Path) -> None:
    path = tmp_path / "outbox.sqlite3"
    with Outbox(path) as outbox:
        outbox.append_many([], T0_MS, state={"w": {"a": "three"}})
        with pytest.raises(OutboxError) as info:
            outbox.load_state("w", Saved)
    message = str(info.value)
    assert str(path) in message
    assert "state 'w'.a: expected an integer, got 'three'" in message


def damage(path: Path, sql: str) -> None:
    db = sqlite3.connect(path)
    try:
        with db:
            db.execute(sql)
    finally:
        db.close()


@pytest.mark.parametrize(
    ("sql", "named"),
    [
        pytest.param("UPDATE pending SET endpoint = 'teleport'", "endpoint", id="endpoint"),
        pytest.param("UPDATE pending SET body = '{\"task_id\": '", "body is corrupt", id="json"),
        pytest.param("UPDATE pending SET body = '[1, 2]'", "body: expected", id="not-object"),
    ],
)
def test_a_damaged_row_is_an_outbox_error_naming_the_row_and_field(
    tmp_path: Path, sql: str, named: str
) -> None:
    path = tmp_path / "o.db"
    with Outbox(path) as box:
        call_id = box.append(call("d1", CHECKIN, {"task_id": 1}), T0_MS)
    damage(path, sql)
    with Outbox(path) as box, pytest.raises(OutboxError) as info:
        box.peek("d1")
    assert f"row {call_id}" in str(info.value)
    assert named in str(info.value)


def test_a_file_of_another_schema_version_is_refused_saying_what_to_do(tmp_path: Path) -> None:
    path = tmp_path / "o.db"
    with Outbox(path) as box:
        box.append(call("d1"), T0_MS)
    damage(path, f"UPDATE meta SET value = '{SCHEMA_VERSION - 1}' WHERE key = 'schema_version'")
    with pytest.raises(OutboxError) as info:
        Outbox(path)
    message = str(info.value)
    assert str(path) in message
    assert f"schema version {SCHEMA_VERSION - 1}, this program reads {SCHEMA_VERSION}" in message
    assert "until the outbox is empty" in message
    assert "move the file away" in message


def test_read_new_hands_each_call_out_once_and_names_those_a_bound_dropped_since(
    tmp_path: Path,
) -> None:
    with Outbox(tmp_path / "o.sqlite3", max_rows=4) as box:
        first = box.append_many([call("d1", t_ms=T0_MS + k) for k in range(3)], T0_MS)
        calls, dropped = box.read_new(2)
        assert ([c.id for c in calls], dropped) == (first[:2], set())
        calls, dropped = box.read_new(10)
        assert ([c.id for c in calls], dropped) == (first[2:], set())
        assert box.read_new(10) == ([], set())
        # two more overflow the bound: the two oldest, already handed out, are dropped
        more = box.append_many([call("d2", t_ms=T0_MS + k) for k in range(3)], T0_MS)
        calls, dropped = box.read_new(10)
        assert ([c.id for c in calls], dropped) == (more, set(first[:2]))
        assert box.dropped_counts() == {"overflow": 2}
        box.ack([first[2], *more])
        assert box.depth() == 0
    with Outbox(tmp_path / "o.sqlite3") as box:  # a new process reads from the start again
        assert box.read_new(10) == ([], set())

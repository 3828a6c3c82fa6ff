"""The bridge's durable outbox: every outgoing fleet API call waits here until acknowledged.

One SQLite file in WAL mode. `append` commits before it returns, so a source may answer 200 only
after the call is on disk. Durability: SQLite documents that a committed transaction survives an
application crash (`kill -9`) under any `synchronous` setting, since the WAL bytes are already in
the OS page cache; with `synchronous=NORMAL` in WAL mode a power loss or OS crash may roll back
the last commits, with `FULL` the WAL is fsynced at every commit and they survive that too. The
default is FULL ("acknowledged" then means on stable storage); NORMAL is a choice for speed.

Delivery is at-least-once and in order per driver: `read_new(limit)` hands out the pending calls
in enqueue order, each once per process (a cursor; one query for all drivers, so the sender
reads in batches), with the ids of handed-out calls a bound dropped since; `peek(driver_id)` and
`heads()` show the oldest pending calls. The sender calls `ack(ids)` (one `executemany`
transaction for a batch) only after the API answered, and a call that is never acked is handed
out again after a restart. Each call is stored as its final wire body
(`calls.Call`, built once when the walker decided it) with its original `reported_time_ms`; rows
come back as typed `PendingCall`s, and a damaged row is an `OutboxError` naming the row and field.

Bounds: at most `max_rows` pending calls (the oldest are dropped to make room, reason
"overflow") and at most `max_age_s` old (`drop_expired`, reason "expired"); `discard(ids,
reason)` drops calls the API refused for good. Every drop is counted per reason in the same file,
so the counts survive restarts too: nothing is dropped silently.

State: `append_many(calls, now_ms, state={key: value})` also writes small values (structs or
JSON objects: the daemon's order walk) in the same transaction, so the calls and the state that
implied them are on disk together or not at all; `load_state(key, Type)` reads one back after a
restart, checked as a `Type`.

The file is opened by `outbox_file.open_outbox_file` (WAL, `synchronous`, the schema and its
version: a file of another version is refused with an `OutboxError` saying what to do).

The API is sync (sqlite3 is). A FULL commit costs one fsync (about a millisecond on an SSD, more
on a busy disk), so the daemon should call it through `anyio.to_thread.run_sync` with a
`CapacityLimiter(1)` rather than on the event loop; the connection allows use from any one thread
at a time and a lock serialises callers.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from contextlib import contextmanager
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import msgspec

from driver_agent.bridge.calls import Call
from driver_agent.bridge.outbox_file import Synchronous, open_outbox_file
from driver_agent.core.endpoints import Endpoint
from driver_agent.core.errors import OutboxError
from driver_agent.core.typed import convert, to_builtins

if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator, Mapping, Sequence

T = TypeVar("T")


class DropReason(StrEnum):
    OVERFLOW = "overflow"
    EXPIRED = "expired"
    REJECTED = "rejected"


class PendingCall(msgspec.Struct, frozen=True):
    """One call waiting to be sent: a stored `Call` with its row id, enqueue time, attempts."""

    id: int
    driver_id: str
    endpoint: Endpoint
    body: dict[str, object]
    reported_time_ms: int
    enqueued_at_ms: int
    attempts: int


class Outbox:
    """A bounded, durable, per-driver-ordered queue of fleet API calls in one SQLite file."""

    def __init__(
        self,
        path: str | Path,
        max_rows: int = 100_000,
        max_age_s: float = 24 * 3600.0,
        *,
        synchronous: Synchronous = Synchronous.FULL,
    ) -> None:
        if max_rows < 1:
            raise ValueError(f"max_rows must be >= 1, got {max_rows}")
        if max_age_s <= 0:
            raise ValueError(f"max_age_s must be > 0, got {max_age_s}")
        self.path = Path(path)
        self.max_rows = max_rows
        self.max_age_s = max_age_s
        self._lock = threading.Lock()
        self._closed = False
        self._cursor = 0  # the last id `read_new` handed out
        self._dropped_read: set[int] = set()  # handed out, then dropped by a bound
        self._db, self._depth = open_outbox_file(self.path, synchronous)

    # writing

    def append(self, call: Call, now_ms: int) -> int:
        """Store one call durably and return its id."""
        return self.append_many([call], now_ms)[0]

    def append_many(
        self,
        calls: Sequence[Call],
        now_ms: int,
        *,
        state: Mapping[str, object] | None = None,
    ) -> list[int]:
        """Store several calls in one transaction (one fsync); ids in the order given.

        `state` (key -> a struct or JSON object, None deletes the key) is written in the same
        transaction, so the caller's own state and the calls it implies are on disk together or
        not at all.
        """
        rows = [
            (c.driver_id, str(c.endpoint), _dump(c.body), c.reported_time_ms, now_ms) for c in calls
        ]
        state_rows = [(k, None if v is None else _dump(v)) for k, v in (state or {}).items()]
        ids: list[int] = []
        with self._transaction("append") as db:
            for key, value in state_rows:
                if value is None:
                    db.execute("DELETE FROM state WHERE key = ?", (key,))
                else:
                    db.execute(
                        "INSERT INTO state (key, value) VALUES (?, ?)"
                        " ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                        (key, value),
                    )
            for row in rows:
                cursor = db.execute(
                    "INSERT INTO pending (driver_id, endpoint, body, reported_time_ms,"
                    " enqueued_at_ms) VALUES (?, ?, ?, ?, ?)",
                    row,
                )
                assert cursor.lastrowid is not None
                ids.append(cursor.lastrowid)
            self._depth += len(rows)
            self._enforce_max_rows(db)
        return ids

    def ack(self, ids: Iterable[int]) -> int:
        """Forget calls the API acknowledged; returns how many were still pending."""
        return self._delete(ids, reason=None)

    def discard(self, ids: Iterable[int], reason: str = DropReason.REJECTED) -> int:
        """Drop calls that will never be sent (e.g. refused by the API), counted under `reason`."""
        return self._delete(ids, reason=reason)

    def record_attempt(self, ids: Iterable[int]) -> None:
        """Count one more send attempt for each call (for back-off and reports)."""
        id_list = list(ids)
        with self._transaction("record attempt") as db:
            db.executemany(
                "UPDATE pending SET attempts = attempts + 1 WHERE id = ?", [(i,) for i in id_list]
            )

    def drop_expired(self, now_ms: int) -> int:
        """Drop calls older than `max_age_s` (by enqueue time); returns how many."""
        cutoff_ms = now_ms - round(self.max_age_s * 1000)
        with self._transaction("drop expired") as db:
            dropped = self._forget(
                db.execute(
                    "DELETE FROM pending WHERE enqueued_at_ms < ? RETURNING id", (cutoff_ms,)
                )
            )
            self._depth -= dropped
            self._count_drop(db, DropReason.EXPIRED, dropped)
        return dropped

    # reading

    def peek(self, driver_id: str, limit: int = 100) -> list[PendingCall]:
        """The oldest pending calls of one driver, oldest first."""
        return self._select(
            "SELECT * FROM pending WHERE driver_id = ? ORDER BY id LIMIT ?", (driver_id, limit)
        )

    def read_new(self, limit: int) -> tuple[list[PendingCall], set[int]]:
        """Up to `limit` calls appended since the last `read_new` (all pending ones at the
        first), in enqueue order, and the ids of calls handed out earlier that the bounds have
        dropped since (overflow, expired): the reader must not send those. One query for all
        drivers; the reader keeps them in memory and never sees them again from here."""
        with self._reading("read new") as db:
            rows = db.execute(
                "SELECT * FROM pending WHERE id > ? ORDER BY id LIMIT ?", (self._cursor, limit)
            ).fetchall()
            if rows:
                self._cursor = int(rows[-1][0])
            dropped, self._dropped_read = self._dropped_read, set()
        return [self._pending(r) for r in rows], dropped

    def heads(self) -> list[PendingCall]:
        """The oldest pending call of every driver, in global enqueue order."""
        return self._select(
            "SELECT * FROM pending WHERE id IN (SELECT MIN(id) FROM pending GROUP BY driver_id)"
            " ORDER BY id",
            (),
        )

    def drivers(self) -> list[str]:
        """Drivers with pending calls, the one waiting longest first."""
        with self._reading("list drivers") as db:
            rows = db.execute(
                "SELECT driver_id FROM pending GROUP BY driver_id ORDER BY MIN(id)"
            ).fetchall()
        return [str(r[0]) for r in rows]

    def depth(self) -> int:
        """Pending calls (kept in memory: one Outbox object owns its file)."""
        with self._reading("count"):
            return self._depth

    def oldest_age_s(self, now_ms: int) -> float:
        """Seconds since the oldest pending call was enqueued; 0 when empty."""
        with self._reading("age") as db:
            oldest = db.execute("SELECT MIN(enqueued_at_ms) FROM pending").fetchone()[0]
        return 0.0 if oldest is None else max(0.0, (now_ms - int(oldest)) / 1000.0)

    def dropped_counts(self) -> dict[str, int]:
        """Calls dropped so far, per reason, over the file's whole life."""
        with self._reading("dropped counts") as db:
            rows = db.execute("SELECT reason, count FROM dropped ORDER BY reason").fetchall()
        return {str(r[0]): int(r[1]) for r in rows}

    def state_keys(self) -> list[str]:
        """The keys written with `append_many(..., state=...)`, sorted."""
        with self._reading("read state") as db:
            rows = db.execute("SELECT key FROM state ORDER BY key").fetchall()
        return [str(r[0]) for r in rows]

    def load_state(self, key: str, type_: type[T]) -> T | None:
        """The value last written under `key` as a `type_`, or None; a damaged one is an
        `OutboxError` naming the file, the key's dotted field and the value."""
        with self._reading("read state") as db:
            row = db.execute("SELECT value FROM state WHERE key = ?", (key,)).fetchone()
        if row is None:
            return None
        return self._decode(row[0], type_, f"state {key!r}")

    def close(self) -> None:
        with self._lock:
            if not self._closed:
                self._closed = True
                self._db.close()

    def __enter__(self) -> Outbox:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # internals

    def _delete(self, ids: Iterable[int], reason: str | None) -> int:
        rows = [(i,) for i in ids]
        with self._transaction("ack" if reason is None else "discard") as db:
            removed = db.executemany("DELETE FROM pending WHERE id = ?", rows).rowcount
            self._depth -= removed
            if reason is not None:
                self._count_drop(db, reason, removed)
        return removed

    def _enforce_max_rows(self, db: sqlite3.Connection) -> None:
        excess = self._depth - self.max_rows
        if excess > 0:
            self._forget(
                db.execute(
                    "DELETE FROM pending WHERE id IN (SELECT id FROM pending ORDER BY id LIMIT ?)"
                    " RETURNING id",
                    (excess,),
                )
            )
            self._count_drop(db, DropReason.OVERFLOW, excess)
            self._depth -= excess

    def _forget(self, deleted: sqlite3.Cursor) -> int:
        """Count the rows a bound deleted; remember those `read_new` already handed out."""
        count = 0
        for (call_id,) in deleted:
            count += 1
            if call_id <= self._cursor:
                self._dropped_read.add(call_id)
        return count

    @staticmethod
    def _count_drop(db: sqlite3.Connection, reason: str, count: int) -> None:
        if count > 0:
            db.execute(
                "INSERT INTO dropped (reason, count) VALUES (?, ?)"
                " ON CONFLICT (reason) DO UPDATE SET count = count + excluded.count",
                (str(reason), count),
            )

    def _select(self, sql: str, params: tuple[Any, ...]) -> list[PendingCall]:
        with self._reading("read") as db:
            rows = db.execute(sql, params).fetchall()
        return [self._pending(r) for r in rows]

    def _pending(self, row: tuple[Any, ...]) -> PendingCall:
        call_id, driver_id, endpoint, body, reported_time_ms, enqueued_at_ms, attempts = row
        where = f"row {call_id}"
        raw = {
            "id": call_id,
            "driver_id": driver_id,
            "endpoint": endpoint,
            "body": self._decode(str(body), dict[str, object], f"{where}.body"),
            "reported_time_ms": reported_time_ms,
            "enqueued_at_ms": enqueued_at_ms,
            "attempts": attempts,
        }
        return convert(raw, PendingCall, where=where, error=self._row_error)

    def _decode(self, text: str, type_: type[T], where: str) -> T:
        try:
            value = msgspec.json.decode(text)
        except msgspec.DecodeError as exc:
            raise OutboxError(f"outbox {self.path}: {where} is corrupt: {exc}") from None
        return convert(value, type_, where=where, error=self._row_error)

    def _row_error(self, where: str, message: str) -> OutboxError:
        return OutboxError(f"outbox {self.path}: {where}: {message}")

    @contextmanager
    def _transaction(self, what: str) -> Iterator[sqlite3.Connection]:
        with self._lock:
            self._check_open()
            try:
                self._db.execute("BEGIN IMMEDIATE")
            except sqlite3.Error as exc:
                raise self._error(f"cannot {what}", exc) from None
            depth_before = self._depth
            dropped_before = set(self._dropped_read)
            try:
                yield self._db
                self._db.execute("COMMIT")
            except BaseException as exc:
                self._depth = depth_before
                self._dropped_read = dropped_before
                if self._db.in_transaction:
                    self._db.execute("ROLLBACK")
                if isinstance(exc, sqlite3.Error):
                    raise self._error(f"cannot {what}", exc) from None
                raise

    @contextmanager
    def _reading(self, what: str) -> Iterator[sqlite3.Connection]:
        with self._lock:
            self._check_open()
            try:
                yield self._db
            except sqlite3.Error as exc:
                raise self._error(f"cannot {what}", exc) from None

    def _check_open(self) -> None:
        if self._closed:
            raise OutboxError(f"outbox {self.path}: already closed")

    def _error(self, what: str, exc: sqlite3.Error) -> OutboxError:
        return OutboxError(f"outbox {self.path}: {what}: {exc}")


def _dump(value: object) -> str:
    try:
        return json.dumps(to_builtins(value), separators=(",", ":"), allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise OutboxError(f"outbox: not JSON-serialisable: {exc}") from None

"""Opening the outbox's SQLite file: WAL mode, `synchronous`, the schema and its version (I/O).

`open_outbox_file(path, synchronous)` returns the connection (autocommit: the outbox runs its
own `BEGIN IMMEDIATE` transactions; usable from any one thread at a time) and the count of
pending rows. Every failure is an `OutboxError` naming the file, and the connection is closed.

Schema version 2 (bodies are final wire bodies). A file of another version is refused with an
`OutboxError` that names it and says what to do: drain it with the version that wrote it, or
move it away to start afresh.
"""

from __future__ import annotations

import sqlite3
from enum import StrEnum
from typing import TYPE_CHECKING

from driver_agent.core.errors import OutboxError

if TYPE_CHECKING:
    from pathlib import Path

SCHEMA_VERSION = 2

_SCHEMA = """
CREATE TABLE IF NOT EXISTS pending (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    driver_id TEXT NOT NULL,
    endpoint TEXT NOT NULL,
    body TEXT NOT NULL,
    reported_time_ms INTEGER NOT NULL,
    enqueued_at_ms INTEGER NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS pending_by_driver ON pending (driver_id, id);
CREATE TABLE IF NOT EXISTS dropped (reason TEXT PRIMARY KEY, count INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS state (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""


class Synchronous(StrEnum):
    """SQLite's `PRAGMA synchronous` values the outbox allows."""

    NORMAL = "NORMAL"
    FULL = "FULL"


def open_outbox_file(path: Path, synchronous: Synchronous) -> tuple[sqlite3.Connection, int]:
    """The outbox file's connection, ready (WAL, schema of this version), and its pending rows."""
    try:
        db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    except sqlite3.Error as exc:
        raise OutboxError(f"outbox {path}: cannot open: {exc}") from None
    try:
        mode = db.execute("PRAGMA journal_mode=WAL").fetchone()[0]
        if str(mode).lower() != "wal":
            raise OutboxError(f"outbox {path}: cannot switch to WAL (got {mode!r})")
        db.execute(f"PRAGMA synchronous={Synchronous(synchronous).value}")
        db.execute("PRAGMA busy_timeout=5000")
        db.executescript(_SCHEMA)
        _check_version(db, path)
        depth = int(db.execute("SELECT COUNT(*) FROM pending").fetchone()[0])
    except sqlite3.Error as exc:
        db.close()
        raise OutboxError(f"outbox {path}: cannot open: {exc}") from None
    except OutboxError:
        db.close()
        raise
    return db, depth


def _check_version(db: sqlite3.Connection, path: Path) -> None:
    row = db.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
    if row is None:
        db.execute(
            "INSERT INTO meta (key, value) VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),)
        )
    elif row[0] != str(SCHEMA_VERSION):
        raise OutboxError(
            f"outbox {path}: schema version {row[0]}, this program reads"
            f" {SCHEMA_VERSION}: let the version that wrote it send what is left (run it until"
            " the outbox is empty), or move the file away to start with a new one"
        )

"""The witness's memory: per log origin, the size and root it last cosigned and the note it
shows monitors, in one SQLite file of its own (the standard library's `sqlite3`).

Every call opens its own connection, so threads share nothing but the file. A change is one
`BEGIN IMMEDIATE` transaction that moves a log on only from the size the decision was made
at (compare and swap), committed with `synchronous=FULL` before the call returns: once
`advance` says yes, the new state survives a crash, and two requests that both decided from
one size cannot both move the log on.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from ledger.tlog.witness import Cosigned, origin_hash

TABLE = "cosigned"
# Sizes are uint64 and SQLite's INTEGER is signed 64-bit: they are stored as canonical decimal
# text, which is all an equality test needs.
SCHEMA = f"""
CREATE TABLE IF NOT EXISTS {TABLE} (
    origin TEXT PRIMARY KEY,
    origin_sha256 TEXT NOT NULL UNIQUE,
    size TEXT NOT NULL,
    root BLOB NOT NULL,
    note TEXT NOT NULL
) STRICT
"""
COLUMNS = "origin, size, root, note"


class WitnessState:
    """The SQLite file at `path`, created with its table if missing."""

    def __init__(self, path: Path, *, timeout: float = 10.0) -> None:
        self.path = path
        self.timeout = timeout
        with self._connect() as db:
            db.execute("PRAGMA journal_mode = WAL")  # readers do not wait for the writer
            db.execute(SCHEMA)

    def last(self, origin: str) -> Cosigned | None:
        """What was last cosigned for `origin`; None if it never was (size 0)."""
        return self._one(f"SELECT {COLUMNS} FROM {TABLE} WHERE origin = ?", origin)

    def by_origin_hash(self, digest: str) -> Cosigned | None:
        """The same, found by the lowercase hex SHA-256 of the origin (monitoring URLs)."""
        return self._one(f"SELECT {COLUMNS} FROM {TABLE} WHERE origin_sha256 = ?", digest)

    def advance(self, old_size: int, new: Cosigned) -> bool:
        """Record `new` if its log's size is still `old_size` (a log never cosigned is at 0),
        in one committed transaction; whether it did (False: another request moved it)."""
        with self._connect() as db:
            db.execute("BEGIN IMMEDIATE")
            moved = db.execute(
                f"UPDATE {TABLE} SET size = ?, root = ?, note = ? WHERE origin = ? AND size = ?",
                (str(new.size), new.root, new.note, new.origin, str(old_size)),
            ).rowcount
            if not moved and old_size == 0:
                moved = db.execute(
                    f"INSERT INTO {TABLE} (origin_sha256, {COLUMNS}) VALUES (?, ?, ?, ?, ?)"
                    " ON CONFLICT (origin) DO NOTHING",
                    (origin_hash(new.origin), new.origin, str(new.size), new.root, new.note),
                ).rowcount
            db.execute("COMMIT" if moved == 1 else "ROLLBACK")
            return moved == 1

    def _one(self, query: str, key: str) -> Cosigned | None:
        with self._connect() as db:
            row = db.execute(query, (key,)).fetchone()
        if row is None:
            return None
        return Cosigned(row["origin"], int(row["size"]), bytes(row["root"]), row["note"])

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        """A connection in autocommit mode (transactions are explicit), closed afterwards:
        closing one inside a transaction rolls it back."""
        db = sqlite3.connect(self.path, timeout=self.timeout, isolation_level=None)
        try:
            db.row_factory = sqlite3.Row
            db.execute("PRAGMA synchronous = FULL")  # a commit is on disk when it returns
            yield db
        finally:
            db.close()

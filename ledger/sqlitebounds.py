"""Bounds on SQLite's waits, so that a store another process holds locked answers within the
lock timeout (writes) and the read wait (reads), never later.

SQLite waits only for locks (its busy timeout, the lock timeout); a statement has no other
reason to block. But eventsourcing's connection pool queues every request for a connection,
readers' too, behind one semaphore (for fairness), and a writer that waits for the pool's one
writer connection holds that semaphore while it waits: with the store locked by another
process, the writer connection is held by a writer in SQLite's busy wait, the next writer
waits for it inside the queue, and every reader waits behind them, a lock timeout per writer
in line (reads were seen to take three times the read wait). `LedgerSQLitePool` has writers
wait for their turn before they join the queue, so readers pass, and gives a writer's two
waits (its turn, then SQLite's lock) one budget: the lock timeout, or less when asked.
"""

from __future__ import annotations

import threading
import time

from eventsourcing.persistence import ConnectionUnavailableError
from eventsourcing.sqlite import (
    SQLITE3_DEFAULT_LOCK_TIMEOUT,
    SQLiteConnection,
    SQLiteConnectionPool,
    SQLiteFactory,
)
from eventsourcing.utils import Environment, EnvType


class LedgerSQLitePool(SQLiteConnectionPool):
    """eventsourcing's SQLite pool; a file database's writers take turns outside the queue
    readers join, within one budget for both of their waits."""

    def __init__(
        self,
        *,
        db_name: str,
        lock_timeout: int | None = None,
        pool_size: int = 5,
        max_overflow: int = 10,
        pool_timeout: float = 5.0,
        max_age: float | None = None,
        pre_ping: bool = False,
    ) -> None:
        super().__init__(
            db_name=db_name,
            lock_timeout=lock_timeout,
            pool_size=pool_size,
            max_overflow=max_overflow,
            pool_timeout=pool_timeout,
            max_age=max_age,
            pre_ping=pre_ping,
        )
        self._turn = threading.Lock()  # held by the writer that has, or is getting, the writer
        self._shortened: set[int] = set()  # ids of connections with a shorter busy timeout

    @property
    def lock_seconds(self) -> float:
        return float(self.lock_timeout or SQLITE3_DEFAULT_LOCK_TIMEOUT)

    def get_connection(
        self, timeout: float | None = None, *, is_writer: bool | None = None
    ) -> SQLiteConnection:
        """A connection; for a writer (`is_writer`), `timeout` is how long it may wait for
        its turn and then for SQLite's lock, together (default: the lock timeout)."""
        if is_writer is not True or self.is_sqlite_memory_mode:
            return super().get_connection(timeout, is_writer=is_writer)
        budget = self.lock_seconds if timeout is None else max(timeout, 0.0)
        deadline = time.monotonic() + budget
        if not self._turn.acquire(timeout=budget):
            raise ConnectionUnavailableError("database is locked (waiting for another writer)")
        try:
            conn = super().get_connection(max(deadline - time.monotonic(), 0.0), is_writer=True)
        except BaseException:
            self._turn.release()
            raise
        # What is left of the budget, for SQLite's busy wait (which counts in milliseconds: a
        # writer that did not wait one keeps the connection's, without two statements more).
        left = max(round((deadline - time.monotonic()) * 1000), 1)
        if left < round(self.lock_seconds * 1000) or id(conn) in self._shortened:
            try:
                conn.cursor().execute(f"PRAGMA busy_timeout = {left}")
            except BaseException:
                self.put_connection(conn)
                raise
            self._shortened.add(id(conn))
        return conn

    def put_connection(self, conn: SQLiteConnection) -> None:
        writer = conn.is_writer is True and not self.is_sqlite_memory_mode
        try:
            if id(conn) in self._shortened:
                if not conn.closed:
                    ms = round(self.lock_seconds * 1000)
                    conn.cursor().execute(f"PRAGMA busy_timeout = {ms}")
                # Only once put back: a connection whose reset failed stays marked, and the
                # next writer that takes it sets its timeout again.
                self._shortened.discard(id(conn))
        finally:
            try:
                super().put_connection(conn)
            finally:
                if writer:
                    self._turn.release()


class LedgerSQLiteFactory(SQLiteFactory):
    """eventsourcing's SQLite factory, with `LedgerSQLitePool` as its datastore's pool."""

    def __init__(self, env: Environment | EnvType | None):
        super().__init__(env)
        library = self.datastore.pool  # unused so far: it connects on demand
        self.datastore.pool = LedgerSQLitePool(
            db_name=library.db_name,
            lock_timeout=library.lock_timeout,
            pool_size=library.pool_size,
            max_overflow=library.max_overflow,
            pool_timeout=library.pool_timeout,
            max_age=library.max_age,
            pre_ping=library.pre_ping,
        )
        library.close()

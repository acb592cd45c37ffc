"""The bounds, one at a time, on a real PostgreSQL server (and SQLite's pool): the server ends
a statement or a lock wait that runs past its timeout; the client ends a wait for an answer
that never comes; a writer waiting for its turn lets readers pass."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from eventsourcing.persistence import ConnectionUnavailableError

from api.bootstrap import Container, build
from ledger.errors import StoreUnavailable
from ledger.pgbounds import ANSWER_GRACE_SECONDS, NoAnswer, longer_statements
from ledger.settings import Settings
from ledger.sqlitebounds import LedgerSQLitePool
from tests.faults.proxy import FaultProxy
from tests.faults.support import SLACK

STATEMENT, LOCK, CONNECT = 1.5, 1, 2


@pytest.fixture
def bounded(proxied: tuple[str, FaultProxy]) -> Iterator[tuple[Container, FaultProxy]]:
    url, proxy = proxied
    container = build(Settings(database_url=url, statement_timeout_seconds=STATEMENT,
                               lock_timeout_seconds=LOCK, connect_timeout_seconds=CONNECT,
                               log_enabled=False))  # fmt: skip
    try:
        yield container, proxy
    finally:
        container.close()


def _timed(call: Callable[[], object]) -> tuple[BaseException, float]:
    started = time.monotonic()
    try:
        call()
    except BaseException as e:
        return e, time.monotonic() - started
    raise AssertionError("no error")


@pytest.mark.postgres
def test_every_pooled_connection_starts_with_the_statement_and_lock_timeouts(
    bounded: tuple[Container, FaultProxy],
) -> None:
    container, _ = bounded
    db = container.projector.db
    with db.reader() as curs:
        shown = [db.one(curs, f"SHOW {name}") for name in ("statement_timeout", "lock_timeout")]
    assert shown == [("1500ms",), ("1s",)]


@pytest.mark.postgres
def test_a_statement_past_the_statement_timeout_is_ended_by_the_server(
    bounded: tuple[Container, FaultProxy],
) -> None:
    db = bounded[0].projector.db

    def sleep() -> None:
        with db.reader() as curs:
            db.execute(curs, "SELECT pg_sleep(10)")

    error, took = _timed(sleep)
    assert isinstance(error, StoreUnavailable) and "statement timeout" in error.detail, error
    assert STATEMENT <= took < STATEMENT + SLACK


@pytest.mark.postgres
def test_a_lock_wait_past_the_lock_timeout_is_ended_by_the_server(
    bounded: tuple[Container, FaultProxy], pg_url: str
) -> None:
    db = bounded[0].projector.db
    schema = pg_url.rsplit("schema=", 1)[1]
    with psycopg.connect(pg_url.split("?")[0]) as holder:  # another process's transaction
        holder.execute(psycopg.sql.SQL("LOCK TABLE {} IN EXCLUSIVE MODE").format(
            psycopg.sql.Identifier(schema, "rm_tracking")))  # fmt: skip

        def update() -> None:
            with db.transaction() as curs:
                db.execute(curs, db.sql("UPDATE {t} SET position = position", t="rm_tracking"))

        error, took = _timed(update)
    assert isinstance(error, StoreUnavailable) and "lock timeout" in error.detail, error
    assert LOCK <= took < LOCK + SLACK


@pytest.mark.postgres
def test_an_answer_that_never_comes_ends_the_wait_and_the_connection(
    bounded: tuple[Container, FaultProxy],
) -> None:
    container, proxy = bounded
    datastore = container.projector.db.datastore
    with datastore.pool.connection() as conn:
        proxy.blackhole()
        error, took = _timed(lambda: conn.execute("SELECT 1"))
        assert isinstance(error, NoAnswer), error
        assert STATEMENT + ANSWER_GRACE_SECONDS <= took < STATEMENT + ANSWER_GRACE_SECONDS + SLACK
        assert conn.closed  # its state unknown: never handed out again
    # Opening a connection into the black hole ends at the connect timeout.
    error, took = _timed(lambda: container.ledger.head())
    assert isinstance(error, StoreUnavailable), error
    assert took < CONNECT + SLACK
    proxy.forward()
    assert container.ledger.head() >= 0  # and the pool connects again by itself


def test_a_writer_waiting_for_its_turn_on_sqlite_lets_readers_pass(tmp_path: Path) -> None:
    pool = LedgerSQLitePool(db_name=str(tmp_path / "x.db"), lock_timeout=LOCK)
    first = pool.get_connection(is_writer=True)
    waited: list[tuple[Exception, float]] = []

    def second_writer() -> None:
        started = time.monotonic()
        try:
            pool.get_connection(is_writer=True)
        except ConnectionUnavailableError as e:
            waited.append((e, time.monotonic() - started))

    thread = threading.Thread(target=second_writer)
    thread.start()
    time.sleep(0.2)  # the second writer is waiting for its turn
    started = time.monotonic()
    reader = pool.get_connection(is_writer=False)
    assert time.monotonic() - started < 0.1  # not queued behind the waiting writer
    pool.put_connection(reader)
    thread.join()
    ((error, took),) = waited  # gave up within the lock timeout
    assert isinstance(error, ConnectionUnavailableError) and LOCK <= took + 0.2 < LOCK + SLACK
    pool.put_connection(first)
    again = pool.get_connection(is_writer=True)  # the turn is free again
    pool.put_connection(again)
    pool.close()


def test_a_writer_that_waited_for_its_turn_waits_for_sqlites_lock_only_what_is_left(
    tmp_path: Path,
) -> None:
    """The busy timeout is the budget's rest: shortened after a wait for the turn, and put back
    when the connection returns; a writer whose turn came at once keeps it as it was."""
    pool = LedgerSQLitePool(db_name=str(tmp_path / "x.db"), lock_timeout=LOCK)

    def busy(conn: Any) -> int:
        cursor = conn.cursor()
        cursor.execute("PRAGMA busy_timeout")
        return int(cursor.fetchone()[0])

    pool.put_connection(pool.get_connection(is_writer=True))  # opened: the next comes at once
    first = pool.get_connection(is_writer=True)
    # Its turn came at once: its busy timeout is the whole budget, less the instant it took.
    assert LOCK * 1000 - 100 < busy(first) <= LOCK * 1000
    got: list[tuple[int, bool]] = []

    def second_writer() -> None:
        conn = pool.get_connection(is_writer=True)
        got.append((busy(conn), id(conn) in pool._shortened))
        pool.put_connection(conn)

    thread = threading.Thread(target=second_writer)
    thread.start()
    time.sleep(0.3)  # the second writer waits for its turn
    pool.put_connection(first)
    thread.join()
    ((left, shortened),) = got
    assert 0 < left <= LOCK * 1000 - 250 and shortened  # what the wait of 0.3 s or more left
    again = pool.get_connection(is_writer=True)
    assert busy(again) == LOCK * 1000  # put back
    pool.put_connection(again)
    pool.close()


@pytest.mark.postgres
def test_a_batch_of_many_events_may_take_longer_than_a_statement_by_its_size(
    bounded: tuple[Container, FaultProxy],
) -> None:
    datastore = bounded[0].projector.db.datastore
    with datastore.pool.connection() as conn:
        with longer_statements(conn, 1.0):  # as for an import of 1,000 events
            # No transaction open while the client adapts the parameters of a large
            # statement: PostgreSQL ends a session idle in one for 5 s (a million events).
            assert conn.info.transaction_status == psycopg.pq.TransactionStatus.IDLE
            conn.execute("SELECT pg_sleep(2)")  # past the statement timeout, within 2.5 s
        with pytest.raises(psycopg.errors.QueryCanceled):
            conn.execute("SELECT pg_sleep(2)")  # and bounded as before after it

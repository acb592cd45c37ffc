"""The read models' access to their tables, on the same database (and pool) as the event log.

SQL is written once with `%s` placeholders and `{name}` table slots; on PostgreSQL the slots are
filled with `psycopg.sql.Identifier` (schema-qualified), on SQLite with fixed quoted names of our
own tables. No value is ever formatted into SQL. The queries read rows by column name
(`reader(by_name=True)`, `rows`, `row`); the projector and rebuild read tuples.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, nullcontext, suppress
from operator import itemgetter
from typing import Any, Protocol
from uuid import UUID

import orjson
from eventsourcing.persistence import (
    ApplicationRecorder,
    InterfaceError,
    OperationalError,
    StoredEvent,
)
from eventsourcing.postgres import PostgresApplicationRecorder
from eventsourcing.sqlite import SQLiteApplicationRecorder
from psycopg.rows import dict_row, tuple_row
from psycopg.sql import SQL, Identifier

from ledger.errors import unreachable
from ledger.pgbounds import unbounded_waits
from ledger.store import stored_streams


class NamedRow(Protocol):
    """A row read by column name: a dict (psycopg's `dict_row`) on PostgreSQL, an `sqlite3.Row`
    (the row factory of eventsourcing's SQLite connections) on SQLite."""

    def __getitem__(self, column: str, /) -> Any: ...


class Db:
    """A thin cursor provider for one store kind ('sqlite' or 'postgres')."""

    def __init__(self, recorder: ApplicationRecorder) -> None:
        if isinstance(recorder, PostgresApplicationRecorder):
            self.kind = "postgres"
            self.schema = recorder.datastore.schema
        elif isinstance(recorder, SQLiteApplicationRecorder):
            self.kind = "sqlite"
            self.schema = ""
        else:
            raise TypeError(f"unsupported recorder {type(recorder).__name__}")
        self.recorder = recorder
        self.datastore: Any = recorder.datastore
        self.events_table = recorder.events_table_name
        self._cache: dict[tuple[str, tuple[tuple[str, str], ...]], Any] = {}

    def sql(self, template: str, **tables: str) -> Any:
        """Compile a template once: `{slot}` -> table identifier, `%s` -> placeholder. On
        PostgreSQL the statement is rendered to bytes here: psycopg renders a composed
        statement again on every execution (a measurable share of a query's CPU)."""
        key = (template, tuple(sorted(tables.items())))
        query = self._cache.get(key)
        if query is None:
            if self.kind == "postgres":
                query = (
                    SQL(template)
                    .format(**{k: Identifier(self.schema, v) for k, v in tables.items()})
                    .as_bytes()
                )
            else:
                query = template.replace("%s", "?").format(
                    **{k: '"' + v.replace('"', "") + '"' for k, v in tables.items()}
                )
            self._cache[key] = query
        return query

    @staticmethod
    @contextmanager
    def _reachable() -> Iterator[None]:
        """A lost or refused connection becomes StoreUnavailable (a 503, exit code 3)."""
        try:
            yield
        except (OperationalError, InterfaceError, sqlite3.OperationalError) as e:
            raise unreachable(e) from None

    @contextmanager
    def transaction(
        self, *, write: bool = True, lock_wait: float | None = None, maintenance: bool = False
    ) -> Iterator[Any]:
        """A cursor inside one transaction (committed on success when `write`). `lock_wait`:
        seconds to wait for locks at most, if less than the lock timeout (a reader that has
        waited for part of its bound already; on PostgreSQL, to within a second).
        `maintenance`: a rebuild's transaction, which runs statements (an index over a million
        rows) and computes between them (findings) for as long as its work takes: on
        PostgreSQL neither the statement timeout, nor the idle-in-transaction bound, nor the
        client's bound on waiting for an answer applies to it (SQLite has none of them). At a
        million events, or on a busy machine, they cut `custody rebuild` off."""
        with self._reachable():
            if self.kind == "postgres":
                with (
                    self.datastore.get_connection() as conn,
                    unbounded_waits(conn) if maintenance else nullcontext(),
                    conn.transaction(force_rollback=not write),
                    conn.cursor(row_factory=tuple_row) as curs,
                ):
                    if maintenance:
                        curs.execute(
                            "SET LOCAL statement_timeout = 0; "
                            "SET LOCAL idle_in_transaction_session_timeout = 0"
                        )
                    # One more round trip: only where the lock timeout would overrun the
                    # wait by more than a second.
                    timeout = self.datastore.lock_timeout
                    if lock_wait is not None and (timeout == 0 or lock_wait < timeout - 1):
                        ms = max(round(lock_wait * 1000), 1)  # 0 would be no bound at all
                        curs.execute(SQL("SET LOCAL lock_timeout = {}").format(ms))
                    yield curs
            elif write:
                with self._sqlite_write(lock_wait) as curs:
                    yield curs
            else:
                with self.datastore.transaction(commit=False) as curs:
                    yield curs

    @contextmanager
    def _sqlite_write(self, lock_wait: float | None = None) -> Iterator[Any]:
        """An SQLite write transaction that takes the write lock as it begins (BEGIN IMMEDIATE),
        waiting for it up to the lock timeout. The library's BEGIN is deferred: a transaction
        that reads first (CREATE ... IF NOT EXISTS of a table that exists, say) and then writes
        is refused at once, "database is locked", when another connection wrote meanwhile,
        without waiting: SQLite cannot upgrade a stale read snapshot. The pool
        (`ledger.sqlitebounds`) bounds the wait for the writer connection and then for the
        lock by `lock_wait` together (default: the lock timeout)."""
        pool = self.datastore.pool
        conn = pool.get_connection(lock_wait, is_writer=True)
        try:
            curs = conn.cursor()
            done = False
            try:
                curs.execute("BEGIN IMMEDIATE")
                yield curs
                conn.commit()
                done = True
            finally:
                if not done:  # never back to the pool inside a transaction
                    with suppress(sqlite3.Error):
                        conn.rollback()
                curs.sqlite_cursor.close()
        finally:
            pool.put_connection(conn)

    @contextmanager
    def reader(self, *, by_name: bool = False, binary: bool = False) -> Iterator[Any]:
        """A cursor for a few reads: autocommit on PostgreSQL (one round trip per statement),
        one read transaction on SQLite. `by_name`: for `rows` and `row`. `binary`: results in
        PostgreSQL's binary format (bytea as it is, not as hex text to decode: for bulk reads
        of stored events)."""
        with self._reachable():
            if self.kind == "postgres":
                with (
                    self.datastore.get_connection() as conn,
                    conn.cursor(
                        row_factory=dict_row if by_name else tuple_row, binary=binary
                    ) as curs,
                ):
                    yield curs
            else:
                with self.datastore.transaction(commit=False) as curs:
                    yield curs

    def all(self, curs: Any, query: Any, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        self.execute(curs, query, params)
        return [tuple(r) for r in curs.fetchall()]

    def one(self, curs: Any, query: Any, params: Sequence[Any] = ()) -> tuple[Any, ...] | None:
        self.execute(curs, query, params)
        row = curs.fetchone()
        return None if row is None else tuple(row)

    def rows(self, curs: Any, query: Any, params: Sequence[Any] = ()) -> list[NamedRow]:
        """The rows of a `reader(by_name=True)` cursor's query, read by column name."""
        self.execute(curs, query, params)
        rows: list[NamedRow] = curs.fetchall()
        return rows

    def row(self, curs: Any, query: Any, params: Sequence[Any] = ()) -> NamedRow | None:
        """The first row of a `reader(by_name=True)` cursor's query, or None."""
        self.execute(curs, query, params)
        row: NamedRow | None = curs.fetchone()
        return row

    def execute(self, curs: Any, query: Any, params: Sequence[Any] = ()) -> None:
        if self.kind == "postgres":
            curs.execute(query, params, prepare=True)
        else:
            curs.execute(query, params)

    def fetchall(
        self, query: Any, params: Sequence[Any] = (), *, binary: bool = False
    ) -> list[tuple[Any, ...]]:
        with self.reader(binary=binary) as curs:
            return self.all(curs, query, params)

    def fetchone(self, query: Any, params: Sequence[Any] = ()) -> tuple[Any, ...] | None:
        with self.reader() as curs:
            return self.one(curs, query, params)

    def among(self) -> tuple[str, str]:
        """The two halves around a subquery selecting account ids: `account_id IN (`...`)`.
        There are a few; PostgreSQL's planner guesses many for `IN (SELECT` and scans the whole
        table, so on PostgreSQL the ids are handed over as an array."""
        if self.kind == "postgres":
            return "account_id = ANY(ARRAY(", "))"
        return "account_id IN (", ")"

    @property
    def position_column(self) -> str:
        """The log's position column (the library names it differently per store)."""
        return "notification_id" if self.kind == "postgres" else "rowid"

    def executemany(self, curs: Any, query: Any, rows: Sequence[Sequence[Any]]) -> None:
        if rows:
            curs.executemany(query, rows)

    def close_rows(
        self,
        curs: Any,
        table: str,
        column: str,
        rows: Sequence[tuple[Any, ...]],
    ) -> None:
        """Withdraw open rows of a bitemporal table: each of `rows` (known_to, the `column`
        value, row_key) names one row still believed (`known_to IS NULL`); a row named twice is
        closed by the first (the later ones would find it closed). On PostgreSQL one statement
        joins them, as a JSON recordset, to the open rows (through the index of those): a
        statement per row costs a round of the pipeline each."""
        if not rows:
            return
        if self.kind != "postgres":
            close = self.sql(
                "UPDATE {t} SET known_to = %s "
                f"WHERE {column} = %s AND row_key = %s AND known_to IS NULL",
                t=table,
            )
            curs.executemany(close, rows)
            return
        close = self.sql(
            "UPDATE {t} AS r SET known_to = c.known_to "
            "FROM json_to_recordset(%s::json) AS c(known_to bigint, stream text, row_key text) "
            f"WHERE r.{column} = c.stream AND r.row_key = c.row_key "
            "AND r.known_to IS NULL",
            t=table,
        )
        first: dict[tuple[Any, Any], Any] = {}
        for at, stream, key in rows:
            first.setdefault((stream, key), at)
        # One JSON text: psycopg dumps a list parameter value by value, several times slower.
        named = [{"known_to": at, "stream": s, "row_key": k} for (s, k), at in first.items()]
        self.execute(curs, close, (orjson.dumps(named).decode(),))

    def where_in(
        self, template: str, column: str, values: Sequence[Any], then: str = "", **tables: str
    ) -> tuple[Any, list[Any]]:
        """`template` restricted to the rows whose `column` is one of `values` (at most 500 on
        SQLite, its bound-parameter limit), followed by `then`, as (query, parameters)."""
        if self.kind == "postgres":
            where, params = " WHERE " + column + " = ANY(%s)", [list(values)]
        else:
            where, params = (
                " WHERE " + column + " IN (" + ", ".join(["%s"] * len(values)) + ")",
                [*values],
            )
        return self.sql(template + where + then, **tables), params

    def insert_rows(
        self, curs: Any, table: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]
    ) -> None:
        """Insert many rows: COPY on PostgreSQL (one stream, not a statement per row). Rows go
        in the order of their first column (the account id, in most tables): a batch of many
        accounts then reaches the index pages in order, not at random (on SQLite, a quarter
        less time inserting an import's segments)."""
        if not rows:
            return
        rows = sorted(rows, key=itemgetter(0))
        names = ", ".join(columns)
        if self.kind == "postgres":
            copy = self.sql("COPY {t} (" + names + ") FROM STDIN", t=table)
            with curs.copy(copy) as writer:
                for row in rows:
                    writer.write_row(row)
        else:
            marks = ", ".join(["%s"] * len(columns))
            curs.executemany(
                self.sql("INSERT INTO {t} (" + names + ") VALUES (" + marks + ")", t=table), rows
            )

    def streams(self, last: dict[UUID, int]) -> dict[UUID, list[StoredEvent]]:
        """The stored events of several streams, each up to a version, in one query."""
        with self._reachable():
            streams = stored_streams(self.recorder, last)
        return {
            aid: [e for e in events if e.originator_version <= last[aid]]
            for aid, events in streams.items()
        }

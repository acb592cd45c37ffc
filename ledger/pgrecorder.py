"""A PostgreSQL application recorder that records a batch of events in one round trip.

The library's recorder sends BEGIN, SET LOCAL lock_timeout, LOCK TABLE, NOTIFY, the INSERT and
COMMIT in several synchronisations (about six round trips with the pool's pre-ping). This one
creates a PL/pgSQL function, next to the events table, that takes the same EXCLUSIVE table lock
before the INSERT draws positions from the sequence, notifies, inserts and returns the positions;
the recorder calls it as one prepared statement on an autocommit connection, so the statement is
its own transaction and the lock is held until that transaction commits. Hence, as before:
  - transactions that insert events are serialized by the table lock, so positions are drawn and
    committed in the same order, and no reader sees a position appear below one it has read;
  - writers using the library's own recorder on the same table take the same lock;
  - a duplicate (originator_id, originator_version) raises the library's IntegrityError;
  - waiting for the lock is bounded by POSTGRES_LOCK_TIMEOUT (the function's SET clause).

With POSTGRES_PRE_PING the pool pings every connection it hands out: one more round trip per
transaction. The recorder swaps that check, on its datastore's pool, for one that pings only a
connection whose socket is readable; an idle connection has nothing to read unless the server
ended it (restart, termination, timeout), so stale connections are still replaced for every user
of the pool (reads and read models too), without the round trip.
"""

from __future__ import annotations

import select
from collections.abc import Sequence
from contextlib import nullcontext
from typing import Any

from eventsourcing.persistence import Notification, StoredEvent
from eventsourcing.postgres import PostgresApplicationRecorder, PostgresDatastore
from psycopg import Connection
from psycopg.rows import tuple_row
from psycopg.sql import SQL, Identifier, Literal
from psycopg.types.numeric import Int8
from psycopg_pool import ConnectionPool

from ledger.compat import replace_pool_check, undecorated
from ledger.pgbounds import SECONDS_PER_EVENT, longer_statements, retry_lost_connections


def ping_if_readable(conn: Connection[Any]) -> None:
    """The pool's pre-ping, without a round trip for a connection with nothing to read."""
    if not conn.closed:
        poller = select.poll()
        poller.register(conn.fileno(), select.POLLIN)
        if not poller.poll(0):
            return  # healthy and idle: the server has not written (an error, EOF) since
    ConnectionPool.check_connection(conn)  # raises if the connection is dead


def lighten_pre_ping(datastore: PostgresDatastore) -> bool:
    """Replace the full pre-ping of the datastore's pool, if it has one, by `ping_if_readable`.
    If psycopg_pool changes how it keeps the check, the pool keeps its full ping (slower,
    never less safe); `ledger.compat` says more."""
    if not hasattr(select, "poll"):
        return False
    return replace_pool_check(
        datastore.pool, ping_if_readable, replacing=ConnectionPool.check_connection
    )


FEW_RETRIES = retry_lost_connections(attempts=3, wait=0.1)


class LedgerPostgresRecorder(PostgresApplicationRecorder):
    """Inserts a transaction's events with one call of a locking SQL function: a scalar one for a
    single event (an append), an array one for several (a registration and its index claims).

    The functions are (re)created with the tables; the lock timeout is part of their definition,
    so the POSTGRES_LOCK_TIMEOUT of the process that created them last applies to all writers.
    """

    def __init__(
        self, datastore: PostgresDatastore, *, events_table_name: str = "stored_events"
    ) -> None:
        super().__init__(datastore, events_table_name=events_table_name)
        lighten_pre_ping(datastore)
        self.append_one_function_name = f"{events_table_name}_append_one"
        self.append_many_function_name = f"{events_table_name}_append_many"
        self.check_identifier_length(self.append_one_function_name)
        self.check_identifier_length(self.append_many_function_name)
        schema = Identifier(self.datastore.schema)
        id_type = Identifier(self.datastore.originator_id_type)
        table = Identifier(self.events_table_name)
        lock_timeout = Literal(f"{self.datastore.lock_timeout}s")
        channel = Identifier(self.channel_name)
        # Each function locks the table before its INSERT draws positions from the sequence, as
        # the library's recorder does; the lock is held until the calling transaction ends.
        self.sql_create_statements.append(
            SQL(
                "CREATE OR REPLACE FUNCTION {schema}.{function}("
                "id {id_type}, version bigint, topic text, state bytea) "
                "RETURNS bigint LANGUAGE plpgsql SET lock_timeout = {lock_timeout} AS $BODY$ "
                "DECLARE position bigint; "
                "BEGIN "
                "LOCK TABLE {schema}.{table} IN EXCLUSIVE MODE; "
                "NOTIFY {channel}; "
                "INSERT INTO {schema}.{table} (originator_id, originator_version, topic, state)"
                " VALUES (id, version, topic, state) RETURNING notification_id INTO position; "
                "RETURN position; "
                "END; $BODY$"
            ).format(
                schema=schema,
                function=Identifier(self.append_one_function_name),
                id_type=id_type,
                lock_timeout=lock_timeout,
                table=table,
                channel=channel,
            )
        )
        self.sql_create_statements.append(
            SQL(
                "CREATE OR REPLACE FUNCTION {schema}.{function}("
                "ids {id_type}[], versions bigint[], topics text[], states bytea[]) "
                "RETURNS bigint[] LANGUAGE plpgsql SET lock_timeout = {lock_timeout} AS $BODY$ "
                "DECLARE positions bigint[]; "
                "BEGIN "
                "LOCK TABLE {schema}.{table} IN EXCLUSIVE MODE; "
                "NOTIFY {channel}; "
                "WITH inserted AS ("
                " INSERT INTO {schema}.{table} (originator_id, originator_version, topic, state)"
                " SELECT e.i, e.v, e.t, e.s"
                " FROM unnest(ids, versions, topics, states) WITH ORDINALITY AS e(i, v, t, s, n)"
                " ORDER BY e.n"
                " RETURNING notification_id) "
                "SELECT array_agg(notification_id ORDER BY notification_id) INTO positions"
                " FROM inserted; "
                "RETURN positions; "
                "END; $BODY$"
            ).format(
                schema=schema,
                function=Identifier(self.append_many_function_name),
                id_type=id_type,
                lock_timeout=lock_timeout,
                table=table,
                channel=channel,
            )
        )
        # Rendered once: psycopg would otherwise compose the query on every call.
        self.append_one_statement = (
            SQL("SELECT {}.{}(%b, %b, %b, %b) AS position")
            .format(schema, Identifier(self.append_one_function_name))
            .as_bytes()
        )
        self.append_many_statement = (
            SQL("SELECT {}.{}(%b, %b, %b, %b) AS positions")
            .format(schema, Identifier(self.append_many_function_name))
            .as_bytes()
        )

    def create_table(self) -> None:
        """Create the types, tables and functions one process at a time: processes starting
        together (API workers of `custody serve --workers`, several nodes, rebuild workers)
        would otherwise race on CREATE TYPE ("duplicate key ... pg_type") and on CREATE OR
        REPLACE FUNCTION ("tuple concurrently updated"). A session advisory lock, held on a
        connection of its own, spans the library's several DDL transactions."""
        with (
            self.datastore.get_connection() as conn,
            conn.cursor(row_factory=tuple_row) as curs,
        ):
            key = f"{self.datastore.schema}.{self.events_table_name}.ddl"
            curs.execute("SELECT pg_advisory_lock(hashtext(%s))", (key,))
            try:
                super().create_table()
            finally:
                curs.execute("SELECT pg_advisory_unlock(hashtext(%s))", (key,))

    # The library retries 10 times, each waiting up to the pool timeout: close to a minute before
    # a caller learns the database is down. Three quick attempts still ride over a dropped
    # connection, and a timeout is not tried again: an outage is a 503 within one bound.
    @FEW_RETRIES
    def insert_events(
        self, stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> Sequence[int] | None:
        """Record the events atomically; their positions, in the order of the events."""
        if not stored_events:
            return None
        with (
            self.datastore.get_connection() as conn,
            conn.cursor(binary=True, row_factory=tuple_row) as curs,
        ):
            assert conn.autocommit  # the call must be a transaction of its own
            if len(stored_events) == 1:
                e = stored_events[0]
                params: tuple[Any, ...] = (
                    e.originator_id,
                    Int8(e.originator_version),
                    e.topic,
                    e.state,
                )
                curs.execute(self.append_one_statement, params, prepare=True)
                row = curs.fetchone()
                assert row is not None
                return [row[0]]
            params = (
                [e.originator_id for e in stored_events],
                [Int8(e.originator_version) for e in stored_events],
                [e.topic for e in stored_events],
                [e.state for e in stored_events],
            )
            # An import's batch is one statement: its bound grows with it.
            longer = len(stored_events) * SECONDS_PER_EVENT
            with longer_statements(conn, longer) if longer >= 1 else nullcontext():
                curs.execute(self.append_many_statement, params, prepare=True)
                row = curs.fetchone()
        assert row is not None and len(row[0]) == len(stored_events)
        # Positions are drawn in the order of the events (ORDER BY ordinality), ascending.
        return list(row[0])

    @FEW_RETRIES
    def select_events(self, *args: Any, **kwargs: Any) -> Sequence[StoredEvent]:
        return undecorated(PostgresApplicationRecorder.select_events)(self, *args, **kwargs)  # type: ignore[no-any-return]

    @FEW_RETRIES
    def select_notifications(self, *args: Any, **kwargs: Any) -> Sequence[Notification]:
        return undecorated(PostgresApplicationRecorder.select_notifications)(self, *args, **kwargs)  # type: ignore[no-any-return]

    @FEW_RETRIES
    def max_notification_id(self) -> int | None:
        return undecorated(PostgresApplicationRecorder.max_notification_id)(self)  # type: ignore[no-any-return]

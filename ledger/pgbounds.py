"""Bounds on every PostgreSQL call, so that a database that stops answering is an error within
seconds, never a hang.

A server that is up but slow is bounded by the server itself: every connection starts with
`statement_timeout` and `lock_timeout` (libpq `options`), and eventsourcing sets
`idle_in_transaction_session_timeout`. A server that does not answer at all (a black-holing
network path, a frozen host, a proxy that accepts and never replies) cannot be bounded from
there, nor by TCP: the bytes sent are acknowledged by some kernel on the way, so neither TCP
keepalives nor `tcp_user_timeout` ever fire, and a cancel request goes through the same black
hole. So the client bounds its own waits: every wait of a connection for the server (a
statement, a commit, a fetch, a COPY, the pool's check) gives up `ANSWER_GRACE_SECONDS` after
the statement timeout, closes the connection (its protocol state is unknown) and raises
`NoAnswer`; opening a connection is bounded by libpq's `connect_timeout`, and waiting for one
from the pool by the pool's timeout. Neither the timeouts nor a lost connection is retried for
long: the pool gives up reconnecting after `RECONNECT_SECONDS` (a request asks it again), so
service resumes within seconds of the database answering again.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import lru_cache, wraps
from typing import Any, TypeVar, cast

import psycopg
import psycopg.errors
from eventsourcing.persistence import InterfaceError, OperationalError
from eventsourcing.postgres import PostgresDatastore, PostgresFactory
from eventsourcing.utils import Environment, EnvType
from psycopg.abc import PQGen
from psycopg.sql import SQL
from psycopg_pool import PoolTimeout

from ledger.compat import WAIT_TIMEOUT, bound_pool

RV = TypeVar("RV")
F = TypeVar("F", bound=Callable[..., Any])

# How long the pool keeps trying to replace a lost connection in the background before it
# gives up (psycopg_pool's default: 5 minutes, in growing intervals: a connection comes back
# up to half a minute after the database does). Given up, the next request that needs a
# connection has the pool try again at once.
RECONNECT_SECONDS = 1.0

# How long after the server's own statement timeout the client stops waiting: long enough for
# the server's "canceling statement due to statement timeout" to arrive over a slow link.
ANSWER_GRACE_SECONDS = 1.0


# A statement that records a batch of events (an import: all its lines in one statement) may
# run this much longer per event than the statement timeout, on the server and here: a bound
# that grows with the work asked for (about 13 times what an event takes to insert).
SECONDS_PER_EVENT = 0.001


class NoAnswer(psycopg.OperationalError):
    """The server did not answer within the bound; the connection was closed."""


class BoundedConnection(psycopg.Connection[Any]):
    """A connection whose every wait for the server ends after `answer_within` seconds
    (None: unbounded, as psycopg's own). Waits given a timeout of their own (LISTEN's
    `notifies`) keep it. Subclassed per bound by `bounded_connection_class`."""

    answer_within: float | None = None

    def wait(self, gen: PQGen[RV], interval: float = 0.1, timeout: float | None = None) -> RV:
        bound = self.answer_within
        if timeout is not None or bound is None:
            return super().wait(gen, interval, timeout)
        try:
            return super().wait(gen, interval, bound)
        except WAIT_TIMEOUT:
            # Mid-protocol: what the server would say next is unknown. Closed, the pool drops
            # it; a cancel request would go through the same silent path, so none is sent.
            self.close()
            raise NoAnswer(f"the database did not answer within {bound:g}s") from None


@lru_cache(maxsize=16)
def bounded_connection_class(answer_within: float) -> type[BoundedConnection]:
    return type("BoundedConnection", (BoundedConnection,), {"answer_within": answer_within})


@contextmanager
def longer_statements(conn: psycopg.Connection[Any], seconds: float) -> Iterator[None]:
    """Statements on `conn` (in autocommit: each its own transaction) that may take `seconds`
    longer than the statement timeout, both on the server and waiting here; as before after
    the block. The server's timeout is set for the session, not in a transaction: a
    transaction opened first would sit idle while the client adapts a large statement's
    parameters (seconds, for an import of a million events), and PostgreSQL ends a session
    idle in a transaction for longer than `idle_in_transaction_session_timeout`."""
    if not isinstance(conn, BoundedConnection) or conn.answer_within is None:
        yield  # no statement timeout, no bound: nothing to extend
        return
    bound = conn.answer_within
    statement_ms = round((bound - ANSWER_GRACE_SECONDS + seconds) * 1000)
    conn.answer_within = bound + seconds  # this connection's, for the block
    try:
        conn.execute(SQL("SET statement_timeout = {}").format(statement_ms))
        yield
    finally:
        del conn.answer_within  # the class's again
        if not conn.closed and not conn.broken:
            conn.execute("RESET statement_timeout")  # the value the connection started with


@contextmanager
def unbounded_waits(conn: psycopg.Connection[Any]) -> Iterator[None]:
    """Waits on `conn` for as long as the server takes, for the block (a rebuild's statements:
    its own statement timeout is lifted too, `projections.db.Db.transaction`)."""
    if not isinstance(conn, BoundedConnection):
        yield
        return
    conn.answer_within = None
    try:
        yield
    finally:
        del conn.answer_within  # the class's again


def server_options(statement_timeout: float, lock_timeout: float) -> str:
    """libpq `options` that set the session's statement and lock timeouts as it starts
    (no round trip); 0 leaves a timeout off."""
    return (
        f"-c statement_timeout={round(statement_timeout * 1000)} "
        f"-c lock_timeout={round(lock_timeout * 1000)}"
    )


def bound_datastore(
    datastore: PostgresDatastore, *, connect_timeout: int, statement_timeout: float
) -> None:
    """Bound every call the datastore's pool makes, before it opens: connections time out
    connecting after `connect_timeout` seconds, statements on the server after
    `statement_timeout`, lock waits after the datastore's lock timeout, and any wait for an
    answer `ANSWER_GRACE_SECONDS` after the statement timeout (0: no statement timeout, and
    no bound on waits). A pool that cannot reconnect gives up after `RECONNECT_SECONDS`
    instead of backing off for minutes."""
    connection_class = (
        bounded_connection_class(statement_timeout + ANSWER_GRACE_SECONDS)
        if statement_timeout > 0
        else BoundedConnection
    )
    bound_pool(
        datastore.pool,
        connection_class=connection_class,
        kwargs={
            "connect_timeout": connect_timeout,
            "options": server_options(statement_timeout, datastore.lock_timeout),
        },
        reconnect_timeout=RECONNECT_SECONDS,
    )


def dedicated_connection(datastore: PostgresDatastore, **kwargs: Any) -> psycopg.Connection[Any]:
    """A connection of its own (not the pool's; LISTEN's, say) with the pool's parameters and
    bounds."""
    pooled = datastore.pool.kwargs
    assert isinstance(pooled, dict), "eventsourcing passes the pool a dict of kwargs"
    params = {"connect_timeout": 5, **pooled, **kwargs}
    params.pop("row_factory", None)
    cls = cast(type[psycopg.Connection[Any]], datastore.pool.connection_class)
    return cls.connect(**params)


# The causes that mean "the database did not answer in time": trying again would wait as
# long again. Anything else (a connection the server or the network dropped) is worth a
# quick second attempt on a fresh connection.
TIMEOUTS: tuple[type[BaseException], ...] = (
    NoAnswer,
    PoolTimeout,
    psycopg.errors.ConnectionTimeout,
    psycopg.errors.QueryCanceled,
    psycopg.errors.LockNotAvailable,
)


def retry_lost_connections(attempts: int = 3, wait: float = 0.1) -> Callable[[F], F]:
    """Retry a recorder call that failed on a lost connection, up to `attempts` in all; a
    timeout is raised at once, so a call's bound stays one bound, not `attempts` of them."""

    def decorate(func: F) -> F:
        @wraps(func)
        def retrying(*args: Any, **kwargs: Any) -> Any:
            for attempt in range(1, attempts + 1):
                try:
                    return func(*args, **kwargs)
                except (InterfaceError, OperationalError) as e:
                    if attempt == attempts or isinstance(e.__cause__, TIMEOUTS):
                        raise
                time.sleep(wait)
            raise AssertionError("unreachable")

        return cast(F, retrying)

    return decorate


class LedgerPostgresFactory(PostgresFactory):
    """eventsourcing's PostgreSQL factory, with every call of its datastore bounded
    (`bound_datastore`) by POSTGRES_CONNECT_TIMEOUT, POSTGRES_STATEMENT_TIMEOUT (seconds,
    ours) and POSTGRES_LOCK_TIMEOUT."""

    POSTGRES_STATEMENT_TIMEOUT = "POSTGRES_STATEMENT_TIMEOUT"

    def __init__(self, env: Environment | EnvType | None):
        super().__init__(env)
        bound_datastore(
            self.datastore,
            connect_timeout=int(self.env.get(self.POSTGRES_CONNECT_TIMEOUT) or 30),
            statement_timeout=float(self.env.get(self.POSTGRES_STATEMENT_TIMEOUT) or 0),
        )

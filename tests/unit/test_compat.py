"""One test per hook of `ledger.compat`: each fails naming the hook when the library it leans
on renames or changes what the hook uses."""

from __future__ import annotations

import inspect
import socket
from typing import Any

import psycopg
import psycopg.waiting
import pytest
from eventsourcing.application import Application
from eventsourcing.persistence import MapperDeserialisationError, StoredEvent
from eventsourcing.postgres import PostgresApplicationRecorder
from psycopg.waiting import Wait
from psycopg_pool import ConnectionPool
from pydantic import BaseModel

from ledger import compat
from ledger.application import CustodyLedger
from ledger.commands import AssignHolder, Value
from ledger.errors import InvalidInput
from tests.stories import INAUGURATION_2017, register


def test_save_aggregates_takes_the_steps_the_librarys_own_save_takes(
    memory_ledger: CustodyLedger,
) -> None:
    steps = ("_record", "_take_snapshots", "_notify")
    source = inspect.getsource(Application.save)
    for step in steps:
        assert callable(getattr(Application, step, None)) and f"self.{step}(" in source, (
            f"ledger.compat.save_aggregates: eventsourcing's Application.save no longer calls "
            f"{step}; rebuild the hook on what save does now"
        )
    record = register(memory_ledger, "@POTUS")  # the account and its handle claim, together
    assert record.position == 1 and memory_ledger.head() > 1
    assert [f.type for f in memory_ledger.facts(record.account_id)] == ["account_registered"]


@pytest.mark.parametrize("method", ["select_events", "select_notifications", "max_notification_id"])
def test_undecorated_finds_the_function_under_the_librarys_retry(method: str) -> None:
    decorated = getattr(PostgresApplicationRecorder, method)
    assert hasattr(decorated, "__wrapped__"), (
        f"ledger.compat.undecorated: PostgresApplicationRecorder.{method} is no longer wrapped "
        "by a decorator that keeps __wrapped__; LedgerPostgresRecorder would retry twice"
    )
    assert compat.undecorated(decorated) is not decorated


def test_replace_pool_check_swaps_psycopg_pools_own_check() -> None:
    pool: ConnectionPool[Any] = ConnectionPool(
        "dbname=none", check=ConnectionPool.check_connection, open=False
    )

    def lighter(conn: Any) -> None:
        pass

    assert compat.replace_pool_check(pool, lighter, replacing=ConnectionPool.check_connection), (
        "ledger.compat.replace_pool_check: psycopg_pool no longer keeps `check` as `_check`"
    )
    assert pool._check is lighter
    # Never replaces a check it does not know.
    assert not compat.replace_pool_check(pool, lighter, replacing=ConnectionPool.check_connection)


def test_as_pydantic_init_makes_pydantic_build_nested_values_without_the_override() -> None:
    calls: list[str] = []

    class Inner(BaseModel):
        @compat.as_pydantic_init
        def __init__(self, **data: Any) -> None:
            calls.append("init")
            super().__init__(**data)

    class Outer(BaseModel):
        inner: Inner

    Outer.model_validate({"inner": {}})
    assert calls == [], (
        "ledger.compat.as_pydantic_init: pydantic no longer reads __pydantic_base_init__; "
        "nested values go through Value.__init__ again"
    )
    assert getattr(Value, "__pydantic_custom_init__", None) is False
    # What the ledger relies on: a nested value's error keeps its place in the one error.
    with pytest.raises(InvalidInput) as info:
        AssignHolder(effective_at=INAUGURATION_2017, holder={"id": "", "name": "X"})  # type: ignore[arg-type]
    assert info.value.field == "holder.id"


def test_mapper_error_origin_reads_the_stream_and_version_from_the_librarys_message(
    memory_ledger: CustodyLedger,
) -> None:
    account = register(memory_ledger, "@POTUS").account_id
    (stored,) = memory_ledger.recorder.select_events(account)
    damaged = StoredEvent(stored.originator_id, stored.originator_version, stored.topic, b"{x")
    with pytest.raises(MapperDeserialisationError) as info:
        memory_ledger.mapper.to_domain_event(damaged)
    assert compat.mapper_error_origin(info.value) == (str(account), 1), (
        "ledger.compat.mapper_error_origin: eventsourcing's MapperDeserialisationError no longer "
        f"names the stream and version as it did: {info.value}"
    )


def test_wait_timeout_is_what_psycopgs_wait_raises_and_every_query_waits_through_connection_wait() -> (
    None
):
    assert issubclass(compat.WAIT_TIMEOUT, psycopg.OperationalError)
    assert "timeout" in inspect.signature(psycopg.Connection.wait).parameters, (
        "ledger.compat.WAIT_TIMEOUT: psycopg's Connection.wait takes no timeout any more; "
        "ledger.pgbounds.BoundedConnection cannot bound a wait for an answer"
    )
    for method in (psycopg.Cursor.execute, psycopg.Connection.commit):
        assert ".wait(" in inspect.getsource(method), (
            f"ledger.pgbounds: psycopg's {method.__qualname__} no longer waits through "
            "Connection.wait; BoundedConnection would not bound it"
        )
    reader, writer = socket.socketpair()  # nothing is ever written: a wait that never ends

    def forever() -> Any:
        while True:
            yield Wait.R

    with reader, writer, pytest.raises(compat.WAIT_TIMEOUT):
        psycopg.waiting.wait(forever(), reader.fileno(), timeout=0.05)


def test_bound_pool_changes_what_psycopg_pool_connects_with() -> None:
    pool: ConnectionPool[Any] = ConnectionPool("", kwargs={"dbname": "x"}, open=False)

    class Mine(psycopg.Connection[Any]):
        pass

    compat.bound_pool(pool, connection_class=Mine, kwargs={"connect_timeout": 2},
                      reconnect_timeout=1.0)  # fmt: skip
    assert (pool.connection_class, pool.kwargs, pool.reconnect_timeout) == (
        Mine, {"dbname": "x", "connect_timeout": 2}, 1.0)  # fmt: skip
    connect, add = (
        inspect.getsource(ConnectionPool._connect),
        inspect.getsource(ConnectionPool._add_connection),
    )
    reads_kwargs = "self.kwargs" in connect or "self._resolve_kwargs()" in connect
    assert "self.connection_class.connect(" in connect and reads_kwargs, (
        "ledger.compat.bound_pool: psycopg_pool no longer connects with its connection_class "
        "and kwargs attributes"
    )
    assert "self.reconnect_timeout" in add, (
        "ledger.compat.bound_pool: psycopg_pool no longer reads reconnect_timeout as it reconnects"
    )

"""Helpers the tests share (imported, unlike fixtures): the PostgreSQL server's address, a
clock under the test's control, a free loopback port, and the app served on it."""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from uuid import UUID

import uvicorn
from hypothesis import HealthCheck, settings

from api.bootstrap import Container
from api.cli import main
from api.http.app import create_app
from projections.db import Db
from projections.tlog.store import guards

# Account ids in the demo file: the Obama-era @POTUS, the fictional chief minister's account
# (@CMRuritania, with its back-dated correction).
POTUS_OBAMA = UUID("3b6d7be1-b2fa-4ac0-94e3-21774eebbea7")
CM = UUID("540ac008-9006-47b7-99b2-87d9305174d5")

PG_URL = os.environ.get("CUSTODY_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")


class FakeClock:
    """Record time under the test's control; each reading advances it by one millisecond."""

    def __init__(self, start: datetime = datetime(2026, 1, 1, tzinfo=UTC)) -> None:
        self.now = start

    def __call__(self) -> datetime:
        self.now += timedelta(milliseconds=1)
        return self.now

    def set(self, when: datetime) -> None:
        self.now = when

    def advance(self, **kwargs: float) -> datetime:
        self.now += timedelta(**kwargs)
        return self.now


class HeldClock(FakeClock):
    """Record time that moves only when the test moves it: consecutive writes share a time."""

    def __call__(self) -> datetime:
        return self.now


def free_port() -> int:
    """A loopback port nothing listens on (as of now)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def serving_app(app: Any) -> Iterator[tuple[str, int]]:
    """uvicorn serving an ASGI app in a thread, on a free loopback port."""
    port = free_port()
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="uvicorn-test", daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.02)
    try:
        yield "127.0.0.1", port
    finally:
        server.should_exit = True
        thread.join(timeout=20)


@contextmanager
def serving(container: Container) -> Iterator[tuple[str, int]]:
    """The ledger's app for `container`, served as `serving_app` serves one."""
    with serving_app(create_app(container=container)) as address:
        yield address


def cli(url: str, *args: str) -> int:
    """The `custody` command on the store at `url`, in this process."""
    return main(["--database-url", url, *args])


def until(condition: Callable[[], Any], seconds: float = 10.0) -> Any:
    """Wait (bounded) until `condition()` is true; its value."""
    deadline = time.monotonic() + seconds
    while not (result := condition()):
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)
    return result


@contextmanager
def append_only_lifted(db: Db, curs: Any, op: str, table: str | None = None) -> Iterator[None]:
    """Within one transaction, lift the trigger that refuses `op` (UPDATE or DELETE) on the
    event log (or `table`), as the database's owner can, and put it back."""
    table = table or db.events_table
    if db.kind == "postgres":
        db.execute(curs, db.sql("ALTER TABLE {t} DISABLE TRIGGER custody_append_only", t=table))
        yield
        db.execute(
            curs, db.sql("ALTER TABLE {t} ENABLE ALWAYS TRIGGER custody_append_only", t=table)
        )
        return
    trigger = f"custody_no_{op.lower()}_{table}"
    db.execute(curs, f'DROP TRIGGER "{trigger}"')
    yield
    for statement in guards(db):
        if trigger in str(statement):
            db.execute(curs, statement)


def stored_state(container: Container, account: UUID, version: int, state: bytes | None = None
                 ) -> tuple[bytes, int]:  # fmt: skip
    """One stored event's bytes and log position; with `state`, overwrite the bytes first, as
    a tool working outside the ledger would (a damaged row, or its repair)."""
    db = container.projector.db
    oid: Any = account if db.kind == "postgres" else account.hex
    where = " WHERE originator_id = %s AND originator_version = %s"
    with db.transaction() as curs:
        if state is not None:
            # As the database's owner can: get round the append-only trigger for the edit.
            with append_only_lifted(db, curs, "UPDATE"):
                update = db.sql("UPDATE {t} SET state = %s" + where, t=db.events_table)
                db.execute(curs, update, (state, oid, version))
        select = db.sql(f"SELECT state, {db.position_column} FROM {{t}}" + where, t=db.events_table)
        db.execute(curs, select, (oid, version))
        row = curs.fetchone()
        return bytes(row[0]), int(row[1])


# A known history for the tests that need one fixed log (its tree, its sizes): the US
# presidency's accounts, 43 custody events. The demo itself (api/demo) grows as cases are added.
US_HISTORY = Path(__file__).with_name("data") / "us_presidency.jsonl"


def examples(n: int) -> Any:
    """Hypothesis settings of the oracle tests: n histories, no deadline, a store fixture
    shared by the examples (each example works on streams of its own)."""
    return settings(
        max_examples=n,
        deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )

"""A rebuild's transactions run statements and compute between them for as long as their work
takes: the statement timeout, the idle-in-transaction bound and the client's bound on waiting
for an answer, which every other transaction keeps, do not cut them off (they did, at a
million events: `custody rebuild` failed after minutes of work)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest

from api.bootstrap import Container, build
from ledger.errors import StoreUnavailable
from ledger.settings import Settings

pytestmark = pytest.mark.postgres


@pytest.fixture
def short(pg_url: str) -> Iterator[Container]:
    """A container whose statements time out after half a second."""
    c = build(Settings(database_url=pg_url, statement_timeout_seconds=0.5))
    yield c
    c.close()


def bounds(curs: Any) -> tuple[str, str]:
    curs.execute("SHOW statement_timeout")
    statement = curs.fetchone()[0]
    curs.execute("SHOW idle_in_transaction_session_timeout")
    return statement, curs.fetchone()[0]


def test_a_maintenance_transaction_outlasts_every_bound(short: Container) -> None:
    db = short.projector.db
    with db.transaction() as curs:
        assert bounds(curs) == ("500ms", "5s")
    with db.transaction(maintenance=True) as curs:
        assert bounds(curs) == ("0", "0")
        # Past the statement timeout and past the client's wait for an answer (a second more).
        curs.execute("SELECT pg_sleep(1.6)")
    with db.transaction() as curs:  # the connection keeps its bounds afterwards
        assert bounds(curs) == ("500ms", "5s")


def test_other_transactions_keep_the_statement_bound(short: Container) -> None:
    """The control: the same statement in an ordinary transaction is cancelled."""
    started = time.monotonic()
    with pytest.raises(StoreUnavailable), short.projector.db.transaction() as curs:
        curs.execute("SELECT pg_sleep(1.6)")
    assert time.monotonic() - started < 1.5

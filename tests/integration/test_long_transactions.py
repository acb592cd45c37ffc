"""A rebuild's findings transaction computes between its statements for as long as it takes:
the idle-in-transaction bound the store's connections keep does not cut it off (it did, at a
million events, with `custody rebuild` failing after minutes of work)."""

from __future__ import annotations

import time

import psycopg
import pytest
from eventsourcing.persistence import InternalError

from api.bootstrap import build
from ledger.settings import Settings

pytestmark = pytest.mark.postgres

IDLE = "SET LOCAL idle_in_transaction_session_timeout = '300ms'"


def test_a_computing_transaction_outlasts_the_idle_bound(pg_url: str) -> None:
    c = build(Settings(database_url=pg_url))
    db = c.projector.db
    try:
        with db.transaction() as curs:
            curs.execute(IDLE)  # the bound, made short
            db.computing(curs)
            time.sleep(0.6)  # longer than the bound, between two statements
            curs.execute("SELECT 1")
            assert curs.fetchone() == (1,)
    finally:
        c.close()


def test_without_it_the_idle_bound_ends_the_transaction(pg_url: str) -> None:
    """The control: the same transaction, not marked as computing, is cut off."""
    c = build(Settings(database_url=pg_url))
    db = c.projector.db
    try:
        with pytest.raises(InternalError) as raised, db.transaction() as curs:
            curs.execute(IDLE)
            time.sleep(0.6)
            curs.execute("SELECT 1")
        assert isinstance(raised.value.__cause__, psycopg.errors.IdleInTransactionSessionTimeout)
    finally:
        c.close()

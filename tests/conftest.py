"""Shared fixtures: a controllable clock, and the two stores (SQLite, a real PostgreSQL).
Helpers that tests import live in `tests/support.py` and `tests/stories.py`, not here."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import psycopg
import pytest

from ledger.application import CustodyLedger
from ledger.settings import Settings
from tests.support import PG_URL, FakeClock

REQUIRE_PG = os.environ.get("CUSTODY_REQUIRE_POSTGRES", "") not in ("", "0", "no", "false")


def _pg_available() -> str | None:
    try:
        with psycopg.connect(PG_URL, connect_timeout=3):
            return None
    except psycopg.Error as e:
        return str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__


_PG_PROBLEM = _pg_available()


def pytest_report_header(config: pytest.Config) -> str:
    if _PG_PROBLEM is None:
        return f"PostgreSQL suite: ON ({PG_URL})"
    return f"PostgreSQL suite: SKIPPED, no server at {PG_URL} ({_PG_PROBLEM})"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if _PG_PROBLEM is None:
        return
    if REQUIRE_PG:
        raise pytest.UsageError(
            f"CUSTODY_REQUIRE_POSTGRES is set but PostgreSQL at {PG_URL} is unreachable: "
            f"{_PG_PROBLEM}"
        )
    skip = pytest.mark.skip(reason=f"PostgreSQL unreachable at {PG_URL}: {_PG_PROBLEM}")
    for item in items:
        if "postgres" in item.keywords:
            item.add_marker(skip)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def pg_url() -> Iterator[str]:
    """A fresh schema in the real PostgreSQL server, dropped afterwards."""
    schema = f"t_{uuid.uuid4().hex[:16]}"
    with psycopg.connect(PG_URL, autocommit=True) as conn:
        conn.execute(psycopg.sql.SQL("CREATE SCHEMA {}").format(psycopg.sql.Identifier(schema)))
    sep = "&" if "?" in PG_URL else "?"
    try:
        yield f"{PG_URL}{sep}schema={schema}"
    finally:
        with psycopg.connect(PG_URL, autocommit=True) as conn:
            conn.execute(
                psycopg.sql.SQL("DROP SCHEMA {} CASCADE").format(psycopg.sql.Identifier(schema))
            )


@pytest.fixture(
    params=[
        pytest.param("sqlite", id="sqlite"),
        pytest.param("postgres", id="postgres", marks=pytest.mark.postgres),
    ]
)
def store_url(request: pytest.FixtureRequest, tmp_path: object) -> str:
    """Each integration test runs once on SQLite (a file) and once on PostgreSQL."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/custody.db"
    return str(request.getfixturevalue("pg_url"))


@pytest.fixture
def memory_ledger(clock: FakeClock) -> Iterator[CustodyLedger]:
    """The ledger on an in-memory SQLite store, for unit tests."""
    app = CustodyLedger(Settings(database_url="sqlite:///:memory:").store().env, clock=clock)
    yield app
    app.close()


@pytest.fixture
def store_ledger(store_url: str, clock: FakeClock) -> Iterator[CustodyLedger]:
    """The ledger on each real store."""
    app = CustodyLedger(Settings(database_url=store_url).store().env, clock=clock)
    yield app
    app.close()

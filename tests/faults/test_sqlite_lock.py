"""SQLite held by another process (a writer's transaction that does not end, an exclusive
lock): a real `custody serve` answers reads that need the read models to catch up with 503
within the read wait, and writes with 503 within the lock timeout, never later; reads that do
not need the lock still answer; once the lock is let go, everything works again."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime
from pathlib import Path
from uuid import UUID

from api.bootstrap import Container, build
from ledger.commands import AssignHolder, Holder
from ledger.settings import Settings
from tests.e2e.support import assignment, registration
from tests.faults.support import BOUNDS, RESUME, SLACK, Answer, Server, admin_token, running, until

READ_WAIT = float(BOUNDS["read_wait_seconds"])
LOCK_TIMEOUT = float(BOUNDS["lock_timeout_seconds"])


def _behind_and_locked(other: Container, account: UUID, path: Path) -> sqlite3.Connection:
    """Append from `other` (another writer), then hold the store's write lock, so that the
    server's read models are behind and cannot catch up. Tried again should the server's
    worker apply the append in the moment between the two."""
    db = other.projector.db
    for n in range(5):
        holder = Holder(id=f"other-writer-{n}", name="Other Writer")
        when = datetime(2018, 1, 1, tzinfo=UTC)
        other.ledger.append(account, AssignHolder(holder=holder, effective_at=when), actor="x")
        lock = sqlite3.connect(path, isolation_level=None, timeout=10)
        lock.execute("BEGIN EXCLUSIVE")
        head = lock.execute(f'SELECT MAX(rowid) FROM "{db.events_table}"').fetchone()[0]
        applied = lock.execute("SELECT MIN(position) FROM rm_tracking").fetchone()[0]
        if applied < head:
            return lock
        lock.execute("ROLLBACK")
        lock.close()
    raise AssertionError("the server's worker applied every append at once")


def _unavailable(answer: Answer, bound: float, what: str) -> None:
    assert answer.status == 503, f"{what}: {answer.status} {answer.body}"
    assert answer.headers["retry-after"] == "1"
    assert answer.seconds < bound + SLACK, f"{what} took {answer.seconds:.1f}s, bound {bound:g}s"


def test_while_another_process_holds_the_write_lock_reads_are_503_within_the_read_wait(
    tmp_path: Path,
) -> None:
    path = tmp_path / "custody.db"
    url = f"sqlite:///{path}"
    admin = admin_token(url)
    server = Server(url, tmp_path / "serve.log", BOUNDS)
    other = build(Settings(database_url=url))
    with running(server):
        try:
            account = server.call("POST", "/v1/accounts", registration(), **admin).body
            account_id = account["account_id"]
            path_ = f"/v1/accounts/{account_id}"
            assert server.call("GET", path_, **admin).status == 200

            lock = _behind_and_locked(other, UUID(account_id), path)
            for n in range(3):  # the server's workers wait for the lock meanwhile
                _unavailable(server.call("GET", path_, **admin), READ_WAIT, f"read {n}")
                _unavailable(server.call("GET", "/v1/handles/x/POTUS", **admin), READ_WAIT,
                             f"handle read {n}")  # fmt: skip
            appended = server.call("POST", path_ + "/events", assignment(), **admin)
            _unavailable(appended, LOCK_TIMEOUT, "an append")
            health = server.call("GET", "/health")  # reads only: answers, lock or not
            assert health.seconds < 1 + SLACK, f"/health took {health.seconds:.1f}s"
            assert server.call("GET", "/livez").status == 200

            lock.execute("ROLLBACK")
            lock.close()
            until(lambda: server.call("GET", path_, **admin).status == 200, RESUME)
            state = server.call("GET", path_, **admin).body
            assert state["holder"]["id"].startswith("other-writer-")  # the other's write
            assert server.call("POST", path_ + "/events", assignment(), **admin).status == 201
        finally:
            other.close()

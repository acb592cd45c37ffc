"""kill -9 at random points: of the server while clients append (every acknowledged append is
in the log and the read models exactly once after the restart, and an append whose answer was
lost, sent again with its Idempotency-Key, is recorded once, not twice), and of the read-model
worker while the log grows (it resumes where the models' last committed batch left them)."""

from __future__ import annotations

import json
import random
import threading
import uuid
from collections import Counter
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest

from api.bootstrap import build
from ledger.backfill import custody_events
from ledger.settings import Settings
from tests.e2e.support import assignment
from tests.faults.support import BOUNDS, Custody, Server, admin_token, running, until
from tests.stories import register

KILLS = 3


class Appender(threading.Thread):
    """Appends to one account through `server` until the server is gone: `acked` maps each
    acknowledged append's key to its version; the append in flight when the server died (its
    fate unknown to the client) goes to `unknown`, to be sent again."""

    def __init__(self, server: Server, account: UUID, admin: dict[str, str], tag: str,
                 acked: dict[str, int], unknown: list[tuple[UUID, str]]) -> None:  # fmt: skip
        super().__init__(daemon=True)
        self.server, self.account, self.admin, self.tag = server, account, admin, tag
        self.acked, self.unknown = acked, unknown
        self.refused: list[Any] = []

    def run(self) -> None:
        n = 0
        while True:
            n += 1
            key = f"{self.account.hex[:8]}-{self.tag}-{n}"
            try:
                answer = send(self.server, self.account, key, self.admin)
            except OSError:
                self.unknown.append((self.account, key))
                return
            if answer.status != 201:
                self.refused.append((answer.status, answer.body))
                return
            self.acked[key] = answer.body["version"]


def send(server: Server, account: UUID, key: str, admin: dict[str, str]) -> Any:
    """One append; its reason and its Idempotency-Key are `key`."""
    body = assignment(f"h-{key}", "Holder", reason=key)
    return server.call("POST", f"/v1/accounts/{account}/events", body,
                       **admin, **{"Idempotency-Key": key})  # fmt: skip


def _resend(server: Server, unknown: list[tuple[UUID, str]], acked: dict[str, int],
            admin: dict[str, str]) -> None:  # fmt: skip
    """Send again each append whose answer was lost: recorded once, whether or not it was."""
    for account, key in unknown:
        answer = send(server, account, key, admin)
        assert answer.status == 201, answer.body
        acked[key] = answer.body["version"]
    unknown.clear()


def _seeded() -> tuple[int, random.Random]:
    """A random seed, printed (a failure names it too), and its generator."""
    seed = random.randrange(2**32)
    print(f"seed {seed}")
    return seed, random.Random(seed)


def _accounts(url: str, prefix: str, n: int = 2) -> list[UUID]:
    container = build(Settings(database_url=url))
    try:
        return [register(container.ledger, f"@{prefix}{i}").account_id for i in range(n)]
    finally:
        container.close()


def _start(appenders: list[Appender]) -> list[Appender]:
    for appender in appenders:
        appender.start()
    return appenders


def _joined(appenders: list[Appender], seed: int) -> None:
    """Wait for the appenders (their server is gone); none was refused."""
    for appender in appenders:
        appender.join(timeout=30)
        assert appender.refused == [], (seed, appender.refused)


def test_after_kill_9_of_the_server_at_random_points_every_acknowledged_append_is_there_once(
    store_url: str, tmp_path: Path
) -> None:
    seed, rng = _seeded()
    admin = admin_token(store_url)
    accounts = _accounts(store_url, "Kill")
    acked: dict[str, int] = {}
    unknown: list[tuple[UUID, str]] = []
    for kill in range(KILLS):
        server = Server(store_url, tmp_path / "serve.log", BOUNDS)
        with running(server):
            _resend(server, unknown, acked, admin)
            appenders = _start([Appender(server, account, admin, str(kill), acked, unknown)
                                for account in accounts])  # fmt: skip
            threading.Event().wait(rng.uniform(0.3, 2.0))
            server.kill()
            _joined(appenders, seed)
    assert len(acked) > 2 * KILLS, (seed, len(acked))
    print(f"{len(acked)} appends acknowledged, {len(unknown)} lost answers to send again")

    server = Server(store_url, tmp_path / "serve.log", BOUNDS)
    with running(server):
        _resend(server, unknown, acked, admin)
        logged = build(Settings(database_url=store_url))
        try:
            for account in accounts:
                mine = {k: v for k, v in acked.items() if k.startswith(account.hex[:8])}
                # The log: each key's append once, at the version its answer gave.
                facts = logged.ledger.facts(account)[1:]
                assert Counter(f.reason for f in facts) == Counter(list(mine)), seed
                assert {f.reason: f.version for f in facts} == mine, seed
                # The read models, which the server answers from: the same, each applied once.
                records = server.call("GET", f"/v1/accounts/{account}/events", **admin).body
                assert [(r["reason"], r["version"]) for r in records[1:]] == [
                    (f.reason, f.version) for f in facts
                ], seed
        finally:
            logged.close()


@pytest.mark.postgres
def test_after_kill_9_of_the_read_model_worker_at_random_points_it_resumes_where_it_stopped(
    pg_url: str, tmp_path: Path
) -> None:
    seed, rng = _seeded()
    admin = admin_token(pg_url)
    accounts = _accounts(pg_url, "Work")
    acked: dict[str, int] = {}
    unknown: list[tuple[UUID, str]] = []
    server = Server(pg_url, tmp_path / "serve.log", BOUNDS, "--no-worker")
    with running(server):
        appenders = _start([Appender(server, account, admin, "w", acked, unknown)
                            for account in accounts])  # fmt: skip
        for _ in range(KILLS):
            worker = Custody(pg_url, ["project"], tmp_path / "project.log", BOUNDS)
            threading.Event().wait(rng.uniform(1.0, 3.0))  # it starts, and applies batches
            worker.kill()
        worker = Custody(pg_url, ["project"], tmp_path / "project.log", BOUNDS)
        with running(worker):
            threading.Event().wait(rng.uniform(0.5, 1.5))
            server.kill()  # ends the appends; the worker applies the rest
            _joined(appenders, seed)
            server = Server(pg_url, tmp_path / "serve.log", BOUNDS, "--no-worker")
            with running(server):
                _resend(server, unknown, acked, admin)
                until(lambda: server.call("GET", "/health").body["lag"] == 0, 30)
                logged = build(Settings(database_url=pg_url))
                try:
                    for account in accounts:
                        facts = logged.ledger.facts(account)
                        records = server.call("GET", f"/v1/accounts/{account}/events", **admin)
                        assert [(r["reason"], r["version"]) for r in records.body] == [
                            (f.reason, f.version) for f in facts
                        ], seed
                finally:
                    logged.close()
    assert len(acked) > KILLS, (seed, len(acked))
    print(f"{len(acked)} appends acknowledged while the worker was killed {KILLS} times")


def _history(path: Path, accounts: int) -> int:
    """A backfill file: each account registered and assigned a holder; its line count."""
    lines = []
    for n in range(accounts):
        aid = str(uuid.uuid4())
        lines += [
            {"type": "account_registered", "account_id": aid, "platform": "x",
             "handle": f"imp{n}", "office": "o", "effective_at": "2020-01-01T00:00:00Z"},
            {"type": "holder_assigned", "account_id": aid, "holder": {"id": f"h{n}", "name": "H"},
             "effective_at": "2020-01-02T00:00:00Z"},
        ]  # fmt: skip
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    return len(lines)


def test_after_kill_9_of_an_import_at_a_random_point_it_is_all_there_or_not_at_all(
    store_url: str, tmp_path: Path
) -> None:
    seed, rng = _seeded()
    history = tmp_path / "history.jsonl"
    lines = _history(history, 1500)
    build(Settings(database_url=store_url)).close()  # the tables, before the clock starts
    importer = Custody(store_url, ["import", str(history)], tmp_path / "import.log", BOUNDS)
    threading.Event().wait(rng.uniform(0.5, 4.0))
    importer.kill()
    container = build(Settings(database_url=store_url))
    try:
        found = sum(1 for _ in custody_events(container.ledger))
        print(f"seed {seed}: {found} of {lines} events in the log after the kill")
        assert found in (0, lines), seed
        if found == 0:  # killed before its one transaction committed: import it again
            again = Custody(store_url, ["import", str(history)], tmp_path / "import.log", BOUNDS)
            assert again.process.wait(timeout=120) == 0, again.output()
            assert sum(1 for _ in custody_events(container.ledger)) == lines
        # The read models, caught up (where the import's own catch-up was cut short), agree
        # with the log, each event applied once.
        container.projector.catch_up()
        assert container.projector.lag() == 0
        logged = Counter[tuple[UUID | None, int]](
            (aid, fact.version) for _, aid, fact in custody_events(container.ledger)
        )
        page, applied = container.queries.log(0, 1000), Counter[tuple[UUID | None, int]]()
        while page.events:
            applied.update((r.account_id, r.version) for r in page.events)
            page = container.queries.log(page.next_after, 1000)
        assert applied == logged, seed
    finally:
        container.close()

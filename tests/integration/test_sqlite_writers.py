"""SQLite beside other writers (issue 22): a write transaction of the read side waits for the
write lock like any writer, instead of failing at once with "database is locked" when another
connection wrote after it had begun to read."""

from __future__ import annotations

import json
import threading
import uuid
from pathlib import Path

from api.bootstrap import build
from ledger.backfill import import_file
from ledger.commands import AssignHolder, Holder
from ledger.settings import Settings
from tests.stories import ACTOR, OPENED, register


def test_stores_open_imports_and_reads_go_on_while_others_write(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/custody.db"
    build(Settings(database_url=url)).close()  # the tables exist: set-up now only reads first
    stop, errors = threading.Event(), []

    def writer(n: int) -> None:
        try:
            c = build(Settings(database_url=url))  # set up while the others write
            try:
                account = register(c.ledger, f"@Writer{n}").account_id
                k = 0
                while not stop.is_set():
                    k += 1
                    holder = Holder(id=f"h{n}-{k}", name="H")
                    c.ledger.append(account, AssignHolder(holder=holder, effective_at=OPENED),
                                    actor=ACTOR)  # fmt: skip
                    assert c.queries.account_at(account) is not None  # projects, in-process
            finally:
                c.close()
        except Exception as e:
            errors.append(f"writer {n}: {type(e).__name__}: {e}")

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    importer = build(Settings(database_url=url))
    try:
        for r in range(6):
            lines = []
            for a in range(200):
                aid = str(uuid.uuid4())
                lines += [
                    {"type": "account_registered", "account_id": aid, "platform": "x",
                     "handle": f"i{r}x{a}", "office": "o", "effective_at": "2020-01-01T00:00:00Z"},
                    {"type": "holder_assigned", "account_id": aid, "holder": {"id": "h", "name": "H"},
                     "effective_at": "2020-01-02T00:00:00Z"},
                ]  # fmt: skip
            path = tmp_path / f"batch{r}.jsonl"
            path.write_text("".join(json.dumps(line) + "\n" for line in lines))
            report = import_file(
                importer.ledger, path, actor="import", catch_up=importer.projector.catch_up
            )
            assert (report.written, report.behind) == (400, None)
    finally:
        stop.set()
        for t in threads:
            t.join(timeout=60)
        importer.close()
    assert errors == []

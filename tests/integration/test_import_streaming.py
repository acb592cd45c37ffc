"""A large import on each store: the file is read a chunk at a time, never whole, and the
import is still all or nothing; its events go to the log stream by stream (a restore keeps the
exported order); the projection in the importing process takes the whole import's facts from
memory."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4

import pytest

from api.bootstrap import Container, build
from api.cli import EXIT_OK
from ledger import backfill
from ledger.application import CustodyLedger
from ledger.backfill import ImportRefused, custody_events, import_file
from ledger.settings import Settings
from projections import bulk
from tests.integration.test_import_input import jsonl
from tests.support import cli

A, B = uuid4(), uuid4()


def registration(account: UUID, handle: str) -> dict[str, object]:
    return {"type": "account_registered", "account_id": str(account), "platform": "x",
            "handle": handle, "office": f"office-{handle.lstrip('@').lower()}",
            "effective_at": "2018-01-01T00:00:00Z"}  # fmt: skip


def assignment(account: UUID, who: str, day: int) -> dict[str, object]:
    return {"type": "holder_assigned", "account_id": str(account),
            "holder": {"id": who, "name": who.title()}, "effective_at": f"2018-02-{day:02}T00:00:00Z"}  # fmt: skip


INTERLEAVED = [
    registration(A, "@Alpha"),
    registration(B, "@Beta"),
    assignment(A, "ann", 1),
    assignment(B, "bob", 1),
    assignment(A, "cai", 2),
    assignment(B, "dee", 2),
    assignment(A, "eve", 3),
    assignment(B, "fay", 3),
]


@pytest.fixture
def store(store_url: str) -> Iterator[Container]:
    container = build(Settings(database_url=store_url))
    yield container
    container.close()


def test_the_file_is_read_a_chunk_at_a_time_as_the_lines_are_staged(
    store: Container, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With chunks of three lines, the lines a chunk looks up are read ahead once three lines
    have been read, and the rest of the file is read only after they are staged."""
    read: list[int] = []
    reading = backfill._jsonl

    def counted(file: Any) -> Iterator[backfill.Line]:
        for line in reading(file):
            read.append(line[0])
            yield line

    read_when_staging: list[int] = []
    prefetch = CustodyLedger.prefetch

    def noted(self: CustodyLedger, batch: Any, commands: Any) -> None:
        read_when_staging.append(len(read))
        prefetch(self, batch, commands)

    monkeypatch.setattr(backfill, "_jsonl", counted)
    monkeypatch.setattr(backfill, "CHUNK_LINES", 3)
    monkeypatch.setattr(CustodyLedger, "prefetch", noted)
    progress: list[tuple[int, int]] = []
    path = tmp_path / "history.jsonl"
    path.write_bytes(jsonl(*INTERLEAVED[:4], "", "// the second round", *INTERLEAVED[4:]))
    report = import_file(store.ledger, path, actor="import:clerk",
                         progress=lambda done, total: progress.append((done, total)))  # fmt: skip
    assert (report.lines, report.written, report.accounts) == (8, 8, {A, B})
    assert read_when_staging == [3, 6, 8]
    assert progress == [(n, 10) for n in (1, 2, 3, 4, 7, 8, 9, 10)]  # line numbers of 10 lines


def test_bad_lines_in_every_chunk_are_named_and_nothing_is_written(
    store: Container, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A line's rules see the lines of earlier chunks (B's assignment needs B's registration,
    two chunks before); a bad line anywhere refuses the whole file."""
    monkeypatch.setattr(backfill, "CHUNK_LINES", 2)
    lines: list[dict[str, object] | str] = [*INTERLEAVED]
    lines[2] = {**assignment(A, "ann", 1), "type": "holder_appointed"}
    lines[7] = "{not json"
    path = tmp_path / "history.jsonl"
    path.write_bytes(jsonl(*lines))
    with pytest.raises(ImportRefused) as refused:
        import_file(store.ledger, path, actor="import:clerk")
    assert [e.split(":")[0] for e in refused.value.report.errors] == ["line 3", "line 8"]
    assert store.ledger.head() == 0


def test_an_imports_events_go_to_the_log_stream_by_stream_and_a_restore_keeps_their_order(
    store: Container, store_url: str, tmp_path: Path
) -> None:
    """The file alternates between two accounts; the log holds A's events, then B's, all
    recorded at one time. Exported and restored elsewhere, the log keeps that order."""
    path = tmp_path / "history.jsonl"
    path.write_bytes(jsonl(*INTERLEAVED))
    assert cli(store_url, "import", str(path)) == EXIT_OK
    logged = [(stream, fact.version) for _, stream, fact in custody_events(store.ledger)]
    assert logged == [(A, v) for v in range(1, 5)] + [(B, v) for v in range(1, 5)]
    assert len({fact.recorded_at for _, _, fact in custody_events(store.ledger)}) == 1

    exported = tmp_path / "export.jsonl"
    assert cli(store_url, "export", "--out", str(exported)) == EXIT_OK
    lines = [json.loads(line) for line in exported.read_text().splitlines()]
    assert [(line["account_id"], line["type"]) for line in lines][3:5] == [
        (str(A), "holder_assigned"),
        (str(B), "account_registered"),
    ]
    copy = build(Settings(database_url=f"sqlite:///{tmp_path}/copy.db"))
    try:
        import_file(copy.ledger, exported, actor="import:restorer", restore=True)
        restored = [(stream, fact.version) for _, stream, fact in custody_events(copy.ledger)]
        assert restored == logged
    finally:
        copy.close()


def test_the_importing_projection_takes_every_fact_of_an_import_larger_than_its_bound(
    store: Container, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The importing process keeps what it just recorded for its own projection; an import
    larger than that bound is kept whole (the batch holds its facts anyway), so the read models
    are brought up to date without reading the log back, and then it is all forgotten."""
    recent = store.ledger.recent
    assert recent is not None
    recent.limit = 3
    path = tmp_path / "history.jsonl"
    path.write_bytes(jsonl(*INTERLEAVED))
    report = import_file(store.ledger, path, actor="import:clerk")  # no catch-up yet
    head = store.ledger.head()
    assert len(recent) == head  # 8 custody events and the two handle claims
    assert [(stream, fact.version) for _, stream, fact in recent.span(0, head) or []] == [
        (A, v) for v in range(1, 5)
    ] + [(B, v) for v in range(1, 5)]
    decoded: list[object] = []
    decode = store.projector._decode

    def counting(notes: Any, found: Any) -> Any:
        decoded.extend(notes)
        return decode(notes, found)

    monkeypatch.setattr(store.projector, "_decode", counting)  # reading the log back
    assert store.projector.catch_up() == report.written == 8
    assert decoded == [] and len(recent) == 0
    events = store.queries.events(B)
    assert [e.data.get("holder", {}).get("id") for e in events] == [None, "bob", "dee", "fay"]


def test_a_projection_taken_in_several_batches_refreshes_postgresqls_statistics_as_it_grows(
    store: Container, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The import's catch-up (`custody import`'s) analyses the read models' tables between
    its batches once the log applied has doubled, so PostgreSQL plans their queries for the
    tables' sizes; SQLite needs no statistics and is left alone. The rows are the same."""
    monkeypatch.setattr(bulk, "FIRST_ANALYSIS", 1)
    analysed: list[int] = []
    analyse = bulk.analyse

    def counted(projector: Any) -> None:
        analysed.append(projector.applied())
        analyse(projector)

    monkeypatch.setattr(bulk, "analyse", counted)
    store.projector.batch_size = store.projector.max_batch = 2  # the import in several batches
    path = tmp_path / "history.jsonl"
    path.write_bytes(jsonl(*INTERLEAVED))
    report = import_file(store.ledger, path, actor="import:clerk", catch_up=store.catch_up_import)
    assert (report.written, report.behind, store.projector.lag()) == (8, None, 0)
    if store.projector.db.kind == "sqlite":
        assert analysed == []
    else:
        assert analysed == [2, 4, 8]  # log positions applied: each double the one before
        db = store.projector.db
        tables = sorted({t.name for m in store.projector.models for t in m.tables})
        analysed_tables = db.fetchall(
            "SELECT relname FROM pg_stat_user_tables WHERE schemaname = %s "
            "AND last_analyze IS NOT NULL ORDER BY relname",
            (db.schema,),
        )
        assert [r[0] for r in analysed_tables if r[0] in tables] == tables
        assert (db.events_table,) in analysed_tables
    events = store.queries.events(A)
    assert [e.data.get("holder", {}).get("id") for e in events] == [None, "ann", "cai", "eve"]

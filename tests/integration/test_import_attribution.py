"""Who an import's events are by, on each store: the identity that ran the import writes them
(`import:NAME`), and the name a line gives is kept beside it as `attributed_to`, never as the
writer; a restore keeps both as exported; an event stored before the field existed reads as
unattributed."""

from __future__ import annotations

import getpass
import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from uuid import UUID

import pytest

from api.bootstrap import Container, build
from api.cli import EXIT_OK, EXIT_REFUSED
from ledger.backfill import custody_events, export_lines, import_file
from ledger.commands import AssignHolder, Holder
from ledger.settings import Settings
from tests.integration.test_import_input import AID, assignment, jsonl, registration
from tests.support import cli, stored_state

Capture = pytest.CaptureFixture[str]
ME = f"import:{getpass.getuser()}"


@pytest.fixture
def store(store_url: str) -> Iterator[Container]:
    container = build(Settings(database_url=store_url))
    container.access.issue("t-reader", "reader")
    yield container
    container.close()


def _who(container: Container) -> list[tuple[int, str, str | None]]:
    """(version, actor, attributed_to) of each event of the account, from the read model."""
    return [(e.version, e.actor, e.attributed_to) for e in container.queries.events(UUID(AID))]


def test_a_line_naming_a_reader_token_is_written_by_whoever_ran_the_import_and_only_attributed(
    store: Container, store_url: str, tmp_path: Path, capsys: Capture
) -> None:
    """The reader token t-reader can write nothing; a file saying it recorded the assignment
    does not make the log say so. The log says who ran the import, and what the file claims."""
    path = tmp_path / "backfill.jsonl"
    path.write_bytes(jsonl(registration(), assignment(actor="t-reader")))
    assert cli(store_url, "import", str(path)) == EXIT_OK

    assert _who(store) == [(1, ME, None), (2, ME, "t-reader")]
    facts = store.ledger.facts(UUID(AID))
    assert [(f.actor, f.attributed_to) for f in facts] == [(ME, None), (ME, "t-reader")]
    capsys.readouterr()
    assert cli(store_url, "history", AID) == EXIT_OK
    assert f"{ME} (attributed to t-reader)" in capsys.readouterr().out
    assert cli(store_url, "history", AID, "--json") == EXIT_OK
    events = json.loads(capsys.readouterr().out)["events"]
    assert [(e["actor"], e["attributed_to"]) for e in events] == [(ME, None), (ME, "t-reader")]


def test_an_importer_named_on_the_command_line_is_recorded_under_the_import_door(
    store: Container, store_url: str, tmp_path: Path
) -> None:
    """`--actor t-reader` names who runs the import, not a token: it is recorded as
    import:t-reader, which no token can be called (a token's name has no colon)."""
    path = tmp_path / "backfill.jsonl"
    path.write_bytes(jsonl(registration(), assignment(actor="records-office")))
    assert cli(store_url, "import", str(path), "--actor", "t-reader") == EXIT_OK
    assert _who(store) == [
        (1, "import:t-reader", None),
        (2, "import:t-reader", "records-office"),
    ]


def test_a_line_that_carries_attributed_to_keeps_it_and_drops_its_earlier_importers_actor(
    store: Container, tmp_path: Path
) -> None:
    """An export's line (its record time removed, so not a restore) says both who imported it
    before and whom that import attributed it to: the attribution is the claim that travels."""
    path = tmp_path / "again.jsonl"
    path.write_bytes(
        jsonl(
            registration(actor="import:alice", attributed_to="records-office"),
            assignment(actor="import:alice"),  # an export line of an event written directly
            assignment(
                attributed_to="t-reader",
                effective_at="2018-08-22T00:00:00Z",
                holder={"id": "maryam-nawaz", "name": "Maryam Nawaz"},
            ),
        )
    )
    report = import_file(store.ledger, path, actor="import:bob", catch_up=store.projector.catch_up)
    assert report.written == 3
    assert _who(store) == [
        (1, "import:bob", "records-office"),
        (2, "import:bob", "import:alice"),
        (3, "import:bob", "t-reader"),
    ]


def test_an_attribution_that_is_not_a_name_is_refused_with_its_line(
    store_url: str, tmp_path: Path, capsys: Capture
) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_bytes(
        jsonl(
            registration(),
            assignment(attributed_to=7),
            assignment(attributed_to="clerk\nforged line"),
            assignment(attributed_to="", actor="clerk"),
            assignment(actor="x" * 129),
        )
    )
    capsys.readouterr()
    assert cli(store_url, "import", str(path)) == EXIT_REFUSED
    err = capsys.readouterr().err
    assert "line 2: attributed_to: expected a string naming who recorded the event" in err
    assert "line 3: attributed_to must be one line, without control characters" in err
    assert "line 4: attributed_to must be a non-empty name of at most 128 characters" in err
    assert "line 5: actor must be a non-empty name of at most 128 characters" in err
    assert "4 bad line(s) of 5; nothing was written" in err


def test_restore_keeps_actors_attributions_and_record_times_and_exports_the_same_bytes(
    store: Container, store_url: str, tmp_path: Path
) -> None:
    """An import attributed some events, a recorder wrote one directly: the export carries
    `attributed_to` on the imported lines only, and export -> restore -> export is identical."""
    source = build(Settings(database_url=f"sqlite:///{tmp_path}/source.db"))
    try:
        path = tmp_path / "backfill.jsonl"
        path.write_bytes(jsonl(registration(actor="t-reader"), assignment()))
        import_file(source.ledger, path, actor="import:clerk")
        sworn = AssignHolder(holder=Holder(id="maryam-nawaz", name="Maryam Nawaz"),
                             effective_at=datetime(2024, 2, 26, tzinfo=UTC))  # fmt: skip
        source.ledger.append(UUID(AID), sworn, actor="records-office")
        exported = tmp_path / "export.jsonl"
        assert cli(source.settings.database_url, "export", "--out", str(exported)) == EXIT_OK
        lines = [json.loads(line) for line in exported.read_text().splitlines()]
        assert [(x["actor"], x.get("attributed_to", "-")) for x in lines] == [
            ("import:clerk", "t-reader"),
            ("import:clerk", "-"),
            ("records-office", "-"),
        ]
        original = [(stream, fact) for _, stream, fact in custody_events(source.ledger)]
    finally:
        source.close()

    assert cli(store_url, "import", str(exported), "--restore") == EXIT_OK
    again = tmp_path / "again.jsonl"
    assert cli(store_url, "export", "--out", str(again)) == EXIT_OK
    assert again.read_bytes() == exported.read_bytes()
    # the same facts (the positions differ: this store holds a token's events first)
    assert [(stream, fact) for _, stream, fact in custody_events(store.ledger)] == original
    assert _who(store) == [
        (1, "import:clerk", "t-reader"),
        (2, "import:clerk", None),
        (3, "records-office", None),
    ]


def test_an_event_stored_before_attribution_existed_reads_as_unattributed(
    store: Container, tmp_path: Path
) -> None:
    """Events written by an earlier version have no `attributed_to` key in their stored JSON;
    they decode, export and fold as events nobody attributed."""
    path = tmp_path / "backfill.jsonl"
    path.write_bytes(jsonl(registration(), assignment(actor="t-reader")))
    import_file(store.ledger, path, actor="import:clerk")
    state, _ = stored_state(store, UUID(AID), 2)
    earlier = json.loads(state)
    assert earlier.pop("attributed_to") == "t-reader"
    stored_state(store, UUID(AID), 2, json.dumps(earlier).encode("utf-8"))

    facts = store.ledger.facts(UUID(AID))
    assert [(f.actor, f.attributed_to) for f in facts] == [
        ("import:clerk", None),
        ("import:clerk", None),
    ]
    assert [r.attributed_to for r in store.ledger.records(UUID(AID))] == [None, None]
    exported = [json.loads(line) for line in export_lines(store.ledger)]
    assert ["attributed_to" in line for line in exported] == [False, False]

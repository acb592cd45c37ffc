"""Importing offices beside accounts: an office's lines go to its own stream, personal
accounts and their official use go to the account's; a bad line of either writes nothing;
the export names an office's stream by its key, and restores to the same log."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4

import pytest

from api.bootstrap import Container, build
from api.demo import DEMO_FILE
from ledger.backfill import (
    ImportRefused,
    custody_events,
    import_file,
    import_files,
    write_export,
)
from ledger.domain import office_id
from ledger.errors import InvalidInput
from ledger.settings import Settings

ISPR = "pk-dg-ispr"
ASIM = {"id": "asim-saleem-bajwa", "name": "Asim Saleem Bajwa"}
ASIF = {"id": "asif-ghafoor", "name": "Asif Ghafoor"}


@pytest.fixture
def store(store_url: str) -> Iterator[Container]:
    container = build(Settings(database_url=store_url))
    yield container
    container.close()


def jsonl(path: Path, *lines: dict[str, Any]) -> Path:
    path.write_text("".join(json.dumps(line) + "\n" for line in lines), encoding="utf-8")
    return path


def the_ispr_story(official: UUID, personal: UUID) -> list[dict[str, Any]]:
    """The DG ISPR's office and its holders; the office's account; the first DG's personal
    account, put to the office's use, left to him, watched by its followers, and at last given
    to the office, whose old account goes to the archives."""
    return [
        {"type": "office_registered", "office": ISPR, "jurisdiction": "PK",
         "name": "Director General, Inter-Services Public Relations",
         "effective_at": "2012-05-01T00:00:00Z"},
        {"type": "holder_assigned", "office": ISPR, "holder": ASIM,
         "effective_at": "2012-05-01T00:00:00Z"},
        {"type": "account_registered", "account_id": str(official), "platform": "x",
         "platform_account_id": "4001", "handle": "@ISPR_Official", "office": ISPR,
         "effective_at": "2012-05-01T00:00:00Z"},
        {"type": "holder_assigned", "account_id": str(official), "holder": ASIM,
         "effective_at": "2012-05-01T00:00:00Z"},
        {"type": "account_registered", "account_id": str(personal), "platform": "x",
         "platform_account_id": "4002", "handle": "@AsimBajwaISPR", "ownership": "personal",
         "owner": ASIM, "effective_at": "2012-05-01T00:00:00Z"},
        {"type": "holder_assigned", "account_id": str(personal), "holder": ASIM,
         "effective_at": "2012-05-01T00:00:00Z"},
        # Names its office, and its account (by platform id): an account's line.
        {"type": "official_use_started", "account": {"platform": "x",
         "platform_account_id": "4002"}, "office": ISPR, "effective_at": "2012-06-01T00:00:00Z"},
        {"type": "holder_assigned", "office": ISPR, "holder": ASIF,
         "effective_at": "2016-12-25T00:00:00Z", "reason": "handover"},
        {"type": "holder_assigned", "account_id": str(official), "holder": ASIF,
         "effective_at": "2016-12-25T00:00:00Z"},
        {"type": "official_use_ended", "account_id": str(personal),
         "effective_at": "2016-12-25T00:00:00Z"},
        {"type": "audience_observed", "account_id": str(personal), "followers": 3050000,
         "effective_at": "2016-12-26T00:00:00Z",
         "evidence": [{"url": "https://example.org/followers"}]},
        {"type": "holder_released", "office": ISPR, "effective_at": "2020-01-15T00:00:00Z"},
        {"type": "event_retracted", "office": ISPR, "event_version": 4,
         "effective_at": "2020-01-15T00:00:00Z", "reason": "he served until February"},
        {"type": "ownership_changed", "account_id": str(personal), "ownership": "office",
         "office": ISPR, "effective_at": "2020-02-01T00:00:00Z"},
        # Names an office and its account: an account's line.
        {"type": "office_transferred", "account_id": str(official), "office": "pk-archives",
         "effective_at": "2020-02-02T00:00:00Z"},
    ]  # fmt: skip


def test_an_import_mixing_offices_personal_accounts_and_their_events_writes_every_line(
    store: Container, tmp_path: Path
) -> None:
    official, personal = uuid4(), uuid4()
    path = jsonl(tmp_path / "ispr.jsonl", *the_ispr_story(official, personal))
    report = import_file(store.ledger, path, actor="clerk")
    assert (report.lines, report.written, report.errors) == (15, 15, [])
    assert report.offices == {ISPR}
    assert report.accounts == {official, personal}

    office = store.ledger.office_facts(ISPR)
    assert [(f.version, f.type, f.kind) for f in office] == [
        (1, "office_registered", "office"), (2, "holder_assigned", "office"),
        (3, "holder_assigned", "office"), (4, "holder_released", "office"),
        (5, "event_retracted", "office"),
    ]  # fmt: skip
    assert office[0].data == {
        "office": ISPR,
        "name": "Director General, Inter-Services Public Relations",
        "jurisdiction": "PK",
    }
    assert [f.data for f in office[1:]] == [
        {"holder": ASIM},
        {"holder": ASIF},
        {},
        {"event_version": 4},
    ]
    assert {f.actor for f in office} == {"clerk"}

    mine = store.ledger.facts(personal)
    assert [(f.type, f.data) for f in mine] == [
        ("account_registered", {"platform": "x", "platform_account_id": "4002",
         "handle": "AsimBajwaISPR", "ownership": "personal", "owner": ASIM}),
        ("holder_assigned", {"holder": ASIM}),
        ("official_use_started", {"office": ISPR}),
        ("official_use_ended", {}),
        ("audience_observed", {"followers": 3050000}),
        ("ownership_changed", {"ownership": "office", "office": ISPR}),
    ]  # fmt: skip
    theirs = store.ledger.facts(official)
    assert [(f.type, f.data) for f in theirs] == [
        ("account_registered", {"platform": "x", "platform_account_id": "4001",
         "handle": "ISPR_Official", "office": ISPR}),
        ("holder_assigned", {"holder": ASIM}),
        ("holder_assigned", {"holder": ASIF}),
        ("office_transferred", {"office": "pk-archives"}),
    ]  # fmt: skip
    # One batch: every event of the file, office's and accounts', shares one record time.
    assert len({f.recorded_at for f in [*office, *mine, *theirs]}) == 1


BAD_LINES: list[tuple[dict[str, Any], str]] = [
    (
        {"type": "holder_assigned", "office": "pk-no-such-office", "holder": ASIF,
         "effective_at": "2016-12-25T00:00:00Z"},
        "office 'pk-no-such-office' is not registered",
    ),
    (
        {"type": "account_registered", "platform": "x", "handle": "@Nobodys",
         "ownership": "personal", "effective_at": "2016-12-25T00:00:00Z"},
        "a personal account names its owner",
    ),
    (
        {"type": "official_use_started", "account": {"platform": "x",
         "platform_account_id": "4001"}, "office": ISPR, "effective_at": "2016-12-25T00:00:00Z"},
        "only a personal account is put to official use",
    ),
    (
        {"type": "audience_observed", "account": {"platform": "x", "platform_account_id": "4001"},
         "followers": -1, "effective_at": "2016-12-26T00:00:00Z"},
        "followers: Input should be greater than or equal to 0",
    ),
    (
        {"type": "audience_observed", "account": {"platform": "x", "platform_account_id": "4001"},
         "followers": 1.5, "effective_at": "2016-12-26T00:00:00Z"},
        "followers: Input should be a valid integer",
    ),
    (
        {"type": "handle_renamed", "office": ISPR, "handle": "@DGISPR",
         "effective_at": "2016-12-26T00:00:00Z"},
        "name the account: account_id, or account: {platform, platform_account_id} (an "
        "office's own stream takes only event_retracted, holder_assigned, holder_released, "
        "office_registered)",
    ),
    (
        {"type": "office_registered", "account_id": str(uuid4()), "office": "pk-other",
         "name": "Other", "jurisdiction": "PK", "effective_at": "2016-12-26T00:00:00Z"},
        "an office's registration names no account",
    ),
    (
        {"type": "office_registered", "office": ISPR, "name": "Again", "jurisdiction": "PK",
         "effective_at": "2016-12-26T00:00:00Z"},
        "office 'pk-dg-ispr' is already registered",
    ),
    (
        {"type": "office_registered", "office": "pk-punjab", "name": "Punjab",
         "jurisdiction": "Punjab", "effective_at": "2016-12-26T00:00:00Z"},
        "jurisdiction",
    ),
    (
        {"type": "holder_released", "office": ISPR, "effective_at": "2010-01-01T00:00:00Z"},
        "before the office's registration",
    ),
]  # fmt: skip


@pytest.mark.parametrize(("bad", "words"), BAD_LINES)
def test_one_bad_office_or_ownership_line_writes_nothing_and_is_named(
    store: Container, tmp_path: Path, bad: dict[str, Any], words: str
) -> None:
    good = the_ispr_story(uuid4(), uuid4())[:4]
    path = jsonl(tmp_path / "bad.jsonl", *good, bad)
    with pytest.raises(ImportRefused) as refused:
        import_file(store.ledger, path, actor="clerk")
    (error,) = refused.value.report.errors
    assert error.startswith("line 5: "), error
    assert words in error, error
    assert store.ledger.head() == 0


def test_csv_with_the_office_and_ownership_columns_imports(
    store: Container, tmp_path: Path
) -> None:
    personal = uuid4()
    path = tmp_path / "offices.csv"
    path.write_text(
        "type,account_id,platform,platform_account_id,handle,office,effective_at,holder.id,"
        "holder.name,name,jurisdiction,ownership,owner.id,owner.name,followers\n"
        f"office_registered,,,,,{ISPR},2012-05-01T00:00:00Z,,,"
        '"Director General, Inter-Services Public Relations",PK,,,,\n'
        f"holder_assigned,,,,,{ISPR},2012-05-01T00:00:00Z,asim-saleem-bajwa,Asim Saleem Bajwa"
        ",,,,,,\n"
        f"account_registered,{personal},x,4002,@AsimBajwaISPR,{ISPR},2012-05-01T00:00:00Z,,,,,"
        "personal,asim-saleem-bajwa,Asim Saleem Bajwa,\n"
        f"audience_observed,{personal},,,,,2016-12-26T00:00:00Z,,,,,,,,3050000\n",
        encoding="utf-8",
    )
    report = import_file(store.ledger, path, actor="clerk")
    assert (report.written, report.offices, report.accounts) == (4, {ISPR}, {personal})
    office = store.ledger.office_facts(ISPR)
    assert [f.data for f in office] == [
        {"office": ISPR, "name": "Director General, Inter-Services Public Relations",
         "jurisdiction": "PK"},
        {"holder": ASIM},
    ]  # fmt: skip
    assert [f.data for f in store.ledger.facts(personal)] == [
        {"platform": "x", "platform_account_id": "4002", "handle": "AsimBajwaISPR",
         "office": ISPR, "ownership": "personal", "owner": ASIM},
        {"followers": 3050000},
    ]  # fmt: skip


@pytest.mark.parametrize("followers", ["-1", "1.5", "3e6"])
def test_a_csv_follower_count_must_be_a_whole_number(
    store: Container, tmp_path: Path, followers: str
) -> None:
    path = tmp_path / "followers.csv"
    path.write_text(
        "type,account_id,effective_at,followers\n"
        f"audience_observed,{uuid4()},2016-12-26T00:00:00Z,{followers}\n",
        encoding="utf-8",
    )
    with pytest.raises(ImportRefused) as refused:
        import_file(store.ledger, path, actor="clerk")
    assert refused.value.report.errors == [
        f"line 2: bad cell: followers: expected a whole number, got '{followers}'"
    ]
    assert store.ledger.head() == 0


def exported(container: Container) -> str:
    out = io.StringIO()
    write_export(container.ledger, out, lambda done, total: None)
    return out.getvalue()


def test_the_export_names_an_office_by_its_key_and_restores_to_the_same_log(
    store: Container, tmp_path: Path
) -> None:
    """Written in one store, exported, restored into a fresh one: the same export, the same
    streams at the same versions with the same record times, in the same log order."""
    source = build(Settings(database_url=f"sqlite:///{tmp_path}/source.db"))
    try:
        official, personal = uuid4(), uuid4()
        story = tmp_path / "ispr.jsonl"
        import_file(source.ledger, jsonl(story, *the_ispr_story(official, personal)),
                    actor="clerk")  # fmt: skip
        text = exported(source)
        lines = [json.loads(line) for line in text.splitlines()]
        office_lines = [line for line in lines if "account_id" not in line]
        assert [(line["type"], line["office"]) for line in office_lines] == [
            ("office_registered", ISPR), ("holder_assigned", ISPR), ("holder_assigned", ISPR),
            ("holder_released", ISPR), ("event_retracted", ISPR),
        ]  # fmt: skip
        assert office_lines[1] == {
            "type": "holder_assigned", "office": ISPR, "holder": ASIM, "actor": "clerk",
            "effective_at": "2012-05-01T00:00:00+00:00", "reason": "", "evidence": [],
            "recorded_at": lines[0]["recorded_at"],
        }  # fmt: skip
        restored = import_file(store.ledger, jsonl(tmp_path / "export.jsonl", *lines),
                               actor="restorer", restore=True)  # fmt: skip
        assert restored.written == 15
        assert (restored.offices, restored.accounts) == ({ISPR}, {official, personal})
        assert exported(store) == text
        # The same streams, versions, record times and actors, at the same log positions.
        assert list(custody_events(store.ledger)) == list(custody_events(source.ledger))
        assert store.ledger.office_facts(ISPR) == source.ledger.office_facts(ISPR)
        assert {sid for _, sid, _ in custody_events(store.ledger)} == {
            office_id(ISPR),
            official,
            personal,
        }
    finally:
        source.close()


DEMO_FILES = [DEMO_FILE]


def test_the_demo_files_restore_together_in_one_batch_and_export_back_unchanged(
    store: Container, tmp_path: Path
) -> None:
    lines = sum(len(p.read_text().splitlines()) for p in DEMO_FILES)
    report = import_files(store.ledger, DEMO_FILES, actor="demo", restore=True)
    assert (report.lines, report.written, report.errors) == (lines, lines, [])
    assert report.offices == {
        "us-president", "us-white-house", "us-nara", "us-president-elect",
        "us-presidential-transition", "pk-pb-chief-minister", "pk-dg-ispr", "pk-prime-minister",
    }  # fmt: skip
    assert len(report.accounts) == 12
    text = exported(store)
    # The export is the file's events, in their order, with the same record times.
    given = [json.loads(line) for p in DEMO_FILES for line in p.read_text().splitlines()]
    got = [json.loads(line) for line in text.splitlines()]
    assert [(g["type"], g.get("office") if "account_id" not in g else g["account_id"],
             g["recorded_at"].replace("Z", "+00:00")) for g in given] == [
        (g["type"], g.get("office") if "account_id" not in g else g["account_id"],
         g["recorded_at"]) for g in got
    ]  # fmt: skip
    copy = build(Settings(database_url=f"sqlite:///{tmp_path}/copy.db"))
    try:
        path = tmp_path / "demo-export.jsonl"
        path.write_text(text, encoding="utf-8")
        import_file(copy.ledger, path, actor="restorer", restore=True)
        assert exported(copy) == text
    finally:
        copy.close()


def test_a_second_restore_into_the_same_store_is_refused(store: Container) -> None:
    import_file(store.ledger, DEMO_FILE, actor="demo", restore=True)
    with pytest.raises(InvalidInput, match="only loads into an empty store"):
        import_file(store.ledger, DEMO_FILE, actor="demo", restore=True)


def test_a_bad_line_among_several_files_is_named_by_its_file(
    store: Container, tmp_path: Path
) -> None:
    first = jsonl(tmp_path / "a.jsonl", *the_ispr_story(uuid4(), uuid4())[:2])
    second = jsonl(tmp_path / "b.jsonl", BAD_LINES[0][0])
    with pytest.raises(ImportRefused) as refused:
        import_files(store.ledger, [first, second], actor="clerk")
    assert refused.value.report.errors == [
        "b.jsonl line 1: office 'pk-no-such-office' is not registered"
    ]
    assert store.ledger.head() == 0


def test_a_later_import_appends_to_the_office_an_earlier_one_registered(
    store: Container, tmp_path: Path
) -> None:
    story = the_ispr_story(uuid4(), uuid4())
    import_file(store.ledger, jsonl(tmp_path / "first.jsonl", *story[:2]), actor="clerk")
    handover = jsonl(tmp_path / "second.jsonl", story[7])
    report = import_file(store.ledger, handover, actor="clerk")
    assert (report.written, report.offices, report.accounts) == (1, {ISPR}, set())
    assert [f.data for f in store.ledger.office_facts(ISPR)[1:]] == [
        {"holder": ASIM},
        {"holder": ASIF},
    ]
    with pytest.raises(ImportRefused) as refused:
        import_file(store.ledger, jsonl(tmp_path / "again.jsonl", story[0]), actor="clerk")
    assert refused.value.report.errors == ["line 1: office 'pk-dg-ispr' is already registered"]

"""`custody import` on hostile or odd files: every bad line named, nothing written, no crash;
odd but valid files (a BOM, U+2028 inside a string, CRLF) import."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from uuid import NAMESPACE_URL, UUID, uuid5

import pytest

from api.bootstrap import Container, build
from api.cli import EXIT_OK, EXIT_REFUSED, EXIT_USAGE
from ledger.access import DIRECTORY_ID
from ledger.backfill import UnreadableFile, import_file
from ledger.domain import handle_index_id
from ledger.settings import Settings
from tests.integration.test_cli_and_transfer import cli

AID = "6f1d0c2e-3333-4a4a-8888-000000000001"


def registration(handle: str = "@CMPunjab", **extra: object) -> dict[str, object]:
    return {"type": "account_registered", "account_id": AID, "platform": "x", "handle": handle,
            "office": "pk-punjab-cm", "effective_at": "2018-08-20T00:00:00Z", **extra}  # fmt: skip


def assignment(**extra: object) -> dict[str, object]:
    return {"type": "holder_assigned", "account_id": AID, "effective_at": "2018-08-21T00:00:00Z",
            "holder": {"id": "usman-buzdar", "name": "Usman Buzdar"}, **extra}  # fmt: skip


def jsonl(*lines: dict[str, object] | str) -> bytes:
    return b"".join(
        (x if isinstance(x, str) else json.dumps(x, ensure_ascii=False)).encode() + b"\n"
        for x in lines
    )


@pytest.fixture
def store(store_url: str) -> Iterator[Container]:
    container = build(Settings(database_url=store_url))
    yield container
    container.close()


def refused(
    url: str, path: Path, expected: dict[int, str], capsys: pytest.CaptureFixture[str]
) -> None:
    """The import exits 1, names exactly these lines with these words, and writes nothing."""
    capsys.readouterr()
    assert cli(url, "import", str(path)) == EXIT_REFUSED
    err = capsys.readouterr().err
    named = {int(line.split(":")[0].removeprefix("line ")): line for line in err.splitlines()
             if line.startswith("line ")}  # fmt: skip
    assert sorted(named) == sorted(expected), err
    for n, words in expected.items():
        assert words in named[n], (n, err)
    container = build(Settings(database_url=url))
    try:
        assert container.ledger.head() == 0
    finally:
        container.close()


def test_hostile_lines_are_each_named_and_nothing_is_written(
    store_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_bytes(
        jsonl(
            registration(),
            assignment(actor="clerk\u0000two"),  # NUL: PostgreSQL text cannot hold it
            assignment(actor="clerk\nforged line"),
            assignment(actor=["clerk"]),
            assignment(account={"platform": "x", "platform_account_id": "1"}),
            registration("@Other", account_id=str(DIRECTORY_ID)),
            registration("@Third", account_id=str(handle_index_id("x", "newone"))),
            registration("@Fourth", account_id="not-a-uuid"),
            '{"type": "holder_released", "type": "holder_assigned"}',
            assignment(actor="clerk\u2028two"),
            {**assignment(), "holder": {"id": "usman-buzdar", "name": "Usman\nBuzdar"}},
            {
                "type": "history_archived",
                "account_id": AID,
                "effective_at": "2018-09-01T00:00:00Z",
                "archive": {"ref": "https://example.org/a", "items": True},
            },
            {
                "type": "event_retracted",
                "account_id": AID,
                "effective_at": "2018-09-01T00:00:00Z",
                "event_version": "2",
            },
            {**assignment(), "evidence": [{"url": "https://example.org/\u0000"}]},
        )
        + b'{"type": "holder_released", "reason": "caf\xe9"}\n'
    )
    refused(
        store_url,
        path,
        {
            2: "actor must be one line, without control characters",
            3: "actor must be one line",
            4: "actor: expected a string",
            5: "account_id or account, not both",
            6: "not a random (version 4) UUID",
            7: "not a random (version 4) UUID",
            8: "account_id: 'not-a-uuid' is not a UUID",
            9: "key 'type' appears twice",
            10: "actor must be one line",
            11: "holder.name: control characters (tabs, line breaks, bidirectional overrides",
            12: "archive.items: Input should be a valid integer",
            13: "event_version: Input should be a valid integer",
            14: "evidence.0.url",
            15: "not UTF-8 text (byte 0xe9 at column 43)",
        },
        capsys,
    )


def test_a_bom_crlf_and_line_separators_inside_strings_are_read_as_written(
    store: Container, tmp_path: Path
) -> None:
    path = tmp_path / "windows.jsonl"
    reason = "first paragraph\u2028second\u2029third\u0085end"
    path.write_bytes(b"\xef\xbb\xbf" + jsonl(registration(reason=reason)).replace(b"\n", b"\r\n"))
    report = import_file(store.ledger, path, actor="clerk")
    assert report.written == 1
    (fact,) = store.ledger.facts(report.accounts.pop())
    assert fact.reason == reason


def test_csv_with_a_bom_imports(store: Container, tmp_path: Path) -> None:
    path = tmp_path / "excel.csv"
    path.write_bytes(
        b"\xef\xbb\xbftype,platform,handle,office,effective_at\r\n"
        b"account_registered,x,@ISPR,pk-ispr,2016-01-01T00:00:00Z\r\n"
    )
    assert import_file(store.ledger, path, actor="clerk").written == 1


def test_a_csv_with_bytes_that_are_not_utf8_is_refused_naming_the_line(
    store_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "latin1.csv"
    path.write_bytes(
        b"type,platform,handle,office,effective_at,reason\n"
        b"account_registered,x,@A,o-a,2016-01-01T00:00:00Z,\n"
        b"account_registered,x,@B,o-b,2016-01-01T00:00:00Z,caf\xe9\n"
    )
    refused(store_url, path, {3: "not UTF-8 text (byte 0xe9 at column 53)"}, capsys)


def test_csv_with_carriage_returns_alone_as_line_ends_imports(
    store: Container, tmp_path: Path
) -> None:
    path = tmp_path / "classic-mac.csv"
    path.write_bytes(
        b"type,platform,handle,office,effective_at\r"
        b"account_registered,x,@ISPR,pk-ispr,2016-01-01T00:00:00Z\r"
        b"account_registered,x,@ISPRofficial,pk-ispr,2016-01-01T00:00:00Z\r"
    )
    assert import_file(store.ledger, path, actor="clerk").written == 2


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("type,handle,handle\naccount_registered,@A,@B\n", {1: "column(s) given twice: handle"}),
        (
            "type,platform,handle,office,effective_at\n"
            "account_registered,x,@A,o-a,2016-01-01T00:00:00Z,surplus,cells\n",
            {2: "more cells than the header's 5 columns"},
        ),
        (
            "type,account_id,effective_at,event_version,evidence\n"
            f"event_retracted,{AID},2016-01-01T00:00:00Z,\u0663,\n"
            f"event_retracted,{AID},2016-01-01T00:00:00Z,1_000,\n"
            f"event_retracted,{AID},2016-01-01T00:00:00Z,2,{{not json\n",
            {
                2: "bad cell: event_version: expected a whole number",
                3: "bad cell: event_version: expected a whole number",
                4: "bad cell: evidence: ",
            },
        ),
        (
            # A quoted cell across two lines: the record is named by its first line.
            "type,platform,handle,office,effective_at,reason\n"
            'account_registered,x,@A,o-a,2016-01-01,"two\nlines"\n'
            "account_registered,x,@B,o-b,2016-01-01,\n",
            {2: "RFC 3339", 4: "RFC 3339"},
        ),
        ("type,reason\nholder_released," + "x" * 200_000 + "\n", {2: "not valid CSV"}),
        (
            # Blank lines are skipped, and do not shift the numbers of the records after them.
            "type,platform,handle,office,effective_at\n\n\n"
            "account_registered,x,@A,o-a,2016-01-01\n",
            {4: "RFC 3339"},
        ),
    ],
)
def test_bad_csv_is_named_by_line(
    store_url: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    text: str,
    expected: dict[int, str],
) -> None:
    path = tmp_path / "bad.csv"
    path.write_text(text, encoding="utf-8")
    refused(store_url, path, expected, capsys)


def test_a_file_that_cannot_be_read_is_refused_with_the_reason(
    store: Container, store_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(UnreadableFile, match="cannot read"):
        import_file(store.ledger, tmp_path, actor="clerk")
    capsys.readouterr()
    assert cli(store_url, "import", str(tmp_path)) == EXIT_USAGE
    assert "is a directory" in capsys.readouterr().err
    assert store.ledger.head() == 0


def test_a_file_without_events_says_so(
    store_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "empty.jsonl"
    path.write_text("\n// nothing yet\n\n")
    capsys.readouterr()
    assert cli(store_url, "import", str(path)) == EXIT_OK
    assert "holds no events; nothing was written" in capsys.readouterr().err


def test_restore_keeps_record_times_moving_forward_and_out_of_the_future(
    store_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "restore.jsonl"
    path.write_bytes(
        jsonl(
            registration(recorded_at="2020-01-05T00:00:00Z"),
            assignment(recorded_at="2020-01-01T00:00:00Z"),  # before the registration's record
            {
                **assignment(recorded_at="3000-01-01T00:00:00Z"),
                "effective_at": "2019-01-01T00:00:00Z",
            },
            registration("@Other", account_id="6f1d0c2e-3333-4a4a-8888-000000000002"),
        )
    )
    capsys.readouterr()
    assert cli(store_url, "import", str(path), "--restore") == EXIT_REFUSED
    err = capsys.readouterr().err
    assert "line 2: recorded_at 2020-01-01T00:00:00+00:00 is before 2020-01-05" in err
    assert "line 3: recorded_at 3000-01-01T00:00:00+00:00 is in the future" in err
    assert "line 4: --restore needs recorded_at on every line" in err


def test_restore_loads_into_a_store_that_holds_only_tokens(
    store: Container, store_url: str, tmp_path: Path
) -> None:
    store.access.issue("records-admin", "admin")
    path = tmp_path / "restore.jsonl"
    path.write_bytes(jsonl(registration(recorded_at="2020-01-05T00:00:00Z")))
    assert cli(store_url, "import", str(path), "--restore") == EXIT_OK
    (fact,) = store.ledger.facts(UUID(AID))
    assert fact.recorded_at == datetime(2020, 1, 5, tzinfo=UTC)


def test_restore_loads_an_export_made_under_older_rules_and_exports_it_unchanged(
    store: Container, store_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """What a ledger once accepted is history: rules added since (version-4 ids, one-line
    text, counts a JSON reader holds exactly) tidy new input, not the replay of an export."""
    old_id = str(uuid5(NAMESPACE_URL, "custody-demo:potus-obama"))  # the demo's former ids
    lines: list[dict[str, object]] = [
        {**registration(), "account_id": old_id, "recorded_at": "2018-08-20T01:00:00Z",
         "actor": "records\toffice"},
        {**assignment(), "account_id": old_id, "recorded_at": "2018-08-21T01:00:00Z",
         "holder": {"id": "usman-buzdar", "name": "Usman\tBuzdar"}},
        {"type": "history_archived", "account_id": old_id, "effective_at": "2018-09-01T00:00:00Z",
         "recorded_at": "2018-09-01T01:00:00Z", "archive": {"ref": "https://a.example/1",
         "items": 2**60}},
    ]  # fmt: skip
    path = tmp_path / "old-export.jsonl"
    path.write_bytes(jsonl(*lines))
    capsys.readouterr()
    assert cli(store_url, "import", str(path)) == EXIT_REFUSED  # as new input: refused
    assert cli(store_url, "import", str(path), "--restore") == EXIT_OK
    out = tmp_path / "again.jsonl"
    assert cli(store_url, "export", "--out", str(out)) == EXIT_OK
    exported = [json.loads(line) for line in out.read_text().splitlines()]
    assert [(e["account_id"], e["actor"] if "actor" in lines[i] else None, e.get("archive"))
            for i, e in enumerate(exported)] == [
        (old_id, "records\toffice", None), (old_id, None, None),
        (old_id, None, {"ref": "https://a.example/1", "items": 2**60, "sha256": None}),
    ]  # fmt: skip
    assert exported[1]["holder"]["name"] == "Usman\tBuzdar"

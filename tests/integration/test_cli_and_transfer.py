"""The command line as a newcomer uses it: demo, who, history, import (all or nothing), export."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from uuid import UUID

import pytest

from api.bootstrap import DemoRefused, build, load_demo
from api.cli import EXIT_OK, EXIT_REFUSED, EXIT_USAGE, main
from api.demo import DEMO_FILE
from ledger.settings import Settings
from tests.support import CM, POTUS_OBAMA, US_HISTORY, cli


def test_who_answers_for_each_side_of_the_2017_inauguration(
    demo_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    capsys.readouterr()
    assert cli(demo_url, "who", "@POTUS", "--platform", "x", "--at", "2017-01-20T16:59:00Z") == 0
    before = capsys.readouterr().out
    assert "Barack Obama (barack-obama)" in before
    assert str(POTUS_OBAMA) in before
    assert "v2   holder_assigned" in before
    assert cli(demo_url, "who", "@potus", "--platform", "x", "--at", "2017-01-20T17:01:00Z") == 0
    after = capsys.readouterr().out
    assert "Donald J. Trump (donald-trump)" in after
    assert str(POTUS_OBAMA) not in after


def test_who_shows_the_record_as_it_stood_before_a_correction(
    demo_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    capsys.readouterr()
    args = ["who", "@CMRuritania", "--platform", "x", "--at", "2021-06-05T00:00:00Z"]
    assert cli(demo_url, *args, "--known-at", "2021-06-20T00:00:00Z") == 0
    assert "Anna Vale" in capsys.readouterr().out
    assert cli(demo_url, *args) == 0
    assert "Boris Kade" in capsys.readouterr().out


def test_who_on_an_unknown_handle_says_so_and_exits_non_zero(
    demo_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    capsys.readouterr()
    assert cli(demo_url, "who", "@NoSuchOffice", "--platform", "x") == EXIT_REFUSED
    assert "No account on x has ever carried the handle @NoSuchOffice" in capsys.readouterr().err
    assert cli(demo_url, "who", "@POTUS", "--platform", "x", "--at", "2010-01-01T00:00:00Z") == (
        EXIT_REFUSED
    )
    assert "no account carried @POTUS on x" in capsys.readouterr().out
    assert cli(demo_url, "who", "@POTUS", "--at", "2017-01-20T17:00") == EXIT_USAGE
    assert "timezone offset" in capsys.readouterr().err


def test_history_prints_the_timeline_and_the_log_and_json(
    demo_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    capsys.readouterr()
    assert cli(demo_url, "history", str(CM)) == EXIT_OK
    out = capsys.readouterr().out
    assert [
        line.split()[0] for line in out.splitlines() if line.startswith(("Anna", "Boris", "Carla"))
    ] == [
        "Anna",
        "Boris",
        "Carla",
    ]
    assert "[retracted by v4]" in out
    assert cli(demo_url, "history", str(CM), "--json") == EXIT_OK
    data = json.loads(capsys.readouterr().out)
    assert [i["holder"]["id"] for i in data["custody"]["intervals"]] == [
        "anna-vale",
        "boris-kade",
        "carla-mendes",
    ]
    assert len(data["events"]) == 8


def _write(path: Path, lines: list[dict[str, object] | str]) -> Path:
    path.write_text("\n".join(x if isinstance(x, str) else json.dumps(x) for x in lines) + "\n")
    return path


def test_a_bad_file_writes_nothing_and_names_every_bad_line(
    store_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    aid = "6f1d0c2e-1111-4a4a-8888-000000000001"
    path = _write(
        tmp_path / "bad.jsonl",
        [
            {"type": "account_registered", "account_id": aid, "platform": "x", "handle": "@CMPunjab",
             "office": "pk-punjab-cm", "effective_at": "2018-08-20T00:00:00Z"},
            {"type": "holder_assigned", "account_id": aid, "holder": {"id": "usman-buzdar", "name": "Usman Buzdar"},
             "effective_at": "2018-08-20T00:00:00Z"},
            "{not json",
            {"type": "holder_released", "account_id": aid, "effective_at": "2018-08-20"},
            {"type": "account_registered", "platform": "x", "handle": "@cmpunjab",
             "office": "pk-punjab-cm", "effective_at": "2019-01-01T00:00:00Z"},
            {"type": "teleported", "account_id": aid, "effective_at": "2019-01-01T00:00:00Z"},
            {"type": "holder_released", "account_id": aid, "effective_at": "2017-01-01T00:00:00Z"},
            "[" * 100_000,
        ],
    )  # fmt: skip
    capsys.readouterr()
    assert cli(store_url, "import", str(path)) == EXIT_REFUSED
    err = capsys.readouterr().err
    assert "6 bad line(s) of 8; nothing was written" in err
    for n, words in [(3, "not valid JSON"), (4, "RFC 3339 time with an offset"), (5, "is carried by account"),
                     (6, "unknown event type 'teleported'"), (7, "before the account's registration"),
                     (8, "nested more than 32 levels deep")]:  # fmt: skip
        assert any(line.startswith(f"line {n}:") and words in line for line in err.splitlines()), (
            n,
            err,
        )
    container = build(Settings(database_url=store_url))
    assert container.ledger.head() == 0
    container.close()


def test_an_import_is_checked_against_what_the_store_already_holds(
    store_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Lookups are read ahead for the whole file; the answers must still be the store's:
    claims held by existing accounts refuse new lines, existing accounts take appends."""
    aid = "6f1d0c2e-2222-4a4a-8888-000000000001"
    first = _write(
        tmp_path / "first.jsonl",
        [
            {"type": "account_registered", "account_id": aid, "platform": "x", "handle": "@Alpha",
             "platform_account_id": "100", "office": "alpha-office", "effective_at": "2020-01-01T00:00:00Z"},
            {"type": "holder_assigned", "account_id": aid, "holder": {"id": "ann", "name": "Ann"},
             "effective_at": "2020-01-02T00:00:00Z"},
        ],
    )  # fmt: skip
    assert cli(store_url, "import", str(first)) == EXIT_OK
    release: dict[str, object] = {
        "type": "holder_released",
        "account_id": aid,
        "effective_at": "2021-01-01T00:00:00Z",
    }
    second = _write(
        tmp_path / "second.jsonl",
        [
            {"type": "account_registered", "platform": "x", "handle": "@ALPHA",
             "office": "other-office", "effective_at": "2020-06-01T00:00:00Z"},
            {"type": "account_registered", "platform": "x", "handle": "@Beta",
             "platform_account_id": "100", "office": "other-office", "effective_at": "2020-06-01T00:00:00Z"},
            release,
        ],
    )  # fmt: skip
    capsys.readouterr()
    assert cli(store_url, "import", str(second)) == EXIT_REFUSED
    err = capsys.readouterr().err
    assert "2 bad line(s) of 3; nothing was written" in err
    assert any(x.startswith("line 1:") and "is carried by account" in x for x in err.splitlines())
    assert any(x.startswith("line 2:") and "already registered" in x for x in err.splitlines())
    third = _write(tmp_path / "third.jsonl", [release, release])
    assert cli(store_url, "import", str(third)) == EXIT_REFUSED  # the second has no holder left
    assert cli(store_url, "import", str(_write(tmp_path / "fourth.jsonl", [release]))) == EXIT_OK
    container = build(Settings(database_url=store_url))
    try:
        assert container.ledger.head() > 0
        facts = container.ledger.facts(UUID(aid))
        assert [f.type for f in facts] == [
            "account_registered",
            "holder_assigned",
            "holder_released",
        ]
    finally:
        container.close()


def test_a_csv_file_imports_with_the_documented_columns(
    store_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "history.csv"
    path.write_text(
        "type,account.platform,account.platform_account_id,platform,platform_account_id,handle,office,"
        "effective_at,holder.id,holder.name,reason\n"
        "account_registered,,,x,3001,@ISPR_Official,pk-ispr,2016-01-01T00:00:00Z,,,official\n"
        "holder_assigned,x,3001,,,,,2016-12-15T00:00:00Z,asif-ghafoor,Asif Ghafoor,new DG\n"
    )
    assert cli(store_url, "import", str(path)) == EXIT_OK
    assert "imported 2 events for 1 account from" in capsys.readouterr().out
    container = build(Settings(database_url=store_url))
    answer = container.queries.handle_at("x", "ispr_official", datetime(2017, 1, 1, tzinfo=UTC))
    assert answer.account is not None and answer.account.holder is not None
    assert answer.account.holder.id == "asif-ghafoor"
    container.close()


def test_export_then_restore_gives_identical_answers(
    demo_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "log.jsonl"
    assert cli(demo_url, "export", "--out", str(out)) == EXIT_OK
    assert len(out.read_text().splitlines()) == len(US_HISTORY.read_text().splitlines())
    copy = f"sqlite:///{tmp_path}/copy.db"
    assert cli(copy, "import", str(out), "--restore") == EXIT_OK
    original, restored = build(Settings(database_url=demo_url)), build(Settings(database_url=copy))
    times = [None, datetime(2017, 1, 20, 16, 59, tzinfo=UTC), datetime(2021, 6, 5, tzinfo=UTC)]
    knowns = [None, datetime(2021, 6, 20, tzinfo=UTC), datetime(2017, 1, 20, 18, tzinfo=UTC)]
    for handle in ("POTUS", "POTUS44", "WhiteHouse", "CMRuritania", "DarioFellPR"):
        for at in times:
            for known in knowns:
                a = original.queries.handle_at(
                    "x", handle, at or datetime(2026, 1, 1, tzinfo=UTC), known
                )
                b = restored.queries.handle_at(
                    "x", handle, at or datetime(2026, 1, 1, tzinfo=UTC), known
                )
                assert (a.account.account_id if a.account else None) == (
                    b.account.account_id if b.account else None
                )
                if a.account and b.account:
                    assert a.account.holder == b.account.holder
                    assert a.account.version == b.account.version
                    assert [p.version for p in a.account.established_by] == [
                        p.version for p in b.account.established_by
                    ]

    def timeline(container: object, aid: object, known: datetime | None) -> list[object]:
        # Positions may differ (a restore writes in one transaction); everything else may not.
        return [
            (i.holder, i.valid_from, i.valid_to, i.handles, i.offices,
             [(p.version, p.type, p.recorded_at, p.actor) for p in i.established_by])
            for i in container.queries.custody_timeline(aid, known).intervals  # type: ignore[attr-defined]
        ]  # fmt: skip

    for aid in (POTUS_OBAMA, CM):
        for known in knowns:
            assert timeline(original, aid, known) == timeline(restored, aid, known)
    original.close()
    restored.close()


def test_restore_refuses_a_store_that_is_not_empty(
    demo_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    capsys.readouterr()
    assert cli(demo_url, "import", str(DEMO_FILE), "--restore") == EXIT_REFUSED
    assert "only loads into an empty store" in capsys.readouterr().err


def test_usage_errors_exit_2(
    store_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli(store_url, "import", str(tmp_path / "missing.jsonl")) == EXIT_USAGE
    assert cli(store_url, "rebuild", "nonsense") == EXIT_USAGE
    with pytest.raises(SystemExit) as exited:
        main(["who"])
    assert exited.value.code == 2


def test_the_demo_loads_beside_tokens_and_a_second_start_finds_it_there(
    store_url: str,
) -> None:
    """Tokens are events in the same log, but no custody data: `--demo` loads all the same.
    Started again on the same store, it finds exactly the demo and leaves it as it is."""
    assert cli(store_url, "token", "create", "--name", "reader", "--role", "reader") == EXIT_OK
    container = build(Settings(database_url=store_url))
    try:
        demo_lines = len(DEMO_FILE.read_text().splitlines())
        assert load_demo(container) == (
            f"loaded {demo_lines} demo events for 12 accounts and 8 offices"
        )
        head = container.ledger.head()
        assert load_demo(container) == "the store holds the demo already"
        assert container.ledger.head() == head
        answer = container.queries.handle_at("x", "POTUS", datetime(2018, 6, 1, tzinfo=UTC))
        assert answer.account is not None and answer.account.holder is not None
        assert answer.account.holder.name == "Donald J. Trump"
    finally:
        container.close()


def test_the_demo_refuses_a_store_with_other_custody_data_and_writes_nothing(
    store_url: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def serve_anyway(*args: object, **kwargs: object) -> None:
        raise AssertionError("custody serve started on a store it should have refused")

    monkeypatch.setattr("uvicorn.run", serve_anyway)
    other = _write(
        tmp_path / "other.jsonl",
        [{"type": "account_registered", "platform": "x", "handle": "@SomeOffice",
          "office": "o", "effective_at": "2020-01-01T00:00:00Z"}],
    )  # fmt: skip
    assert cli(store_url, "import", str(other)) == EXIT_OK
    container = build(Settings(database_url=store_url))
    head = container.ledger.head()
    container.close()
    capsys.readouterr()
    assert cli(store_url, "serve", "--demo", "--port", "0") == EXIT_USAGE
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("custody serve: --demo: ")
    assert "holds custody data other than the demo" in err[0] and "a new store" in err[0]
    container = build(Settings(database_url=store_url))
    try:
        assert container.ledger.head() == head
    finally:
        container.close()


def test_the_demo_and_one_event_more_is_not_the_demo(store_url: str, tmp_path: Path) -> None:
    assert cli(store_url, "import", str(DEMO_FILE), "--restore") == EXIT_OK
    extra = _write(
        tmp_path / "extra.jsonl",
        [
            {
                "type": "holder_released",
                "account_id": str(CM),
                "effective_at": "2026-01-01T00:00:00Z",
            }
        ],
    )
    container = build(Settings(database_url=store_url))
    try:
        assert load_demo(container) == "the store holds the demo already"
        assert cli(store_url, "import", str(extra)) == EXIT_OK
        head = container.ledger.head()
        with pytest.raises(DemoRefused):
            load_demo(container)
        assert container.ledger.head() == head
    finally:
        container.close()

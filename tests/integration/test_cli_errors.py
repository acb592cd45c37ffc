"""The command line when things go wrong: every failure is one clear line and a documented exit
code (1 refused or not found, 2 bad usage, 3 store unavailable, 4 imported but the read models
behind), never a traceback."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import pytest

from api.bootstrap import build
from api.cli import EXIT_OK, EXIT_REFUSED, EXIT_UNAVAILABLE, EXIT_USAGE, main
from ledger.errors import StoreUnavailable
from ledger.settings import URL_FORMS, InvalidSettings, Settings
from tests.support import CM, PG_URL, POTUS_OBAMA, cli

ROOT = Path(__file__).resolve().parents[2]
Capture = pytest.CaptureFixture[str]


def _one_line(err: str) -> str:
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    return lines[0]


def _custody(*args: str, stdout: Any) -> subprocess.Popen[str]:
    """The command line in a process of its own, for what only a real stdout shows."""
    return subprocess.Popen(
        [sys.executable, "-m", "api.cli", *args],
        cwd=ROOT,
        stdout=stdout,
        stderr=subprocess.PIPE,
        text=True,
    )


# -- the store -------------------------------------------------------------------------------


def test_an_unreachable_server_is_exit_3_naming_the_store_but_not_its_password(
    capsys: Capture,
) -> None:
    url = "postgresql://postgres:s3cret-pw@127.0.0.1:5999/test"  # nothing listens on 5999
    assert cli(url, "who", "@POTUS", "--platform", "x") == EXIT_UNAVAILABLE
    line = _one_line(capsys.readouterr().err)
    assert line.startswith(
        "custody: store unavailable: cannot open postgresql://127.0.0.1:5999/test"
    )
    assert "s3cret-pw" not in line


def test_a_sqlite_file_that_cannot_be_opened_is_exit_3(tmp_path: Path, capsys: Capture) -> None:
    missing = tmp_path / "no" / "such" / "dir" / "x.db"
    assert cli(f"sqlite:///{missing}", "token", "list") == EXIT_UNAVAILABLE
    line = _one_line(capsys.readouterr().err)
    assert f"cannot open sqlite:{missing}: unable to open database file" in line
    assert not missing.parent.exists()
    not_a_database = tmp_path / "notes.db"
    not_a_database.write_text("these are notes, not an SQLite database\n" * 10)
    assert cli(f"sqlite:///{not_a_database}", "token", "list") == EXIT_UNAVAILABLE
    assert f"cannot open sqlite:{not_a_database}: file is not a database" in _one_line(
        capsys.readouterr().err
    )


def test_the_store_is_translated_where_it_is_opened_so_serve_says_the_same(
    tmp_path: Path, capsys: Capture
) -> None:
    missing = f"sqlite:///{tmp_path}/nodir/x.db"
    with pytest.raises(StoreUnavailable, match="cannot open sqlite:"):
        build(Settings(database_url=missing))
    assert cli(missing, "serve", "--port", "0") == EXIT_UNAVAILABLE
    assert "store unavailable: cannot open sqlite:" in _one_line(capsys.readouterr().err)
    assert cli("mysql://x", "serve") == EXIT_USAGE
    assert URL_FORMS in _one_line(capsys.readouterr().err)


@pytest.mark.parametrize(
    "url",
    [
        "mysql://root:s3cret-pw@db/custody",
        "garbage",
        "sqlite:custody.db",
        "postgresql://postgres:s3cret-pw@127.0.0.1:port/test",
        "postgresql://postgres:s3cret-pw@127.0.0.1:99999/test",
        "postgresql://postgres:s3cret-pw@127.0.0.1:5432",
    ],
)
def test_a_malformed_database_url_is_bad_usage_and_says_what_is_accepted(
    url: str, capsys: Capture
) -> None:
    assert cli(url, "who", "@POTUS", "--platform", "x") == EXIT_USAGE
    line = _one_line(capsys.readouterr().err)
    assert line.startswith("custody: CUSTODY_DATABASE_URL ")
    assert URL_FORMS in line
    assert "s3cret-pw" not in line
    with pytest.raises(InvalidSettings):
        Settings(database_url=url)


@pytest.mark.parametrize("schema", ["bad;schema", "Upper", "1st", "x" * 64])
def test_a_schema_that_is_not_a_plain_lower_case_name_is_bad_usage(
    schema: str, capsys: Capture
) -> None:
    url = f"postgresql://postgres@127.0.0.1:5432/test?schema={schema}"
    assert cli(url, "who", "@POTUS", "--platform", "x") == EXIT_USAGE
    line = _one_line(capsys.readouterr().err)
    assert "must be a lower-case SQL name" in line


@pytest.mark.postgres
def test_a_schema_that_does_not_exist_is_exit_3(capsys: Capture) -> None:
    schema = f"t_missing_{uuid.uuid4().hex[:12]}"
    sep = "&" if "?" in PG_URL else "?"
    assert cli(f"{PG_URL}{sep}schema={schema}", "token", "list") == EXIT_UNAVAILABLE
    line = _one_line(capsys.readouterr().err)
    assert f'schema "{schema}" does not exist' in line


def test_a_malformed_setting_in_the_environment_is_bad_usage_naming_the_variable(
    store_url: str, monkeypatch: pytest.MonkeyPatch, capsys: Capture
) -> None:
    monkeypatch.setenv("CUSTODY_POOL_SIZE", "0")
    assert cli(store_url, "token", "list") == EXIT_USAGE
    assert _one_line(capsys.readouterr().err) == (
        "custody: CUSTODY_POOL_SIZE: Input should be greater than or equal to 1"
    )


def _fail_writes(url: str, table: str, fault: str) -> None:
    """From now on the store refuses every insert into `table`, with a real database error:
    `unavailable` as a full disk would (operational), `constraint` as a constraint would."""
    c = build(Settings(database_url=url))
    db = c.projector.db
    try:
        with db.transaction() as curs:
            if db.kind == "postgres":
                fail = f'"{db.schema}".fail_writes'
                code = "disk_full" if fault == "unavailable" else "check_violation"
                db.execute(curs, f"CREATE FUNCTION {fail}() RETURNS trigger LANGUAGE plpgsql AS "
                           f"$$ BEGIN RAISE EXCEPTION 'refused' USING ERRCODE = '{code}'; "
                           "END $$")  # fmt: skip
                db.execute(curs, db.sql("CREATE TRIGGER fail_writes BEFORE INSERT ON {t} "
                           f"FOR EACH ROW EXECUTE FUNCTION {fail}()", t=table))  # fmt: skip
            else:  # SQLite's RAISE is a constraint error; a missing table is operational
                body = ("INSERT INTO no_space_left VALUES (1)" if fault == "unavailable"
                        else "SELECT RAISE(ABORT, 'refused')")  # fmt: skip
                db.execute(curs, db.sql("CREATE TRIGGER fail_writes BEFORE INSERT ON {t} "
                           f"BEGIN {body}; END", t=table))  # fmt: skip
    finally:
        c.close()


def _heal(url: str, table: str) -> None:
    c = build(Settings(database_url=url))
    db = c.projector.db
    try:
        with db.transaction() as curs:
            on = " ON {t}" if db.kind == "postgres" else ""
            db.execute(curs, db.sql("DROP TRIGGER fail_writes" + on, t=table))
    finally:
        c.close()


def _history(tmp_path: Path, accounts: int) -> tuple[Path, list[dict[str, Any]]]:
    lines: list[dict[str, Any]] = [
        {"type": "account_registered", "account_id": str(uuid.uuid4()), "platform": "x",
         "handle": f"behind{n}", "office": "o", "effective_at": "2020-01-01T00:00:00Z"}
        for n in range(accounts)
    ]  # fmt: skip
    lines += [{"type": "holder_assigned", "account_id": line["account_id"],
               "holder": {"id": f"h{n}-{k}", "name": "H"}, "effective_at": f"2020-01-{k + 2:02}T00:00:00Z"}
              for k in range(10) for n, line in enumerate(lines[:accounts])]  # fmt: skip
    path = tmp_path / "events.jsonl"
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    return path, lines


@pytest.mark.parametrize("fault", ["unavailable", "constraint"])
def test_an_import_written_but_not_projected_says_so_and_is_exit_4(
    store_url: str, tmp_path: Path, capsys: Capture, fault: str
) -> None:
    """The log commit succeeded, then the store failed while the read models' rows were being
    written: the events are there, so the command must not say the import failed (a retry
    would be refused line by line), but it must not say all is done either."""
    from api.cli import EXIT_BEHIND

    accounts = 40
    path, lines = _history(tmp_path, accounts)
    _fail_writes(store_url, "rm_events", fault)  # the read models' table written last
    capsys.readouterr()
    assert cli(store_url, "import", str(path)) == EXIT_BEHIND
    captured = capsys.readouterr()
    assert captured.out == ""
    err = captured.err
    assert "Traceback" not in err
    assert err.startswith(f"custody: imported {len(lines)} events for {accounts} accounts from ")
    assert "the read models are behind" in err
    assert "do not import the file again" in err
    c = build(Settings(database_url=store_url))
    try:  # written, and the read models left where they were
        assert c.ledger.head() > 0
        assert len(c.ledger.facts(uuid.UUID(str(lines[-1]["account_id"])))) == 11
        assert c.projector.lag() > 0
    finally:
        c.close()
    _heal(store_url, "rm_events")
    assert cli(store_url, "import", str(path)) == EXIT_REFUSED  # the same lines again: refused
    capsys.readouterr()
    if store_url.startswith("postgresql"):
        assert cli(store_url, "project", "--once") == EXIT_OK
    assert cli(store_url, "who", "@behind0", "--platform", "x") == EXIT_OK
    assert "h0-9" in capsys.readouterr().out


def test_an_import_whose_log_commit_fails_is_exit_3_and_writes_nothing(
    store_url: str, tmp_path: Path, capsys: Capture
) -> None:
    path, _ = _history(tmp_path, 3)
    c = build(Settings(database_url=store_url))
    log = c.projector.db.events_table
    c.close()
    _fail_writes(store_url, log, "unavailable")
    capsys.readouterr()
    assert cli(store_url, "import", str(path)) == EXIT_UNAVAILABLE
    assert _one_line(capsys.readouterr().err).startswith("custody: store unavailable: ")
    _heal(store_url, log)
    c = build(Settings(database_url=store_url))
    try:
        assert c.ledger.head() == 0
    finally:
        c.close()


# -- export ----------------------------------------------------------------------------------


def test_export_to_a_path_that_cannot_be_opened_is_bad_usage(
    demo_url: str, tmp_path: Path, capsys: Capture
) -> None:
    capsys.readouterr()
    for out, why in [(tmp_path / "nodir" / "x.jsonl", "No such file or directory"),
                     (tmp_path, "Is a directory")]:  # fmt: skip
        assert cli(demo_url, "export", "--out", str(out)) == EXIT_USAGE
        assert _one_line(capsys.readouterr().err) == (
            f"custody: --out {out}: cannot open it for writing: {why}"
        )
    assert cli(demo_url, "export", "--out", "") == EXIT_USAGE
    captured = capsys.readouterr()
    assert captured.out == ""
    assert "--out needs a file name" in _one_line(captured.err)


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs /dev/full")
def test_export_that_cannot_be_written_says_so(demo_url: str, capsys: Capture) -> None:
    capsys.readouterr()
    assert cli(demo_url, "export", "--out", "/dev/full") == EXIT_USAGE
    assert _one_line(capsys.readouterr().err) == (
        "custody: writing the export to /dev/full failed (No space left on device); "
        "the file is incomplete"
    )
    with open("/dev/full", "w") as full:
        proc = _custody("--database-url", demo_url, "export", stdout=full)
        _, err = proc.communicate(timeout=60)
    assert proc.returncode == EXIT_USAGE
    assert _one_line(err) == "custody: cannot write the output: No space left on device"


def test_export_into_a_pipe_closed_early_stops_quietly(demo_url: str) -> None:
    """`custody export | head -1`: the reader goes away; no traceback, no message."""
    for args in (["export"], ["history", str(CM)]):
        proc = _custody("--database-url", demo_url, *args, stdout=subprocess.PIPE)
        assert proc.stdout is not None
        proc.stdout.close()  # before the command writes anything
        _, err = proc.communicate(timeout=60)
        assert (proc.returncode, err) == (EXIT_REFUSED, "")


# -- rebuild ---------------------------------------------------------------------------------


def test_rebuild_takes_a_repeated_name_once(demo_url: str, capsys: Capture) -> None:
    capsys.readouterr()
    assert cli(demo_url, "rebuild", "custody", "handles", "custody") == EXIT_OK
    assert "rebuilt custody,handles up to log position" in capsys.readouterr().out
    assert cli(demo_url, "history", str(POTUS_OBAMA), "--json") == EXIT_OK
    assert json.loads(capsys.readouterr().out)["custody"]["intervals"]
    container = build(Settings(database_url=demo_url))
    try:
        db = container.projector.db
        params: tuple[str, ...] = ()
        if db.kind == "sqlite":
            query = "SELECT name FROM sqlite_master WHERE type = 'table'"
        else:
            query = "SELECT table_name FROM information_schema.tables WHERE table_schema = %s"
            params = (db.schema,)
        with db.reader() as c:
            left = [r[0] for r in db.all(c, db.sql(query), params) if r[0].endswith("__new")]
    finally:
        container.close()
    assert left == []


# -- argument values -------------------------------------------------------------------------


def test_who_takes_the_platform_as_the_api_does(demo_url: str, capsys: Capture) -> None:
    capsys.readouterr()
    for platform in ("X", "", "x/y", "1x"):
        assert cli(demo_url, "who", "@POTUS", "--platform", platform) == EXIT_USAGE
        assert _one_line(capsys.readouterr().err).startswith(
            f"custody: --platform {platform!r} is not a platform key"
        )
    assert cli(demo_url, "history", "@POTUS", "--platform", "X") == EXIT_USAGE
    assert "is not a platform key" in _one_line(capsys.readouterr().err)
    assert cli(demo_url, "who", "@POTUS", "--platform", "x") == EXIT_OK


def test_history_takes_only_the_canonical_form_as_an_account_id(
    demo_url: str, tmp_path: Path, capsys: Capture
) -> None:
    hexes = "deadbeefdeadbeefdeadbeefdeadbeef"
    line = {"type": "account_registered", "platform": "x", "handle": hexes,
            "office": "hex-office", "effective_at": "2020-01-01T00:00:00Z"}  # fmt: skip
    (tmp_path / "hex.jsonl").write_text(json.dumps(line) + "\n")
    assert cli(demo_url, "import", str(tmp_path / "hex.jsonl")) == EXIT_OK
    capsys.readouterr()
    assert cli(demo_url, "history", hexes, "--json") == EXIT_OK  # a handle: its life
    carried = json.loads(capsys.readouterr().out)["carried"]
    assert [c["handle"] for c in carried] == [hexes]
    assert cli(demo_url, "history", str(CM).upper(), "--json") == EXIT_OK
    assert len(json.loads(capsys.readouterr().out)["events"]) == 8
    for other in (f"{{{CM}}}", f"urn:uuid:{CM}"):  # not handles either
        assert cli(demo_url, "history", other) == EXIT_USAGE
        assert "characters other than letters" in _one_line(capsys.readouterr().err)


def test_invalid_argument_values_are_bad_usage_and_the_ledger_refusing_is_not(
    demo_url: str, capsys: Capture
) -> None:
    capsys.readouterr()
    who = ["who", "@POTUS", "--platform", "x"]
    for args, words in [
        ([*who, "--at", "garbage"], "--at: 'garbage' is not an RFC 3339 time"),
        ([*who, "--at", "2017-01-20T12:00"], "timezone offset"),
        ([*who, "--at", "2017-02-30"], "--at: '2017-02-30' is not a date"),
        ([*who, "--known-at", "yesterday"], "--known-at: 'yesterday'"),
        (["who", "bad/handle", "--platform", "x"], "handle 'bad/handle' has characters"),
        (["who", "@", "--platform", "x"], "a handle must not be empty"),
        (["history", "bad handle"], "handle 'bad handle' has characters"),
        (["token", "create", "--name", "bad name", "--role", "admin"], "token name 'bad name'"),
        (
            ["token", "create", "--name", "ok", "--role", "admin", "--office", "x"],
            "only a recorder",
        ),
    ]:
        assert cli(demo_url, *args) == EXIT_USAGE, args
        assert words in _one_line(capsys.readouterr().err), args
    assert cli(demo_url, "serve", "--port", "99999") == EXIT_USAGE
    assert _one_line(capsys.readouterr().err) == "custody serve: --port must be 0 to 65535"
    assert cli(demo_url, "token", "list") == EXIT_OK
    assert capsys.readouterr().out.splitlines()[1:] == []  # the refused tokens were not written
    assert cli(demo_url, "who", "@NoSuchOffice", "--platform", "x") == EXIT_REFUSED
    assert cli(demo_url, "history", "@NoSuchOffice") == EXIT_REFUSED
    assert cli(demo_url, "token", "revoke", "nobody") == EXIT_REFUSED
    with pytest.raises(SystemExit) as exited:
        main(["who"])  # argparse: the handle is required
    assert exited.value.code == EXIT_USAGE

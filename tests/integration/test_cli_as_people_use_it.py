"""The command line as records officers and oversight staff use it (issue 21): one platform
default, dates wherever times go, options before or after the command, history as known at a
day, one event appended under the API's rules, honest imports, plurals, the API's times."""

from __future__ import annotations

import json
from contextlib import AbstractContextManager, nullcontext
from pathlib import Path
from typing import Any

import pytest

from api.cli import EXIT_OK, EXIT_REFUSED, EXIT_USAGE, main
from tests.support import CM, POTUS_OBAMA, cli

Capture = pytest.CaptureFixture[str]


def _who(url: str, capsys: Capture, *args: str) -> str:
    capsys.readouterr()
    assert main(["who", *args, "--database-url", url]) == EXIT_OK  # the option after the command
    return capsys.readouterr().out


def test_who_takes_a_date_and_the_platform_by_default(demo_url: str, capsys: Capture) -> None:
    # A date is its first instant in UTC: before the 17:00 inauguration, then the day after.
    assert "Barack Obama" in _who(demo_url, capsys, "@POTUS", "--at", "2017-01-20")
    assert "Donald J. Trump" in _who(demo_url, capsys, "@POTUS", "--at", "2017-01-21")
    out = _who(demo_url, capsys, "@CMRuritania", "--at", "2021-06-05", "--known-at", "2021-06-20")
    assert "Anna Vale" in out  # as known before the correction


def test_history_of_a_handle_is_its_life_across_accounts(demo_url: str, capsys: Capture) -> None:
    capsys.readouterr()
    assert cli(demo_url, "history", "@POTUS", "--at", "2018-06-01") == EXIT_OK
    out = capsys.readouterr().out
    names = ["Barack Obama", "Donald J. Trump", "Joseph R. Biden Jr."]
    assert sorted(names, key=out.index) == names  # in the order they held it
    (marked,) = [line for line in out.splitlines() if "<- at" in line]
    assert "Donald J. Trump <- at" in marked  # who held it on 2018-06-01
    assert out.splitlines()[3].startswith(str(POTUS_OBAMA))
    assert cli(demo_url, "history", "@POTUS", "--json") == EXIT_OK
    carried = json.loads(capsys.readouterr().out)["carried"]
    assert [c["custody"][0]["holder"]["id"] for c in carried] == [
        "barack-obama", "donald-trump", "joe-biden",
    ]  # fmt: skip
    assert carried[1]["valid_from"] == "2017-01-20T17:00:00Z"  # the API's format


def test_history_as_known_on_a_day_shows_only_what_was_recorded_by_then(
    demo_url: str, capsys: Capture
) -> None:
    capsys.readouterr()
    assert cli(demo_url, "history", str(CM), "--known-at", "2021-06-20", "--json") == EXIT_OK
    then = json.loads(capsys.readouterr().out)
    assert cli(demo_url, "history", str(CM), "--json") == EXIT_OK
    now = json.loads(capsys.readouterr().out)
    assert [e["version"] for e in then["events"]] == [1, 2, 3]
    assert len(now["events"]) == 8
    assert all(e["recorded_at"] <= "2021-06-20T00:00:00Z" for e in then["events"])
    # The handover to Boris Kade was first recorded as effective on 2021-06-10; retracted
    # (and re-recorded as 2021-06-01) only later: on 2021-06-20 nothing was retracted yet.
    assert [e["retracted_by"] for e in then["events"]] == [None, None, None]
    assert now["events"][2]["retracted_by"] is not None
    boris = [i for i in then["custody"]["intervals"] if i["holder"]["id"] == "boris-kade"]
    assert boris[0]["valid_from"] == "2021-06-10T09:00:00Z"
    assert "orphaned" not in now["events"][0] and "replayed" not in now["events"][0]


def test_append_writes_one_event_under_the_apis_rules(demo_url: str, capsys: Capture) -> None:
    capsys.readouterr()
    base = ["append", "@CMRuritania"]
    release = [*base, "holder_released", "--effective-at", "2024-01-01", "--reason", "left"]
    assert cli(demo_url, *release, "--if-match", "3") == EXIT_REFUSED  # stale: it is at v8
    assert "not the expected 3" in capsys.readouterr().err
    assert cli(demo_url, *release, "--if-match", "8", "--idempotency-key", "k1") == EXIT_OK
    first = capsys.readouterr().out
    assert first.startswith(f"recorded v9 holder_released on account {CM}")
    assert "effective 2024-01-01T00:00:00Z" in first
    assert cli(demo_url, *release, "--if-match", "8", "--idempotency-key", "k1") == EXIT_OK
    assert "nothing new written" in capsys.readouterr().out  # the retry, replayed
    # The ledger's rules: nobody holds the account any more.
    assert cli(demo_url, *base, "holder_released", "--effective-at", "2024-02-01") == EXIT_REFUSED
    assert "nobody holds the account" in capsys.readouterr().err
    # Bad values are named by their option, before anything is opened.
    assign = [*base, "holder_assigned", "--effective-at", "2024-02-01"]
    for args, words in [
        ([*assign, "--holder-id", "dana-li"], "--holder-name: Field required"),
        ([*assign, "--holder-id", "x", "--holder-name", "X", "--handle", "Y"],
         "--handle does not go with this event type"),
        ([*base, "holder_released", "--effective-at", "2024-02-01T00:00"], "--effective-at"),
        ([*base, "teleported", "--effective-at", "2024-02-01"], "invalid choice"),
    ]:  # fmt: skip
        argparse_refuses = "invalid choice" in words  # argparse exits itself, with status 2
        guard: AbstractContextManager[Any] = (
            pytest.raises(SystemExit) if argparse_refuses else nullcontext()
        )
        with guard:
            assert cli(demo_url, *args) == EXIT_USAGE, args
        assert words in capsys.readouterr().err, args
    assert cli(demo_url, *assign, "--holder-id", "dana-li", "--holder-name", "Dana Li",
               "--json") == EXIT_OK  # fmt: skip
    record = json.loads(capsys.readouterr().out)
    assert (record["version"], record["effective_at"]) == (10, "2024-02-01T00:00:00Z")
    assert record["actor"].startswith("cli")
    assert cli(demo_url, "append", "@NoSuchHandle", "holder_released", "--effective-at",
               "2024-01-01") == EXIT_REFUSED  # fmt: skip
    assert "ever carried the handle @NoSuchHandle" in capsys.readouterr().err
    assert cli(demo_url, "append", "@PresElectBiden", "holder_released", "--effective-at",
               "2024-01-01") == EXIT_REFUSED  # renamed @POTUS in 2021  # fmt: skip
    assert "name the account by its id" in capsys.readouterr().err


def test_import_refuses_record_times_it_would_not_keep_and_counts_in_words(
    store_url: str, tmp_path: Path, capsys: Capture
) -> None:
    line = {"type": "account_registered", "platform": "x", "handle": "@Office1",
            "office": "o", "effective_at": "2020-01-01T00:00:00Z"}  # fmt: skip
    stamped = tmp_path / "stamped.jsonl"
    stamped.write_text(json.dumps({**line, "recorded_at": "2020-01-02T00:00:00Z"}) + "\n")
    capsys.readouterr()
    assert cli(store_url, "import", str(stamped)) == EXIT_REFUSED
    err = capsys.readouterr().err
    assert "line 1: recorded_at is set by the ledger" in err and "--restore" in err
    plain = tmp_path / "plain.jsonl"
    plain.write_text(json.dumps(line) + "\n")
    assert cli(store_url, "import", str(plain)) == EXIT_OK
    assert "imported 1 event for 1 account from" in capsys.readouterr().out

"""`custody changes` on the US presidency history: the table a records officer reads, the JSON
the API writes, and the refusals."""

from __future__ import annotations

import json

import pytest

from api.cli import EXIT_OK, EXIT_REFUSED, EXIT_USAGE
from tests.support import cli

CM = "540ac008-9006-47b7-99b2-87d9305174d5"
UNKNOWN = "00000000-0000-4000-8000-000000000000"
JUNE = ("--from", "2021-06-01", "--to", "2021-07-01")


def test_the_table_shows_each_version_of_june_with_the_events_behind_it(
    demo_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    capsys.readouterr()

    assert cli(demo_url, "changes", "--account", CM, *JUNE) == EXIT_OK

    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == (
        f"account {CM}: its holders from 2021-06-01 00:00 to 2021-07-01 00:00 "
        "(4 versions, oldest first)"
    )
    place = "CMRuritania / ruritania-chief-minister"
    assert lines[3:] == [
        f"2018-03-01 10:00:01  Anna Vale   2021-06-01 00:00  2021-07-01 00:00  {place}  "
        "v2 holder_assigned",
        f"2021-06-12 08:00:00  Anna Vale   2021-06-01 00:00  2021-06-10 09:00  {place}  "
        "v3 holder_assigned",
        f"                     Boris Kade  2021-06-10 09:00  2021-07-01 00:00  {place}",
        f"2021-07-01 14:00:00  Anna Vale   2021-06-01 00:00  2021-07-01 00:00  {place}  "
        "v3 holder_assigned (retracted by v4); v4 event_retracted",
        f"2021-07-01 14:00:01  Anna Vale   2021-06-01 00:00  2021-06-01 09:00  {place}  "
        "v5 holder_assigned",
        f"                     Boris Kade  2021-06-01 09:00  2021-07-01 00:00  {place}",
    ]


def test_json_is_what_the_api_writes(demo_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    capsys.readouterr()

    assert cli(demo_url, "changes", "--handle", "x/@potus", "--from", "2017-01-01",
               "--to", "2017-02-01", "--json") == EXIT_OK  # fmt: skip

    body = json.loads(capsys.readouterr().out)
    assert (body["platform"], body["handle"]) == ("x", "potus")
    assert body["window"] == {"from": "2017-01-01T00:00:00Z", "to": "2017-02-01T00:00:00Z"}
    assert [
        (v["known_at"], [(i["account_id"][:8], i["from"], i["to"]) for i in v["intervals"]],
         [(e["account_id"][:8], e["version"], e["type"]) for e in v["changed_by"]])
        for v in body["versions"]
    ] == [
        ("2015-05-18T15:00:00Z", [("3b6d7be1", "2017-01-01T00:00:00Z", "2017-02-01T00:00:00Z")],
         [("3b6d7be1", 1, "account_registered")]),
        ("2017-01-20T18:00:01Z", [("3b6d7be1", "2017-01-01T00:00:00Z", "2017-01-20T17:00:00Z")],
         [("3b6d7be1", 4, "handle_renamed")]),
        ("2017-01-20T18:05:00Z",
         [("3b6d7be1", "2017-01-01T00:00:00Z", "2017-01-20T17:00:00Z"),
          ("75ff7434", "2017-01-20T17:00:00Z", "2017-02-01T00:00:00Z")],
         [("75ff7434", 1, "account_registered")]),
    ]  # fmt: skip


def test_an_office_nobody_registered_has_no_version_and_an_unknown_one_is_refused(
    demo_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    capsys.readouterr()

    assert cli(demo_url, "changes", "--office", "us-president", *JUNE) == EXIT_OK
    assert capsys.readouterr().out.splitlines()[1] == (
        "no version: as known at any time, the answer for that window was empty"
    )
    assert cli(demo_url, "changes", "--office", "no-such-office", *JUNE) == EXIT_REFUSED
    assert "'no-such-office' is not registered" in capsys.readouterr().err


def test_a_window_that_ends_before_it_begins_is_bad_usage(
    demo_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    capsys.readouterr()
    backwards = ("--from", "2021-07-01", "--to", "2021-06-01")

    assert cli(demo_url, "changes", "--account", CM, *backwards) == EXIT_USAGE
    assert capsys.readouterr().err.strip() == (
        "custody: --to (2021-06-01) must be after --from (2021-07-01)"
    )
    assert cli(demo_url, "changes", "--account", "not-an-id", *JUNE) == EXIT_USAGE
    assert cli(demo_url, "changes", "--account", UNKNOWN, *JUNE) == EXIT_REFUSED
    assert "is recorded in the ledger" in capsys.readouterr().err

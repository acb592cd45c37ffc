"""`custody office` and `custody findings` on the demo, as an oversight body uses them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from api.cli import EXIT_OK, EXIT_REFUSED, EXIT_USAGE
from api.demo import DEMO_FILE
from tests.support import cli

Capture = pytest.CaptureFixture[str]
FREED = "0b0f6d5e-8a5e-4c1e-9d3f-7a1e2b3c4d5e"
TAKER = "6c1d2e3f-4a5b-4c6d-8e7f-9a0b1c2d3e4f"


@pytest.fixture
def seed_url(store_url: str) -> str:
    """A store holding the whole demo: the US offices and the seed's Pakistan cases."""
    assert cli(store_url, "import", str(DEMO_FILE), "--restore") == EXIT_OK
    return store_url


def run(url: str, capsys: Capture, *args: str) -> tuple[int, str, str]:
    capsys.readouterr()
    code = cli(url, *args)
    out = capsys.readouterr()
    return code, out.out, out.err


def test_the_dg_ispr_office_in_2016_is_bajwas_and_speaks_through_his_own_handle_too(
    seed_url: str, capsys: Capture
) -> None:
    code, out, _ = run(seed_url, capsys, "office", "pk-dg-ispr", "--at", "2016-06-01")
    assert code == EXIT_OK
    assert "held by  Asim Saleem Bajwa (asim-saleem-bajwa) since 2012-05-01" in out
    lines = out.splitlines()
    assert any("@ISPR_Official (x)" in line and "the office's" in line for line in lines)
    assert any(
        "@AsimBajwaISPR (x)" in line and "personal: Asim Saleem Bajwa" in line for line in lines
    )
    # The 2016 handover: the office's account stays, Bajwa's own leaves with 3.05 million.
    handover = next(line for line in lines if line.startswith("2016-12-25"))
    assert "@ISPR_Official (0 followers, 1 unobserved)" in handover
    assert "@AsimBajwaISPR (3,050,000 followers)" in handover
    assert "personal-account-in-official-use" in out


def test_findings_for_pakistan_name_the_personal_handles_and_the_audience_that_left(
    seed_url: str, capsys: Capture
) -> None:
    code, out, _ = run(seed_url, capsys, "findings", "--jurisdiction", "PK", "--json")
    assert code == EXIT_OK
    found = [(f["office"], f["kind"], f["handle"], f["from"][:10], f["followers"])
             for f in json.loads(out)]  # fmt: skip
    assert found == [
        ("pk-dg-ispr", "personal-account-in-official-use", "AsimBajwaISPR", "2012-05-01", None),
        ("pk-dg-ispr", "audience-departed", "AsimBajwaISPR", "2016-12-25", 3_050_000),
        ("pk-pb-chief-minister", "no-office-account", None, "2010-04-01", None),
        ("pk-pb-chief-minister", "personal-account-in-official-use", "CMShehbaz", "2010-04-01",
         2_100_000),
        ("pk-pb-chief-minister", "audience-departed", "CMShehbaz", "2018-06-01", None),
        ("pk-prime-minister", "no-office-account", None, "2022-04-11", None),
        ("pk-prime-minister", "personal-account-in-official-use", "CMShehbaz", "2022-04-11",
         5_900_000),
    ]  # fmt: skip


def test_findings_at_a_time_are_those_in_effect_then(seed_url: str, capsys: Capture) -> None:
    code, out, _ = run(
        seed_url, capsys, "findings", "--jurisdiction", "PK", "--at", "2015-01-01", "--json"
    )
    assert code == EXIT_OK
    assert [(f["office"], f["kind"]) for f in json.loads(out)] == [
        ("pk-dg-ispr", "personal-account-in-official-use"),
        ("pk-pb-chief-minister", "no-office-account"),
        ("pk-pb-chief-minister", "personal-account-in-official-use"),
    ]


def test_bad_input_is_named_and_unknown_offices_are_not_found(
    seed_url: str, capsys: Capture
) -> None:
    code, _, err = run(seed_url, capsys, "office", "pk-nowhere")
    assert (code, err) == (EXIT_REFUSED, "custody: office 'pk-nowhere' is not registered\n")
    code, _, err = run(seed_url, capsys, "findings", "--jurisdiction", "pk")
    assert code == EXIT_REFUSED
    assert "jurisdiction 'pk' is not an ISO 3166 code" in err
    with pytest.raises(SystemExit) as exit_info:
        cli(seed_url, "findings", "--kind", "nonsense")
    assert exit_info.value.code == EXIT_USAGE
    code, _, err = run(seed_url, capsys, "office", "pk-dg-ispr", "--at", "yesterday")
    assert code == EXIT_USAGE and "--at" in err


def test_the_office_answer_as_json_is_the_apis_with_its_handovers(
    seed_url: str, capsys: Capture
) -> None:
    code, out, _ = run(seed_url, capsys, "office", "pk-dg-ispr", "--json")
    assert code == EXIT_OK
    body = json.loads(out)
    assert body["holder"]["id"] == "babar-iftikhar"
    # By account id, as the API lists them (the demo's ids put @ISPR_Official first).
    assert [(a["handle"], a["ownership"]) for a in body["accounts"]] == [
        ("ISPR_Official", "office"),
        ("OfficialDGISPR", "office"),
    ]
    assert [(h["at"][:10], h["departed"]["followers"]) for h in body["handovers"]] == [
        ("2016-12-25", 3_050_000),
        ("2020-02-01", 0),
    ]


def test_an_office_of_another_jurisdiction_has_no_findings_there(
    seed_url: str, capsys: Capture
) -> None:
    code, out, _ = run(
        seed_url, capsys, "findings", "--jurisdiction", "US", "--office", "pk-dg-ispr", "--json"
    )
    assert (code, json.loads(out)) == (EXIT_OK, [])
    code, out, _ = run(
        seed_url, capsys, "findings", "--jurisdiction", "PK", "--office", "pk-dg-ispr", "--json"
    )
    assert [f["kind"] for f in json.loads(out)] == [
        "personal-account-in-official-use",
        "audience-departed",
    ]


def test_a_handle_freed_by_one_office_and_taken_by_anothers_account_is_found_in_the_listing(
    store_url: str, tmp_path: Path, capsys: Capture
) -> None:
    """The listing gathers offices sixteen at a time: an account that speaks for one office of
    the batch and takes a handle another office of it freed is still found for that other."""
    lines = [
        {"type": "office_registered", "office": "xa-press", "name": "Press Office",
         "jurisdiction": "XA", "effective_at": "2020-01-01T00:00:00Z"},
        {"type": "office_registered", "office": "xa-spokes", "name": "Spokesperson",
         "jurisdiction": "XA", "effective_at": "2020-01-01T00:00:00Z"},
        {"type": "account_registered", "account_id": FREED, "platform": "x",
         "handle": "@XAnews", "office": "xa-spokes", "effective_at": "2020-01-01T00:00:00Z"},
        {"type": "handle_renamed", "account_id": FREED, "handle": "@XAnewsOld",
         "effective_at": "2021-01-01T00:00:00Z"},
        {"type": "account_registered", "account_id": TAKER, "platform": "x",
         "handle": "@XApress", "office": "xa-press", "effective_at": "2020-01-01T00:00:00Z"},
        {"type": "handle_renamed", "account_id": TAKER, "handle": "@XAnews",
         "effective_at": "2021-03-01T00:00:00Z"},
    ]  # fmt: skip
    path = tmp_path / "offices.jsonl"
    path.write_text("".join(json.dumps(line) + "\n" for line in lines), encoding="utf-8")
    assert cli(store_url, "import", str(path)) == EXIT_OK
    listed = {}
    for args in (("--jurisdiction", "XA"), ("--office", "xa-spokes")):
        code, out, _ = run(store_url, capsys, "findings", *args, "--kind",
                           "office-handle-taken", "--json")  # fmt: skip
        assert code == EXIT_OK
        listed[args[0]] = [(f["office"], f["account_id"], f["from"][:10]) for f in json.loads(out)]
    assert listed["--jurisdiction"] == listed["--office"] == [("xa-spokes", TAKER, "2021-03-01")]

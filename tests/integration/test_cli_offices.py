"""`custody office` and `custody findings` on the demo, as an oversight body uses them."""

from __future__ import annotations

import json

import pytest

from api.cli import EXIT_OK, EXIT_REFUSED, EXIT_USAGE
from api.demo import DEMO_FILE
from tests.support import cli

Capture = pytest.CaptureFixture[str]


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
    assert [a["handle"] for a in body["accounts"]] == ["ISPR_Official", "OfficialDGISPR"] or {
        a["handle"] for a in body["accounts"]
    } == {"ISPR_Official", "OfficialDGISPR"}
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

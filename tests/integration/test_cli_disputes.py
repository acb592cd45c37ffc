"""`custody dispute` as a records officer and a panel's clerk use it, on both stores: the dispute
story told from the terminal, and the refusals it gives."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from uuid import UUID

import pytest
from fastapi.testclient import TestClient

from api.bootstrap import Container
from api.cli import EXIT_OK, EXIT_REFUSED, EXIT_USAGE
from api.http.app import create_app
from ledger.settings import Settings
from tests.dispute_story import HANDOVER, RENAMED, WINDOW, story_in
from tests.support import HeldClock, cli

Capture = pytest.CaptureFixture[str]


@pytest.fixture
def story(store_url: str) -> Iterator[tuple[str, Container, HeldClock, UUID, UUID]]:
    for c, clock, office_account, look_alike in story_in(Settings(database_url=store_url)):
        yield store_url, c, clock, office_account, look_alike


def run(url: str, capsys: Capture, *args: str) -> tuple[int, str, str]:
    capsys.readouterr()
    code = cli(url, *args)
    out = capsys.readouterr()
    return code, out.out, out.err


def test_a_dispute_opened_added_to_and_resolved_from_the_terminal(
    story: tuple[str, Container, HeldClock, UUID, UUID], capsys: Capture, tmp_path: Path
) -> None:
    url, _, _, office_account, look_alike = story
    code, out, err = run(
        url, capsys, "dispute", "open", "--account", str(office_account),
        "--from", WINDOW["from"], "--to", WINDOW["to"], "--claim", "Renamed away.",
        "--contested", f"{office_account}:3", "--evidence", "https://example.org/gazette",
        "--actor", "cm-office", "--json",
    )  # fmt: skip
    assert code == EXIT_OK, err
    opened = json.loads(out)
    dispute = opened["dispute_id"]
    assert (opened["status"], opened["opened_by"]) == ("open", "cm-office")
    assert opened["contested"] == [{"stream": str(office_account), "version": 3}]

    code, out, err = run(url, capsys, "dispute", "evidence", dispute,
                         "--evidence", "https://example.org/archive", "--note", "Archived.")  # fmt: skip
    assert code == EXIT_OK, err
    assert f"recorded v2 evidence_added on dispute {dispute}" in out

    corrections = tmp_path / "corrections.json"
    corrections.write_text(json.dumps([
        {"account_id": str(look_alike), "type": "event_retracted", "event_version": 1,
         "effective_at": RENAMED.isoformat()},
        {"account_id": str(office_account), "type": "event_retracted", "event_version": 3,
         "effective_at": RENAMED.isoformat()},
        {"account_id": str(office_account), "type": "holder_assigned",
         "holder": {"id": "ben-new", "name": "Ben New"}, "effective_at": HANDOVER.isoformat()},
    ]))  # fmt: skip
    code, out, err = run(url, capsys, "dispute", "resolve", dispute, "--outcome", "upheld",
                         "--ruling", "Upheld.", "--corrections", str(corrections),
                         "--if-match", "2", "--actor", "appeals-panel")  # fmt: skip
    assert code == EXIT_OK, err
    assert out.count("with correction") == 3

    code, out, _ = run(url, capsys, "dispute", "show", dispute)
    assert code == EXIT_OK
    assert "(resolved, upheld)" in out and "ruling   Upheld." in out
    code, out, _ = run(url, capsys, "dispute", "list", "--account", str(office_account),
                       "--json")  # fmt: skip
    assert [(d["dispute_id"], d["status"]) for d in json.loads(out)] == [(dispute, "resolved")]
    code, out, _ = run(url, capsys, "dispute", "list", "--status", "open")
    assert (code, out.strip()) == (EXIT_OK, "no disputes")


def test_the_terminal_refuses_bad_disputes_and_says_why(
    story: tuple[str, Container, HeldClock, UUID, UUID], capsys: Capture, tmp_path: Path
) -> None:
    url, c, _, office_account, _ = story
    head = c.ledger.head()
    cases = [
        (["dispute", "open", "--from", WINDOW["from"], "--to", WINDOW["to"], "--claim", "x"],
         EXIT_USAGE, "--account ID or --office KEY"),
        (["dispute", "open", "--account", str(office_account), "--from", WINDOW["to"],
          "--to", WINDOW["from"], "--claim", "x"], EXIT_USAGE, "`to` must be after `from`"),
        (["dispute", "open", "--account", str(office_account), "--from", WINDOW["from"],
          "--to", WINDOW["to"], "--claim", "x", "--contested", "nonsense"], EXIT_USAGE,
         "STREAM:VERSION"),
        (["dispute", "open", "--account", str(office_account), "--from", WINDOW["from"],
          "--to", WINDOW["to"], "--claim", "x", "--contested", f"{office_account}:9"],
         EXIT_REFUSED, "does not exist"),
        (["dispute", "show", "not-an-id"], EXIT_USAGE, "not an id"),
        (["dispute", "show", "0b5e6c1e-2f4a-4d8e-9c3b-7a1f2e3d4c5b"], EXIT_REFUSED,
         "No dispute"),
        (["dispute", "resolve", "0b5e6c1e-2f4a-4d8e-9c3b-7a1f2e3d4c5b", "--outcome", "upheld",
          "--ruling", "r", "--corrections", str(tmp_path / "missing.json")], EXIT_USAGE,
         "cannot read"),
    ]  # fmt: skip
    for args, expected, said in cases:
        code, _, err = run(url, capsys, *args)
        assert (code, said in err) == (expected, True), (args, err)
    assert c.ledger.head() == head


def test_an_adjudicator_token_made_on_the_command_line_resolves_over_http(
    story: tuple[str, Container, HeldClock, UUID, UUID], capsys: Capture
) -> None:
    url, c, _, office_account, _ = story
    code, out, err = run(url, capsys, "token", "create", "--name", "appeals-panel",
                         "--role", "adjudicator")  # fmt: skip
    assert code == EXIT_OK, err
    secret = out.strip().splitlines()[-1]
    code, out, _ = run(url, capsys, "token", "list")
    assert "appeals-panel" in out and "adjudicator" in out
    code, out, _ = run(
        url, capsys, "dispute", "open", "--account", str(office_account), "--from",
        WINDOW["from"], "--to", WINDOW["to"], "--claim", "Renamed away.", "--json",
    )  # fmt: skip
    dispute = json.loads(out)["dispute_id"]
    app = create_app(container=c, run_worker=False)
    with TestClient(app, headers={"Authorization": f"Bearer {secret}"}) as client:
        ruled = client.post(f"/v1/disputes/{dispute}/events",
                            json={"type": "resolved", "outcome": "rejected", "ruling": "No."})  # fmt: skip
        assert ruled.status_code == 201, ruled.text
        assert ruled.json()["event"]["actor"] == "appeals-panel"
        refused = client.post(f"/v1/accounts/{office_account}/events",
                              json={"type": "holder_released", "effective_at": WINDOW["from"]})  # fmt: skip
        assert refused.status_code == 403  # an adjudicator records nothing but rulings

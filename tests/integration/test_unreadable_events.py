"""One stored event damaged outside the ledger (issue 22): every door says which one, where,
and what to do, never a traceback or a 500; an export can still save everything else."""

from __future__ import annotations

import json
from pathlib import Path
from uuid import UUID

import pytest
from fastapi.testclient import TestClient

from api.bootstrap import Container, build
from api.cli import EXIT_OK, EXIT_UNREADABLE, main
from api.http.app import create_app
from ledger.commands import AssignHolder, Holder
from ledger.errors import UnreadableEvent
from ledger.settings import Settings
from tests.e2e.support import bearer
from tests.stories import ACTOR, OPENED, register
from tests.support import stored_state

Capture = pytest.CaptureFixture[str]


@pytest.fixture
def damaged(store_url: str) -> tuple[str, UUID, UUID, int]:
    """A store with two accounts; the second one's handover is damaged."""
    container = build(Settings(database_url=store_url))
    try:
        ledger = container.ledger
        fine = register(ledger, "@POTUS").account_id
        bad = register(ledger, "@WhiteHouse").account_id
        holder = Holder(id="obama", name="Barack Obama")
        for account in (fine, bad):
            ledger.append(account, AssignHolder(holder=holder, effective_at=OPENED), actor=ACTOR)
        _, position = stored_state(container, bad, 2, b"{not json")  # as a bad tool would
    finally:
        container.close()
    return store_url, fine, bad, position


def _one_line(err: str) -> str:
    assert "Traceback" not in err
    (line,) = err.strip().splitlines()
    return line


def test_export_names_the_damaged_event_or_exports_the_rest(
    damaged: tuple[str, UUID, UUID, int], tmp_path: Path, capsys: Capture
) -> None:
    url, fine, bad, position = damaged
    out = tmp_path / "log.jsonl"
    capsys.readouterr()
    assert main(["--database-url", url, "export", "--out", str(out)]) == EXIT_UNREADABLE
    line = _one_line(capsys.readouterr().err)
    assert f"stream {bad} version 2 at log position {position} cannot be decoded" in line
    assert "restore it from a backup" in line
    assert main(["--database-url", url, "export", "--out", str(out), "--skip-unreadable"]) == (
        EXIT_OK
    )
    err = capsys.readouterr().err
    assert "skipped 1 unreadable event" in err
    assert f"stream {bad} version 2 at log position {position}" in err
    lines = [json.loads(x) for x in out.read_text().splitlines()]
    assert [(x["account_id"], x["type"]) for x in lines] == [
        (str(fine), "account_registered"),
        (str(bad), "account_registered"),
        (str(fine), "holder_assigned"),
    ]


def test_rebuild_names_the_damaged_event_and_keeps_the_old_views(
    damaged: tuple[str, UUID, UUID, int], capsys: Capture
) -> None:
    url, _, bad, position = damaged
    capsys.readouterr()
    assert main(["--database-url", url, "rebuild"]) == EXIT_UNREADABLE
    line = _one_line(capsys.readouterr().err)
    assert f"stream {bad} version 2 at log position {position} cannot be decoded" in line


def test_the_damaged_stream_fails_alone_until_repaired_and_rebuilt(
    damaged: tuple[str, UUID, UUID, int], capsys: Capture
) -> None:
    """Reads and appends of the damaged account answer 503 naming the event, never 500; every
    other account keeps being answered, whole; repaired and rebuilt, it answers again."""
    url, fine, bad, position = damaged
    container = build(Settings(database_url=url))
    try:
        admin = bearer(container.access.issue("records-admin", "admin"))
        with TestClient(create_app(container=container, run_worker=False)) as client:
            read = client.get(f"/v1/accounts/{bad}", headers=admin)
            assert read.status_code == 503, read.text
            assert read.json()["type"].endswith("/unreadable-event")
            assert f"stream {bad} version 2 at log position {position}" in read.json()["detail"]
            for path in (f"/v1/accounts/{bad}/events", f"/v1/accounts/{bad}/custody",
                         "/v1/handles/x/WhiteHouse", "/v1/holders/obama/custody"):  # fmt: skip
                assert client.get(path, headers=admin).status_code == 503, path
            body = {"type": "holder_released", "effective_at": "2020-01-01T00:00:00Z"}
            append = client.post(f"/v1/accounts/{bad}/events", json=body, headers=admin)
            assert append.status_code == 503, append.text
            assert f"stream {bad} version 2" in append.json()["detail"]
            # The other account: answered, whole, and still written to.
            assert client.get(f"/v1/accounts/{fine}", headers=admin).json()["holder"]["id"] == (
                "obama"
            )
            written = client.post(f"/v1/accounts/{fine}/events", json=body, headers=admin)
            assert written.status_code == 201, written.text
            events = client.get(f"/v1/accounts/{fine}/events", headers=admin).json()
            assert [e["version"] for e in events] == [1, 2, 3]
            assert client.get("/v1/handles/x/POTUS", headers=admin).status_code == 200
            health = client.get("/health").json()
            assert health["lag"] == 0 and len(health["set_aside"]) == 1
            # Repaired from a backup of the bytes, then rebuilt: answered again.
            _repair(container, bad)
            capsys.readouterr()
            assert main(["--database-url", url, "rebuild"]) == EXIT_OK
            again = client.get(f"/v1/accounts/{bad}", headers=admin)
            assert (again.status_code, again.json()["holder"]["id"]) == (200, "obama")
            assert client.get("/health").json()["set_aside"] == []
    finally:
        container.close()


def _repair(container: Container, account: UUID) -> None:
    """Put back what the ledger itself would have written: the same event, recorded afresh in
    a scratch store, its bytes copied over the damaged ones."""
    from ledger.application import CustodyLedger

    scratch = CustodyLedger(Settings(database_url="sqlite:///:memory:").store().env)
    try:
        original = container.ledger.recorder.select_events(account, lte=1)[0]
        scratch.recorder.insert_events([original])
        holder = Holder(id="obama", name="Barack Obama")
        scratch.append(account, AssignHolder(holder=holder, effective_at=OPENED), actor=ACTOR)
        good = scratch.recorder.select_events(account)[1].state
    finally:
        scratch.close()
    stored_state(container, account, 2, good)


def test_an_event_that_decodes_without_one_of_its_fields_is_named_and_refuses_appends(
    store_url: str,
) -> None:
    """JSON that is valid, but not the event's (its `actor` gone): the write side and the
    ledger's reads say which event, 503 over HTTP, never a bare AttributeError or a 500."""
    container = build(Settings(database_url=store_url))
    try:
        ledger = container.ledger
        bad = register(ledger, "@WhiteHouse").account_id
        holder = Holder(id="obama", name="Barack Obama")
        ledger.append(bad, AssignHolder(holder=holder, effective_at=OPENED), actor=ACTOR)
        state, _ = stored_state(container, bad, 2)
        without = {k: v for k, v in json.loads(state).items() if k != "actor"}
        stored_state(container, bad, 2, json.dumps(without).encode("utf-8"))
    finally:
        container.close()
    container = build(Settings(database_url=store_url))  # nothing cached from before
    try:
        with pytest.raises(UnreadableEvent, match=f"stream {bad} version 2 cannot be decoded"):
            container.ledger.records(bad)
        admin = bearer(container.access.issue("records-admin", "admin"))
        app = create_app(container=container, run_worker=False)
        with TestClient(app, raise_server_exceptions=False) as client:
            body = {"type": "holder_released", "effective_at": "2020-01-01T00:00:00Z"}
            append = client.post(f"/v1/accounts/{bad}/events", json=body, headers=admin)
            assert append.status_code == 503, append.text
            assert append.json()["type"].endswith("/unreadable-event")
            assert "has no attribute 'actor'" in append.json()["detail"]
    finally:
        container.close()

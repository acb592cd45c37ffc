"""A store written by an earlier version, served by this one."""

from __future__ import annotations

import json
from pathlib import Path
from uuid import UUID

from fastapi.testclient import TestClient

from api.http.app import create_app
from ledger.backfill import import_file
from tests.e2e.support import Tokens, assignment, bearer, make_container, registration
from tests.support import FakeClock, stored_state


def test_the_current_model_of_an_earlier_version_is_left_alone_and_holds_nothing_back(
    store_url: str, clock: FakeClock
) -> None:
    """Until issue 17 a `current` model kept each account's latest state in `rm_current`. A
    store written then keeps that table and its tracking row; nothing moves the row any more.
    Reads do not wait for it, health does not report it, and the table is left for operators
    to drop (docs/upgrading.md)."""
    container = make_container(store_url, clock)
    db = container.projector.db
    try:
        with db.transaction() as curs:  # what the earlier version left, its row now behind
            db.execute(curs, db.sql("CREATE TABLE {t} (account_id TEXT)", t="rm_current"))
            db.execute(curs, db.sql("INSERT INTO {t} VALUES (%s)", t="rm_current"), ("kept",))
            db.execute(
                curs, db.sql("INSERT INTO {t} VALUES (%s, %s)", t="rm_tracking"), ("current", 0)
            )
    finally:
        container.close()

    container = make_container(store_url, clock, read_wait_seconds=0.5)
    try:
        tokens = Tokens.issue(container)
        app = create_app(container=container, run_worker=False)
        with TestClient(app, headers=bearer(tokens.admin)) as client:
            account_id = client.post("/v1/accounts", json=registration()).json()["account_id"]
            assert client.post(f"/v1/accounts/{account_id}/events", json=assignment()).is_success

            read = client.get(f"/v1/accounts/{account_id}")
            health = client.get("/health").json()

            assert read.status_code == 200, read.text
            assert read.json()["holder"]["id"] == "trump-45"
            assert set(health["read_models"]) == {
                "events", "segments", "custody", "handles", "office_segments", "disputes",
                "findings",
            }  # fmt: skip
            assert health["lag"] == 0
            db = container.projector.db
            kept = db.fetchall(db.sql("SELECT account_id FROM {t}", t="rm_current"))
            tracking = "SELECT position FROM {t} WHERE name = %s"
            assert kept == [("kept",)]
            assert db.fetchone(db.sql(tracking, t="rm_tracking"), ("current",)) == (0,)
    finally:
        container.close()


NEW_SEGMENT_COLUMNS = ("ownership", "owner_id", "owner_name", "followers", "observed_at",
                       "audience_by")  # fmt: skip


def test_segments_written_before_offices_gain_their_columns_and_are_built_again(
    store_url: str, clock: FakeClock
) -> None:
    """Before issue 18 `rm_segments` had no ownership or audience columns, and `rm_events` no
    `office`. A store written then gets the columns on start; the segments, whose rows are
    keyed by all their columns, are built again from the log, so a later event closes the
    rows it replaces instead of leaving the old ones open beside them."""
    container = make_container(store_url, clock)
    db = container.projector.db
    try:
        tokens = Tokens.issue(container)
        app = create_app(container=container, run_worker=False)
        with TestClient(app, headers=bearer(tokens.admin)) as client:
            account_id = client.post("/v1/accounts", json=registration()).json()["account_id"]
            assert client.get(f"/v1/accounts/{account_id}").status_code == 200
            with db.transaction() as curs:  # as the earlier version left them
                for column in NEW_SEGMENT_COLUMNS:
                    drop = f"ALTER TABLE {{t}} DROP COLUMN {column}"
                    db.execute(curs, db.sql(drop, t="rm_segments"))
                db.execute(curs, db.sql("ALTER TABLE {t} DROP COLUMN office", t="rm_events"))
    finally:
        container.close()

    container = make_container(store_url, clock)
    db = container.projector.db
    try:
        app = create_app(container=container, run_worker=False)
        with TestClient(app, headers=bearer(tokens.admin)) as client:
            assert client.post(f"/v1/accounts/{account_id}/events", json=assignment()).is_success
            read = client.get(f"/v1/accounts/{account_id}")
            assert read.status_code == 200, read.text
            body = read.json()
            assert (body["holder"]["id"], body["ownership"], body["owner"], body["audience"]) == (
                "trump-45", "office", None, None,
            )  # fmt: skip
            events = client.get(f"/v1/accounts/{account_id}/events").json()
            assert [(e["version"], e["office"]) for e in events] == [(1, None), (2, None)]
            open_rows = db.fetchall(
                db.sql("SELECT COUNT(*) FROM {t} WHERE account_id = %s AND known_to IS NULL",
                       t="rm_segments"),
                (account_id,),
            )  # fmt: skip
            assert open_rows == [(1,)]  # one segment, held since registration: none left over
    finally:
        container.close()


def test_events_and_event_records_written_before_attribution_read_as_unattributed(
    store_url: str, clock: FakeClock, tmp_path: Path
) -> None:
    """Before issue 22 a stored event had no `attributed_to` and `rm_events` no such column. A
    store written then gets the column on start (NULL in its rows); its events decode as
    unattributed, and an import's attributed event beside them shows its attribution."""
    container = make_container(store_url, clock)
    db = container.projector.db
    try:
        tokens = Tokens.issue(container)
        app = create_app(container=container, run_worker=False)
        with TestClient(app, headers=bearer(tokens.admin)) as client:
            account_id = client.post("/v1/accounts", json=registration()).json()["account_id"]
            assert client.get(f"/v1/accounts/{account_id}").status_code == 200
            state, _ = stored_state(container, UUID(account_id), 1)
            earlier = json.loads(state)
            del earlier["attributed_to"]  # as the earlier version stored it
            stored_state(container, UUID(account_id), 1, json.dumps(earlier).encode("utf-8"))
            with db.transaction() as curs:
                drop = "ALTER TABLE {t} DROP COLUMN attributed_to"
                db.execute(curs, db.sql(drop, t="rm_events"))
    finally:
        container.close()

    container = make_container(store_url, clock)
    try:
        path = tmp_path / "backfill.jsonl"
        line = {"account_id": account_id, **assignment(), "actor": "dispute-panel"}
        path.write_text(json.dumps(line) + "\n", encoding="utf-8")
        import_file(container.ledger, path, actor="import:clerk")
        app = create_app(container=container, run_worker=False)
        with TestClient(app, headers=bearer(tokens.admin)) as client:
            events = client.get(f"/v1/accounts/{account_id}/events").json()
            assert [(e["version"], e["actor"], e["attributed_to"]) for e in events] == [
                (1, "records-admin", None),
                (2, "import:clerk", "dispute-panel"),
            ]
            facts = container.ledger.facts(UUID(account_id))
            assert [f.attributed_to for f in facts] == [None, "dispute-panel"]
    finally:
        container.close()

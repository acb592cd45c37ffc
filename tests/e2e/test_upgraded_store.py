"""A store written by an earlier version, served by this one."""

from __future__ import annotations

from fastapi.testclient import TestClient

from api.http.app import create_app
from tests.e2e.support import Tokens, assignment, bearer, make_container, registration
from tests.support import FakeClock


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
            assert set(health["read_models"]) == {"events", "segments", "custody", "handles"}
            assert health["lag"] == 0
            db = container.projector.db
            kept = db.fetchall(db.sql("SELECT account_id FROM {t}", t="rm_current"))
            tracking = "SELECT position FROM {t} WHERE name = %s"
            assert kept == [("kept",)]
            assert db.fetchone(db.sql(tracking, t="rm_tracking"), ("current",)) == (0,)
    finally:
        container.close()

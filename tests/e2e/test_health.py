"""Honest health: `/health` is 200 only when reads and writes would succeed, and 503
`degraded`, with the reasons, when the read side has stopped moving; `/livez` only says the
process answers. The read-model worker survives a round it cannot finish."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any
from uuid import UUID

from fastapi.testclient import TestClient

from api.bootstrap import Container
from api.http.app import create_app
from ledger.commands import AssignHolder, Holder
from tests.e2e.support import bearer, make_container
from tests.stories import OPENED, register
from tests.support import FakeClock


def _until(condition: Callable[[], Any], seconds: float = 10.0) -> Any:
    deadline = time.monotonic() + seconds
    while not (result := condition()):
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)
    return result


def _stored_state(container: Container, account: UUID, version: int, state: bytes | None) -> bytes:
    """The stored bytes of one event; with `state`, replace them (a corrupt row, or its repair)."""
    db = container.projector.db
    oid: Any = account if db.kind == "postgres" else account.hex
    where = " WHERE originator_id = %s AND originator_version = %s"
    with db.transaction() as curs:
        if state is not None:
            update = db.sql("UPDATE {t} SET state = %s" + where, t=db.events_table)
            db.execute(curs, update, (state, oid, version))
        db.execute(curs, db.sql("SELECT state FROM {t}" + where, t=db.events_table), (oid, version))
        return bytes(curs.fetchone()[0])


def test_the_worker_survives_an_event_it_cannot_decode_and_health_says_so_until_repaired(
    store_url: str, clock: FakeClock
) -> None:
    writer = make_container(store_url, clock)  # another process: the server reads the log
    try:
        account = register(writer.ledger, "@POTUS").account_id
        holder = Holder(id="obama", name="Barack Obama")
        writer.ledger.append(
            account, AssignHolder(holder=holder, effective_at=OPENED), actor="records-office"
        )
        good = _stored_state(writer, account, 2, None)
        _stored_state(writer, account, 2, b"{not json")  # as if a bad tool had written it
    finally:
        writer.close()
    container = make_container(store_url, clock, health_stall_seconds=0.3)
    try:
        with TestClient(create_app(container=container)) as client:
            worker = container.worker
            assert worker is not None
            _until(lambda: worker.failing_since is not None)
            time.sleep(0.4)  # longer than the bound
            response = client.get("/health")
            body = response.json()
            assert (response.status_code, body["status"], worker.is_alive()) == (
                503,
                "degraded",
                True,
            )
            assert any("has been failing" in r for r in body["reasons"]), body["reasons"]
            assert body["lag"] > 0 and body["worker"]["last_error"]
            _stored_state(container, account, 2, good)  # repaired: the worker goes on alone
            _until(lambda: client.get("/health").status_code == 200)
            body = client.get("/health").json()
            assert (body["lag"], body["reasons"], body["worker"]) == (
                0,
                [],
                {"running": True, "last_error": None},
            )
    finally:
        container.close()


def test_read_models_behind_without_moving_make_health_degraded_until_they_catch_up(
    pg_url: str, clock: FakeClock
) -> None:
    """A deployment whose `custody project` stopped: the API serves no worker of its own."""
    container = make_container(pg_url, clock, embedded_projections=False, health_stall_seconds=0.3)
    try:
        admin = bearer(container.access.issue("records-admin", "admin"))
        with TestClient(create_app(container=container, run_worker=False)) as client:
            container.projector.catch_up()
            assert client.get("/health").json()["status"] == "ok"
            register(container.ledger, "@POTUS")
            first = client.get("/health")  # behind, but nobody has seen it stand still yet
            assert (first.status_code, first.json()["lag"] > 0) == (200, True)
            time.sleep(0.4)
            stalled = client.get("/health", headers=admin)
            assert stalled.status_code == 503
            (reason,) = stalled.json()["reasons"]
            assert "have not moved" in reason and "custody project" in reason
            container.projector.catch_up()  # the worker is back
            again = client.get("/health")
            assert (again.status_code, again.json()["status"], again.json()["reasons"]) == (
                200,
                "ok",
                [],
            )
    finally:
        container.close()


def test_liveness_needs_no_token_and_no_database(anonymous: TestClient) -> None:
    response = anonymous.get("/livez")
    assert (response.status_code, response.json()) == (200, {"status": "alive"})

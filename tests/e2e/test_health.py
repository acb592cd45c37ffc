"""Honest health: `/health` is 200 only when reads and writes would succeed, and 503
`degraded`, with the reasons, when the read side has stopped moving; `/livez` only says the
process answers. The read-model worker survives a round it cannot finish."""

from __future__ import annotations

import time
from typing import Any

import pytest
from fastapi.testclient import TestClient

from api.http.app import create_app
from ledger.commands import AssignHolder, Holder
from projections.rebuild import Rebuilder
from tests.e2e.support import bearer, make_container
from tests.stories import OPENED, register
from tests.support import FakeClock, stored_state, until


def test_an_event_that_cannot_be_decoded_sets_its_stream_aside_and_health_says_so(
    store_url: str, clock: FakeClock
) -> None:
    """The worker meets a damaged event: it sets that stream aside and goes on (lag 0), and
    /health is degraded, naming it, until the bytes are repaired and the models rebuilt."""
    writer = make_container(store_url, clock)  # another process: the server reads the log
    try:
        account = register(writer.ledger, "@POTUS").account_id
        holder = Holder(id="obama", name="Barack Obama")
        writer.ledger.append(
            account, AssignHolder(holder=holder, effective_at=OPENED), actor="records-office"
        )
        good, _ = stored_state(writer, account, 2)
        stored_state(writer, account, 2, b"{not json")  # as if a bad tool had written it
    finally:
        writer.close()
    container = make_container(store_url, clock)
    try:
        with TestClient(create_app(container=container)) as client:
            worker = container.worker
            assert worker is not None
            until(lambda: client.get("/health").json()["set_aside"])
            response = client.get("/health")
            body = response.json()
            assert (response.status_code, body["status"], body["lag"]) == (503, "degraded", 0)
            (reason,) = body["reasons"]
            assert f"a stream is set aside: the stored event of stream {account} version 2" in (
                reason
            )
            assert worker.is_alive() and body["worker"]["last_error"] is None
            stored_state(container, account, 2, good)  # repaired; then rebuilt from the log
            Rebuilder(container.projector).rebuild()
            body = client.get("/health").json()
            assert (body["status"], body["set_aside"], body["reasons"]) == ("ok", [], [])
    finally:
        container.close()


def test_the_worker_survives_a_round_it_cannot_finish_and_says_why(
    store_url: str, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    container = make_container(store_url, clock, health_stall_seconds=0.3)
    try:
        register(container.ledger, "@POTUS")
        real = container.projector.catch_up
        failing = {"on": True}

        def catch_up(**kwargs: Any) -> int:
            if failing["on"]:
                raise RuntimeError("a bug in a read model")
            return real(**kwargs)

        monkeypatch.setattr(container.projector, "catch_up", catch_up)
        container.start_worker()
        worker = container.worker
        assert worker is not None
        until(lambda: worker.failing_since is not None)
        time.sleep(0.4)  # longer than the bound
        with TestClient(create_app(container=container, run_worker=False)) as client:
            response = client.get("/health")
            body = response.json()
            assert (response.status_code, worker.is_alive()) == (503, True)
            assert any("has been failing" in r and "a bug in a read model" in r
                       for r in body["reasons"]), body["reasons"]  # fmt: skip
            failing["on"] = False  # fixed: the worker goes on by itself
            until(lambda: worker.failing_since is None)
            assert client.get("/health").json()["worker"]["last_error"] is None
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

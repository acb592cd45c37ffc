"""A PostgreSQL server that stops answering (a black hole: connections accepted, bytes read,
nothing answered) or goes away (every connection cut, new ones refused), behind a real
`custody serve`: every request answers 503 with Retry-After within the bound, never a hang;
the process stays alive; and when the database answers again, service resumes by itself."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from api.bootstrap import build
from api.http.app import create_app
from ledger.errors import StoreUnavailable
from ledger.settings import Settings
from tests.e2e.support import assignment, registration
from tests.faults.proxy import FaultProxy
from tests.faults.support import (
    BOUND,
    BOUNDS,
    RESUME,
    SLACK,
    Answer,
    Custody,
    Server,
    admin_token,
    running,
    until,
)

pytestmark = pytest.mark.postgres

UNAVAILABLE = {"store-unavailable", "read-models-behind"}


def _unavailable_in_time(answer: Answer, what: str) -> None:
    assert answer.status == 503, f"{what}: {answer.status} {answer.body}"
    assert answer.headers["content-type"] == "application/problem+json"
    assert answer.problem in UNAVAILABLE, answer.body
    assert answer.headers["retry-after"] == "1"
    assert answer.seconds < BOUND + SLACK, f"{what} took {answer.seconds:.1f}s"


def _append(server: Server, account: str, admin: dict[str, str], n: int) -> Answer:
    return server.call("POST", f"/v1/accounts/{account}/events",
                       assignment(f"holder-{n}", f"Holder {n}"), **admin)  # fmt: skip


@pytest.mark.parametrize("fault", ["blackhole", "cut"])
def test_while_the_database_does_not_answer_every_request_is_503_within_the_bound_and_then_service_resumes(
    fault: str, proxied: tuple[str, FaultProxy], tmp_path: Path
) -> None:
    url, proxy = proxied
    admin = admin_token(url)
    server = Server(url, tmp_path / "serve.log", BOUNDS)
    with running(server):
        account = server.call("POST", "/v1/accounts", registration(), **admin).body["account_id"]
        assert server.call("GET", f"/v1/accounts/{account}", **admin).status == 200

        getattr(proxy, fault)()
        # The first request meets the pool's idle connection, which looks healthy: in the
        # black hole its query is never answered.
        _unavailable_in_time(server.call("GET", "/health"), "GET /health")
        _unavailable_in_time(server.call("GET", f"/v1/accounts/{account}", **admin), "a read")
        _unavailable_in_time(_append(server, account, admin, 1), "an append")
        live = server.call("GET", "/livez")
        assert (live.status, live.seconds < 1) == (200, True)

        proxy.forward()
        n = iter(range(2, 1000))
        took = until(
            lambda: (
                server.call("GET", f"/v1/accounts/{account}", **admin).status == 200
                and _append(server, account, admin, next(n)).status == 201
            ),
            RESUME,
        )
        health = server.call("GET", "/health")
        assert (health.status, health.body["status"]) == (200, "ok"), health.body
        assert server.alive(), "served throughout, never restarted"
        print(f"{fault}: service back {took:.1f}s after the database")


def test_with_a_separate_worker_reads_come_back_within_seconds_of_the_database(
    proxied: tuple[str, FaultProxy], tmp_path: Path
) -> None:
    """`custody serve --no-worker` and `custody project`: after an outage the worker, not only
    the API, is back within seconds (it was once 22.5 s after a 15 s outage)."""
    url, proxy = proxied
    admin = admin_token(url)
    server = Server(url, tmp_path / "serve.log", BOUNDS, "--no-worker")
    worker = Custody(url, ["project"], tmp_path / "project.log", BOUNDS)
    with running(server, worker):
        account = server.call("POST", "/v1/accounts", registration(), **admin).body["account_id"]
        until(lambda: server.call("GET", f"/v1/accounts/{account}", **admin).status == 200, 30)

        proxy.blackhole()
        time.sleep(6)  # long enough for the worker's and the pools' retries to back off
        _unavailable_in_time(_append(server, account, admin, 1), "an append")
        proxy.forward()
        healed = time.monotonic()

        until(lambda: _append(server, account, admin, 2).status == 201, RESUME)
        # Each read waits for the worker up to the read wait; then 503, and the client retries.
        until(lambda: server.call("GET", f"/v1/accounts/{account}", **admin).status == 200, RESUME)
        back = time.monotonic() - healed
        read = server.call("GET", f"/v1/accounts/{account}", **admin)
        assert read.body["holder"]["id"] == "holder-2"  # the write after the outage, read back
        assert back < RESUME, f"a read of a new write answered {back:.1f}s after the database"
        print(f"worker: reads back {back:.1f}s after the database")
        assert worker.alive() and server.alive()


def test_an_api_worker_that_starts_while_the_database_is_away_waits_for_it(
    proxied: tuple[str, FaultProxy],
) -> None:
    """Under `custody serve --workers N` a worker whose startup failed would stop the whole
    server (uvicorn's rule); one that starts during an outage waits for the database instead,
    and serves once it answers. A plain app still fails its startup at once."""
    url, proxy = proxied
    settings = Settings(database_url=url, **BOUNDS)  # type: ignore[arg-type]
    build(settings).close()  # the store exists
    proxy.cut()
    with pytest.raises(StoreUnavailable), TestClient(create_app(settings=settings)):
        pass
    app = create_app(settings=settings, run_worker=False, wait_for_store=True)
    serving, failed = threading.Event(), []

    def serve() -> None:
        try:
            with TestClient(app) as client:
                serving.set()
                assert client.get("/livez").status_code == 200
        except BaseException as e:  # reported below
            failed.append(e)

    worker = threading.Thread(target=serve)
    worker.start()
    time.sleep(3)
    assert not serving.is_set() and not failed, failed  # waiting, not failed
    proxy.forward()
    worker.join(timeout=20)
    assert serving.is_set() and not failed, failed

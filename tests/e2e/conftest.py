"""End-to-end fixtures: the app over HTTP on each store, tokens of every kind, a live server."""

from __future__ import annotations

import http.client
import json
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import pytest
import uvicorn
from fastapi.testclient import TestClient

from api.bootstrap import Container, build
from api.http.app import create_app
from ledger.settings import Settings
from tests.conftest import FakeClock

OFFICE = "us-president"
OTHER_OFFICE = "state-department"
PRESIDENT_ID = "822215679726100480"


def bearer(secret: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {secret}"}


@dataclass
class Tokens:
    admin: str
    recorder: str  # any office
    office_recorder: str  # OFFICE only
    other_recorder: str  # OTHER_OFFICE only
    reader: str
    revoked: str

    @classmethod
    def issue(cls, container: Container) -> Tokens:
        access = container.access
        revoked = access.issue("former-clerk", "recorder", (OFFICE,))
        access.revoke("former-clerk")
        return cls(
            admin=access.issue("records-admin", "admin"),
            recorder=access.issue("records-office", "recorder"),
            office_recorder=access.issue("potus-clerk", "recorder", (OFFICE,)),
            other_recorder=access.issue("state-clerk", "recorder", (OTHER_OFFICE,)),
            reader=access.issue("dispute-panel", "reader"),
            revoked=revoked,
        )


def make_container(url: str, clock: FakeClock, **settings: Any) -> Container:
    return build(Settings(database_url=url, **settings), clock=clock)


@pytest.fixture
def container(store_url: str, clock: FakeClock) -> Iterator[Container]:
    built = make_container(store_url, clock)
    yield built
    built.close()


@pytest.fixture
def tokens(container: Container) -> Tokens:
    return Tokens.issue(container)


@pytest.fixture
def client(container: Container, tokens: Tokens) -> Iterator[TestClient]:
    """A client of the app on the test's store; admin by default. No background worker (its
    poll makes every PostgreSQL teardown a second longer): readers catch the read models up
    in-process, as on the embedded store. The live-server tests run the worker."""
    app = create_app(container=container, run_worker=False)
    with TestClient(app, headers=bearer(tokens.admin)) as c:
        yield c


@pytest.fixture
def anonymous(client: TestClient) -> TestClient:
    """A client of the same running app that sends no token unless told to."""
    return TestClient(client.app)


def registration(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "platform": "x",
        "platform_account_id": PRESIDENT_ID,
        "handle": "@POTUS",
        "office": OFFICE,
        "effective_at": "2017-01-20T17:00:00Z",
        "reason": "official account of the President",
        "evidence": [{"url": "https://records.example.gov/potus"}],
    }
    body.update(overrides)
    return {k: v for k, v in body.items() if v is not None}


def assignment(holder_id: str = "trump-45", name: str = "Donald J. Trump", **extra: Any) -> dict:
    return {
        "type": "holder_assigned",
        "holder": {"id": holder_id, "name": name},
        "effective_at": "2017-01-20T17:00:00Z",
        **extra,
    }


@pytest.fixture
def register(client: TestClient) -> Callable[..., dict[str, Any]]:
    """Register an account as admin; return its event record."""

    def go(**overrides: Any) -> dict[str, Any]:
        response = client.post("/v1/accounts", json=registration(**overrides))
        assert response.status_code == 201, response.text
        return response.json()  # type: ignore[no-any-return]

    return go


@pytest.fixture
def append(client: TestClient) -> Callable[..., dict[str, Any]]:
    """Append an event as admin; return its event record."""

    def go(account_id: str, body: dict[str, Any]) -> dict[str, Any]:
        response = client.post(f"/v1/accounts/{account_id}/events", json=body)
        assert response.status_code == 201, response.text
        return response.json()  # type: ignore[no-any-return]

    return go


def assert_problem(response: Any, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    assert body["type"] == f"https://custody-ledger.example/problems/{code}"
    assert body["status"] == status
    assert body["title"] and body["detail"]
    return body  # type: ignore[no-any-return]


# -- a real server on a loopback port ----------------------------------------------------------


def call(
    conn: http.client.HTTPConnection,
    method: str,
    path: str,
    body: Any = None,
    headers: dict[str, str] | None = None,
) -> tuple[int, dict[str, str], Any]:
    payload = None if body is None else json.dumps(body).encode()
    conn.request(
        method, path, body=payload, headers={"Content-Type": "application/json", **(headers or {})}
    )
    response = conn.getresponse()
    raw = response.read()
    content_type = response.getheader("content-type", "")
    data = json.loads(raw) if "json" in content_type else raw.decode()
    return response.status, {k.lower(): v for k, v in response.getheaders()}, data


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class LiveServer:
    host: str
    port: int
    container: Container
    tokens: Tokens


@contextmanager
def serving(container: Container) -> Iterator[tuple[str, int]]:
    """uvicorn serving the app in a thread, on a free loopback port."""
    port = free_port()
    config = uvicorn.Config(
        create_app(container=container), host="127.0.0.1", port=port, log_level="warning"
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="uvicorn-test", daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.02)
    try:
        yield "127.0.0.1", port
    finally:
        server.should_exit = True
        thread.join(timeout=20)


@pytest.fixture
def live_server(container: Container, tokens: Tokens) -> Iterator[LiveServer]:
    with serving(container) as (host, port):
        yield LiveServer(host, port, container, tokens)

"""End-to-end fixtures: the app over HTTP on each store, tokens of every kind, a live server.
The helpers they use, and tests import, are in `tests/e2e/support.py`."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from api.bootstrap import Container
from api.http.app import create_app
from tests.e2e.support import LiveServer, Tokens, bearer, make_container, registration
from tests.support import FakeClock, serving


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


# -- a real server on a loopback port ----------------------------------------------------------


@pytest.fixture
def live_server(container: Container, tokens: Tokens) -> Iterator[LiveServer]:
    with serving(container) as (host, port):
        yield LiveServer(host, port, container, tokens)

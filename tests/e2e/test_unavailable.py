"""While the database is unreachable, or the read models are behind: 503 with Retry-After, fast."""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Iterator
from urllib.parse import urlsplit, urlunsplit

import pytest
from fastapi.testclient import TestClient

from api.http.app import create_app
from tests.e2e.support import (
    Tokens,
    assert_problem,
    assignment,
    bearer,
    make_container,
    registration,
)
from tests.support import FakeClock

pytestmark = pytest.mark.postgres


class TcpProxy:
    """A loopback TCP forwarder that can be cut, to make the database unreachable at will."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = int(self.listener.getsockname()[1])
        self.sockets: list[socket.socket] = []
        self.lock = threading.Lock()
        self.is_cut = False
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            with self.lock:
                if self.is_cut:
                    client.close()
                    return
                upstream = socket.create_connection(self.target)
                self.sockets += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    @staticmethod
    def _pump(source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        for s in (source, sink):
            with contextlib.suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)

    def cut(self) -> None:
        """Refuse new connections and break every open one."""
        with self.lock:
            self.is_cut = True
            with contextlib.suppress(OSError):
                self.listener.shutdown(socket.SHUT_RDWR)  # wakes the accepting thread
            self.listener.close()
            for s in self.sockets:
                with contextlib.suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)
                s.close()


@pytest.fixture
def proxied_url(pg_url: str) -> Iterator[tuple[str, TcpProxy]]:
    parts = urlsplit(pg_url)
    proxy = TcpProxy((parts.hostname or "127.0.0.1", parts.port or 5432))
    netloc = f"{parts.username or 'postgres'}@127.0.0.1:{proxy.port}"
    yield urlunsplit(parts._replace(netloc=netloc)), proxy
    proxy.cut()


def _outage(
    proxied: tuple[str, TcpProxy],
    clock: FakeClock,
    requests: list[tuple[str, str, object]],
    *,
    token: bool,
) -> None:
    url, proxy = proxied
    container = make_container(url, clock, public_reads=True)
    tokens = Tokens.issue(container)
    headers = bearer(tokens.admin) if token else {}
    with TestClient(create_app(container=container), headers=headers) as client:
        setup = TestClient(client.app, headers=bearer(tokens.admin))
        account_id = setup.post("/v1/accounts", json=registration()).json()["account_id"]
        assert client.get(f"/v1/accounts/{account_id}").status_code == 200

        proxy.cut()
        for method, path, body in requests:
            started = time.monotonic()
            response = client.request(method, path.format(id=account_id), json=body)
            elapsed = time.monotonic() - started
            assert_problem(response, 503, "store-unavailable")
            assert response.headers["retry-after"] == "1"
            assert elapsed < 15, f"{method} {path} took {elapsed:.1f}s"


def test_an_unreachable_database_is_503_with_retry_after_never_a_hang(
    proxied_url: tuple[str, TcpProxy], clock: FakeClock
) -> None:
    _outage(
        proxied_url,
        clock,
        [("GET", "/v1/accounts/{id}", None), ("GET", "/v1/handles/x/POTUS", None)],
        token=False,
    )


def test_authenticated_requests_and_health_during_an_outage_are_503_within_15s(
    proxied_url: tuple[str, TcpProxy], clock: FakeClock
) -> None:
    _outage(
        proxied_url,
        clock,
        [
            ("POST", "/v1/accounts/{id}/events", assignment()),
            ("POST", "/v1/accounts", registration(handle="Other", platform_account_id=None)),
            ("GET", "/health", None),
        ],
        token=True,
    )


def test_read_models_that_do_not_catch_up_in_time_are_503(pg_url: str, clock: FakeClock) -> None:
    container = make_container(pg_url, clock, embedded_projections=False, read_wait_seconds=0.3)
    tokens = Tokens.issue(container)
    with TestClient(create_app(container=container), headers=bearer(tokens.admin)) as client:
        assert container.worker is not None
        container.worker.stop()  # the separate projection worker "dies"
        account_id = client.post("/v1/accounts", json=registration()).json()["account_id"]

        response = client.get(f"/v1/accounts/{account_id}")

        problem = assert_problem(response, 503, "read-models-behind")
        assert response.headers["retry-after"] == "1"
        assert "custody project" in problem["detail"]
        container.worker = None
        container.start_worker()
        assert client.get(f"/v1/accounts/{account_id}").status_code == 200

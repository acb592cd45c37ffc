"""A real uvicorn server on a loopback port: HTTP over sockets, and concurrent clients."""

from __future__ import annotations

import http.client
import json
import logging
import socket
import threading
import time

import pytest

from tests.e2e.support import LiveServer, assignment, bearer, call, registration


def test_the_api_over_a_real_socket(live_server: LiveServer) -> None:
    conn = http.client.HTTPConnection(live_server.host, live_server.port, timeout=30)
    admin = bearer(live_server.tokens.admin)

    status, headers, record = call(conn, "POST", "/v1/accounts", registration(), admin)
    assert status == 201, record
    assert headers["location"] == f"/v1/accounts/{record['account_id']}"
    path = f"/v1/accounts/{record['account_id']}"
    status, headers, event = call(
        conn, "POST", path + "/events", assignment(), {**admin, "If-Match": '"1"'}
    )
    assert (status, headers["etag"], event["actor"]) == (201, '"2"', "records-admin")
    # Read-your-writes: the read issued right after the write returned sees it.
    status, headers, state = call(conn, "GET", path, headers=admin)
    assert (status, headers["etag"], state["holder"]["id"]) == (200, '"2"', "trump-45")

    status, headers, _ = call(conn, "GET", path)
    assert (status, headers["content-type"]) == (401, "application/problem+json")
    assert headers["www-authenticate"] == "Bearer"
    status, _, schema = call(conn, "GET", "/openapi.json")
    assert status == 200 and "/v1/accounts/{account_id}/events" in schema["paths"]
    status, _, docs = call(conn, "GET", "/docs")
    assert status == 200 and "swagger" in docs.lower()
    status, _, health = call(conn, "GET", "/health")
    assert (status, health["status"], health["worker"]["running"]) == (200, "ok", True)
    conn.close()


def test_a_declared_oversized_body_is_refused_before_it_is_sent(live_server: LiveServer) -> None:
    limit = live_server.container.settings.max_body_bytes
    with socket.create_connection((live_server.host, live_server.port), timeout=10) as s:
        s.sendall(
            (
                "POST /v1/accounts HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\n"
                f"Authorization: Bearer {live_server.tokens.admin}\r\n"
                f"Content-Length: {limit * 100}\r\n\r\n"
            ).encode()
        )
        reply = http.client.HTTPResponse(s)
        reply.begin()
        body = json.loads(reply.read())
    assert reply.status == 413
    assert reply.getheader("content-type") == "application/problem+json"
    assert body["type"].endswith("/body-too-large")


def test_a_client_that_leaves_mid_body_leaves_no_error_in_the_log(
    live_server: LiveServer, caplog: pytest.LogCaptureFixture
) -> None:
    head = live_server.container.ledger.head()
    with caplog.at_level(logging.WARNING):
        with socket.create_connection((live_server.host, live_server.port), timeout=10) as s:
            s.sendall(
                (
                    "POST /v1/accounts HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\n"
                    f"Authorization: Bearer {live_server.tokens.admin}\r\n"
                    'Content-Length: 100\r\n\r\n{"platform":'
                ).encode()
            )
        time.sleep(1.0)  # the server notices the closed connection while reading the body
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR] == []
    assert live_server.container.ledger.head() == head


def test_concurrent_clients_with_if_match_get_exactly_one_success_per_version(
    live_server: LiveServer,
) -> None:
    """Six clients race to append with the same If-Match, round after round."""
    clients, rounds = 6, 5
    admin = bearer(live_server.tokens.admin)
    setup = http.client.HTTPConnection(live_server.host, live_server.port, timeout=30)
    _, _, record = call(setup, "POST", "/v1/accounts", registration(), admin)
    path = f"/v1/accounts/{record['account_id']}/events"
    results: dict[int, list[int]] = {v: [] for v in range(1, rounds + 1)}
    lock = threading.Lock()
    start = threading.Barrier(clients)
    failures: list[BaseException] = []

    def client(n: int) -> None:
        conn = http.client.HTTPConnection(live_server.host, live_server.port, timeout=60)
        try:
            for version in range(1, rounds + 1):
                body = assignment(f"holder-{version}-{n}", f"Holder {version}/{n}")
                start.wait(timeout=60)
                status, _, _ = call(conn, "POST", path, body, {**admin, "If-Match": f'"{version}"'})
                with lock:
                    results[version].append(status)
        except BaseException as e:  # reported below, in the test's thread
            failures.append(e)
            start.abort()
        finally:
            conn.close()

    threads = [threading.Thread(target=client, args=(n,)) for n in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)

    assert not failures, failures
    for version, statuses in results.items():
        assert sorted(statuses) == [201] + [412] * (clients - 1), (version, statuses)
    _, _, stream = call(setup, "GET", path, headers=admin)
    assert [e["version"] for e in stream] == list(range(1, rounds + 2))
    setup.close()


def test_the_app_builds_its_own_container_from_settings_and_closes_it(store_url: str) -> None:
    from fastapi.testclient import TestClient

    from api.http.app import create_app
    from ledger.settings import Settings

    app = create_app(settings=Settings(database_url=store_url, public_reads=True))
    with TestClient(app) as client:
        assert client.get("/health").json()["worker"]["running"] is True
        assert client.get("/v1/accounts").json() == {"accounts": [], "next_cursor": None}
        container = app.state.container
        assert container.settings.database_url == store_url
    assert container.worker is None, "the worker was stopped at shutdown"

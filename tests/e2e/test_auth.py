"""Who may do what: tokens, roles and offices, against every route; a refusal writes nothing."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient

from api.bootstrap import Container
from api.http.app import create_app
from tests.e2e.support import (
    OFFICE,
    OTHER_OFFICE,
    Tokens,
    assert_problem,
    assignment,
    bearer,
    make_container,
    registration,
)
from tests.support import FakeClock

WHEN = "2021-01-20T17:00:00Z"

# Each write route with a body a recorder of OFFICE may send; (path template, body).
WRITES: dict[str, tuple[str, dict[str, Any]]] = {
    "register": ("/v1/accounts", registration(handle="VP", platform_account_id=None)),
    "assign": ("/v1/accounts/{id}/events", assignment()),
    "rename": (
        "/v1/accounts/{id}/events",
        {"type": "handle_renamed", "handle": "P45", "effective_at": WHEN},
    ),
    "retract": (
        "/v1/accounts/{id}/events",
        {"type": "event_retracted", "event_version": 1, "effective_at": WHEN},
    ),
    "close": ("/v1/accounts/{id}/events", {"type": "account_closed", "effective_at": WHEN}),
}

CALLERS: dict[str, tuple[Callable[[Tokens], dict[str, Any]], int, str]] = {
    "no token": (lambda t: {}, 401, "unauthorized"),
    "not bearer": (lambda t: {"Authorization": f"Basic {t.admin}"}, 401, "unauthorized"),
    "bad token": (lambda t: bearer("cst_records-admin_" + "0" * 48), 401, "unauthorized"),
    "garbage token": (
        lambda t: {"Authorization": b"Bearer \xe9" + b"_" * 300},
        401,
        "unauthorized",
    ),
    "revoked token": (lambda t: bearer(t.revoked), 401, "unauthorized"),
    "reader": (lambda t: bearer(t.reader), 403, "forbidden"),
    "recorder of another office": (lambda t: bearer(t.other_recorder), 403, "forbidden"),
}

READS = [
    "/v1/accounts",
    "/v1/accounts/{id}",
    "/v1/accounts/{id}/custody",
    "/v1/accounts/{id}/events",
    "/v1/events",
    "/v1/handles/x/POTUS",
    "/v1/handles/x/POTUS/history",
    "/v1/holders/trump-45/custody",
]


@pytest.fixture
def account(register, append) -> str:
    account_id: str = register()["account_id"]
    append(account_id, assignment())
    return account_id


@pytest.mark.parametrize("route", list(WRITES))
@pytest.mark.parametrize("who", list(CALLERS))
def test_writes_are_refused_to_callers_without_the_right_and_leave_nothing_behind(
    client: TestClient,
    anonymous: TestClient,
    container: Container,
    tokens: Tokens,
    account: str,
    route: str,
    who: str,
) -> None:
    path, body = WRITES[route]
    headers, status, code = CALLERS[who]
    head = container.ledger.head()
    stream = client.get(f"/v1/accounts/{account}/events").json()

    response = anonymous.post(
        path.format(id=account), json=body, headers={**headers(tokens), "Idempotency-Key": "k"}
    )

    assert_problem(response, status, code)
    if status == 401:
        assert response.headers["www-authenticate"] == "Bearer"
    assert container.ledger.head() == head
    assert client.get(f"/v1/accounts/{account}/events").json() == stream


@pytest.mark.parametrize("who", ["no token", "bad token", "revoked token"])
def test_authentication_comes_before_the_body_and_the_path_are_read(
    anonymous: TestClient, tokens: Tokens, account: str, who: str
) -> None:
    headers, _, _ = CALLERS[who]
    for path in (f"/v1/accounts/{account}/events", "/v1/accounts/not-an-id/events"):
        response = anonymous.post(path, content=b"{not json", headers=headers(tokens))
        assert_problem(response, 401, "unauthorized")


def test_a_recorder_records_for_its_offices_under_its_own_name(
    client: TestClient, container: Container, tokens: Tokens
) -> None:
    clerk = bearer(tokens.office_recorder)

    registered = client.post("/v1/accounts", json=registration(), headers=clerk)
    assert registered.status_code == 201, registered.text
    account_id = registered.json()["account_id"]
    assigned = client.post(f"/v1/accounts/{account_id}/events", json=assignment(), headers=clerk)
    assert assigned.status_code == 201, assigned.text

    assert [registered.json()["actor"], assigned.json()["actor"]] == ["potus-clerk"] * 2
    elsewhere = registration(handle="SecState", platform_account_id=None, office=OTHER_OFFICE)
    head = container.ledger.head()
    assert_problem(client.post("/v1/accounts", json=elsewhere, headers=clerk), 403, "forbidden")
    assert container.ledger.head() == head


def test_transferring_an_account_needs_the_destination_office_too(
    client: TestClient, container: Container, tokens: Tokens, account: str
) -> None:
    transfer = {"type": "office_transferred", "office": OTHER_OFFICE, "effective_at": WHEN}
    path = f"/v1/accounts/{account}/events"
    head = container.ledger.head()

    response = client.post(path, json=transfer, headers=bearer(tokens.office_recorder))

    assert_problem(response, 403, "forbidden")
    assert container.ledger.head() == head
    for allowed in (tokens.recorder, tokens.admin):
        transfer = {**transfer, "office": f"office-{len(allowed) % 97}-{allowed[-4:].lower()}"}
        response = client.post(path, json=transfer, headers=bearer(allowed))
        assert response.status_code == 201, response.text
    # Now the account belongs to another office: its old recorder may no longer touch it.
    response = client.post(
        path, json=assignment("x-1", "X"), headers=bearer(tokens.office_recorder)
    )
    assert_problem(response, 403, "forbidden")


def test_a_recorder_may_not_reach_into_the_history_of_another_office(
    client: TestClient, container: Container, tokens: Tokens
) -> None:
    """The account came to OFFICE from OTHER_OFFICE. OFFICE's recorder may record what
    happens under OFFICE, but neither a back-dated event in OTHER_OFFICE's time nor a
    retraction of the transfer, which would hand the account back to OTHER_OFFICE."""
    admin = bearer(tokens.admin)
    body = registration(office=OTHER_OFFICE, effective_at="2018-01-01T00:00:00Z")
    account = client.post("/v1/accounts", json=body, headers=admin).json()["account_id"]
    path = f"/v1/accounts/{account}/events"
    transfer = {
        "type": "office_transferred",
        "office": OFFICE,
        "effective_at": "2019-01-01T00:00:00Z",
    }
    assert client.post(path, json=transfer, headers=admin).status_code == 201

    clerk = bearer(tokens.office_recorder)
    head = container.ledger.head()
    retract = {
        "type": "event_retracted",
        "event_version": 2,
        "effective_at": "2019-02-01T00:00:00Z",
    }
    back_dated = assignment(effective_at="2018-06-01T00:00:00Z")
    refusals = (
        retract,
        {**retract, "effective_at": "2026-01-01T00:00:00Z"},  # dated later: the same change
        {**retract, "event_version": 1},  # un-registering reaches OTHER_OFFICE's time too
        back_dated,
    )
    for refused_body in refusals:
        response = client.post(path, json=refused_body, headers=clerk)
        assert_problem(response, 403, "forbidden")
        assert OTHER_OFFICE in response.json()["detail"]
    assert container.ledger.head() == head
    in_office = assignment(effective_at="2019-06-01T00:00:00Z")
    assert client.post(path, json=in_office, headers=clerk).status_code == 201
    # Its own event, retracted by a retraction dated before it: only the event's time counts.
    own = {"type": "event_retracted", "event_version": 3, "effective_at": "2018-06-01T00:00:00Z"}
    assert client.post(path, json=own, headers=clerk).status_code == 201
    assert client.post(path, json=retract, headers=admin).status_code == 201


def test_a_recorder_may_record_its_own_era_where_the_change_stays_in_it(
    client: TestClient, container: Container, tokens: Tokens
) -> None:
    """OFFICE holds the account until a transfer to OTHER_OFFICE dated 2030. A holder OFFICE
    assigns in 2025 would still hold the account in 2030, under OTHER_OFFICE: refused. Once
    OTHER_OFFICE's own holder is recorded from 2030, the same assignment stays in OFFICE's era."""
    admin, clerk = bearer(tokens.admin), bearer(tokens.office_recorder)
    body = registration(office=OFFICE, effective_at="2018-01-01T00:00:00Z")
    account = client.post("/v1/accounts", json=body, headers=admin).json()["account_id"]
    path = f"/v1/accounts/{account}/events"
    later = "2030-01-01T00:00:00Z"
    transfer = {"type": "office_transferred", "office": OTHER_OFFICE, "effective_at": later}
    assert client.post(path, json=transfer, headers=admin).status_code == 201
    in_2025 = assignment(effective_at="2025-01-01T00:00:00Z")
    assert_problem(client.post(path, json=in_2025, headers=clerk), 403, "forbidden")
    successor = assignment("successor", "A Successor", effective_at=later)
    assert client.post(path, json=successor, headers=admin).status_code == 201
    assert client.post(path, json=in_2025, headers=clerk).status_code == 201


@pytest.mark.parametrize("path", READS)
def test_reads_need_a_valid_token(
    anonymous: TestClient, tokens: Tokens, account: str, path: str
) -> None:
    url = path.format(id=account)
    for who in ("no token", "not bearer", "bad token", "garbage token", "revoked token"):
        headers, _, _ = CALLERS[who]
        response = anonymous.get(url, headers=headers(tokens))
        assert_problem(response, 401, "unauthorized")
        assert response.headers["www-authenticate"] == "Bearer"
    for token in (tokens.reader, tokens.office_recorder, tokens.other_recorder):
        response = anonymous.get(url, headers=bearer(token))
        assert response.status_code == 200, response.text


def test_a_read_checks_the_caller_before_its_times(
    anonymous: TestClient, tokens: Tokens, account: str
) -> None:
    """A bad `at` or `known_at` is a 422 only for a caller who may read; others learn nothing."""
    for url in (
        f"/v1/accounts/{account}?at=2021-01-20T17:00:00",
        f"/v1/accounts/{account}/custody?known_at=yesterday",
        "/v1/handles/x/POTUS?known_at=2021-01-20",
    ):
        assert_problem(anonymous.get(url), 401, "unauthorized")
        bad = CALLERS["bad token"][0](tokens)
        assert_problem(anonymous.get(url, headers=bad), 401, "unauthorized")
        response = anonymous.get(url, headers=bearer(tokens.reader))
        assert response.status_code == 422, (url, response.text)


def test_health_needs_no_token(anonymous: TestClient) -> None:
    response = anonymous.get("/health")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert body["store"] in ("sqlite", "postgres")
    assert body["lag"] >= 0
    assert set(body["read_models"]) >= {"events", "segments", "custody", "handles"}
    for path in ("/health", "/"):  # load balancers probe with HEAD
        head = anonymous.head(path)
        assert (head.status_code, head.content) == (200, b""), path


def test_public_reads_let_anyone_read_but_not_write(store_url: str, clock: FakeClock) -> None:
    container = make_container(store_url, clock, public_reads=True)
    tokens = Tokens.issue(container)
    with TestClient(create_app(container=container)) as anonymous:
        registered = anonymous.post(
            "/v1/accounts", json=registration(), headers=bearer(tokens.admin)
        )
        account_id = registered.json()["account_id"]
        for path in READS[:5]:
            response = anonymous.get(path.format(id=account_id))
            assert response.status_code == 200, (path, response.text)
        bad = anonymous.get("/v1/accounts", headers=bearer("cst_x_" + "0" * 48))
        assert_problem(bad, 401, "unauthorized")
        head = container.ledger.head()
        refused = anonymous.post(f"/v1/accounts/{account_id}/events", json=assignment())
        assert_problem(refused, 401, "unauthorized")
        assert container.ledger.head() == head
    container.close()


def test_the_office_of_the_account_is_checked_not_the_office_in_the_body(
    client: TestClient, container: Container, tokens: Tokens, register
) -> None:
    """A recorder of another office cannot reach an account by naming its own office."""
    account_id = register(office=OFFICE)["account_id"]
    sneaky = {"type": "office_transferred", "office": OTHER_OFFICE, "effective_at": WHEN}
    head = container.ledger.head()
    response = client.post(
        f"/v1/accounts/{account_id}/events", json=sneaky, headers=bearer(tokens.other_recorder)
    )
    assert_problem(response, 403, "forbidden")
    assert container.ledger.head() == head

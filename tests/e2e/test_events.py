"""Appending custody events over HTTP: every type, If-Match, Idempotency-Key, the streams."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from api.bootstrap import Container
from ledger.backfill import import_file
from tests.e2e.support import assert_problem, assignment

SHA = "a" * 64
WHEN = "2021-01-20T17:00:00Z"

EVENTS: list[tuple[dict[str, Any], dict[str, Any]]] = [
    (assignment(), {"holder": {"id": "trump-45", "name": "Donald J. Trump"}}),
    ({"type": "holder_released", "effective_at": WHEN}, {}),
    ({"type": "handle_renamed", "handle": "@POTUS45", "effective_at": WHEN}, {"handle": "POTUS45"}),
    (
        {
            "type": "history_archived",
            "archive": {"ref": "nara:potus45", "sha256": SHA, "items": 7},
            "effective_at": WHEN,
        },
        {"archive": {"ref": "nara:potus45", "sha256": SHA, "items": 7}},
    ),
    (
        {"type": "office_transferred", "office": "national-archives", "effective_at": WHEN},
        {"office": "national-archives"},
    ),
    ({"type": "account_closed", "effective_at": WHEN, "reason": "end of term"}, {}),
    ({"type": "event_retracted", "event_version": 7, "effective_at": WHEN}, {"event_version": 7}),
]


def test_every_event_type_is_appended_and_returned_as_an_event_record(
    client: TestClient, register
) -> None:
    account_id = register()["account_id"]

    for version, (body, data) in enumerate(EVENTS, start=2):
        response = client.post(f"/v1/accounts/{account_id}/events", json=body)
        assert response.status_code == 201, response.text
        assert response.headers["etag"] == f'"{version}"'
        record = response.json()
        assert record["account_id"] == account_id
        assert record["version"] == version
        assert record["type"] == body["type"]
        assert record["data"] == data
        assert record["actor"] == "records-admin"
        assert record["attributed_to"] is None  # written directly: nobody else is named
        assert record["retracted_by"] is None

    stream = client.get(f"/v1/accounts/{account_id}/events").json()
    assert [e["type"] for e in stream] == ["account_registered"] + [b["type"] for b, _ in EVENTS]
    assert [e["version"] for e in stream] == list(range(1, 9))
    assert stream[6]["retracted_by"] == 8, "the closure was retracted by version 8"
    state = client.get(f"/v1/accounts/{account_id}").json()
    assert state["status"] == "active"
    assert state["handle"] == "POTUS45"
    assert state["office"] == "national-archives"
    assert state["archives"] == [
        {"ref": "nara:potus45", "sha256": SHA, "items": 7, "effective_at": WHEN}
    ]


def test_the_global_log_pages_in_position_order(client: TestClient, register, append) -> None:
    a = register()["account_id"]
    b = register(handle="FLOTUS", platform_account_id=None)["account_id"]
    append(a, assignment())

    first = client.get("/v1/events", params={"limit": 2}).json()
    assert [(e["account_id"], e["version"]) for e in first["events"]] == [(a, 1), (b, 1)]
    assert first["next_after"] == first["events"][-1]["position"]
    rest = client.get("/v1/events", params={"after": first["next_after"]}).json()
    assert [(e["account_id"], e["version"]) for e in rest["events"]] == [(a, 2)]
    empty = client.get("/v1/events", params={"after": rest["next_after"]}).json()
    assert empty == {"events": [], "next_after": rest["next_after"]}
    for params in ({"limit": 1001}, {"limit": 0}, {"after": -1}, {"after": "x"}):
        assert_problem(client.get("/v1/events", params=params), 422, "invalid-input")


def test_an_imported_event_shows_who_imported_it_and_whom_the_file_attributes_it_to(
    client: TestClient, container: Container, register, append, tmp_path: Path
) -> None:
    """A file says the reader token (dispute-panel) recorded the handover; over HTTP the event is by the
    import's runner, attributed to the reader, and the recorder's own write beside it is not
    attributed to anyone."""
    account_id = register()["account_id"]
    path = tmp_path / "backfill.jsonl"
    line = {"account_id": account_id, **assignment(), "actor": "dispute-panel"}
    path.write_text(json.dumps(line) + "\n", encoding="utf-8")
    import_file(container.ledger, path, actor="import:clerk")
    append(account_id, {"type": "holder_released", "effective_at": WHEN})

    stream = client.get(f"/v1/accounts/{account_id}/events").json()
    assert [(e["version"], e["actor"], e["attributed_to"]) for e in stream] == [
        (1, "records-admin", None),
        (2, "import:clerk", "dispute-panel"),
        (3, "records-admin", None),
    ]
    page = client.get("/v1/events").json()["events"]
    assert [(e["actor"], e["attributed_to"]) for e in page][-2:] == [
        ("import:clerk", "dispute-panel"),
        ("records-admin", None),
    ]


@pytest.mark.parametrize("if_match", ['"1"', "1", ' "1" '])
def test_if_match_with_the_current_version_appends(
    client: TestClient, register, if_match: str
) -> None:
    account_id = register()["account_id"]
    response = client.post(
        f"/v1/accounts/{account_id}/events", json=assignment(), headers={"If-Match": if_match}
    )
    assert response.status_code == 201, response.text
    assert response.json()["version"] == 2


def test_a_stale_if_match_is_412_and_writes_nothing(
    client: TestClient, container: Container, register, append
) -> None:
    account_id = register()["account_id"]
    append(account_id, assignment())
    head = container.ledger.head()

    response = client.post(
        f"/v1/accounts/{account_id}/events",
        json={"type": "holder_released", "effective_at": WHEN},
        headers={"If-Match": '"1"'},
    )

    body = assert_problem(response, 412, "stale-version")
    assert (body["expected_version"], body["current_version"]) == (1, 2)
    assert container.ledger.head() == head


@pytest.mark.parametrize("if_match", ["*", 'W/"1"', '"one"', '"1', "-1", '"1", "2"', ""])
def test_an_if_match_that_is_not_a_version_is_422(
    client: TestClient, register, if_match: str
) -> None:
    account_id = register()["account_id"]
    response = client.post(
        f"/v1/accounts/{account_id}/events", json=assignment(), headers={"If-Match": if_match}
    )
    body = assert_problem(response, 422, "invalid-input")
    assert body["errors"][0]["loc"] == ["If-Match"]


def test_retrying_with_the_same_idempotency_key_returns_the_original_response(
    client: TestClient, container: Container
) -> None:
    from tests.e2e.support import registration

    key = {"Idempotency-Key": "register-potus-2017"}
    first = client.post("/v1/accounts", json=registration(), headers=key)
    head = container.ledger.head()
    again = client.post("/v1/accounts", json=registration(), headers=key)

    assert (first.status_code, again.status_code) == (201, 201)
    assert again.json() == first.json()
    assert again.headers["location"] == first.headers["location"]
    assert container.ledger.head() == head

    account_id = first.json()["account_id"]
    key = {"Idempotency-Key": "assign-trump"}
    one = client.post(f"/v1/accounts/{account_id}/events", json=assignment(), headers=key)
    two = client.post(f"/v1/accounts/{account_id}/events", json=assignment(), headers=key)
    assert (one.status_code, two.status_code) == (201, 201)
    assert two.json() == one.json()


def test_reusing_an_idempotency_key_for_a_different_body_is_422(
    client: TestClient, container: Container, register
) -> None:
    account_id = register()["account_id"]
    key = {"Idempotency-Key": "assign"}
    client.post(f"/v1/accounts/{account_id}/events", json=assignment(), headers=key)
    head = container.ledger.head()

    response = client.post(
        f"/v1/accounts/{account_id}/events",
        json=assignment("biden-46", "Joseph R. Biden"),
        headers=key,
    )

    assert_problem(response, 422, "idempotency-key-reused")
    assert container.ledger.head() == head

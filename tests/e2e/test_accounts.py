"""Registering accounts and reading their state, timelines and listings over HTTP."""

from __future__ import annotations

from uuid import UUID, uuid4

from fastapi.testclient import TestClient

from tests.e2e.support import OFFICE, PRESIDENT_ID, assert_problem, assignment, registration
from tests.support import FakeClock


def test_registering_returns_201_the_event_record_and_where_the_account_lives(
    client: TestClient,
) -> None:
    response = client.post("/v1/accounts", json=registration())

    assert response.status_code == 201
    record = response.json()
    account_id = UUID(record["account_id"])
    assert response.headers["location"] == f"/v1/accounts/{account_id}"
    assert response.headers["etag"] == '"1"'
    assert record["version"] == 1
    assert record["type"] == "account_registered"
    assert record["effective_at"] == "2017-01-20T17:00:00Z"
    assert record["recorded_at"].endswith("Z")
    assert record["actor"] == "records-admin"
    assert record["reason"] == "official account of the President"
    assert record["evidence"] == [{"url": "https://records.example.gov/potus", "sha256": None}]
    assert record["data"] == {
        "platform": "x",
        "platform_account_id": PRESIDENT_ID,
        "handle": "POTUS",
        "office": OFFICE,
    }
    assert record["retracted_by"] is None
    assert isinstance(record["position"], int)


def test_the_account_reads_back_as_registered_with_its_current_version_as_etag(
    client: TestClient, register, append
) -> None:
    account_id = register()["account_id"]
    append(account_id, assignment())

    response = client.get(f"/v1/accounts/{account_id}")

    assert response.status_code == 200
    assert response.headers["etag"] == '"2"'
    body = response.json()
    assert body["account_id"] == account_id
    assert body["platform"] == "x"
    assert body["platform_account_id"] == PRESIDENT_ID
    assert body["handle"] == "POTUS"
    assert body["office"] == OFFICE
    assert body["status"] == "active"
    assert body["holder"] == {
        "id": "trump-45",
        "name": "Donald J. Trump",
        "since": "2017-01-20T17:00:00Z",
    }
    assert body["archives"] == []
    assert body["version"] == 2
    assert body["known_at"] is None
    assert [p["version"] for p in body["established_by"]] == [1, 2]
    assert body["established_by"][1]["actor"] == "records-admin"


def test_state_at_a_valid_time_as_known_at_a_record_time(
    client: TestClient, register, append, clock: FakeClock
) -> None:
    account_id = register()["account_id"]
    before_assignment = clock.now.isoformat()
    append(account_id, assignment())

    then = client.get(
        f"/v1/accounts/{account_id}",
        params={"at": "2018-01-01T00:00:00+01:00", "known_at": before_assignment},
    )

    assert then.status_code == 200
    body = then.json()
    assert body["holder"] is None, "the assignment was not yet known"
    assert body["version"] == 1
    assert body["at"] == "2017-12-31T23:00:00Z"
    assert then.headers["etag"] == '"2"', "the ETag carries the version as known now"
    now = client.get(f"/v1/accounts/{account_id}", params={"at": "2018-01-01T00:00:00Z"})
    assert now.json()["holder"]["id"] == "trump-45"


def test_an_account_that_did_not_exist_at_that_time_is_404_saying_so(
    client: TestClient, register
) -> None:
    account_id = register()["account_id"]

    response = client.get(f"/v1/accounts/{account_id}", params={"at": "2016-01-01T00:00:00Z"})

    body = assert_problem(response, 404, "account-not-in-effect")
    assert "did not exist at 2016-01-01T00:00:00Z" in body["detail"]


def test_an_unknown_account_is_404(client: TestClient) -> None:
    unknown = uuid4()
    for path in (f"/v1/accounts/{unknown}", f"/v1/accounts/{unknown}/custody"):
        body = assert_problem(client.get(path), 404, "account-not-found")
        assert str(unknown) in body["detail"]


def test_query_times_without_an_offset_or_not_times_at_all_are_422(
    client: TestClient, register
) -> None:
    account_id = register()["account_id"]
    for params in (
        {"at": "2018-01-01T00:00:00"},
        {"known_at": "2026-01-01T00:00:00"},
        {"at": "yesterday"},
        {"at": "2018-01-01"},
    ):
        response = client.get(f"/v1/accounts/{account_id}", params=params)
        body = assert_problem(response, 422, "invalid-input")
        assert body["errors"][0]["loc"] == list(params)


def test_a_malformed_account_id_is_422(client: TestClient) -> None:
    body = assert_problem(client.get("/v1/accounts/not-a-uuid"), 422, "invalid-input")
    assert body["errors"][0]["loc"] == ["path", "account_id"]


def test_the_custody_timeline_lists_holder_intervals_with_vacancies_as_gaps(
    client: TestClient, register, append
) -> None:
    account_id = register()["account_id"]
    append(account_id, assignment())
    append(account_id, {"type": "holder_released", "effective_at": "2021-01-20T17:00:00Z"})
    append(
        account_id,
        assignment("biden-46", "Joseph R. Biden", effective_at="2021-01-20T18:00:00Z"),
    )

    response = client.get(f"/v1/accounts/{account_id}/custody")

    assert response.status_code == 200
    body = response.json()
    assert body["account_id"] == account_id
    assert body["known_at"] is None
    intervals = [
        (i["holder"], i["from"], i["to"], [p["version"] for p in i["established_by"]])
        for i in body["intervals"]
    ]
    assert intervals == [
        (
            {"id": "trump-45", "name": "Donald J. Trump"},
            "2017-01-20T17:00:00Z",
            "2021-01-20T17:00:00Z",
            [2, 3],
        ),
        ({"id": "biden-46", "name": "Joseph R. Biden"}, "2021-01-20T18:00:00Z", None, [4]),
    ]


def test_accounts_are_listed_by_filter_and_paginated(client: TestClient, register) -> None:
    ids = sorted(
        [
            register(handle=f"acct{n}", platform_account_id=None, office=office)["account_id"]
            for n, office in enumerate([OFFICE, OFFICE, OFFICE, "state-department"])
        ]
    )
    ours = [i for i in ids if client.get(f"/v1/accounts/{i}").json()["office"] == OFFICE]

    first = client.get("/v1/accounts", params={"office": OFFICE, "limit": 2})
    assert first.status_code == 200
    page = first.json()
    assert [a["account_id"] for a in page["accounts"]] == ours[:2]
    assert page["next_cursor"] is not None
    second = client.get(
        "/v1/accounts", params={"office": OFFICE, "limit": 2, "cursor": page["next_cursor"]}
    ).json()
    assert [a["account_id"] for a in second["accounts"]] == ours[2:]
    assert second["next_cursor"] is None

    everything = client.get("/v1/accounts", params={"platform": "x", "status": "active"}).json()
    assert [a["account_id"] for a in everything["accounts"]] == ids
    assert everything["accounts"][0]["holder"] is None
    before = client.get("/v1/accounts", params={"at": "2016-01-01T00:00:00Z"}).json()
    assert before["accounts"] == []
    closed = client.get("/v1/accounts", params={"status": "closed"}).json()
    assert closed["accounts"] == []


def test_listing_parameters_out_of_range_are_422(client: TestClient) -> None:
    for params in (
        {"limit": 0},
        {"limit": 1001},
        {"status": "dormant"},
        {"cursor": "not-ours"},
        {"office": "Not An Office"},
        {"at": "2018-01-01T00:00:00"},
    ):
        assert_problem(client.get("/v1/accounts", params=params), 422, "invalid-input")

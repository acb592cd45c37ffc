"""Who carried a handle when, and what a holder held: the handover of @POTUS in 2021."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from tests.e2e.support import assert_problem, assignment
from tests.support import FakeClock

HANDOVER = "2021-01-20T17:00:00Z"


@pytest.fixture
def handover(register, append) -> tuple[str, str]:
    """@POTUS moves from the 45th president's account to the 46th's at noon on 20 Jan 2021."""
    first = register()["account_id"]
    append(first, assignment())
    append(first, {"type": "holder_released", "effective_at": HANDOVER})
    append(first, {"type": "handle_renamed", "handle": "POTUS45", "effective_at": HANDOVER})
    append(
        first,
        {"type": "office_transferred", "office": "national-archives", "effective_at": HANDOVER},
    )
    second = register(platform_account_id="1349149096909668363", effective_at=HANDOVER)
    append(second["account_id"], assignment("biden-46", "Joseph R. Biden", effective_at=HANDOVER))
    return first, second["account_id"]


def test_the_handle_belongs_to_the_account_that_carried_it_at_that_time(
    client: TestClient, handover: tuple[str, str]
) -> None:
    first, second = handover

    in_2018 = client.get("/v1/handles/x/potus", params={"at": "2018-06-01T00:00:00Z"})
    in_2022 = client.get("/v1/handles/x/@POTUS", params={"at": "2022-06-01T00:00:00Z"})

    assert in_2018.status_code == 200
    body = in_2018.json()
    assert body["platform"] == "x"
    assert body["handle"] == "POTUS"
    assert body["at"] == "2018-06-01T00:00:00Z"
    assert body["known_at"] is None
    assert body["account_id"] == first
    assert body["office"] == "us-president"
    assert body["holder"]["id"] == "trump-45"
    assert in_2022.json()["account_id"] == second
    assert in_2022.json()["holder"]["id"] == "biden-46"
    renamed = client.get("/v1/handles/x/potus45", params={"at": "2022-06-01T00:00:00Z"}).json()
    assert (renamed["account_id"], renamed["office"]) == (first, "national-archives")


def test_as_known_before_the_second_registration_nobody_carried_the_handle_in_2022(
    client: TestClient, register, append, clock: FakeClock
) -> None:
    first = register()["account_id"]
    append(first, {"type": "handle_renamed", "handle": "POTUS45", "effective_at": HANDOVER})
    before = clock.now.isoformat()
    register(platform_account_id=None, effective_at=HANDOVER)

    then = client.get(
        "/v1/handles/x/POTUS", params={"at": "2022-01-01T00:00:00Z", "known_at": before}
    )

    problem = assert_problem(then, 404, "handle-not-in-effect")
    assert "@POTUS" in problem["detail"]
    assert client.get("/v1/handles/x/POTUS", params={"at": "2022-01-01T00:00:00Z"}).is_success


def test_a_handle_never_carried_is_404_and_a_bad_one_422(client: TestClient, handover) -> None:
    assert_problem(client.get("/v1/handles/x/FLOTUS"), 404, "handle-not-found")
    assert_problem(client.get("/v1/handles/mastodon/POTUS"), 404, "handle-not-found")
    assert_problem(client.get("/v1/handles/x/not%20a%20handle"), 422, "invalid-input")
    assert_problem(client.get("/v1/handles/X/POTUS"), 422, "invalid-input")
    at = {"at": "2016-01-01T00:00:00Z"}
    assert_problem(client.get("/v1/handles/x/POTUS", params=at), 404, "handle-not-in-effect")


def test_the_handle_history_lists_every_account_that_carried_it(
    client: TestClient, handover: tuple[str, str]
) -> None:
    first, second = handover

    body = client.get("/v1/handles/x/POTUS/history").json()

    assert [(i["account_id"], i["handle"], i["from"], i["to"]) for i in body["intervals"]] == [
        (first, "POTUS", "2017-01-20T17:00:00Z", HANDOVER),
        (second, "POTUS", HANDOVER, None),
    ]


def test_a_handle_no_account_ever_carried_is_404_for_its_history_too(
    client: TestClient, handover: tuple[str, str]
) -> None:
    assert_problem(client.get("/v1/handles/x/NeverSeen/history"), 404, "handle-not-found")
    assert_problem(client.get("/v1/handles/x/NeverSeen"), 404, "handle-not-found")
    future = client.get(
        "/v1/handles/x/NeverSeen/history", params={"known_at": "2999-01-01T00:00:00Z"}
    )
    assert_problem(future, 404, "handle-not-found")
    # Known, but not yet as known then: the record then was empty, which is an answer.
    early = client.get("/v1/handles/x/POTUS/history", params={"known_at": "2000-01-01T00:00:00Z"})
    assert (early.status_code, early.json()["intervals"]) == (200, [])
    gap = client.get("/v1/handles/x/POTUS", params={"at": "2000-01-01T00:00:00Z"})
    assert (
        "at 2000-01-01T00:00:00Z as known now"
        in assert_problem(gap, 404, "handle-not-in-effect")["detail"]
    )


def test_a_holder_custody_lists_every_account_held_and_when(
    client: TestClient, handover: tuple[str, str], append
) -> None:
    first, second = handover

    trump = client.get("/v1/holders/trump-45/custody")
    biden = client.get("/v1/holders/biden-46/custody").json()

    assert trump.status_code == 200
    body = trump.json()
    assert body["holder_id"] == "trump-45"
    assert body["known_at"] is None
    assert [(i["account_id"], i["handle"], i["from"], i["to"]) for i in body["intervals"]] == [
        (first, "POTUS", "2017-01-20T17:00:00Z", HANDOVER)
    ]
    assert [(i["account_id"], i["from"], i["to"]) for i in biden["intervals"]] == [
        (second, HANDOVER, None)
    ]


def test_a_holder_never_recorded_is_404_and_a_malformed_id_422(client: TestClient) -> None:
    assert_problem(client.get("/v1/holders/nobody/custody"), 404, "holder-not-found")
    assert_problem(client.get("/v1/holders/-bad/custody"), 422, "invalid-input")
    response = client.get("/v1/holders/nobody/custody", params={"known_at": "2020-01-01"})
    assert_problem(response, 422, "invalid-input")

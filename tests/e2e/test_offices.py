"""Offices, personal accounts and audiences over HTTP: registering an office and recording who
holds it, accounts that say whose they are, the office answers, tenures and handovers, the
findings, the global feed, and a proof of an account answer with the new fields. The story is
the seed's: in December 2016 the DG ISPR's 3.05 million followers left with Asim Saleem Bajwa
on @AsimBajwaISPR, while @ISPR_Official stayed with the office and Asif Ghafoor started on a
new @OfficialDGISPR. Every refusal is checked to have written nothing."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from api.bootstrap import Container
from api.http.app import create_app
from ledger.tlog.keyfile import create_key
from ledger.tlog.note import Signer
from ledger.tlog.verify import Policy, VerifyError, verify_answer
from tests.e2e.support import OFFICE, OTHER_OFFICE, Tokens, assert_problem, bearer, make_container
from tests.support import FakeClock

ISPR = "pk-dg-ispr"
CM_PUNJAB = "pk-pb-chief-minister"
ISPR_NAME = "Director General, Inter-Services Public Relations"
BAJWA = {"id": "asim-saleem-bajwa", "name": "Asim Saleem Bajwa"}
GHAFOOR = {"id": "asif-ghafoor", "name": "Asif Ghafoor"}
SHAHBAZ = {"id": "shahbaz-sharif", "name": "Shahbaz Sharif"}
TRUMP = {"id": "trump-45", "name": "Donald J. Trump"}
CM_FROM = "2010-04-01T00:00:00Z"
US_FROM = "2017-01-20T17:00:00Z"
ISPR_FROM = "2012-05-01T00:00:00Z"
HANDOVER = "2016-12-25T00:00:00Z"
DAY_AFTER = "2016-12-26T00:00:00Z"
SOURCE = {"url": "https://www.dawn.com/news/1304515", "sha256": None}
ORIGIN = "test.example/offices"


# -- requests --------------------------------------------------------------------------------


def office_body(office: str = ISPR, **overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "office": office,
        "name": ISPR_NAME,
        "jurisdiction": "PK",
        "effective_at": ISPR_FROM,
        "reason": "Bajwa's tenure began about May 2012; the day is not in the sources.",
        "evidence": [{"url": SOURCE["url"]}],
    }
    body.update(overrides)
    return {k: v for k, v in body.items() if v is not None}


def created(response: Any) -> dict[str, Any]:
    assert response.status_code == 201, response.text
    return response.json()  # type: ignore[no-any-return]


def register_office(client: TestClient, office: str = ISPR, **overrides: Any) -> dict[str, Any]:
    return created(client.post("/v1/offices", json=office_body(office, **overrides)))


def office_event(client: TestClient, office: str, body: dict[str, Any]) -> dict[str, Any]:
    return created(client.post(f"/v1/offices/{office}/events", json=body))


def assign(holder: dict[str, str], when: str) -> dict[str, Any]:
    return {"type": "holder_assigned", "holder": holder, "effective_at": when}


def account(client: TestClient, handle: str, when: str = ISPR_FROM, **fields: Any) -> str:
    body = {"platform": "x", "handle": handle, "effective_at": when, **fields}
    return str(created(client.post("/v1/accounts", json=body))["account_id"])


def personal(client: TestClient, handle: str, owner: dict[str, str], **fields: Any) -> str:
    return account(client, handle, ownership="personal", owner=owner, **fields)


def account_event(client: TestClient, account_id: str, body: dict[str, Any]) -> dict[str, Any]:
    return created(client.post(f"/v1/accounts/{account_id}/events", json=body))


def observe(followers: int, when: str) -> dict[str, Any]:
    return {
        "type": "audience_observed",
        "followers": followers,
        "effective_at": when,
        "evidence": [{"url": "https://propakistani.pk/2016/12/dg-ispr-accounts"}],
    }


def written(client: TestClient, container: Container, path: str) -> tuple[int, Any]:
    """What a refusal must leave as it was: the log's head and the stream at `path`."""
    response = client.get(path)
    return container.ledger.head(), (response.status_code, response.json())


def pick(body: dict[str, Any], *keys: str) -> tuple[Any, ...]:
    return tuple(body[k] for k in keys)


def handles(accounts: list[dict[str, Any]]) -> list[str]:
    return sorted(a["handle"] for a in accounts)


def summary(findings: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
    return [
        (f["kind"], f["office"], f["handle"], f["from"], f["to"], f["followers"]) for f in findings
    ]


# -- the stories -----------------------------------------------------------------------------


@dataclass
class Ispr:
    """The DG ISPR office in December 2016, as recorded (ids of its accounts)."""

    office_account: str  # @ISPR_Official, the office's own
    bajwa_account: str  # @AsimBajwaISPR, Bajwa's own, speaking for the office until he left
    successor_account: str  # @OfficialDGISPR, the office's, from the handover
    observation: int  # the version of @AsimBajwaISPR's 3.05 million observation
    before_handover: str  # a record time before Ghafoor's assignment was recorded


@pytest.fixture
def ispr(client: TestClient, clock: FakeClock) -> Ispr:
    register_office(client)
    office_event(client, ISPR, assign(BAJWA, ISPR_FROM))
    own = account(client, "ISPR_Official", office=ISPR)
    bajwas = personal(client, "AsimBajwaISPR", BAJWA, office=ISPR)
    seen = account_event(client, bajwas, observe(3_050_000, DAY_AFTER))["version"]
    before_handover = clock.now.isoformat()
    office_event(client, ISPR, assign(GHAFOOR, HANDOVER))
    account_event(client, bajwas, {"type": "official_use_ended", "effective_at": HANDOVER})
    successor = account(client, "OfficialDGISPR", HANDOVER, office=ISPR)
    return Ispr(own, bajwas, successor, seen, before_handover)


@dataclass
class Offices:
    """Three jurisdictions: ISPR (PK), the Chief Minister of Punjab (PK-PB), the US President."""

    ispr: Ispr
    cm_account: str  # @CMShehbaz, Shahbaz Sharif's own
    before_us: str  # a record time before the US office was registered


@pytest.fixture
def offices(client: TestClient, clock: FakeClock, ispr: Ispr) -> Offices:
    cm_office = {
        "name": "Chief Minister of Punjab",
        "jurisdiction": "PK-PB",
        "effective_at": CM_FROM,
    }
    register_office(client, CM_PUNJAB, **cm_office)
    office_event(client, CM_PUNJAB, assign(SHAHBAZ, CM_FROM))
    cm = personal(client, "CMShehbaz", SHAHBAZ, office=CM_PUNJAB, when=CM_FROM)
    account_event(client, cm, observe(2_100_000, DAY_AFTER))
    before_us = clock.now.isoformat()
    president = {"name": "President of the United States", "jurisdiction": "US"}
    register_office(client, OFFICE, **president, effective_at=US_FROM)
    office_event(client, OFFICE, assign(TRUMP, US_FROM))
    return Offices(ispr, cm, before_us)


# -- registering an office -------------------------------------------------------------------


def test_registering_an_office_returns_201_its_event_record_and_where_it_lives(
    client: TestClient,
) -> None:
    response = client.post("/v1/offices", json=office_body())

    record = created(response)
    assert response.headers["location"] == f"/v1/offices/{ISPR}"
    assert response.headers["etag"] == '"1"'
    assert isinstance(record.pop("position"), int)
    assert record.pop("recorded_at").endswith("Z")
    assert record == {
        "account_id": None,
        "office": ISPR,
        "dispute_id": None,
        "version": 1,
        "type": "office_registered",
        "effective_at": ISPR_FROM,
        "actor": "records-admin",
        "attributed_to": None,
        "reason": "Bajwa's tenure began about May 2012; the day is not in the sources.",
        "evidence": [SOURCE],
        "data": {"office": ISPR, "name": ISPR_NAME, "jurisdiction": "PK"},
        "retracted_by": None,
    }
    stream = client.get(f"/v1/offices/{ISPR}/events").json()
    assert [(e["version"], e["type"], e["office"], e["account_id"]) for e in stream] == [
        (1, "office_registered", ISPR, None)
    ]


def test_registering_an_office_twice_is_409_and_writes_nothing(
    client: TestClient, container: Container
) -> None:
    register_office(client)
    before = written(client, container, f"/v1/offices/{ISPR}/events")

    response = client.post("/v1/offices", json=office_body(name="Another name"))

    body = assert_problem(response, 409, "office-exists")
    assert ISPR in body["detail"]
    assert written(client, container, f"/v1/offices/{ISPR}/events") == before


BAD_OFFICES: list[tuple[dict[str, Any], str]] = [
    ({"office": "PK DG ISPR"}, "office"),
    ({"office": "-dg-ispr"}, "office"),
    ({"jurisdiction": "pk"}, "jurisdiction"),
    ({"jurisdiction": "PAK"}, "jurisdiction"),
    ({"jurisdiction": "P1"}, "jurisdiction"),
    ({"name": None}, "name"),
    ({"name": "Director General\nISPR"}, "name"),
    ({"name": "Director\u202eGeneral"}, "name"),
]


def test_an_office_registration_that_fails_validation_is_422_naming_the_field(
    client: TestClient, container: Container
) -> None:
    head = container.ledger.head()

    for change, field in BAD_OFFICES:
        response = client.post("/v1/offices", json=office_body(**change))
        body = assert_problem(response, 422, "invalid-input")
        assert body["errors"][0]["loc"] == [field], change

    assert container.ledger.head() == head


def test_only_recorders_register_offices_and_an_office_recorder_only_its_own(
    client: TestClient, anonymous: TestClient, container: Container, tokens: Tokens
) -> None:
    head = container.ledger.head()
    assert_problem(anonymous.post("/v1/offices", json=office_body()), 401, "unauthorized")
    as_reader = anonymous.post("/v1/offices", json=office_body(), headers=bearer(tokens.reader))
    assert_problem(as_reader, 403, "forbidden")
    clerk = bearer(tokens.office_recorder)  # may record for OFFICE only
    elsewhere = anonymous.post("/v1/offices", json=office_body(OTHER_OFFICE), headers=clerk)
    body = assert_problem(elsewhere, 403, "forbidden")
    assert OTHER_OFFICE in body["detail"]
    assert container.ledger.head() == head
    for key in (ISPR, OTHER_OFFICE):
        assert_problem(client.get(f"/v1/offices/{key}"), 404, "office-not-found")

    own = anonymous.post("/v1/offices", json=office_body(OFFICE, jurisdiction="US"), headers=clerk)

    assert created(own)["actor"] == "potus-clerk"
    assert own.headers["location"] == f"/v1/offices/{OFFICE}"


# -- recording who holds an office -----------------------------------------------------------


def test_a_handover_ends_the_predecessors_tenure_at_that_instant(client: TestClient) -> None:
    register_office(client)
    assigned = office_event(client, ISPR, assign(BAJWA, ISPR_FROM))
    assert (assigned["office"], assigned["account_id"], assigned["version"]) == (ISPR, None, 2)
    assert assigned["data"] == {"holder": BAJWA}

    response = client.post(f"/v1/offices/{ISPR}/events", json=assign(GHAFOOR, HANDOVER))

    assert created(response)["version"] == 3
    assert response.headers["etag"] == '"3"'
    tenures = client.get(f"/v1/offices/{ISPR}/tenures").json()
    assert (tenures["office"], tenures["known_at"]) == (ISPR, None)
    assert [
        (t["holder"], t["from"], t["to"], [p["version"] for p in t["established_by"]])
        for t in tenures["tenures"]
    ] == [(BAJWA, ISPR_FROM, HANDOVER, [2, 3]), (GHAFOOR, HANDOVER, None, [3])]


def test_a_release_leaves_the_office_vacant_and_a_second_release_is_422(
    client: TestClient, container: Container
) -> None:
    register_office(client)
    office_event(client, ISPR, assign(BAJWA, ISPR_FROM))
    release = {"type": "holder_released", "effective_at": "2016-11-29T00:00:00Z"}
    assert office_event(client, ISPR, release)["data"] == {}
    path = f"/v1/offices/{ISPR}/events"
    before = written(client, container, path)

    again = client.post(path, json={**release, "effective_at": "2016-12-01T00:00:00Z"})

    assert_problem(again, 422, "no-holder")
    assert written(client, container, path) == before
    tenures = client.get(f"/v1/offices/{ISPR}/tenures").json()["tenures"]
    assert [(t["holder"], t["from"], t["to"]) for t in tenures] == [
        (BAJWA, ISPR_FROM, "2016-11-29T00:00:00Z")
    ]
    vacant = client.get(f"/v1/offices/{ISPR}", params={"at": "2016-12-10T00:00:00Z"}).json()
    assert (vacant["tenure_known"], vacant["holder"]) == (True, None)
    assert [p["type"] for p in vacant["established_by"]] == ["office_registered", "holder_released"]


def test_retracting_a_handover_restores_the_predecessor_as_known_after_it_only(
    client: TestClient, clock: FakeClock
) -> None:
    register_office(client)
    office_event(client, ISPR, assign(BAJWA, ISPR_FROM))
    office_event(client, ISPR, assign(GHAFOOR, "2016-12-15T00:00:00Z"))  # the appointment day
    before_retraction = clock.now.isoformat()

    retraction = office_event(
        client,
        ISPR,
        {
            "type": "event_retracted",
            "event_version": 3,
            "effective_at": HANDOVER,
            "reason": "Appointed on 2016-12-15; he took charge on 2016-12-25 (Dawn).",
        },
    )
    office_event(client, ISPR, assign(GHAFOOR, HANDOVER))

    assert (retraction["version"], retraction["data"]) == (4, {"event_version": 3})
    stream = client.get(f"/v1/offices/{ISPR}/events").json()
    assert [(e["version"], e["type"], e["retracted_by"]) for e in stream] == [
        (1, "office_registered", None),
        (2, "holder_assigned", None),
        (3, "holder_assigned", 4),
        (4, "event_retracted", None),
        (5, "holder_assigned", None),
    ]

    def tenures(**params: str) -> list[tuple[str, str, str | None]]:
        body = client.get(f"/v1/offices/{ISPR}/tenures", params=params).json()
        return [(t["holder"]["id"], t["from"], t["to"]) for t in body["tenures"]]

    assert tenures() == [
        ("asim-saleem-bajwa", ISPR_FROM, HANDOVER),
        ("asif-ghafoor", HANDOVER, None),
    ]
    assert tenures(known_at=before_retraction) == [
        ("asim-saleem-bajwa", ISPR_FROM, "2016-12-15T00:00:00Z"),
        ("asif-ghafoor", "2016-12-15T00:00:00Z", None),
    ]
    on_the_20th = {"at": "2016-12-20T00:00:00Z"}
    now = client.get(f"/v1/offices/{ISPR}", params=on_the_20th).json()
    then = client.get(
        f"/v1/offices/{ISPR}", params={**on_the_20th, "known_at": before_retraction}
    ).json()
    assert (now["holder"]["id"], then["holder"]["id"]) == ("asim-saleem-bajwa", "asif-ghafoor")
    assert then["known_at"] == before_retraction.replace("+00:00", "Z")


def test_an_account_event_type_on_an_office_stream_is_422_naming_type(
    client: TestClient, container: Container
) -> None:
    register_office(client)
    path = f"/v1/offices/{ISPR}/events"
    before = written(client, container, path)

    for kind in (
        "handle_renamed",
        "official_use_started",
        "audience_observed",
        "office_registered",
    ):
        body = {"type": kind, "office": ISPR, "followers": 1, "effective_at": HANDOVER}
        problem = assert_problem(client.post(path, json=body), 422, "invalid-input")
        assert problem["errors"][0]["loc"] == ["type"], kind

    assert written(client, container, path) == before


def test_an_office_nobody_registered_is_404_for_its_events(
    client: TestClient, container: Container
) -> None:
    head = container.ledger.head()

    response = client.post(f"/v1/offices/{ISPR}/events", json=assign(BAJWA, ISPR_FROM))

    body = assert_problem(response, 404, "office-not-found")
    assert ISPR in body["detail"]
    assert container.ledger.head() == head


def test_a_stale_if_match_on_an_office_stream_is_412_and_writes_nothing(
    client: TestClient, container: Container
) -> None:
    register_office(client)
    path = f"/v1/offices/{ISPR}/events"
    fresh = client.post(path, json=assign(BAJWA, ISPR_FROM), headers={"If-Match": '"1"'})
    assert created(fresh)["version"] == 2
    before = written(client, container, path)

    stale = client.post(path, json=assign(GHAFOOR, HANDOVER), headers={"If-Match": '"1"'})

    body = assert_problem(stale, 412, "stale-version")
    assert (body["expected_version"], body["current_version"]) == (1, 2)
    assert written(client, container, path) == before


def test_an_idempotent_retry_on_an_office_stream_replays_its_record_and_writes_nothing(
    client: TestClient, container: Container
) -> None:
    key = {"Idempotency-Key": "register-ispr"}
    registered = client.post("/v1/offices", json=office_body(), headers=key)
    replayed = client.post("/v1/offices", json=office_body(), headers=key)
    assert (registered.status_code, replayed.status_code) == (201, 201)
    assert replayed.json() == registered.json()
    assert replayed.headers["location"] == f"/v1/offices/{ISPR}"
    path = f"/v1/offices/{ISPR}/events"
    key = {"Idempotency-Key": "ispr-bajwa-2012"}
    first = client.post(path, json=assign(BAJWA, ISPR_FROM), headers=key)
    before = written(client, container, path)

    again = client.post(path, json=assign(BAJWA, ISPR_FROM), headers=key)
    other = client.post(path, json=assign(GHAFOOR, HANDOVER), headers=key)

    assert (first.status_code, again.status_code) == (201, 201)
    assert again.json() == first.json()
    assert again.headers["etag"] == '"2"'
    assert_problem(other, 422, "idempotency-key-reused")
    assert written(client, container, path) == before


def test_a_recorder_of_another_office_may_not_write_the_offices_stream(
    client: TestClient, container: Container, tokens: Tokens
) -> None:
    register_office(client, OFFICE, jurisdiction="US")
    path = f"/v1/offices/{OFFICE}/events"
    before = written(client, container, path)

    for token in (tokens.other_recorder, tokens.reader):
        response = client.post(path, json=assign(TRUMP, ISPR_FROM), headers=bearer(token))
        assert_problem(response, 403, "forbidden")

    assert written(client, container, path) == before
    own = client.post(path, json=assign(TRUMP, ISPR_FROM), headers=bearer(tokens.office_recorder))
    assert created(own)["actor"] == "potus-clerk"


# -- accounts that say whose they are --------------------------------------------------------


def test_an_account_that_does_not_say_whose_it_is_rightly_is_422_naming_owner(
    client: TestClient, container: Container
) -> None:
    head = container.ledger.head()

    for fields in (
        {"ownership": "personal", "office": ISPR},  # a personal account without its owner
        {"office": ISPR, "owner": BAJWA},  # the office's (by default) with an owner
        {"ownership": "office", "office": ISPR, "owner": BAJWA},
    ):
        body = {"platform": "x", "handle": "AsimBajwaISPR", "effective_at": ISPR_FROM, **fields}
        problem = assert_problem(client.post("/v1/accounts", json=body), 422, "invalid-input")
        assert problem["errors"][0]["loc"] == ["owner"], fields

    assert container.ledger.head() == head


def test_a_personal_account_given_an_office_speaks_for_it_from_registration(
    client: TestClient,
) -> None:
    register_office(client)
    fields = {"platform": "x", "office": ISPR, "ownership": "personal", "owner": BAJWA}
    body = {**fields, "handle": "@AsimBajwaISPR", "effective_at": ISPR_FROM}
    record = created(client.post("/v1/accounts", json=body))
    assert record["data"] == {**fields, "handle": "AsimBajwaISPR"}
    account_id = record["account_id"]

    state = client.get(f"/v1/accounts/{account_id}", params={"at": "2014-01-01T00:00:00Z"}).json()
    office = client.get(f"/v1/offices/{ISPR}", params={"at": "2014-01-01T00:00:00Z"}).json()
    before = client.get(f"/v1/offices/{ISPR}", params={"at": "2012-04-30T00:00:00Z"}).json()

    whose = ("personal", BAJWA, ISPR, None)
    assert pick(state, "ownership", "owner", "office", "audience") == whose
    [speaking] = office["accounts"]
    assert speaking == {"account_id": account_id, "platform": "x", "handle": "AsimBajwaISPR",
                        "ownership": "personal", "owner": BAJWA, "audience": None}  # fmt: skip
    assert before["accounts"] == []
    plain = client.get(f"/v1/accounts/{account(client, 'ISPR_Official', office=ISPR)}").json()
    assert pick(plain, "ownership", "owner", "office") == ("office", None, ISPR)


def test_official_use_of_an_offices_own_account_is_422_and_writes_nothing(
    client: TestClient, container: Container
) -> None:
    own = account(client, "ISPR_Official", office=ISPR)
    path = f"/v1/accounts/{own}/events"
    before = written(client, container, path)
    use = {"type": "official_use_started", "office": ISPR, "effective_at": "2013-01-01T00:00:00Z"}

    response = client.post(path, json=use)

    body = assert_problem(response, 422, "ownership-mismatch")
    assert "only a personal account" in body["detail"]
    assert written(client, container, path) == before


def test_transferring_a_personal_account_to_an_office_is_422_ownership_mismatch(
    client: TestClient, container: Container
) -> None:
    bajwas = personal(client, "AsimBajwaISPR", BAJWA)
    path = f"/v1/accounts/{bajwas}/events"
    before = written(client, container, path)
    transfer = {"type": "office_transferred", "office": ISPR, "effective_at": HANDOVER}

    assert_problem(client.post(path, json=transfer), 422, "ownership-mismatch")
    assert written(client, container, path) == before


def test_followers_that_are_not_a_whole_number_are_422_naming_followers(
    client: TestClient, container: Container
) -> None:
    bajwas = personal(client, "AsimBajwaISPR", BAJWA)
    path = f"/v1/accounts/{bajwas}/events"
    before = written(client, container, path)

    for followers in (-1, 1.5, "100", None):
        body = {**observe(0, DAY_AFTER), "followers": followers}
        problem = assert_problem(client.post(path, json=body), 422, "invalid-input")
        assert problem["errors"][0]["loc"] == ["followers"], followers

    assert written(client, container, path) == before


def test_an_audience_observation_shows_from_its_effective_time_on(client: TestClient) -> None:
    bajwas = personal(client, "AsimBajwaISPR", BAJWA)
    seen = account_event(client, bajwas, observe(3_050_000, DAY_AFTER))

    def audience(at: str) -> Any:
        return client.get(f"/v1/accounts/{bajwas}", params={"at": at}).json()["audience"]

    assert audience("2016-12-25T23:59:59.999999Z") is None
    expected = {
        "followers": 3_050_000,
        "observed_at": DAY_AFTER,
        "established_by": [
            {
                "version": 2,
                "type": "audience_observed",
                "recorded_at": seen["recorded_at"],
                "actor": "records-admin",
                "position": seen["position"],
            }
        ],
    }
    assert audience(DAY_AFTER) == expected
    assert audience("2020-01-01T00:00:00Z") == expected
    later = account_event(client, bajwas, observe(3_100_000, "2017-01-11T00:00:00Z"))
    assert audience("2017-01-10T00:00:00Z") == expected
    assert audience("2017-01-11T00:00:00Z")["established_by"][0]["version"] == later["version"]


# -- who may put a personal account to official use ------------------------------------------


def test_an_office_recorder_may_not_put_personal_accounts_to_use_for_another_office(
    client: TestClient, container: Container, tokens: Tokens
) -> None:
    """Recorders for OFFICE (the clerk) and OTHER_OFFICE: the clerk may not start a free
    personal account's use for OTHER_OFFICE, nor touch one speaking for OTHER_OFFICE."""
    owner = {"id": "jane-roe", "name": "Jane Roe"}
    free = personal(client, "JaneRoe", owner)
    theirs = personal(client, "JaneRoeAtState", owner, office=OTHER_OFFICE)
    clerk = bearer(tokens.office_recorder)

    for account_id, office in ((free, OTHER_OFFICE), (theirs, OFFICE)):
        path = f"/v1/accounts/{account_id}/events"
        before = written(client, container, path)
        use = {"type": "official_use_started", "office": office, "effective_at": HANDOVER}
        body = assert_problem(client.post(path, json=use, headers=clerk), 403, "forbidden")
        assert "potus-clerk" in body["detail"]
        assert written(client, container, path) == before


def test_an_office_recorder_may_put_a_free_personal_account_to_use_for_its_office(
    client: TestClient, tokens: Tokens
) -> None:
    free = personal(client, "JaneRoe", {"id": "jane-roe", "name": "Jane Roe"})
    path = f"/v1/accounts/{free}/events"
    use = {"type": "official_use_started", "office": OFFICE, "effective_at": HANDOVER}

    response = client.post(path, json=use, headers=bearer(tokens.office_recorder))

    assert created(response)["actor"] == "potus-clerk"
    assert client.get(f"/v1/accounts/{free}").json()["office"] == OFFICE


# -- the office answers ----------------------------------------------------------------------


def test_the_registered_offices_at_a_time_by_jurisdiction(
    client: TestClient, offices: Offices
) -> None:
    def listed(**params: str) -> list[tuple[str, str, str, str | None]]:
        response = client.get("/v1/offices", params=params)
        assert response.status_code == 200, response.text
        return [
            (o["office"], o["name"], o["jurisdiction"], o["holder"] and o["holder"]["id"])
            for o in response.json()["offices"]
        ]

    ispr = (ISPR, ISPR_NAME, "PK", "asif-ghafoor")
    cm = (CM_PUNJAB, "Chief Minister of Punjab", "PK-PB", "shahbaz-sharif")
    us = (OFFICE, "President of the United States", "US", "trump-45")
    assert listed() == [ispr, cm, us]
    assert listed(jurisdiction="PK") == [ispr, cm], "a country takes in its subdivisions"
    assert listed(jurisdiction="PK-PB") == [cm]
    assert listed(jurisdiction="US") == [us]
    assert listed(jurisdiction="GB") == []
    assert listed(at="2016-01-01T00:00:00Z") == [(*ispr[:3], "asim-saleem-bajwa"), cm]
    assert listed(at="2011-01-01T00:00:00Z") == [cm]
    assert listed(known_at=offices.before_us) == [ispr, cm]
    whole = client.get("/v1/offices", params={"jurisdiction": "PK-PB"}).json()["offices"][0]
    assert whole["holder"] == {**SHAHBAZ, "since": "2010-04-01T00:00:00Z"}
    for at, followers in (("2016-12-25T00:00:00Z", None), ("2017-01-01T00:00:00Z", 2_100_000)):
        body = client.get(f"/v1/offices/{CM_PUNJAB}", params={"at": at}).json()
        [cm_account] = body["accounts"]
        assert cm_account["account_id"] == offices.cm_account
        audience = cm_account["audience"]
        assert (audience and audience["followers"]) == followers
    for bad in ("pk", "PAK", "P1", "PK-"):
        response = client.get("/v1/offices", params={"jurisdiction": bad})
        body = assert_problem(response, 422, "invalid-input")
        assert body["errors"][0]["loc"] == ["query", "jurisdiction"]


def test_the_office_at_a_time_its_holder_accounts_and_findings_then(
    client: TestClient, ispr: Ispr
) -> None:
    def office(at: str) -> dict[str, Any]:
        response = client.get(f"/v1/offices/{ISPR}", params={"at": at})
        assert response.status_code == 200, response.text
        return response.json()  # type: ignore[no-any-return]

    in_2016 = office("2016-01-01T00:00:00Z")
    assert pick(in_2016, "registered", "name", "jurisdiction") == (True, ISPR_NAME, "PK")
    assert pick(in_2016, "tenure_known", "holder") == (True, {**BAJWA, "since": ISPR_FROM})
    speaking = in_2016["accounts"]
    assert {a["account_id"]: (a["handle"], a["ownership"], a["owner"]) for a in speaking} == {
        ispr.bajwa_account: ("AsimBajwaISPR", "personal", BAJWA),
        ispr.office_account: ("ISPR_Official", "office", None),
    }
    assert [a["account_id"] for a in speaking] == sorted(a["account_id"] for a in speaking)
    assert [a["audience"] for a in speaking] == [None, None], "observed only in December"
    assert summary(in_2016["findings"]) == [
        ("personal-account-in-official-use", ISPR, "AsimBajwaISPR", ISPR_FROM, HANDOVER, None)
    ]
    assert in_2016["findings"][0]["detail"] == (
        "@AsimBajwaISPR, Asim Saleem Bajwa's own account, speaks for the office; "
        "the owner holds the office then"
    )
    assert pick(in_2016, "at", "known_at") == ("2016-01-01T00:00:00Z", None)
    cited = [(p["version"], p["type"]) for p in in_2016["established_by"]]
    assert cited == [(1, "office_registered"), (2, "holder_assigned")]

    in_2017 = office("2017-01-01T00:00:00Z")
    assert in_2017["holder"] == {**GHAFOOR, "since": HANDOVER}
    assert handles(in_2017["accounts"]) == ["ISPR_Official", "OfficialDGISPR"]
    assert summary(in_2017["findings"]) == [
        ("audience-departed", ISPR, "AsimBajwaISPR", HANDOVER, None, 3_050_000)
    ]

    before = office("2012-04-30T00:00:00Z")
    assert pick(before, "registered", "tenure_known", "holder") == (True, False, None)
    assert pick(before, "accounts", "findings", "established_by") == ([], [], [])


def test_an_office_only_accounts_name_has_an_unknown_tenure(client: TestClient) -> None:
    named = "pk-ministry-of-information"
    own = account(client, "MoIB_Pakistan", office=named)

    body = client.get(f"/v1/offices/{named}").json()

    assert pick(body, "office", "registered", "name", "jurisdiction") == (named, False, None, None)
    assert pick(body, "tenure_known", "holder", "findings", "established_by") == (
        False, None, [], []
    )  # fmt: skip
    assert [a["account_id"] for a in body["accounts"]] == [own]
    assert client.get(f"/v1/offices/{named}/tenures").json()["tenures"] == []
    assert client.get(f"/v1/offices/{named}/handovers").json()["handovers"] == []
    assert_problem(client.get(f"/v1/offices/{named}/events"), 404, "office-not-found")


def test_an_office_nobody_registered_or_named_is_404_and_a_malformed_key_422(
    client: TestClient,
) -> None:
    for suffix in ("", "/events", "/tenures", "/handovers"):
        body = assert_problem(client.get(f"/v1/offices/{ISPR}{suffix}"), 404, "office-not-found")
        assert ISPR in body["detail"]
        malformed = client.get(f"/v1/offices/PK-DG-ISPR{suffix}")
        problem = assert_problem(malformed, 422, "invalid-input")
        assert problem["errors"][0]["loc"] == ["path", "office"]


def test_the_2016_handover_retained_the_office_account_and_3_05_million_departed(
    client: TestClient, ispr: Ispr
) -> None:
    response = client.get(f"/v1/offices/{ISPR}/handovers")

    assert response.status_code == 200, response.text
    body = response.json()
    assert pick(body, "office", "known_at") == (ISPR, None)
    [handover] = body["handovers"]
    assert pick(handover, "at", "outgoing", "incoming") == (HANDOVER, BAJWA, GHAFOOR)
    retained, departed = handover["retained"], handover["departed"]
    stayed = {"account_id": ispr.office_account, "platform": "x", "handle": "ISPR_Official",
              "ownership": "office", "owner": None, "audience": None}  # fmt: skip
    assert retained == {"accounts": [stayed], "followers": 0, "unobserved": 1}
    [left] = departed["accounts"]
    assert pick(left, "account_id", "handle", "ownership", "owner") == (
        ispr.bajwa_account, "AsimBajwaISPR", "personal", BAJWA
    )  # fmt: skip
    assert pick(left["audience"], "followers", "observed_at") == (3_050_000, DAY_AFTER)
    assert [p["version"] for p in left["audience"]["established_by"]] == [ispr.observation]
    assert (departed["followers"], departed["unobserved"]) == (3_050_000, 0)
    cited = [(p["version"], p["type"]) for p in handover["established_by"]]
    assert cited == [(2, "holder_assigned"), (3, "holder_assigned")]
    tenures = client.get(f"/v1/offices/{ISPR}/tenures").json()["tenures"]
    assert [(t["holder"]["id"], handles(t["accounts"])) for t in tenures] == [
        ("asim-saleem-bajwa", ["AsimBajwaISPR", "ISPR_Official"]),
        ("asif-ghafoor", ["ISPR_Official", "OfficialDGISPR"]),
    ]
    before = client.get(f"/v1/offices/{ISPR}/handovers", params={"known_at": ispr.before_handover})
    assert before.json()["handovers"] == [], "Ghafoor's assignment was not yet known"


def test_an_observation_31_days_from_the_handover_is_too_far_to_count_but_30_days_is_near(
    client: TestClient, ispr: Ispr
) -> None:
    account_event(
        client,
        ispr.bajwa_account,
        {"type": "event_retracted", "event_version": ispr.observation, "effective_at": DAY_AFTER},
    )
    account_event(client, ispr.bajwa_account, observe(3_050_000, "2017-01-25T00:00:00Z"))

    def departed() -> dict[str, Any]:
        body = client.get(f"/v1/offices/{ISPR}/handovers").json()
        return body["handovers"][0]["departed"]  # type: ignore[no-any-return]

    far = departed()
    assert (far["followers"], far["unobserved"]) == (0, 1)
    assert far["accounts"][0]["audience"] is None
    [finding] = client.get("/v1/findings", params={"kind": "audience-departed"}).json()["findings"]
    assert finding["followers"] is None
    assert finding["detail"].endswith("no audience observation within 30 days")

    account_event(client, ispr.bajwa_account, observe(3_040_000, "2017-01-24T00:00:00Z"))

    near = departed()
    assert (near["followers"], near["unobserved"]) == (3_040_000, 0)
    assert near["accounts"][0]["audience"]["observed_at"] == "2017-01-24T00:00:00Z"


# -- findings --------------------------------------------------------------------------------

EVERY_FINDING = [
    ("personal-account-in-official-use", ISPR, "AsimBajwaISPR", ISPR_FROM, HANDOVER, None),
    ("audience-departed", ISPR, "AsimBajwaISPR", HANDOVER, None, 3_050_000),
    ("no-office-account", CM_PUNJAB, None, CM_FROM, None, None),
    ("personal-account-in-official-use", CM_PUNJAB, "CMShehbaz", CM_FROM, None, 2_100_000),
    ("no-office-account", OFFICE, None, US_FROM, None, None),
]


def test_the_findings_by_jurisdiction_office_kind_and_time(
    client: TestClient, offices: Offices
) -> None:
    def found(**params: Any) -> list[tuple[Any, ...]]:
        response = client.get("/v1/findings", params=params)
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["next_after"] is None
        return summary(body["findings"])

    assert found() == EVERY_FINDING
    assert found(jurisdiction="PK") == EVERY_FINDING[:4]
    assert found(jurisdiction="PK-PB") == EVERY_FINDING[2:4]
    assert found(jurisdiction="US") == EVERY_FINDING[4:]
    assert found(office=ISPR) == EVERY_FINDING[:2]
    assert found(kind="no-office-account") == [EVERY_FINDING[2], EVERY_FINDING[4]]
    assert found(kind="office-handle-taken") == []
    assert found(at="2014-01-01T00:00:00Z") == [EVERY_FINDING[0], *EVERY_FINDING[2:4]]
    assert found(at="2018-01-01T00:00:00Z") == EVERY_FINDING[1:]
    assert found(known_at=offices.before_us) == EVERY_FINDING[:4]
    assert found(known_at=offices.ispr.before_handover, office=ISPR) == [
        ("personal-account-in-official-use", ISPR, "AsimBajwaISPR", ISPR_FROM, None, 3_050_000)
    ], "before the handover was known, the use went on, with its latest observation"
    [cm] = client.get(
        "/v1/findings", params={"office": CM_PUNJAB, "kind": "no-office-account"}
    ).json()["findings"]
    assert (cm["account_id"], cm["holder"]) == (None, SHAHBAZ)
    assert cm["detail"] == (
        "Shahbaz Sharif holds the office and no account owned by the office speaks for it"
    )
    assert [
        (c["office"], c["account_id"], c["version"], c["type"]) for c in cm["established_by"]
    ] == [(CM_PUNJAB, None, 2, "holder_assigned")]


def test_findings_come_a_page_at_a_time_and_the_pages_make_up_the_whole(
    client: TestClient, offices: Offices
) -> None:
    whole = client.get("/v1/findings").json()["findings"]
    for limit in (1, 2):
        pages, after = [], None
        while True:
            params: dict[str, Any] = {"limit": limit, **({"after": after} if after else {})}
            body = client.get("/v1/findings", params=params).json()
            pages.append(body["findings"])
            after = body["next_after"]
            if after is None:
                break
        assert [f for page in pages for f in page] == whole
        assert {len(page) for page in pages[:-1]} == {limit}
        assert len(pages) == -(-len(whole) // limit)


def test_findings_refuse_a_query_they_cannot_answer_naming_the_parameter(
    client: TestClient,
) -> None:
    for params, loc in (
        ({"after": "not a cursor"}, ["after"]),
        ({"after": "pk-dg-ispr:x"}, ["after"]),
        ({"after": "pk-dg-ispr:50"}, ["after"]),  # the cursor of the version before
        ({"after": "pk-dg-ispr/1/audience-departed/" + "g" * 32}, ["after"]),
        ({"after": "pk-dg-ispr/x/audience-departed/" + "0" * 32}, ["after"]),
        ({"after": "pk-dg-ispr/1/hidden-account/" + "0" * 32}, ["after"]),
        ({"after": "pk-dg-ispr/--1/audience-departed/" + "0" * 32}, ["after"]),
        ({"after": "pk-dg-ispr/²/audience-departed/" + "0" * 32}, ["after"]),
        ({"after": "pk-dg-ispr/9999999999999999999/audience-departed/" + "0" * 32}, ["after"]),
        ({"kind": "hidden-account"}, ["query", "kind"]),
        ({"jurisdiction": "PAK"}, ["query", "jurisdiction"]),
        ({"office": "PK-DG-ISPR"}, ["query", "office"]),
        ({"limit": 0}, ["query", "limit"]),
    ):
        body = assert_problem(client.get("/v1/findings", params=params), 422, "invalid-input")
        assert body["errors"][0]["loc"] == loc, params


# -- the global feed and proofs --------------------------------------------------------------


def test_the_global_feed_lists_office_events_in_log_order(client: TestClient) -> None:
    register_office(client)
    bajwas = personal(client, "AsimBajwaISPR", BAJWA, office=ISPR)
    office_event(client, ISPR, assign(BAJWA, ISPR_FROM))

    events = client.get("/v1/events").json()["events"]

    assert [(e["type"], e["office"], e["account_id"], e["version"]) for e in events] == [
        ("office_registered", ISPR, None, 1),
        ("account_registered", None, bajwas, 1),
        ("holder_assigned", ISPR, None, 2),
    ]
    positions = [e["position"] for e in events]
    assert positions == sorted(positions)
    assert events[2] == client.get(f"/v1/offices/{ISPR}/events").json()[1]


@pytest.fixture
def proving(store_url: str, tmp_path: Path, clock: FakeClock) -> Iterator[tuple[Container, Signer]]:
    """A container with a signing key for its verifiable log, and the key's signer."""
    signer = create_key(tmp_path / "log.key", ORIGIN)
    container = make_container(
        store_url, clock, log_key_file=tmp_path / "log.key", log_origin=ORIGIN
    )
    yield container, signer
    container.close()


def test_a_proved_answer_about_a_personal_account_checks_its_owner_and_audience(
    proving: tuple[Container, Signer],
) -> None:
    container, signer = proving
    tokens = Tokens.issue(container)
    with TestClient(
        create_app(container=container, run_worker=False), headers=bearer(tokens.admin)
    ) as client:
        register_office(client)
        bajwas = personal(client, "AsimBajwaISPR", BAJWA, office=ISPR)
        account_event(client, bajwas, observe(3_050_000, DAY_AFTER))
        assert container.integrator is not None and container.checkpointer is not None
        container.integrator.integrate()
        container.checkpointer.checkpoint()

        response = client.get(
            f"/v1/accounts/{bajwas}", params={"at": "2017-01-01T00:00:00Z", "proof": "true"}
        )

    assert response.status_code == 200, response.text
    answer = response.json()
    assert (answer["ownership"], answer["owner"], answer["office"]) == ("personal", BAJWA, ISPR)
    assert answer["audience"]["followers"] == 3_050_000
    assert len(answer["proof"]["entries"]) == 2
    policy = Policy(signer.verifier())
    verify_answer(answer, policy)
    audience = {**answer["audience"], "followers": 3_500_000}
    for field, value in (
        ("ownership", "office"),
        ("owner", GHAFOOR),
        ("audience", audience),
        ("audience", None),
        ("office", None),
    ):
        with pytest.raises(VerifyError, match=f"{field}: answer"):
            verify_answer({**answer, field: value}, policy)
    # An answer in the shape of an earlier version, without the three fields, cannot hide them.
    older = {k: v for k, v in answer.items() if k not in ("ownership", "owner", "audience")}
    with pytest.raises(VerifyError, match="leaves out the account's ownership and audience"):
        verify_answer(older, policy)


def test_an_offices_registration_is_not_retracted_its_key_stays_the_offices(
    client: TestClient,
) -> None:
    """An office's stream is named by its key: retracting the registration would leave a key
    that can neither be written nor registered again, so the ledger refuses it."""
    assert client.post("/v1/offices", json=office_body("pk-dg-ispr")).status_code == 201
    retract = {
        "type": "event_retracted",
        "event_version": 1,
        "effective_at": "2012-05-01T00:00:00Z",
    }
    response = client.post("/v1/offices/pk-dg-ispr/events", json=retract)
    body = assert_problem(response, 422, "invalid-retraction")
    assert "an office's registration is not retracted" in body["detail"]
    assert client.get("/v1/offices/pk-dg-ispr").json()["registered"] is True


def test_a_stale_if_match_on_an_office_names_the_office(client: TestClient) -> None:
    assert client.post("/v1/offices", json=office_body("pk-dg-ispr")).status_code == 201
    release = {"type": "holder_released", "effective_at": "2013-01-01T00:00:00Z"}
    response = client.post(
        "/v1/offices/pk-dg-ispr/events", json=release, headers={"If-Match": '"2"'}
    )
    body = assert_problem(response, 412, "stale-version")
    assert body["detail"].startswith("Office pk-dg-ispr is at version 1, not the expected 2")

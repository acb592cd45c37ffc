"""Disputes over HTTP: who may open, add to, withdraw and resolve them (every refusal a 403 that
writes nothing), the bad inputs (4xx problem+json), the listing's pages, and answers that say
a fact is contested."""

from __future__ import annotations

import io
from collections.abc import Callable
from typing import Any

import prov
import pytest
from fastapi.testclient import TestClient

from api.bootstrap import Container
from tests.e2e.support import Tokens, assert_problem, assignment, bearer

WINDOW = {"from": "2017-01-01T00:00:00Z", "to": "2017-03-01T00:00:00Z"}
UNKNOWN = "0b5e6c1e-2f4a-4d8e-9c3b-7a1f2e3d4c5b"


def _opening(account_id: str, **overrides: Any) -> dict[str, Any]:
    body = {
        "subject": {"account_id": account_id},
        "window": WINDOW,
        "claim": "The handover is recorded a day late.",
        "contested": [{"account_id": account_id, "version": 2}],
        "evidence": [{"url": "https://records.example.gov/oath"}],
    }
    return body | overrides


def _account(register: Callable[..., dict[str, Any]], append: Callable[..., dict[str, Any]]) -> str:
    account_id: str = register()["account_id"]
    append(account_id, assignment())
    return account_id


@pytest.fixture
def panel(container: Container) -> dict[str, str]:
    """An adjudicator's token (issued before the client starts)."""
    return bearer(container.access.issue("appeals-panel", "adjudicator"))


def test_who_may_do_what_with_a_dispute_and_refusals_write_nothing(
    panel: dict[str, str],
    client: TestClient,
    container: Container,
    tokens: Tokens,
    register: Callable[..., dict[str, Any]],
    append: Callable[..., dict[str, Any]],
) -> None:
    account = _account(register, append)
    head = container.ledger.head()
    # A reader may not open one; an adjudicator may not open one nor add evidence.
    for who in (bearer(tokens.reader), panel):
        assert_problem(client.post("/v1/disputes", json=_opening(account), headers=who), 403,
                       "forbidden")  # fmt: skip
    assert container.ledger.head() == head

    # Any recorder opens one, whatever its offices: the contesting party is often not the
    # office that wrote the record.
    opened = client.post("/v1/disputes", json=_opening(account),
                         headers=bearer(tokens.other_recorder))  # fmt: skip
    assert opened.status_code == 201, opened.text
    dispute = opened.json()["dispute_id"]
    assert opened.headers["location"] == f"/v1/disputes/{dispute}"
    assert opened.headers["etag"] == '"1"'
    assert (opened.json()["status"], opened.json()["opened_by"]) == ("open", "state-clerk")

    evidence = {"type": "evidence_added", "evidence": [{"url": "https://example.org/a"}]}
    resolution = {"type": "resolved", "outcome": "rejected", "ruling": "The record stands."}
    head = container.ledger.head()
    refusals = [
        (evidence, panel),  # the panel rules; the parties bring evidence
        (resolution, bearer(tokens.recorder)),  # a recorder does not rule
        (resolution, bearer(tokens.reader)),
        ({"type": "withdrawn"}, bearer(tokens.recorder)),  # only its opener (or an admin)
    ]
    for body, who in refusals:
        response = client.post(f"/v1/disputes/{dispute}/events", json=body, headers=who)
        assert_problem(response, 403, "forbidden")
    assert container.ledger.head() == head

    added = client.post(f"/v1/disputes/{dispute}/events", json=evidence,
                        headers=bearer(tokens.recorder))  # fmt: skip
    assert added.status_code == 201, added.text
    assert added.json()["event"]["dispute_id"] == dispute
    assert added.json()["event"]["account_id"] is None
    stale = client.post(f"/v1/disputes/{dispute}/events", json=resolution,
                        headers={**panel, "If-Match": '"1"'})  # fmt: skip
    assert_problem(stale, 412, "stale-version")
    ruled = client.post(f"/v1/disputes/{dispute}/events", json=resolution,
                        headers={**panel, "If-Match": '"2"'})  # fmt: skip
    assert ruled.status_code == 201, ruled.text
    assert ruled.json()["corrections"] == []
    again = client.post(f"/v1/disputes/{dispute}/events", json=evidence,
                        headers=bearer(tokens.recorder))  # fmt: skip
    assert_problem(again, 409, "dispute-not-open")
    shown = client.get(f"/v1/disputes/{dispute}", headers=bearer(tokens.reader)).json()
    assert (shown["status"], shown["outcome"], shown["version"]) == ("resolved", "rejected", 3)


def test_bad_disputes_are_refused_with_the_field_named(
    client: TestClient,
    container: Container,
    register: Callable[..., dict[str, Any]],
    append: Callable[..., dict[str, Any]],
) -> None:
    account = _account(register, append)
    other = register(handle="@WhiteHouse", platform_account_id="1")["account_id"]
    head = container.ledger.head()
    cases: list[tuple[dict[str, Any], int, str, str]] = [
        (_opening(account, window={"from": WINDOW["to"], "to": WINDOW["from"]}), 422,
         "invalid-input", "window"),
        (_opening(account, contested=[{"account_id": other, "version": 1}]), 422,
         "invalid-input", "contested.0"),
        (_opening(account, contested=[{"account_id": account, "version": 9}]), 422,
         "invalid-input", "contested.0.version"),
        (_opening(account, subject={"account_id": account, "office": "us-president"}), 422,
         "invalid-input", "subject"),
        (_opening(UNKNOWN, contested=[]), 404, "account-not-found", ""),
        (_opening(account, claim=""), 422, "invalid-input", "claim"),
    ]  # fmt: skip
    for body, status, code, where in cases:
        problem = assert_problem(client.post("/v1/disputes", json=body), status, code)
        if where:
            assert any(".".join(map(str, e["loc"])).startswith(where) for e in problem["errors"])
    assert_problem(client.post(f"/v1/disputes/{UNKNOWN}/events",
                               json={"type": "withdrawn"}), 404, "dispute-not-found")  # fmt: skip
    assert_problem(client.get(f"/v1/disputes/{UNKNOWN}"), 404, "dispute-not-found")
    assert_problem(client.get("/v1/disputes", params={"after": "nonsense"}), 422, "invalid-input")
    assert_problem(client.get("/v1/disputes", params={"status": "lost"}), 422, "invalid-input")
    opened = client.post("/v1/disputes", json=_opening(account)).json()["dispute_id"]
    bad = client.post(f"/v1/disputes/{opened}/events", json={"type": "escalated"})
    assert_problem(bad, 422, "invalid-input")
    rejected_with_corrections = {
        "type": "resolved", "outcome": "rejected", "ruling": "No.",
        "corrections": [{"account_id": account, "type": "holder_released",
                         "effective_at": "2017-02-01T00:00:00Z"}],
    }  # fmt: skip
    assert_problem(client.post(f"/v1/disputes/{opened}/events",
                               json=rejected_with_corrections), 422, "invalid-input")  # fmt: skip
    assert container.ledger.head() == head + 1  # the one dispute opened


def test_answers_name_the_disputes_open_about_them_and_the_listing_pages(
    client: TestClient,
    register: Callable[..., dict[str, Any]],
    append: Callable[..., dict[str, Any]],
) -> None:
    account = _account(register, append)
    ids = [client.post("/v1/disputes", json=_opening(account)).json()["dispute_id"]
           for _ in range(3)]  # fmt: skip
    inside = client.get(f"/v1/accounts/{account}", params={"at": "2017-02-01T00:00:00Z"})
    assert [d["dispute_id"] for d in inside.json()["disputes"]] == ids
    assert inside.json()["disputes"][0]["window"] == WINDOW
    outside = client.get(f"/v1/accounts/{account}", params={"at": "2017-04-01T00:00:00Z"})
    assert outside.json()["disputes"] == []
    handle = client.get("/v1/handles/x/POTUS", params={"at": "2017-02-01T00:00:00Z"})
    assert [d["dispute_id"] for d in handle.json()["disputes"]] == ids
    custody = client.get(f"/v1/accounts/{account}/custody")
    assert [d["dispute_id"] for d in custody.json()["disputes"]] == ids

    seen: list[str] = []
    after = None
    while True:
        params: dict[str, Any] = {"limit": 2, "account_id": account}
        if after:
            params["after"] = after
        page = client.get("/v1/disputes", params=params).json()
        seen += [d["dispute_id"] for d in page["disputes"]]
        after = page["next_cursor"]
        if after is None:
            break
    assert seen == ids
    client.post(f"/v1/disputes/{ids[0]}/events", json={"type": "withdrawn"})
    still = client.get(f"/v1/accounts/{account}", params={"at": "2017-02-01T00:00:00Z"})
    assert [d["dispute_id"] for d in still.json()["disputes"]] == ids[1:]
    open_now = client.get("/v1/disputes", params={"status": "open"}).json()["disputes"]
    assert [d["dispute_id"] for d in open_now] == ids[1:]


def test_a_dossier_in_each_format_and_its_refusals(
    client: TestClient,
    register: Callable[..., dict[str, Any]],
    append: Callable[..., dict[str, Any]],
) -> None:
    account = _account(register, append)
    dispute = client.post("/v1/disputes", json=_opening(account)).json()["dispute_id"]
    path = f"/v1/disputes/{dispute}/dossier"

    as_json = client.get(path)
    assert as_json.status_code == 200, as_json.text
    body = as_json.json()
    assert (body["format"], body["subject"], body["window"]) == (
        "custody-dossier/v1",
        {"account_id": account},
        WINDOW,
    )
    assert body["dispute"]["dispute_id"] == dispute
    assert [a["label"] for a in body["answers"]] == ["complaint", "change", "now"]

    as_prov = client.get(path, headers={"Accept": "application/prov+json"})
    assert as_prov.headers["content-type"] == "application/prov+json"
    document = prov.read(io.StringIO(as_prov.text), format="json")
    assert document is not None and list(document.get_records())
    again = client.get(path, params={"format": "prov"})
    assert again.headers["content-type"] == "application/prov+json"
    reread = prov.read(io.StringIO(again.text), format="json")
    assert reread is not None
    assert len(list(reread.get_records())) == len(list(document.get_records()))

    as_html = client.get(path, headers={"Accept": "text/html,application/xhtml+xml"})
    assert as_html.headers["content-type"].startswith("text/html")
    assert as_html.text.startswith("<!doctype html>")
    assert "The handover is recorded a day late." in as_html.text

    adhoc = client.get(f"/v1/accounts/{account}/dossier", params=WINDOW)
    assert adhoc.status_code == 200
    assert adhoc.json()["dispute"] is None
    assert [d["dispute_id"] for d in adhoc.json()["disputes"]] == [dispute]

    assert_problem(client.get(path, headers={"Accept": "image/png"}), 406, "not-acceptable")
    refused_html = client.get(path, headers={"Accept": "text/html;q=0, application/prov+json"})
    assert refused_html.headers["content-type"] == "application/prov+json"
    # Times at the ends of the calendar are answers, not 500s.
    far = client.get(f"/v1/accounts/{account}", params={"at": "9999-12-31T23:59:59.999999Z"})
    assert far.status_code == 200, far.text
    wide = {"from": "0001-01-01T00:00:00Z", "to": "9999-12-31T23:59:59Z", "format": "html"}
    assert client.get(f"/v1/accounts/{account}/dossier", params=wide).status_code == 200
    assert_problem(client.get(path, params={"format": "pdf"}), 422, "invalid-input")
    backwards = {"from": WINDOW["to"], "to": WINDOW["from"]}
    problem = assert_problem(
        client.get(f"/v1/accounts/{account}/dossier", params=backwards), 422, "invalid-input"
    )
    assert problem["errors"][0]["loc"][-1] == "to"
    assert_problem(client.get(f"/v1/accounts/{account}/dossier", params={"to": WINDOW["to"]}),
                   422, "invalid-input")  # fmt: skip
    assert_problem(client.get(f"/v1/accounts/{UNKNOWN}/dossier", params=WINDOW), 404,
                   "account-not-found")  # fmt: skip
    assert_problem(client.get(f"/v1/disputes/{UNKNOWN}/dossier"), 404, "dispute-not-found")


def test_an_office_dispute_has_its_dossier_in_each_format(
    panel: dict[str, str],
    client: TestClient,
    register: Callable[..., dict[str, Any]],
) -> None:
    """The office's own record contested: Ben New's tenure entered from 10 February though he
    took office on 20 January; the panel retracts the entry and records it from the 20th."""
    office, wrong, right = "ru-chief-minister", "2017-02-10T00:00:00Z", "2017-01-20T12:00:00Z"

    def created(path: str, body: dict[str, Any], headers: Any = None) -> dict[str, Any]:
        response = client.post(path, json=body, headers=headers)
        assert response.status_code == 201, response.text
        return response.json()  # type: ignore[no-any-return]

    created("/v1/offices", {"office": office, "name": "Chief Minister of Ruritania",
                            "jurisdiction": "PK", "effective_at": WINDOW["from"]})  # fmt: skip
    ben = {"id": "ben-new", "name": "Ben New"}
    events = f"/v1/offices/{office}/events"
    created(events, {"type": "holder_assigned", "holder": {"id": "anna-old", "name": "Anna Old"},
                     "effective_at": WINDOW["from"]})  # fmt: skip
    created(events, {"type": "holder_assigned", "holder": ben, "effective_at": wrong})
    account = register(handle="@CMRuritania", platform_account_id=None, office=office,
                       effective_at=WINDOW["from"])["account_id"]  # fmt: skip
    dispute = created("/v1/disputes", {
        "subject": {"office": office}, "window": WINDOW,
        "claim": "Ben New took office on 20 January, not 10 February.",
        "contested": [{"office": office, "version": 3}],
    })["dispute_id"]  # fmt: skip
    created(f"/v1/disputes/{dispute}/events", {
        "type": "resolved", "outcome": "upheld", "ruling": "Ben New from noon on 20 January.",
        "corrections": [
            {"office": office, "type": "event_retracted", "event_version": 3,
             "effective_at": wrong},
            {"office": office, "type": "holder_assigned", "holder": ben, "effective_at": right},
        ],
    }, headers=panel)  # fmt: skip
    path = f"/v1/disputes/{dispute}/dossier"

    as_json = client.get(path, headers={"Accept": "application/json"})
    assert as_json.status_code == 200, as_json.text
    body = as_json.json()
    assert (body["subject"], body["window"], body["account"]) == ({"office": office}, WINDOW, None)
    assert [a["label"] for a in body["answers"]] == ["complaint", "change", "change", "change",
                                                     "now"]  # fmt: skip

    def held(answer: dict[str, Any]) -> list[tuple[str, str, str]]:
        return [(t["holder"]["id"], t["from"], t["to"]) for t in answer["tenures"]]

    assert held(body["answers"][0]) == [("anna-old", WINDOW["from"], wrong),
                                        ("ben-new", wrong, WINDOW["to"])]  # fmt: skip
    assert held(body["answers"][-1]) == [("anna-old", WINDOW["from"], right),
                                         ("ben-new", right, WINDOW["to"])]  # fmt: skip
    assert body["changes"]["office"] == office
    assert [e["version"] for e in body["events"]] == [1, 2, 3, 4, 5]
    assert [(a["known_at"], a["account_id"]) for a in body["accounts"]] == [
        (body["answers"][0]["known_at"], account),
        (None, account),
    ]
    assert body["proof"] is None  # no verifiable log in these tests

    as_prov = client.get(path, headers={"Accept": "application/prov+json"})
    assert as_prov.headers["content-type"] == "application/prov+json"
    document = prov.read(io.StringIO(as_prov.text), format="json")
    assert document is not None
    delegations = [r for r in document.get_records() if type(r).__name__ == "ProvDelegation"]
    assert {str(d.get_attribute("prov:responsible").pop()) for d in delegations} == {
        f"custody:office/{office}"
    }

    as_html = client.get(path, headers={"Accept": "text/html"})
    assert as_html.headers["content-type"].startswith("text/html")
    assert "Who held the office in the window, as known then and now" in as_html.text
    assert "Accounts that spoke for the office" in as_html.text
    by_format = client.get(path, params={"format": "html"})
    assert by_format.headers["content-type"].startswith("text/html")

"""How an answer changed, over HTTP: for a window of valid time, each record time at which an
account's custody, a handle's carriers or an office's tenures changed, and the events that
changed it. The account's story is the demo's @CMRuritania: a handover recorded late with the
wrong date, retracted, and recorded again as of the oath."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi.testclient import TestClient

from tests.e2e.support import assert_problem, assignment

JUNE = {"from": "2021-06-01T00:00:00Z", "to": "2021-07-01T00:00:00Z"}
SWORN_IN = "2018-03-01T09:00:00Z"
WRONG_DATE = "2021-06-10T09:00:00Z"
OATH = "2021-06-01T09:00:00Z"
OFFICE = "ruritania-chief-minister"
UNKNOWN = "00000000-0000-4000-8000-000000000000"

Register = Callable[..., dict[str, Any]]
Append = Callable[[str, dict[str, Any]], dict[str, Any]]


def cm_ruritania(register: Register, append: Append) -> tuple[str, list[dict[str, Any]]]:
    """The account and its event records v1 to v5."""
    first = register(handle="@CMRuritania", platform_account_id=None, office=OFFICE,
                     effective_at=SWORN_IN)  # fmt: skip
    aid = first["account_id"]
    records = [
        first,
        append(aid, assignment("anna-vale", "Anna Vale", effective_at=SWORN_IN)),
        append(aid, assignment("boris-kade", "Boris Kade", effective_at=WRONG_DATE)),
        append(aid, {"type": "event_retracted", "event_version": 3, "effective_at": WRONG_DATE}),
        append(aid, assignment("boris-kade", "Boris Kade", effective_at=OATH)),
    ]
    return aid, records


def told(body: dict[str, Any], intervals: str) -> list[tuple[object, ...]]:
    return [
        (
            v["known_at"],
            [(i.get("holder", {}).get("id") or i["account_id"], i["from"], i["to"])
             for i in v[intervals]],
            [(e["account_id"] or e["office"], e["version"]) for e in v["changed_by"]],
        )
        for v in body["versions"]
    ]  # fmt: skip


def test_the_late_handover_its_retraction_and_its_correction_are_the_versions_of_june(
    client: TestClient, register: Register, append: Append
) -> None:
    aid, records = cm_ruritania(register, append)
    recorded = [r["recorded_at"] for r in records]

    response = client.get(f"/v1/accounts/{aid}/custody/changes", params=JUNE)

    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["account_id"], body["window"]) == (aid, JUNE)
    assert told(body, "custody") == [
        (recorded[1], [("anna-vale", JUNE["from"], JUNE["to"])], [(aid, 2)]),
        (recorded[2],
         [("anna-vale", JUNE["from"], WRONG_DATE), ("boris-kade", WRONG_DATE, JUNE["to"])],
         [(aid, 3)]),
        (recorded[3], [("anna-vale", JUNE["from"], JUNE["to"])], [(aid, 3), (aid, 4)]),
        (recorded[4], [("anna-vale", JUNE["from"], OATH), ("boris-kade", OATH, JUNE["to"])],
         [(aid, 5)]),
    ]  # fmt: skip
    # Intervals as the custody timeline gives them; the records as the events endpoint does.
    restored = body["versions"][2]["custody"][0]
    assert restored["handles"] == ["CMRuritania"] and restored["offices"] == [OFFICE]
    assert [p["version"] for p in restored["established_by"]] == [2]
    assert restored["established_by"][0]["recorded_at"] == recorded[1]
    events = client.get(f"/v1/accounts/{aid}/events").json()
    assert body["versions"][2]["changed_by"] == events[2:4]
    assert body["versions"][2]["changed_by"][0]["retracted_by"] == 4


def test_a_window_the_corrections_do_not_touch_has_only_the_first_version(
    client: TestClient, register: Register, append: Append
) -> None:
    aid, records = cm_ruritania(register, append)
    window = {"from": "2020-01-01T00:00:00Z", "to": "2021-01-01T00:00:00Z"}

    body = client.get(f"/v1/accounts/{aid}/custody/changes", params=window).json()

    assert told(body, "custody") == [
        (records[1]["recorded_at"], [("anna-vale", window["from"], window["to"])], [(aid, 2)])
    ]
    before = {"from": "2017-01-01T00:00:00Z", "to": "2018-01-01T00:00:00Z"}
    nobody = client.get(f"/v1/accounts/{aid}/custody/changes", params=before).json()
    assert nobody["versions"] == []


def test_the_handle_moves_to_the_other_account_once_it_is_renamed_away(
    client: TestClient, register: Register, append: Append
) -> None:
    noon = "2021-01-20T17:00:00Z"
    first = register()["account_id"]  # @POTUS from 2017-01-20
    second = register(platform_account_id="1349149096909668363", handle="@PresElectBiden",
                      effective_at="2020-11-07T00:00:00Z")["account_id"]  # fmt: skip
    away = append(first, {"type": "handle_renamed", "handle": "POTUS45", "effective_at": noon})
    taken = append(second, {"type": "handle_renamed", "handle": "POTUS", "effective_at": noon})
    window = {"from": "2021-01-01T00:00:00Z", "to": "2021-02-01T00:00:00Z"}

    response = client.get("/v1/handles/x/@potus/changes", params=window)

    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["platform"], body["handle"], body["window"]) == ("x", "potus", window)
    registered = client.get(f"/v1/accounts/{first}/events").json()[0]["recorded_at"]
    assert told(body, "intervals") == [
        (registered, [(first, window["from"], window["to"])], [(first, 1)]),
        (away["recorded_at"], [(first, window["from"], noon)], [(first, 2)]),
        (taken["recorded_at"], [(first, window["from"], noon), (second, noon, window["to"])],
         [(second, 2)]),
    ]  # fmt: skip
    assert [i["handle"] for i in body["versions"][-1]["intervals"]] == ["POTUS", "POTUS"]


def test_an_office_tenure_corrected_later_is_a_version_at_the_correction(
    client: TestClient,
) -> None:
    def created(path: str, body: dict[str, Any]) -> dict[str, Any]:
        response = client.post(path, json=body)
        assert response.status_code == 201, response.text
        return response.json()  # type: ignore[no-any-return]

    created("/v1/offices", {"office": OFFICE, "name": "Chief Minister of Ruritania",
                            "jurisdiction": "PK", "effective_at": SWORN_IN})  # fmt: skip
    events = f"/v1/offices/{OFFICE}/events"
    boris = {"type": "holder_assigned", "holder": {"id": "boris-kade", "name": "Boris Kade"}}
    late = created(events, {**boris, "effective_at": WRONG_DATE})
    retracted = created(
        events, {"type": "event_retracted", "event_version": 2, "effective_at": WRONG_DATE}
    )
    fixed = created(events, {**boris, "effective_at": OATH})

    response = client.get(f"/v1/offices/{OFFICE}/tenures/changes", params=JUNE)

    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["office"], body["window"]) == (OFFICE, JUNE)
    assert told(body, "tenures") == [
        (late["recorded_at"], [("boris-kade", WRONG_DATE, JUNE["to"])], [(OFFICE, 2)]),
        # Retracted, the office had nobody in June (nobody held it before Boris Kade).
        (retracted["recorded_at"], [], [(OFFICE, 2), (OFFICE, 3)]),
        (fixed["recorded_at"], [("boris-kade", OATH, JUNE["to"])], [(OFFICE, 4)]),
    ]
    changed = body["versions"][1]["changed_by"]
    assert [(e["account_id"], e["type"], e["retracted_by"]) for e in changed] == [
        (None, "holder_assigned", 3),
        (None, "event_retracted", None),
    ]


def test_to_must_come_after_from(client: TestClient, register: Register, append: Append) -> None:
    aid, _ = cm_ruritania(register, append)
    backwards = {"from": JUNE["to"], "to": JUNE["from"]}

    for path in (f"/v1/accounts/{aid}/custody/changes", "/v1/handles/x/CMRuritania/changes",
                 f"/v1/offices/{OFFICE}/tenures/changes"):  # fmt: skip
        body = assert_problem(client.get(path, params=backwards), 422, "invalid-input")
        assert [e["loc"] for e in body["errors"]] == [["to"]], path
        same = assert_problem(client.get(path, params={**JUNE, "to": JUNE["from"]}), 422,
                              "invalid-input")  # fmt: skip
        assert [e["loc"] for e in same["errors"]] == [["to"]]


def test_from_and_to_are_required_times(
    client: TestClient, register: Register, append: Append
) -> None:
    aid, _ = cm_ruritania(register, append)
    path = f"/v1/accounts/{aid}/custody/changes"

    missing = assert_problem(client.get(path, params={"to": JUNE["to"]}), 422, "invalid-input")
    assert [e["loc"] for e in missing["errors"]] == [["query", "from"]]
    naive = {**JUNE, "from": "2021-06-01T00:00:00"}
    body = assert_problem(client.get(path, params=naive), 422, "invalid-input")
    assert [e["loc"] for e in body["errors"]] == [["from"]]


def test_what_was_never_recorded_is_not_found(client: TestClient, anonymous: TestClient) -> None:
    assert_problem(
        client.get(f"/v1/accounts/{UNKNOWN}/custody/changes", params=JUNE), 404,
        "account-not-found",
    )  # fmt: skip
    assert_problem(
        client.get("/v1/handles/x/NeverCarried/changes", params=JUNE), 404, "handle-not-found"
    )
    assert_problem(
        client.get("/v1/offices/nowhere-office/tenures/changes", params=JUNE), 404,
        "office-not-found",
    )  # fmt: skip
    assert_problem(
        anonymous.get(f"/v1/accounts/{UNKNOWN}/custody/changes"), 401, "unauthorized"
    )  # the caller first, then the window

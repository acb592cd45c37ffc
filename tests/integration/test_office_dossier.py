"""The dossier of a dispute about an office, on both stores: the office story (Ben New's tenure
entered from 1 February, though he took office at noon on 20 January; the office contests it;
the panel retracts the entry and records the tenure from the handover). What it tells the
panel before and after the ruling, and that `custody verify` accepts it untouched and names
what differs once anything in it is altered."""

from __future__ import annotations

import base64
import copy
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest

from api.bootstrap import Container
from api.cli import EXIT_OK, EXIT_REFUSED
from api.http.dossier_schemas import dossier_body, dossier_out
from ledger.dispute_commands import OpenDispute, Withdraw
from ledger.settings import Settings
from ledger.tlog.dossier import verify_dossier
from ledger.tlog.keyfile import create_key
from ledger.tlog.note import Signer
from ledger.tlog.verify import Policy, VerifyError
from tests.dispute_story import (
    COMPLAINT,
    HANDOVER,
    HANDOVER_RECORDED,
    OFFICE,
    RULING,
    WINDOW,
    WRONG_START,
    office_ruling,
    office_story_in,
    open_office_dispute,
)
from tests.support import HeldClock, cli

ORIGIN = "test.example/office-dossier"
FROM, TO = WINDOW["from"], WINDOW["to"]

Story = tuple[Container, HeldClock, UUID, UUID]


@pytest.fixture
def signer(tmp_path: Path) -> Signer:
    return create_key(tmp_path / "log.key", ORIGIN)


@pytest.fixture
def story(store_url: str, tmp_path: Path, signer: Signer) -> Iterator[Story]:
    """The office story up to the complaint and its evidence (the dispute open)."""
    settings = Settings(
        database_url=store_url, log_key_file=tmp_path / "log.key", log_origin=ORIGIN
    )
    yield from office_story_in(settings)


def _published(c: Container) -> None:
    assert c.integrator is not None and c.checkpointer is not None
    c.integrator.integrate()
    c.checkpointer.checkpoint()


def _ruled(c: Container, clock: HeldClock) -> UUID:
    dispute = open_office_dispute(c, clock)
    clock.set(RULING)
    c.ledger.append_dispute(dispute, office_ruling(), actor="appeals-panel")
    _published(c)
    return dispute


def _other_root(note: str) -> str:
    """The signed checkpoint with another tree's root (the signature then covers nothing)."""
    origin, size, _, *rest = note.split("\n")
    return "\n".join([origin, size, base64.b64encode(bytes(32)).decode(), *rest])


def _z(when: object) -> str:
    return str(when).replace("+00:00", "Z").replace(" ", "T")


def _tenures(answer: dict[str, Any]) -> list[tuple[str, str, str, list[int]]]:
    return [(t["holder"]["id"], t["from"], t["to"], [p["version"] for p in t["established_by"]])
            for t in answer["tenures"]]  # fmt: skip


def test_the_office_dossier_shows_the_tenure_as_contested_then_as_the_panel_corrected_it(
    story: Story, signer: Signer
) -> None:
    c, clock, office_account, personal = story
    dispute = open_office_dispute(c, clock)
    _published(c)
    policy = Policy(signer.verifier())

    # While the dispute is open: as known at the complaint and now, Anna Old held the office
    # to 1 February and Ben New from then, as the records office entered it (v3).
    before = dossier_body(c.dossiers.for_dispute(dispute))
    assert before["subject"] == {"office": OFFICE}
    assert before["dispute"]["status"] == "open"
    entered = [
        ("anna-old", FROM, _z(WRONG_START), [2, 3]),
        ("ben-new", _z(WRONG_START), TO, [3]),
    ]
    assert [(a["label"], a["known_at"], _tenures(a)) for a in before["answers"]] == [
        ("complaint", _z(COMPLAINT), entered),
        ("change", "2025-06-01T10:00:00Z", [("anna-old", FROM, TO, [2])]),
        ("change", _z(HANDOVER_RECORDED), entered),
        ("now", None, entered),
    ]
    assert verify_dossier(before, policy).answers == 4

    # The panel upholds it: v3 retracted (v4), the tenure recorded from the handover (v5).
    clock.set(RULING)
    c.ledger.append_dispute(dispute, office_ruling(), actor="appeals-panel")
    _published(c)
    dossier = c.dossiers.for_dispute(dispute)
    body = dossier_body(dossier)
    # The body built directly is exactly what the response model gives, value for value.
    assert body == dossier_out(dossier).model_dump(mode="json", by_alias=True)
    corrected = [
        ("anna-old", FROM, _z(HANDOVER), [2, 5]),
        ("ben-new", _z(HANDOVER), TO, [5]),
    ]
    assert [(a["label"], a["known_at"], _tenures(a)) for a in body["answers"]] == [
        ("complaint", _z(COMPLAINT), entered),  # what the office complained about
        ("change", "2025-06-01T10:00:00Z", [("anna-old", FROM, TO, [2])]),
        ("change", _z(HANDOVER_RECORDED), entered),
        ("change", _z(RULING), corrected),
        ("now", None, corrected),
    ]
    # The changes, as GET /v1/offices/{office}/tenures/changes gives them.
    changes = body["changes"]
    assert (changes["office"], changes["window"]) == (OFFICE, WINDOW)
    assert [[(e["office"], e["version"], e["type"]) for e in v["changed_by"]]
            for v in changes["versions"]] == [
        [(OFFICE, 1, "office_registered"), (OFFICE, 2, "holder_assigned")],
        [(OFFICE, 3, "holder_assigned")],
        [(OFFICE, 3, "holder_assigned"), (OFFICE, 4, "event_retracted"),
         (OFFICE, 5, "holder_assigned")],
    ]  # fmt: skip
    # Every event of the office's stream; the corrections name the dispute.
    assert [(e["version"], e["type"], e["retracted_by"]) for e in body["events"]] == [
        (1, "office_registered", None),
        (2, "holder_assigned", None),
        (3, "holder_assigned", 4),
        (4, "event_retracted", None),
        (5, "holder_assigned", None),
    ]
    assert all(e["office"] == OFFICE and e["account_id"] is None for e in body["events"])
    assert body["events"][4]["reason"] == f"Correction ordered in dispute {dispute}."
    assert [(x["version"], x["type"]) for x in body["dispute"]["corrections"]] == [
        (4, "event_retracted"),
        (5, "holder_assigned"),
    ]
    # The accounts that spoke for it, as known at the complaint and now, by id (not proved).
    spoke = sorted([(str(office_account), ["CMRuritania"], "office", FROM, TO),
                    (str(personal), ["BenNewRU"], "personal", _z(HANDOVER), TO)])  # fmt: skip
    assert [(a["known_at"], a["account_id"], a["handles"], a["ownership"], a["from"], a["to"])
            for a in body["accounts"]] == [
        *((_z(COMPLAINT), *s) for s in spoke), *((None, *s) for s in spoke),
    ]  # fmt: skip
    owners = {a["account_id"]: a["owner"] for a in body["accounts"]}
    assert owners == {str(office_account): None,
                      str(personal): {"id": "ben-new", "name": "Ben New"}}  # fmt: skip
    # What applies to an account's dossier only is null or empty.
    assert (body["account"], body["handles"], body["offices"]) == (None, [], [])
    assert body["proof"] is not None and len(body["proof"]["entries"]) == 5
    assert body["dispute_proof"] is not None and len(body["dispute_proof"]["entries"]) == 3
    check = verify_dossier(body, policy)
    assert (check.office, check.account_id, check.events, check.versions, check.answers) == (
        OFFICE, None, 5, 3, 5,
    )  # fmt: skip


def test_other_disputes_about_the_office_are_those_whose_window_meets_this_one(
    story: Story,
) -> None:
    c, clock, _, _ = story
    dispute = _ruled(c, clock)

    def opened(window: dict[str, str]) -> UUID:
        return c.ledger.open_dispute(
            OpenDispute.parse({"subject": {"office": OFFICE}, "window": window,
                               "claim": "Anna Old resigned on 19 January."}),
            actor="watchdog-ngo",
        ).account_id  # fmt: skip

    meets = opened({"from": "2026-02-01T00:00:00Z", "to": "2026-04-01T00:00:00Z"})
    opened({"from": "2026-03-01T00:00:00Z", "to": "2026-04-01T00:00:00Z"})  # just after
    c.ledger.append_dispute(meets, Withdraw.parse({"note": "Mistaken."}), actor="watchdog-ngo")
    body = dossier_body(c.dossiers.for_dispute(dispute))
    assert [(d["dispute_id"], d["status"]) for d in body["disputes"]] == [(str(meets), "withdrawn")]


def test_verify_accepts_the_untouched_office_dossier_and_names_each_alteration(
    story: Story, signer: Signer, tmp_path: Path, store_url: str
) -> None:
    c, clock, _, _ = story
    dispute = _ruled(c, clock)
    body = dossier_body(c.dossiers.for_dispute(dispute))
    policy = Policy(signer.verifier())
    verify_dossier(body, policy)

    def altered(change: Callable[[dict[str, Any]], None]) -> dict[str, Any]:
        d = copy.deepcopy(body)
        change(d)
        return d

    handover = _z(HANDOVER)
    alterations: list[tuple[Callable[[dict[str, Any]], None], str]] = [
        (lambda d: d["events"][2].update(actor="cm-office"), "event 3 is not what"),
        (lambda d: d["events"][1]["data"]["holder"].update(name="Someone Else"), "event 2"),
        (lambda d: d["events"][0].update(office="pk-dg-ispr"), "event 1"),
        (lambda d: d["events"].pop(), "lists 4 events"),
        (lambda d: d["events"][2].update(retracted_by=None), "retracted_by"),
        (lambda d: d["answers"][0]["tenures"][0]["holder"].update(id="ben-new"), "answer 1"),
        # The complaint's answer made to look as corrected: the record then said otherwise.
        (lambda d: d["answers"][0]["tenures"][1].update(**{"from": handover}), "answer 1"),
        (lambda d: d["answers"][-1]["tenures"].pop(), "answer 5"),
        (
            lambda d: d["answers"][-1]["tenures"][0]["established_by"][1].update(actor="x"),
            "answer 5",
        ),
        (lambda d: d["answers"][0].update(label="change"), "the answers are not"),
        (lambda d: d["answers"].pop(0), "the answers are not"),
        (lambda d: d["answers"][0].update(known_at="2026-01-28T00:00:00Z"), "the answers are"),
        (lambda d: d["answers"][0].update(custody=d["answers"][0].pop("tenures")), "answer 1"),
        (lambda d: d["changes"]["versions"].pop(1), "lists 2 changes"),
        (lambda d: d["changes"]["versions"][2]["changed_by"].pop(), "changed by"),
        (lambda d: d["changes"]["versions"][2]["changed_by"][0].update(reason="x"), "changed by"),
        (
            lambda d: d["changes"]["versions"][0]["tenures"][0]["established_by"][0].update(
                actor="someone"
            ),
            "change 1",
        ),
        (lambda d: d["changes"]["versions"][1]["tenures"][1].update(to=handover), "change 2"),
        (lambda d: d["changes"].update(office="pk-dg-ispr"), "the changes are not of"),
        (lambda d: d["dispute"].update(outcome="rejected"), "outcome"),
        (lambda d: d["dispute"].update(subject={"office": "pk-dg-ispr"}), "subject"),
        (lambda d: d["dispute"]["events"][1].update(reason="nothing"), "events"),
        (lambda d: d["dispute"]["corrections"].pop(), "corrections"),
        (lambda d: d["dispute"].update(closed_at=None), "closed_at"),
        (lambda d: d["window"].update(to="2026-04-01T00:00:00Z"), "window"),
        (lambda d: d["proof"]["entries"][0].update(hashes=[]), "proof: entry"),
        (
            lambda d: d["proof"].update(checkpoint=_other_root(d["proof"]["checkpoint"])),
            "checkpoint",
        ),
        # Without the corrections' entries the ruling names events the proof does not hold.
        (lambda d: d["proof"]["entries"].pop(), "not an event of the office"),
        (lambda d: d.update(proof=d["dispute_proof"]), "the proof's entries are of stream"),
        (lambda d: d.update(subject={"office": "pk-dg-ispr"}), "the proof's entries"),
        (lambda d: d.update(dispute_proof=None), "no proof"),
        (lambda d: d.update(dispute_proof=d["proof"]), "not a dispute's"),
        (lambda d: d.update(account={"account_id": str(UUID(int=1))}), "does not apply"),
        (lambda d: d.update(handles=[{"known_at": None}]), "does not apply"),
        (lambda d: d["accounts"][0].update(known_at="2026-02-01T00:00:00Z"), "neither"),
    ]
    for change, said in alterations:
        with pytest.raises(VerifyError) as refused:
            verify_dossier(altered(change), policy)
        assert said in str(refused.value), (said, str(refused.value))

    # The same through the command line, as a panel runs it on the file it was handed.
    key = str(signer.verifier())
    good, bad = tmp_path / "dossier.json", tmp_path / "altered.json"
    good.write_text(json.dumps(body))
    bad.write_text(json.dumps(altered(alterations[0][0])))
    assert cli(store_url, "verify", str(good), "--key", key) == EXIT_OK
    assert cli(store_url, "verify", str(bad), "--key", key) == EXIT_REFUSED


def test_custody_dossier_writes_an_office_dispute_in_every_format(
    story: Story,
    store_url: str,
    signer: Signer,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    c, clock, _, _ = story
    dispute = _ruled(c, clock)
    monkeypatch.setenv("CUSTODY_LOG_KEY_FILE", str(tmp_path / "log.key"))
    monkeypatch.setenv("CUSTODY_LOG_ORIGIN", ORIGIN)
    outs = {f: tmp_path / f"dossier.{f}" for f in ("json", "prov", "html")}
    for name, out in outs.items():
        code = cli(store_url, "dossier", str(dispute), "--format", name, "--out", str(out))
        assert code == EXIT_OK, capsys.readouterr().err
    written = json.loads(outs["json"].read_text())
    assert written["subject"] == {"office": OFFICE}
    capsys.readouterr()
    key = str(signer.verifier())
    assert cli(store_url, "verify", str(outs["json"]), "--key", key) == EXIT_OK
    assert f"verified: the dossier of office {OFFICE} is what its 5 entries" in (
        capsys.readouterr().out
    )
    assert '"custody:office/ru-chief-minister"' in outs["prov"].read_text()
    page = outs["html"].read_text()
    assert "Chief Minister of Ruritania (office ru-chief-minister)" in page
    assert "Accounts that spoke for the office" in page

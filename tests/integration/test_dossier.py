"""The dossier of the dispute story, on both stores: what it tells the panel, and that `custody
verify` accepts it untouched and names what differs once anything in it is altered."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest

from api.bootstrap import Container
from api.cli import EXIT_OK, EXIT_REFUSED
from api.dossier.html import to_html
from api.http import plain
from api.http.change_schemas import CustodyChangesOut
from api.http.dossier_schemas import dossier_body, dossier_out
from ledger.backfill import import_file
from ledger.settings import Settings
from ledger.tlog.dossier import verify_dossier
from ledger.tlog.entry import parse_entry
from ledger.tlog.keyfile import create_key
from ledger.tlog.note import Signer
from ledger.tlog.verify import Policy, VerifyError
from tests.dispute_story import COMPLAINT, HANDOVER, RENAMED, RULING, WINDOW, story_in, tell
from tests.stories import ts
from tests.support import HeldClock, cli

ORIGIN = "test.example/dossier"

Story = tuple[Container, HeldClock, UUID, UUID, UUID]


@pytest.fixture
def signer(tmp_path: Path) -> Signer:
    return create_key(tmp_path / "log.key", ORIGIN)


@pytest.fixture
def story(store_url: str, tmp_path: Path, signer: Signer) -> Iterator[Story]:
    settings = Settings(
        database_url=store_url, log_key_file=tmp_path / "log.key", log_origin=ORIGIN
    )
    for c, clock, office_account, look_alike in story_in(settings):
        dispute = tell(c, clock, office_account, look_alike)
        assert c.integrator is not None and c.checkpointer is not None
        c.integrator.integrate()
        c.checkpointer.checkpoint()
        yield c, clock, office_account, look_alike, dispute


def test_the_dispute_dossier_tells_the_story_as_known_then_and_now(story: Story) -> None:
    c, _, office_account, look_alike, dispute = story
    dossier = c.dossiers.for_dispute(dispute)
    body = dossier_body(dossier)
    # The body built directly is exactly what the response model gives, value for value.
    assert body == dossier_out(dossier).model_dump(mode="json", by_alias=True)

    assert body["format"] == "custody-dossier/v1"
    assert body["subject"] == {"account_id": str(office_account)}
    assert body["window"] == WINDOW
    assert body["dispute"]["status"] == "resolved"
    assert [e["type"] for e in body["dispute"]["events"]] == [
        "dispute_opened",
        "evidence_added",
        "resolved",
    ]
    # As known on the complaint's date, the office's account was Anna Old's all through the
    # window (its handle renamed away); now it passes to Ben New at the handover.
    labels = [(a["label"], a["known_at"]) for a in body["answers"]]
    assert labels == [
        ("complaint", _z(COMPLAINT)),
        ("change", "2025-06-01T10:00:00Z"),
        ("change", "2026-01-19T18:00:00Z"),
        ("change", _z(RULING)),
        ("now", None),
    ]
    holders = [[(i["holder"]["id"], i["from"], i["to"]) for i in a["custody"]]
               for a in body["answers"]]  # fmt: skip
    assert holders[0] == [("anna-old", WINDOW["from"], WINDOW["to"])]
    assert holders[-1] == [
        ("anna-old", WINDOW["from"], _z(HANDOVER)),
        ("ben-new", _z(HANDOVER), WINDOW["to"]),
    ]
    # Who carried the handles, as known on the complaint's date: the look-alike from the
    # rename on; now, the office's account all through.
    carried = {(h["known_at"], h["handle"]): [(i["account_id"], i["from"], i["to"])
               for i in h["intervals"]] for h in body["handles"]}  # fmt: skip
    assert carried[(_z(COMPLAINT), "CMRuritania")] == [
        (str(office_account), WINDOW["from"], _z(RENAMED)),
        (str(look_alike), _z(RENAMED), WINDOW["to"]),
    ]
    assert carried[(None, "CMRuritania")] == [(str(office_account), WINDOW["from"], WINDOW["to"])]
    assert carried[(None, "AnnaOldArchive")] == []
    # The office's own record: Anna Old's tenure, then Ben New's from the handover (recorded
    # the day it happened), proved by the office stream's entries.
    (office,) = body["offices"]
    assert office["tenures"]["office"] == "ru-chief-minister"
    assert [[(t["holder"]["id"], t["from"], t["to"]) for t in v["tenures"]]
            for v in office["tenures"]["versions"]] == [
        [("anna-old", WINDOW["from"], WINDOW["to"])],
        [("anna-old", WINDOW["from"], _z(HANDOVER)), ("ben-new", _z(HANDOVER), WINDOW["to"])],
    ]  # fmt: skip
    assert office["proof"] is not None and len(office["proof"]["entries"]) == 3
    page = to_html(body)
    offices_part = page[
        page.index('id="offices"') : page.index("</section>", page.index('id="offices"'))
    ]
    assert "ru-chief-minister" in offices_part and "Ben New: 2026-01-20 12:00" in offices_part
    assert [v["known_at"] for v in body["changes"]["versions"]] == [
        k for label, k in labels if label == "change"
    ]
    assert [e["version"] for e in body["events"]] == [1, 2, 3, 4, 5]
    assert body["events"][2]["retracted_by"] == 4
    assert body["disputes"] == []
    assert body["accounts"] == []  # an office's dossier's only
    assert body["proof"] is not None and len(body["proof"]["entries"]) == 5
    assert body["dispute_proof"] is not None and len(body["dispute_proof"]["entries"]) == 3
    assert body["account"]["handle"] == "CMRuritania"


def test_verify_accepts_the_untouched_dossier_and_names_each_alteration(
    story: Story, signer: Signer, tmp_path: Path, store_url: str
) -> None:
    c, _, _, _, dispute = story
    body = dossier_body(c.dossiers.for_dispute(dispute))
    policy = Policy(signer.verifier())
    check = verify_dossier(body, policy)
    assert (check.events, check.versions, check.answers, check.dispute_id) == (5, 3, 5, dispute)

    def altered(change: Callable[[dict[str, Any]], None]) -> dict[str, Any]:
        d = copy.deepcopy(body)
        change(d)
        return d

    alterations: list[tuple[Callable[[dict[str, Any]], None], str]] = [
        (lambda d: d["events"][2].update(actor="records-office"), "event 3 is not what"),
        (lambda d: d["events"][1]["data"]["holder"].update(name="Someone Else"), "event 2"),
        (lambda d: d["events"].pop(), "lists 4 events"),
        (lambda d: d["answers"][0]["custody"][0]["holder"].update(id="ben-new"), "answer 1"),
        (lambda d: d["answers"][-1]["custody"].pop(), "answer 5"),
        (lambda d: d["changes"]["versions"].pop(1), "lists 2 changes"),
        (lambda d: d["handles"][0]["intervals"][0].update(to=WINDOW["to"]), "handles 1"),
        (lambda d: d["offices"][0]["tenures"]["versions"].pop(), "office ru-chief-minister"),
        (lambda d: d["offices"][0].update(proof=d["proof"]), "another stream"),
        (lambda d: d["changes"]["versions"][2]["changed_by"].pop(), "changed by"),
        (lambda d: d["dispute"].update(outcome="rejected"), "outcome"),
        (lambda d: d["dispute"]["events"][1].update(reason="nothing"), "events"),
        (lambda d: d["proof"]["entries"][0].update(hashes=[]), "proof: entry"),
        (lambda d: d.update(dispute_proof=None), "no proof"),
        (lambda d: d.update(dispute_proof=d["proof"]), "not a dispute's"),
        (lambda d: d["events"][2].update(retracted_by=None), "retracted_by"),
        (lambda d: d["changes"]["versions"][2]["changed_by"][0].update(reason="x"), "changed by"),
        (
            lambda d: d["changes"]["versions"][0]["custody"][0]["established_by"][0].update(
                actor="someone"
            ),
            "change 1",
        ),
        (lambda d: d["answers"][0].update(label="change"), "the answers are not"),
        (lambda d: d["answers"].pop(0), "the answers are not"),
        (lambda d: d["answers"][0].update(known_at="2026-01-28T00:00:00Z"), "the answers are"),
        (lambda d: d["account"].update(handle="Other"), "the account is not"),
        (lambda d: d["account"]["holder"].update(name="Someone"), "holder"),
        (lambda d: d["dispute"].update(opened_by="someone"), "opened_by"),
        (lambda d: d["dispute"].update(closed_at=None), "closed_at"),
        (lambda d: d["dispute"].update(contested=[]), "contested"),
        (lambda d: d["dispute"]["corrections"].pop(), "corrections"),
        (lambda d: d["handles"].pop(), "the handles are not"),
        (lambda d: d.update(offices=[]), "the offices are"),
        (lambda d: d["window"].update(to="2026-04-01T00:00:00Z"), "window"),
        # An office dossier's accounts do not apply to an account's.
        (lambda d: d.update(accounts=[{"known_at": None}]), "does not apply"),
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


def test_an_account_dossier_over_any_window_and_its_bad_windows(story: Story) -> None:
    c, _, office_account, _, dispute = story
    body = dossier_body(
        c.dossiers.for_account(office_account, ts("2026-01-19T00:00"), ts("2026-01-21T00:00"))
    )
    assert body["dispute"] is None
    assert [d["dispute_id"] for d in body["disputes"]] == [str(dispute)]
    adhoc = c.dossiers.for_account(office_account, ts("2026-01-01T00:00"), ts("2026-12-01T00:00"))
    assert dossier_body(adhoc) == dossier_out(adhoc).model_dump(mode="json", by_alias=True)
    changes = adhoc.changes
    assert plain.custody_changes(changes) == CustodyChangesOut.model_validate(changes).model_dump(
        mode="json", by_alias=True
    )
    assert [a["label"] for a in body["answers"]][-1] == "now"
    from ledger.errors import InvalidInput

    with pytest.raises(InvalidInput) as refused:
        c.dossiers.for_account(office_account, ts("2026-01-21T00:00"), ts("2026-01-19T00:00"))
    assert refused.value.field == "to"


def _z(when: object) -> str:
    return str(when).replace("+00:00", "Z").replace(" ", "T")


def test_the_stored_log_with_disputes_verifies_whole(story: Story, store_url: str) -> None:
    """Dispute events are entries of the verifiable log like any custody event: the audit of
    the store re-derives every entry, chain and checkpoint, the disputes' included."""
    c, _, _, _, dispute = story
    assert c.log is not None
    leaves = c.log.stream_leaves(dispute, upto_index=c.ledger.head())
    entries = [parse_entry(leaf.entry) for leaf in leaves]
    assert [(stream, fact.kind, fact.version, fact.type) for stream, fact, _ in entries] == [
        (dispute, "dispute", 1, "dispute_opened"),
        (dispute, "dispute", 2, "evidence_added"),
        (dispute, "dispute", 3, "resolved"),
    ]
    assert all(b'"dispute_id"' in leaf.entry for leaf in leaves)
    assert cli(store_url, "verify", "--store") == EXIT_OK


def test_a_dossier_shows_whom_an_imported_event_is_attributed_to_and_verify_holds_it_to_the_entry(
    story: Story, signer: Signer, tmp_path: Path
) -> None:
    """After the ruling, a backfill file says a clerk's reader token observed the account's
    followers. The dossier lists the event as written by the import's runner, attributed to
    the reader; the entry says so too, so an attribution changed in the file is refused."""
    c, clock, office_account, _, _ = story
    clock.set(ts("2026-03-01T00:00"))
    line = {"type": "audience_observed", "account_id": str(office_account), "followers": 41_000,
            "effective_at": "2026-02-27T00:00:00Z", "actor": "t-reader"}  # fmt: skip
    path = tmp_path / "backfill.jsonl"
    path.write_text(json.dumps(line) + "\n", encoding="utf-8")
    import_file(c.ledger, path, actor="import:clerk", catch_up=c.projector.catch_up)
    assert c.integrator is not None and c.checkpointer is not None
    c.integrator.integrate()
    c.checkpointer.checkpoint()
    dossier = c.dossiers.for_account(office_account, ts("2026-01-01T00:00"), ts("2026-04-01T00:00"))
    body = dossier_body(dossier)
    assert body == dossier_out(dossier).model_dump(mode="json", by_alias=True)
    observed = body["events"][-1]
    assert (observed["type"], observed["actor"], observed["attributed_to"]) == (
        "audience_observed", "import:clerk", "t-reader",
    )  # fmt: skip
    assert {e["attributed_to"] for e in body["events"][:-1]} == {None}
    assert "(attributed to t-reader)" in to_html(body)
    policy = Policy(signer.verifier())
    verify_dossier(body, policy)
    for said in ("records-office", None):
        altered = copy.deepcopy(body)
        altered["events"][-1]["attributed_to"] = said
        with pytest.raises(VerifyError, match="attributed_to: dossier"):
            verify_dossier(altered, policy)
    earlier = copy.deepcopy(body)  # a dossier made before the field: every event unattributed
    for event in earlier["events"]:
        del event["attributed_to"]
    with pytest.raises(VerifyError, match="attributed_to: dossier None, entry 't-reader'"):
        verify_dossier(earlier, policy)

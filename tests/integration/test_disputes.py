"""A dispute from a real shape of one, on both stores: the outgoing chief minister's team renames
the office's account away the day before the handover and a look-alike takes the handle; the
office opens a dispute the next week with evidence; a month later the panel upholds it and the
record is corrected with the ruling, in one transaction. Every answer is checked before, during
and after, as known at each date, and so is the listing of changes."""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4

import pytest

from api.bootstrap import Container, build
from ledger.backfill import ImportRefused, import_file, write_export
from ledger.dispute_commands import AddEvidence, OpenDispute, Resolve, Withdraw
from ledger.errors import DisputeNotFound, DisputeNotOpen, InvalidInput, LedgerError
from ledger.records import EventRecord
from ledger.settings import Settings
from tests.dispute_story import (
    COMPLAINT,
    HANDOVER,
    MORE_EVIDENCE,
    RENAMED,
    RULING,
    SOURCE,
    WINDOW,
    open_dispute,
    ruling,
    story_in,
)
from tests.stories import ts
from tests.support import FakeClock, HeldClock


@pytest.fixture
def story(store_url: str) -> Iterator[tuple[Container, HeldClock, UUID, UUID]]:
    yield from story_in(Settings(database_url=store_url))


def _holder(c: Container, account: UUID, at: str, known_at: str | None) -> str | None:
    view = c.queries.account_at(account, ts(at), None if known_at is None else ts(known_at))
    assert view is not None
    return view.holder.id if view.holder else None


def _carrier(c: Container, at: str, known_at: str | None) -> UUID | None:
    answer = c.queries.handle_at(
        "x", "CMRuritania", ts(at), None if known_at is None else ts(known_at)
    )
    return answer.account.account_id if answer.account else None


def test_the_panel_upholds_the_office_and_the_record_says_so_as_known_after_the_ruling(
    story: tuple[Container, HeldClock, UUID, UUID],
) -> None:
    c, clock, office_account, look_alike = story
    dispute = open_dispute(c, clock, office_account)
    clock.set(MORE_EVIDENCE)
    c.ledger.append_dispute(
        dispute,
        AddEvidence.parse(
            {
                "evidence": [{"url": "https://archive.example/cmruritania-2026-01-19"}],
                "note": "The profile the day before the rename.",
            }
        ),
        actor="cm-office",
    )
    clock.set(RULING)
    resolution, corrections = c.ledger.append_dispute(
        dispute, ruling(office_account, look_alike), actor="appeals-panel"
    )

    # The resolution and its corrections share one record time and one transaction.
    assert {r.recorded_at for r in (resolution, *corrections)} == {RULING}
    assert [(r.account_id, r.version, r.type) for r in corrections] == [
        (look_alike, 2, "event_retracted"),
        (office_account, 4, "event_retracted"),
        (office_account, 5, "holder_assigned"),
    ]
    assert all(
        r.reason.startswith(f"Correction ordered in dispute {dispute}.") for r in corrections
    )
    assert resolution.data["corrections"] == [
        {"stream_id": str(r.account_id), "version": r.version, "type": r.type} for r in corrections
    ]

    # Before the complaint: the look-alike carries the handle; the office's account is
    # @AnnaOldArchive, still Anna Old's; nothing is contested.
    before = "2026-01-25T00:00"
    assert _carrier(c, "2026-02-01T00:00", before) == look_alike
    assert _holder(c, office_account, "2026-02-01T00:00", before) == "anna-old"
    assert c.queries.account_at(office_account, ts("2026-02-01T00:00"), ts(before)).disputes == ()  # type: ignore[union-attr]

    # While the dispute is open: the same record, now marked as contested where the window
    # holds `at`; not outside the window.
    during = "2026-02-10T00:00"
    view = c.queries.account_at(office_account, ts("2026-02-01T00:00"), ts(during))
    assert view is not None and view.handle == "AnnaOldArchive"
    assert [d.dispute_id for d in view.disputes] == [dispute]
    assert view.disputes[0].opened_at == COMPLAINT
    outside = c.queries.account_at(office_account, ts("2026-04-01T00:00"), ts(during))
    assert outside is not None and outside.disputes == ()
    assert c.queries.custody_timeline(office_account, ts(during)).disputes == view.disputes
    handle = c.queries.handle_at("x", "CMRuritania", ts("2026-02-01T00:00"), ts(during))
    assert handle.account is not None and handle.account.account_id == look_alike
    # The handle's answer is contested too: the dispute is about an account that carried it.
    assert [d.dispute_id for d in handle.disputes] == [dispute]

    # After the ruling: the office's account carried @CMRuritania all along and passed to
    # Ben New at the handover; the look-alike never existed; the dispute is closed.
    assert _carrier(c, "2026-02-01T00:00", None) == office_account
    assert _holder(c, office_account, "2026-01-19T23:00", None) == "anna-old"
    assert _holder(c, office_account, "2026-02-01T00:00", None) == "ben-new"
    now = c.queries.account_at(office_account, ts("2026-02-01T00:00"))
    assert now is not None and now.handle == "CMRuritania" and now.disputes == ()
    assert c.queries.account_at(look_alike, ts("2026-02-01T00:00")) is None

    # The changes of the office account's custody in the window, as the panel reads them.
    changes = c.queries.custody_changes(office_account, ts(WINDOW["from"]), ts(WINDOW["to"]))
    summary = [
        (v.known_at, [(i.holder.id, i.valid_from, i.valid_to, i.handles) for i in v.intervals])
        for v in changes.versions
    ]
    window_from, window_to = ts(WINDOW["from"]), ts(WINDOW["to"])
    assert summary == [
        (ts("2025-06-01T10:00"), [("anna-old", window_from, window_to, ("CMRuritania",))]),
        (RENAMED, [("anna-old", window_from, window_to, ("CMRuritania", "AnnaOldArchive"))]),
        (RULING, [("anna-old", window_from, HANDOVER, ("CMRuritania",)),
                  ("ben-new", HANDOVER, window_to, ("CMRuritania",))]),
    ]  # fmt: skip
    assert [(r.version, r.type) for r in changes.versions[-1].changed_by] == [
        (3, "handle_renamed"),
        (4, "event_retracted"),
        (5, "holder_assigned"),
    ]

    # The dispute as known at each date.
    assert c.queries.disputes.dispute(dispute, ts(during)).status == "open"
    final = c.queries.disputes.dispute(dispute)
    assert (final.status, final.outcome, final.closed_at, final.version) == (
        "resolved",
        "upheld",
        RULING,
        3,
    )
    assert [e.type for e in final.events] == ["dispute_opened", "evidence_added", "resolved"]
    with pytest.raises(DisputeNotFound):
        c.queries.disputes.dispute(dispute, ts("2026-01-26T00:00"))
    page = c.queries.disputes.disputes(account_id=office_account)
    assert [(d.dispute_id, d.status, d.outcome) for d in page.disputes] == [
        (dispute, "resolved", "upheld")
    ]
    assert c.queries.disputes.disputes(status="open").disputes == ()


def test_a_resolution_with_a_broken_correction_writes_nothing_and_names_each_one(
    story: tuple[Container, HeldClock, UUID, UUID],
) -> None:
    c, clock, office_account, look_alike = story
    dispute = open_dispute(c, clock, office_account)
    clock.set(RULING)
    head = c.ledger.head()
    broken = Resolve.parse(
        {
            "outcome": "upheld",
            "ruling": "Corrected.",
            "corrections": [
                # Retracting the rename while the look-alike still holds the handle: taken.
                {"account_id": str(office_account), "type": "event_retracted",
                 "event_version": 3, "effective_at": RENAMED.isoformat()},
                {"account_id": str(look_alike), "type": "event_retracted", "event_version": 9,
                 "effective_at": RENAMED.isoformat()},
                {"account_id": str(uuid4()), "type": "holder_released",
                 "effective_at": HANDOVER.isoformat()},
            ],
        }
    )  # fmt: skip
    with pytest.raises(InvalidInput) as refused:
        c.ledger.append_dispute(dispute, broken, actor="appeals-panel")
    assert [loc for loc, _ in refused.value.errors] == [
        ("corrections", 0),
        ("corrections", 1),
        ("corrections", 2),
    ]
    assert "nothing was written" in refused.value.detail
    assert c.ledger.head() == head
    assert c.queries.disputes.dispute(dispute).status == "open"
    # Fixed, the same resolution is written whole.
    c.ledger.append_dispute(dispute, ruling(office_account, look_alike), actor="appeals-panel")
    assert c.queries.disputes.dispute(dispute).status == "resolved"


def test_a_closed_dispute_takes_nothing_more_and_bad_subjects_are_refused(
    story: tuple[Container, HeldClock, UUID, UUID],
) -> None:
    c, clock, office_account, look_alike = story
    ledger = c.ledger

    def opening(**changes: object) -> OpenDispute:
        body: dict[str, object] = {
            "subject": {"account_id": str(office_account)},
            "window": WINDOW,
            "claim": "Wrong.",
        }
        return OpenDispute.parse(body | changes)

    cases: list[tuple[dict[str, object], type[LedgerError], str]] = [
        ({"window": {"from": WINDOW["to"], "to": WINDOW["from"]}}, InvalidInput, "window"),
        ({"subject": {"account_id": str(uuid4())}}, LedgerError, ""),
        ({"contested": [{"account_id": str(look_alike), "version": 1}]}, InvalidInput,
         "contested.0"),
        ({"contested": [{"account_id": str(office_account), "version": 7}]}, InvalidInput,
         "contested.0.version"),
        ({"claim": ""}, InvalidInput, "claim"),
    ]  # fmt: skip
    head = ledger.head()
    for changes, error, where in cases:
        with pytest.raises(error) as info:
            ledger.open_dispute(opening(**changes), actor="cm-office")
        if where:
            assert isinstance(info.value, InvalidInput) and info.value.field is not None
            assert info.value.field.startswith(where), (changes, info.value.field)
    assert ledger.head() == head

    dispute = open_dispute(c, clock, office_account)
    ledger.append_dispute(dispute, Withdraw.parse({"note": "Settled."}), actor="cm-office")
    head = ledger.head()
    for late in (AddEvidence.parse({"evidence": [SOURCE]}), ruling(office_account, look_alike)):
        with pytest.raises(DisputeNotOpen):
            ledger.append_dispute(dispute, late, actor="appeals-panel")
    assert ledger.head() == head
    assert c.queries.disputes.dispute(dispute).status == "withdrawn"
    with pytest.raises(DisputeNotFound):
        ledger.append_dispute(uuid4(), Withdraw.parse({}), actor="cm-office")


def _ruled_and_exported(
    story: tuple[Container, HeldClock, UUID, UUID], tmp_path: Path
) -> tuple[UUID, Path]:
    """The story's dispute opened and upheld, and the whole log exported; its id and file."""
    c, clock, office_account, look_alike = story
    dispute = open_dispute(c, clock, office_account)
    clock.set(RULING)
    c.ledger.append_dispute(dispute, ruling(office_account, look_alike), actor="appeals-panel")
    out = tmp_path / "export.jsonl"
    with out.open("w") as f:
        write_export(c.ledger, f, lambda done, total: None)
    return dispute, out


def _empty_store(tmp_path: Path, name: str) -> Container:
    return build(
        Settings(database_url=f"sqlite:///{tmp_path}/{name}.db"),
        clock=FakeClock(ts("2026-12-01T00:00")),
    )


def test_disputes_survive_an_export_and_a_restore(
    story: tuple[Container, HeldClock, UUID, UUID], tmp_path: Path
) -> None:
    c, _, office_account, look_alike = story
    dispute, out = _ruled_and_exported(story, tmp_path)
    copy = _empty_store(tmp_path, "copy")
    try:
        report = import_file(copy.ledger, out, actor="restore", restore=True)
        assert report.written == len(out.read_text().splitlines()) == 12
        # The same dispute and records, but for their log positions (index events differ).
        for stream in (dispute, office_account, look_alike):
            assert _unplaced(copy.ledger.records(stream)) == _unplaced(c.ledger.records(stream))
        restored, original = (
            copy.queries.disputes.dispute(dispute),
            c.queries.disputes.dispute(dispute),
        )
        assert replace(restored, events=()) == replace(original, events=())
    finally:
        copy.close()


def _unplaced(records: list[EventRecord]) -> list[EventRecord]:
    return [replace(r, position=None) for r in records]


def test_a_restore_refuses_dispute_lines_that_are_not_as_exported(
    story: tuple[Container, HeldClock, UUID, UUID], tmp_path: Path
) -> None:
    _, out = _ruled_and_exported(story, tmp_path)
    lines = [json.loads(line) for line in out.read_text().splitlines()]

    def without_outcome(line: dict[str, Any]) -> None:
        if line["type"] == "resolved":
            del line["outcome"]

    def evidence_without_url(line: dict[str, Any]) -> None:
        if line["type"] == "dispute_opened":
            line["evidence"] = [{"sha256": None}]

    for n, (alter, line_no, said) in enumerate(
        [(without_outcome, 12, "resolved line"), (evidence_without_url, 8, "url")]
    ):
        bad = copy.deepcopy(lines)
        for line in bad:
            alter(line)
        path = tmp_path / f"bad{n}.jsonl"
        path.write_text("".join(json.dumps(line) + "\n" for line in bad))
        other = _empty_store(tmp_path, f"bad{n}")
        try:
            with pytest.raises(ImportRefused) as refused:
                import_file(other.ledger, path, actor="restore", restore=True)
            first = refused.value.report.errors[0]
            assert first.startswith(f"line {line_no}: ") and said in first, first
            assert other.ledger.head() == 0
        finally:
            other.close()

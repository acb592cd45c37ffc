"""The dispute stories the dispute and dossier tests share.

About an account: the outgoing chief minister's team renames the office's account away the
evening before the handover and a look-alike takes the handle; the office contests it the next
week; a month later a panel upholds it, correcting the record with its ruling.

About an office: the records office enters Ben New's tenure from 1 February, the gazette's
date misread, though he took office at noon on 20 January; the office contests its own record
the next week; a month later the panel upholds it, retracting the entry and recording the
tenure from the handover."""

from __future__ import annotations

from collections.abc import Iterator
from uuid import UUID

from api.bootstrap import Container, build
from ledger.commands import (
    AssignHolder,
    Evidence,
    Holder,
    RegisterAccount,
    RegisterOffice,
    RenameHandle,
)
from ledger.dispute_commands import AddEvidence, OpenDispute, Resolve
from ledger.settings import Settings
from tests.stories import ts
from tests.support import HeldClock

OFFICE = "ru-chief-minister"
ANNA = Holder(id="anna-old", name="Anna Old")
BEN = Holder(id="ben-new", name="Ben New")
OPENED = ts("2025-06-01T00:00")
RENAMED = ts("2026-01-19T18:00")  # the evening before the handover
HANDOVER = ts("2026-01-20T12:00")
WINDOW = {"from": "2026-01-15T00:00:00Z", "to": "2026-03-01T00:00:00Z"}
COMPLAINT = ts("2026-01-27T09:00")  # record times: the next week
MORE_EVIDENCE = ts("2026-02-03T09:00")
RULING = ts("2026-02-27T10:00")  # a month later
SOURCE = {"url": "https://gazette.ruritania.example/2026/01/20/handover"}


def story_in(settings: Settings) -> Iterator[tuple[Container, HeldClock, UUID, UUID]]:
    """The office (Anna Old's from 2025-06-01, Ben New's from the handover) and its account
    (@CMRuritania), and, from the rename, the look-alike that took the account's handle, all
    recorded as they happened."""
    clock = HeldClock(ts("2025-06-01T10:00"))
    c = build(settings, clock=clock)
    ledger = c.ledger
    ledger.register_office(
        RegisterOffice(office=OFFICE, name="Chief Minister of Ruritania", jurisdiction="RU",
                       effective_at=OPENED),
        actor="records-office",
    )  # fmt: skip
    ledger.append_office(
        OFFICE, AssignHolder(holder=ANNA, effective_at=OPENED), actor="records-office"
    )
    office_account = ledger.register_account(
        RegisterAccount(platform="x", handle="CMRuritania", office=OFFICE, effective_at=OPENED),
        actor="records-office",
    ).account_id
    ledger.append(
        office_account, AssignHolder(holder=ANNA, effective_at=OPENED), actor="records-office"
    )
    clock.set(RENAMED)
    ledger.append(
        office_account,
        RenameHandle(handle="AnnaOldArchive", effective_at=RENAMED),
        actor="cm-outgoing-team",
    )
    look_alike = ledger.register_account(
        RegisterAccount(
            platform="x",
            handle="CMRuritania",
            ownership="personal",
            owner=ANNA,
            office=OFFICE,
            effective_at=RENAMED,
        ),
        actor="cm-outgoing-team",
    ).account_id
    clock.set(HANDOVER)
    ledger.append_office(
        OFFICE, AssignHolder(holder=BEN, effective_at=HANDOVER), actor="records-office"
    )
    yield c, clock, office_account, look_alike
    c.close()


def open_dispute(c: Container, clock: HeldClock, account: UUID) -> UUID:
    clock.set(COMPLAINT)
    record = c.ledger.open_dispute(
        OpenDispute.parse(
            {
                "subject": {"account_id": str(account)},
                "window": WINDOW,
                "claim": "The outgoing team renamed the office's account away; the handle is "
                "the office's and passes to Ben New.",
                "contested": [{"account_id": str(account), "version": 3}],
                "evidence": [SOURCE],
            }
        ),
        actor="cm-office",
    )
    return record.account_id


def ruling(office_account: UUID, look_alike: UUID) -> Resolve:
    return Resolve.parse(
        {
            "outcome": "upheld",
            "ruling": "The rename was not the office's act; the handle and the account pass "
            "to the successor.",
            "corrections": [
                # The look-alike never was: retract its registration first, freeing the handle.
                {"account_id": str(look_alike), "type": "event_retracted", "event_version": 1,
                 "effective_at": RENAMED.isoformat()},
                {"account_id": str(office_account), "type": "event_retracted",
                 "event_version": 3, "effective_at": RENAMED.isoformat()},
                {"account_id": str(office_account), "type": "holder_assigned",
                 "holder": BEN.model_dump(), "effective_at": HANDOVER.isoformat()},
            ],
        }
    )  # fmt: skip


def tell(c: Container, clock: HeldClock, office_account: UUID, look_alike: UUID) -> UUID:
    """The rest of the story: the complaint, more evidence, the ruling; the dispute's id."""
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
    c.ledger.append_dispute(dispute, ruling(office_account, look_alike), actor="appeals-panel")
    return dispute


# The office story.
HANDOVER_RECORDED = ts("2026-01-20T13:00")  # the afternoon of the handover
WRONG_START = ts("2026-02-01T00:00")  # the date entered, misread from the gazette


def office_story_in(settings: Settings) -> Iterator[tuple[Container, HeldClock, UUID, UUID]]:
    """The office (Anna Old's from 2025-06-01) and its account (@CMRuritania); the afternoon
    of the handover, Ben New's tenure entered from WRONG_START and his personal account
    (@BenNewRU) registered as speaking for the office from the handover. Yields the office's
    account and Ben New's."""
    clock = HeldClock(ts("2025-06-01T10:00"))
    c = build(settings, clock=clock)
    ledger = c.ledger
    ledger.register_office(
        RegisterOffice(office=OFFICE, name="Chief Minister of Ruritania", jurisdiction="RU",
                       effective_at=OPENED),
        actor="records-office",
    )  # fmt: skip
    ledger.append_office(
        OFFICE, AssignHolder(holder=ANNA, effective_at=OPENED), actor="records-office"
    )
    office_account = ledger.register_account(
        RegisterAccount(platform="x", handle="CMRuritania", office=OFFICE, effective_at=OPENED),
        actor="records-office",
    ).account_id
    ledger.append(
        office_account, AssignHolder(holder=ANNA, effective_at=OPENED), actor="records-office"
    )
    clock.set(HANDOVER_RECORDED)
    ledger.append_office(
        OFFICE,
        AssignHolder(holder=BEN, effective_at=WRONG_START, reason="Sworn in.",
                     evidence=(Evidence(url=SOURCE["url"]),)),
        actor="records-office",
    )  # fmt: skip
    personal = ledger.register_account(
        RegisterAccount(platform="x", handle="BenNewRU", ownership="personal", owner=BEN,
                        office=OFFICE, effective_at=HANDOVER),
        actor="records-office",
    ).account_id  # fmt: skip
    yield c, clock, office_account, personal
    c.close()


def office_ruling() -> Resolve:
    return Resolve.parse(
        {
            "outcome": "upheld",
            "ruling": "Ben New took office at noon on 20 January; the record is corrected.",
            "corrections": [
                {"office": OFFICE, "type": "event_retracted", "event_version": 3,
                 "effective_at": WRONG_START.isoformat()},
                {"office": OFFICE, "type": "holder_assigned", "holder": BEN.model_dump(),
                 "effective_at": HANDOVER.isoformat()},
            ],
        }
    )  # fmt: skip


def tell_office(c: Container, clock: HeldClock) -> UUID:
    """The office's complaint about its own record, more evidence, the ruling; the dispute's
    id."""
    dispute = open_office_dispute(c, clock)
    clock.set(RULING)
    c.ledger.append_dispute(dispute, office_ruling(), actor="appeals-panel")
    return dispute


def open_office_dispute(c: Container, clock: HeldClock) -> UUID:
    """The office's complaint about its own record the next week, and more evidence; the
    dispute's id."""
    clock.set(COMPLAINT)
    dispute = c.ledger.open_dispute(
        OpenDispute.parse(
            {
                "subject": {"office": OFFICE},
                "window": WINDOW,
                "claim": "Ben New took office at noon on 20 January, not on 1 February: the "
                "record leaves Anna Old in office twelve days too long.",
                "contested": [{"office": OFFICE, "version": 3}],
                "evidence": [SOURCE],
            }
        ),
        actor="cm-office",
    ).account_id
    clock.set(MORE_EVIDENCE)
    c.ledger.append_dispute(
        dispute,
        AddEvidence.parse(
            {
                "evidence": [{"url": "https://video.example/ruritania/2026-01-20-oath"}],
                "note": "The oath, at noon on 20 January.",
            }
        ),
        actor="cm-office",
    )
    return dispute

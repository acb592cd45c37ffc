"""The vocabulary the ledger's story tests share: the actor, the @POTUS dates, the people, and
the checks that read a holder and that a refusal changed nothing."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from uuid import UUID

import pytest

from ledger.application import CustodyLedger
from ledger.commands import (
    AssignHolder,
    ChangeOwnership,
    EndOfficialUse,
    Holder,
    ObserveAudience,
    RegisterAccount,
    RegisterOffice,
    ReleaseHolder,
    RetractEvent,
    StartOfficialUse,
)
from ledger.errors import LedgerError
from ledger.records import EventRecord

ACTOR = "records-office"
US = timedelta(microseconds=1)
NAMES = {
    "obama": "Barack Obama",
    "trump": "Donald J. Trump",
    "biden": "Joseph R. Biden",
    "nara": "National Archives and Records Administration",
}


def ts(text: str) -> datetime:
    """An instant written in RFC 3339; without an offset it is read as UTC."""
    value = datetime.fromisoformat(text)
    return value if value.tzinfo else value.replace(tzinfo=UTC)


OPENED = ts("2015-05-18T00:00")
INAUGURATION_2017 = ts("2017-01-20T17:00")
ELECTION_CALLED = ts("2020-11-07T16:30")
INAUGURATION_2021 = ts("2021-01-20T17:00")
LATER = ts("2026-01-01T00:00")  # when corrections are recorded as taking effect


def holder(
    ledger: CustodyLedger, account: UUID, at: datetime, known_at: datetime | None = None
) -> str | None:
    state = ledger.state(account, at, known_at)
    assert state is not None
    return state.holder.id if state.holder else None


@contextmanager
def refused(
    ledger: CustodyLedger, error: type[LedgerError], *accounts: UUID
) -> Iterator[pytest.ExceptionInfo[LedgerError]]:
    """The block must raise exactly `error` and leave the log and the records as they were."""
    before = (ledger.head(), [ledger.records(a) for a in accounts])
    with pytest.raises(LedgerError) as info:
        yield info
    assert type(info.value) is error, f"expected {error.__name__}, got {info.value!r}"
    assert (ledger.head(), [ledger.records(a) for a in accounts]) == before


def register(
    ledger: CustodyLedger,
    handle: str,
    *,
    at: datetime = OPENED,
    office: str = "us-president",
    platform: str = "x",
    platform_account_id: str | None = None,
    key: str | None = None,
) -> EventRecord:
    """Register an account carrying `handle` (on x, for the US presidency, from 2015-05-18
    unless told otherwise); its record, whose `account_id` names the new stream."""
    command = RegisterAccount(
        platform=platform,
        platform_account_id=platform_account_id,
        handle=handle,
        office=office,
        effective_at=at,
    )
    return ledger.register_account(command, actor=ACTOR, idempotency_key=key)


BAJWA = Holder(id="asim-saleem-bajwa", name="Asim Saleem Bajwa")
GHAFOOR = Holder(id="asif-ghafoor", name="Asif Ghafoor")
ISPR_FROM = ts("2012-05-01T00:00")
ISPR_HANDOVER = ts("2016-12-25T00:00")


def record_the_office_kinds(ledger: CustodyLedger) -> tuple[UUID, UUID]:
    """Every event type of offices and personal accounts, on a personal account and an office
    stream (the DG ISPR story, short): (the account's id, the office stream's id)."""
    office = ledger.register_office(
        RegisterOffice(office="pk-dg-ispr", name="Director General, ISPR", jurisdiction="PK",
                       effective_at=ISPR_FROM),
        actor=ACTOR,
    ).account_id  # fmt: skip
    for command in (
        AssignHolder(holder=BAJWA, effective_at=ISPR_FROM),
        AssignHolder(holder=GHAFOOR, effective_at=ISPR_HANDOVER - timedelta(days=9)),
        RetractEvent(event_version=3, effective_at=LATER, reason="the appointment, not the day"),
        AssignHolder(holder=GHAFOOR, effective_at=ISPR_HANDOVER),
        ReleaseHolder(effective_at=LATER),
    ):
        ledger.append_office("pk-dg-ispr", command, actor=ACTOR)
    account = ledger.register_account(
        RegisterAccount(platform="x", handle="@AsimBajwaISPR", ownership="personal",
                        owner=BAJWA, office="pk-dg-ispr", effective_at=ISPR_FROM),
        actor=ACTOR,
    ).account_id  # fmt: skip
    for later in (
        ObserveAudience(followers=3_050_000, effective_at=ISPR_HANDOVER + timedelta(days=1)),
        EndOfficialUse(effective_at=ISPR_HANDOVER),
        StartOfficialUse(office="pk-coas", effective_at=LATER - timedelta(days=1)),
        ChangeOwnership(ownership="office", office="pk-coas", effective_at=LATER),
    ):
        ledger.append(account, later, actor=ACTOR)
    return account, office

"""Every rule of the ledger, told as stories on the in-memory store.

Each refusal is checked for its exact error type and for having written nothing: the log head,
and every record of every account involved, are the same after the refused command as before.
"""

from __future__ import annotations

import json
import unicodedata
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import NAMESPACE_URL, UUID, uuid4, uuid5

import pytest
from hypothesis import given, settings

from ledger import fold
from ledger.access import DIRECTORY_ID, AccessControl
from ledger.application import CustodyLedger
from ledger.commands import (
    MAX_JSON_DEPTH,
    Archive,
    ArchiveHistory,
    AssignHolder,
    CloseAccount,
    Evidence,
    Holder,
    RegisterAccount,
    ReleaseHolder,
    RenameHandle,
    RetractEvent,
    TransferOffice,
    handle_key,
    parse_command,
    parse_json,
    require_utc,
)
from ledger.domain import handle_index_id
from ledger.errors import (
    AccountClosed,
    AccountExists,
    AccountNotFound,
    AccountRetracted,
    EffectiveBeforeRegistration,
    HandleTaken,
    IdempotencyKeyReused,
    InvalidInput,
    InvalidRetraction,
    NoChange,
    NoHolder,
    PlatformAccountIdTaken,
    StaleVersion,
    WouldInvalidateLaterEvents,
)
from ledger.records import EventRecord
from ledger.settings import Settings
from tests.stories import (
    ACTOR,
    ELECTION_CALLED,
    INAUGURATION_2017,
    INAUGURATION_2021,
    LATER,
    NAMES,
    OPENED,
    US,
    holder,
    refused,
    register,
    ts,
)
from tests.strategies import Sent, Step, command_steps, run_steps
from tests.support import FakeClock

# -- a small vocabulary ---------------------------------------------------------------------------


def assign(ledger: CustodyLedger, account: UUID, holder: str, at: datetime) -> EventRecord:
    command = AssignHolder(holder=Holder(id=holder, name=NAMES[holder]), effective_at=at)
    return ledger.append(account, command, actor=ACTOR)


def release(ledger: CustodyLedger, account: UUID, at: datetime) -> EventRecord:
    return ledger.append(account, ReleaseHolder(effective_at=at), actor=ACTOR)


def rename(ledger: CustodyLedger, account: UUID, handle: str, at: datetime) -> EventRecord:
    return ledger.append(account, RenameHandle(handle=handle, effective_at=at), actor=ACTOR)


def transfer(ledger: CustodyLedger, account: UUID, office: str, at: datetime) -> EventRecord:
    return ledger.append(account, TransferOffice(office=office, effective_at=at), actor=ACTOR)


def archive(ledger: CustodyLedger, account: UUID, ref: str, at: datetime) -> EventRecord:
    command = ArchiveHistory(archive=Archive(ref=ref), effective_at=at)
    return ledger.append(account, command, actor=ACTOR)


def close(ledger: CustodyLedger, account: UUID, at: datetime) -> EventRecord:
    return ledger.append(account, CloseAccount(effective_at=at), actor=ACTOR)


def retract(ledger: CustodyLedger, account: UUID, version: int) -> EventRecord:
    command = RetractEvent(event_version=version, effective_at=LATER)
    return ledger.append(account, command, actor=ACTOR)


def handle(ledger: CustodyLedger, account: UUID, at: datetime) -> str | None:
    state = ledger.state(account, at)
    return state.handle if state is not None and state.status == "active" else None


def version(ledger: CustodyLedger, account: UUID) -> int:
    return len(ledger.facts(account))


# -- the @POTUS transitions -----------------------------------------------------------------------


def test_2017_potus_passes_from_obama_to_trump_and_potus44_opens_for_the_archive(
    memory_ledger: CustodyLedger,
) -> None:
    ledger = memory_ledger
    potus = register(ledger, "@POTUS", platform_account_id="1536791610").account_id
    assign(ledger, potus, "obama", OPENED)
    archive(ledger, potus, "nara:potus44-tweets", INAUGURATION_2017)
    potus44 = register(ledger, "@POTUS44", at=INAUGURATION_2017, office="nara").account_id
    assign(ledger, potus44, "nara", INAUGURATION_2017)
    release(ledger, potus, INAUGURATION_2017)
    handover = assign(ledger, potus, "trump", INAUGURATION_2017)

    assert holder(ledger, potus, INAUGURATION_2017 - US) == "obama"
    assert holder(ledger, potus, INAUGURATION_2017) == "trump"
    assert holder(ledger, potus44, INAUGURATION_2017) == "nara"
    assert ledger.state(potus44, INAUGURATION_2017 - US) is None
    after = ledger.state(potus, INAUGURATION_2017)
    assert after is not None
    assert (after.handle, after.office, after.holder_since, after.holder_by) == (
        "POTUS",
        "us-president",
        INAUGURATION_2017,
        handover.version,
    )
    assert [a.ref for a in after.archives] == ["nara:potus44-tweets"]
    custody = fold.custody_intervals(fold.timeline(ledger.facts(potus)))
    assert [(c.holder.id, c.valid_from, c.valid_to) for c in custody] == [
        ("obama", OPENED, INAUGURATION_2017),
        ("trump", INAUGURATION_2017, None),
    ]


def the_2021_accounts(ledger: CustodyLedger) -> tuple[UUID, UUID]:
    potus = register(ledger, "@POTUS").account_id
    assign(ledger, potus, "trump", INAUGURATION_2017)
    elect = register(
        ledger, "@PresElectBiden", at=ELECTION_CALLED, office="us-president-elect"
    ).account_id
    assign(ledger, elect, "biden", ELECTION_CALLED)
    return potus, elect


def test_2021_the_rename_onto_potus_is_refused_while_the_old_account_still_carries_it(
    memory_ledger: CustodyLedger,
) -> None:
    ledger = memory_ledger
    potus, elect = the_2021_accounts(ledger)
    with refused(ledger, HandleTaken, potus, elect) as info:
        rename(ledger, elect, "@POTUS", INAUGURATION_2021)
    assert isinstance(info.value, HandleTaken)
    assert (info.value.platform, info.value.handle, info.value.holder_account) == (
        "x",
        "POTUS",
        potus,
    )
    assert "@POTUS" in info.value.detail and str(potus) in info.value.detail


def test_2021_once_potus_is_renamed_potus45_at_noon_the_president_elect_account_takes_potus(
    memory_ledger: CustodyLedger,
) -> None:
    ledger = memory_ledger
    potus, elect = the_2021_accounts(ledger)
    rename(ledger, potus, "@POTUS45", INAUGURATION_2021)
    release(ledger, potus, INAUGURATION_2021)
    transfer(ledger, potus, "nara", INAUGURATION_2021)
    with refused(ledger, HandleTaken, potus, elect):
        rename(ledger, elect, "@POTUS", INAUGURATION_2021 - US)
    rename(ledger, elect, "@POTUS", INAUGURATION_2021)
    transfer(ledger, elect, "us-president", INAUGURATION_2021)

    assert handle(ledger, potus, INAUGURATION_2021 - US) == "POTUS"
    assert handle(ledger, elect, INAUGURATION_2021 - US) == "PresElectBiden"
    assert handle(ledger, potus, INAUGURATION_2021) == "POTUS45"
    assert handle(ledger, elect, INAUGURATION_2021) == "POTUS"
    assert holder(ledger, potus, INAUGURATION_2021) is None
    assert holder(ledger, elect, INAUGURATION_2021) == "biden"
    old = fold.handle_intervals(fold.timeline(ledger.facts(potus)))
    new = fold.handle_intervals(fold.timeline(ledger.facts(elect)))
    assert [(h.key, h.valid_from, h.valid_to) for h in old] == [
        ("potus", OPENED, INAUGURATION_2021),
        ("potus45", INAUGURATION_2021, None),
    ]
    assert [(h.key, h.valid_from, h.valid_to) for h in new] == [
        ("preselectbiden", ELECTION_CALLED, INAUGURATION_2021),
        ("potus", INAUGURATION_2021, None),
    ]


def test_retracting_the_handover_restores_the_predecessor_for_that_week_as_known_after(
    memory_ledger: CustodyLedger,
) -> None:
    ledger = memory_ledger
    potus = register(ledger, "@POTUS").account_id
    assign(ledger, potus, "obama", OPENED)
    a_week_early = assign(ledger, potus, "trump", INAUGURATION_2017 - timedelta(days=7))
    fix = retract(ledger, potus, a_week_early.version)
    assign(ledger, potus, "trump", INAUGURATION_2017)
    that_week = INAUGURATION_2017 - timedelta(days=3)

    assert holder(ledger, potus, that_week, known_at=fix.recorded_at - US) == "trump"
    assert holder(ledger, potus, that_week) == "obama"
    assert holder(ledger, potus, INAUGURATION_2017) == "trump"
    assert fix.orphaned == ()
    assert [r.retracted_by for r in ledger.records(potus)] == [None, None, fix.version, None, None]


# -- no such account ------------------------------------------------------------------------------


def test_an_event_for_an_account_never_registered_is_refused(memory_ledger: CustodyLedger) -> None:
    ledger = memory_ledger
    potus = register(ledger, "@POTUS").account_id
    for stranger in (uuid4(), handle_index_id("x", "potus")):
        with refused(ledger, AccountNotFound, potus) as info:
            assign(ledger, stranger, "obama", OPENED)
        assert info.value.account_id == stranger  # type: ignore[attr-defined]
        with pytest.raises(AccountNotFound):
            ledger.records(stranger)


def test_registering_under_an_id_already_recorded_is_refused(memory_ledger: CustodyLedger) -> None:
    ledger = memory_ledger
    potus = register(ledger, "@POTUS").account_id
    command = RegisterAccount(
        platform="x", handle="@WhiteHouse", office="us-president", effective_at=OPENED
    )
    with refused(ledger, AccountExists, potus):
        ledger.register_account(command, actor=ACTOR, account_id=potus)


def test_retracting_the_registration_makes_the_account_cease_to_exist(
    memory_ledger: CustodyLedger,
) -> None:
    ledger = memory_ledger
    potus = register(ledger, "@POTUS").account_id
    assigned = assign(ledger, potus, "obama", OPENED)
    gone = retract(ledger, potus, 1)
    assert gone.orphaned == (assigned.version,)
    assert ledger.state(potus, INAUGURATION_2017) is None
    assert holder(ledger, potus, INAUGURATION_2017, known_at=gone.recorded_at - US) == "obama"
    with refused(ledger, AccountRetracted, potus) as info:
        assign(ledger, potus, "trump", INAUGURATION_2017)
    assert "registration was retracted" in info.value.detail
    with refused(ledger, AccountRetracted, potus):
        retract(ledger, potus, assigned.version)
    assert [r.retracted_by for r in ledger.records(potus)] == [gone.version, None, None]


# -- valid time bounds ----------------------------------------------------------------------------


def test_nothing_may_take_effect_before_the_registration(memory_ledger: CustodyLedger) -> None:
    ledger = memory_ledger
    potus = register(ledger, "@POTUS").account_id
    with refused(ledger, EffectiveBeforeRegistration, potus):
        assign(ledger, potus, "obama", OPENED - US)
    with refused(ledger, EffectiveBeforeRegistration, potus):
        archive(ledger, potus, "nara:early", ts("2009-01-20T17:00"))
    assert assign(ledger, potus, "obama", OPENED).version == 2


def test_nothing_may_take_effect_at_or_after_the_closure(memory_ledger: CustodyLedger) -> None:
    ledger = memory_ledger
    potus = register(ledger, "@POTUS").account_id
    assign(ledger, potus, "obama", OPENED)
    closure = close(ledger, potus, INAUGURATION_2017)
    with refused(ledger, AccountClosed, potus):
        assign(ledger, potus, "trump", INAUGURATION_2017)
    with refused(ledger, AccountClosed, potus):
        rename(ledger, potus, "@POTUS44", INAUGURATION_2017 + timedelta(days=1))
    with refused(ledger, AccountClosed, potus):
        close(ledger, potus, INAUGURATION_2017 + US)
    with refused(ledger, AccountClosed, potus):
        release(ledger, potus, INAUGURATION_2017)
    # A fact back-dated before the closure, which takes no premise away, is still accepted.
    assert archive(ledger, potus, "nara:potus44", INAUGURATION_2017 - US).version == 4
    state = ledger.state(potus, INAUGURATION_2017)
    assert state is not None
    assert (state.status, state.status_by, state.holder, state.holder_by) == (
        "closed",
        closure.version,
        None,
        closure.version,
    )


def test_a_closure_can_itself_be_retracted_after_the_fact(memory_ledger: CustodyLedger) -> None:
    ledger = memory_ledger
    potus = register(ledger, "@POTUS").account_id
    closure = close(ledger, potus, INAUGURATION_2017)
    retract(ledger, potus, closure.version)
    assert assign(ledger, potus, "trump", INAUGURATION_2017).version == 4
    assert holder(ledger, potus, INAUGURATION_2017) == "trump"


# -- premises -------------------------------------------------------------------------------------


def test_a_release_needs_someone_holding_the_account_at_that_instant(
    memory_ledger: CustodyLedger,
) -> None:
    ledger = memory_ledger
    potus = register(ledger, "@POTUS").account_id
    with refused(ledger, NoHolder, potus):
        release(ledger, potus, INAUGURATION_2017)
    assign(ledger, potus, "obama", INAUGURATION_2017 - timedelta(days=365))
    with refused(ledger, NoHolder, potus):
        release(ledger, potus, INAUGURATION_2017 - timedelta(days=366))
    # At the very instant of the assignment the release is recorded later, so it applies after it.
    assert release(ledger, potus, INAUGURATION_2017 - timedelta(days=365)).version == 3


def test_assigning_the_current_holder_renaming_to_the_same_handle_or_office_changes_nothing(
    memory_ledger: CustodyLedger,
) -> None:
    ledger = memory_ledger
    potus = register(ledger, "@POTUS").account_id
    assign(ledger, potus, "obama", OPENED)
    with refused(ledger, NoChange, potus):
        assign(ledger, potus, "obama", INAUGURATION_2017)
    with refused(ledger, NoChange, potus):
        rename(ledger, potus, "@POTUS", INAUGURATION_2017)
    with refused(ledger, NoChange, potus):
        rename(ledger, potus, " POTUS ", INAUGURATION_2017)
    with refused(ledger, NoChange, potus):
        transfer(ledger, potus, "us-president", INAUGURATION_2017)
    assert version(ledger, potus) == 2


# -- retractions ----------------------------------------------------------------------------------


def test_a_retraction_must_name_an_existing_not_yet_retracted_fact(
    memory_ledger: CustodyLedger,
) -> None:
    ledger = memory_ledger
    potus = register(ledger, "@POTUS").account_id
    assign(ledger, potus, "obama", OPENED)
    with refused(ledger, InvalidRetraction, potus):
        retract(ledger, potus, 3)
    with refused(ledger, InvalidRetraction, potus):
        retract(ledger, potus, 99)
    first = retract(ledger, potus, 2)
    with refused(ledger, InvalidRetraction, potus):
        retract(ledger, potus, 2)
    with refused(ledger, InvalidRetraction, potus):
        retract(ledger, potus, first.version)
    with pytest.raises(InvalidInput, match="event_version"):
        RetractEvent(event_version=0, effective_at=OPENED)


def test_a_back_dated_release_that_would_orphan_the_recorded_release_is_refused(
    memory_ledger: CustodyLedger,
) -> None:
    ledger = memory_ledger
    potus = register(ledger, "@POTUS").account_id
    assign(ledger, potus, "obama", OPENED)
    later = release(ledger, potus, INAUGURATION_2017)
    with refused(ledger, WouldInvalidateLaterEvents, potus) as info:
        release(ledger, potus, INAUGURATION_2017 - timedelta(days=7))
    assert info.value.versions == (later.version,)  # type: ignore[attr-defined]
    assert info.value.account_id == potus  # type: ignore[attr-defined]


Write = Callable[[CustodyLedger, UUID], EventRecord]
YEAR_BEFORE = ts("2016-01-01T00:00")


@pytest.mark.parametrize(
    ("back_dated", "orphans"),
    [
        pytest.param(lambda L, a: close(L, a, YEAR_BEFORE), (3, 4, 5, 6), id="closure"),
        pytest.param(lambda L, a: transfer(L, a, "nara", YEAR_BEFORE), (4,), id="transfer"),
        pytest.param(lambda L, a: rename(L, a, "@POTUS44", YEAR_BEFORE), (5,), id="rename"),
        pytest.param(lambda L, a: assign(L, a, "trump", YEAR_BEFORE), (6,), id="assign"),
    ],
)
def test_a_back_dated_fact_that_would_leave_later_facts_without_premise_is_refused(
    memory_ledger: CustodyLedger, back_dated: Write, orphans: tuple[int, ...]
) -> None:
    ledger = memory_ledger
    potus = register(ledger, "@POTUS").account_id
    assign(ledger, potus, "obama", OPENED)
    archive(ledger, potus, "nara:2016", ts("2016-06-01T00:00"))
    transfer(ledger, potus, "nara", INAUGURATION_2017)
    rename(ledger, potus, "@POTUS44", INAUGURATION_2017)
    assign(ledger, potus, "trump", INAUGURATION_2017)
    with refused(ledger, WouldInvalidateLaterEvents, potus) as info:
        back_dated(ledger, potus)
    assert info.value.versions == orphans  # type: ignore[attr-defined]


def test_a_retraction_may_orphan_later_facts_and_says_which(memory_ledger: CustodyLedger) -> None:
    ledger = memory_ledger
    potus = register(ledger, "@POTUS").account_id
    assigned = assign(ledger, potus, "obama", OPENED)
    released = release(ledger, potus, INAUGURATION_2017)
    fix = retract(ledger, potus, assigned.version)
    assert fix.orphaned == (released.version,)
    state = ledger.state(potus, INAUGURATION_2017)
    assert state is not None and state.holder is None
    assert [(i.version, i.type) for i in state.ineffective] == [(released.version, fold.RELEASED)]
    before = ledger.state(potus, INAUGURATION_2017 - US, known_at=fix.recorded_at - US)
    assert before is not None and before.holder is not None and before.holder.id == "obama"


# -- platform account ids -------------------------------------------------------------------------


def test_a_platform_account_id_is_registered_once_per_platform_and_freed_by_retraction(
    memory_ledger: CustodyLedger,
) -> None:
    ledger = memory_ledger
    potus = register(ledger, "@POTUS", platform_account_id="822215679726100480").account_id
    with refused(ledger, PlatformAccountIdTaken, potus) as info:
        register(ledger, "@POTUS_copy", platform_account_id="822215679726100480")
    assert info.value.account_id == potus  # type: ignore[attr-defined]
    register(ledger, "@POTUS", platform="mastodon", platform_account_id="822215679726100480")
    retract(ledger, potus, 1)
    again = register(ledger, "@POTUS_copy", platform_account_id="822215679726100480").account_id
    assert again != potus


# -- handles --------------------------------------------------------------------------------------


def test_a_handle_is_unique_per_platform_ignoring_case_and_the_leading_at(
    memory_ledger: CustodyLedger,
) -> None:
    ledger = memory_ledger
    potus = register(ledger, "@POTUS").account_id
    for taken in ("POTUS", "@potus", " @Potus "):
        with refused(ledger, HandleTaken, potus):
            register(ledger, taken, at=INAUGURATION_2021)
    # Registered earlier, the new account would carry @potus onwards, over the existing claim.
    with refused(ledger, HandleTaken, potus):
        register(ledger, "@potus", at=OPENED - timedelta(days=365))
    register(ledger, "@POTUS", platform="mastodon")


def test_a_handle_freed_by_a_rename_or_a_closure_may_be_taken_from_then_on_but_not_before(
    memory_ledger: CustodyLedger,
) -> None:
    ledger = memory_ledger
    potus = register(ledger, "@POTUS").account_id
    rename(ledger, potus, "@POTUS44", INAUGURATION_2017)
    with refused(ledger, HandleTaken, potus):
        register(ledger, "@POTUS", at=INAUGURATION_2017 - US)
    successor = register(ledger, "@POTUS", at=INAUGURATION_2017).account_id
    close(ledger, potus, INAUGURATION_2021)
    with refused(ledger, HandleTaken, potus, successor):
        rename(ledger, successor, "@POTUS44", INAUGURATION_2021 - US)
    rename(ledger, successor, "@POTUS44", INAUGURATION_2021)
    assert handle(ledger, successor, INAUGURATION_2021) == "POTUS44"


def test_retracting_a_rename_that_would_give_the_handle_back_over_a_successor_is_refused(
    memory_ledger: CustodyLedger,
) -> None:
    ledger = memory_ledger
    potus = register(ledger, "@POTUS").account_id
    away = rename(ledger, potus, "@POTUS44", INAUGURATION_2017)
    successor = register(ledger, "@POTUS", at=INAUGURATION_2017).account_id
    with refused(ledger, HandleTaken, potus, successor):
        retract(ledger, potus, away.version)


def test_retracting_a_closure_that_would_give_the_handle_back_over_a_successor_is_refused(
    memory_ledger: CustodyLedger,
) -> None:
    ledger = memory_ledger
    potus = register(ledger, "@POTUS").account_id
    closure = close(ledger, potus, INAUGURATION_2017)
    successor = register(ledger, "@potus", at=INAUGURATION_2021).account_id
    with refused(ledger, HandleTaken, potus, successor):
        retract(ledger, potus, closure.version)


def test_a_back_dated_rename_onto_a_handle_another_account_carried_then_is_refused(
    memory_ledger: CustodyLedger,
) -> None:
    ledger = memory_ledger
    potus = register(ledger, "@POTUS").account_id
    assign(ledger, potus, "obama", INAUGURATION_2017)
    other = register(ledger, "@WhiteHouse").account_id
    rename(ledger, other, "@WH45", INAUGURATION_2017)
    with refused(ledger, HandleTaken, potus, other):
        rename(ledger, potus, "@whitehouse", INAUGURATION_2017 - timedelta(days=30))
    # From the instant the other account let it go, the handle is free.
    assert rename(ledger, potus, "@whitehouse", INAUGURATION_2017).version == 3


def test_retracting_a_registration_frees_its_handle(memory_ledger: CustodyLedger) -> None:
    ledger = memory_ledger
    potus = register(ledger, "@POTUS").account_id
    retract(ledger, potus, 1)
    assert register(ledger, "@POTUS").account_id != potus


# -- write safety ---------------------------------------------------------------------------------


def test_a_stale_expected_version_is_refused(memory_ledger: CustodyLedger) -> None:
    ledger = memory_ledger
    potus = register(ledger, "@POTUS").account_id
    assign(ledger, potus, "obama", OPENED)
    with refused(ledger, StaleVersion, potus) as info:
        ledger.append(
            potus, ReleaseHolder(effective_at=INAUGURATION_2017), actor=ACTOR, expected_version=1
        )
    assert (info.value.expected, info.value.actual) == (1, 2)  # type: ignore[attr-defined]
    record = ledger.append(
        potus, ReleaseHolder(effective_at=INAUGURATION_2017), actor=ACTOR, expected_version=2
    )
    assert record.version == 3


def test_retrying_with_the_same_idempotency_key_returns_the_original_record(
    memory_ledger: CustodyLedger,
) -> None:
    ledger = memory_ledger
    potus = register(ledger, "@POTUS").account_id
    command = AssignHolder(holder=Holder(id="obama", name=NAMES["obama"]), effective_at=OPENED)
    first = ledger.append(potus, command, actor=ACTOR, idempotency_key="k-1")
    head = ledger.head()
    retry = ledger.append(potus, command, actor=ACTOR, idempotency_key="k-1")
    assert (retry.replayed, first.replayed) == (True, False)
    assert replace(retry, replayed=False) == first
    assert ledger.head() == head and version(ledger, potus) == 2
    # The same command told in another time zone is the same command.
    same = AssignHolder(
        holder=Holder(id="obama", name=NAMES["obama"]),
        effective_at=ts("2015-05-17T20:00-04:00"),
    )
    assert ledger.append(potus, same, actor=ACTOR, idempotency_key="k-1").replayed


def test_an_idempotency_key_reused_for_another_command_is_refused(
    memory_ledger: CustodyLedger,
) -> None:
    ledger = memory_ledger
    potus = register(ledger, "@POTUS").account_id
    assign(ledger, potus, "obama", OPENED)
    ledger.append(
        potus, ReleaseHolder(effective_at=INAUGURATION_2017), actor=ACTOR, idempotency_key="k"
    )
    with refused(ledger, IdempotencyKeyReused, potus) as info:
        ledger.append(
            potus,
            ReleaseHolder(effective_at=INAUGURATION_2017 + US),
            actor=ACTOR,
            idempotency_key="k",
        )
    assert info.value.key == "k"  # type: ignore[attr-defined]
    with refused(ledger, IdempotencyKeyReused, potus):
        ledger.register_account(
            RegisterAccount(platform="x", handle="@WH", office="us-president", effective_at=OPENED),
            actor=ACTOR,
            idempotency_key="k",
        )


def test_a_registration_retried_with_its_idempotency_key_opens_one_account(
    memory_ledger: CustodyLedger,
) -> None:
    ledger = memory_ledger
    command = RegisterAccount(
        platform="x", handle="@POTUS", office="us-president", effective_at=OPENED
    )
    first = ledger.register_account(command, actor=ACTOR, idempotency_key="open-potus")
    head = ledger.head()
    again = ledger.register_account(command, actor=ACTOR, idempotency_key="open-potus")
    assert (again.account_id, again.version, again.position, again.replayed) == (
        first.account_id,
        1,
        first.position,
        True,
    )
    assert ledger.head() == head


def test_a_retried_retraction_reports_the_same_orphaned_facts(memory_ledger: CustodyLedger) -> None:
    ledger = memory_ledger
    potus = register(ledger, "@POTUS").account_id
    assign(ledger, potus, "obama", OPENED)
    release(ledger, potus, INAUGURATION_2017)
    command = RetractEvent(event_version=2, effective_at=ts("2026-01-01T00:00"))
    first = ledger.append(potus, command, actor=ACTOR, idempotency_key="fix")
    retry = ledger.append(potus, command, actor=ACTOR, idempotency_key="fix")
    assert first.orphaned == (3,)
    assert replace(retry, replayed=False) == first


def test_record_time_comes_from_the_ledger_clock_and_never_goes_back_in_a_stream(
    memory_ledger: CustodyLedger, clock: FakeClock
) -> None:
    ledger = memory_ledger
    potus = register(ledger, "@POTUS").account_id
    clock.set(ts("2026-03-01T00:00"))
    assigned = assign(ledger, potus, "obama", OPENED)
    assert assigned.recorded_at == ts("2026-03-01T00:00") + timedelta(milliseconds=1)
    clock.set(ts("2025-01-01T00:00"))  # the clock is set back
    released = release(ledger, potus, INAUGURATION_2017)
    assert released.recorded_at == assigned.recorded_at
    records = ledger.records(potus)
    assert [r.recorded_at for r in records] == sorted(r.recorded_at for r in records)
    assert [r.version for r in records] == [1, 2, 3]
    positions = [r.position for r in records]
    assert positions == sorted(positions) and len(set(positions)) == 3  # type: ignore[type-var]


def test_records_carry_who_why_and_the_evidence(memory_ledger: CustodyLedger) -> None:
    ledger = memory_ledger
    potus = register(ledger, "@POTUS").account_id
    evidence = Evidence(url="https://www.archives.gov/presidential-records/social-media")
    command = ArchiveHistory(
        archive=Archive(ref="nara:potus44", sha256="a" * 64, items=30_000),
        effective_at=ts("2017-01-20T12:00-05:00"),
        reason="Obama administration tweets transferred to NARA",
        evidence=(evidence,),
    )
    record = ledger.append(potus, command, actor="nara-archivist")
    assert record == ledger.records(potus)[1]
    assert (record.type, record.actor, record.reason) == (
        "history_archived",
        "nara-archivist",
        "Obama administration tweets transferred to NARA",
    )
    assert record.effective_at == INAUGURATION_2017 and record.effective_at.tzinfo == UTC
    assert record.evidence == ({"url": evidence.url, "sha256": None},)
    assert record.data == {"archive": {"ref": "nara:potus44", "sha256": "a" * 64, "items": 30_000}}


# -- validation -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        ("", "must not be empty"),
        ("@", "must not be empty"),
        ("a" * 65, "at most 64 characters, got 65"),
        ("white house", "characters other than"),
        ("pötus", "characters other than"),
        ("#potus", "characters other than"),
        ("@@potus", "characters other than"),
    ],
)
def test_a_bad_handle_is_invalid_input_with_a_readable_message(bad: str, message: str) -> None:
    with pytest.raises(InvalidInput, match=message) as info:
        RenameHandle(handle=bad, effective_at=OPENED)
    assert info.value.detail.startswith("handle: ")


def test_handles_are_kept_in_display_case_without_the_at() -> None:
    assert RenameHandle(handle=" @POTUS ", effective_at=OPENED).handle == "POTUS"
    assert RenameHandle(handle="@" + "a" * 64, effective_at=OPENED).handle == "a" * 64


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"platform": "X"}, "platform: platform 'X' is not valid"),
        ({"platform": "twitter dot com"}, "platform: platform 'twitter dot com' is not valid"),
        ({"platform": "a" * 33}, "platform: "),
        ({"office": "US-President"}, "office: office 'US-President' is not valid"),
        ({"office": "-president"}, "office: "),
        ({"platform_account_id": "#1"}, "platform_account_id: platform account id '#1'"),
        ({"effective_at": datetime(2015, 5, 18)}, "effective_at: a time must carry a timezone"),
        ({"effective_at": "2015-05-18T00:00:00"}, "effective_at: a time must carry a timezone"),
        ({"effective_at": datetime(1899, 1, 1, tzinfo=UTC)}, "before 1900"),
    ],
)
def test_a_bad_registration_is_invalid_input_naming_the_field(
    fields: dict[str, object], message: str
) -> None:
    values = {"platform": "x", "handle": "POTUS", "office": "us-president", "effective_at": OPENED}
    with pytest.raises(InvalidInput) as info:
        RegisterAccount.parse({**values, **fields})
    assert message in info.value.detail


def test_every_way_of_validating_a_command_raises_invalid_input_naming_the_nested_field() -> None:
    """Direct construction, parse and model_validate all translate pydantic's errors; nested
    values are built in pydantic's core without calling Value.__init__ (`ledger.compat`), so
    only the outermost call translates."""
    body: dict[str, Any] = {
        "holder": {"id": "barack obama", "name": "Barack Obama"},
        "effective_at": OPENED,
    }
    ways = (lambda: AssignHolder(**body), lambda: AssignHolder.parse(body),
            lambda: AssignHolder.model_validate(body))  # fmt: skip
    for way in ways:
        with pytest.raises(InvalidInput, match=r"^holder\.id: holder id") as info:
            way()
        assert info.value.field == "holder.id"
    assert not AssignHolder.__pydantic_custom_init__ and not Holder.__pydantic_custom_init__


@pytest.mark.parametrize("bad", ["", "-obama", "barack obama", "a" * 129])
def test_a_bad_holder_id_is_invalid_input(bad: str) -> None:
    with pytest.raises(InvalidInput, match="id: holder id"):
        Holder(id=bad, name="Barack Obama")


def test_parse_command_names_the_known_types_and_converts_offsets_to_utc() -> None:
    with pytest.raises(InvalidInput, match="unknown event type 'holder_fired'; expected one of"):
        parse_command({"type": "holder_fired"})
    command = parse_command(
        {"type": "holder_released", "effective_at": "2017-01-20T12:00:00-05:00"}
    )
    assert command == ReleaseHolder(effective_at=INAUGURATION_2017)
    assert command.effective_at.tzinfo == UTC


@pytest.mark.parametrize(
    "actor",
    ["clerk\x00", "clerk\nforged row", "a\tb", "a\u2028b", "\x1b[31m", "\u202eamabo", "a\x85b"],
)
def test_an_actor_is_one_line_of_text(memory_ledger: CustodyLedger, actor: str) -> None:
    ledger = memory_ledger
    potus = register(ledger, "@POTUS").account_id
    command = AssignHolder(holder=Holder(id="obama", name="Barack Obama"), effective_at=OPENED)
    with refused(ledger, InvalidInput, potus) as info:
        ledger.append(potus, command, actor=actor)
    assert "actor must be one line" in info.value.detail
    with refused(ledger, InvalidInput, potus):
        ledger.append(potus, command, actor=ACTOR, idempotency_key=f"key-{actor}")


@pytest.mark.parametrize("name", ["Barack \u202eamabO", "\ufeff", "Joe\u2066Biden", "a\tb", "\x9b"])
def test_a_holder_name_reads_as_it_is_written(name: str) -> None:
    with pytest.raises(InvalidInput, match="name: control characters"):
        Holder(id="obama", name=name)
    persian = "\u0645\u062d\u0645\u062f\u200c\u0631\u0636\u0627"  # ZWNJ inside: allowed
    assert Holder(id="x", name=persian).name == persian


def test_an_account_id_of_the_ledgers_own_form_is_refused(memory_ledger: CustodyLedger) -> None:
    """Handle and platform-id claims and the token directory live under name-based (version 5)
    ids: an account registered under one would stand where the ledger expects its own stream."""
    ledger = memory_ledger
    command = RegisterAccount(
        platform="x", handle="@POTUS", office="us-president", effective_at=OPENED
    )
    for taken in (DIRECTORY_ID, handle_index_id("x", "newone"), uuid5(NAMESPACE_URL, "any")):
        with refused(ledger, InvalidInput) as info:
            ledger.register_account(command, actor=ACTOR, account_id=taken)
        assert isinstance(info.value, InvalidInput) and info.value.field == "account_id"
    chosen = UUID("6f1d0c2e-1111-4a4a-8888-000000000001")
    assert ledger.register_account(command, actor=ACTOR, account_id=chosen).account_id == chosen


@pytest.mark.parametrize(
    "bad", ["2017-W03-5T16:59:00Z", "20170120T165900Z", "2017-01-20", "2017-020T17:00Z"]
)
def test_a_query_time_is_rfc_3339(bad: str) -> None:
    with pytest.raises(InvalidInput, match="not an RFC 3339 time with a timezone offset"):
        require_utc(bad, "at")
    assert require_utc("2017-01-20T12:00:00-05:00", "at") == INAUGURATION_2017


def test_an_archive_count_is_one_every_json_reader_holds_exactly() -> None:
    assert Archive(ref="https://archive.example/a", items=2**53 - 1).items == 2**53 - 1
    for bad in (2**53, -1, True, "12"):
        with pytest.raises(InvalidInput, match="items"):
            Archive(ref="https://archive.example/a", items=bad)  # type: ignore[arg-type]


def test_a_token_name_is_one_line(memory_ledger: CustodyLedger) -> None:
    access = AccessControl(memory_ledger)
    with pytest.raises(InvalidInput):
        access.issue("ab\n", "admin")
    assert access.list() == []


def _nested(levels: int, inner: str = "1") -> str:
    return "[" * levels + inner + "]" * levels


def test_json_from_outside_may_nest_to_the_limit_and_no_deeper() -> None:
    assert parse_json(_nested(MAX_JSON_DEPTH)) == json.loads(_nested(MAX_JSON_DEPTH))
    for deep in (_nested(MAX_JSON_DEPTH + 1), "[" * 100_000, "{" * 100_000):
        with pytest.raises(ValueError, match=f"nested more than {MAX_JSON_DEPTH} levels deep"):
            parse_json(deep)


def test_brackets_inside_strings_are_not_nesting() -> None:
    brackets = '"' + "[{" * 100 + '\\"' + "[" * 50 + '\\\\"'  # ends with an escaped backslash
    assert parse_json(f'{{"reason": {brackets}}}') == {"reason": json.loads(brackets)}
    with pytest.raises(ValueError, match="nested more than"):
        parse_json(f'{{"reason": {brackets}, "deep": {_nested(MAX_JSON_DEPTH)}}}')


@pytest.mark.parametrize("raw", ["NaN", '{"items": Infinity}', "[-Infinity]", b"\xff\xfe", "{x"])
def test_json_from_outside_refuses_what_is_not_json(raw: str | bytes) -> None:
    with pytest.raises(ValueError):
        parse_json(raw)


def test_json_from_outside_reads_the_encodings_json_allows() -> None:
    body = {"type": "holder_released", "reason": "Übergabe"}
    for encoding in ("utf-8", "utf-16", "utf-32"):
        assert parse_json(json.dumps(body, ensure_ascii=False).encode(encoding)) == body


def test_the_ledger_refuses_a_missing_actor_a_blank_key_and_a_registration_through_append(
    memory_ledger: CustodyLedger,
) -> None:
    ledger = memory_ledger
    potus = register(ledger, "@POTUS").account_id
    command = AssignHolder(holder=Holder(id="obama", name="Barack Obama"), effective_at=OPENED)
    with refused(ledger, InvalidInput, potus):
        ledger.append(potus, command, actor="  ")
    with refused(ledger, InvalidInput, potus):
        ledger.append(potus, command, actor=ACTOR, idempotency_key=" ")
    with refused(ledger, InvalidInput, potus):
        ledger.append(
            potus,
            RegisterAccount(platform="x", handle="P2", office="o", effective_at=OPENED),  # type: ignore[arg-type]
            actor=ACTOR,
        )


# -- every rule over random histories -------------------------------------------------------------

Span = tuple[datetime, datetime | None]


def _overlap(a: Span, b: Span) -> bool:
    return (b[1] is None or a[0] < b[1]) and (a[1] is None or b[0] < a[1])


def _exists(facts: list[fold.Fact]) -> bool:
    return bool(facts) and not any(
        f.type == fold.RETRACTED and f.data["event_version"] == 1 for f in facts
    )


def _spans(facts: list[fold.Fact], key: str) -> list[Span]:
    ivs = fold.handle_intervals(fold.timeline(facts)) if _exists(facts) else []
    return [(iv.valid_from, iv.valid_to) for iv in ivs if iv.key == key]


def _check_decision(sent: Sent, seen: dict[UUID, list[fold.Fact]]) -> None:
    """Was this command accepted or refused as the fold, applied to what was recorded, says?"""
    command, outcome = sent.command, sent.outcome
    if isinstance(outcome, HandleTaken):
        other = seen[outcome.holder_account]
        key = handle_key(outcome.handle)
        if sent.account_id is None:
            mine: list[Span] = [(command.effective_at, None)]
        else:
            candidate = fold.Fact(
                len(seen[sent.account_id]) + 1, command.type, command.effective_at,
                datetime.max.replace(tzinfo=UTC), ACTOR, data=command.data(),
            )  # fmt: skip
            mine = _spans([*seen[sent.account_id], candidate], key)
        assert any(_overlap(a, b) for a in mine for b in _spans(other, key)), sent
        return
    if sent.account_id is None:
        if isinstance(outcome, PlatformAccountIdTaken):
            first = seen[outcome.account_id][0].data
            assert _exists(seen[outcome.account_id])
            assert (first["platform"], first["platform_account_id"]) == (
                command.platform,  # type: ignore[attr-defined]
                command.platform_account_id,  # type: ignore[attr-defined]
            )
        return
    facts = seen[sent.account_id]
    if not _exists(facts):
        assert isinstance(outcome, AccountNotFound), sent
        return
    candidate = fold.Fact(
        len(facts) + 1, command.type, command.effective_at, datetime.max.replace(tzinfo=UTC),
        ACTOR, data=command.data(),
    )  # fmt: skip
    lost = fold.ineffective_versions([*facts, candidate]) - fold.ineffective_versions(facts)
    lost -= {candidate.version}
    if isinstance(command, RetractEvent):
        target = command.event_version
        valid = target <= len(facts) and facts[target - 1].type != fold.RETRACTED
        valid = valid and not any(
            f.type == fold.RETRACTED and f.data["event_version"] == target for f in facts
        )
        if not valid:
            assert isinstance(outcome, InvalidRetraction), sent
        else:
            assert isinstance(outcome, EventRecord), sent
            assert outcome.orphaned == tuple(sorted(lost))
        return
    if command.effective_at < facts[0].effective_at:
        assert isinstance(outcome, EffectiveBeforeRegistration), sent
        return
    state = fold.fold(facts, command.effective_at)
    assert state is not None
    expected: type[object] = EventRecord
    if state.status == "closed":
        expected = AccountClosed
    elif isinstance(command, ReleaseHolder) and state.holder is None:
        expected = NoHolder
    elif (
        (
            isinstance(command, AssignHolder)
            and state.holder
            and state.holder.id == command.holder.id
        )
        or (isinstance(command, RenameHandle) and state.handle == command.handle)
        or (isinstance(command, TransferOffice) and state.office == command.office)
    ):
        expected = NoChange
    elif lost:
        expected = WouldInvalidateLaterEvents
        assert getattr(outcome, "versions", None) == tuple(sorted(lost)), sent
    assert type(outcome) is expected, (sent, expected)


def _check_unique(seen: dict[UUID, list[fold.Fact]]) -> None:
    """No two existing accounts share a platform id, or a handle at any instant."""
    claims: dict[tuple[str, str], list[tuple[UUID, Span]]] = {}
    platform_ids: set[tuple[str, str]] = set()
    for account, facts in seen.items():
        if not _exists(facts):
            continue
        first = facts[0].data
        if first.get("platform_account_id"):
            key = (first["platform"], first["platform_account_id"])
            assert key not in platform_ids
            platform_ids.add(key)
        for iv in fold.handle_intervals(fold.timeline(facts)):
            span = (iv.valid_from, iv.valid_to)
            others = claims.setdefault((first["platform"], iv.key), [])
            assert not any(_overlap(span, s) for _, s in others), (account, iv)
            others.append((account, span))


@settings(max_examples=60, deadline=None)
@given(command_steps())
def test_random_histories_keep_every_rule_and_every_invariant(steps: list[Step]) -> None:
    ledger = CustodyLedger(
        Settings(database_url="sqlite:///:memory:").store().env, clock=FakeClock()
    )
    try:
        applied = run_steps(ledger, steps)  # checks that every refusal wrote nothing
        final = {account: ledger.facts(account) for account in applied.account_ids}
        # Every decision, against what the streams held when the command came in; and after
        # each accepted one, no handle or platform id is held twice.
        seen: dict[UUID, list[fold.Fact]] = {}
        for sent in applied.log:
            _check_decision(sent, seen)
            if isinstance(sent.outcome, EventRecord):
                account = sent.outcome.account_id
                seen[account] = final[account][: sent.outcome.version]
                _check_unique(seen)
        for account, facts in final.items():
            records = ledger.records(account)
            assert [r.version for r in records] == list(range(1, len(facts) + 1))
            assert [r.recorded_at for r in records] == sorted(r.recorded_at for r in records)
            positions = [r.position for r in records]
            assert positions == sorted(positions)  # type: ignore[type-var]
            if not _exists(facts):
                continue
            # Only a retraction may take away a recorded fact's premise, and it says so.
            mine = [r for r in applied.records if r.account_id == account]
            assert fold.ineffective_versions(facts) <= {v for r in mine for v in r.orphaned}
    finally:
        ledger.close()


def test_a_restore_keeps_what_older_rules_let_in_only_where_it_is_asked_for() -> None:
    """The one-line rule (no bidirectional overrides) tidies new input: a restore of the
    ledger's own export keeps what an older ledger accepted, in nested values too (they read
    the restore from pydantic's validation context); direct construction never restores."""
    override = "\u202e"
    body = {
        "effective_at": OPENED,
        "evidence": [{"url": f"https://records.example.gov/{override}"}],
        "archive": {"ref": f"nara:{override}", "items": 2**60},
    }
    restored = ArchiveHistory.parse(body, restore=True)
    assert restored.archive.ref == f"nara:{override}" and restored.archive.items == 2**60
    assert restored.evidence[0].url.endswith(override)
    for new_input in (
        lambda: ArchiveHistory.parse(body),
        lambda: ArchiveHistory.model_validate(body),
        lambda: Archive(ref=f"nara:{override}"),
        lambda: Evidence(url=f"https://records.example.gov/{override}"),
    ):
        with pytest.raises(InvalidInput):
            new_input()
    holder = {"id": "obama", "name": f"Barack{override} Obama"}
    assert AssignHolder.parse({"effective_at": OPENED, "holder": holder}, restore=True)
    with pytest.raises(InvalidInput, match=r"holder\.name"):
        AssignHolder.parse({"effective_at": OPENED, "holder": holder})


@pytest.mark.parametrize(
    ("name", "words"),
    [
        ("Barack\u200bObama", "U+200B"),  # a zero-width space
        ("Barack\u3164Obama", "U+3164"),  # a Hangul filler: a letter that shows nothing
        ("Barack\u00a0Obama", "U+00A0"),  # a no-break space
        ("Bar\u0430ck Obama", "mixes scripts"),  # a Cyrillic a among Latin letters
        ("P\u0430ypal", "mixes scripts"),
    ],
)
def test_a_name_that_could_pass_for_another_is_refused(name: str, words: str) -> None:
    with pytest.raises(InvalidInput, match=r"^name: ") as info:
        Holder(id="obama", name=name)
    assert words in info.value.detail
    assert Holder.parse({"id": "obama", "name": name}, restore=True).name == name


@pytest.mark.parametrize(
    "name",
    ["Barack Obama", "Shehbaz Sharif (شہباز شریف)", "Łukasz Żółć", "Ασίμ Μπάτζουα",
     "O\u2019Brien", "Joseph R. Biden Jr.", "می\u200cخواهم"],  # noqa: RUF001 (a ZWNJ inside Persian)
)  # fmt: skip
def test_names_in_any_one_script_per_word_are_fine(name: str) -> None:
    assert Holder(id="someone", name=name).name == name


def test_handles_of_dots_alone_are_refused_and_restored() -> None:
    for bad in (".", "..", "-.-"):
        with pytest.raises(InvalidInput, match="needs a letter, a digit or '_'"):
            RenameHandle(handle=bad, effective_at=OPENED)
        assert RenameHandle.parse({"handle": bad, "effective_at": OPENED}, restore=True)
    assert RenameHandle(handle="_", effective_at=OPENED).handle == "_"


def test_evidence_and_reasons_are_bounded_for_new_input_only() -> None:
    evidence = [{"url": f"https://records.example.gov/{n}"} for n in range(33)]
    with pytest.raises(InvalidInput, match="at most 32 pieces of evidence, got 33"):
        ReleaseHolder.parse({"effective_at": OPENED, "evidence": evidence})
    assert len(ReleaseHolder.parse({"effective_at": OPENED, "evidence": evidence[:32]}).evidence)
    reason = "ش" * 2049  # 4,098 bytes in UTF-8
    with pytest.raises(InvalidInput, match=r"^reason: a reason has at most 4096 bytes"):
        ReleaseHolder(effective_at=OPENED, reason=reason)
    assert ReleaseHolder(effective_at=OPENED, reason="x" * 4096)
    body = {"effective_at": OPENED, "evidence": evidence, "reason": reason}
    assert ReleaseHolder.parse(body, restore=True).reason == reason


def test_an_event_is_bounded_once_encoded_and_nothing_is_written(clock: FakeClock) -> None:
    ledger = CustodyLedger(
        Settings(database_url="sqlite:///:memory:").store().env, clock=clock, max_event_bytes=2048
    )
    try:
        potus = register(ledger, "@POTUS").account_id
        evidence = tuple(
            Evidence(url=f"https://records.example.gov/{'x' * 200}/{n}") for n in range(12)
        )
        with refused(ledger, InvalidInput, potus) as info:
            ledger.append(potus, ReleaseHolder(effective_at=OPENED, evidence=evidence), actor=ACTOR)
        assert "an event is at most 2,048" in info.value.detail
        assert ledger.append(
            potus, AssignHolder(holder=Holder(id="obama", name="Barack Obama"),
                                effective_at=OPENED, evidence=evidence[:2]), actor=ACTOR
        ).version == 2  # fmt: skip
    finally:
        ledger.close()


@pytest.mark.parametrize(
    "name",
    [
        unicodedata.normalize("NFD", n)  # accents typed as combining marks, as some keyboards do
        for n in ("José Martí", "Zoë Brontë", "Nguyễn Phú Trọng", "Recep Tayyip Erdoğan", "Бара́к")
    ]
    + ["क्\u200dष", "नरेन्\u200dद्र मोदी", "محمد\u200cعلی"],  # joiners after a virama, in Persian
)
def test_accents_as_marks_and_joiners_where_scripts_use_them_are_fine(name: str) -> None:
    assert Holder(id="someone", name=name).name == name

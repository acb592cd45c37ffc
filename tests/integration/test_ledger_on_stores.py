"""The ledger's stories and write safety on each real store: a SQLite file and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from uuid import UUID

import pytest

from ledger import fold
from ledger.application import CustodyLedger
from ledger.commands import (
    Archive,
    ArchiveHistory,
    AssignHolder,
    CloseAccount,
    Command,
    Holder,
    RegisterAccount,
    ReleaseHolder,
    RenameHandle,
    RetractEvent,
    TransferOffice,
)
from ledger.domain import EVENT_CLASSES, OFFICE_EVENT_CLASSES, to_fact
from ledger.errors import (
    AccountClosed,
    AccountRetracted,
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
from ledger.store import position_of
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
    record_the_office_kinds,
    refused,
    register,
)
from tests.support import FakeClock


def appoint(holder: str, at: datetime) -> AssignHolder:
    return AssignHolder(holder=Holder(id=holder, name=NAMES[holder]), effective_at=at)


def do(ledger: CustodyLedger, account: UUID, command: Command, **kwargs: object) -> EventRecord:
    return ledger.append(account, command, actor=ACTOR, **kwargs)  # type: ignore[arg-type]


def test_2017_custody_of_potus_passes_from_obama_to_trump_at_noon(
    store_ledger: CustodyLedger,
) -> None:
    ledger = store_ledger
    potus = register(ledger, "@POTUS", platform_account_id="1536791610").account_id
    do(ledger, potus, appoint("obama", OPENED))
    do(
        ledger,
        potus,
        ArchiveHistory(archive=Archive(ref="nara:potus44"), effective_at=INAUGURATION_2017),
    )
    do(ledger, potus, ReleaseHolder(effective_at=INAUGURATION_2017))
    do(ledger, potus, appoint("trump", INAUGURATION_2017))
    assert holder(ledger, potus, INAUGURATION_2017 - US) == "obama"
    assert holder(ledger, potus, INAUGURATION_2017) == "trump"
    custody = fold.custody_intervals(fold.timeline(ledger.facts(potus)))
    assert [(c.holder.id, c.valid_from, c.valid_to) for c in custody] == [
        ("obama", OPENED, INAUGURATION_2017),
        ("trump", INAUGURATION_2017, None),
    ]


def test_2021_potus_goes_to_the_president_elect_account_once_the_old_one_is_renamed_potus45(
    store_ledger: CustodyLedger,
) -> None:
    ledger = store_ledger
    potus = register(ledger, "@POTUS").account_id
    do(ledger, potus, appoint("trump", INAUGURATION_2017))
    elect = register(ledger, "@PresElectBiden", at=ELECTION_CALLED).account_id
    do(ledger, elect, appoint("biden", ELECTION_CALLED))
    with refused(ledger, HandleTaken, potus, elect):
        do(ledger, elect, RenameHandle(handle="@POTUS", effective_at=INAUGURATION_2021))
    do(ledger, potus, RenameHandle(handle="@POTUS45", effective_at=INAUGURATION_2021))
    do(ledger, elect, RenameHandle(handle="@POTUS", effective_at=INAUGURATION_2021))
    before, after = INAUGURATION_2021 - US, INAUGURATION_2021
    assert [ledger.state(a, before).handle for a in (potus, elect)] == ["POTUS", "PresElectBiden"]  # type: ignore[union-attr]
    assert [ledger.state(a, after).handle for a in (potus, elect)] == ["POTUS45", "POTUS"]  # type: ignore[union-attr]


def test_retracting_the_handover_restores_the_predecessor_for_that_week_as_known_after(
    store_ledger: CustodyLedger,
) -> None:
    ledger = store_ledger
    potus = register(ledger, "@POTUS").account_id
    do(ledger, potus, appoint("obama", OPENED))
    early = do(ledger, potus, appoint("trump", INAUGURATION_2017 - timedelta(days=7)))
    fix = do(ledger, potus, RetractEvent(event_version=early.version, effective_at=LATER))
    do(ledger, potus, appoint("trump", INAUGURATION_2017))
    that_week = INAUGURATION_2017 - timedelta(days=3)
    assert holder(ledger, potus, that_week, known_at=fix.recorded_at - US) == "trump"
    assert holder(ledger, potus, that_week) == "obama"
    assert ledger.records(potus)[early.version - 1].retracted_by == fix.version


def test_refused_commands_write_nothing(store_ledger: CustodyLedger) -> None:
    ledger = store_ledger
    potus = register(ledger, "@POTUS", platform_account_id="822215679726100480").account_id
    do(ledger, potus, appoint("obama", OPENED))
    released = do(ledger, potus, ReleaseHolder(effective_at=INAUGURATION_2017))
    with refused(ledger, NoHolder, potus):
        do(ledger, potus, ReleaseHolder(effective_at=INAUGURATION_2021))
    with refused(ledger, WouldInvalidateLaterEvents, potus):
        do(ledger, potus, ReleaseHolder(effective_at=INAUGURATION_2017 - US))
    with refused(ledger, InvalidRetraction, potus):
        do(ledger, potus, RetractEvent(event_version=released.version + 1, effective_at=LATER))
    with refused(ledger, HandleTaken, potus):
        register(ledger, "@potus", at=INAUGURATION_2021)
    with refused(ledger, PlatformAccountIdTaken, potus):
        register(ledger, "@POTUS_two", platform_account_id="822215679726100480")
    do(ledger, potus, CloseAccount(effective_at=INAUGURATION_2021))
    with refused(ledger, AccountClosed, potus):
        do(ledger, potus, appoint("biden", INAUGURATION_2021))
    assert [r.version for r in ledger.records(potus)] == [1, 2, 3, 4]


def test_retracting_the_registration_frees_the_handle_and_the_platform_account_id(
    store_ledger: CustodyLedger,
) -> None:
    ledger = store_ledger
    potus = register(ledger, "@POTUS", platform_account_id="822215679726100480").account_id
    gone = do(ledger, potus, RetractEvent(event_version=1, effective_at=LATER))
    assert ledger.state(potus, INAUGURATION_2017) is None
    assert ledger.state(potus, INAUGURATION_2017, known_at=gone.recorded_at - US) is not None
    with refused(ledger, AccountRetracted, potus):
        do(ledger, potus, appoint("obama", OPENED))
    again = register(ledger, "@POTUS", platform_account_id="822215679726100480")
    assert again.account_id != potus and again.version == 1


def test_an_idempotency_key_replays_the_original_record_and_refuses_another_command(
    store_ledger: CustodyLedger,
) -> None:
    ledger = store_ledger
    opened = register(ledger, "@POTUS", key="open")
    potus = opened.account_id
    assert register(ledger, "@POTUS", key="open").replayed
    first = do(ledger, potus, appoint("obama", OPENED), idempotency_key="appoint")
    head = ledger.head()
    retry = do(ledger, potus, appoint("obama", OPENED), idempotency_key="appoint")
    assert (retry.version, retry.position, retry.replayed) == (first.version, first.position, True)
    assert ledger.head() == head
    with refused(ledger, IdempotencyKeyReused, potus):
        do(ledger, potus, appoint("trump", OPENED), idempotency_key="appoint")


def test_a_stale_expected_version_is_refused(store_ledger: CustodyLedger) -> None:
    ledger = store_ledger
    potus = register(ledger, "@POTUS").account_id
    do(ledger, potus, appoint("obama", OPENED), expected_version=1)
    with refused(ledger, StaleVersion, potus):
        do(ledger, potus, ReleaseHolder(effective_at=INAUGURATION_2017), expected_version=1)
    assert (
        do(ledger, potus, ReleaseHolder(effective_at=INAUGURATION_2017), expected_version=2).version
        == 3
    )


def test_records_number_versions_from_one_and_positions_increase_in_write_order(
    store_ledger: CustodyLedger, clock: FakeClock
) -> None:
    ledger = store_ledger
    a = register(ledger, "@POTUS").account_id
    b = register(ledger, "@WhiteHouse").account_id
    written = [
        do(ledger, a, appoint("obama", OPENED)),
        do(ledger, b, appoint("obama", OPENED)),
        do(ledger, a, ReleaseHolder(effective_at=INAUGURATION_2017)),
        do(ledger, b, RenameHandle(handle="@WH", effective_at=INAUGURATION_2017)),
    ]
    clock.set(datetime(2020, 1, 1, tzinfo=UTC))  # the clock goes back; record time does not
    written.append(do(ledger, a, RetractEvent(event_version=3, effective_at=LATER)))
    positions = [r.position for r in written]
    assert all(p is not None for p in positions)
    assert positions == sorted(positions) and len(set(positions)) == len(positions)  # type: ignore[type-var]
    assert written[-1].recorded_at == written[2].recorded_at
    assert ledger.head() >= positions[-1]  # type: ignore[operator]
    records = ledger.records(a)
    assert [r.version for r in records] == [1, 2, 3, 4]
    assert [r.retracted_by for r in records] == [None, None, 4, None]
    assert [r.position for r in records][1:] == [positions[0], positions[2], positions[4]]
    assert [r.recorded_at for r in records] == sorted(r.recorded_at for r in records)
    assert all(
        r.recorded_at.tzinfo is not None and r.effective_at.tzinfo is not None for r in records
    )


def test_a_ledger_reopened_on_the_same_store_sees_the_same_history_and_enforces_it(
    store_ledger: CustodyLedger, store_url: str, clock: FakeClock
) -> None:
    ledger = store_ledger
    potus = register(ledger, "@POTUS", platform_account_id="822215679726100480").account_id
    do(ledger, potus, appoint("obama", OPENED))
    do(ledger, potus, RenameHandle(handle="@POTUS44", effective_at=INAUGURATION_2017))
    successor = register(ledger, "@POTUS", at=INAUGURATION_2017).account_id
    keyed = do(ledger, successor, appoint("trump", INAUGURATION_2017), idempotency_key="k")

    reopened = CustodyLedger(Settings(database_url=store_url).store().env, clock=clock)
    try:
        assert reopened.head() == ledger.head()
        for account in (potus, successor):
            assert reopened.records(account) == ledger.records(account)
            assert reopened.state(account, INAUGURATION_2021) == ledger.state(
                account, INAUGURATION_2021
            )
        # The rules hold across the restart: handle and platform-id claims were read back.
        with refused(reopened, HandleTaken, potus, successor):
            do(reopened, potus, RenameHandle(handle="@potus", effective_at=INAUGURATION_2021))
        with refused(reopened, HandleTaken, potus, successor):
            register(reopened, "@potus44", at=INAUGURATION_2017 - timedelta(days=1))
        with refused(reopened, PlatformAccountIdTaken, potus):
            register(reopened, "@Other", platform_account_id="822215679726100480")
        with refused(reopened, StaleVersion, successor):
            do(
                reopened,
                successor,
                ReleaseHolder(effective_at=INAUGURATION_2021),
                expected_version=1,
            )
        replay = do(reopened, successor, appoint("trump", INAUGURATION_2017), idempotency_key="k")
        assert (replay.version, replay.position, replay.replayed) == (
            keyed.version,
            keyed.position,
            True,
        )
        do(reopened, potus, RenameHandle(handle="@Obama44", effective_at=INAUGURATION_2021))
        assert register(reopened, "@potus44", at=INAUGURATION_2021).version == 1
    finally:
        reopened.close()


def test_a_batch_checks_each_command_against_what_it_staged_and_writes_all_together(
    store_ledger: CustodyLedger,
) -> None:
    ledger = store_ledger
    head = ledger.head()
    with ledger.batch() as batch:
        potus = ledger.register_account(
            RegisterAccount(platform="x", handle="@POTUS", office="o", effective_at=OPENED),
            actor=ACTOR,
            batch=batch,
        ).account_id
        ledger.append(potus, appoint("obama", OPENED), actor=ACTOR, batch=batch)
        with pytest.raises(HandleTaken):
            ledger.register_account(
                RegisterAccount(platform="x", handle="@potus", office="o", effective_at=LATER),
                actor=ACTOR,
                batch=batch,
            )
        with pytest.raises(NoChange):
            ledger.append(potus, appoint("obama", INAUGURATION_2017), actor=ACTOR, batch=batch)
        ledger.append(
            potus, ReleaseHolder(effective_at=INAUGURATION_2017), actor=ACTOR, batch=batch
        )
        assert ledger.head() == head  # nothing is written before the block ends
    # Whole records: the positions filled in at commit, every other field as staged.
    assert batch.records == ledger.records(potus)
    assert [r.version for r in batch.records] == [1, 2, 3]
    assert holder(ledger, potus, INAUGURATION_2017 - US) == "obama"


def test_a_batch_with_a_refused_command_writes_nothing(store_ledger: CustodyLedger) -> None:
    ledger = store_ledger
    potus = register(ledger, "@POTUS").account_id
    head, records = ledger.head(), ledger.records(potus)
    with pytest.raises(NoHolder), ledger.batch() as batch:
        ledger.append(potus, appoint("obama", OPENED), actor=ACTOR, batch=batch)
        ledger.register_account(
            RegisterAccount(platform="x", handle="@WH", office="o", effective_at=OPENED),
            actor=ACTOR,
            batch=batch,
        )
        ledger.append(
            potus, ReleaseHolder(effective_at=INAUGURATION_2017), actor=ACTOR, batch=batch
        )
        ledger.append(
            potus, ReleaseHolder(effective_at=INAUGURATION_2021), actor=ACTOR, batch=batch
        )
    assert (ledger.head(), ledger.records(potus)) == (head, records)
    assert register(ledger, "@WH").version == 1  # the staged registration never happened


def test_recent_facts_are_the_logs_own_facts_and_only_the_latest_are_kept(
    store_ledger: CustodyLedger,
) -> None:
    """A projector in the writers' process takes these instead of decoding the log; they must
    be what decoding gives, for every event type, and never grow past their bound."""
    ledger = store_ledger
    recent = ledger.keep_recent_facts(limit=100)
    potus = register(ledger, "@POTUS", platform_account_id="1536791610").account_id
    do(ledger, potus, appoint("obama", OPENED))
    archive = Archive(ref="nara:potus44", sha256="ab" * 32, items=3)
    do(ledger, potus, ArchiveHistory(archive=archive, effective_at=INAUGURATION_2017))
    do(ledger, potus, ReleaseHolder(effective_at=INAUGURATION_2017))
    early = do(ledger, potus, appoint("trump", INAUGURATION_2017 - US))
    do(ledger, potus, RetractEvent(event_version=early.version, effective_at=LATER))
    do(ledger, potus, RenameHandle(handle="@POTUS45", effective_at=INAUGURATION_2021))
    do(ledger, potus, TransferOffice(office="us-archivist", effective_at=INAUGURATION_2021))
    with refused(ledger, NoChange, potus):
        do(ledger, potus, RenameHandle(handle="@POTUS45", effective_at=LATER))
    do(ledger, potus, CloseAccount(effective_at=LATER))
    personal, office = record_the_office_kinds(ledger)
    records = [*ledger.records(potus), *ledger.records(personal)]
    office_facts = ledger.stream_facts(office)
    assert {r.type for r in records} == set(EVENT_CLASSES)  # every type, none refused
    assert {f.type for f in office_facts} == set(OFFICE_EVENT_CLASSES)
    notes = ledger.recorder.select_notifications(start=1, limit=100)
    decoded = {n.id: ledger.mapper.to_domain_event(n) for n in notes}
    # Every position written is remembered (index events as None), refused writes not at all;
    # so the whole log is known, and a span of it gives the custody facts in log order.
    assert len(recent) == len(notes) == ledger.head()
    positions = sorted(
        [r.position or 0 for r in records]
        + [position_of(ledger.recorder, office, f.version) or 0 for f in office_facts]
    )
    assert recent.span(0, ledger.head()) == [
        (p, decoded[p].originator_id, to_fact(decoded[p]))  # type: ignore[arg-type]
        for p in positions
    ]
    assert recent.span(0, ledger.head() + 1) is None  # a position it did not record
    for r in records:
        event = decoded[r.position]  # type: ignore[index]
        assert recent.take(r.position) == (event.originator_id, to_fact(event))  # type: ignore[arg-type]
        assert recent.take(r.position) is None  # type: ignore[arg-type]  # taken once
    # Bounded: only the latest are kept.
    recent.limit = 2
    more = [do(ledger, other, appoint("biden", ELECTION_CALLED)) for other in (
        register(ledger, f"@Other{n}").account_id for n in range(3)
    )]  # fmt: skip
    assert len(recent) == 2
    assert all(recent.take(r.position) is not None for r in more[-1:])  # type: ignore[arg-type]
    # What a projector has applied is forgotten, whoever applied it.
    assert recent.span(0, ledger.head()) is None  # what was dropped is only in the log
    recent.forget_upto(ledger.head())
    assert len(recent) == 0


def test_only_a_batch_gives_an_event_its_own_record_time_and_an_ended_batch_takes_no_more(
    store_ledger: CustodyLedger,
) -> None:
    ledger = store_ledger
    command = RegisterAccount(platform="x", handle="@POTUS", office="o", effective_at=OPENED)
    head = ledger.head()
    with pytest.raises(InvalidInput, match="only a batch"):
        ledger.register_account(command, actor=ACTOR, recorded_at=LATER)
    with ledger.batch() as written:
        potus = ledger.register_account(command, actor=ACTOR, batch=written).account_id
    with ledger.batch() as empty:
        pass
    with pytest.raises(NoHolder), ledger.batch() as refused_batch:
        ledger.append(potus, ReleaseHolder(effective_at=LATER), actor=ACTOR, batch=refused_batch)
    for ended in (written, empty, refused_batch):
        with pytest.raises(InvalidInput, match="this batch has ended"):
            ledger.append(potus, appoint("obama", OPENED), actor=ACTOR, batch=ended)
    assert ledger.head() > head and len(ledger.records(potus)) == 1

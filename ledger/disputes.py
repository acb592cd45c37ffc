"""The ledger's dispute commands: open, add evidence, withdraw, resolve (with corrections).

A mixin of `CustodyLedger` (ledger.application), kept apart so each module reads in one
sitting; it uses the ledger's own steps (`_with_retries`, `_save`, batches), so a dispute's
events are written, retried and made entries of the verifiable log as every other stream's.

A resolution and its corrections are one batch: one transaction, one record time. Every
correction is staged against the store and the ones before it; if any is refused, nothing is
written and every refused one is named with its place in the list.
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING, Any, cast
from uuid import UUID

from ledger import dispute_fold
from ledger.batch import Writing
from ledger.commands import COMMANDS, OFFICE_COMMANDS, Evidence, RegisterAccount, parse_command
from ledger.dispute_commands import DisputeCommand, OpenDispute, Resolve
from ledger.domain import DISPUTE_EVENT_CLASSES, Account, Dispute, Office, office_id
from ledger.errors import (
    ConcurrencyConflict,
    Conflict,
    DisputeNotFound,
    InvalidInput,
    NotFound,
    OfficeNotAllowed,
    OfficeNotFound,
    RuleViolation,
    StaleVersion,
)
from ledger.fold import Fact
from ledger.guards import check_actor, check_key, fingerprint
from ledger.records import EventRecord

if TYPE_CHECKING:
    from datetime import datetime

    from ledger.application import CustodyLedger
    from ledger.batch import Batch
    from ledger.commands import AccountCommand, OfficeCommand

# A resolution is retried this many times when another writer wins a race for its streams.
RESOLVE_ATTEMPTS = 3
# What a correction's reason begins with: the correction's record names its dispute.
CORRECTION_REASON = "Correction ordered in dispute {dispute_id}."


class DisputeLedger:
    """Dispute commands, mixed into `CustodyLedger`."""

    def open_dispute(
        self,
        command: OpenDispute,
        *,
        actor: str,
        idempotency_key: str | None = None,
        dispute_id: UUID | None = None,
    ) -> EventRecord:
        """Open a dispute about an account or an office; its subject and every contested event
        must be recorded."""
        ledger = cast("CustodyLedger", self)
        check_actor(actor)
        check_key(idempotency_key)
        ledger._check_size(command)
        stamp = fingerprint(dispute_id, command, None) if idempotency_key else ""

        def attempt(touched: list[UUID], writing: Writing) -> EventRecord:
            replay = ledger._replay(actor, idempotency_key, stamp, writing)
            if replay is not None:
                return replay
            _check_subject(ledger, command, touched, writing)
            if dispute_id is not None and ledger._get_or_none(dispute_id, writing) is not None:
                raise InvalidInput(f"dispute id {dispute_id} is taken", field="dispute_id")
            dispute = Dispute.open(
                recorded_at=ledger._now(writing),
                actor=actor,
                evidence=[e.model_dump(mode="json") for e in command.evidence],
                data=command.data(),
                dispute_id=dispute_id,
            )
            return ledger._save(dispute, [], actor, idempotency_key, stamp, (), writing)

        return ledger._with_retries(attempt, Writing())

    def append_dispute(
        self,
        dispute_id: UUID,
        command: DisputeCommand,
        *,
        actor: str,
        expected_version: int | None = None,
        idempotency_key: str | None = None,
    ) -> tuple[EventRecord, list[EventRecord]]:
        """Add evidence to an open dispute, withdraw it, or resolve it (a `Resolve` writes its
        corrections with it). The event's record, and the corrections' records."""
        ledger = cast("CustodyLedger", self)
        check_actor(actor)
        check_key(idempotency_key)
        ledger._check_size(command)
        stamp = fingerprint(dispute_id, command, expected_version) if idempotency_key else ""
        if isinstance(command, Resolve) and command.corrections:
            replay = ledger._replay(actor, idempotency_key, stamp, Writing())
            if replay is not None:
                return replay, _corrections_of(ledger, replay)
            return _resolve(
                ledger, dispute_id, command, actor, expected_version, idempotency_key, stamp
            )

        def attempt(touched: list[UUID], writing: Writing) -> EventRecord:
            replay = ledger._replay(actor, idempotency_key, stamp, writing)
            if replay is not None:
                return replay
            touched.append(dispute_id)
            dispute = _dispute(ledger, dispute_id, expected_version, writing)
            _record(ledger, dispute, command, actor, writing, {})
            return ledger._save(dispute, [], actor, idempotency_key, stamp, (), writing)

        return ledger._with_retries(attempt, Writing()), []

    def dispute_facts(self, dispute_id: UUID) -> list[Fact]:
        """Every recorded fact of a dispute's stream (DisputeNotFound if there is none)."""
        ledger = cast("CustodyLedger", self)
        facts = ledger.stream_facts(dispute_id)
        if not facts or facts[0].kind != "dispute":
            raise DisputeNotFound(dispute_id)
        return facts

    def restore_dispute_event(
        self,
        dispute_id: UUID,
        fact: Fact,
        *,
        batch: Batch,
    ) -> EventRecord:
        """Stage a dispute's event from the ledger's own export, as it was recorded."""
        ledger = cast("CustodyLedger", self)
        writing = Writing(batch=batch, restored_at=fact.recorded_at)
        check_actor(fact.actor, restoring=True)
        if fact.attributed_to is not None:
            check_actor(fact.attributed_to, restoring=True, name="attributed_to")
        for item in fact.evidence:
            Evidence.parse(item, restore=True)
        dispute = ledger._get_or_none(dispute_id, writing)
        before = dispute.state() if isinstance(dispute, Dispute) else None
        try:  # the line must fold as the dispute's next event (as the read side will fold it)
            dispute_fold.apply(
                before, replace(fact, version=0 if before is None else before.version + 1)
            )
        except (KeyError, TypeError, ValueError, AttributeError) as e:
            raise InvalidInput(f"a {fact.type} line that is not one as exported: {e!r}") from None
        if fact.type == dispute_fold.OPENED:
            if dispute is not None:
                raise InvalidInput(f"dispute {dispute_id} is opened twice", field="type")
            dispute = Dispute.open(
                recorded_at=fact.recorded_at,
                actor=fact.actor,
                evidence=list(fact.evidence),
                data=fact.data,
                dispute_id=dispute_id,
                attributed_to=fact.attributed_to,
            )
        else:
            if not isinstance(dispute, Dispute):
                raise DisputeNotFound(dispute_id)
            dispute.check_append(fact.type)
            if fact.recorded_at < dispute.last_recorded_at():
                raise InvalidInput("record times only move forward", field="recorded_at")
            dispute.record(
                DISPUTE_EVENT_CLASSES[fact.type],
                timestamp=fact.recorded_at,
                effective_at=fact.recorded_at,
                actor=fact.actor,
                reason=fact.reason,
                evidence=list(fact.evidence),
                data=fact.data,
                attributed_to=fact.attributed_to,
            )
        return ledger._save(dispute, [], fact.actor, None, "", (), writing)


def _dispute(
    ledger: CustodyLedger, dispute_id: UUID, expected_version: int | None, writing: Writing
) -> Dispute:
    dispute = ledger._get_or_none(dispute_id, writing)
    if not isinstance(dispute, Dispute):
        raise DisputeNotFound(dispute_id)
    if expected_version is not None and dispute.version != expected_version:
        raise StaleVersion(
            dispute.id, expected_version, dispute.version, stream=f"Dispute {dispute.id}"
        )
    return dispute


def _record(
    ledger: CustodyLedger,
    dispute: Dispute,
    command: DisputeCommand,
    actor: str,
    writing: Writing,
    extra: dict[str, Any],
) -> None:
    dispute.check_append(command.type)
    now: datetime = max(ledger._now(writing), dispute.last_recorded_at())
    dispute.record(
        DISPUTE_EVENT_CLASSES[command.type],
        timestamp=now,
        effective_at=now,
        actor=actor,
        reason="",
        evidence=[e.model_dump(mode="json") for e in command.evidence],
        data=command.data() | extra,
    )


def _check_subject(
    ledger: CustodyLedger, command: OpenDispute, touched: list[UUID], writing: Writing
) -> None:
    """The subject is recorded, and every contested event is one of its events."""
    subject = command.subject
    if subject.account_id is not None:
        touched.append(subject.account_id)
        ledger._get_account(subject.account_id, writing)
    else:
        assert subject.office is not None
        stream = ledger._get_or_none(office_id(subject.office), writing)
        if not isinstance(stream, Office):
            raise OfficeNotFound(subject.office)
    for n, contested in enumerate(command.contested):
        where = f"contested.{n}"
        stream_id = (
            contested.account_id
            if contested.account_id is not None
            else office_id(contested.office or "")
        )
        stream = ledger._get_or_none(stream_id, writing)
        if not isinstance(stream, (Account, Office)):
            raise InvalidInput(
                f"{where}: {contested.account_id or contested.office} is not recorded",
                field=where,
            )
        if not 1 <= contested.version <= len(stream.facts):
            raise InvalidInput(
                f"{where}: event version {contested.version} does not exist in that stream "
                f"(versions 1..{len(stream.facts)})",
                field=f"{where}.version",
            )
        if not _about(subject.account_id, subject.office, contested.office, stream):
            raise InvalidInput(
                f"{where}: the event belongs to another subject than the dispute's", field=where
            )


def _about(
    account_id: UUID | None, office: str | None, contested_office: str | None, stream: Any
) -> bool:
    """Whether a contested stream is the dispute's subject: the account itself, or for an
    office, its own stream or an account whose events name the office."""
    if account_id is not None:
        return bool(stream.id == account_id)
    if contested_office is not None:
        return contested_office == office
    return any(f.data.get("office") == office for f in stream.facts)


# The refusals a correction is named by; any other error (the store, a concurrent writer) is
# the resolution's, raised as it is.
REFUSALS = (InvalidInput, RuleViolation, NotFound, StaleVersion, OfficeNotAllowed, Conflict)


def _resolve(
    ledger: CustodyLedger,
    dispute_id: UUID,
    command: Resolve,
    actor: str,
    expected_version: int | None,
    key: str | None,
    stamp: str,
) -> tuple[EventRecord, list[EventRecord]]:
    """The resolution and its corrections in one batch, retried when another writer wins a
    race for their streams (a retry first replays the attempt before it, if that won)."""

    def once() -> tuple[EventRecord, list[EventRecord]]:
        with ledger.batch() as batch:
            writing = Writing(batch=batch)
            dispute = _dispute(ledger, dispute_id, expected_version, writing)
            dispute.check_append(command.type)  # before the corrections: say this first
            if dispute.last_recorded_at() > batch.recorded_at:
                # Written after this batch began: its resolution and corrections share one time.
                raise ConcurrencyConflict(f"dispute {dispute_id} was written meanwhile; retry")
            refused: list[tuple[tuple[str | int, ...], str]] = []
            for n, correction in enumerate(command.corrections):
                try:
                    _stage_correction(ledger, dispute_id, correction, actor, batch)
                except ConcurrencyConflict:
                    raise
                except REFUSALS as e:
                    refused.append((("corrections", n), e.detail))
            if refused:
                raise InvalidInput(
                    f"{len(refused)} of the resolution's {len(command.corrections)} "
                    "corrections are refused; nothing was written: "
                    + "; ".join(f"corrections.{loc[1]}: {why}" for loc, why in refused),
                    errors=tuple(refused),
                )
            written = [
                {"stream_id": str(r.account_id), "version": r.version, "type": r.type}
                | ({"office": r.office} if r.office is not None else {})
                for r in batch.records
            ]
            _record(ledger, dispute, command, actor, writing, {"corrections": written})
            ledger._save(dispute, [], actor, key, stamp, (), writing)
        records = list(batch.records)
        return records[-1], records[:-1]

    for attempt in range(RESOLVE_ATTEMPTS):
        try:
            with ledger._translated():
                if attempt:
                    replay = ledger._replay(actor, key, stamp, Writing(fresh=True))
                    if replay is not None:
                        return replay, _corrections_of(ledger, replay)
                    ledger._evict([dispute_id])
                return once()
        except ConcurrencyConflict:
            if attempt + 1 == RESOLVE_ATTEMPTS:
                raise
    raise AssertionError("unreachable")


def _corrections_of(ledger: CustodyLedger, resolution: EventRecord) -> list[EventRecord]:
    """The records of the corrections a resolution wrote (for its idempotent replay)."""
    out = []
    for c in resolution.data.get("corrections", ()):
        records = ledger.records(UUID(c["stream_id"]))
        out.append(records[c["version"] - 1])
    return out


def _stage_correction(
    ledger: CustodyLedger,
    dispute_id: UUID,
    correction: dict[str, Any],
    actor: str,
    batch: Batch,
) -> EventRecord:
    """Stage one correction: an account's event (it names `account_id`) or an office's own
    (it names `office` and no account), its reason naming the dispute."""
    body = dict(correction)
    expected = body.pop("expected_version", None)
    if expected is not None and (type(expected) is not int or expected < 1):
        raise InvalidInput("expected_version must be a whole number >= 1")
    note = CORRECTION_REASON.format(dispute_id=dispute_id)
    given = body.get("reason", "")
    if not isinstance(given, str):
        raise InvalidInput("reason: expected a string", field="reason")
    body["reason"] = f"{note} {given}".strip()
    if "account_id" in body:
        raw = body.pop("account_id")
        try:
            account_id = UUID(str(raw))
        except ValueError:
            raise InvalidInput(f"account_id {raw!r} is not a UUID") from None
        if body.get("type") == RegisterAccount.type:
            raise InvalidInput("a correction is an event of a recorded account, not a registration")
        command = parse_command(body, commands=COMMANDS)
        return ledger.append(
            account_id,
            cast("AccountCommand", command),
            actor=actor,
            expected_version=expected,
            batch=batch,
        )
    if "office" in body:
        office = str(body.pop("office"))
        command = parse_command(
            body, commands={k: v for k, v in OFFICE_COMMANDS.items() if k != "office_registered"}
        )
        return ledger.append_office(
            office,
            cast("OfficeCommand", command),
            actor=actor,
            expected_version=expected,
            batch=batch,
        )
    raise InvalidInput("name the stream a correction goes to: account_id, or office")

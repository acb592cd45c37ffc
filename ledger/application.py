"""The application service: commands in, immutable custody events out."""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Collection, Iterable, Iterator, Sequence
from contextlib import contextmanager, suppress
from copy import deepcopy
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError, Application
from eventsourcing.domain import Aggregate
from eventsourcing.persistence import (
    IntegrityError,
    InterfaceError,
    JSONTranscoder,
    MapperDeserialisationError,
    OperationalError,
    Recording,
    Transcoder,
)
from eventsourcing.utils import Environment, EnvType

from ledger import fold, office_fold
from ledger.batch import Batch, Writing
from ledger.bulk import collector_paused
from ledger.commands import (
    AccountCommand,
    AssignHolder,
    Command,
    OfficeCommand,
    RegisterAccount,
    RegisterOffice,
    ReleaseHolder,
    RetractEvent,
    Value,
    handle_key,
)
from ledger.compat import mapper_error_origin, save_aggregates
from ledger.disputes import DisputeLedger
from ledger.domain import (
    EVENT_CLASSES,
    OFFICE_EVENT_CLASSES,
    Account,
    Dispute,
    HandleIndex,
    IdempotencyRecord,
    Office,
    PlatformIdIndex,
    decode,
    handle_index_id,
    idempotency_id,
    office_id,
    platform_id_index_id,
    to_fact,
)
from ledger.errors import (
    AccountExists,
    AccountNotFound,
    AccountRetracted,
    ConcurrencyConflict,
    IdempotencyKeyReused,
    InvalidInput,
    LedgerError,
    NotFound,
    OfficeExists,
    OfficeNotAllowed,
    OfficeNotFound,
    PlatformAccountIdTaken,
    StaleVersion,
    StoreUnavailable,
    UnreadableEvent,
    first_line,
    unreachable,
)
from ledger.fold import Fact
from ledger.guards import check_account_id, check_actor, check_key, fingerprint, offices_touched
from ledger.history import History
from ledger.records import EventRecord, RecentFacts
from ledger.store import log_head, position_of, stored_streams
from ledger.tlog.entry import EntryError, check_entry

Clock = Callable[[], datetime]
RETRY_SECONDS = 5.0
# One event's fields, encoded (CUSTODY_MAX_EVENT_BYTES). At most 64,000: the log entry adds
# ids, times, the actor (<= 128 characters) and the chain hash, under 1 KiB, and an entry is at
# most 65,535 bytes (ledger.tlog.entry).
MAX_EVENT_BYTES = 64_000
HANDLE_TYPES = {fold.RENAMED, fold.CLOSED, fold.RETRACTED}


def _name(stream: Account | Office) -> str:
    return stream.key if isinstance(stream, Office) else str(stream.id)


def _record(stream: Account | Office, event_class: Any, fact: Fact) -> None:
    """Trigger the stream's event for `fact`, decided already."""
    stream.record(
        event_class,
        timestamp=fact.recorded_at,
        effective_at=fact.effective_at,
        actor=fact.actor,
        reason=fact.reason,
        evidence=list(fact.evidence),
        data=fact.data,
        attributed_to=fact.attributed_to,
    )


def _record_of(
    stream: Account | Office | Dispute, position: int | None, orphaned: tuple[int, ...]
) -> EventRecord:
    """The record of the stream's latest event."""
    office = stream.key if isinstance(stream, Office) else None
    return EventRecord.of(stream.id, stream.facts[-1], position, orphaned=orphaned, office=office)


def _by_stream(order: list[tuple[UUID, int]]) -> list[tuple[UUID, int]]:
    """(stream, version) pairs grouped by stream, streams in the order they first appear,
    each stream's versions in the order given (ascending: staged in turn)."""
    streams: dict[UUID, list[int]] = {}
    for stream, version in order:
        streams.setdefault(stream, []).append(version)
    return [(stream, version) for stream, versions in streams.items() for version in versions]


def utc_now() -> datetime:
    return datetime.now(UTC)


def _writing(
    batch: Batch | None, recorded_at: datetime | None, attributed_to: str | None = None
) -> Writing:
    """How a command given these arguments is written (see `Writing`)."""
    if recorded_at is not None and batch is None:
        raise InvalidInput("only a batch (a restore of an export) gives an event its record time")
    if attributed_to is not None:
        if batch is None:
            raise InvalidInput("only a batch (an import) attributes an event to someone")
        check_actor(attributed_to, restoring=recorded_at is not None, name="attributed_to")
    if batch is not None and (batch.committed or batch.ended):
        raise InvalidInput("this batch has ended (written, or refused); stage into a new one")
    return Writing(batch=batch, restored_at=recorded_at, attributed_to=attributed_to)


class CustodyLedger(DisputeLedger, Application[UUID]):
    """Records custody events; enforces every rule; the only writer of the log."""

    name = "custody"

    def __init__(
        self,
        env: EnvType | None = None,
        *,
        clock: Clock = utc_now,
        max_event_bytes: int = MAX_EVENT_BYTES,
    ) -> None:
        super().__init__(env)
        self.clock = clock
        self.max_event_bytes = max_event_bytes
        self.recent: RecentFacts | None = None  # see keep_recent_facts

    def keep_recent_facts(self, limit: int) -> RecentFacts:
        """From now on, remember the last `limit` custody facts this process records (for a
        projector in this process; nothing is kept otherwise)."""
        if self.recent is None:
            self.recent = RecentFacts(limit)
        return self.recent

    # -- batches ---------------------------------------------------------------------------------

    @contextmanager
    def batch(self, *, by_stream: bool = False) -> Iterator[Batch]:
        """Stage many commands (each call given `batch=`), checked against each other and the
        store; write all in one transaction when the block ends without error, or nothing at
        all. Every event of the batch carries the batch's record time (unless a restore gives
        each its own). The log takes them in the order they were staged, or with `by_stream`
        stream by stream (see `Batch.by_stream`)."""
        batch = Batch(recorded_at=self.clock(), by_stream=by_stream)
        with collector_paused():
            try:
                yield batch
                self.commit(batch)
            finally:
                batch.ended = True

    def prefetch(self, batch: Batch, commands: Iterable[tuple[UUID | None, Command]]) -> None:
        """Read, in a few queries, the aggregates these commands will look up (their accounts,
        and a registration's handle and platform-id claims) instead of one query per lookup as
        each is staged. What is read here is checked again at commit, like everything staged
        (stream versions), so a concurrent writer still loses or wins cleanly."""
        ids: list[UUID] = []
        for account_id, command in commands:
            if account_id is not None:
                ids.append(account_id)
            if isinstance(command, RegisterAccount):
                ids.append(handle_index_id(command.platform, handle_key(command.handle)))
                if command.platform_account_id is not None:
                    ids.append(platform_id_index_id(command.platform, command.platform_account_id))
        # Not what the batch read or staged already (an import's later lines on the accounts
        # it registered): the batch, not the store, has their state.
        wanted = [
            i for i in dict.fromkeys(ids) if i not in batch.prefetched and i not in batch.staged
        ]
        with self._translated():
            streams = stored_streams(self.recorder, wanted)
        for aggregate_id, stored in streams.items():
            aggregate: Any = None
            for stored_event in stored:
                event: Any = decode(self.mapper, stored_event)
                aggregate = event.mutate(aggregate)
            batch.prefetched[aggregate_id] = aggregate

    def commit(self, batch: Batch) -> list[EventRecord]:
        """Write every event staged in `batch` in one transaction; fill in their log positions.
        Once: a second call only returns the records."""
        if batch.committed or not batch.staged:
            return batch.records
        try:
            with self._translated():
                # In the order the batch staged them (a restore's log order), not account by
                # account: the log, and its tree, keep that order. An import's go stream by
                # stream (`Batch.by_stream`).
                order = [(r.account_id, r.version) for r in batch.records]
                if batch.by_stream:
                    order = _by_stream(order)
                recordings = self.save(*batch.staged.values(), order=order)
        except IntegrityError:
            self._evict(list(batch.staged))
            raise ConcurrencyConflict(
                "another writer changed these accounts while the batch was staged; "
                "nothing was written, run it again"
            ) from None
        batch.committed = True
        positions = {
            (r.domain_event.originator_id, r.domain_event.originator_version): r.notification.id
            for r in recordings
        }
        del recordings  # their events and encoded states: a large import's peak of memory
        batch.records[:] = [
            r.placed(positions.get((r.account_id, r.version))) for r in batch.records
        ]
        return batch.records

    def save(
        self,
        *aggregates: Any,
        order: Sequence[tuple[UUID, int]] | None = None,
        **kwargs: Any,
    ) -> list[Recording[UUID]]:
        """The library's save, without its per-object runtime Protocol checks (see
        `ledger.compat.save_aggregates`): everything this application saves is an aggregate.
        `order`: the (stream, version) order to record custody events in, across streams."""
        if kwargs:
            raise TypeError(f"unexpected arguments to save: {', '.join(kwargs)}")
        recordings, saved = save_aggregates(
            self, (a for a in aggregates if a is not None), order=order
        )
        if self.recent is not None:
            self.recent.add(recordings, saved)
        return recordings

    def construct_transcoder(self) -> Transcoder:
        transcoder = super().construct_transcoder()
        if isinstance(transcoder, JSONTranscoder):
            # An event's state is a tree this module builds, never cyclic. The encoder's cycle
            # check (an entry per container and per value it hands to a transcoding) was a
            # large part of encoding one. The bytes written are the same.
            transcoder.encoder.check_circular = False
        return transcoder

    def construct_env(self, name: str, env: EnvType | None = None) -> Environment:
        # The settings object owns configuration: do not read os.environ here.
        return Environment(name, dict(env or {}))

    # -- commands --------------------------------------------------------------------------------

    def register_account(
        self,
        command: RegisterAccount,
        *,
        actor: str,
        idempotency_key: str | None = None,
        account_id: UUID | None = None,
        batch: Batch | None = None,
        recorded_at: datetime | None = None,
        attributed_to: str | None = None,
    ) -> EventRecord:
        """Open a new account stream; claims its handle and platform account id atomically.
        With `batch`, stage it there instead (`recorded_at`: a restored event's own time;
        `attributed_to`: whom an imported line names as its recorder)."""
        writing = _writing(batch, recorded_at, attributed_to)
        check_actor(actor, restoring=writing.restoring)
        check_key(idempotency_key)
        if not writing.restoring:  # a restore keeps ids, actors and sizes as they were recorded
            check_account_id(account_id)
            self._check_size(command)
        stamp = fingerprint(account_id, command, None) if idempotency_key else ""

        def attempt(touched: list[UUID], writing: Writing) -> EventRecord:
            replay = self._replay(actor, idempotency_key, stamp, writing)
            if replay is not None:
                return replay
            if account_id is not None and self._get_or_none(account_id, writing) is not None:
                raise AccountExists(account_id)
            account = Account.register(
                recorded_at=self._now(writing),
                effective_at=command.effective_at,
                actor=actor,
                reason=command.reason,
                evidence=[e.model_dump(mode="json") for e in command.evidence],
                data=command.data(),
                account_id=account_id,
                attributed_to=writing.attributed_to,
            )
            others: list[Aggregate] = []
            if command.platform_account_id is not None:
                others.append(self._claim_platform_id(command, account.id, touched, writing))
            others += self._update_handles(account, None, touched, writing)
            return self._save(account, others, actor, idempotency_key, stamp, (), writing)

        return self._with_retries(attempt, writing)

    def append(
        self,
        account_id: UUID,
        command: AccountCommand,
        *,
        actor: str,
        expected_version: int | None = None,
        idempotency_key: str | None = None,
        offices: Collection[str] | None = None,
        batch: Batch | None = None,
        recorded_at: datetime | None = None,
        attributed_to: str | None = None,
    ) -> EventRecord:
        """Append one custody event to an existing account stream. `offices`, if given, are
        the only offices the actor may record for: the event may change the account's
        history only where (before and after it, as known now) the account is theirs. With
        `batch`, stage it there instead (`recorded_at`: a restored event's own time;
        `attributed_to`: whom an imported line names as its recorder)."""
        writing = _writing(batch, recorded_at, attributed_to)
        check_actor(actor, restoring=writing.restoring)
        check_key(idempotency_key)
        if not isinstance(command, Command) or isinstance(command, RegisterAccount):
            raise InvalidInput("append takes a custody event command, not a registration")
        if not writing.restoring:
            self._check_size(command)
        # Only an idempotency key needs the command's fingerprint.
        stamp = fingerprint(account_id, command, expected_version) if idempotency_key else ""

        def attempt(touched: list[UUID], writing: Writing) -> EventRecord:
            replay = self._replay(actor, idempotency_key, stamp, writing)
            if replay is not None:
                return replay
            account = self._get_account(account_id, writing)
            touched.append(account.id)
            if offices is not None:  # first: a caller may not learn more about others' accounts
                outside = offices_touched(account.history(), account.facts, command) - set(offices)
                if outside:
                    raise OfficeNotAllowed(actor, offices, outside)
            candidate = self._candidate(account, command, actor, expected_version, writing)
            orphaned = account.check_append(candidate)
            before = account.history() if command.type in HANDLE_TYPES else None
            _record(account, EVENT_CLASSES[command.type], candidate)
            others: list[Aggregate] = []
            if command.type in HANDLE_TYPES:
                others += self._update_handles(account, before, touched, writing)
            if command.type == fold.RETRACTED and not account.exists():
                others += self._release_platform_id(account, touched, writing)
            return self._save(account, others, actor, idempotency_key, stamp, orphaned, writing)

        return self._with_retries(attempt, writing)

    def register_office(
        self,
        command: RegisterOffice,
        *,
        actor: str,
        idempotency_key: str | None = None,
        offices: Collection[str] | None = None,
        batch: Batch | None = None,
        recorded_at: datetime | None = None,
        attributed_to: str | None = None,
    ) -> EventRecord:
        """Open a new office stream (one per office key). `offices`, if given, are the only
        offices the actor may record for."""
        writing = _writing(batch, recorded_at, attributed_to)
        check_actor(actor, restoring=writing.restoring)
        check_key(idempotency_key)
        if offices is not None and command.office not in offices:
            raise OfficeNotAllowed(actor, offices, {command.office})
        if not writing.restoring:
            self._check_size(command)
        stamp = fingerprint(None, command, None) if idempotency_key else ""

        def attempt(touched: list[UUID], writing: Writing) -> EventRecord:
            replay = self._replay(actor, idempotency_key, stamp, writing)
            if replay is not None:
                return replay
            stream_id = office_id(command.office)
            touched.append(stream_id)
            if self._get_or_none(stream_id, writing) is not None:
                raise OfficeExists(command.office)
            office = Office.register(
                recorded_at=self._now(writing),
                effective_at=command.effective_at,
                actor=actor,
                reason=command.reason,
                evidence=[e.model_dump(mode="json") for e in command.evidence],
                data=command.data(),
                attributed_to=writing.attributed_to,
            )
            return self._save(office, [], actor, idempotency_key, stamp, (), writing)

        return self._with_retries(attempt, writing)

    def append_office(
        self,
        office: str,
        command: OfficeCommand,
        *,
        actor: str,
        expected_version: int | None = None,
        idempotency_key: str | None = None,
        offices: Collection[str] | None = None,
        batch: Batch | None = None,
        recorded_at: datetime | None = None,
        attributed_to: str | None = None,
    ) -> EventRecord:
        """Append a holder's assignment or release, or a retraction, to an office stream,
        under the rules of an account's (`append`). `offices`: as for `register_office`."""
        writing = _writing(batch, recorded_at, attributed_to)
        check_actor(actor, restoring=writing.restoring)
        check_key(idempotency_key)
        if not isinstance(command, (AssignHolder, ReleaseHolder, RetractEvent)):
            raise InvalidInput(
                "an office stream takes holder_assigned, holder_released or event_retracted"
            )
        if offices is not None and office not in offices:
            raise OfficeNotAllowed(actor, offices, {office})
        if not writing.restoring:
            self._check_size(command)
        stream_id = office_id(office)
        stamp = fingerprint(stream_id, command, expected_version) if idempotency_key else ""

        def attempt(touched: list[UUID], writing: Writing) -> EventRecord:
            replay = self._replay(actor, idempotency_key, stamp, writing)
            if replay is not None:
                return replay
            touched.append(stream_id)
            stream = self._get_or_none(stream_id, writing)
            if not isinstance(stream, Office) or not stream.exists():
                raise OfficeNotFound(office)
            candidate = self._candidate(stream, command, actor, expected_version, writing)
            orphaned = stream.check_append(candidate)
            _record(stream, OFFICE_EVENT_CLASSES[command.type], candidate)
            return self._save(stream, [], actor, idempotency_key, stamp, orphaned, writing)

        return self._with_retries(attempt, writing)

    def _candidate(
        self,
        stream: Account | Office,
        command: Command,
        actor: str,
        expected_version: int | None,
        writing: Writing,
    ) -> Fact:
        """The fact `command` would add to `stream`, recorded now (record times of a stream
        only move forward), if the stream is at `expected_version`."""
        if expected_version is not None and stream.version != expected_version:
            raise StaleVersion(
                stream.id,
                expected_version,
                stream.version,
                stream=f"Office {stream.key}" if isinstance(stream, Office) else None,
            )
        kind = "office" if isinstance(stream, Office) else "account"
        now, last = self._now(writing), stream.last_recorded_at()
        if last > now and writing.restoring:
            raise InvalidInput(
                f"recorded_at {now.isoformat()} is before {last.isoformat()}, when {kind} "
                f"{_name(stream)} was last written; record times only move forward",
                field="recorded_at",
            )
        if last > now and writing.batch is not None:
            raise ConcurrencyConflict(
                f"{kind} {_name(stream)} was written at {last.isoformat()}, after this batch "
                f"began at {now.isoformat()} (another writer, or a clock ahead of this "
                "one); nothing was written, run it again"
            )
        return Fact(
            version=stream.version + 1,
            type=command.type,
            effective_at=command.effective_at,
            recorded_at=max(now, last),
            actor=actor,
            reason=command.reason,
            evidence=tuple(e.model_dump(mode="json") for e in command.evidence),
            data=command.data(),
            kind=kind,
            attributed_to=writing.attributed_to,
        )

    # -- reads (from the log, never from the write cache) -----------------------------------------

    def stream_facts(self, stream_id: UUID) -> list[Fact]:
        """Every recorded fact of an account, office or dispute stream, in stream order ([] if
        none)."""
        with self._translated():
            events = list(self.events.get(stream_id))
        if not events or not isinstance(
            events[0], (Account.Registered, Office.Registered, Dispute.Opened)
        ):
            return []
        return [to_fact(e) for e in events]  # type: ignore[arg-type]

    def office_facts(self, office: str) -> list[Fact]:
        """Every recorded fact of an office's stream, in stream order."""
        facts = self.stream_facts(office_id(office))
        if not facts or facts[0].kind != "office":
            raise OfficeNotFound(office)
        return facts

    def facts(self, account_id: UUID) -> list[Fact]:
        """Every recorded fact of an account stream, in stream order."""
        with self._translated():
            events = list(self.events.get(account_id))
        if not events or not isinstance(events[0], Account.Registered):
            raise AccountNotFound(account_id)
        return [to_fact(e) for e in events]  # type: ignore[arg-type]

    def state(
        self, account_id: UUID, at: datetime, known_at: datetime | None = None
    ) -> fold.AccountState | None:
        """The oracle's answer, straight from the stream."""
        return fold.fold(self.facts(account_id), at, known_at)

    def account_for_platform_id(
        self, platform: str, platform_account_id: str, *, batch: Batch | None = None
    ) -> UUID:
        """The account a platform's permanent account id is registered as (with `batch`, as
        staged there too)."""
        index_id = platform_id_index_id(platform, platform_account_id)
        index = self._get_or_none(index_id, Writing(batch=batch))
        if index is None or index.account_id is None:
            raise NotFound(
                f"no account on {platform} is registered with platform account id "
                f"{platform_account_id!r}"
            )
        return index.account_id  # type: ignore[no-any-return]

    def records(self, account_id: UUID) -> list[EventRecord]:
        """The event records of an account's stream (or an office's, by its stream id)."""
        facts = self.stream_facts(account_id)
        if not facts:
            raise AccountNotFound(account_id)
        retracted = {f.data["event_version"]: f.version for f in facts if f.type == fold.RETRACTED}
        with self._translated():
            return self._records(account_id, facts, retracted)

    def _records(
        self, account_id: UUID, facts: list[Fact], retracted: dict[int, int]
    ) -> list[EventRecord]:
        office = facts[0].data["office"] if facts[0].kind == "office" else None
        return [
            EventRecord.of(
                account_id,
                f,
                position_of(self.recorder, account_id, f.version),
                retracted_by=retracted.get(f.version),
                office=office,
            )
            for f in facts
        ]

    def head(self) -> int:
        """The highest log position (0 for an empty log); fails fast if the store is down."""
        with self._translated():
            return log_head(self.recorder)

    # -- internals -------------------------------------------------------------------------------

    def _check_size(self, command: Value) -> None:
        """An event is at most `max_event_bytes` encoded: the log keeps every event forever,
        and every reader of a stream reads all of it."""
        size = len(command.model_dump_json().encode("utf-8"))
        if size > self.max_event_bytes:
            raise InvalidInput(
                f"the event is {size:,} bytes encoded; an event is at most "
                f"{self.max_event_bytes:,} (shorten the reason or the evidence)"
            )

    def _now(self, writing: Writing) -> datetime:
        """The record time of what is being written: a restored event's own, the batch's, or
        the clock's."""
        if writing.restored_at is not None:
            return writing.restored_at
        return writing.batch.recorded_at if writing.batch is not None else self.clock()

    def _get_account(self, account_id: UUID, writing: Writing) -> Account:
        account = self._get_or_none(account_id, writing)
        if not isinstance(account, Account):
            raise AccountNotFound(account_id)
        if not account.exists():
            raise AccountRetracted(account_id)
        return account

    def _get_or_none(self, aggregate_id: UUID, writing: Writing) -> Any:
        batch, fresh = writing.batch, writing.fresh
        if batch is not None and aggregate_id in batch.staged:
            # A copy: a refused command must leave the staged state as it was.
            return deepcopy(batch.staged[aggregate_id])
        if batch is not None and aggregate_id in batch.prefetched and not fresh:
            found = batch.prefetched[aggregate_id]
            return None if found is None else deepcopy(found)
        if fresh:
            self._evict([aggregate_id])
        try:
            return self.repository.get(aggregate_id)
        except AggregateNotFoundError:
            return None

    def _claim_platform_id(
        self, command: RegisterAccount, account_id: UUID, touched: list[UUID], writing: Writing
    ) -> PlatformIdIndex:
        assert command.platform_account_id is not None
        index_id = platform_id_index_id(command.platform, command.platform_account_id)
        touched.append(index_id)
        index = self._get_or_none(index_id, writing)
        if index is None:
            return PlatformIdIndex.claim(command.platform, command.platform_account_id, account_id)
        if index.account_id is not None:
            raise PlatformAccountIdTaken(
                command.platform, command.platform_account_id, index.account_id
            )
        index.trigger_event(PlatformIdIndex.Reclaimed, account_id=account_id)
        return index  # type: ignore[no-any-return]

    def _release_platform_id(
        self, account: Account, touched: list[UUID], writing: Writing
    ) -> list[Aggregate]:
        data = account.facts[0].data
        if data.get("platform_account_id") is None:
            return []
        index_id = platform_id_index_id(data["platform"], data["platform_account_id"])
        touched.append(index_id)
        index = self._get_or_none(index_id, writing)
        if index is None or index.account_id != account.id:
            return []
        index.trigger_event(PlatformIdIndex.Released)
        return [index]

    def _update_handles(
        self,
        account: Account,
        before: History | None,
        touched: list[UUID],
        writing: Writing,
    ) -> list[Aggregate]:
        """Re-claim every handle whose intervals this change moved (`before`: the account's
        history before it, None for a new account); refuse overlaps."""
        platform = account.facts[0].data["platform"]
        changed = account.history().handle_changes(before)
        indexes: list[Aggregate] = []
        for key, (display, intervals) in changed.items():
            index_id = handle_index_id(platform, key)
            touched.append(index_id)
            index = self._get_or_none(index_id, writing) or HandleIndex.open(platform, key)
            index.check_claim(account.id, intervals, display)
            index.set_claim(account.id, intervals)
            indexes.append(index)
        return indexes

    def _replay(
        self, actor: str, key: str | None, stamp: str, writing: Writing
    ) -> EventRecord | None:
        if key is None:
            return None
        record = self._get_or_none(idempotency_id(actor, key), writing)
        if record is None:
            return None
        if record.fingerprint != stamp:
            raise IdempotencyKeyReused(key)
        facts = self.stream_facts(record.account_id)[: record.event_version]
        fact = facts[-1]
        orphaned: tuple[int, ...] = ()
        if fact.type == fold.RETRACTED:
            # What the retraction left without premise, exactly as it was first reported.
            rules: Any = office_fold if fact.kind == "office" else fold
            lost = rules.ineffective_versions(facts) - rules.ineffective_versions(facts[:-1])
            orphaned = tuple(sorted(lost - {fact.version}))
        position = position_of(self.recorder, record.account_id, fact.version)
        return EventRecord.of(
            record.account_id, fact, position, orphaned=orphaned, replayed=True,
            office=facts[0].data["office"] if fact.kind == "office" else None,
        )  # fmt: skip

    def _save(
        self,
        account: Account | Office | Dispute,
        others: Sequence[Aggregate],
        actor: str,
        key: str | None,
        stamp: str,
        orphaned: tuple[int, ...],
        writing: Writing,
    ) -> EventRecord:
        try:  # every event becomes an entry of the verifiable log: one that could not, never is
            check_entry(account.id, account.facts[-1])
        except EntryError as e:
            raise InvalidInput(f"the event cannot be an entry of the verifiable log: {e}") from None
        extra: list[Aggregate] = list(others)
        if key is not None:
            extra.append(IdempotencyRecord.remember(actor, key, stamp, account.id, account.version))
        batch = writing.batch
        if batch is not None:
            for aggregate in (account, *extra):
                batch.staged[aggregate.id] = aggregate
            record = _record_of(account, None, orphaned)
            batch.records.append(record)
            return record
        recordings = self.save(account, *extra)
        position = next(
            r.notification.id
            for r in recordings
            if r.domain_event.originator_id == account.id
            and r.domain_event.originator_version == account.version
        )
        return _record_of(account, position, orphaned)

    def _with_retries(
        self, attempt: Callable[[list[UUID], Writing], EventRecord], writing: Writing
    ) -> EventRecord:
        """Optimistic concurrency, with decisions that never rest on a stale cache.

        A write decided on stale state fails its version check (IntegrityError): forget the
        cached state and decide again. A refusal may also have been decided on stale cached
        state (another node moved on), so before refusing, decide once more on state read
        fresh from the store; that second look also finds an idempotent first attempt that
        committed meanwhile and replays it. A staged command is refused at once: its batch is
        checked again as a whole when it commits.
        """
        deadline = time.monotonic() + RETRY_SECONDS
        delay = 0.001
        while True:
            touched: list[UUID] = []
            try:
                with self._translated():
                    return attempt(touched, writing)
            except IntegrityError:
                self._evict(touched)
                if time.monotonic() > deadline:
                    raise ConcurrencyConflict(
                        f"other writers kept winning the race for {RETRY_SECONDS:g}s; retry it"
                    ) from None
                time.sleep(random.uniform(0, delay))
                delay = min(delay * 2, 0.05)
            except StoreUnavailable:
                self._evict(touched)
                raise
            except LedgerError:
                self._evict(touched)
                if writing.fresh or writing.batch is not None:
                    raise
                writing = replace(writing, fresh=True)  # the second look reads from the store
            except BaseException:
                self._evict(touched)
                raise

    def _evict(self, ids: list[UUID]) -> None:
        cache = self.repository.cache
        if cache is None:
            return
        for aggregate_id in ids:
            with suppress(KeyError):
                cache.get(aggregate_id, evict=True)

    @contextmanager
    def _translated(self) -> Iterator[None]:
        try:
            yield
        except (OperationalError, InterfaceError) as e:
            raise unreachable(e) from None
        except MapperDeserialisationError as e:  # reading a stream through the library
            stream, version = mapper_error_origin(e) or ("(unnamed)", None)
            cause = first_line(e.__cause__) if e.__cause__ is not None else first_line(e)
            raise UnreadableEvent(stream, version, None, cause) from None

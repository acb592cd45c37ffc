"""Many commands staged against each other and the store, then written in one transaction."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import TYPE_CHECKING, Any
from uuid import UUID

from eventsourcing.domain import Aggregate
from eventsourcing.persistence import IntegrityError

from ledger.commands import AccountCommand, Command, RegisterAccount, handle_key
from ledger.domain import Account, handle_index_id, platform_id_index_id
from ledger.errors import ConcurrencyConflict
from ledger.fold import Fact
from ledger.records import EventRecord
from ledger.store import stored_streams

if TYPE_CHECKING:
    from ledger.application import CustodyLedger


class Batch:
    """Commands staged by `CustodyLedger.batch()`: each checked as it comes, written together."""

    def __init__(self, ledger: CustodyLedger) -> None:
        self.ledger = ledger
        self.staged: dict[UUID, Aggregate] = {}
        self.records: list[EventRecord] = []  # one per event staged, in staging order
        self.prefetched: dict[UUID, Aggregate | None] = {}
        self.positions: list[int] = []  # every log position the commit wrote, ascending
        self.committed = False
        # One record time for the whole batch: it becomes known at once, in one transaction,
        # so no reader ever saw part of it and "as known at" never shows a half-written batch.
        # An account written after this time is a conflict (`CustodyLedger.append`), never a
        # reason to stamp some of the batch later.
        self.recorded_at = ledger.clock()

    def prefetch(self, commands: Iterable[tuple[UUID | None, Command]]) -> None:
        """Read, in a few queries, the aggregates these commands will look up (their accounts,
        and a registration's handle and platform-id claims) instead of one query per lookup as
        each is staged. A large backfill registers thousands of accounts; each used to cost two
        round trips before anything was written. What is read here is checked again at commit,
        like everything staged (stream versions), so a concurrent writer still loses or wins
        cleanly."""
        ids: list[UUID] = []
        for account_id, command in commands:
            if account_id is not None:
                ids.append(account_id)
            if isinstance(command, RegisterAccount):
                ids.append(handle_index_id(command.platform, handle_key(command.handle)))
                if command.platform_account_id is not None:
                    ids.append(platform_id_index_id(command.platform, command.platform_account_id))
        wanted = [i for i in dict.fromkeys(ids) if i not in self.prefetched]
        ledger = self.ledger
        with ledger._translated():
            streams = stored_streams(ledger.recorder, wanted)
        for aggregate_id, stored in streams.items():
            aggregate: Any = None
            for stored_event in stored:
                event: Any = ledger.mapper.to_domain_event(stored_event)
                aggregate = event.mutate(aggregate)
            self.prefetched[aggregate_id] = aggregate

    def register_account(
        self,
        command: RegisterAccount,
        *,
        actor: str,
        account_id: UUID | None = None,
        recorded_at: datetime | None = None,
    ) -> EventRecord:
        with self._restored_at(recorded_at):
            return self.ledger.register_account(command, actor=actor, account_id=account_id)

    def append(
        self,
        account_id: UUID,
        command: AccountCommand,
        *,
        actor: str,
        recorded_at: datetime | None = None,
    ) -> EventRecord:
        with self._restored_at(recorded_at):
            return self.ledger.append(account_id, command, actor=actor)

    @contextmanager
    def _restored_at(self, when: datetime | None) -> Iterator[None]:
        """Only a restore of the ledger's own export sets an event's record time; otherwise
        every event carries the batch's (set once by `CustodyLedger.batch`)."""
        if when is None:
            yield
            return
        local = self.ledger._local
        local.recorded_at, local.batch_time = when, False
        try:
            yield
        finally:
            local.recorded_at, local.batch_time = self.recorded_at, True

    def histories(self) -> list[tuple[UUID, list[Fact], int]]:
        """For each account the batch writes to: its id, every fact of its stream once the
        batch is written (the stored history first), and the version of the batch's first."""
        first: dict[UUID, int] = {}
        for record in self.records:
            first.setdefault(record.account_id, record.version)
        out = []
        for aid, version in first.items():
            account = self.staged[aid]
            assert isinstance(account, Account)
            out.append((aid, account.facts, version))
        return out

    def commit(self) -> list[EventRecord]:
        """Write every staged event in one transaction; fill in their log positions. Once:
        a second call only returns the records."""
        if self.committed or not self.staged:
            return self.records
        try:
            with self.ledger._translated():
                recordings = self.ledger.save(*self.staged.values())
        except IntegrityError:
            self.ledger._evict(list(self.staged))
            raise ConcurrencyConflict(
                "another writer changed these accounts while the batch was staged; "
                "nothing was written, run it again"
            ) from None
        self.committed = True
        positions = {
            (r.domain_event.originator_id, r.domain_event.originator_version): r.notification.id
            for r in recordings
        }
        self.positions = sorted(positions.values())
        self.records = [r.placed(positions.get((r.account_id, r.version))) for r in self.records]
        return self.records

"""A batch: many commands staged against each other and the store, then written in one
transaction. The batch is state only, handed to the ledger's calls that stage into it."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from uuid import UUID

from eventsourcing.domain import Aggregate

from ledger.records import EventRecord


@dataclass
class Batch:
    """What `CustodyLedger.batch()` has staged so far.

    `recorded_at` is the one record time of the whole batch: it becomes known at once, in one
    transaction, so no reader ever saw part of it and "as known at" never shows a half-written
    batch. An account written after this time is a conflict (`CustodyLedger.append`), never a
    reason to stamp some of the batch later. Only a restore of the ledger's own export gives
    an event its own record time (the `recorded_at` argument of the ledger's calls).

    `by_stream`: the log takes the events stream by stream, the streams in the order they were
    first staged, rather than in the order staged. An import's lines are one step of knowledge,
    so their order across streams says nothing; grouped, a projector that splits a long import
    into several batches still applies each account's events together (once, not once per
    batch it has events in). A restore keeps the order staged: the exported log order."""

    recorded_at: datetime
    by_stream: bool = False
    staged: dict[UUID, Aggregate] = field(default_factory=dict)
    # Aggregates read ahead in a few queries (`CustodyLedger.prefetch`); None: not stored.
    prefetched: dict[UUID, Aggregate | None] = field(default_factory=dict)
    records: list[EventRecord] = field(default_factory=list)  # one per event, staging order
    committed: bool = False
    ended: bool = False  # its block has ended (written, or refused): it takes no more


@dataclass(frozen=True)
class Writing:
    """How one command is decided and written, handed explicitly to every step that depends
    on it: alone or into a `batch`; at the clock's time, the batch's, or (a restore) the
    event's own `restored_at`; whom an imported line `attributed_to` (kept beside the actor,
    who wrote it); and whether every aggregate is read `fresh` from the store (a retry's second
    look before refusing) rather than from the cache or the batch's reads."""

    batch: Batch | None = None
    restored_at: datetime | None = None
    fresh: bool = False
    attributed_to: str | None = None

    @property
    def restoring(self) -> bool:
        """A restore of the ledger's own export: ids and actors are kept as recorded."""
        return self.restored_at is not None

"""What the ledger recorded, as clients and an in-process projector see it."""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from itertools import islice
from typing import Any
from uuid import UUID

from eventsourcing.persistence import Recording

from ledger.domain import Account, Dispute, Office, to_fact
from ledger.fold import Fact
from ledger.history import History


@dataclass(frozen=True)
class EventRecord:
    """One recorded custody event, as clients see it."""

    account_id: UUID
    version: int
    position: int | None
    type: str
    effective_at: datetime
    recorded_at: datetime
    actor: str
    reason: str
    evidence: tuple[dict[str, Any], ...]
    data: dict[str, Any]
    retracted_by: int | None = None
    orphaned: tuple[int, ...] = ()
    replayed: bool = False
    # The office's key, for an event of an office stream (`account_id` is then that stream's id).
    office: str | None = None
    # Who an imported line says recorded the event (not verified; `actor` wrote it), or None.
    attributed_to: str | None = None

    @classmethod
    def of(cls, account_id: UUID, fact: Fact, position: int | None, **extra: Any) -> EventRecord:
        return cls(
            account_id=account_id,
            version=fact.version,
            position=position,
            type=fact.type,
            effective_at=fact.effective_at,
            recorded_at=fact.recorded_at,
            actor=fact.actor,
            reason=fact.reason,
            evidence=fact.evidence,
            data=fact.data,
            attributed_to=fact.attributed_to,
            **extra,
        )

    def placed(self, position: int | None) -> EventRecord:
        """This record at its log position, which a batch learns only when it commits. A copy
        made without `dataclasses.replace`, whose field-by-field rebuild showed in an
        import's profile."""
        placed = object.__new__(EventRecord)
        placed.__dict__.update(self.__dict__, position=position)
        return placed


LENT_LIMIT = 2_000  # histories lent at most (`RecentFacts.lent`)


class RecentFacts:
    """What this process recorded lately, by log position: the custody fact at each position,
    or None where it recorded an index event. A projector in the same process takes them instead
    of reading the stored events back and decoding them (an import's read models, the embedded
    store); a range this process wrote whole is not read from the log at all. They are the facts
    decoding would give (a test checks every event type); a miss costs only the reading.
    Bounded, oldest dropped first, but never a part of the latest save (an import's one
    transaction, however long: its facts are held by the batch anyway until its projection,
    which then forgets them as it applies them); and what another process's projector applied
    first is forgotten once this one moves past it.

    With a fact it may lend the stream's history up to it (`lent`), which the saving aggregate
    held already, so that the projector does not fold the fact again."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._known: dict[int, tuple[UUID, Fact] | None] = {}
        # position -> (stream, fact, the stream's history up to it); a smaller bound: only an
        # economy, each history holding its timeline's last blocks.
        self._lent: dict[int, tuple[UUID, Fact, History]] = {}
        self._highest = 0  # the highest position kept
        self._lock = threading.Lock()

    def add(
        self, recordings: Sequence[Recording[UUID]], aggregates: Mapping[UUID, Any] = {}
    ) -> None:
        """Keep what `recordings` recorded. An account among `aggregates` (those just saved)
        lends the fact it already holds for the event instead of building it again, and its
        history when it holds the one up to that fact (its last)."""
        with self._lock:
            known, lent = self._known, self._lent
            for r in recordings:
                event = r.domain_event
                position = r.notification.id
                if isinstance(event, (Account.Recorded, Office.Recorded, Dispute.Recorded)):
                    aggregate = aggregates.get(event.originator_id)
                    version = event.originator_version
                    fact = (
                        aggregate.facts[version - 1]
                        if isinstance(aggregate, (Account, Office, Dispute))
                        else to_fact(event)
                    )
                    known[position] = (event.originator_id, fact)
                    if isinstance(aggregate, (Account, Office)) and len(aggregate.facts) == version:
                        history = aggregate.kept_history()
                        if history is not None:
                            lent[position] = (event.originator_id, fact, history)
                else:
                    known[position] = None
                self._highest = max(self._highest, position)
            keep = max(self.limit, len(recordings))
            if len(known) > keep:
                for position in list(islice(known, len(known) - keep)):
                    del known[position]
            if len(lent) > LENT_LIMIT:
                for position in list(islice(lent, len(lent) - LENT_LIMIT)):
                    del lent[position]

    def take(self, position: int) -> tuple[UUID, Fact] | None:
        with self._lock:
            return self._known.pop(position, None)

    def lent(self, position: int, stream: UUID, fact: Fact) -> History | None:
        """The history, up to and with `fact` at `position`, of `stream`, as the aggregate that
        saved it held it; None if it held none then, it is forgotten, or what this process
        recorded at `position` was not that fact of that stream. Kept until `forget_upto`
        passes the position or LENT_LIMIT newer ones are lent."""
        with self._lock:
            got = self._lent.get(position)
        if got is None or got[0] != stream or not (got[1] is fact or got[1] == fact):
            return None
        return got[2]

    def span(self, start: int, stop: int) -> list[tuple[int, UUID, Fact]] | None:
        """The custody facts at the positions after `start` up to `stop`, in log order, if this
        process recorded every one of those positions; None if it did not (another writer's
        event, a gap in the positions, one forgotten): then only the log knows."""
        out: list[tuple[int, UUID, Fact]] = []
        with self._lock:
            known = self._known
            for position in range(start + 1, stop + 1):
                try:
                    entry = known[position]
                except KeyError:
                    return None
                if entry is not None:
                    out.append((position, *entry))
        return out

    def forget_upto(self, position: int) -> None:
        """Drop what is kept at or below `position` (applied: nobody will take it). Positions
        are kept in the order they were recorded, almost always ascending: this drops from the
        oldest on and stops at the first one kept; one recorded out of order stays until the
        bound drops it, and never matters, since nobody looks at or below applied positions."""
        with self._lock:
            known, lent = self._known, self._lent
            if self._highest <= position:  # all of it (an import just projected, say)
                known.clear()
                lent.clear()
                return
            _drop_upto(known, position)
            _drop_upto(lent, position)

    def __len__(self) -> int:
        """The number of positions remembered (custody events and index events)."""
        return len(self._known)


def _drop_upto(kept: dict[int, Any], position: int) -> None:
    """Drop the entries of `kept` from the oldest on, up to the first above `position`."""
    applied = []
    for p in kept:
        if p > position:
            break
        applied.append(p)
    for p in applied:
        del kept[p]

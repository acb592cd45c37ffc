"""Pure derivations: an account's facts -> the rows each read model believes, as known after them.

Incremental processing and rebuilds both call these, so a rebuilt view equals an incrementally
built one by construction; the property tests check both against the oracle fold.
Times are stored as integer microseconds since the epoch (UTC): exact, sortable, one type on
both stores.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Any
from uuid import UUID

from ledger import dispute_fold, fold
from ledger.fold import AccountState, Fact
from ledger.history import History, Splice
from ledger.office_fold import OfficeSegment

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
Row = tuple[Any, ...]


def to_us(value: datetime) -> int:
    delta = value - EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def from_us(value: int) -> datetime:
    return EPOCH + timedelta(microseconds=value)


def opt_us(value: datetime | None) -> int | None:
    return None if value is None else to_us(value)


# json.dumps with options builds a new encoder on every call; every row holds a few of these.
# Their values are facts' data, never cyclic: no cycle check (same text, less work).
_ENCODER = json.JSONEncoder(separators=(",", ":"), sort_keys=True, check_circular=False)


def dumps(value: Any) -> str:
    return _ENCODER.encode(value)


# The same values recur in every prefix of an account's timeline; encode each once. The
# caches are small on purpose: reuse is within an account, and memory must stay flat.
@lru_cache(maxsize=1 << 12)
def dump_seq(values: tuple[Any, ...]) -> str:
    return dumps(list(values))


@lru_cache(maxsize=1 << 11)
def _archives_json(archives: tuple[fold.ArchiveEntry, ...]) -> str:
    return dumps(
        [
            {
                "ref": a.ref,
                "sha256": a.sha256,
                "items": a.items,
                "effective_at": to_us(a.effective_at),
                "version": a.version,
            }
            for a in archives
        ]
    )


@lru_cache(maxsize=1 << 11)
def _ineffective_json(items: tuple[fold.Ineffective, ...]) -> str:
    return dumps([{"version": i.version, "type": i.type, "why": i.why} for i in items])


def _archives(state: AccountState) -> str:
    return _archives_json(state.archives)


def _ineffective(state: AccountState) -> str:
    return _ineffective_json(state.ineffective)


def segment_rows(account_id: UUID, segments: Sequence[fold.Segment]) -> set[Row]:
    """`segments` model: the account's whole state over valid time."""
    aid = str(account_id)
    return {_segment_row(aid, seg) for seg in segments}


@lru_cache(maxsize=1 << 10)
def _segment_row(aid: str, seg: fold.Segment) -> Row:
    s = seg.state
    return (
        aid,
        to_us(seg.valid_from),
        opt_us(seg.valid_to),
        s.platform,
        s.platform_account_id,
        s.handle,
        s.handle.casefold(),
        s.office,
        s.status,
        s.holder.id if s.holder else None,
        s.holder.name if s.holder else None,
        opt_us(s.holder_since),
        _archives(s),
        dump_seq(s.established_by),
        _ineffective(s),
        to_us(s.registered_at),
        s.ownership,
        s.owner.id if s.owner else None,
        s.owner.name if s.owner else None,
        s.audience.followers if s.audience else None,
        opt_us(s.audience.observed_at) if s.audience else None,
        s.audience.version if s.audience else None,
    )


def office_segment_rows(office_id: UUID, segments: Sequence[OfficeSegment]) -> set[Row]:
    """`office_segments` model: the office's whole state over valid time."""
    oid = str(office_id)
    return {
        (
            oid,
            to_us(seg.valid_from),
            opt_us(seg.valid_to),
            seg.state.office,
            seg.state.name,
            seg.state.jurisdiction,
            seg.state.holder.id if seg.state.holder else None,
            seg.state.holder.name if seg.state.holder else None,
            opt_us(seg.state.holder_since),
            dump_seq(seg.state.established_by),
            _ineffective_json(seg.state.ineffective),
            to_us(seg.state.registered_at),
            seg.state.holder_by,
            seg.state.jurisdiction.partition("-")[0],
        )
        for seg in segments
    }


def dispute_rows(dispute_id: UUID, states: Sequence[dispute_fold.DisputeState]) -> set[Row]:
    """The `disputes` model: a dispute's subject, window and status (one row; a new one when
    its status changes, not when evidence is added)."""
    return {
        (
            str(dispute_id),
            d.subject_account,
            d.subject_office,
            to_us(d.window_from),
            to_us(d.window_to),
            d.claim,
            d.status,
            d.outcome,
            to_us(d.opened_at),
            d.opened_by,
        )
        for d in states
    }


def custody_rows(account_id: UUID, segments: Sequence[fold.Segment]) -> set[Row]:
    """The `custody` model: holder intervals with the handles and offices during them."""
    aid = str(account_id)
    return {
        (
            aid,
            iv.holder.id,
            iv.holder.name,
            to_us(iv.valid_from),
            opt_us(iv.valid_to),
            dump_seq(iv.handles),
            dump_seq(iv.offices),
            dump_seq(iv.established_by),
        )
        for iv in fold.custody_intervals(segments)
    }


def custody_facet(segment: fold.Segment) -> tuple[Any, ...]:
    """What of a segment `custody_rows` reads: its holder run's key, handle, office and the
    fact that set its holder (a run's provenance, and the next run's)."""
    s = segment.state
    return fold.holder_run_key(segment), s.handle, s.office, s.holder_by


def handle_facet(segment: fold.Segment) -> tuple[Any, ...]:
    """What of a segment `handle_rows` reads: its handle run's key, the handle as written, and
    the facts that set its handle and status (a run's provenance, and what ended the one
    before)."""
    s = segment.state
    return fold.handle_run_key(segment), s.handle, s.handle_by, s.status, s.status_by


def handle_rows(account_id: UUID, segments: Sequence[fold.Segment]) -> set[Row]:
    """`handles` model: which handle key the account carried over which valid-time intervals."""
    if not segments:
        return set()
    platform = segments[0].state.platform
    aid = str(account_id)
    return {
        (
            platform,
            iv.key,
            iv.handle,
            aid,
            to_us(iv.valid_from),
            opt_us(iv.valid_to),
            dump_seq(iv.established_by),
        )
        for iv in fold.handle_intervals(segments)
    }


def event_row(account_id: UUID, fact: Fact, position: int, office: str | None = None) -> Row:
    """`events` model: one immutable event record (its retraction is tracked separately);
    `office`: the office's key, for an event of an office stream."""
    return (
        str(account_id),
        fact.version,
        position,
        fact.type,
        to_us(fact.effective_at),
        to_us(fact.recorded_at),
        fact.actor,
        fact.reason,
        dumps(list(fact.evidence)),
        dumps(fact.data),
        office,
        fact.attributed_to,
        None,
        None,
    )


class Timeline:
    """One stream's timeline, extended fact by fact: after each `push` its rows equal those of
    its oracle timeline (`fold.timeline`, `office_fold.timeline`) over the facts pushed so far.

    An account's or an office's is kept by `ledger.history.History`, which folds only the
    stretch of valid time a fact changes (a back-dated event, a retraction), and says in
    `splice` which segments of the timeline before it are kept as they were (the same
    objects), so the models derive rows for the changed stretch only. (Segment states keep the
    `version` they were made at; no derived row reads it.) A dispute has no valid time: its
    "timeline" is its one state, as known now. Each push returns a new list; earlier ones
    stay valid.
    """

    __slots__ = ("_history", "facts", "kind", "offices", "own", "segments", "splice")

    def __init__(self, kind: str = "account") -> None:
        self.kind = kind  # the stream's: "account", "office" or "dispute" (its fold)
        self._history = History(kind) if kind != "dispute" else None
        self.facts: list[Fact] = []
        self.segments: Sequence[Any] = []
        self.splice = Splice(0, 0)  # what the last push kept of the segments before it
        # Every office a fact of the stream names (a superset of those its segments name).
        self.offices: frozenset[str] = frozenset()
        # The office whose own account this has been from its registration on, and nothing
        # else: no transfer, ownership change, official use or closure, and its registration
        # not retracted, so every segment is that office's, owned by it, active. None if not.
        self.own: str | None = None

    @property
    def key(self) -> str | None:
        """An office stream's office key (its registration names it); None for an account."""
        return self.facts[0].data["office"] if self.kind == "office" and self.facts else None

    @property
    def version(self) -> int:
        return len(self.facts)

    def push(self, fact: Fact, lent: History | None = None) -> Sequence[Any]:
        """The timeline with `fact`, the stream's next, added. `lent`: the stream's history up to
        and with `fact` as another holder of the stream folded it (the ledger's aggregate that
        recorded it), taken instead of folding `fact` again: a history is a function of the
        facts pushed, so it is the one this push would make (its states' `version` aside)."""
        if fact.version != len(self.facts) + 1:
            raise ValueError(f"fact version {fact.version} after version {len(self.facts)}")
        self.facts.append(fact)
        if self._history is None:
            self.segments = [dispute_fold.apply(self.segments[0] if self.segments else None, fact)]
            self.splice = Splice(0, 0)
            return self.segments
        if self.kind == "account":
            office = fact.data.get("office")
            if isinstance(office, str) and office not in self.offices:
                self.offices = self.offices | {office}
            self.own = _own(self.own, fact)
        if lent is not None and lent.length == fact.version and lent.kind == self.kind:
            self._history = lent
        else:
            self._history = self._history.push(fact)
        self.segments, self.splice = self._history.segments.view(), self._history.splice
        return self.segments


_NOT_OWN = frozenset(
    (fold.REGISTERED, fold.TRANSFERRED, fold.OWNERSHIP_CHANGED, fold.USE_STARTED,
     fold.USE_ENDED, fold.CLOSED)
)  # fmt: skip


def _own(own: str | None, fact: Fact) -> str | None:
    """`Timeline.own` after `fact`."""
    if fact.version == 1:
        d = fact.data
        office = d.get("office")
        mine = (
            fact.type == fold.REGISTERED
            and d.get("ownership", fold.OFFICE_OWNED) == fold.OFFICE_OWNED
        )
        return office if mine and isinstance(office, str) else None
    if fact.type in _NOT_OWN or (fact.type == fold.RETRACTED and fact.data["event_version"] == 1):
        return None
    return own

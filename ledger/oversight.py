"""What an oversight body asks about an office: who held it, which accounts spoke for it, what
stayed and what left at each handover, and the findings. Pure functions of folded histories,
written once: the oracle feeds them the folds of every stream, the query service the same
spans read from its tables, and the property tests hold the two to each other.

An account's history is its `AccountSpan`s (its timeline, as known at one record time); an
office's is its `OfficeRecord` (its tenures). An office that accounts name but that is not
registered, and any time before an office's registration, has an unknown tenure: a finding
that needs the holder says so instead of guessing.
"""

from __future__ import annotations

import hashlib
import json
from bisect import bisect_left, bisect_right
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, NamedTuple
from uuid import UUID

from ledger import fold, office_fold
from ledger.fold import ACTIVE, OFFICE_OWNED, PERSONAL, Audience, HolderRef
from ledger.office_fold import Tenure

KINDS = (
    "no-office-account",
    "personal-account-in-official-use",
    "audience-departed",
    "account-not-with-office-holder",
    "office-handle-taken",
)
US = timedelta(microseconds=1)
Provenance = tuple[tuple[UUID, int], ...]  # (stream id, version), sorted


@dataclass(frozen=True, slots=True)
class AccountSpan:
    """An account's state over `[valid_from, valid_to)`, the facets oversight reads."""

    account_id: UUID
    valid_from: datetime
    valid_to: datetime | None
    platform: str
    handle: str
    office: str | None
    ownership: str
    owner: HolderRef | None
    holder: HolderRef | None
    status: str
    audience: Audience | None
    established_by: tuple[int, ...]

    def covers(self, at: datetime) -> bool:
        return self.valid_from <= at and (self.valid_to is None or at < self.valid_to)

    def speaks_for(self, office: str) -> bool:
        return self.status == ACTIVE and self.office == office


def account_spans(account_id: UUID, segments: Sequence[fold.Segment]) -> list[AccountSpan]:
    """The oracle's spans: one per segment of the account's timeline."""
    return [
        AccountSpan(
            account_id,
            s.valid_from,
            s.valid_to,
            s.state.platform,
            s.state.handle,
            s.state.office,
            s.state.ownership,
            s.state.owner,
            s.state.holder,
            s.state.status,
            s.state.audience,
            s.state.established_by,
        )
        for s in segments
    ]


@dataclass(frozen=True, slots=True)
class OfficeRecord:
    """An office's history: None for `stream` when the office is not registered."""

    office: str
    stream: UUID | None
    name: str | None
    jurisdiction: str | None
    registered_at: datetime | None
    tenures: tuple[Tenure, ...]

    def holder_at(self, at: datetime) -> tuple[bool, Tenure | None]:
        """(whether the tenure at `at` is known, the tenure then or None if vacant)."""
        if self.registered_at is None or at < self.registered_at:
            return False, None
        for t in self.tenures:
            if t.valid_from <= at and (t.valid_to is None or at < t.valid_to):
                return True, t
        return True, None

    def provenance(self, *versions: int) -> Provenance:
        return tuple((self.stream, v) for v in sorted(set(versions)) if self.stream is not None)


def office_record(
    office: str, stream: UUID | None, segments: Sequence[office_fold.OfficeSegment]
) -> OfficeRecord:
    """An office's record from its timeline (empty: not registered, as known then)."""
    if not segments:
        return OfficeRecord(office, None, None, None, None, ())
    last = segments[-1].state
    return OfficeRecord(
        office, stream, last.name, last.jurisdiction, segments[0].valid_from,
        tuple(office_fold.tenures(segments)),
    )  # fmt: skip


# -- answers ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Observed:
    """An account with the audience observation that goes with an answer (None if none)."""

    account_id: UUID
    platform: str
    handle: str
    ownership: str
    owner: HolderRef | None
    audience: Audience | None


@dataclass(frozen=True, slots=True)
class Speaker:
    """An account that spoke for an office over part of `[valid_from, valid_to)`: from its
    first instant of speaking there to its last, with every handle it spoke under meanwhile
    (in order) and its ownership at the last."""

    account_id: UUID
    platform: str
    handles: tuple[str, ...]
    ownership: str
    owner: HolderRef | None
    valid_from: datetime
    valid_to: datetime


@dataclass(frozen=True, slots=True)
class Side:
    """Accounts on one side of a handover, and their audience: the sum of what was observed,
    and how many had no observation."""

    accounts: tuple[Observed, ...]
    followers: int
    unobserved: int


@dataclass(frozen=True, slots=True)
class Handover:
    at: datetime
    outgoing: HolderRef | None
    incoming: HolderRef | None
    retained: Side
    departed: Side
    established_by: Provenance


@dataclass(frozen=True, slots=True)
class TenureAccounts:
    tenure: Tenure
    accounts: tuple[Observed, ...]
    established_by: Provenance


@dataclass(frozen=True, slots=True)
class Finding:
    kind: str
    office: str
    account_id: UUID | None
    handle: str | None
    holder: HolderRef | None
    valid_from: datetime
    valid_to: datetime | None
    followers: int | None
    detail: str
    established_by: Provenance

    def in_effect(self, at: datetime) -> bool:
        return self.valid_from <= at and (self.valid_to is None or at < self.valid_to)

    def ident(self) -> str:
        """What tells the finding from the office's others of the same kind that start at the
        same time: a digest of the rest of it but `followers` (a figure, not an identity)."""
        parts = (
            str(self.account_id or ""), (self.handle or "").casefold(),
            "" if self.valid_to is None else self.valid_to.isoformat(),
            [[str(s), v] for s, v in self.established_by], self.detail,
        )  # fmt: skip
        text = json.dumps(parts, ensure_ascii=False, separators=(",", ":"))
        return hashlib.blake2b(text.encode(), digest_size=16).hexdigest()

    def sort_key(self) -> tuple[Any, ...]:
        """A total order, the listings' (the read model sorts by the same columns): office,
        start, kind, then `ident`, which no two findings of an office share."""
        return (self.office, self.valid_from, self.kind, self.ident())


@dataclass(frozen=True, slots=True)
class Rules:
    """The settings findings depend on."""

    audience_window: timedelta = timedelta(days=30)
    holder_grace: timedelta = timedelta(days=30)
    handle_watch: timedelta = timedelta(days=365)


Histories = Mapping[UUID, Sequence[AccountSpan]]


def speaking_at(office: str, histories: Histories, at: datetime) -> list[AccountSpan]:
    """The accounts speaking for `office` at `at` (its own and personal ones), by id."""
    out = []
    for spans in histories.values():
        span = _span_at(spans, at)
        if span is not None and span.speaks_for(office):
            out.append(span)
    return sorted(out, key=lambda s: str(s.account_id))


def speakers_in(office: str, histories: Histories, start: datetime, end: datetime) -> list[Speaker]:
    """The accounts that spoke for `office` at some instant of `[start, end)`, by id, each
    over its speaking cut to that stretch."""
    out = []
    for aid in sorted(histories, key=str):
        spoke = [
            s for s in histories[aid]
            if s.speaks_for(office) and s.valid_from < end
            and (s.valid_to is None or start < s.valid_to)
        ]  # fmt: skip
        if spoke:
            first, last = spoke[0], spoke[-1]
            stop = end if last.valid_to is None else min(last.valid_to, end)
            out.append(
                Speaker(
                    aid, last.platform, tuple(dict.fromkeys(s.handle for s in spoke)),
                    last.ownership, last.owner, max(first.valid_from, start), stop,
                )
            )  # fmt: skip
    return out


def observed(span: AccountSpan, audience: Audience | None) -> Observed:
    return Observed(
        span.account_id, span.platform, span.handle, span.ownership, span.owner, audience
    )


def tenures_with_accounts(record: OfficeRecord, histories: Histories) -> list[TenureAccounts]:
    """Each tenure with the accounts that spoke for the office during it (audience: the latest
    observation within the tenure)."""
    out = []
    seen = _Observations(histories)
    for t in record.tenures:
        accounts = []
        for aid in sorted(histories, key=str):
            runs = [s for s in histories[aid] if s.speaks_for(record.office) and _overlaps(s, t)]
            if runs:
                latest = seen.latest_within(aid, t.valid_from, t.valid_to)
                accounts.append(observed(runs[-1], latest))
        out.append(TenureAccounts(t, tuple(accounts), record.provenance(*t.established_by)))
    return out


def handovers(record: OfficeRecord, histories: Histories, rules: Rules) -> list[Handover]:
    """At each change of the office's holder (not its first holder at registration): the
    office's accounts that stay, and the outgoing holder's personal accounts that spoke for
    the office during the tenure and leave with them, each with the audience observation
    nearest the handover within `rules.audience_window`."""
    out = []
    seen = _Observations(histories)
    for at, outgoing, incoming in _changes(record):
        retained, departed = [], []
        for aid in sorted(histories, key=str):
            spans = histories[aid]
            now, before = _span_at(spans, at), _span_at(spans, at - US)
            if (
                now is not None
                and before is not None
                and now.ownership == before.ownership == OFFICE_OWNED
                and now.speaks_for(record.office)
                and before.speaks_for(record.office)
            ):
                retained.append(observed(now, seen.nearest(aid, at, rules.audience_window)))
            elif outgoing is not None and _left_with(spans, record, outgoing, now):
                last = spans[bisect_left(spans, at, key=_start) - 1]  # the last begun before
                departed.append(observed(last, seen.nearest(aid, at, rules.audience_window)))
        versions = [  # the outgoing tenure, begun and ended; the start of the incoming one
            *(outgoing.established_by if outgoing else ()),
            *(incoming.established_by[:1] if incoming else ()),
        ]
        out.append(
            Handover(
                at,
                outgoing.holder if outgoing else None,
                incoming.holder if incoming else None,
                _side(retained),
                _side(departed),
                record.provenance(*versions),
            )
        )
    return out


def findings(
    record: OfficeRecord,
    histories: Histories,
    rules: Rules,
    *,
    free_handles: Histories | None = None,
) -> list[Finding]:
    """Every finding about the office, in order. `histories`: at least every account that
    ever spoke for the office; `free_handles`: at least every account that ever carried a
    handle the office's own accounts carried (more accounts change nothing)."""
    speaking = [_parts(record, aid, spans, rules) for aid, spans in histories.items()]
    theirs = (free_handles or {}).items()
    carrying = speaking + [_parts(record, a, s, rules) for a, s in theirs if a not in histories]
    out = [
        *_no_office_account(record, speaking),
        *(f for p in speaking for f in p.personal_use),
        *_departed(record, histories, rules),
        *(f for p in speaking for f in p.not_with_holder),
        *_handles_taken(record, _freed(carrying), carrying, rules),
    ]
    return sorted(out, key=Finding.sort_key)


class Evaluation:
    """`findings` of one office at record time after record time, each from what changed.

    The caller (`projections.findings`) passes the record, and each account's spans, as the
    very objects it passed the time before when they did not change (an append changes one
    account), or as equal ones. So an account's contribution (`_Parts`) is derived again only
    when its spans or the record are new values; what combines the contributions (the office's
    own accounts' cover for `no-office-account`, the handles its accounts freed for
    `office-handle-taken`) is combined again only when a changed contribution changes it; and a
    sort key is derived once per finding. `findings` is the specification: the answers are the
    same, given two things the projection's inputs always are: a list once passed is not
    changed in place, and times are in UTC (equal times in other zones print other dates).
    """

    def __init__(self, rules: Rules) -> None:
        self.rules = rules
        self._start(None)

    def _start(self, record: OfficeRecord | None) -> None:
        self._record = record
        self._parts: dict[UUID, tuple[Sequence[AccountSpan], _Parts]] = {}
        self._speaking: tuple[UUID, ...] | None = None  # None: nothing combined yet
        self._carrying: tuple[UUID, ...] | None = None
        self._no_office: list[Finding] = []
        self._freed: _Freed = {}
        self._takings: dict[UUID, tuple[_Parts, list[Finding]]] = {}
        self._keys: dict[int, tuple[Finding, tuple[Any, ...]]] = {}

    def findings(
        self, record: OfficeRecord, histories: Histories, free_handles: Histories | None = None
    ) -> list[Finding]:
        """`findings(record, histories, self.rules, free_handles=free_handles)`."""
        rules = self.rules
        if record is not self._record and record != self._record:
            self._start(record)  # every part rests on the record
        theirs = [(a, s) for a, s in (free_handles or {}).items() if a not in histories]
        changed: list[tuple[_Parts | None, _Parts]] = []  # (before, now) of each account
        for aid, spans in (*histories.items(), *theirs):
            kept = self._parts.get(aid)
            # Equal spans (read again by a later batch) make the same part.
            if kept is None or (kept[0] is not spans and kept[0] != spans):
                now = _parts(record, aid, spans, rules)
                changed.append((kept[1] if kept else None, now))
                self._parts[aid] = (spans, now)
        speaking = tuple(histories)
        carrying = speaking + tuple(a for a, _ in theirs)
        parts = self._parts
        if speaking != self._speaking or any(
            was is None or was.owned != now.owned for was, now in changed
        ):
            self._no_office = _no_office_account(record, [parts[a][1] for a in speaking])
        if carrying != self._carrying or any(
            was is None or was.freed != now.freed for was, now in changed
        ):
            self._freed = _freed([parts[a][1] for a in carrying])
            self._takings = {}
        self._speaking, self._carrying = speaking, carrying
        out = [*self._no_office, *_departed(record, histories, rules)]
        for aid in speaking:
            p = parts[aid][1]
            out += p.personal_use
            out += p.not_with_holder
        if self._freed:
            for aid in carrying:
                p = parts[aid][1]
                taken = self._takings.get(aid)
                if taken is None or taken[0] is not p:
                    taken = self._takings[aid] = p, _handles_taken(record, self._freed, [p], rules)
                out += taken[1]
        # Each key is held with its finding (so no other object has its id meanwhile), for the
        # findings of this time: those of the next that did not change are among them.
        keys = self._keys
        self._keys = {id(f): keys.get(id(f)) or (f, f.sort_key()) for f in out}
        return sorted(out, key=lambda f: self._keys[id(f)][1])


def not_with_holder(record: OfficeRecord, histories: Histories, rules: Rules) -> list[Finding]:
    """The `account-not-with-office-holder` findings of `findings`, alone: each rests on one
    holder run of an account (its spans, and the office's tenures), so runs evaluate apart."""
    return [
        f for aid, spans in histories.items() for f in _not_with_holder(record, aid, spans, rules)
    ]


# -- the findings ----------------------------------------------------------------------------


class _Parts(NamedTuple):
    """What one account contributes to the office's findings, from its spans alone."""

    owned: list[tuple[datetime, datetime | None]]  # when an own account spoke for the office
    personal_use: list[Finding]
    not_with_holder: list[Finding]
    freed: list[tuple[tuple[str, str], datetime, Provenance]]  # see `_freed_by`
    carried: list[list[AccountSpan]]  # see `_carried_apart`


def _parts(record: OfficeRecord, aid: UUID, spans: Sequence[AccountSpan], rules: Rules) -> _Parts:
    return _Parts(
        [(s.valid_from, s.valid_to) for s in spans if _owned_by(record.office, s)],
        _personal_use(record, aid, spans),
        _not_with_holder(record, aid, spans, rules),
        _freed_by(record, aid, spans),
        _carried_apart(record, spans),
    )


def _no_office_account(record: OfficeRecord, accounts: Sequence[_Parts]) -> list[Finding]:
    own = _merge(iv for p in accounts for iv in p.owned)
    out = []
    for t in record.tenures:
        for start, end in _subtract((t.valid_from, t.valid_to), own):
            out.append(
                Finding(
                    "no-office-account",
                    record.office,
                    None,
                    None,
                    t.holder,
                    start,
                    end,
                    None,
                    f"{t.holder.name} holds the office and no account owned by the office "
                    "speaks for it",
                    record.provenance(*t.established_by),
                )
            )
    return out


def _personal_use(record: OfficeRecord, aid: UUID, spans: Sequence[AccountSpan]) -> list[Finding]:
    out = []
    seen = _Observations({aid: spans})
    runs = _runs(
        spans,
        lambda s: (
            (s.owner, s.handle) if s.ownership == PERSONAL and s.speaks_for(record.office) else None
        ),
    )
    for run in runs:
        first = run[0]
        assert first.owner is not None
        start, end = first.valid_from, run[-1].valid_to
        ended = _ended_by(aid, spans, run[-1])
        for piece_from, piece_to, known, tenure in _by_tenure(record, start, end):
            detail = _whose(first.owner, known, tenure)
            cited = _provenance(aid, first, record, tenure)
            out.append(
                Finding(
                    "personal-account-in-official-use",
                    record.office,
                    aid,
                    first.handle,
                    first.owner,
                    piece_from,
                    piece_to,
                    seen.followers_within(aid, piece_from, piece_to),
                    f"@{first.handle}, {first.owner.name}'s own account, speaks for the "
                    f"office; {detail}",
                    _merge_provenance(cited, ended) if piece_to == end else cited,
                )
            )
    return out


def _departed(record: OfficeRecord, histories: Histories, rules: Rules) -> list[Finding]:
    out = []
    for h in handovers(record, histories, rules):
        assert h.outgoing is not None or not h.departed.accounts
        for acc in h.departed.accounts:
            audience = acc.audience
            seen = (
                f"{audience.followers:,} followers observed {audience.observed_at.date()}"
                if audience
                else f"no audience observation within {rules.audience_window.days} days"
            )
            to = f"to {h.incoming.name}" if h.incoming else "as the office fell vacant"
            out.append(
                Finding(
                    "audience-departed",
                    record.office,
                    acc.account_id,
                    acc.handle,
                    h.outgoing,
                    h.at,
                    None,
                    audience.followers if audience else None,
                    f"@{acc.handle} left with {h.outgoing.name if h.outgoing else ''} at the "
                    f"handover {to}; {seen}",
                    _merge_provenance(
                        h.established_by,
                        ((acc.account_id, audience.version),) if audience else (),
                    ),
                )
            )
    return out


def _not_with_holder(
    record: OfficeRecord, aid: UUID, spans: Sequence[AccountSpan], rules: Rules
) -> list[Finding]:
    out = []
    runs = _runs(
        spans,
        lambda s: s.holder if s.ownership == OFFICE_OWNED and s.speaks_for(record.office) else None,
    )
    for run in runs:
        held_by = run[0].holder
        assert held_by is not None
        for start, end, known, tenure in _by_tenure(record, run[0].valid_from, run[-1].valid_to):
            if not known or (tenure is not None and tenure.holder.id == held_by.id):
                continue
            if end is not None and end - start <= rules.holder_grace:
                continue
            office_holder = f"the office's holder is {tenure.holder.name}" if tenure else (
                "the office is vacant"
            )  # fmt: skip
            out.append(
                Finding(
                    "account-not-with-office-holder",
                    record.office,
                    aid,
                    run[0].handle,
                    held_by,
                    start + rules.holder_grace,
                    end,
                    None,
                    f"@{run[0].handle}, the office's account, is held by {held_by.name} "
                    f"since {start.date()} while {office_holder} (grace "
                    f"{rules.holder_grace.days} days)",
                    _provenance(aid, run[0], record, tenure),
                )
            )
    return out


_Freed = dict[tuple[str, str], list[tuple[datetime, Provenance]]]
"""(platform, handle key) -> when the office's own accounts freed it, and what freed it, in
order."""


def _freed(accounts: Sequence[_Parts]) -> _Freed:
    freed: _Freed = {}
    for handle, end, why in (f for p in accounts for f in p.freed):
        freed.setdefault(handle, []).append((end, why))
    for freeings in freed.values():
        freeings.sort(key=lambda t: t[0])
    return freed


def _handles_taken(
    record: OfficeRecord, freed: _Freed, accounts: Sequence[_Parts], rules: Rules
) -> list[Finding]:
    """A handle the office's own account carried, carried within `rules.handle_watch` after it
    was freed by an account the office does not own then."""
    out: list[Finding] = []
    if not freed:
        return out
    for run in (r for p in accounts for r in p.carried):
        found = freed.get((run[0].platform, run[0].handle.casefold()))
        if found is None:
            continue
        start = run[0].valid_from
        # Measured from the latest freeing before the taking: one finding per taking.
        latest = [t for t in found if t[0] <= start]
        if not latest or start >= latest[-1][0] + rules.handle_watch:
            continue
        when, why = latest[-1]
        out.append(_taking(record, run, when, why))
    return out


def _taking(
    record: OfficeRecord, run: list[AccountSpan], when: datetime, why: Provenance
) -> Finding:
    """The `office-handle-taken` finding of a run of spans carrying a handle the office's own
    account freed at `when` (the facts `why`)."""
    aid, start = run[0].account_id, run[0].valid_from
    return Finding(
        "office-handle-taken",
        record.office,
        aid,
        run[0].handle,
        run[0].owner or run[0].holder,
        start,
        run[-1].valid_to,
        None,
        f"@{run[0].handle} was the office's until {when.date()}; "
        f"{_whose_account(run[0])} carries it {(start - when).days} days later",
        _merge_provenance(tuple((aid, v) for v in run[0].established_by), why),
    )


def _owned_by(office: str, s: AccountSpan) -> bool:
    return s.ownership == OFFICE_OWNED and s.speaks_for(office)


def _freed_by(
    record: OfficeRecord, aid: UUID, spans: Sequence[AccountSpan]
) -> list[tuple[tuple[str, str], datetime, Provenance]]:
    """The handles the account freed while the office owned it: (platform, handle key), when,
    and the facts that freed it."""
    out = []
    office = record.office
    for run in _runs(spans, lambda s: s.handle.casefold() if _owned_by(office, s) else None):
        end = run[-1].valid_to
        why = _ended_by(aid, spans, run[-1])
        if end is not None and why:
            out.append(((run[0].platform, run[0].handle.casefold()), end, why))
    return out


def _carried_apart(record: OfficeRecord, spans: Sequence[AccountSpan]) -> list[list[AccountSpan]]:
    """The runs of each handle the account carries while the office does not own it, in one
    pass: those of a handle the office freed are takings."""
    office = record.office
    return _runs(spans, lambda s: _taken(s, office))


# -- helpers -------------------------------------------------------------------------------


def _ended_by(aid: UUID, spans: Sequence[AccountSpan], last: AccountSpan) -> Provenance:
    """The facts that changed the account when `last` ended (a rename, a closure, a transfer,
    an official use ended...): those the next span rests on and `last` did not."""
    if last.valid_to is None:
        return ()
    n = bisect_left(spans, last.valid_to, key=_start)
    after = spans[n] if n < len(spans) and spans[n].valid_from == last.valid_to else None
    if after is None:
        return ()
    return tuple((aid, v) for v in sorted(set(after.established_by) - set(last.established_by)))


def _taken(s: AccountSpan, office: str) -> tuple[str, str] | None:
    """(platform, handle), if the span carries a handle and the office does not own it then:
    a run of these, of a handle the office freed, is a taking of it."""
    return (s.platform, s.handle) if s.status == ACTIVE and not _owned_by(office, s) else None


def _start(span: AccountSpan) -> datetime:
    return span.valid_from


def _span_at(spans: Sequence[AccountSpan], at: datetime) -> AccountSpan | None:
    """The span covering `at` (an account's spans are in valid-time order, apart)."""
    n = bisect_right(spans, at, key=_start)
    return spans[n - 1] if n and spans[n - 1].covers(at) else None


def _overlaps(s: AccountSpan, t: Tenure) -> bool:
    return (t.valid_to is None or s.valid_from < t.valid_to) and (
        s.valid_to is None or t.valid_from < s.valid_to
    )


def _runs(spans: Sequence[AccountSpan], key: Any) -> list[list[AccountSpan]]:
    """Runs of adjacent spans sharing a non-None `key(span)` (the fold's grouping)."""
    return [list(spans[i:j]) for i, j in fold.runs(spans, key)]


def _merge(
    intervals: Iterable[tuple[datetime, datetime | None]],
) -> list[tuple[datetime, datetime | None]]:
    out: list[tuple[datetime, datetime | None]] = []
    for start, end in sorted(intervals, key=lambda iv: iv[0]):
        if out and (out[-1][1] is None or start <= out[-1][1]):
            last_end = out[-1][1]
            out[-1] = (out[-1][0], None if last_end is None or end is None else max(last_end, end))
        else:
            out.append((start, end))
    return out


def _subtract(
    span: tuple[datetime, datetime | None], cover: Sequence[tuple[datetime, datetime | None]]
) -> list[tuple[datetime, datetime | None]]:
    """The parts of `span` that no interval of `cover` (merged, in order) covers."""
    start, end = span
    out: list[tuple[datetime, datetime | None]] = []
    for c_from, c_to in cover:
        if end is not None and c_from >= end:
            break
        if c_to is not None and c_to <= start:
            continue
        if c_from > start:
            out.append((start, c_from))
        if c_to is None:
            return out
        start = max(start, c_to)
    if end is None or start < end:
        out.append((start, end))
    return out


def _by_tenure(
    record: OfficeRecord, start: datetime, end: datetime | None
) -> list[tuple[datetime, datetime | None, bool, Tenure | None]]:
    """`[start, end)` cut where the office's holder changes: (from, to, tenure known, tenure)."""
    cuts = {start}
    if record.registered_at is not None:
        cuts.add(record.registered_at)
    for t in record.tenures:
        cuts.add(t.valid_from)
        if t.valid_to is not None:
            cuts.add(t.valid_to)
    points = sorted(c for c in cuts if c >= start and (end is None or c < end))
    out: list[tuple[datetime, datetime | None, bool, Tenure | None]] = []
    for n, p in enumerate(points):
        q = points[n + 1] if n + 1 < len(points) else end
        known, tenure = record.holder_at(p)
        if out and out[-1][2:] == (known, tenure):
            out[-1] = (out[-1][0], q, known, tenure)
        else:
            out.append((p, q, known, tenure))
    return out


def _whose(owner: HolderRef, known: bool, tenure: Tenure | None) -> str:
    if not known:
        return "the office's tenure is unknown then (not registered, or before its registration)"
    if tenure is None:
        return "the office is vacant then"
    if tenure.holder.id == owner.id:
        return "the owner holds the office then"
    return f"the owner does not hold the office then ({tenure.holder.name} does)"


def _whose_account(s: AccountSpan) -> str:
    if s.ownership == PERSONAL and s.owner is not None:
        return f"{s.owner.name}'s own account"
    return f"an account of {s.office}" if s.office else "another account"


def _provenance(
    aid: UUID, span: AccountSpan, record: OfficeRecord, tenure: Tenure | None
) -> Provenance:
    mine = tuple((aid, v) for v in span.established_by)
    return _merge_provenance(mine, record.provenance(*tenure.established_by) if tenure else ())


def _merge_provenance(*parts: Provenance) -> Provenance:
    return tuple(sorted({p for part in parts for p in part}, key=lambda p: (str(p[0]), p[1])))


def _changes(record: OfficeRecord) -> list[tuple[datetime, Tenure | None, Tenure | None]]:
    """(instant, outgoing tenure, incoming tenure) wherever the holder changes after the
    office's registration (its first holder at registration is no handover)."""
    out: list[tuple[datetime, Tenure | None, Tenure | None]] = []
    tenures = list(record.tenures)
    for n, t in enumerate(tenures):
        before = tenures[n - 1] if n else None
        contiguous = before is not None and before.valid_to == t.valid_from
        if t.valid_from != record.registered_at and not contiguous:
            out.append((t.valid_from, None, t))  # a vacancy filled
        if t.valid_to is not None:
            after = tenures[n + 1] if n + 1 < len(tenures) else None
            nxt = after if after is not None and after.valid_from == t.valid_to else None
            out.append((t.valid_to, t, nxt))
    return sorted(out, key=lambda c: c[0])


def _left_with(
    spans: Sequence[AccountSpan],
    record: OfficeRecord,
    outgoing: Tenure,
    now: AccountSpan | None,
) -> bool:
    """Whether the account is a personal one of the outgoing holder that spoke for the office
    during the tenure, and is not the office's own at the handover."""
    if now is not None and now.ownership == OFFICE_OWNED and now.speaks_for(record.office):
        return False
    return any(
        s.ownership == PERSONAL
        and s.owner is not None
        and s.owner.id == outgoing.holder.id
        and s.speaks_for(record.office)
        and _overlaps(s, outgoing)
        for s in spans
    )


class _Observations:
    """The audience observations of each account of `histories`, in order (gathered from its
    spans when first asked), and what the answers ask of them."""

    def __init__(self, histories: Histories) -> None:
        self.histories = histories
        self._of: dict[UUID, tuple[list[Audience], list[datetime]]] = {}

    def _sorted(self, aid: UUID) -> tuple[list[Audience], list[datetime]]:
        found = self._of.get(aid)
        if found is None:
            spans = self.histories[aid]
            seen = sorted(
                {s.audience for s in spans if s.audience is not None},
                key=lambda a: (a.observed_at, a.version),
            )
            found = self._of[aid] = (seen, [a.observed_at for a in seen])
        return found

    def nearest(self, aid: UUID, at: datetime, window: timedelta) -> Audience | None:
        """The observation nearest `at` within `window` either side (the earlier on a tie)."""
        seen, times = self._sorted(aid)
        near = seen[bisect_left(times, at - window) : bisect_right(times, at + window)]
        return min(
            near, key=lambda a: (abs(a.observed_at - at), a.observed_at, a.version), default=None
        )

    def latest_within(self, aid: UUID, start: datetime, end: datetime | None) -> Audience | None:
        """The latest observation in `[start, end)`."""
        seen, times = self._sorted(aid)
        n = len(times) if end is None else bisect_left(times, end)
        return seen[n - 1] if n and times[n - 1] >= start else None

    def followers_within(self, aid: UUID, start: datetime, end: datetime | None) -> int | None:
        latest = self.latest_within(aid, start, end)
        return latest.followers if latest else None


def _side(accounts: list[Observed]) -> Side:
    followers = sum(a.audience.followers for a in accounts if a.audience is not None)
    unobserved = sum(1 for a in accounts if a.audience is None)
    return Side(tuple(accounts), followers, unobserved)


def from_facts(
    streams: Mapping[UUID, Sequence[fold.Fact]], known_at: datetime | None = None
) -> tuple[dict[str, OfficeRecord], dict[UUID, list[AccountSpan]]]:
    """The oracle's inputs: every office's record (registered or only named by accounts) and
    every account's spans, as known at `known_at`, from the facts of every stream."""
    offices: dict[str, OfficeRecord] = {}
    histories: dict[UUID, list[AccountSpan]] = {}
    for stream, facts in streams.items():
        if facts and facts[0].kind == "office":
            key = facts[0].data["office"]
            offices[key] = office_record(key, stream, office_fold.timeline(facts, known_at))
        elif facts:
            spans = account_spans(stream, fold.timeline(facts, known_at))
            if spans:
                histories[stream] = spans
    for spans in histories.values():
        for s in spans:
            if s.office is not None and s.office not in offices:
                offices[s.office] = office_record(s.office, None, ())
    return offices, histories

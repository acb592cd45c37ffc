"""Every office answer equals the oracle's, for random histories of offices and the accounts
that speak for them, on both stores.

The oracle is `ledger.oversight` fed with the folds of every stream of the example
(`oversight.from_facts`); the query service feeds the same functions from its tables. Answers
are compared as plain values: people as (id, name), provenance as (stream, version) pairs with
an office's stream named by its key. One store per test; each example has office keys,
jurisdictions, platforms and record times of its own (`tests.office_strategies.Scope`), and
the listings across offices are read from the example's first office on (`Scope.start`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

from hypothesis import given, note
from hypothesis import strategies as st

from api.bootstrap import Container
from ledger import fold, office_fold, oversight
from ledger.domain import office_id
from ledger.errors import OfficeNotFound
from ledger.fold import Fact, HolderRef
from ledger.oversight import AccountSpan, Finding, Observed, OfficeRecord, Rules
from projections.findings import FINDINGS
from projections.queries.views import FindingView, ObservedView, OfficeView, SideView
from projections.rebuild import Rebuilder, digest
from tests.office_strategies import (
    Op,
    Ran,
    Scope,
    new_scope,
    office_histories,
    own_account_histories,
    run_history,
)
from tests.support import HeldClock, examples

US = timedelta(microseconds=1)
Plain = tuple[Any, ...]
NOT_FOUND = "office-not-found"


# -- plain values ------------------------------------------------------------------------------


def _ref(h: HolderRef | None) -> Plain | None:
    return (h.id, h.name) if h is not None else None


def _observed(o: Observed) -> Plain:
    a = o.audience
    audience = (a.followers, a.observed_at, (a.version,)) if a is not None else None
    return (o.account_id, o.platform, o.handle, o.ownership, _ref(o.owner), audience)


def _observed_view(o: ObservedView) -> Plain:
    a = o.audience
    audience = (
        (a.followers, a.observed_at, tuple(p.version for p in a.established_by))
        if a is not None
        else None
    )
    return (o.account_id, o.platform, o.handle, o.ownership, _ref(o.owner), audience)


def _side(s: oversight.Side) -> Plain:
    return (tuple(_observed(a) for a in s.accounts), s.followers, s.unobserved)


def _side_view(s: SideView) -> Plain:
    return (tuple(_observed_view(a) for a in s.accounts), s.followers, s.unobserved)


def _finding_view(f: FindingView) -> Plain:
    cited = tuple((c.office or c.account_id, c.version) for c in f.established_by)
    return (f.kind, f.office, f.account_id, f.handle, _ref(f.holder), f.valid_from, f.valid_to,
            f.followers, f.detail, cited)  # fmt: skip


def _office_view(v: OfficeView) -> Plain:
    holder = (v.holder.id, v.holder.name, v.holder.since) if v.holder else None
    return (
        v.office, v.registered, v.name, v.jurisdiction, v.tenure_known, holder,
        tuple(_observed_view(a) for a in v.accounts), tuple(_finding_view(f) for f in v.findings),
        tuple(p.version for p in v.established_by),
    )  # fmt: skip


# -- the oracle ----------------------------------------------------------------------------------


@dataclass
class Oracle:
    """The oracle's answers about one example's offices, as known at `known_at`."""

    streams: Mapping[UUID, Sequence[Fact]]
    known_at: datetime | None
    rules: Rules
    offices: dict[str, OfficeRecord] = field(init=False)
    histories: dict[UUID, list[AccountSpan]] = field(init=False)
    names: dict[UUID, str] = field(init=False)

    def __post_init__(self) -> None:
        self.offices, self.histories = oversight.from_facts(self.streams, self.known_at)
        self.names = {
            sid: facts[0].data["office"]
            for sid, facts in self.streams.items()
            if facts and facts[0].kind == "office"
        }

    def record(self, key: str) -> OfficeRecord | None:
        """The office's record; None where the query service answers OfficeNotFound: nobody
        ever registered it and no account names it as known then."""
        if key in self.offices:
            return self.offices[key]
        return oversight.office_record(key, None, ()) if office_id(key) in self.names else None

    def finding(self, f: Finding) -> Plain:
        cited = tuple((self.names.get(s, s), v) for s, v in f.established_by)
        return (f.kind, f.office, f.account_id, f.handle, _ref(f.holder), f.valid_from,
                f.valid_to, f.followers, f.detail, cited)  # fmt: skip

    def findings(self, record: OfficeRecord) -> list[Finding]:
        return oversight.findings(record, self.histories, self.rules)

    def office_at(self, key: str, at: datetime) -> Plain | str:
        record = self.record(key)
        if record is None:
            return NOT_FOUND
        known, tenure = record.holder_at(at)
        holder = (tenure.holder.id, tenure.holder.name, tenure.valid_from) if tenure else None
        speaking = oversight.speaking_at(key, self.histories, at)
        found = [f for f in self.findings(record) if f.in_effect(at)]
        state = (
            office_fold.fold(self.streams[record.stream], at, self.known_at)
            if record.stream is not None
            else None
        )
        return (
            key, record.stream is not None, record.name, record.jurisdiction, known, holder,
            tuple(_observed(oversight.observed(s, s.audience)) for s in speaking),
            tuple(self.finding(f) for f in found), state.established_by if state else (),
        )  # fmt: skip

    def tenures(self, key: str) -> list[Plain] | str:
        record = self.record(key)
        if record is None:
            return NOT_FOUND
        return [
            (_ref(t.tenure.holder), t.tenure.valid_from, t.tenure.valid_to,
             tuple(_observed(a) for a in t.accounts), tuple(v for _, v in t.established_by))
            for t in oversight.tenures_with_accounts(record, self.histories)
        ]  # fmt: skip

    def handovers(self, key: str) -> list[Plain] | str:
        record = self.record(key)
        if record is None:
            return NOT_FOUND
        return [
            (h.at, _ref(h.outgoing), _ref(h.incoming), _side(h.retained), _side(h.departed),
             tuple(v for _, v in h.established_by))
            for h in oversight.handovers(record, self.histories, self.rules)
        ]  # fmt: skip

    def summaries(self, jurisdiction: str | None, at: datetime) -> list[Plain]:
        out = []
        for key in sorted(self.offices):
            record = self.offices[key]
            if record.stream is None or (
                jurisdiction is not None and not _in(jurisdiction, record.jurisdiction)
            ):
                continue
            state = office_fold.fold(self.streams[record.stream], at, self.known_at)
            if state is not None:
                holder = state.holder
                out.append((key, state.name, state.jurisdiction,
                            (holder.id, holder.name, state.holder_since) if holder else None))  # fmt: skip
        return out

    def listing(
        self,
        *,
        jurisdiction: str | None = None,
        office: str | None = None,
        kind: str | None = None,
        at: datetime | None = None,
    ) -> list[Plain]:
        """The findings the listing gives, office by office in key order."""
        out = []
        for key in sorted(self.offices):
            record = self.offices[key]
            if office is not None and key != office:
                continue
            if jurisdiction is not None and not _in(jurisdiction, record.jurisdiction):
                continue
            out += [
                self.finding(f)
                for f in self.findings(record)
                if (kind is None or f.kind == kind) and (at is None or f.in_effect(at))
            ]
        return out


def _in(jurisdiction: str, of_office: str | None) -> bool:
    """Whether an office of `of_office` is one of `jurisdiction`'s (a country's takes in its
    subdivisions: PK has PK and PK-PB)."""
    if of_office is None:
        return False
    return of_office == jurisdiction or ("-" not in jurisdiction and of_office.startswith(
        jurisdiction + "-"))  # fmt: skip


# -- the read side ------------------------------------------------------------------------------


def _answer(call: Any) -> Any:
    try:
        return call()
    except OfficeNotFound:
        return NOT_FOUND


def _listing(
    c: Container, scope: Scope, *, start: str | None = None, **filters: Any
) -> list[Plain]:
    """Every page of the findings listing, two at a time, from `start` (a cursor; None: the
    beginning), of this example's offices. Resumed at `scope.start` it lists no others (those
    of earlier examples sort before it); by jurisdiction, others only once a country's code
    comes round again (every 676 examples), and those are left out."""
    out: list[Plain] = []
    after = start
    while True:
        page = c.queries.offices.findings(after=after, limit=2, **filters)
        if start is not None:
            assert all(scope.mine(f.office) for f in page.findings), page
        out += [_finding_view(f) for f in page.findings if scope.mine(f.office)]
        if page.next_after is None:
            return out
        after = page.next_after


# -- which times ---------------------------------------------------------------------------------


def _spread(items: Sequence[Any], n: int) -> list[Any]:
    """At most n of `items`, evenly spread, the first and last among them."""
    if len(items) <= n:
        return list(items)
    return [items[round(i * (len(items) - 1) / (n - 1))] for i in range(n)]


def _known_times(streams: Mapping[UUID, Sequence[Fact]]) -> list[datetime | None]:
    """Now; just before some corrections (retractions, back-dated facts) or an office's
    registration were recorded; and one instant halfway through the history's recording."""
    corrections = set()
    for facts in streams.values():
        latest = None
        for f in facts:
            if f.type == fold.RETRACTED or (latest is not None and f.effective_at < latest):
                corrections.add(f.recorded_at - US)
            latest = f.effective_at if latest is None else max(latest, f.effective_at)
        if facts and facts[0].kind == "office":  # and before an office was registered
            corrections.add(facts[0].recorded_at - US)
    recorded = sorted({f.recorded_at for facts in streams.values() for f in facts})
    return [None, *_spread(sorted(corrections), 2), recorded[len(recorded) // 2]]


def _valid_times(o: Oracle, key: str) -> list[datetime]:
    """Instants where the answer about `key` changes, and just before: where its findings
    start and end, its holders change, and a spread of the history's effective times."""
    times: set[datetime] = set()
    for facts in o.streams.values():
        times |= {f.effective_at for f in facts}
    picked = set(_spread(sorted(times), 2))
    record = o.offices.get(key)
    if record is not None:
        edges = {f.valid_from for f in o.findings(record)}
        edges |= {f.valid_to for f in o.findings(record) if f.valid_to is not None}
        edges |= {t.valid_from for t in record.tenures}
        for edge in _spread(sorted(edges), 2):
            picked |= {edge, edge - US}
    return sorted(picked)


# -- the checks -----------------------------------------------------------------------------------


def _check_offices(c: Container, o: Oracle, scope: Scope) -> None:
    q = c.queries.offices
    for key in scope.keys:
        for at in _valid_times(o, key):
            view = _answer(lambda k=key, a=at: q.office_at(k, a, o.known_at))
            got = view if view == NOT_FOUND else _office_view(view)
            assert got == o.office_at(key, at), (key, at, o.known_at)
            if view != NOT_FOUND:
                assert (view.at, view.known_at) == (at, o.known_at)
        tenures = _answer(lambda k=key: q.tenures(k, o.known_at))
        got_tenures = tenures if tenures == NOT_FOUND else [
            (_ref(t.holder), t.valid_from, t.valid_to,
             tuple(_observed_view(a) for a in t.accounts),
             tuple(p.version for p in t.established_by))
            for t in tenures.tenures
        ]  # fmt: skip
        assert got_tenures == o.tenures(key), (key, o.known_at)
        handovers = _answer(lambda k=key: q.handovers(k, o.known_at))
        got_handovers = handovers if handovers == NOT_FOUND else [
            (h.at, _ref(h.outgoing), _ref(h.incoming), _side_view(h.retained),
             _side_view(h.departed), tuple(p.version for p in h.established_by))
            for h in handovers.handovers
        ]  # fmt: skip
        assert got_handovers == o.handovers(key), (key, o.known_at)


def _check_summaries(c: Container, o: Oracle, scope: Scope, turn: int) -> None:
    """The registered offices (of a jurisdiction) at an instant, with their holders then."""
    times = sorted({f.effective_at for fs in o.streams.values() for f in fs})
    for at in (times[turn * len(times) // 4 % len(times)],):
        for jurisdiction in (None, *scope.jurisdictions):
            got = [
                (s.office, s.name, s.jurisdiction,
                 (s.holder.id, s.holder.name, s.holder.since) if s.holder else None)
                for s in c.queries.offices.offices(jurisdiction, at, o.known_at)
                if scope.mine(s.office)
            ]  # fmt: skip
            assert got == o.summaries(jurisdiction, at), (jurisdiction, at, o.known_at)


def _check_listings(c: Container, o: Oracle, scope: Scope, turn: int) -> None:
    known_at, start = o.known_at, scope.start
    assert _listing(c, scope, start=start, known_at=known_at) == o.listing(), known_at
    kind = oversight.KINDS[turn % len(oversight.KINDS)]
    got = _listing(c, scope, start=start, kind=kind, known_at=known_at)
    assert got == o.listing(kind=kind), (kind, known_at)
    for n, key in enumerate(scope.keys):
        got = _listing(c, scope, office=key, known_at=known_at)
        assert got == o.listing(office=key), (key, known_at)
        times = _valid_times(o, key)
        at = times[(turn + 1) * len(times) // 3 % len(times)]
        got = _listing(c, scope, office=key, at=at, known_at=known_at)
        assert got == o.listing(office=key, at=at), (key, at, known_at)
        if n == turn % len(scope.keys):  # and across offices, at one of those instants
            got = _listing(c, scope, start=start, at=at, known_at=known_at)
            assert got == o.listing(at=at), (at, known_at)
    for jurisdiction in scope.jurisdictions:
        got = _listing(c, scope, jurisdiction=jurisdiction, known_at=known_at)
        assert got == o.listing(jurisdiction=jurisdiction), (jurisdiction, known_at)


def _check_accounts(c: Container, o: Oracle, accounts: Sequence[UUID]) -> None:
    times = _spread(sorted({f.effective_at for fs in o.streams.values() for f in fs}), 3)
    for aid in accounts:
        facts = o.streams[aid]
        for at in times:
            want = fold.fold(facts, at, o.known_at)
            view = c.queries.account_at(aid, at, o.known_at)
            if want is None:
                assert view is None, (aid, at, o.known_at)
                continue
            assert view is not None, (aid, at, o.known_at)
            audience = view.audience
            assert (
                view.ownership, _ref(view.owner), view.office,
                (audience.followers, audience.observed_at,
                 tuple(p.version for p in audience.established_by)) if audience else None,
            ) == (
                want.ownership, _ref(want.owner), want.office,
                (want.audience.followers, want.audience.observed_at, (want.audience.version,))
                if want.audience else None,
            ), (aid, at, o.known_at)  # fmt: skip


def _check(c: Container, scope: Scope, ran: Ran) -> None:
    """Every answer about the example's offices and accounts, as known at a few times."""
    note(f"{scope}: {len(ran.accounts)} accounts, offices {sorted(ran.offices)}")
    streams = {sid: c.ledger.stream_facts(sid) for sid in ran.streams}
    rules = c.queries.offices.rules
    for turn, known_at in enumerate(_known_times(streams)):
        o = Oracle(streams, known_at, rules)
        _check_offices(c, o, scope)
        _check_summaries(c, o, scope, turn)
        _check_listings(c, o, scope, turn)
        _check_accounts(c, o, ran.accounts)


@examples(40)
@given(ops=office_histories())
def test_office_answers_agree_with_the_oracle(container: Container, ops: list[Op]) -> None:
    """Each write at a record time of its own: answers as known now and before corrections."""
    scope = new_scope()
    _check(container, scope, run_history(container.ledger, ops, scope))


@examples(10)
@given(ops=office_histories(), ticks=st.lists(st.sampled_from([0, 0, 1]), max_size=40))
def test_office_facts_recorded_at_one_time_become_known_together(
    held: Container, ops: list[Op], ticks: list[int]
) -> None:
    """Writes to offices and accounts that share a record time are one step of knowledge:
    the answers as known at any time are still the oracle's."""
    clock = held.ledger.clock
    assert isinstance(clock, HeldClock)
    moves = iter(ticks)
    scope = new_scope()
    clock.advance(milliseconds=1)  # not at the previous example's last record time
    ran = run_history(
        held.ledger, ops, scope, after_write=lambda: clock.advance(milliseconds=next(moves, 1))
    )
    _check(held, scope, ran)


@examples(8)
@given(ops=office_histories(), split=st.integers(0, 30))
def test_office_facts_written_in_one_batch_answer_like_the_oracle(
    container: Container, ops: list[Op], split: int
) -> None:
    """The history's first commands one by one, the rest staged in one batch (an import):
    offices' and accounts' events committed together, one record time, answer as the oracle."""
    scope = new_scope()
    ran = run_history(container.ledger, ops[:split], scope)
    with container.ledger.batch() as batch:
        rest = run_history(container.ledger, ops[split:], scope, batch=batch)
    ran.accounts += rest.accounts  # the batch's account commands address its own accounts
    ran.offices.update(rest.offices)
    _check(container, scope, ran)


@examples(25)
@given(
    ops=own_account_histories(),
    applied=st.lists(st.sampled_from([False, False, True]), min_size=40, max_size=40),
)
def test_an_offices_own_account_kept_event_by_event_answers_like_the_oracle_and_a_rebuild(
    container: Container, ops: list[Op], applied: list[bool]
) -> None:
    """Back-dated events to an office's own account, applied after each write or a few writes
    at a time (batches of several record times): its findings are kept in place, on the
    stretch each event changed (`projections.findings_local`), at the times nothing else
    touches the office. The answers are the oracle's and the table a rebuild's."""
    scope = new_scope()
    projector = container.projector
    turns = iter(applied)

    def after_write() -> None:
        if next(turns, True):
            projector.catch_up()

    ran = run_history(container.ledger, ops, scope, after_write=after_write)
    _check(container, scope, ran)
    kept = digest(projector.db, FINDINGS)
    Rebuilder(projector).rebuild(["findings"])
    assert digest(projector.db, FINDINGS) == kept

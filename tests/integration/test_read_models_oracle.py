"""Every read-model answer equals the oracle fold, for random histories, on both stores.

One store per test (a fresh PostgreSQL schema or SQLite file); each hypothesis example works on
its own platform key, so examples never see each other's handles or platform ids.
"""

from __future__ import annotations

import dataclasses
import itertools
import uuid
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from api.bootstrap import Container, build
from ledger import fold
from ledger.commands import AssignHolder, Holder, RegisterAccount, handle_key
from ledger.errors import HandleNotFound, UnreadableEvent
from ledger.settings import Settings
from projections.catalogue import MODELS
from projections.rebuild import Rebuilder, digest
from tests.stories import US
from tests.strategies import BASE, HANDLES, OFFICES, Step, command_steps, replace_command, run_steps
from tests.support import FakeClock, HeldClock, examples, stored_state

_platforms = itertools.count()


def _on_platform(steps: list[Step], platform: str) -> list[Step]:
    return [
        Step(s.slot, replace_command(s.command, platform=platform))
        if isinstance(s.command, RegisterAccount)
        else s
        for s in steps
    ]


def _valid_times(facts: list[fold.Fact]) -> list[datetime]:
    times = {BASE - timedelta(days=30), BASE + timedelta(days=30)}
    for f in facts:
        times |= {f.effective_at - US, f.effective_at}
    return sorted(times)


def _known_times(facts: list[fold.Fact], limit: int = 6) -> list[datetime | None]:
    recorded = sorted({f.recorded_at for f in facts})
    picks = recorded[:: max(1, len(recorded) // limit)]
    out: list[datetime | None] = [None, recorded[0] - US]
    for r in picks:
        out += [r - US, r]
    return out


def _check_account(c: Container, account_id: UUID, facts: list[fold.Fact]) -> None:
    q = c.queries
    for known_at in _known_times(facts):
        expected_intervals = fold.custody_intervals(fold.timeline(facts, known_at))
        got = q.custody_timeline(account_id, known_at).intervals
        assert [
            (i.holder.id, i.holder.name, i.valid_from, i.valid_to, i.handles, i.offices)
            for i in got
        ] == [
            (i.holder.id, i.holder.name, i.valid_from, i.valid_to, i.handles, i.offices)
            for i in expected_intervals
        ]
        assert [tuple(p.version for p in i.established_by) for i in got] == [
            tuple(sorted(i.established_by)) for i in expected_intervals
        ]
        for at in _valid_times(facts):
            want = fold.fold(facts, at, known_at)
            view = q.account_at(account_id, at, known_at)
            if want is None:
                assert view is None, (at, known_at)
                continue
            assert view is not None, (at, known_at)
            assert (view.platform, view.handle, view.office, view.status) == (
                want.platform,
                want.handle,
                want.office,
                want.status,
            )
            got_holder = (
                (view.holder.id, view.holder.name, view.holder.since) if view.holder else None
            )
            want_holder = (
                (want.holder.id, want.holder.name, want.holder_since) if want.holder else None
            )
            assert got_holder == want_holder, (at, known_at)
            assert [(a.ref, a.items, a.effective_at, a.version) for a in view.archives] == [
                (a.ref, a.items, a.effective_at, a.version) for a in want.archives
            ]
            assert view.version == want.version
            assert tuple(p.version for p in view.established_by) == want.established_by
            assert [(i.version, i.why) for i in view.ineffective] == [
                (i.version, i.why) for i in want.ineffective
            ]


def _check_handles_and_listings(
    c: Container, platform: str, streams: dict[UUID, list[fold.Fact]]
) -> None:
    all_facts = [f for facts in streams.values() for f in facts]
    q = c.queries
    for known_at in _known_times(all_facts, limit=3):
        for at in _valid_times(all_facts)[::3]:
            states = {aid: fold.fold(facts, at, known_at) for aid, facts in streams.items()}
            for handle in HANDLES:
                carriers = [
                    aid
                    for aid, s in states.items()
                    if s is not None
                    and s.status == fold.ACTIVE
                    and s.handle.casefold() == handle_key(handle)
                ]
                assert len(carriers) <= 1, "two accounts carried one handle at one instant"
                try:
                    answer = q.handle_at(platform, handle, at, known_at)
                except HandleNotFound:
                    assert not carriers
                    continue
                assert (answer.account.account_id if answer.account else None) == (
                    carriers[0] if carriers else None
                )
            for office in OFFICES:
                want = sorted(
                    str(aid) for aid, s in states.items() if s is not None and s.office == office
                )
                got = [
                    str(a.account_id)
                    for a in q.accounts(
                        office=office, platform=platform, at=at, known_at=known_at
                    ).accounts
                ]
                assert got == want


def _check_holders(c: Container, streams: dict[UUID, list[fold.Fact]]) -> None:
    expected: dict[str, list[tuple[str, datetime, datetime | None]]] = {}
    for aid, facts in streams.items():
        for iv in fold.custody_intervals(fold.timeline(facts)):
            expected.setdefault(iv.holder.id, []).append((str(aid), iv.valid_from, iv.valid_to))
    for holder_id, intervals in expected.items():
        got = c.queries.holder_custody(holder_id).intervals
        mine = sorted(
            (str(i.account_id), i.valid_from, i.valid_to) for i in got if i.account_id in streams
        )
        assert mine == sorted(intervals)


@examples(25)
@given(steps=command_steps(max_steps=18), gap_hours=st.sampled_from([0, 1, 24]))
def test_read_models_agree_with_the_oracle(
    container: Container, steps: list[Step], gap_hours: int
) -> None:
    platform = f"p{next(_platforms)}"
    clock = container.ledger.clock
    assert isinstance(clock, FakeClock)
    clock.advance(hours=gap_hours)
    applied = run_steps(container.ledger, _on_platform(steps, platform), verify_refusals=False)
    streams = {aid: container.ledger.facts(aid) for aid in applied.account_ids}
    for aid, facts in streams.items():
        _check_account(container, aid, facts)
    _check_handles_and_listings(container, platform, streams)
    _check_holders(container, streams)


def test_a_store_from_before_custody_took_the_holder_index(store_url: str) -> None:
    """Until 2026-12-03 a `holders` model kept custody's rows again in `rm_holdings`, and
    `rm_custody` had no holder index. Such a store, opened by this version, gains the index,
    answers a holder's custody from `rm_custody`, and is not held back by the old model's
    tracking row (left alone, like its table, for nodes of the earlier version)."""
    c = build(Settings(database_url=store_url), clock=FakeClock())
    try:
        aid = c.ledger.register_account(
            RegisterAccount(platform="x", handle="old", office="o", effective_at=BASE),
            actor="t",
        ).account_id
        c.ledger.append(
            aid, AssignHolder(holder=Holder(id="h1", name="One"), effective_at=BASE), actor="t"
        )
        c.projector.catch_up()
        db = c.projector.db
        with db.transaction() as curs:  # the layout an earlier version left
            db.execute(curs, db.sql("DROP INDEX {t}", t="rm_custody_i1"))
            db.execute(curs, db.sql("CREATE TABLE {t} (account_id TEXT)", t="rm_holdings"))
            db.execute(
                curs, db.sql("INSERT INTO {t} VALUES (%s, %s)", t="rm_tracking"), ("holders", 1)
            )
    finally:
        c.close()
    c = build(Settings(database_url=store_url), clock=FakeClock())
    try:
        db = c.projector.db
        if db.kind == "postgres":
            index = "SELECT 1 FROM pg_indexes WHERE schemaname = %s AND indexname = %s"
            params: tuple[str, ...] = (db.schema, "rm_custody_i1")
        else:
            index = "SELECT 1 FROM sqlite_master WHERE type = 'index' AND name = %s"
            params = ("rm_custody_i1",)
        assert db.fetchone(db.sql(index), params) is not None
        assert c.projector.lag() == 0
        with db.reader(by_name=True) as curs:  # a read does not wait for the old model's row
            assert c.queries.reading.behind(curs) is None
        got = c.queries.holder_custody("h1").intervals
        assert [(i.account_id, i.valid_from, i.valid_to) for i in got] == [(aid, BASE, None)]
        assert db.fetchone(db.sql("SELECT COUNT(*) FROM {t}", t="rm_holdings")) == (0,)
    finally:
        c.close()


@examples(5)
@given(steps=command_steps(max_steps=30))
def test_rebuilt_views_have_the_digest_of_incremental_ones(
    container: Container, steps: list[Step]
) -> None:
    run_steps(container.ledger, _on_platform(steps, f"p{next(_platforms)}"), verify_refusals=False)
    projector = container.projector
    projector.catch_up()
    tables = [t for m in MODELS for t in m.tables]
    incremental = {t.name: digest(projector.db, t) for t in tables}
    position = Rebuilder(projector).rebuild()
    assert position == container.ledger.head()
    assert {t.name: digest(projector.db, t) for t in tables} == incremental
    assert projector.positions() == {m.name: position for m in MODELS}


@examples(10)
@given(
    steps=command_steps(max_steps=30),
    cached=st.sampled_from([0, 1, 2, 4096]),
    cached_events=st.sampled_from([8, 200_000]),
)
def test_views_projected_event_by_event_equal_rebuilt_ones(
    container: Container, steps: list[Step], cached: int, cached_events: int
) -> None:
    """The projector catching up after every write (timelines kept between batches, with a cache
    too small for every account, or none, so histories are also read back from the store)
    builds the same views as a rebuild from the log."""
    projector = container.projector
    projector.cache_accounts, projector.cache_events = cached, cached_events
    platform = f"p{next(_platforms)}"
    run_steps(
        container.ledger,
        _on_platform(steps, platform),
        verify_refusals=False,
        after_write=projector.catch_up,
    )
    tables = [t for m in MODELS for t in m.tables]
    incremental = {t.name: digest(projector.db, t) for t in tables}
    Rebuilder(projector).rebuild()
    assert {t.name: digest(projector.db, t) for t in tables} == incremental


@examples(12)
@given(
    steps=command_steps(max_steps=24),
    ticks=st.lists(st.sampled_from([0, 0, 1]), min_size=24, max_size=24),
    batches=st.sampled_from([(2, 2), (2, 100_000), (3, 5), (2000, 100_000)]),
    from_log=st.booleans(),
)
def test_events_recorded_at_one_time_are_one_step_of_knowledge(
    held: Container,
    steps: list[Step],
    ticks: list[int],
    batches: tuple[int, int],
    from_log: bool,
) -> None:
    """Writes that share a record time (a batch, or a clock that did not move) become known
    together: the views answer like the oracle, whatever the projector's batch size, and a
    projector whose batches may grow to hold each such run builds exactly a rebuild's tables.
    Both ways of reading the batches cut them alike: the facts this process just recorded, from
    memory, or (once forgotten) the stored events read back from the log."""
    clock = held.ledger.clock
    assert isinstance(clock, HeldClock)
    moves = iter(ticks)
    applied = run_steps(
        held.ledger,
        _on_platform(steps, f"p{next(_platforms)}"),
        verify_refusals=False,
        after_write=lambda: clock.advance(milliseconds=next(moves, 1)),
    )
    projector = held.projector
    projector.batch_size, projector.max_batch = batches
    if from_log:
        assert held.ledger.recent is not None
        held.ledger.recent.forget_upto(held.ledger.head())
    projector.catch_up()
    streams = {aid: held.ledger.facts(aid) for aid in applied.account_ids}
    for aid, facts in streams.items():
        _check_account(held, aid, facts)
    _check_holders(held, streams)
    tables = [t for m in MODELS for t in m.tables]
    incremental = {t.name: digest(projector.db, t) for t in tables}
    Rebuilder(projector).rebuild()  # also leaves canonical tables for the next example
    if projector.max_batch >= held.ledger.head():  # no same-time run was split
        assert {t.name: digest(projector.db, t) for t in tables} == incremental


@examples(10)
@given(
    steps=command_steps(max_steps=24),
    ticks=st.lists(st.sampled_from([0, 0, 1]), min_size=24, max_size=24),
)
def test_batches_cut_from_memory_are_the_batches_read_from_the_log(
    held: Container, steps: list[Step], ticks: list[int]
) -> None:
    """A projector in the writers' process cuts its batches from the facts it kept in memory;
    they are exactly the batches it reads back from the log, for every batch size and start."""
    clock = held.ledger.clock
    assert isinstance(clock, HeldClock)
    moves = iter(ticks)
    start = held.ledger.head()
    run_steps(
        held.ledger,
        _on_platform(steps, f"p{next(_platforms)}"),
        verify_refusals=False,
        after_write=lambda: clock.advance(milliseconds=next(moves, 1)),
    )
    projector, head, recent = held.projector, held.ledger.head(), held.ledger.recent
    assert recent is not None
    sizes = [(1, 1), (2, 2), (2, 100_000), (3, 5), (2000, 100_000)]
    starts = range(start, head)
    cut = {}
    for size, begin in itertools.product(sizes, starts):
        projector.batch_size, projector.max_batch = size
        cut[size, begin] = projector._read(begin, head, [])
    assert recent.span(start, head) is not None  # those came from memory
    recent.forget_upto(head)
    for size, begin in itertools.product(sizes, starts):
        projector.batch_size, projector.max_batch = size
        assert projector._read(begin, head, []) == cut[size, begin], (size, begin)
    projector.catch_up()  # leave the shared store applied for the next example


def _plain(segments: Sequence[Any]) -> list[tuple[Any, ...]]:
    """Segments without their states' `version` (a kept segment keeps the one it was made at)."""
    return [(s.valid_from, s.valid_to, dataclasses.replace(s.state, version=0)) for s in segments]


@examples(10)
@given(steps=command_steps(max_steps=24))
def test_the_histories_a_projector_takes_from_the_writers_are_those_it_would_fold(
    container: Container, steps: list[Step]
) -> None:
    """A projector in the writers' process takes with a fact the history the aggregate that
    recorded it holds, instead of folding the fact again: every change it derives is the one
    its own fold gives, the timelines before and after and what the second keeps of the
    first."""
    start = container.ledger.head()
    run_steps(container.ledger, _on_platform(steps, f"p{next(_platforms)}"), verify_refusals=False)
    projector, head, recent = container.projector, container.ledger.head(), container.ledger.recent
    assert recent is not None
    decoded = recent.span(start, head)
    assert decoded is not None
    lent = [p for p, aid, fact in decoded if recent.lent(p, aid, fact) is not None]
    assert len(lent) >= len(decoded) // 2  # the writers' appends lend theirs
    # Never for another stream's fact at that position.
    assert all(recent.lent(p, uuid.uuid4(), fact) is None for p, _, fact in decoded)
    # From the span's start, and from its middle (the timelines then folded from the store up
    # to each stream's fact before, partway through the streams).
    for part in (decoded, decoded[len(decoded) // 2 :]):
        projector._timelines.clear()
        taken = projector.changes(part, lent=recent.lent)
        projector._timelines.clear()
        folded = projector.changes(part)
        assert (
            [c.position for c in taken] == [c.position for c in folded] == [p for p, _, _ in part]
        )
        for t, f in zip(taken, folded, strict=True):
            assert t.fact is f.fact
            assert (_plain(t.before), _plain(t.after)) == (_plain(f.before), _plain(f.after))
            assert (t.splice, t.office, t.offices, t.own) == (f.splice, f.office, f.offices, f.own)
    projector.catch_up()  # leave the shared store applied for the next example


@examples(12)
@given(
    steps=command_steps(max_steps=30),
    split=st.integers(0, 30),
    cached=st.sampled_from([0, 4096]),
)
def test_a_batch_projected_after_its_commit_answers_like_the_oracle_and_a_rebuild(
    container: Container, steps: list[Step], split: int, cached: int
) -> None:
    """A batch (an import), projected once it is written, gives the oracle's answers and
    exactly a rebuild's tables, whether the projector has the history before the batch in its
    cache of timelines or reads it from the log."""
    ledger, projector = container.ledger, container.projector
    projector.cache_accounts = cached
    steps = _on_platform(steps, f"p{next(_platforms)}")
    split = min(split, len(steps) - 1)  # the batch has a step at least
    before = run_steps(ledger, steps[:split], verify_refusals=False, after_write=projector.catch_up)
    with ledger.batch() as batch:
        applied = run_steps(
            ledger, steps[split:], batch=batch, verify_refusals=False, continuing=before
        )
    projector.catch_up()
    assert projector.lag() == 0
    streams = {aid: ledger.facts(aid) for aid in applied.account_ids}
    for aid, facts in streams.items():
        _check_account(container, aid, facts)
    _check_holders(container, streams)
    tables = [t for m in MODELS for t in m.tables]
    derived = {t.name: digest(projector.db, t) for t in tables}
    Rebuilder(projector).rebuild()
    assert {t.name: digest(projector.db, t) for t in tables} == derived


@examples(10)
@given(
    steps=command_steps(max_steps=25),
    pick=st.integers(0, 10**6),
    size=st.sampled_from([(1, 1), (3, 5), (2000, 25_000)]),
)
def test_a_damaged_event_sets_its_stream_aside_and_every_other_answers_like_the_oracle(
    container: Container, store_url: str, steps: list[Step], pick: int, size: tuple[int, int]
) -> None:
    """One stored event's bytes damaged outside the ledger: a projector reading the log sets
    that stream aside, reaches the log head, and every other account of the history gives the
    oracle's answers; the damaged one answers UnreadableEvent, naming it."""
    applied = run_steps(
        container.ledger, _on_platform(steps, f"p{next(_platforms)}"), verify_refusals=False
    )
    assume(applied.records)
    victim = applied.records[pick % len(applied.records)]
    stored_state(container, victim.account_id, victim.version, b"\xff not json")
    reader = build(Settings(database_url=store_url), clock=FakeClock())  # reads the log
    try:
        reader.projector.batch_size, reader.projector.max_batch = size
        reader.projector.catch_up()
        assert reader.projector.lag() == 0
        for aid in applied.account_ids:
            if aid == victim.account_id:
                with pytest.raises(UnreadableEvent) as info:
                    reader.queries.custody_timeline(aid)
                assert f"stream {aid} version {victim.version}" in info.value.detail
                continue
            _check_account(reader, aid, container.ledger.facts(aid))
    finally:
        reader.close()

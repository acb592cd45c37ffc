"""How an answer changed, from the read models, equals the oracle (`ledger.changes`: the fold
evaluated at every record time) for random histories and random windows, on both stores.

Answers are compared as plain values: intervals with their provenance as versions, the events
that changed each version as (stream, version) pairs. One store per test; each example works
on a platform (accounts) or a scope (offices) of its own, so examples never see each other's
handles or offices.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

from hypothesis import given, note
from hypothesis import strategies as st

from api.bootstrap import Container
from ledger import changes, fold, oversight
from ledger.changes import Window
from ledger.commands import AssignHolder, Holder, RegisterAccount
from ledger.domain import office_id
from ledger.errors import HandleNotFound, OfficeNotFound
from ledger.fold import Fact
from projections.queries.views import ChangeVersion
from tests import office_strategies
from tests.office_strategies import Op, new_scope, office_histories, run_history
from tests.strategies import (
    BASE,
    HANDLES,
    HOLDERS,
    Step,
    command_steps,
    replace_command,
    run_steps,
)
from tests.support import HeldClock, examples

Plain = tuple[Any, ...]
NOT_FOUND = "not-found"
_platforms = itertools.count()


def windows(centre: datetime, hours: Sequence[int]) -> st.SearchStrategy[list[Window]]:
    """A few windows with ends on a grid around `centre` (the histories' instants and between
    them), `to` after `from`."""
    ends = st.lists(st.sampled_from(hours), min_size=2, max_size=2, unique=True).map(sorted)
    return st.lists(
        ends.map(lambda e: Window(centre + timedelta(hours=e[0]), centre + timedelta(hours=e[1]))),
        min_size=1,
        max_size=3,
    )


# Ends on the histories' grid of instants (`tests.strategies.instants`) and between.
ACCOUNT_HOURS = (-48, -30, -12, -6, -1, 0, 1, 6, 12, 30, 72)
OFFICE_HOURS = tuple(24 * d for d in (-500, -400, -35, -31, -30, -1, 0, 1, 15, 30, 31, 61, 500))


# -- plain values ----------------------------------------------------------------------------------


def _read(versions: Sequence[ChangeVersion[Any]], interval: Any) -> list[Plain]:
    return [
        (v.known_at, [interval(iv, tuple(p.version for p in iv.established_by))
                      for iv in v.intervals],
         [(r.account_id, r.version) for r in v.changed_by])
        for v in versions
    ]  # fmt: skip


def _oracle(versions: Sequence[changes.Version[Any]], interval: Any) -> list[Plain]:
    return [
        (v.known_at, [interval(iv, tuple(sorted(set(iv.established_by)))) for iv in v.intervals],
         list(v.changed_by))
        for v in versions
    ]  # fmt: skip


def _custody(iv: Any, by: tuple[int, ...]) -> Plain:
    return (iv.holder.id, iv.holder.name, iv.valid_from, iv.valid_to, tuple(iv.handles),
            tuple(iv.offices), by)  # fmt: skip


def _carried(iv: Any, by: tuple[int, ...]) -> Plain:
    return (iv.account_id, iv.handle, iv.valid_from, iv.valid_to, by)


def _tenure(iv: Any, by: tuple[int, ...]) -> Plain:
    return (iv.holder.id, iv.holder.name, iv.valid_from, iv.valid_to, by)


def _check_records(
    versions: Sequence[ChangeVersion[Any]], streams: Mapping[UUID, Sequence[Fact]]
) -> None:
    """Each record of `changed_by` is the stored event, recorded (or retracted) then."""
    for v in versions:
        for r in v.changed_by:
            fact = streams[r.account_id][r.version - 1]
            assert (r.type, r.effective_at, r.recorded_at, r.data) == (
                fact.type, fact.effective_at, fact.recorded_at, fact.data,
            )  # fmt: skip
            assert r.recorded_at == v.known_at or r.retracted_by is not None


# -- the checks ------------------------------------------------------------------------------------


def _check_accounts(c: Container, platform: str, streams: dict[UUID, list[Fact]],
                    windows: list[Window]) -> None:  # fmt: skip
    for window in windows:
        for aid, facts in streams.items():
            got = c.queries.custody_changes(aid, window.valid_from, window.valid_to)
            assert (got.account_id, got.window) == (aid, window)
            want = changes.custody_changes(aid, facts, window)
            assert _read(got.versions, _custody) == _oracle(want, _custody), (aid, window)
            _check_records(got.versions, streams)
        for handle in HANDLES:
            want_handle = changes.handle_changes(streams, handle, window)
            carriers = [s for s, facts in streams.items()
                        if changes.ever_carried(facts, handle.casefold())]  # fmt: skip
            try:
                answer = c.queries.handle_changes(platform, handle, window.valid_from,
                                                  window.valid_to)  # fmt: skip
            except HandleNotFound:
                assert not carriers, (handle, window)
                continue
            assert carriers, (handle, window)
            assert (answer.platform, answer.handle, answer.window) == (platform, handle, window)
            assert _read(answer.versions, _carried) == _oracle(want_handle, _carried), (
                handle,
                window,
            )
            _check_records(answer.versions, streams)


@st.composite
def custody_steps(draw: st.DrawFn, max_steps: int = 24) -> list[Step]:
    """A random history of two accounts at most whose first has a holder from its
    registration on, so that most windows see custody that later steps change."""
    steps = draw(command_steps(max_steps=max_steps, max_accounts=2))
    registration = steps[0].command
    assert isinstance(registration, RegisterAccount)
    hid, name = draw(st.sampled_from(HOLDERS))
    first = AssignHolder(holder=Holder(id=hid, name=name), effective_at=registration.effective_at)
    return [steps[0], Step(0, first), *steps[1:]]


def _on_platform(steps: list[Step], platform: str) -> list[Step]:
    return [
        Step(s.slot, replace_command(s.command, platform=platform))
        if isinstance(s.command, RegisterAccount)
        else s
        for s in steps
    ]


@examples(40)
@given(steps=custody_steps(), windows=windows(BASE, ACCOUNT_HOURS))
def test_custody_and_handle_changes_agree_with_the_oracle(
    container: Container, steps: list[Step], windows: list[Window]
) -> None:
    """Each write at a record time of its own."""
    platform = f"p{next(_platforms)}"
    applied = run_steps(container.ledger, _on_platform(steps, platform), verify_refusals=False)
    streams = {aid: container.ledger.facts(aid) for aid in applied.account_ids}
    _check_accounts(container, platform, streams, windows)


@examples(10)
@given(
    steps=custody_steps(),
    ticks=st.lists(st.sampled_from([0, 0, 1]), min_size=24, max_size=24),
    windows=windows(BASE, ACCOUNT_HOURS),
)
def test_writes_that_share_a_record_time_are_one_version(
    held: Container, steps: list[Step], ticks: list[int], windows: list[Window]
) -> None:
    """Writes that share a record time (a batch, a clock that did not move) became known
    together: one version at most, naming all of them."""
    clock = held.ledger.clock
    assert isinstance(clock, HeldClock)
    clock.advance(milliseconds=1)  # not at the previous example's last record time
    moves = iter(ticks)
    platform = f"p{next(_platforms)}"
    applied = run_steps(
        held.ledger,
        _on_platform(steps, platform),
        verify_refusals=False,
        after_write=lambda: clock.advance(milliseconds=next(moves, 1)),
    )
    streams = {aid: held.ledger.facts(aid) for aid in applied.account_ids}
    _check_accounts(held, platform, streams, windows)


@examples(25)
@given(ops=office_histories(), windows=windows(office_strategies.BASE, OFFICE_HOURS))
def test_tenure_changes_agree_with_the_oracle(
    container: Container, ops: list[Op], windows: list[Window]
) -> None:
    scope = new_scope()
    ran = run_history(container.ledger, ops, scope)
    note(f"{scope}: offices {sorted(ran.offices)}")
    accounts = {aid: container.ledger.facts(aid) for aid in ran.accounts}
    for key in scope.keys:
        stream = office_id(key)
        facts = container.ledger.stream_facts(stream) if key in ran.offices else []
        named = any(
            s.state.office == key
            for fs in accounts.values()
            for k in changes.record_times([fs])
            for s in fold.timeline(fs, k)
        )
        for window in windows:
            try:
                got = container.queries.tenure_changes(key, window.valid_from, window.valid_to)
            except OfficeNotFound:
                assert not facts and not named, key
                continue
            assert facts or named, key
            assert (got.office, got.window) == (key, window)
            want = changes.tenure_changes(stream, facts, window)
            assert _read(got.versions, _tenure) == _oracle(want, _tenure), (key, window)
            _check_records(got.versions, {stream: facts})
            _check_office_window(container, key, facts, accounts, window)


def _check_office_window(
    container: Container,
    key: str,
    facts: Sequence[Fact],
    accounts: Mapping[UUID, Sequence[Fact]],
    window: Window,
) -> None:
    """What an office's dossier reads as known at each record time and now (`in_window`):
    the tenures are the oracle's (`changes.tenures_at`), the accounts that spoke for the
    office in the window `oversight.speakers_in` on the fold's spans."""
    times = changes.record_times([facts, *accounts.values()])
    for known_at in [*times, None]:
        got = container.queries.offices.in_window(key, window, known_at)
        k = known_at or max(times, default=BASE)
        tenures = [_tenure(t, tuple(p.version for p in t.established_by)) for t in got.tenures]
        want = changes.tenures_at(facts, window, k)
        assert tenures == [_tenure(t, tuple(sorted(set(t.established_by)))) for t in want]
        spans = {aid: oversight.account_spans(aid, fold.timeline(fs, k))
                 for aid, fs in accounts.items()}  # fmt: skip
        speakers = oversight.speakers_in(key, spans, window.valid_from, window.valid_to)
        assert list(got.accounts) == speakers, (key, window, known_at)

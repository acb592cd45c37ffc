"""A timeline kept fact by fact (`ledger.history`) is the oracle's timeline after every fact,
however far back in valid time the fact lands, and what a push keeps of the timeline before it
is really the same segments."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from datetime import timedelta
from typing import Any
from uuid import UUID

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ledger import fold, office_fold
from ledger.fold import Fact
from ledger.guards import NO_OFFICE, offices_touched
from ledger.history import History, Splice, run_bounds, same_runs
from projections.derive import custody_facet, custody_rows, handle_facet, handle_rows
from tests.strategies import BASE, HOLDERS, long_fact_lists

ACCOUNT = UUID(int=1)


@pytest.fixture
def monkeypatch_refold(monkeypatch: pytest.MonkeyPatch) -> None:
    """`History._refold` refuses to run: a test with it shows a push that does not fold."""

    def refused(self: History, old: History, t: Any) -> None:
        raise AssertionError(f"refolded from {t}")

    monkeypatch.setattr(History, "_refold", refused)


def _plain(segments: Sequence[Any]) -> list[tuple[Any, ...]]:
    """Segments without their states' `version` (a kept segment keeps the one it was made at)."""
    return [(s.valid_from, s.valid_to, dataclasses.replace(s.state, version=0)) for s in segments]


def _handles(segments: list[fold.Segment]) -> dict[str, tuple[str, list[Any]]]:
    out: dict[str, tuple[str, list[Any]]] = {}
    for iv in fold.handle_intervals(segments):
        out.setdefault(iv.key, (iv.handle, []))[1].append((iv.valid_from, iv.valid_to))
    return out


def _moved(facts: list[Fact], n: int) -> dict[str, tuple[str, list[Any]]]:
    """The handles whose intervals the n-th fact changed, as `History.handle_changes` says."""
    was, now = _handles(fold.timeline(facts[: n - 1])), _handles(fold.timeline(facts[:n]))
    return {
        key: after
        for key in sorted(was.keys() | now.keys())
        if (after := now.get(key, (key, [])))[1] != was.get(key, ("", []))[1]
    }


def _check_splice(before: History, after: History) -> None:
    head, tail = after.splice.head, after.splice.tail
    old, new = before.segments, after.segments
    assert head + tail <= min(len(old), len(new))
    assert all(old[i] is new[i] for i in range(head))
    assert all(old[len(old) - 1 - i] is new[len(new) - 1 - i] for i in range(tail))


@settings(max_examples=400, deadline=None)
@given(long_fact_lists())
def test_a_history_kept_fact_by_fact_is_the_oracles_timeline_after_every_fact(
    facts: list[Fact],
) -> None:
    history = History()
    history.handles()  # kept from the first fact on, as an account that renames keeps them
    lazy = History()  # its handles found only when a push's changes are asked for
    for n, fact in enumerate(facts, start=1):
        previous, history = history, history.push(fact)
        was, lazy = lazy, lazy.push(fact)
        prefix = facts[:n]
        oracle = fold.timeline(prefix)
        assert _plain(history.segments) == _plain(oracle), n
        assert history.ineffective_versions() == fold.ineffective_versions(prefix), n
        assert history.handles() == _handles(oracle), n
        moved = _moved(facts, n)
        assert history.handle_changes(previous) == moved, n
        assert lazy.handle_changes(was) == moved, n
        assert history.first == (1 if oracle else history.first)
        _check_splice(previous, history)
        # Where the runs' facets change the same way, their rows are the same rows.
        for facet, rows in ((custody_facet, custody_rows), (handle_facet, handle_rows)):
            if same_runs(previous.segments, history.segments, history.splice, facet):
                assert rows(ACCOUNT, previous.segments) == rows(ACCOUNT, history.segments), n
        for key in (None, fold.holder_run_key, fold.handle_run_key):
            lo, hi_before, hi_after = run_bounds(
                previous.segments, history.segments, history.splice, key, following=True
            )
            # Outside the bounds the rows grouped by `key` are the same: the runs there are.
            assert _plain(previous.segments[:lo]) == _plain(history.segments[:lo])
            assert _plain(previous.segments[hi_before:]) == _plain(history.segments[hi_after:])
    assert _plain(History.of(facts).segments) == _plain(history.segments)


@st.composite
def office_facts(draw: st.DrawFn) -> list[Fact]:
    """An office's stream: a registration, then holders, releases and retractions, effective
    anywhere around it."""
    recorded = BASE
    facts = [
        Fact(1, office_fold.REGISTERED, BASE, recorded, "clerk",
             data={"office": "o", "name": "O", "jurisdiction": "US"}, kind="office")
    ]  # fmt: skip
    for version in range(2, draw(st.integers(2, 30)) + 1):
        kind = draw(st.sampled_from((fold.ASSIGNED, fold.ASSIGNED, fold.RELEASED, fold.RETRACTED)))
        data: dict[str, Any] = {}
        if kind == fold.ASSIGNED:
            hid, name = draw(st.sampled_from(HOLDERS))
            data = {"holder": {"id": hid, "name": name}}
        elif kind == fold.RETRACTED:
            data = {"event_version": draw(st.integers(1, version - 1))}
        recorded += timedelta(hours=draw(st.sampled_from((0, 1))))
        when = BASE + timedelta(hours=draw(st.integers(-10, 40)))
        facts.append(Fact(version, kind, when, recorded, "clerk", data=data, kind="office"))
    return facts


@settings(max_examples=200, deadline=None)
@given(office_facts())
def test_an_offices_history_kept_fact_by_fact_is_its_oracles_timeline(facts: list[Fact]) -> None:
    history = History("office")
    for n, fact in enumerate(facts, start=1):
        previous, history = history, history.push(fact)
        assert _plain(history.segments) == _plain(office_fold.timeline(facts[:n])), n
        assert history.ineffective_versions() == office_fold.ineffective_versions(facts[:n])
        _check_splice(previous, history)


def _in_time_order(facts: list[Fact]) -> list[Fact]:
    """The stream's registration, then its other facts but retractions, renumbered, each
    effective an hour after the one before."""
    rest = [f for f in facts[1:] if f.type != fold.RETRACTED]
    return [facts[0]] + [
        dataclasses.replace(f, version=n, effective_at=facts[0].effective_at + timedelta(hours=n))
        for n, f in enumerate(rest, start=2)
    ]


@settings(
    max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(facts=st.one_of(long_fact_lists(), office_facts()))
def test_a_fact_effective_after_every_kept_one_is_folded_from_the_last_segment_alone(
    facts: list[Fact], monkeypatch_refold: None
) -> None:
    """Appended in time order, a push takes the short way (`_refold`, the search from the
    fact's instant, is not called) to the oracle's timeline, keeping every segment but the
    last."""
    facts = _in_time_order(facts)
    kind, rules = ("office", office_fold) if facts[0].kind == "office" else ("account", fold)
    history = History.of(facts[:1], kind)
    if kind == "account":
        history.handles()  # kept from the first fact on, as the ledger's are
    for n in range(2, len(facts) + 1):
        previous, history = history, history.push(facts[n - 1])
        assert _plain(history.segments) == _plain(rules.timeline(facts[:n])), n
        assert history.ineffective_versions() == rules.ineffective_versions(facts[:n]), n
        assert history.splice == Splice(len(previous.segments) - 1, 0), n
        _check_splice(previous, history)
        if kind == "account":
            assert history.handles() == _handles(fold.timeline(facts[:n])), n
            assert history.handle_changes(previous) == _moved(facts, n), n


def test_a_back_dated_observation_folds_only_up_to_the_next_one() -> None:
    """An observation between two others changes the audience until the next one: the rest of
    the timeline is the same segments, however long it is."""
    registration = Fact(
        1, fold.REGISTERED, BASE, BASE, "clerk",
        data={"platform": "x", "handle": "POTUS", "office": "us-president"},
    )  # fmt: skip
    facts = [registration] + [
        Fact(v, fold.AUDIENCE, BASE + timedelta(days=v), BASE, "clerk", data={"followers": v})
        for v in range(2, 1002)
    ]
    history = History.of(facts)
    late = Fact(
        1002, fold.AUDIENCE, BASE + timedelta(days=500, hours=1), BASE, "clerk",
        data={"followers": 7},
    )  # fmt: skip
    after = history.push(late)
    assert len(after.segments) == len(history.segments) + 1
    assert after.splice.head == 499 and after.splice.tail == 501
    assert after.state_at(BASE + timedelta(days=500, hours=2)).audience.followers == 7
    assert after.state_at(BASE + timedelta(days=501)).audience.followers == 501


class _Command:
    """What `offices_touched` reads of a command."""

    def __init__(self, fact: Fact) -> None:
        self.type, self.effective_at, self._data = fact.type, fact.effective_at, fact.data

    def data(self) -> dict[str, Any]:
        return self._data


def _touched_by_refolding(facts: list[Fact], command: _Command) -> set[str]:
    """`offices_touched` as it was: both timelines whole, every instant from the start on."""
    probe = Fact(len(facts) + 1, command.type, command.effective_at, facts[-1].recorded_at, "",
                 data=command.data())  # fmt: skip
    start = probe.effective_at
    target = probe.data.get("event_version") if probe.type == fold.RETRACTED else None
    if isinstance(target, int) and 1 <= target <= len(facts):
        start = facts[target - 1].effective_at
    before, after = fold.timeline(facts), fold.timeline([*facts, probe])

    def custody(segments: list[fold.Segment], at: Any) -> Any:
        s = next(
            (s for s in segments if s.valid_from <= at and (not s.valid_to or at < s.valid_to)),
            None,
        )
        v = s.state if s else None
        return v and (v.office, v.status, v.holder, v.holder_since, v.handle,
                      v.platform_account_id, v.archives, v.ownership, v.owner)  # fmt: skip

    instants = sorted({start} | {s.valid_from for s in (*before, *after) if s.valid_from > start})
    touched: set[Any] = set()
    for n, at in enumerate(instants):
        was, now = custody(before, at), custody(after, at)
        if n == 0 or was != now:
            touched |= {s[0] for s in (was, now) if s is not None}
    if not touched and before:
        touched.add(before[0].state.office)
    return {o for o in touched if o is not None} or {NO_OFFICE}


@settings(max_examples=300, deadline=None)
@given(long_fact_lists())
def test_the_offices_a_command_touches_are_found_from_what_it_changes(facts: list[Fact]) -> None:
    """Each fact of the stream, as a command to the stream before it."""
    history = History.of(facts[:1])
    for n in range(1, len(facts)):
        command = _Command(facts[n])
        found = offices_touched(history, facts[:n], command)  # type: ignore[arg-type]
        assert found == _touched_by_refolding(facts[:n], command), n
        history = history.push(facts[n])

"""A step of an account that leaves its handles unmoved (`findings_local.handles_unmoved`)
changes nothing any office's `office-handle-taken` reads of the account: the projector then
looks up none of the handles it touched."""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from datetime import timedelta
from typing import Any
from uuid import UUID

from hypothesis import given, settings
from hypothesis import strategies as st

from ledger import fold, oversight
from ledger.fold import Fact
from ledger.oversight import AccountSpan, OfficeRecord
from projections.derive import Timeline
from projections.findings_local import handles_unmoved
from projections.models import Change
from tests.strategies import BASE, OFFICES, long_fact_lists

ACCOUNT = UUID(int=1)


def _takings_read(office: str, segments: Sequence[fold.Segment]) -> tuple[Any, ...]:
    """What `office`'s takings read of the account: the handles it freed while the office
    owned it (when, and what freed them), and each run of a handle it carried otherwise
    (`oversight._taking`'s reading of it)."""
    record = OfficeRecord(office, None, None, None, None, ())
    spans = oversight.account_spans(ACCOUNT, segments)
    runs: list[list[AccountSpan]] = oversight._carried_apart(record, spans)
    carried = [
        (r[0].platform, r[0].handle, r[0].valid_from, r[0].owner, r[0].holder, r[0].established_by,
         r[-1].valid_to)
        for r in runs
    ]  # fmt: skip
    return oversight._freed_by(record, ACCOUNT, spans), carried


def _steps(facts: list[Fact], cuts: list[int]) -> list[list[Change]]:
    """The facts pushed one by one, as changes, grouped into steps of knowledge at `cuts`."""
    timeline = Timeline("account")
    changes = []
    for position, fact in enumerate(facts, start=1):
        before = timeline.segments
        after = timeline.push(fact)
        changes.append(
            Change(ACCOUNT, fact, position, before, after, None, timeline.splice,
                   timeline.offices, timeline.own)
        )  # fmt: skip
    bounds = sorted({0, len(changes), *(c % (len(changes) + 1) for c in cuts)})
    return [changes[i:j] for i, j in itertools.pairwise(bounds) if i < j]


@settings(max_examples=400, deadline=None)
@given(facts=long_fact_lists(), cuts=st.lists(st.integers(0, 40), max_size=8))
def test_a_step_that_leaves_the_handles_unmoved_changes_nothing_a_taking_reads(
    facts: list[Fact], cuts: list[int]
) -> None:
    for step in _steps(facts, cuts):
        if not step[0].before or not handles_unmoved(step):
            continue
        for office in (*OFFICES, "never-named"):
            assert _takings_read(office, step[0].before) == _takings_read(office, step[-1].after)


def test_a_holder_assigned_after_everything_leaves_the_handles_unmoved_a_rename_does_not() -> None:
    registered = Fact(1, fold.REGISTERED, BASE, BASE, "clerk", data={
        "platform": "x", "handle": "@WH", "office": OFFICES[0],
    })  # fmt: skip
    holder = {"holder": {"id": "obama", "name": "Barack Obama"}}
    assigned = Fact(2, fold.ASSIGNED, BASE + timedelta(days=1), BASE, "clerk", data=holder)
    renamed = Fact(3, fold.RENAMED, BASE + timedelta(days=2), BASE, "clerk", data={
        "handle": "@WhiteHouse",
    })  # fmt: skip
    # A rename that changes only the case moves no run (handles are compared casefolded) but
    # is still a move: the handle carried, as offices read it, is another.
    recased = Fact(3, fold.RENAMED, BASE + timedelta(days=2), BASE, "clerk", data={
        "handle": "@wh",
    })  # fmt: skip
    steps = _steps([registered, assigned, renamed], [1, 2])
    assert [handles_unmoved(s) for s in steps[1:]] == [True, False]
    assert not handles_unmoved(_steps([registered, assigned, recased], [1, 2])[-1])

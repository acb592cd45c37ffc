"""`oversight.Evaluation` (an office's findings at record time after record time, each derived
from what changed since the time before) answers exactly as `oversight.findings` (the
specification), for random histories of offices and accounts, at every record time, in order
and out of it, whichever accounts are passed as the same objects as the time before."""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from uuid import UUID

from hypothesis import given, note
from hypothesis import strategies as st

from ledger import oversight
from ledger.application import CustodyLedger
from ledger.oversight import AccountSpan, OfficeRecord, Rules
from ledger.settings import Settings
from tests.office_strategies import (
    Op,
    new_scope,
    office_histories,
    own_account_histories,
    run_history,
)
from tests.support import FakeClock, examples

# Short windows, so that more of the generated days fall inside and outside them.
RULES = (Rules(), Rules(holder_grace=timedelta(days=1), handle_watch=timedelta(days=40)))


def _times(ledger: CustodyLedger, streams: Sequence[UUID]) -> list[datetime]:
    return sorted({f.recorded_at for s in streams for f in ledger.stream_facts(s)})


@examples(60)
@given(
    # The second: an office's own account whose handles other accounts take (and give back).
    ops=st.one_of(office_histories(), own_account_histories()),
    rules=st.sampled_from(RULES),
    seed=st.randoms(use_true_random=False),
    shuffled=st.booleans(),
)
def test_an_evaluation_answers_as_the_findings_at_every_record_time(
    ops: list[Op], rules: Rules, seed: random.Random, shuffled: bool
) -> None:
    clock = FakeClock()
    ledger = CustodyLedger(Settings(database_url="sqlite:///:memory:").store().env, clock=clock)
    try:
        scope = new_scope()
        ran = run_history(ledger, ops, scope, after_write=lambda: clock.advance(seconds=1))
        streams = {s: ledger.stream_facts(s) for s in ran.streams}
        times = _times(ledger, ran.streams)
        if shuffled:
            seed.shuffle(times)
        note(f"{len(times)} record times, {'shuffled' if shuffled else 'in order'}")
        for key in scope.keys:
            evaluation = oversight.Evaluation(rules)
            kept_record: OfficeRecord | None = None
            kept: dict[UUID, list[AccountSpan]] = {}
            for t in times:
                offices, histories = oversight.from_facts(streams, t)
                record = offices.get(key) or oversight.office_record(key, None, [])
                # As the projection passes them: the objects of the time before where equal
                # (most, but not always: a new object with the same spans is allowed too).
                if record == kept_record and seed.random() < 0.9:
                    record = kept_record
                kept_record = record
                for aid, spans in histories.items():
                    if kept.get(aid) == spans and seed.random() < 0.9:
                        histories[aid] = kept[aid]
                before, kept = kept, dict(histories)
                mine, theirs = _split(histories, before, seed)
                expected = oversight.findings(record, mine, rules, free_handles=theirs)
                assert evaluation.findings(record, mine, theirs) == expected, (key, t)
    finally:
        ledger.close()


def _split(
    histories: Mapping[UUID, list[AccountSpan]],
    before: Mapping[UUID, list[AccountSpan]],
    seed: random.Random,
) -> tuple[dict[UUID, list[AccountSpan]], dict[UUID, list[AccountSpan]]]:
    """Histories cut in two at random: the specification answers for any cut, and so must the
    evaluation, whichever side an account was on the time before. Now and then an account is
    on both sides, its spans of the time before among the carriers (the speakers' win)."""
    mine: dict[UUID, list[AccountSpan]] = {}
    theirs: dict[UUID, list[AccountSpan]] = {}
    for aid, spans in histories.items():
        (mine if seed.random() < 0.8 else theirs)[aid] = spans
        if aid in mine and aid in before and seed.random() < 0.1:
            theirs[aid] = before[aid]
    return mine, theirs

"""An office's findings kept in place when only its own accounts change (issue 22, item 7).

`FindingsModel` evaluates a touched office's findings from all of its inputs, at each record
time of a batch: an office account with ten years of daily audience observations costs that
evaluation thousands of spans per append. Most appends do not need it.

An account that has been one office's own from its registration on, and nothing else (no
transfer, ownership change, official use or closure: `derive.Timeline.own`), takes part in the
findings of that office only, and in two ways: its holder runs (`account-not-with-office-holder`)
and the handles it frees (`office-handle-taken`, which needs an account the office does not own
to carry the handle too). It always speaks for the office, so it never changes whether the office
has an account (`no-office-account`), and it is never personal (`personal-account-in-official-
use`, `audience-departed`). So when a batch changes such accounts only, and no account but the
one changing it ever carried a handle of the stretches it changed ("private" handles), the
office's findings can differ only in the holder runs that meet those stretches. Those findings
are evaluated before and after each step, on those runs alone (`oversight.not_with_holder`
reads a run's own spans and the office's tenures, nothing else), and the rows that differ are
closed and opened: the cost follows the stretch the event changed, not the account's length.
Any other batch takes the whole evaluation (`findings.write`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any
from uuid import UUID

import orjson

from ledger import fold, oversight
from ledger.oversight import Finding, OfficeRecord, Rules
from projections.derive import opt_us, to_us
from projections.models import Change, changed_slices, knowledge_runs, row_key, step_splice

Handle = tuple[str, str]  # (platform, handle key)
Step = tuple[int, Sequence[Change]]
"""One step of knowledge of an account: its record time, and its changes then (the holder runs
they changed are found only where a finding may come of them, `_step_rows`)."""
Row = tuple[Any, ...]


def finding_row(f: Finding, jurisdiction: str | None) -> Row:
    """The row of a finding (without its belief range)."""
    body = orjson.dumps(
        {
            "account_id": str(f.account_id) if f.account_id else None,
            "handle": f.handle,
            "holder": [f.holder.id, f.holder.name] if f.holder else None,
            "followers": f.followers,
            "detail": f.detail,
            "established_by": [[str(s), v] for s, v in f.established_by],
        },
        option=orjson.OPT_SORT_KEYS,
    ).decode()
    return (
        f.office, jurisdiction.partition("-")[0] if jurisdiction else None, jurisdiction, f.kind,
        f.ident(), to_us(f.valid_from), opt_us(f.valid_to), body,
    )  # fmt: skip


def _holder(segment: Any) -> Any:
    """An own account's holder runs' key (`oversight`'s, for an account that always speaks for
    its office as its own)."""
    return segment.state.holder


def _opening(segment: Any) -> Any:
    """What a holder run's finding reads of the segment that begins it."""
    return segment.state.handle, segment.state.established_by


def local_steps(changes: Sequence[Change]) -> list[Step]:
    """The steps of one own account's changes in a batch (but the step that registers it: that
    one changes which accounts the office has)."""
    return [
        (to_us(step[-1].fact.recorded_at), step)
        for step in knowledge_runs(changes)
        if step[0].before
    ]


def handles_unmoved(step: Sequence[Change]) -> bool:
    """Whether a step of an account leaves alike all that `office-handle-taken` reads of it,
    for any office: where its platform, handle, status, ownership or office change (so the runs
    of each handle it carries, or frees while an office owns it), and at each such change what
    the segment that begins there says of its owner, holder and facts (a taking's account and
    provenance) and the facts of the segment that ends there (what freed a handle,
    `oversight._ended_by`). Then no office's takings change by the step, and the handles it
    touched need not be looked up (the offices the account names are evaluated anyway)."""
    before, after = step[0].before, step[-1].after
    splice = step_splice(step)
    head, tail = splice.head, splice.tail
    return _turns(before, head, len(before) - tail) == _turns(after, head, len(after) - tail)


def _turns(segments: Sequence[fold.Segment], head: int, stop: int) -> list[tuple[Any, ...]]:
    """`handles_unmoved`'s reading of `segments[head:stop + 1]`, from the segment before."""
    out = []
    previous = segments[head - 1] if head else None
    for segment in segments[head : stop + 1]:
        s = segment.state
        if (
            previous is None
            or previous.valid_to != segment.valid_from
            or _carrying(previous) != _carrying(segment)
        ):
            ended = previous.state.established_by if previous is not None else None
            out.append(
                (segment.valid_from, _carrying(segment), s.owner, s.holder, s.established_by, ended)
            )
        previous = segment
    return out


def _carrying(segment: fold.Segment) -> tuple[Any, ...]:
    """What a segment says of the handle carried and of whom it is (a run's facets)."""
    s = segment.state
    return s.platform, s.handle, s.status, s.ownership, s.office


def private_handles(
    touchers: Mapping[Handle, set[UUID]],
    carriers: Mapping[Handle, set[str]],
    owns: Mapping[UUID, str],
) -> set[Handle]:
    """The handles a batch touched that one own account touched and no other account ever
    carried (`carriers`: the accounts with rows in `rm_handles`, this batch's included)."""
    out = set()
    for handle, who in touchers.items():
        if len(who) != 1:
            continue
        (aid,) = who
        if aid in owns and carriers.get(handle, set()) <= {str(aid)}:
            out.add(handle)
    return out


def local_diff(
    record: OfficeRecord, steps: Mapping[UUID, Step], rules: Rules
) -> tuple[set[str], dict[str, Row]]:
    """What the steps of the office's own accounts at one record time change in its findings:
    the keys of the rows that go, and the rows that come, by key."""
    gone: set[str] = set()
    came: dict[str, Row] = {}
    for aid, (_, step) in steps.items():
        before, after = _step_rows(record, aid, step, rules, record.jurisdiction)
        gone |= before.keys() - after.keys()
        came.update((k, after[k]) for k in after.keys() - before.keys())
    return gone, came


def local_rows(
    record: OfficeRecord, accounts: Mapping[UUID, list[Step]], rules: Rules
) -> tuple[list[Row], list[Row]]:
    """What the steps of the office's own accounts change in `rm_findings`: (closes, inserts),
    as `findings.write` writes them. A row opened and closed again within the batch is inserted
    with its range."""
    closes: list[Row] = []
    inserts: list[Row] = []
    key, jurisdiction = record.office, record.jurisdiction
    for aid, steps in accounts.items():
        opened: dict[str, tuple[Row, int]] = {}
        for t, step in steps:
            before, after = _step_rows(record, aid, step, rules, jurisdiction)
            for k in before.keys() - after.keys():
                if k in opened:
                    row, since = opened.pop(k)
                    inserts.append((*row, k, since, t))
                else:
                    closes.append((t, key, k))
            for k in after.keys() - before.keys():
                opened[k] = (after[k], t)
        inserts += [(*row, k, since, None) for k, (row, since) in opened.items()]
    return closes, inserts


def _step_rows(
    record: OfficeRecord, aid: UUID, step: Sequence[Change], rules: Rules, jurisdiction: str | None
) -> tuple[dict[str, Row], dict[str, Row]]:
    """The rows of the holder runs a step changed, before and after it, by key. Worked out
    in the write transaction, where the office's record is read: only for offices registered."""
    if record.registered_at is None:
        # An office not registered (as known then) has no known tenure at any time, and
        # `account-not-with-office-holder` finds nothing where the tenure is unknown: the
        # accounts of offices recorded before offices existed append without looking for the
        # runs they changed.
        return {}, {}
    was, now = changed_slices(step, _holder, _holder, _opening)
    before = _rows(record, aid, was, rules, jurisdiction)
    return before, _rows(record, aid, now, rules, jurisdiction)


def _rows(
    record: OfficeRecord,
    aid: UUID,
    segments: Sequence[fold.Segment],
    rules: Rules,
    jurisdiction: str | None,
) -> dict[str, Row]:
    if not segments:
        return {}
    spans = oversight.account_spans(aid, segments)
    found = oversight.not_with_holder(record, {aid: spans}, rules)
    rows = (finding_row(f, jurisdiction) for f in found)
    return {row_key(row): row for row in rows}

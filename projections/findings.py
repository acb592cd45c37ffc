"""The findings read model (`rm_findings`): every finding about every office, kept over record
time like the other bitemporal models, so that a findings page is one indexed range read.

A finding rests on several streams (the office's, the accounts that spoke for it, the accounts
that carried its handles), so it is not derived from one stream's timeline as the other models'
rows are. When a batch's events touch an office, the model reads the office's inputs from the
batch's timelines (the batch's accounts) and tables (the rest), as known at each record time of
the batch, runs `ledger.oversight.findings` at each of those times, and writes what changed.
A rebuild runs the same evaluation at every record time at which an office's inputs changed, so
both ways hold the same rows. The rules (settings) are part of the model: when they change, the
model is built again (`Projector.setup`).
"""

from __future__ import annotations

import json
import logging
import math
from bisect import bisect_left
from collections import OrderedDict
from collections.abc import Container, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar
from uuid import UUID

import orjson

from ledger import fold, oversight
from ledger.domain import office_id
from ledger.fold import OFFICE_OWNED, Audience, HolderRef, Ineffective
from ledger.office_fold import OfficeSegment, OfficeState
from ledger.oversight import AccountSpan, Finding, OfficeRecord, Rules
from projections.db import Db, NamedRow
from projections.derive import from_us, to_us
from projections.findings_local import (
    Handle,
    Row,
    Step,
    finding_row,
    handles_unmoved,
    local_diff,
    local_rows,
    local_steps,
    private_handles,
)
from projections.models import (
    BITEMPORAL,
    Change,
    Pending,
    ReadModel,
    Table,
    changed_slices,
    knowledge_runs,
    knowledge_steps,
    row_key,
)

log = logging.getLogger(__name__)

FINDINGS = Table(
    "rm_findings",
    (
        "office",
        "country",
        "jurisdiction",
        "kind",
        "ident",
        "valid_from",
        "valid_to",
        "body",
        *BITEMPORAL,
    ),
    # A page is read in (office, valid_from, kind, ident) order, within a country, a
    # subdivision, or all offices.
    indexes=(
        ("office", "valid_from", "kind", "ident"),
        ("country", "office", "valid_from", "kind", "ident"),
        ("jurisdiction", "office", "valid_from", "kind", "ident"),
    ),
    open_rows=("office", "row_key"),
    binary=("office", "country", "jurisdiction", "kind", "ident"),
)
SETTINGS = Table("rm_settings", ("name", "value"), (), primary_key=("name",))
RULES_SETTING = "findings.rules"
SEEN_SETTING = "findings.seen"  # the latest record time of an event the findings have applied
INPUTS = ("segments", "handles", "office_segments")  # the models the findings read
CHUNK = 128  # offices evaluated together (their inputs in a few queries)
OFFICES_KEPT = 256  # offices whose evaluations a projector keeps from batch to batch
SPANS_KEPT = 200_000  # spans a projector keeps to read again as the same objects
PAIRS = 200  # (platform, handle) pairs looked up at once
OPEN = 2**63 - 1  # a belief's end while it is still held (known_to NULL)
V = TypeVar("V")

SPAN_COLUMNS = (
    "account_id", "valid_from", "valid_to", "platform", "handle", "office", "ownership",
    "owner_id", "owner_name", "holder_id", "holder_name", "status", "followers", "observed_at",
    "audience_by", "established_by",
)  # fmt: skip
OFFICE_COLUMNS = (
    "office", "valid_from", "valid_to", "name", "jurisdiction", "holder_id", "holder_name",
    "holder_since", "established_by", "ineffective", "registered_at", "holder_by",
)  # fmt: skip


# -- rows to the oracle's values (the query service reads the same rows) --------------------


def account_span(r: NamedRow, aid: UUID) -> AccountSpan:
    audience = (
        Audience(int(r["followers"]), from_us(r["observed_at"]), int(r["audience_by"]))
        if r["followers"] is not None
        else None
    )
    return AccountSpan(
        aid,
        from_us(r["valid_from"]),
        None if r["valid_to"] is None else from_us(r["valid_to"]),
        r["platform"],
        r["handle"],
        r["office"],
        r["ownership"] or OFFICE_OWNED,
        HolderRef(r["owner_id"], r["owner_name"]) if r["owner_id"] else None,
        HolderRef(r["holder_id"], r["holder_name"]) if r["holder_id"] else None,
        r["status"],
        audience,
        tuple(orjson.loads(r["established_by"])),
    )


def spans_from_rows(
    rows: Iterable[NamedRow], skip: Container[UUID] = frozenset()
) -> dict[UUID, list[AccountSpan]]:
    """Each account's spans from its segment rows (in valid-time order), but for `skip`'s."""
    out: dict[UUID, list[AccountSpan]] = {}
    ids: dict[str, UUID | None] = {}
    for r in rows:
        text = r["account_id"]
        if text not in ids:
            parsed = UUID(text)
            ids[text] = None if parsed in skip else parsed
        aid = ids[text]
        if aid is not None:
            out.setdefault(aid, []).append(account_span(r, aid))
    return out


def office_segment(r: NamedRow) -> OfficeSegment:
    holder = HolderRef(r["holder_id"], r["holder_name"]) if r["holder_id"] else None
    state = OfficeState(
        office=r["office"],
        name=r["name"],
        jurisdiction=r["jurisdiction"],
        holder=holder,
        holder_since=None if r["holder_since"] is None else from_us(r["holder_since"]),
        registered_at=from_us(r["registered_at"]),
        version=0,  # not stored: no answer here reads it
        established_by=tuple(json.loads(r["established_by"])),
        ineffective=tuple(
            Ineffective(i["version"], i["type"], i["why"]) for i in json.loads(r["ineffective"])
        ),
        holder_by=int(r["holder_by"]),
    )
    return OfficeSegment(
        from_us(r["valid_from"]),
        None if r["valid_to"] is None else from_us(r["valid_to"]),
        state,
    )


def finding_from_row(r: NamedRow) -> Finding:
    body = orjson.loads(r["body"])
    holder = body["holder"]
    return Finding(
        r["kind"],
        r["office"],
        UUID(body["account_id"]) if body["account_id"] else None,
        body["handle"],
        HolderRef(holder[0], holder[1]) if holder else None,
        from_us(r["valid_from"]),
        None if r["valid_to"] is None else from_us(r["valid_to"]),
        body["followers"],
        body["detail"],
        tuple((UUID(s), int(v)) for s, v in body["established_by"]),
    )


def rules_text(rules: Rules) -> str:
    return json.dumps(
        {
            "audience_window_us": rules.audience_window // oversight.US,
            "holder_grace_us": rules.holder_grace // oversight.US,
            "handle_watch_us": rules.handle_watch // oversight.US,
        },
        sort_keys=True,
    )


# -- the inputs of some offices, over record time ---------------------------------------------


@dataclass(frozen=True, slots=True)
class _Known:
    """A row's belief range [known_from, known_to) (microseconds; None: still believed)."""

    known_from: int
    known_to: int | None

    def at(self, t: int) -> bool:
        return self.known_from <= t and (self.known_to is None or t < self.known_to)


@dataclass
class Inputs:
    """What the findings of some offices rest on, every version believed since a record time:
    the offices' segments, and the segments of every account that spoke for one of them or
    carried a handle one of their own accounts carried."""

    offices: dict[str, list[tuple[_Known, OfficeSegment]]] = field(default_factory=dict)
    accounts: dict[UUID, list[tuple[_Known, AccountSpan]]] = field(default_factory=dict)
    _index: _Index | None = None  # built on first use, once every account is in

    def relevant(self, key: str) -> tuple[set[UUID], set[UUID]]:
        """The accounts that ever spoke for `key` (as any record time believed), and those,
        others, that ever carried a handle one of its own accounts carried."""
        if self._index is None:
            self._index = _index(self.accounts)
        speaking, owned, carrying = self._index
        speakers = speaking.get(key, set())
        carriers = {aid for h in owned.get(key, ()) for aid in carrying[h]} - speakers
        return speakers, carriers

    def times(self, key: str, speakers: set[UUID], carriers: set[UUID]) -> list[int]:
        """Every record time at which something the office's findings rest on changed."""
        out: set[int] = set()
        for k, _ in self.offices.get(key, ()):
            out.add(k.known_from)
            if k.known_to is not None:
                out.add(k.known_to)
        for aid in speakers | carriers:
            for k, _ in self.accounts[aid]:
                out.add(k.known_from)
                if k.known_to is not None:
                    out.add(k.known_to)
        return sorted(out)

    def record_at(self, key: str, t: int) -> OfficeRecord:
        """The office's record as known at record time `t`."""
        segments = [s for k, s in self.offices.get(key, ()) if k.at(t)]
        return oversight.office_record(key, office_id(key) if segments else None, segments)


class OfficeMemo:
    """What one office's evaluation keeps: its `oversight.Evaluation` (each account's part, by
    its spans), and the row of each finding it gave (a finding that did not change is the same
    object, and so is its row)."""

    def __init__(self, rules: Rules) -> None:
        self.evaluation = oversight.Evaluation(rules)
        self.rows: dict[int, tuple[Finding, Row]] = {}


class Kept:
    """The `OfficeMemo`s of the offices evaluated most recently, kept from batch to batch.

    A serving projector's batches are a few events each, and each batch reads the inputs of
    the offices it touches anew: without these, every account of such an office would be
    derived again at every batch, the unchanged with the changed. Everything kept is a function
    of the values it was derived from (the evaluation compares the spans it is given with those
    it kept), so nothing kept goes stale: a batch that is rolled back, or a store another
    process writes, only costs a derivation. A memo is taken out while an office is evaluated
    and put back after, so two threads never share one."""

    def __init__(self, rules: Rules, size: int = OFFICES_KEPT) -> None:
        self.rules, self.size = rules, size
        self._memos: OrderedDict[str, OfficeMemo] = OrderedDict()
        self._spans: dict[tuple[Any, ...], AccountSpan] = {}

    def spans(self) -> dict[tuple[Any, ...], AccountSpan]:
        """The spans read before, by row (`Gatherer`); started again when it grows large."""
        if len(self._spans) > SPANS_KEPT:
            self._spans = {}
        return self._spans

    def take(self, key: str) -> OfficeMemo:
        return self._memos.pop(key, None) or OfficeMemo(self.rules)

    def put_back(self, key: str, memo: OfficeMemo) -> None:
        self._memos[key] = memo
        while len(self._memos) > self.size:
            self._memos.popitem(last=False)


class _Office:
    """One office's findings from `Inputs`, at record time after record time: the record and
    each account's spans are the same objects as at the time before while the same rows are
    believed, which is what `oversight.Evaluation` takes to reuse what did not change."""

    def __init__(
        self, inputs: Inputs, key: str, speakers: set[UUID], carriers: set[UUID], memo: OfficeMemo
    ) -> None:
        self.inputs, self.key = inputs, key
        self.speakers, self.carriers = speakers, carriers
        self.memo = memo
        self._record: tuple[int, float, OfficeRecord] | None = None
        self._spans: dict[UUID, tuple[int, float, list[AccountSpan]]] = {}

    def rows_at(self, t: int) -> list[Row]:
        """The rows of the office's findings as known at record time `t` (no belief range)."""
        record = self._record_at(t)
        mine, theirs = self._known_at(self.speakers, t), self._known_at(self.carriers, t)
        found = self.memo.evaluation.findings(record, mine, theirs)
        rows, kept = self.memo.rows, {}
        for f in found:
            kept[id(f)] = rows.get(id(f)) or (f, finding_row(f, record.jurisdiction))
        self.memo.rows = kept
        return [row for _, row in kept.values()]

    def _record_at(self, t: int) -> OfficeRecord:
        kept = self._record
        if kept is None or not kept[0] <= t < kept[1]:
            since, until, segments = _believed(self.inputs.offices.get(self.key, []), t)
            stream = office_id(self.key) if segments else None
            kept = self._record = since, until, oversight.office_record(self.key, stream, segments)
        return kept[2]

    def _known_at(self, ids: set[UUID], t: int) -> dict[UUID, list[AccountSpan]]:
        out = {}
        for aid in ids:
            kept = self._spans.get(aid)
            if kept is None or not kept[0] <= t < kept[1]:
                kept = self._spans[aid] = _believed(self.inputs.accounts[aid], t)
            if kept[2]:
                out[aid] = kept[2]
        return out


def _believed(rows: Sequence[tuple[_Known, V]], t: int) -> tuple[int, float, list[V]]:
    """The values of `rows` believed at record time `t`, and the record times [from, to) over
    which the same rows are believed (no row's belief starts or ends inside)."""
    since: int = NEVER
    until: float = math.inf
    spans = []
    for k, span in rows:
        if k.known_from <= t:
            since = max(since, k.known_from)
            if k.known_to is None or t < k.known_to:
                spans.append(span)
                if k.known_to is not None:
                    until = min(until, k.known_to)
            else:
                since = max(since, k.known_to)
        else:
            until = min(until, k.known_from)
    return since, until, spans


Timelines = dict[UUID, tuple[Sequence[fold.Segment], list[tuple[int, Sequence[fold.Segment]]]]]
"""A batch's accounts: each one's timeline before the batch, and after each step of knowledge
of the batch (its record time, its timeline then)."""
NEVER = -(2**63)  # a belief's start, before any record time


def _versions(
    aid: UUID,
    before: Sequence[fold.Segment],
    steps: list[tuple[int, Sequence[fold.Segment]]],
    needed: Sequence[int] | None = None,
) -> list[tuple[_Known, AccountSpan]]:
    """An account's spans as `Inputs` holds them: before the batch, and after each step; with
    `needed` (record times, in order), only the versions believed at one of those (the times
    evaluated whole: the others read none of it)."""
    out: list[tuple[_Known, AccountSpan]] = []
    starts = [NEVER, *(t for t, _ in steps)]
    ends: list[int | None] = [t for t, _ in steps]
    ends.append(None)
    timelines = [before, *(segments for _, segments in steps)]
    for start, end, segments in zip(starts, ends, timelines, strict=True):
        if needed is not None:
            n = bisect_left(needed, start)
            if n == len(needed) or (end is not None and needed[n] >= end):
                continue
        known = _Known(start, end)
        out += [(known, span) for span in oversight.account_spans(aid, segments)]
    return out


_Index = tuple[dict[str, set[UUID]], dict[str, set[Handle]], dict[Handle, set[UUID]]]


def _index(accounts: Mapping[UUID, Sequence[tuple[_Known, AccountSpan]]]) -> _Index:
    """In one pass over every row: the accounts naming each office, the handles each office's
    own accounts carried, and the accounts carrying each handle."""
    speaking: dict[str, set[UUID]] = {}
    owned: dict[str, set[Handle]] = {}
    carrying: dict[Handle, set[UUID]] = {}
    for aid, rows in accounts.items():
        for _, s in rows:
            handle = (s.platform, s.handle.casefold())
            carrying.setdefault(handle, set()).add(aid)
            if s.office is not None:
                speaking.setdefault(s.office, set()).add(aid)
                if s.ownership == OFFICE_OWNED:
                    owned.setdefault(s.office, set()).add(handle)
    return speaking, owned, carrying


class Gatherer:
    """Reads `Inputs` from the tables named in `names` (live tables, or a rebuild's shadows),
    through a transaction's cursor."""

    def __init__(
        self,
        db: Db,
        names: Mapping[str, str],
        spans: dict[tuple[Any, ...], AccountSpan] | None = None,
    ) -> None:
        self.db = db
        # A span read before, by its row (belief range aside): the same object again, so that
        # an unchanged account's spans compare equal by identity (`oversight.Evaluation`).
        self.spans = spans
        self.offices_table = names["rm_office_segments"]
        self.segments_table = names["rm_segments"]
        self.handles_table = names["rm_handles"]
        self._among = db.among()

    def gather(
        self,
        curs: Any,
        keys: Sequence[str],
        since: int | None,
        batch: Timelines | None = None,
        needed: Sequence[int] | None = None,
    ) -> Inputs:
        """The inputs of the offices `keys`, every row believed at or after `since` (None:
        every row ever); with `batch`, those accounts from their timelines (only as believed
        at the record times `needed`, if given) and the others' open rows (what they believe at
        every time of the batch)."""
        db = self.db
        # Written so that no planner takes `known_to IS NULL` alone to an index of every open
        # row (PostgreSQL did, with `known_to IS NULL OR known_to > %s`, and scanned them all).
        belief = "" if since is None else f" AND COALESCE(known_to, {OPEN}) > %s"
        bp: tuple[Any, ...] = () if since is None else (since,)
        offices, op = _one_of(db, "office", keys)
        inputs = Inputs()
        cols = (*OFFICE_COLUMNS, "known_from", "known_to")
        query = db.sql(
            f"SELECT {', '.join(cols)} FROM {{t}} WHERE {offices}{belief} "
            "ORDER BY office, valid_from",
            t=self.offices_table,
        )
        for row in db.all(curs, query, (*op, *bp)):
            r = dict(zip(cols, row, strict=True))
            inputs.offices.setdefault(r["office"], []).append(
                (_Known(r["known_from"], r["known_to"]), office_segment(r))
            )
        if batch is None:
            among, end = self._among
            self._accounts(
                curs,
                inputs,
                # Every account that ever named one (more accounts change no finding).
                f"{among}SELECT DISTINCT account_id FROM {{t}} WHERE {offices}{end}",
                op,
                belief,
                bp,
            )
        else:
            query = db.sql(
                f"SELECT DISTINCT account_id FROM {{t}} WHERE {offices}", t=self.segments_table
            )
            ids = [str(r[0]) for r in db.all(curs, query, op)]
            self._from_batch(curs, inputs, ids, batch, needed)
        own = sorted(
            {
                (s.platform, s.handle.casefold())
                for rows in inputs.accounts.values()
                for _, s in rows
                if s.ownership == OFFICE_OWNED and s.office in keys
            }
        )
        # The carriers of those handles: usually the offices' own accounts, held already, so
        # their ids are read first and only the others' segments after.
        held = {str(aid) for aid in inputs.accounts}
        others: set[str] = set()
        for begin in range(0, len(own), PAIRS):
            where, pp = _pairs(db, own[begin : begin + PAIRS])
            query = db.sql(
                f"SELECT DISTINCT account_id FROM {{h}} WHERE {where}", h=self.handles_table
            )
            others |= {str(r[0]) for r in db.all(curs, query, pp)} - held
        ids = sorted(others)
        if batch is not None:
            self._from_batch(curs, inputs, ids, batch, needed)
            return inputs
        for begin in range(0, len(ids), PAIRS):
            which, ip = _one_of(db, "account_id", ids[begin : begin + PAIRS])
            self._accounts(curs, inputs, which, ip, belief, bp)
        return inputs

    def _from_batch(
        self,
        curs: Any,
        inputs: Inputs,
        ids: Sequence[str],
        batch: Timelines,
        needed: Sequence[int] | None = None,
    ) -> None:
        """Add the accounts `ids`: the batch's from their timelines, the others' open rows."""
        rest = []
        for text in ids:
            aid = UUID(text)
            if aid in inputs.accounts:
                continue
            if aid in batch:
                inputs.accounts[aid] = _versions(aid, *batch[aid], needed)
            else:
                rest.append(text)
        for begin in range(0, len(rest), PAIRS):
            which, ip = _one_of(self.db, "account_id", rest[begin : begin + PAIRS])
            self._accounts(curs, inputs, which, ip, " AND known_to IS NULL", ())

    def _accounts(
        self, curs: Any, inputs: Inputs, which: str, ids_params: tuple[Any, ...], belief: str,
        bp: tuple[Any, ...],
    ) -> None:  # fmt: skip
        """Add the segments of the accounts `which` (a condition) selects that `inputs` does not
        hold yet."""
        db = self.db
        cols = (*SPAN_COLUMNS, "known_from", "known_to")
        query = db.sql(
            f"SELECT {', '.join(cols)} FROM {{t}} WHERE {which}{belief} "
            "ORDER BY account_id, valid_from",
            t=self.segments_table,
        )
        added: dict[UUID, list[tuple[_Known, AccountSpan]]] = {}
        seen: dict[str, UUID | None] = {}
        interned = self.spans
        for row in db.all(curs, query, (*ids_params, *bp)):
            text = row[0]
            if text not in seen:
                aid = UUID(text)
                seen[text] = None if aid in inputs.accounts else aid
            held = seen[text]
            if held is None:
                continue
            span = None if interned is None else interned.get(row[:-2])
            if span is None:
                span = account_span(dict(zip(cols, row, strict=True)), held)
                if interned is not None:
                    interned[row[:-2]] = span
            added.setdefault(held, []).append((_Known(row[-2], row[-1]), span))
        inputs.accounts.update(added)


# -- the model ------------------------------------------------------------------------------


class FindingsModel(ReadModel):
    """`rm_findings`: see the module's docstring. `apply` notes which offices (and handles) a
    batch touches, at which record times; `flush`, after the per-stream models have written
    the batch, evaluates and writes (so it must come last in `MODELS`)."""

    name = "findings"
    kind = "any"
    table = FINDINGS

    def __init__(self, rules: Rules | None = None) -> None:
        self.rules = rules or Rules()
        self.kept = Kept(self.rules)

    def takes(self, kind: str) -> bool:
        return kind != "dispute"  # accounts' and offices' events; a dispute changes no finding

    def apply(self, changes: Sequence[Change], pending: Pending) -> None:
        # Touches go in `pending.updates`: ("office", key, t), ("handle", platform, key, t,
        # account), ("own", key, account, steps) (`findings_local`) and ("stream", ...).
        times = sorted({to_us(c.fact.recorded_at) for c in changes})
        first = changes[0]
        if first.office is not None:
            pending.updates.extend(("office", first.office, t) for t in times)
            return
        aid = first.account_id
        # Every office the account ever named: its findings read all of the account's history.
        # The handles of the stretches the batch changed (and of the segment before each, whose
        # run they may end): another office's `office-handle-taken` may rest on those, and on
        # no other; none of a step that leaves all of that alike (`handles_unmoved`).
        offices: set[str] = set(changes[-1].offices)
        handles: set[tuple[str, str]] = set()
        own = changes[-1].own
        for step in knowledge_runs(changes):
            unmoved = bool(step[0].before) and handles_unmoved(step)
            if unmoved and own is not None:
                continue  # every segment of an own account names its office (`Timeline.own`)
            for part in changed_slices(step, None):
                for seg in part:
                    s = seg.state
                    if s.office is not None:
                        offices.add(s.office)
                    if not unmoved:
                        handles.add((s.platform, s.handle.casefold()))
        if own is not None:  # its office's own: its steps after its registration, apart
            mine = local_steps(changes)
            if mine:
                pending.updates.append(("own", own, aid, mine))
            apart = {t for t, _ in mine}
            pending.updates.extend(("office", own, t) for t in times if t not in apart)
            offices.discard(own)
        pending.updates.extend(("office", key, t) for key in offices for t in times)
        pending.updates.extend(("handle", p, k, t, aid) for p, k in handles for t in times)
        # The account's timeline before the batch and after each of its steps of knowledge:
        # the evaluation reads these instead of the rows just written (`Timelines`).
        steps = [(to_us(last.fact.recorded_at), last.after) for _, last in knowledge_steps(changes)]
        pending.updates.append(("stream", first.account_id, first.before, steps))

    def flush(self, db: Db, curs: Any, names: dict[str, str], pending: Pending) -> None:
        touched: dict[str, set[int]] = {}
        by_handle: dict[Handle, set[int]] = {}
        touchers: dict[Handle, set[UUID]] = {}  # the accounts that touched each handle
        own: dict[str, dict[UUID, list[Step]]] = {}  # office -> its own accounts' steps
        owns: dict[UUID, str] = {}  # those accounts -> their office
        timelines: Timelines = {}
        latest: int | None = None  # the batch's latest record time
        for touch in pending.updates:
            if touch[0] == "office":
                touched.setdefault(touch[1], set()).add(touch[2])
                latest = touch[2] if latest is None else max(latest, touch[2])
            elif touch[0] == "handle":
                by_handle.setdefault((touch[1], touch[2]), set()).add(touch[3])
                touchers.setdefault((touch[1], touch[2]), set()).add(touch[4])
            elif touch[0] == "own":
                own.setdefault(touch[1], {})[touch[2]] = touch[3]
                owns[touch[2]] = touch[1]
            else:
                timelines[touch[1]] = (touch[2], touch[3])
                last = touch[3][-1][0]  # its last step's record time
                latest = last if latest is None else max(latest, last)
        level, seen = _state(db, curs, self.name)
        batch = timelines if level else None
        carried = _carried(db, curs, names, sorted(by_handle))
        private = private_handles(touchers, _carriers(carried), owns)
        others = {h: times for h, times in by_handle.items() if h not in private}
        for key, times in _handle_owners(db, curs, names, others, carried, batch, owns).items():
            touched.setdefault(key, set()).update(times)
        # A record time at which an office's own accounts alone changed it, through private
        # handles only, is kept in place (`findings_local`); any other touch of it at that time
        # and it is evaluated whole. An office with no other time needs no inputs read at all.
        apart: dict[str, dict[int, dict[UUID, Step]]] = {}
        touched_by: dict[UUID, set[Handle]] = {}  # account -> the handles it touched
        for handle, who in touchers.items():
            for aid in who:
                touched_by.setdefault(aid, set()).add(handle)
        for key, accounts in own.items():  # first every time that is evaluated whole
            handles = set().union(*(touched_by.get(aid, ()) for aid in accounts))
            for steps in accounts.values():
                for t, _ in steps:
                    if not (level and handles <= private and (seen is None or t > seen)):
                        touched.setdefault(key, set()).add(t)
        for key, accounts in own.items():
            for aid, steps in accounts.items():
                for step in steps:
                    if step[0] not in touched.get(key, ()):
                        apart.setdefault(key, {}).setdefault(step[0], {})[aid] = step
        local = {
            key: {
                aid: [at[aid] for _, at in sorted(times.items()) if aid in at] for aid in own[key]
            }
            for key, times in apart.items()
            if key not in touched
        }
        for key, at in apart.items():
            if key in touched:  # evaluated whole at its other times, in place at these
                touched[key].update(at)
        _see(db, curs, latest, seen)  # every event's, touching an office or not
        if local:
            write_local(db, curs, names, self.rules, local)
        if not touched:
            return
        first = min(min(times) for times in touched.values())
        if seen is not None and first < seen:
            # Recorded before what the findings already hold (a restore whose log order is
            # not its record times' order, a clock stepped back): the rows of these offices
            # from that time on rested on less than was known then. Their whole history is
            # evaluated again, from every input row.
            for chunk in _chunks(sorted(touched), CHUNK):
                offices, op = _one_of(db, "office", chunk)
                delete = db.sql(f"DELETE FROM {{t}} WHERE {offices}", t=names[FINDINGS.name])
                db.execute(curs, delete, op)
            write(db, curs, names, self.rules, dict.fromkeys(touched))
        else:
            # A batch recorded at the latest time applied (transactions sharing a record time;
            # a stream's time held when the clock stepped back) evaluates that time again.
            again = seen if first == seen else None
            inside = {k: times for k, times in apart.items() if k in touched}
            write(db, curs, names, self.rules, touched, batch, again, inside, self.kept)

    def history(
        self, account_id: UUID, facts: Sequence[fold.Fact], changes: Sequence[Change]
    ) -> dict[str, list[tuple[Any, ...]]]:
        return {}  # a rebuild builds the findings after the other models: `rebuild`

    def rebuild(self, db: Db, names: Mapping[str, str]) -> int:
        """Every finding of every office over record time into `names`' tables (a rebuild's
        shadows, empty, which nobody else writes): read and evaluated outside any transaction,
        an office at a time, each office's rows written in a short one. The number of
        offices."""
        table = names[FINDINGS.name]
        with db.reader() as curs:
            keys = _all_offices(db, curs, names)
        gatherer = Gatherer(db, names)
        for chunk in _chunks(keys, CHUNK):
            with db.reader() as curs:
                inputs = gatherer.gather(curs, chunk, None)
            rows = _evaluate(chunk, inputs, dict.fromkeys(chunk), self.rules, {}, {}, None)[2]
            with db.transaction(maintenance=True) as curs:
                db.insert_rows(curs, table, FINDINGS.columns, rows)
        with db.transaction(maintenance=True) as curs:
            _see(db, curs, _latest_input(db, curs, names))
        return len(keys)

    def rebuild_in_place(
        self, db: Db, curs: Any, names: Mapping[str, str], built: Built | None = None
    ) -> int:
        """In a transaction holding the tracking rows' lock: rebuild the findings from the
        live tables of the models they read and move the findings to those models' position,
        or, when those are at different positions (one rebuilt from 0 meanwhile), empty them
        to be kept again from the start of the log. `built`: the rows `evaluate_all` found
        before the lock was taken, written as they are if the models have not moved since
        (else they are evaluated here). Returns the offices built."""
        positions = _positions(db, curs)
        db.execute(curs, db.sql("DELETE FROM {t}", t=FINDINGS.name))
        db.execute(
            curs, db.sql("DELETE FROM {t} WHERE name = %s", t=SETTINGS.name), (SEEN_SETTING,)
        )
        at = {positions.get(n) for n in INPUTS}
        position, built_offices = 0, 0
        if len(at) == 1 and None not in at:
            if built is not None and all(built.positions[n] == positions[n] for n in INPUTS):
                db.insert_rows(curs, names[FINDINGS.name], FINDINGS.columns, built.rows)
                _see(db, curs, built.seen)
                built_offices = built.offices
            else:
                keys = _all_offices(db, curs, names)
                write(db, curs, names, self.rules, dict.fromkeys(keys))
                _see(db, curs, _latest_input(db, curs, names))
                built_offices = len(keys)
            position = int(at.pop() or 0)
        update = db.sql("UPDATE {t} SET position = %s WHERE name = %s", t="rm_tracking")
        db.execute(curs, update, (position, self.name))
        return built_offices


def _state(db: Db, curs: Any, name: str) -> tuple[bool, int | None]:
    """In one read: whether the findings model is where the models it reads are, and the latest
    record time it applied. Level, the rows of an account the batch does not touch are its open
    ones at every record time of the batch (behind, as while it is kept again from the start,
    it reads them as known at each time)."""
    query = db.sql(
        "SELECT name, CAST(position AS TEXT) FROM {t} "
        "UNION ALL SELECT name, value FROM {s} WHERE name = %s",
        t="rm_tracking",
        s=SETTINGS.name,
    )
    rows = dict(db.all(curs, query, (SEEN_SETTING,)))
    seen = rows.pop(SEEN_SETTING, None)
    mine = rows.get(name)
    level = mine is not None and all(rows.get(n) == mine for n in INPUTS)
    return level, None if seen is None else int(seen)


def _one_of(db: Db, column: str, values: Sequence[Any]) -> tuple[str, tuple[Any, ...]]:
    """`column` is one of `values`: one array parameter on PostgreSQL (one statement, prepared
    once, whatever the count), a list of them on SQLite."""
    if db.kind == "postgres":
        return f"{column} = ANY(%s)", (list(values),)
    return f"{column} IN ({', '.join(['%s'] * len(values))})", tuple(values)


def _pairs(db: Db, pairs: Sequence[Handle]) -> tuple[str, tuple[Any, ...]]:
    """(platform, handle_key) is one of `pairs`. On PostgreSQL two arrays: a long OR list costs
    more to plan than to run, and is a new statement for every count."""
    if db.kind == "postgres":
        return (
            "(platform, handle_key) IN (SELECT * FROM unnest(%s::text[], %s::text[]))",
            ([p for p, _ in pairs], [k for _, k in pairs]),
        )
    where = " OR ".join(["(platform = %s AND handle_key = %s)"] * len(pairs))
    return f"({where})", tuple(v for p in pairs for v in p)


def _carried(
    db: Db, curs: Any, names: Mapping[str, str], pairs: Sequence[Handle]
) -> dict[str, set[Handle]]:
    """Account id -> the handles of `pairs` it ever carried (rows of `rm_handles`, as any
    record time believed)."""
    carried: dict[str, set[Handle]] = {}
    for begin in range(0, len(pairs), PAIRS):
        where, pp = _pairs(db, pairs[begin : begin + PAIRS])
        query = db.sql(
            f"SELECT DISTINCT account_id, platform, handle_key FROM {{h}} WHERE {where}",
            h=names["rm_handles"],
        )
        for aid, platform, key in db.all(curs, query, pp):
            carried.setdefault(str(aid), set()).add((platform, key))
    return carried


def _carriers(carried: Mapping[str, set[Handle]]) -> dict[Handle, set[str]]:
    out: dict[Handle, set[str]] = {}
    for aid, handles in carried.items():
        for handle in handles:
            out.setdefault(handle, set()).add(aid)
    return out


def _handle_owners(
    db: Db,
    curs: Any,
    names: Mapping[str, str],
    by_handle: dict[Handle, set[int]],
    carried: Mapping[str, set[Handle]],
    batch: Timelines | None,
    owns: Mapping[UUID, str],
) -> dict[str, set[int]]:
    """The offices whose own accounts ever carried one of the handles, with the handles'
    record times: a batch that touches a handle may touch their `office-handle-taken`. The
    carriers come from `rm_handles` (`carried`); the batch's own accounts' offices from their
    timelines (an account that was only ever its office's own: that office), the others' from
    their segments."""
    out: dict[str, set[int]] = {}

    def owned(office: str | None, ownership: str | None, handle: Handle, aid: str) -> None:
        if office is None or (ownership or OFFICE_OWNED) != OFFICE_OWNED:
            return
        if handle in by_handle and handle in carried[aid]:
            out.setdefault(office, set()).update(by_handle[handle])

    rest = []
    for aid in carried:
        if not carried[aid].intersection(by_handle):
            continue
        office = owns.get(UUID(aid))
        if office is not None:
            for handle in carried[aid]:
                owned(office, OFFICE_OWNED, handle, aid)
            continue
        timeline = batch.get(UUID(aid)) if batch is not None else None
        if timeline is None:
            rest.append(aid)
            continue
        before, steps = timeline
        for segments in (before, *(segments for _, segments in steps)):
            for seg in segments:
                st = seg.state
                owned(st.office, st.ownership, (st.platform, st.handle.casefold()), aid)
    for begin in range(0, len(rest), PAIRS):
        which, ip = _one_of(db, "account_id", rest[begin : begin + PAIRS])
        query = db.sql(
            "SELECT DISTINCT account_id, office, ownership, platform, handle_key FROM {t} "
            f"WHERE {which} AND office IS NOT NULL",
            t=names["rm_segments"],
        )
        for aid, office, ownership, platform, key in db.all(curs, query, ip):
            owned(office, ownership, (platform, key), str(aid))
    return out


def write_local(
    db: Db,
    curs: Any,
    names: Mapping[str, str],
    rules: Rules,
    local: Mapping[str, Mapping[UUID, list[Step]]],
) -> None:
    """Keep the findings of offices whose own accounts alone changed (`findings_local`): each
    office's record as believed now (the batch does not change it), then the rows that differ."""
    table = names[FINDINGS.name]
    keys = sorted(local)
    segments: dict[str, list[OfficeSegment]] = {}
    for chunk in _chunks(keys, CHUNK):
        offices, op = _one_of(db, "office", chunk)
        query = db.sql(
            f"SELECT {', '.join(OFFICE_COLUMNS)} FROM {{t}} WHERE {offices} "
            "AND known_to IS NULL ORDER BY office, valid_from",
            t=names["rm_office_segments"],
        )
        for row in db.all(curs, query, op):
            r = dict(zip(OFFICE_COLUMNS, row, strict=True))
            segments.setdefault(r["office"], []).append(office_segment(r))
    closes: list[tuple[Any, ...]] = []
    inserts: list[tuple[Any, ...]] = []
    for key in keys:
        mine = segments.get(key, [])
        record = oversight.office_record(key, office_id(key) if mine else None, mine)
        c, i = local_rows(record, local[key], rules)
        closes += c
        inserts += i
    db.close_rows(curs, table, "office", closes)
    db.insert_rows(curs, table, FINDINGS.columns, inserts)


def _all_offices(db: Db, curs: Any, names: Mapping[str, str]) -> list[str]:
    query = db.sql(
        "SELECT office FROM {o} UNION SELECT office FROM {s} WHERE office IS NOT NULL",
        o=names["rm_office_segments"],
        s=names["rm_segments"],
    )
    return sorted({str(r[0]) for r in db.all(curs, query)})


def write(
    db: Db,
    curs: Any,
    names: Mapping[str, str],
    rules: Rules,
    touched: Mapping[str, set[int] | None],
    timelines: Timelines | None = None,
    again: int | None = None,
    apart: Mapping[str, Mapping[int, Mapping[UUID, Step]]] | None = None,
    kept: Kept | None = None,
) -> int | None:
    """Evaluate each touched office's findings at its record times (None: at every record time
    its inputs changed, from an empty table) and write the rows that open and close. Given the
    batch's `timelines`, its accounts are read from them and the others' open rows only.
    `again` is a record time the table was evaluated at already: a row an earlier transaction
    of that time closed and this evaluation finds again is opened again, not started anew (a
    rebuild, evaluating that time once, sees it believed throughout). `apart`: the times at
    which only an office's own accounts changed it, with their steps (`findings_local`),
    evaluated on those alone. `kept`: the offices' memos from earlier batches (`Kept`).
    Returns the latest record time evaluated (None: none)."""
    latest: int | None = None
    gatherer = Gatherer(db, names, None if kept is None else kept.spans())
    table = names[FINDINGS.name]
    keys = sorted(touched)
    close = db.sql(
        "UPDATE {t} SET known_to = %s WHERE office = %s AND row_key = %s AND known_to IS NULL",
        t=table,
    )
    reopen = db.sql(
        "UPDATE {t} SET known_to = NULL WHERE office = %s AND row_key = %s AND known_to = %s",
        t=table,
    )
    for chunk in _chunks(keys, CHUNK):
        given = [touched[k] for k in chunk]
        since = None if any(t is None for t in given) else min(min(t) for t in given if t)
        # The batch's accounts are read as believed at the times evaluated whole only.
        whole = [t for k in chunk for t in touched[k] or () if t not in (apart or {}).get(k, {})]
        needed = sorted(set(whole)) if all(touched[k] is not None for k in chunk) else None
        inputs = gatherer.gather(curs, chunk, since, timelines, needed)
        believed = _open_rows(db, curs, table, chunk) if since is not None else {}
        ended = _rows_ended(db, curs, table, chunk, again) if again is not None else {}
        reopens, closes, inserts, last = _evaluate(
            chunk, inputs, touched, rules, believed, ended, again, apart or {}, kept
        )
        if last is not None:
            latest = last if latest is None else max(latest, last)
        db.executemany(curs, reopen, reopens)  # first: a row opened again may close later
        db.executemany(curs, close, closes)
        if closes:
            # A row opened and closed at one record time (two transactions sharing it) was
            # never believed: a rebuild does not write it, nor is it kept.
            offices, op = _one_of(db, "office", chunk)
            empty = db.sql(f"DELETE FROM {{t}} WHERE {offices} AND known_from = known_to", t=table)
            db.execute(curs, empty, op)
        db.insert_rows(curs, table, FINDINGS.columns, inserts)
    return latest


Rows = list[tuple[Any, ...]]


def _evaluate(
    chunk: Sequence[str],
    inputs: Inputs,
    touched: Mapping[str, set[int] | None],
    rules: Rules,
    believed: Mapping[str, set[str]],
    ended: Mapping[str, set[str]],
    again: int | None,
    apart: Mapping[str, Mapping[int, Mapping[UUID, Step]]] = {},
    kept: Kept | None = None,
) -> tuple[Rows, Rows, Rows, int | None]:
    """`write`'s evaluation of some offices from their inputs, pure: the rows it reopens,
    closes and inserts, and the latest record time it evaluated. `kept`: the offices' memos
    from earlier batches, taken and put back."""
    latest: int | None = None
    reopens: Rows = []
    closes: Rows = []
    inserts: Rows = []
    for key in chunk:
        speakers, carriers = inputs.relevant(key)
        times = touched[key]
        at = sorted(times) if times is not None else inputs.times(key, speakers, carriers)
        current: dict[str, tuple[Any, ...]] = dict.fromkeys(believed.get(key, ()), ())
        opened: dict[str, tuple[tuple[Any, ...], int]] = {}
        if at:
            latest = at[-1] if latest is None else max(latest, at[-1])
        local = apart.get(key, {})
        memo = kept.take(key) if kept is not None else OfficeMemo(rules)
        office = _Office(inputs, key, speakers, carriers, memo)
        for t in at:
            if t in local:  # only its own accounts changed it: those changes alone
                gone, came = local_diff(inputs.record_at(key, t), local[t], rules)
                for k in gone:
                    current.pop(k, None)
                    if k in opened:
                        row, since_t = opened.pop(k)
                        inserts.append((*row, k, since_t, t))
                    else:
                        closes.append((t, key, k))
                for k, row in came.items():
                    current[k] = row
                    opened[k] = (row, t)
                continue
            rows = {row_key(row): row for row in office.rows_at(t)}
            for k in current.keys() - rows.keys():
                if k in opened:
                    row, since_t = opened.pop(k)
                    inserts.append((*row, k, since_t, t))
                else:
                    closes.append((t, key, k))
            for k in rows.keys() - current.keys():
                if t == again and k in ended.get(key, ()):
                    reopens.append((key, k, t))
                else:
                    opened[k] = (rows[k], t)
            current = rows
        if kept is not None:
            kept.put_back(key, memo)
        inserts += [(*row, k, since_t, None) for k, (row, since_t) in opened.items()]
    return reopens, closes, inserts, latest


@dataclass
class Built:
    """Every finding of every office over record time, evaluated from the tables of the models
    the findings read while those stood at `positions` (`evaluate_all`)."""

    positions: dict[str, int]
    rows: Rows
    seen: int | None  # the latest record time of the inputs
    offices: int


def evaluate_all(db: Db, names: Mapping[str, str], rules: Rules) -> Built | None:
    """The findings a rebuild writes, read and evaluated outside any transaction: an office
    whose accounts have long histories takes as long to evaluate as it takes, and PostgreSQL
    ends a transaction left idle for `idle_in_transaction_session_timeout` (eventsourcing
    sets 5 s). Read in steps, so the models it reads must not move meanwhile: None if their
    positions differed, or moved while it read (a projector, a rebuild), and the caller
    evaluates under the tracking rows' lock instead."""
    with db.reader() as curs:
        positions = _positions(db, curs)
        keys = _all_offices(db, curs, names)
    if len({positions.get(n) for n in INPUTS}) != 1 or None in {positions.get(n) for n in INPUTS}:
        return None
    rows: Rows = []
    gatherer = Gatherer(db, names)
    for chunk in _chunks(keys, CHUNK):
        with db.reader() as curs:
            inputs = gatherer.gather(curs, chunk, None)
        rows += _evaluate(chunk, inputs, dict.fromkeys(chunk), rules, {}, {}, None)[2]
    with db.reader() as curs:
        seen = _latest_input(db, curs, names)
        if {n: _positions(db, curs).get(n) for n in INPUTS} != {n: positions[n] for n in INPUTS}:
            return None
    return Built(positions, rows, seen, len(keys))


def _positions(db: Db, curs: Any) -> dict[str, int]:
    query = db.sql("SELECT name, position FROM {t}", t="rm_tracking")
    return {str(name): int(position) for name, position in db.all(curs, query)}


def _latest_input(db: Db, curs: Any, names: Mapping[str, str]) -> int | None:
    """The latest record time of the findings' inputs: a belief's end too (a retracted
    registration ends rows and starts none), or a batch recorded before it would look in
    order."""
    query = db.sql(
        "SELECT MAX(known_from), MAX(known_to) FROM {s} "
        "UNION ALL SELECT MAX(known_from), MAX(known_to) FROM {o}",
        s=names["rm_segments"],
        o=names["rm_office_segments"],
    )
    return max((int(t) for r in db.all(curs, query) for t in r if t is not None), default=None)


def _open_rows(db: Db, curs: Any, table: str, keys: Sequence[str]) -> dict[str, set[str]]:
    offices, op = _one_of(db, "office", keys)
    query = db.sql(
        f"SELECT office, row_key FROM {{t}} WHERE {offices} AND known_to IS NULL", t=table
    )
    out: dict[str, set[str]] = {}
    for office, key in db.all(curs, query, op):
        out.setdefault(office, set()).add(key)
    return out


def _rows_ended(db: Db, curs: Any, table: str, keys: Sequence[str], t: int) -> dict[str, set[str]]:
    """The rows of the offices `keys` believed before record time `t` and not from it on."""
    offices, op = _one_of(db, "office", keys)
    query = db.sql(
        f"SELECT office, row_key FROM {{t}} WHERE {offices} AND known_to = %s AND known_from < %s",
        t=table,
    )
    out: dict[str, set[str]] = {}
    for office, key in db.all(curs, query, (*op, t, t)):
        out.setdefault(office, set()).add(key)
    return out


def _chunks(keys: Sequence[str], size: int) -> Iterator[Sequence[str]]:
    for begin in range(0, len(keys), size):
        yield keys[begin : begin + size]


def _setting(db: Db, curs: Any, name: str) -> str | None:
    row = db.one(curs, db.sql("SELECT value FROM {t} WHERE name = %s", t=SETTINGS.name), (name,))
    return None if row is None else str(row[0])


def _set(db: Db, curs: Any, name: str, value: str) -> None:
    upsert = db.sql(
        "INSERT INTO {t} (name, value) VALUES (%s, %s) "
        "ON CONFLICT (name) DO UPDATE SET value = excluded.value",
        t=SETTINGS.name,
    )
    db.execute(curs, upsert, (name, value))


def rules_differ(db: Db, rules: Rules) -> bool:
    """Whether the findings were built under other rules (or never), as read now (no lock:
    `rules_changed` says it again, under one)."""
    with db.reader() as curs:
        return _setting(db, curs, RULES_SETTING) != rules_text(rules)


def rules_changed(db: Db, curs: Any, rules: Rules) -> bool:
    """Whether the findings were built under other rules (or never), noting these as theirs."""
    text = rules_text(rules)
    if _setting(db, curs, RULES_SETTING) == text:
        return False
    _set(db, curs, RULES_SETTING, text)
    return True


def _seen(db: Db, curs: Any) -> int | None:
    value = _setting(db, curs, SEEN_SETTING)
    return None if value is None else int(value)


def _see(db: Db, curs: Any, t: int | None, seen: int | None = None) -> None:
    """Note `t` as the latest record time applied, if it is later than the one noted (`seen`,
    when the caller has just read it)."""
    seen = _seen(db, curs) if seen is None else seen
    if t is not None and (seen is None or t > seen):
        _set(db, curs, SEEN_SETTING, str(t))

"""How an answer changed, from the bitemporal read models (`rm_custody`, `rm_handles`,
`rm_office_segments`) and the event log model (`rm_events`).

A row is believed over `[known_from, known_to)` of record time, so the answer about a window
of valid time changes only where a row that overlaps the window starts or stops being
believed. Each answer reads its rows once, sweeps those breakpoints in order with the rows
believed from each on, and keeps the breakpoints where those rows, cut to the window, compare
unlike the ones before (`ledger.changes`' comparison: provenance aside); one more query reads
the event records the versions name. The oracle is `ledger.changes`.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Hashable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Generic, TypeVar
from uuid import UUID

from ledger import changes, office_fold
from ledger.changes import Carried, Window
from ledger.commands import handle_key, normalize_handle, require_utc
from ledger.domain import office_id
from ledger.errors import HandleNotFound, InvalidInput, OfficeNotFound
from ledger.fold import CustodyInterval, HolderRef
from ledger.office_fold import OfficeSegment, Tenure
from ledger.records import EventRecord
from projections.db import Db, NamedRow
from projections.derive import from_us, to_us
from projections.findings import office_segment
from projections.models import (
    CustodyIntervals,
    EventLog,
    HandleHistory,
    OfficeSegments,
    Segments,
    Table,
)
from projections.queries.common import Reading, opt_time, select_list
from projections.queries.events import EventLogQueries, event_record
from projections.queries.offices import check_office
from projections.queries.views import (
    ChangeVersion,
    CustodyChanges,
    CustodyIntervalView,
    HandleChanges,
    HandleIntervalView,
    Provenance,
    TenureChanges,
    TenureSpanView,
)

CUSTODY = CustodyIntervals.table
HANDLES = HandleHistory.table
OFFICES = OfficeSegments.table
SEGMENTS = Segments.table
EVENTS = EventLog.table
# Rows that some record time believed: a row opened and closed at one record time was not.
EVER_BELIEVED = "(known_to IS NULL OR known_to > known_from)"
OVERLAPS = "valid_from < %s AND (valid_to IS NULL OR valid_to > %s)"

T = TypeVar("T")
A = TypeVar("A")
V = TypeVar("V")


@dataclass(frozen=True, slots=True)
class Belief(Generic[T]):
    """A read-model row as a value of the fold's kind, and the record times it was believed
    over, `[known_from, known_to)` in microseconds (None: still believed)."""

    known_from: int
    known_to: int | None
    value: T


class ChangeQueries:
    def __init__(self, reading: Reading, events: EventLogQueries) -> None:
        self.reading = reading
        self.db = db = reading.db
        self.events = events
        self._custody = db.sql(
            _rows(CUSTODY) + f"account_id = %s AND {OVERLAPS} AND {EVER_BELIEVED}", t=CUSTODY.name
        )
        self._handles = db.sql(
            _rows(HANDLES) + f"platform = %s AND handle_key = %s AND {EVER_BELIEVED}",
            t=HANDLES.name,
        )
        self._offices = db.sql(_rows(OFFICES) + f"office = %s AND {EVER_BELIEVED}", t=OFFICES.name)
        self._named = db.sql("SELECT 1 FROM {t} WHERE office = %s LIMIT 1", t=SEGMENTS.name)
        self._records = db.sql(
            "SELECT " + select_list(EVENTS) + " FROM {t} WHERE " + _among(db, "account_id")
            + " AND (" + " OR ".join(_among(db, c) for c in ("recorded_at", "retracted_at",
                                                              "version"))
            + ")",
            t=EVENTS.name,
        )  # fmt: skip

    # -- answers ------------------------------------------------------------------------------

    def custody_changes(self, account_id: UUID, from_: datetime, to: datetime) -> CustodyChanges:
        """Each record time at which the account's holder intervals in [from_, to) changed."""
        window = _window(from_, to)
        params = (str(account_id), to_us(window.valid_to), to_us(window.valid_from))
        with self.reading.cursor() as c:
            rows = self.db.rows(c, self._custody, params)
            if not rows:
                self.events.require_account(c, account_id)
            # Each row cut to the window once: the versions share the intervals they repeat.
            beliefs = [_belief(r, _custody_interval(r, window)) for r in rows]
            found = _sweep(
                beliefs, _times(beliefs), lambda ivs: sorted(ivs, key=_start), changes.custody_key
            )
            cited = self._cite(c, [account_id], found, lambda iv: [(account_id, iv.established_by)])
        return CustodyChanges(
            account_id,
            window,
            cited.versions(
                found,
                lambda iv: CustodyIntervalView(
                    account_id, iv.holder, iv.valid_from, iv.valid_to, iv.handles, iv.offices,
                    cited.of(account_id, iv.established_by),
                ),
            ),
        )  # fmt: skip

    def handle_changes(
        self, platform: str, handle: str, from_: datetime, to: datetime
    ) -> HandleChanges:
        """Each record time at which the accounts carrying the handle in [from_, to) changed,
        across every account that ever carried it."""
        key = _key(handle)
        window = _window(from_, to)
        with self.reading.cursor() as c:
            rows = self.db.rows(c, self._handles, (platform, key))
            if not rows:
                raise HandleNotFound(platform, normalize_handle(handle))
            streams = sorted({UUID(r["account_id"]) for r in rows})
            self.reading.check(*streams)
            beliefs = [
                _belief(r, _carried(r, window))
                for r in rows
                if window.overlaps(from_us(r["valid_from"]), opt_time(r["valid_to"]))
            ]
            found = _sweep(
                beliefs,
                _times(beliefs),
                lambda ivs: sorted(ivs, key=changes.carried_order),
                changes.carried_key,
            )
            cited = self._cite(c, streams, found, lambda iv: [(iv.account_id, iv.established_by)])
        return HandleChanges(
            platform,
            normalize_handle(handle),
            window,
            cited.versions(
                found,
                lambda iv: HandleIntervalView(
                    iv.account_id, iv.handle, iv.valid_from, iv.valid_to,
                    cited.of(iv.account_id, iv.established_by),
                ),
            ),
        )  # fmt: skip

    def tenure_changes(self, office: str, from_: datetime, to: datetime) -> TenureChanges:
        """Each record time at which the office's tenures in [from_, to) changed."""
        office = check_office(office)
        window = _window(from_, to)
        stream = office_id(office)
        with self.reading.cursor() as c:
            rows = self.db.rows(c, self._offices, (office,))
            if not rows and self.db.row(c, self._named, (office,)) is None:
                raise OfficeNotFound(office)
            self.reading.check(stream)
            beliefs = [_belief(r, office_segment(r)) for r in rows]
            # Only segments in the window change the answer there; the whole timeline gives
            # each tenure its provenance (the events that began and ended it).
            inside = [b for b in beliefs if window.overlaps(b.value.valid_from, b.value.valid_to)]
            cut: dict[Tenure, Tenure] = {}  # each tenure cut once, however many versions have it

            def in_window(segments: list[OfficeSegment]) -> list[Tenure]:
                out = []
                for t in office_fold.tenures(sorted(segments, key=_start)):
                    if window.overlaps(t.valid_from, t.valid_to):
                        if t not in cut:
                            start, end = window.clip(t.valid_from, t.valid_to)
                            cut[t] = Tenure(t.holder, start, end, t.established_by)
                        out.append(cut[t])
                return out

            found = _sweep(beliefs, _times(inside), in_window, changes.tenure_key)
            cited = self._cite(c, [stream], found, lambda t: [(stream, t.established_by)])
        return TenureChanges(
            office,
            window,
            cited.versions(
                found,
                lambda t: TenureSpanView(
                    t.holder, t.valid_from, t.valid_to, cited.of(stream, t.established_by)
                ),
            ),
        )

    # -- the event records --------------------------------------------------------------------

    def _cite(
        self,
        c: Any,
        streams: Sequence[UUID],
        found: Sequence[tuple[int, list[A]]],
        behind: Callable[[A], Iterable[tuple[UUID, Sequence[int]]]],
    ) -> Cited:
        """In one query, the records of `streams` recorded or retracted at the versions' times
        and those behind their intervals (`behind`: (stream, versions) of one interval)."""
        if not found:
            return Cited({}, {})
        times = sorted({k for k, _ in found})
        distinct = {id(iv): iv for _, ivs in found for iv in ivs}.values()
        wanted = {(s, v) for iv in distinct for s, vs in behind(iv) for v in vs}
        params = (
            _values(self.db, [str(s) for s in streams]),
            _values(self.db, times),
            _values(self.db, times),
            _values(self.db, sorted({v for _, v in wanted})),
        )
        ids = {str(s): s for s in streams}
        by_time: dict[int, dict[tuple[UUID, int], EventRecord]] = {k: {} for k in times}
        provenance: dict[tuple[UUID, int], Provenance] = {}
        for r in self.db.rows(c, self._records, params):
            stream, version = ids[r["account_id"]], r["version"]
            record = None
            for at in (r["recorded_at"], r["retracted_at"]):
                if at in by_time:
                    record = record or event_record(r, stream)
                    by_time[at][(stream, version)] = record
            if (stream, version) in wanted:
                provenance[(stream, version)] = Provenance(
                    version, r["type"], from_us(r["recorded_at"]), r["actor"], r["position"]
                )
        return Cited(
            {k: tuple(records[p] for p in sorted(records)) for k, records in by_time.items()},
            provenance,
        )


@dataclass(frozen=True, slots=True)
class Cited:
    """The event records that changed the answer, by the versions' record times (µs), and the
    provenance behind their intervals, by (stream, version)."""

    changed_by: dict[int, tuple[EventRecord, ...]]
    provenance: dict[tuple[UUID, int], Provenance]

    def versions(
        self, found: Sequence[tuple[int, list[A]]], view: Callable[[A], V]
    ) -> tuple[ChangeVersion[V], ...]:
        """The versions with their intervals as views (one view per interval, however many
        versions repeat it) and the records that changed them."""
        made: dict[int, V] = {}

        def shown(interval: A) -> V:
            made_view = made.get(id(interval))
            if made_view is None:
                made_view = made[id(interval)] = view(interval)
            return made_view

        return tuple(
            ChangeVersion(from_us(k), tuple(shown(iv) for iv in intervals),
                          self.changed_by.get(k, ()))
            for k, intervals in found
        )  # fmt: skip

    def of(self, stream: UUID, versions: Iterable[int]) -> tuple[Provenance, ...]:
        """The provenance of one interval, in version order."""
        found = (self.provenance.get((stream, v)) for v in sorted(set(versions)))
        return tuple(p for p in found if p is not None)


# -- the sweep ---------------------------------------------------------------------------------


def _sweep(
    beliefs: Sequence[Belief[T]],
    times: Sequence[int],
    answer: Callable[[list[T]], list[A]],
    key: Callable[[A], Hashable],
) -> list[tuple[int, list[A]]]:
    """At each of `times` (ascending), the answer from the values believed from then on; kept
    where it compares unlike the answer before (nothing, before the first time)."""
    starts = sorted(range(len(beliefs)), key=lambda i: beliefs[i].known_from)
    ends = sorted(
        (i for i, b in enumerate(beliefs) if b.known_to is not None),
        key=lambda i: beliefs[i].known_to or 0,
    )
    believed: dict[int, T] = {}
    opened = closed = 0
    out: list[tuple[int, list[A]]] = []
    before: list[Hashable] = []
    for k in times:
        while opened < len(starts) and beliefs[starts[opened]].known_from <= k:
            believed[starts[opened]] = beliefs[starts[opened]].value
            opened += 1
        while closed < len(ends) and (beliefs[ends[closed]].known_to or 0) <= k:
            believed.pop(ends[closed], None)
            closed += 1
        now = answer(list(believed.values()))
        keys = [key(a) for a in now]
        if keys != before:
            out.append((k, now))
        before = keys
    return out


def _times(beliefs: Iterable[Belief[Any]]) -> list[int]:
    """Where the rows start or stop being believed, ascending."""
    found = set()
    for b in beliefs:
        found.add(b.known_from)
        if b.known_to is not None:
            found.add(b.known_to)
    return sorted(found)


# -- rows as the fold's values, and as views -----------------------------------------------------


def _rows(table: Table) -> str:
    return (
        "SELECT " + select_list(table) + ", " + select_list(table, "known_from", "known_to")
        + " FROM {t} WHERE "
    )  # fmt: skip


def _belief(r: NamedRow, value: T) -> Belief[T]:
    return Belief(r["known_from"], r["known_to"], value)


def _custody_interval(r: NamedRow, window: Window) -> CustodyInterval:
    """A custody row's interval, cut to the window."""
    start, end = window.clip(from_us(r["valid_from"]), opt_time(r["valid_to"]))
    return CustodyInterval(
        holder=HolderRef(r["holder_id"], r["holder_name"]),
        valid_from=start,
        valid_to=end,
        handles=tuple(json.loads(r["handles"])),
        offices=tuple(json.loads(r["offices"])),
        established_by=tuple(json.loads(r["established_by"])),
    )


def _carried(r: NamedRow, window: Window) -> Carried:
    """A handle row's interval, cut to the window."""
    start, end = window.clip(from_us(r["valid_from"]), opt_time(r["valid_to"]))
    return Carried(
        account_id=UUID(r["account_id"]),
        handle=r["handle"],
        valid_from=start,
        valid_to=end,
        established_by=tuple(json.loads(r["established_by"])),
    )


def _start(value: CustodyInterval | OfficeSegment) -> datetime:
    return value.valid_from


# -- input and SQL -------------------------------------------------------------------------------


def _window(from_: Any, to: Any) -> Window:
    """The window asked about, both ends aware times (UTC); `to` after `from`."""
    return Window(require_utc(from_, "from"), require_utc(to, "to"))


def _key(handle: str) -> str:
    try:
        return handle_key(handle)
    except ValueError as e:
        raise InvalidInput(f"handle: {e}", field="handle") from None


def _among(db: Db, column: str) -> str:
    """`column` is one of a list given as one parameter (`_values`): one statement, prepared
    once, whatever the list's length (an array on PostgreSQL, JSON text on SQLite)."""
    if db.kind == "postgres":
        return f"{column} = ANY(%s)"
    return f"{column} IN (SELECT value FROM json_each(%s))"


def _values(db: Db, values: Sequence[Any]) -> Any:
    return list(values) if db.kind == "postgres" else json.dumps(list(values))

"""The read models: one class each, with its table and the rows it applies per custody event.

Bitemporal models keep every row they ever believed: `known_from` is the `recorded_at` of the
event that introduced the belief, `known_to` that of the event that withdrew it (NULL while it
is still believed). A query at (at, known_at) therefore never needs the log.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any
from uuid import UUID

from ledger import fold
from ledger.fold import Fact
from ledger.history import NO_SPLICE, Splice, run_bounds, same_runs
from projections import derive
from projections.db import Db
from projections.derive import Row

# Times (microseconds since the epoch), versions and positions; every other column is text.
INTEGER_COLUMNS = frozenset(
    {
        "valid_from", "valid_to", "known_from", "known_to", "holder_since", "registered_at",
        "effective_at", "recorded_at", "retracted_at", "version", "position", "retracted_by",
        "followers", "observed_at", "audience_by", "holder_by", "window_from", "window_to",
        "opened_at",
    }
)  # fmt: skip


@dataclass(frozen=True)
class Table:
    name: str
    columns: tuple[str, ...]
    indexes: tuple[tuple[str, ...], ...]
    primary_key: tuple[str, ...] = ()
    # Bitemporal tables: a partial index over the rows still believed (known_to IS NULL), by
    # which the projector finds the rows an event withdraws, however long the history.
    open_rows: tuple[str, ...] = ()
    # Text columns compared byte by byte (PostgreSQL's `COLLATE "C"`), so that SQL orders them
    # as Python does whatever the database's collation; SQLite compares so already.
    binary: tuple[str, ...] = ()

    def index_names(self) -> list[str]:
        names = [f"{self.name}_i{i}" for i in range(len(self.indexes))]
        return names + ([f"{self.name}_open"] if self.open_rows else [])

    def ddl(self, db: Db, physical: str) -> Any:
        cols = [f"{c} {self._type(db, c)}" for c in self.columns]
        if self.primary_key:
            cols.append(f"PRIMARY KEY ({', '.join(self.primary_key)})")
        return db.sql("CREATE TABLE IF NOT EXISTS {t} (" + ", ".join(cols) + ")", t=physical)

    def _type(self, db: Db, column: str) -> str:
        if column in INTEGER_COLUMNS:
            return "BIGINT"
        return 'TEXT COLLATE "C"' if column in self.binary and db.kind == "postgres" else "TEXT"

    def index_ddl(self, db: Db, physical: str, suffix: str = "") -> list[Any]:
        out = []
        specs = [(cols, "") for cols in self.indexes]
        if self.open_rows:
            specs.append((self.open_rows, " WHERE known_to IS NULL"))
        for name, (cols, where) in zip(self.index_names(), specs, strict=True):
            template = (
                "CREATE INDEX IF NOT EXISTS "
                + _ident(db, name + suffix)
                + " ON {t} ("
                + ", ".join(cols)
                + ")"
                + where
            )
            out.append(db.sql(template, t=physical))
        return out


def _ident(db: Db, name: str) -> str:
    # Index names are ours and alphanumeric; quoting keeps them literal on both stores.
    assert name.replace("_", "").isalnum(), name
    return '"' + name + '"'


# A row is keyed when it opens and again when a later event closes it, usually soon after:
# recent keys are kept rather than hashed twice (bounded, so memory stays flat).
@lru_cache(maxsize=1 << 14)
def row_key(row: Row) -> str:
    return hashlib.blake2b(repr(row).encode(), digest_size=8).hexdigest()


@dataclass
class Change:
    """One custody event, with its stream's timeline before and after it (as known then):
    account segments (`fold.Segment`), or office segments for an office stream's event."""

    account_id: UUID  # the stream's id
    fact: Fact
    position: int
    before: Sequence[Any]
    after: Sequence[Any]
    office: str | None = None  # an office stream's key
    # What `after` keeps of `before` (the same segment objects); none by default.
    splice: Splice = NO_SPLICE
    # Every office the stream's facts name, up to this one (accounts).
    offices: frozenset[str] = frozenset()
    # The office whose own account the stream has only ever been, if so (derive.Timeline.own).
    own: str | None = None


@dataclass
class Pending:
    """What a batch will write to one model's table (read models themselves hold no state):
    gathered account by account by `apply`, written by `flush` in a few statements."""

    closes: list[Row] = field(default_factory=list)
    inserts: list[Row] = field(default_factory=list)
    updates: list[Row] = field(default_factory=list)


def stream_changes(
    stream_id: UUID, facts: Sequence[Fact], positions: Sequence[int]
) -> list[Change]:
    """A whole stream's events as changes, from its first (a rebuild's: as the projector makes
    them, with the timeline before and after each)."""
    timeline = derive.Timeline(facts[0].kind if facts else "account")
    out = []
    for fact, position in zip(facts, positions, strict=True):
        before = timeline.segments
        after = timeline.push(fact)
        out.append(
            Change(stream_id, fact, position, before, after, timeline.key, timeline.splice,
                   timeline.offices, timeline.own)
        )  # fmt: skip
    return out


def knowledge_steps(changes: Sequence[Change]) -> list[tuple[Change, Change]]:
    """(first, last) of each run of consecutive changes recorded at the same time."""
    return [(step[0], step[-1]) for step in knowledge_runs(changes)]


def knowledge_runs(changes: Sequence[Change]) -> list[Sequence[Change]]:
    """The runs of consecutive changes recorded at the same time."""
    runs: list[list[Change]] = []
    for change in changes:
        if runs and runs[-1][-1].fact.recorded_at == change.fact.recorded_at:
            runs[-1].append(change)
        else:
            runs.append([change])
    return list(runs)


def step_splice(step: Sequence[Change]) -> Splice:
    """What the timeline after a run of changes keeps of the one before it."""
    splice = step[0].splice
    for change in step[1:]:
        splice = splice.then(change.splice)
    return splice


def changed_slices(
    step: Sequence[Change],
    key: Callable[[Any], Any] | None,
    facet: Callable[[Any], Any] | None = None,
    first: Callable[[Any], Any] | None = None,
) -> tuple[Sequence[Any], Sequence[Any]]:
    """The segments before and after a run of changes from which the rows grouped by `key`
    (`fold.runs`; None: a row per segment) that differ are derived: every row outside them is
    in both. Rows of runs read the segment after them too (their `ended_by`). With `facet`
    (and `first`), what a row rests on (`history.same_runs`): none, if the changes moved none
    of that, however long the runs they fell in."""
    before, after = step[0].before, step[-1].after
    splice = step_splice(step)
    if facet is not None and same_runs(before, after, splice, facet, first):
        return [], []
    lo, hi_before, hi_after = run_bounds(before, after, splice, key, following=key is not None)
    return before[lo:hi_before], after[lo:hi_after]


class ReadModel:
    """Base of every read model: a name, its table, and how one event changes it."""

    name: str
    table: Table  # the queries take its name and columns from here
    # Which streams' events it takes: "account", "office", or "any".
    kind = "account"

    def takes(self, kind: str) -> bool:
        return self.kind in ("any", kind)

    @property
    def tables(self) -> tuple[Table, ...]:
        """Its tables: one each, so far."""
        return (self.table,)

    def apply(self, changes: Sequence[Change], pending: Pending) -> None:
        """Gather in `pending` what one account's consecutive events (in stream order) change
        in this model's table. Pure: it reads neither the store nor the clock."""
        raise NotImplementedError

    def flush(self, db: Db, curs: Any, names: dict[str, str], pending: Pending) -> None:
        """Write what `apply` gathered for the batch (models that write at once: nothing)."""

    def history(
        self, account_id: UUID, facts: Sequence[Fact], changes: Sequence[Change]
    ) -> dict[str, list[Row]]:
        """Every row this model ever holds for one stream (used by rebuild): `facts` are the
        whole stream's, `changes` its events from the first (`stream_changes`)."""
        raise NotImplementedError


class BitemporalModel(ReadModel):
    """Rows derived from the timeline, versioned over record time."""

    rows: Callable[[UUID, Sequence[Any]], set[Row]]
    stream_column = "account_id"  # the column holding the stream's id
    # How `rows` groups consecutive segments into one row (fold.runs); None: a row each. And
    # what of a segment a run's row reads (`changed_slices`).
    run_key: Callable[[fold.Segment], Any] | None = None
    run_facet: Callable[[fold.Segment], Any] | None = None
    # Event types that move what `run_facet` reads (nearly always): a step with one goes
    # straight to its rows, without comparing first (a comparison that would fail; the rows of
    # a step that moved nothing come out alike, and nothing is written).
    moved_by: frozenset[str] = frozenset()

    def apply(self, changes: Sequence[Change], pending: Pending) -> None:
        # The net effect of the events on the table: rows believed before them and withdrawn
        # are closed; rows opened (and perhaps withdrawn again) are inserted with their range.
        # Events recorded at one time (a batch) are one step of knowledge: only the rows before
        # the first and after the last of them matter; nobody ever knew the states between.
        rows = type(self).rows
        account_id = changes[0].account_id
        opened: dict[Row, int] = {}
        closes: list[Row] = []
        account = self.table.columns.index(self.stream_column)
        for step in knowledge_runs(changes):
            last = step[-1]
            # Only the rows of the stretch the events changed (the rest are the same rows).
            facet = type(self).run_facet
            if facet is not None and any(c.fact.type in type(self).moved_by for c in step):
                facet = None
            was, now = changed_slices(step, type(self).run_key, facet)
            previous = rows(account_id, was)
            current = rows(account_id, now)
            if current == previous:
                continue
            at = derive.to_us(last.fact.recorded_at)
            inserts_closed = []
            for row in previous - current:
                if row in opened:
                    inserts_closed.append((*row, row_key(row), opened.pop(row), at))
                else:
                    closes.append((at, row[account], row_key(row)))
            pending.inserts.extend(inserts_closed)
            for row in current - previous:
                opened[row] = at
        pending.inserts.extend((*row, row_key(row), since, None) for row, since in opened.items())
        pending.closes.extend(closes)

    def flush(self, db: Db, curs: Any, names: dict[str, str], pending: Pending) -> None:
        """Write what `apply` gathered: closes first (they only touch rows open before the
        batch), then inserts."""
        t = names[self.table.name]
        db.close_rows(curs, t, self.stream_column, pending.closes)
        db.insert_rows(curs, t, self.table.columns, pending.inserts)

    def history(
        self, account_id: UUID, facts: Sequence[Fact], changes: Sequence[Change]
    ) -> dict[str, list[Row]]:
        # From an empty table, the net effect of every event is the rows with their ranges.
        pending = Pending()
        self.apply(changes, pending)
        return {self.table.name: pending.inserts}


BITEMPORAL = ("row_key", "known_from", "known_to")
OPEN_ROWS = ("account_id", "row_key")


class Segments(BitemporalModel):
    """The account's whole state over valid time: answers state-at, listings at a time."""

    name = "segments"
    rows = staticmethod(derive.segment_rows)
    table = Table(
        "rm_segments",
        (
            "account_id",
            "valid_from",
            "valid_to",
            "platform",
            "platform_account_id",
            "handle",
            "handle_key",
            "office",
            "status",
            "holder_id",
            "holder_name",
            "holder_since",
            "archives",
            "established_by",
            "ineffective",
            "registered_at",
            # Added with offices (issue 18): a store set up before holds NULL here for rows of
            # accounts that were all the office's, without audience; readers take NULL so.
            "ownership",
            "owner_id",
            "owner_name",
            "followers",
            "observed_at",
            "audience_by",
            *BITEMPORAL,
        ),
        # Listings filter on time in the index itself; the heap is read only for matches.
        indexes=(
            ("account_id", "valid_from"),
            ("office", "account_id", "valid_from", "valid_to", "known_from", "known_to"),
            ("platform", "account_id", "valid_from", "valid_to", "known_from", "known_to"),
            ("status", "account_id", "valid_from", "valid_to", "known_from", "known_to"),
        ),
        open_rows=OPEN_ROWS,
    )


_CUSTODY_COLUMNS = (
    "account_id",
    "holder_id",
    "holder_name",
    "valid_from",
    "valid_to",
    "handles",
    "offices",
    "established_by",
    *BITEMPORAL,
)


class CustodyIntervals(BitemporalModel):
    """Holder intervals [from, to) with the handles and offices during them: per account, and
    per holder (every account a person held, and when) through the holder index.

    A store written by an earlier version may still hold `rm_holdings` (these rows again, under
    the holder index alone) and a `holders` tracking row: neither is read or written any more,
    and the holder index on `rm_custody` is created when the store is next set up
    (docs/upgrading.md says in which order to upgrade)."""

    name = "custody"
    rows = staticmethod(derive.custody_rows)
    run_key = staticmethod(fold.holder_run_key)
    run_facet = staticmethod(derive.custody_facet)
    moved_by = frozenset((fold.ASSIGNED, fold.RELEASED))  # a holder's run begins or ends
    table = Table(
        "rm_custody",
        _CUSTODY_COLUMNS,
        indexes=(
            ("account_id", "valid_from"),
            ("holder_id", "known_to", "valid_from", "account_id"),
        ),
        open_rows=OPEN_ROWS,
    )


class HandleHistory(BitemporalModel):
    """Per (platform, handle): which account carried it over which valid-time intervals."""

    name = "handles"
    rows = staticmethod(derive.handle_rows)
    run_key = staticmethod(fold.handle_run_key)
    run_facet = staticmethod(derive.handle_facet)
    table = Table(
        "rm_handles",
        (
            "platform",
            "handle_key",
            "handle",
            "account_id",
            "valid_from",
            "valid_to",
            "established_by",
            *BITEMPORAL,
        ),
        indexes=(("platform", "handle_key", "account_id", "valid_from"),),
        open_rows=OPEN_ROWS,
    )


class EventLog(ReadModel):
    """Every custody event record with its log position, and the retraction that names it."""

    name = "events"
    table = Table(
        "rm_events",
        (
            "account_id",
            "version",
            "position",
            "type",
            "effective_at",
            "recorded_at",
            "actor",
            "reason",
            "evidence",
            "data",
            "office",
            # Added with attribution (issue 22): NULL in the rows of a store set up before, as
            # for every event written directly; only imports since attribute events.
            "attributed_to",
            "retracted_by",
            "retracted_at",
        ),
        indexes=(("position",),),
        primary_key=("account_id", "version"),
    )
    kind = "any"

    def apply(self, changes: Sequence[Change], pending: Pending) -> None:
        pending.inserts.extend(
            derive.event_row(c.account_id, c.fact, c.position, c.office) for c in changes
        )
        pending.updates.extend(
            (
                c.fact.version,
                derive.to_us(c.fact.recorded_at),
                str(c.account_id),
                c.fact.data["event_version"],
            )
            for c in changes
            if c.fact.type == fold.RETRACTED
        )

    def flush(self, db: Db, curs: Any, names: dict[str, str], pending: Pending) -> None:
        """Insert the batch's records, then mark the retracted ones (a retraction may name an
        event of the same batch)."""
        t = names[self.table.name]
        db.insert_rows(curs, t, self.table.columns, pending.inserts)
        mark = db.sql(
            "UPDATE {t} SET retracted_by = %s, retracted_at = %s "
            "WHERE account_id = %s AND version = %s",
            t=t,
        )
        db.executemany(curs, mark, pending.updates)

    def history(
        self, account_id: UUID, facts: Sequence[Fact], changes: Sequence[Change]
    ) -> dict[str, list[Row]]:
        retractions = {f.data["event_version"]: f for f in facts if f.type == fold.RETRACTED}
        office = facts[0].data["office"] if facts and facts[0].kind == "office" else None
        rows = []
        for fact, position in zip(facts, (c.position for c in changes), strict=True):
            row = derive.event_row(account_id, fact, position, office)
            by = retractions.get(fact.version)
            if by is not None:
                row = (*row[:-2], by.version, derive.to_us(by.recorded_at))
            rows.append(row)
        return {self.table.name: rows}


class OfficeSegments(BitemporalModel):
    """An office's whole state over valid time: its holder at any time, its tenures, listings
    of offices by jurisdiction."""

    name = "office_segments"
    kind = "office"
    stream_column = "office_id"
    rows = staticmethod(derive.office_segment_rows)
    table = Table(
        "rm_office_segments",
        (
            "office_id",
            "valid_from",
            "valid_to",
            "office",
            "name",
            "jurisdiction",
            "holder_id",
            "holder_name",
            "holder_since",
            "established_by",
            "ineffective",
            "registered_at",
            "holder_by",
            "country",  # the jurisdiction's ISO 3166-1 part: a country takes in its subdivisions
            *BITEMPORAL,
        ),
        indexes=(
            ("office", "valid_from"),
            ("jurisdiction", "office", "valid_from", "valid_to", "known_from", "known_to"),
            ("country", "office", "valid_from", "valid_to", "known_from", "known_to"),
        ),
        open_rows=("office_id", "row_key"),
    )


class Disputes(BitemporalModel):
    """Every dispute's subject, window and status over record time: which disputes were open
    at `known_at` about an account or an office, listings by status."""

    name = "disputes"
    kind = "dispute"
    stream_column = "dispute_id"
    rows = staticmethod(derive.dispute_rows)
    table = Table(
        "rm_disputes",
        (
            "dispute_id",
            "subject_account",
            "subject_office",
            "window_from",
            "window_to",
            "claim",
            "status",
            "outcome",
            "opened_at",
            "opened_by",
            *BITEMPORAL,
        ),
        indexes=(
            ("subject_account", "known_from"),
            ("subject_office", "known_from"),
            ("opened_at", "dispute_id"),
        ),
        open_rows=("dispute_id", "row_key"),
    )


STREAM_MODELS: tuple[ReadModel, ...] = (
    EventLog(),
    Segments(),
    CustodyIntervals(),
    HandleHistory(),
    OfficeSegments(),
    Disputes(),
)
"""The models derived stream by stream; `projections.catalogue.MODELS` adds the findings."""

"""Rebuild read models from the log into shadow tables, then switch in one transaction.

Readers keep using the old tables until the switch commits, so they never see a half-built
view. The log is scanned stream by stream (keyset pagination on the primary key), one account
in memory at a time, so memory stays flat however long the log is. Rows come from the same
derivations the incremental projector uses.
"""

from __future__ import annotations

import hashlib
import multiprocessing
import os
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any
from uuid import UUID

from eventsourcing.persistence import StoredEvent
from psycopg.sql import SQL, Identifier

from ledger.domain import decode_fact
from ledger.errors import StoreUnavailable, UnreadableEvent
from ledger.fold import Fact
from projections import quarantine
from projections.db import Db
from projections.findings import INPUTS, FindingsModel, evaluate_all
from projections.models import ReadModel, Table, stream_changes
from projections.projector import ACCOUNT_TOPICS, TRACKING, Projector, lock_positions

Progress = Callable[[int, int], None]
SHADOW = "__new"
PAGE = 5000
FLUSH_ROWS = 20_000


class RebuildFailed(StoreUnavailable):
    """A rebuild worker died; nothing was switched."""

    code = "rebuild-failed"


def _noop(done: int, total: int) -> None:
    return None


def _custody_events_upto(db: Db, upto: int) -> tuple[str, list[Any]]:
    """WHERE clause (and its parameters) for the log's custody events up to a position."""
    topics = list(ACCOUNT_TOPICS)
    marks = ", ".join(["%s"] * len(topics))
    return f"WHERE {db.position_column} <= %s AND topic IN ({marks})", [upto, *topics]


def _scan(
    db: Db, upto: int, lo: UUID | None = None, hi: UUID | None = None
) -> Iterator[tuple[UUID, list[tuple[int, StoredEvent]]]]:
    """Yield (account_id, [(position, stored event)...]) per stream with lo <= id < hi, in id order."""
    where, params = _custody_events_upto(db, upto)
    base = (
        f"SELECT {db.position_column}, originator_id, originator_version, topic, state "
        f"FROM {{t}} {where}"
    )
    for value, op in ((lo, ">="), (hi, "<")):
        if value is not None:
            base += f" AND originator_id {op} %s"
            params.append(value if db.kind == "postgres" else value.hex)
    first = db.sql(base + " ORDER BY originator_id, originator_version LIMIT %s", t=db.events_table)
    after = db.sql(
        # A row-value comparison lets both stores walk the primary-key index from the last key.
        base + " AND (originator_id, originator_version) > (%s, %s)"
        " ORDER BY originator_id, originator_version LIMIT %s",
        t=db.events_table,
    )
    current: Any = None
    events: list[tuple[int, StoredEvent]] = []
    last: tuple[Any, int] | None = None
    while True:
        if last is None:
            rows = db.fetchall(first, (*params, PAGE))
        else:
            rows = db.fetchall(after, (*params, last[0], last[1], PAGE))
        for pos, oid, version, topic, state in rows:
            if oid != current:
                if events:
                    yield _uuid(current), events
                current, events = oid, []
            events.append((pos, StoredEvent(_uuid(oid), version, topic, bytes(state))))
        if len(rows) < PAGE:
            break
        last = (rows[-1][1], rows[-1][2])
    if events:
        yield _uuid(current), events


def _uuid(value: Any) -> UUID:
    return value if isinstance(value, UUID) else UUID(str(value))


def _count(db: Db, upto: int) -> int:
    where, params = _custody_events_upto(db, upto)
    row = db.fetchone(db.sql(f"SELECT COUNT(*) FROM {{t}} {where}", t=db.events_table), params)
    return int(row[0]) if row else 0


class Rebuilder:
    """Rebuilds the named read models (all by default) and switches them in atomically."""

    def __init__(self, projector: Projector) -> None:
        self.projector = projector
        self.db = projector.db
        self.mapper = projector.ledger.mapper

    def rebuild(
        self,
        names: Sequence[str] | None = None,
        progress: Progress = _noop,
        *,
        workers: int | None = None,
    ) -> int:
        """Return the log position the rebuilt models reflect; the projector continues from it.

        On PostgreSQL the streams are split by account id between `workers` processes (default:
        one per CPU), each writing its share of the shadow tables; SQLite has one writer.
        """
        by_name = {m.name: m for m in self.projector.models}
        models = [by_name[n] for n in names] if names else list(self.projector.models)
        # The findings read the other models' tables: rebuilt with them, from their new tables
        # (before the switch); rebuilt without them, from the live ones, in place.
        findings = [m for m in models if isinstance(m, FindingsModel)]
        in_place = bool(findings) and not set(INPUTS) <= {m.name for m in models}
        if in_place:
            models = [m for m in models if not isinstance(m, FindingsModel)]
        db = self.db
        upto = self.projector.ledger.head()
        total = _count(db, upto)
        tables = [t for m in models for t in m.tables]
        if models:
            self.create_shadow(tables)
            progress(0, total)
            n = workers if workers is not None else (os.cpu_count() or 1)
            streamed = [m.name for m in models if not isinstance(m, FindingsModel)]
            if db.kind != "postgres" or n <= 1:
                self.build_range(streamed, upto, None, None, lambda d: progress(d, total))
            else:
                self._build_in_processes(streamed, upto, n, total, progress)
            if findings and not in_place:
                self._index_shadows(tables)
                self._build_findings(findings, tables)
            progress(total, total)
            self._switch(models, tables, upto)
        if in_place:
            everything = [m.name for m in self.projector.models]
            names_now = {t.name: t.name for m in self.projector.models for t in m.tables}
            # Evaluated before the lock (see `evaluate_all`), written under it.
            built = {
                model.name: evaluate_all(db, names_now, model.rules)
                for model in findings
                if isinstance(model, FindingsModel)
            }
            with db.transaction(maintenance=True) as curs:
                lock_positions(db, curs, everything)
                for model in findings:
                    assert isinstance(model, FindingsModel)
                    model.rebuild_in_place(db, curs, names_now, built[model.name])
        return upto

    def _build_findings(self, findings: Sequence[ReadModel], tables: Sequence[Table]) -> None:
        """The findings, last: read from the other models' new tables."""
        shadowed = {t.name for t in tables}
        names = {
            t.name: t.name + SHADOW if t.name in shadowed else t.name
            for m in self.projector.models
            for t in m.tables
        }
        for model in findings:  # in transactions of its own, evaluating outside them
            assert isinstance(model, FindingsModel)
            model.rebuild(self.db, names)

    def _index_shadows(self, tables: Sequence[Table]) -> None:
        """The new tables' indexes (named with the shadow suffix), before the findings read
        them; `_switch` renames them on PostgreSQL and replaces them on SQLite."""
        with self.db.transaction(maintenance=True) as curs:
            for table in tables:
                for statement in table.index_ddl(self.db, table.name + SHADOW, suffix=SHADOW):
                    self.db.execute(curs, statement)

    def create_shadow(self, tables: Sequence[Table]) -> None:
        db = self.db
        with db.transaction(maintenance=True) as curs:
            for table in tables:
                db.execute(curs, db.sql("DROP TABLE IF EXISTS {t}", t=table.name + SHADOW))
                db.execute(curs, table.ddl(db, table.name + SHADOW))

    def build_range(
        self,
        names: Sequence[str],
        upto: int,
        lo: UUID | None,
        hi: UUID | None,
        report: Callable[[int], None],
    ) -> int:
        """Derive and write the shadow rows of every stream with lo <= id < hi (None: open)."""
        by_name = {m.name: m for m in self.projector.models}
        models = [by_name[n] for n in names]
        tables = [t for m in models for t in m.tables]
        buffers: dict[str, list[tuple[Any, ...]]] = {t.name: [] for t in tables}
        done = 0
        for account_id, stored in _scan(self.db, upto, lo, hi):
            positions = [p for p, _ in stored]
            facts: list[Fact] = [decode_fact(self.mapper, s, p)[1] for p, s in stored]
            # The stream's events as the projector applies them (each changes the stretch of
            # the timeline it changes), and every model's rows from them.
            changes = stream_changes(account_id, facts, positions)
            for model in models:
                if not model.takes(facts[0].kind):
                    continue
                for table_name, rows in model.history(account_id, facts, changes).items():
                    buffers[table_name].extend(rows)
            done += len(facts)
            if sum(len(b) for b in buffers.values()) >= FLUSH_ROWS:
                self._flush(tables, buffers)
                report(done)
        self._flush(tables, buffers)
        report(done)
        return done

    def _build_in_processes(
        self, names: Sequence[str], upto: int, n: int, total: int, progress: Progress
    ) -> None:
        bounds = [None, *(UUID(int=(i << 128) // n) for i in range(1, n)), None]
        env = dict(self.projector.ledger.env)
        context = multiprocessing.get_context("spawn")
        counters = [context.Value("q", 0) for _ in range(n)]
        unreadable = context.SimpleQueue()  # what a worker could not decode, to name it here
        processes = [
            context.Process(
                target=_build_partition,
                args=(env, list(names), upto, bounds[i], bounds[i + 1], counters[i], unreadable),
                name=f"custody-rebuild-{i}",
            )
            for i in range(n)
        ]
        for p in processes:
            p.start()
        while any(p.is_alive() for p in processes):
            time.sleep(0.2)
            progress(sum(int(c.value) for c in counters), total)
        failed = [p.name for p in processes if p.exitcode != 0]
        if failed and not unreadable.empty():
            stream, version, position, why = unreadable.get()
            raise UnreadableEvent(stream, version, position, why)
        if failed:
            raise RebuildFailed(
                f"rebuild worker(s) {', '.join(failed)} failed; the old views stay in place"
            )

    def _flush(self, tables: Sequence[Table], buffers: dict[str, list[tuple[Any, ...]]]) -> None:
        db = self.db
        with db.transaction(maintenance=True) as curs:
            for table in tables:
                rows = buffers[table.name]
                if not rows:
                    continue
                db.insert_rows(curs, table.name + SHADOW, table.columns, rows)
                rows.clear()

    def _switch(self, models: Sequence[ReadModel], tables: Sequence[Table], upto: int) -> None:
        db = self.db
        if db.kind == "postgres":
            # Build indexes before the switch (readers still use the old tables meanwhile).
            with db.transaction(maintenance=True) as curs:
                for table in tables:
                    for statement in table.index_ddl(db, table.name + SHADOW, suffix=SHADOW):
                        db.execute(curs, statement)
        with db.transaction(maintenance=True) as curs:
            lock_positions(db, curs, [m.name for m in models])
            for table in tables:
                db.execute(curs, db.sql("DROP TABLE IF EXISTS {t}", t=table.name))
                if db.kind == "postgres":
                    curs.execute(
                        SQL("ALTER TABLE {} RENAME TO {}").format(
                            Identifier(db.schema, table.name + SHADOW), Identifier(table.name)
                        )
                    )
                    for name in table.index_names():
                        curs.execute(
                            SQL("ALTER INDEX {} RENAME TO {}").format(
                                Identifier(db.schema, name + SHADOW), Identifier(name)
                            )
                        )
                else:
                    curs.execute(f'ALTER TABLE "{table.name}{SHADOW}" RENAME TO "{table.name}"')
                    for name in table.index_names():  # made for the findings, if any
                        curs.execute(f'DROP INDEX IF EXISTS "{name}{SHADOW}"')
                    for statement in table.index_ddl(db, table.name):
                        db.execute(curs, statement)
            update = db.sql("UPDATE {t} SET position = %s WHERE name = %s", t=TRACKING.name)
            for model in models:
                db.execute(curs, update, (upto, model.name))
            if {m.name for m in models} >= {m.name for m in self.projector.models}:
                # Every stream was read and decoded whole: nothing stays set aside.
                quarantine.clear(db, curs)
        if db.kind == "postgres":
            # Fresh tables have no statistics yet: give the planner some, so lookups use their
            # indexes from the first query (autovacuum does the rest later).
            with db.datastore.get_connection() as conn:
                for table in tables:
                    conn.execute(SQL("ANALYZE {}").format(Identifier(db.schema, table.name)))


def _build_partition(
    env: dict[str, str],
    names: list[str],
    upto: int,
    lo: UUID | None,
    hi: UUID | None,
    counter: Any,
    unreadable: Any,
) -> int:
    """A rebuild worker process: its own ledger connection, its share of the streams."""
    from ledger.application import CustodyLedger

    # The tables exist already; creating them again from several processes at once races in
    # PostgreSQL's catalogue ("tuple concurrently updated").
    ledger = CustodyLedger({**env, "CREATE_TABLE": "n"})
    try:
        projector = Projector(ledger, create_tables=False)

        def report(done: int) -> None:
            counter.value = done

        return Rebuilder(projector).build_range(names, upto, lo, hi, report)
    except UnreadableEvent as e:
        unreadable.put((str(e.stream), e.version, e.position, e.why))
        raise SystemExit(1) from None  # the parent names it; no traceback on the terminal
    finally:
        ledger.close()


def digest(db: Db, table: Table) -> str:
    """A content digest of one read-model table, independent of row order."""
    cols = ", ".join(table.columns)
    h = hashlib.sha256()
    rows = db.fetchall(db.sql(f"SELECT {cols} FROM {{t}} ORDER BY {cols}", t=table.name))
    for row in rows:
        h.update(repr(tuple(row)).encode())
    return h.hexdigest()

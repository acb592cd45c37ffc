"""Bringing the read models up to date after a bulk write (an import), with the planner's
statistics kept up with tables that grow by orders of magnitude in minutes.

PostgreSQL plans a query by its statistics of the tables. A table that was empty when last
analysed, and holds a million rows now, gets plans made for an empty table: the findings'
`office = ANY(...)` read of `rm_segments` scanned the whole table for each batch (44 ms at
300,000 rows, where the index answers in under 1 ms), so a large import's projection slowed as
it grew. Autovacuum analyses a table once enough of it changed, but at most once a minute, and
not at all where it is turned off (test servers often). So a catch-up of a large backlog
analyses the tables itself each time the log it has applied has doubled. SQLite plans these
queries with its indexes without statistics, and is left alone.
"""

from __future__ import annotations

from projections.projector import Projector

FIRST_ANALYSIS = 50_000  # log positions applied before the first: smaller tables scan cheaply


def catch_up_bulk(projector: Projector, *, growth: float = 2.0) -> int:
    """`projector.catch_up()` up to the head as it is now, a batch at a time; on PostgreSQL,
    between batches, analyse the read models' tables and the log whenever the position applied
    has grown `growth` times since they were last analysed (from FIRST_ANALYSIS on). Returns
    the number of custody events applied."""
    target = projector.ledger.head()
    analysed = projector.applied()
    total = 0
    while True:
        total += projector.catch_up(max_batches=1)
        reached = projector.applied()
        if reached >= target:
            return total
        if projector.db.kind == "postgres" and reached >= max(analysed * growth, FIRST_ANALYSIS):
            analyse(projector)
            analysed = reached


def analyse(projector: Projector) -> None:
    """Refresh PostgreSQL's statistics of the read models' tables and of the event log."""
    db = projector.db
    tables = [t.name for m in projector.models for t in m.tables] + [db.events_table]
    with db.reader() as curs:
        for table in dict.fromkeys(tables):
            curs.execute(db.sql("ANALYZE {t}", t=table))  # not prepared: a utility statement

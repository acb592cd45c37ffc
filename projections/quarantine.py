"""Streams set aside because one of their stored events cannot be decoded.

The projector meets such an event while the rest of the log is fine: it records the stream
here, in the transaction that moves the read models past it, and applies none of that stream's
events from then on, so every other account keeps being answered. Reads of a quarantined
stream answer `UnreadableEvent` (503 over HTTP), naming where. Repair the stored bytes (from a
backup or an export), then `custody rebuild`: a rebuild from a log that decodes whole clears
the quarantine.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any
from uuid import UUID

from ledger.errors import UnreadableEvent
from projections.db import Db
from projections.models import Table

QUARANTINE = Table(
    "rm_quarantine", ("stream", "version", "position", "why"), (), primary_key=("stream",)
)


def load(db: Db, curs: Any | None = None) -> dict[UUID, UnreadableEvent]:
    """Every quarantined stream, with what could not be decoded (`curs`: a cursor with rows
    by name to read it on, else a reader of its own)."""
    query = db.sql("SELECT stream, version, position, why FROM {t}", t=QUARANTINE.name)
    if curs is None:
        with db.reader(by_name=True) as own:
            rows = db.rows(own, query)
    else:
        rows = db.rows(curs, query)
    return {
        UUID(str(r["stream"])): UnreadableEvent(r["stream"], r["version"], r["position"], r["why"])
        for r in rows
    }


def record(db: Db, curs: Any, found: Iterable[UnreadableEvent]) -> None:
    """Set these streams aside (a stream already set aside keeps its first record)."""
    rows = {str(e.stream): (str(e.stream), e.version, e.position, e.why) for e in found}.values()
    if not rows:
        return
    verb = "INSERT INTO {t}" if db.kind == "postgres" else "INSERT OR IGNORE INTO {t}"
    conflict = " ON CONFLICT (stream) DO NOTHING" if db.kind == "postgres" else ""
    statement = db.sql(
        verb + " (stream, version, position, why) VALUES (%s, %s, %s, %s)" + conflict,
        t=QUARANTINE.name,
    )
    db.executemany(curs, statement, list(rows))


def clear(db: Db, curs: Any) -> None:
    """Lift every quarantine (a rebuild has read the whole log)."""
    db.execute(curs, db.sql("DELETE FROM {t}", t=QUARANTINE.name))

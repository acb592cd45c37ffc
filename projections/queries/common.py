"""What every query module shares: cursors on read models that have applied the log head, the
query times, the bitemporal conditions, and SELECT lists of a model's own columns."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from ledger.commands import require_utc
from ledger.errors import UnreadableEvent
from projections import quarantine
from projections.db import Db
from projections.derive import from_us, to_us
from projections.models import BITEMPORAL, Table
from projections.projector import TRACKING, Projector
from projections.quarantine import QUARANTINE

MAX_PAGE = 1000


class Reading:
    """Cursors for queries. Before answering, a query waits (bounded) until the read models have
    applied the log head, so a read issued after a write returned sees that write."""

    def __init__(self, projector: Projector, wait_seconds: float) -> None:
        self.projector = projector
        self.db: Db = projector.db
        self.wait_seconds = wait_seconds
        # Every read asks whether the models are behind: the log head and the least position
        # of this version's models only (a store may keep the tracking row of a model it no
        # longer has, `holders` or `current`, which nothing moves any more).
        db = self.db
        self._models = [m.name for m in projector.models]
        self._behind_query = db.sql(
            f"SELECT (SELECT MAX({db.position_column}) FROM {{log}}) AS head, "
            "(SELECT MIN(position) FROM {tracking} WHERE name IN ("
            + ", ".join(["%s"] * len(self._models))
            + ")) AS applied, (SELECT COUNT(*) FROM {aside}) AS aside, "
            "(SELECT MAX(stream) FROM {aside}) AS aside_last",
            log=db.events_table,
            tracking=TRACKING.name,
            aside=QUARANTINE.name,
        )
        # Streams set aside (`projections.quarantine`), as of the last look: replaced whole,
        # read again when their count or greatest id changes.
        self.aside: dict[UUID, UnreadableEvent] = {}
        self._aside_seen: tuple[int, str | None] = (0, None)

    @contextmanager
    def cursor(self) -> Iterator[Any]:
        """A cursor (rows by column name) on read models that have applied the log head: the
        check and the reads share one connection; only when the models are behind is it given
        back while they catch up."""
        with self.db.reader(by_name=True) as c:
            behind = self.behind(c)
            if behind is None:
                yield c
                return
        self.projector.wait_for(behind, self.wait_seconds)
        with self.db.reader(by_name=True) as c:
            self.behind(c)  # what catching up set aside, too
            yield c

    def behind(self, c: Any) -> int | None:
        """The log head, if the read models have not applied it yet; else None (on a cursor
        with rows by name: `cursor()`'s, or `Db.reader(by_name=True)`)."""
        row = self.db.row(c, self._behind_query, self._models)
        head = (row["head"] if row else 0) or 0
        applied = (row["applied"] if row else 0) or 0
        seen = (int((row["aside"] if row else 0) or 0), row["aside_last"] if row else None)
        if seen != self._aside_seen:  # rare: read the list again only when it changed
            self.aside = quarantine.load(self.db, c) if seen[0] else {}
            self._aside_seen = seen
        return head if applied < head else None

    def check(self, *accounts: UUID) -> None:
        """UnreadableEvent if any of these streams is set aside: its answer would be stale."""
        for account in accounts:
            found = self.aside.get(account)
            if found is not None:
                raise UnreadableEvent(found.stream, found.version, found.position, found.why)


def times(at: Any, known_at: Any) -> tuple[datetime, datetime | None]:
    """Valid time (default now) and record time (None: as known now), checked to be UTC."""
    at_ = datetime.now(UTC) if at is None else require_utc(at, "at")
    known = None if known_at is None else require_utc(known_at, "known_at")
    return at_, known


def known(known_at: datetime | None) -> tuple[str, tuple[Any, ...]]:
    """SQL condition and parameters for 'believed as known at known_at' (None: now)."""
    if known_at is None:
        return "known_to IS NULL", ()
    k = to_us(known_at)
    return "known_from <= %s AND (known_to IS NULL OR known_to > %s)", (k, k)


def valid(at: datetime) -> tuple[str, tuple[Any, ...]]:
    """SQL condition and parameters for 'in effect at `at`' (valid time)."""
    a = to_us(at)
    return "valid_from <= %s AND (valid_to IS NULL OR valid_to > %s)", (a, a)


def opt_time(value: int | None) -> datetime | None:
    return None if value is None else from_us(value)


def select_list(table: Table, *names: str) -> str:
    """The columns `names` of `table` as a SELECT list; without names, its whole rows but for
    their belief range (`BITEMPORAL`). A name the table does not have fails here, at start-up."""
    chosen = names or tuple(c for c in table.columns if c not in BITEMPORAL)
    unknown = [c for c in chosen if c not in table.columns]
    if unknown:
        raise ValueError(f"{table.name} has no column(s) {', '.join(unknown)}")
    return ", ".join(chosen)

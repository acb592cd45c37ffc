"""Questions answered from the custody intervals model (`rm_custody`): an account's holders over
valid time, and every account one holder held."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any
from uuid import UUID

from ledger.errors import HolderNotFound
from ledger.fold import HolderRef
from projections.db import NamedRow
from projections.derive import from_us, to_us
from projections.models import CustodyIntervals
from projections.queries.common import Reading, known, opt_time, select_list, times
from projections.queries.events import EventLogQueries
from projections.queries.views import CustodyIntervalView, CustodyTimeline, HolderPortfolio

CUSTODY = CustodyIntervals.table


class CustodyQueries:
    def __init__(self, reading: Reading, events: EventLogQueries) -> None:
        self.reading = reading
        self.db = reading.db
        self.events = events
        self._intervals = "SELECT " + select_list(CUSTODY) + " FROM {t} WHERE "
        self._held = self.db.sql("SELECT 1 FROM {t} WHERE holder_id = %s LIMIT 1", t=CUSTODY.name)

    def custody_timeline(
        self,
        account_id: UUID,
        known_at: datetime | None = None,
        meeting: tuple[datetime, datetime] | None = None,
    ) -> CustodyTimeline:
        """The account's holder intervals in valid time, as known at `known_at` (only those
        that meet the valid-time range `meeting`, [from, to), if given)."""
        _, known_at = times(None, known_at)
        cond, params = known(known_at)
        if meeting is not None:
            cond += " AND valid_from < %s AND (valid_to IS NULL OR valid_to > %s)"
            params = (*params, to_us(meeting[1]), to_us(meeting[0]))
        query = self.db.sql(
            self._intervals + "account_id = %s AND " + cond + " ORDER BY valid_from",
            t=CUSTODY.name,
        )
        with self.reading.cursor() as c:
            rows = self.db.rows(c, query, (str(account_id), *params))
            if not rows:
                self.events.require_account(c, account_id)
            return CustodyTimeline(account_id, known_at, self._views(c, rows))

    def holder_custody(self, holder_id: str, known_at: datetime | None = None) -> HolderPortfolio:
        """Every account the holder held, and when, as known at `known_at`."""
        _, known_at = times(None, known_at)
        cond, params = known(known_at)
        query = self.db.sql(
            self._intervals + "holder_id = %s AND " + cond + " ORDER BY valid_from, account_id",
            t=CUSTODY.name,
        )
        with self.reading.cursor() as c:
            rows = self.db.rows(c, query, (holder_id, *params))
            if not rows and self.db.row(c, self._held, (holder_id,)) is None:
                raise HolderNotFound(holder_id)
            return HolderPortfolio(holder_id, known_at, self._views(c, rows))

    def _views(self, c: Any, rows: Sequence[NamedRow]) -> tuple[CustodyIntervalView, ...]:
        """The rows' intervals, with the events behind each (one query for all of them)."""
        answers = [(UUID(r["account_id"]), json.loads(r["established_by"])) for r in rows]
        provenance = self.events.provenance_each(c, answers)
        return tuple(
            CustodyIntervalView(
                account_id=aid,
                holder=HolderRef(r["holder_id"], r["holder_name"]),
                valid_from=from_us(r["valid_from"]),
                valid_to=opt_time(r["valid_to"]),
                handles=tuple(json.loads(r["handles"])),
                offices=tuple(json.loads(r["offices"])),
                established_by=established_by,
            )
            for r, (aid, _), established_by in zip(rows, answers, provenance, strict=True)
        )

"""Questions answered from the handle history model (`rm_handles`): which account carried a
handle at a time, and every account that ever did."""

from __future__ import annotations

import json
from datetime import datetime
from uuid import UUID

from ledger.commands import handle_key, normalize_handle
from ledger.errors import HandleNotFound, InvalidInput
from projections.derive import from_us
from projections.models import HandleHistory
from projections.queries.accounts import AccountQueries
from projections.queries.common import Reading, known, opt_time, select_list, times, valid
from projections.queries.events import EventLogQueries
from projections.queries.views import HandleAnswer, HandleIntervalView

HANDLES = HandleHistory.table


class HandleQueries:
    def __init__(self, reading: Reading, events: EventLogQueries, accounts: AccountQueries) -> None:
        self.reading = reading
        self.db = reading.db
        self.events = events
        self.accounts = accounts
        self._intervals = (
            "SELECT " + select_list(HANDLES) + " FROM {t} WHERE platform = %s AND handle_key = %s"
        )
        self._carried = self.db.sql(
            "SELECT 1 FROM {t} WHERE platform = %s AND handle_key = %s LIMIT 1", t=HANDLES.name
        )
        self._carriers = (
            "SELECT DISTINCT account_id FROM {t} WHERE platform = %s AND handle_key = %s AND "
        )

    def carriers(self, platform: str, handle: str, known_at: datetime | None) -> set[UUID]:
        """The accounts that carried the handle at any valid time, as known at `known_at`: ids
        only. Call it after a query that waited for the read models (it does not wait)."""
        kc, kp = known(known_at)
        query = self.db.sql(self._carriers + kc, t=HANDLES.name)
        with self.db.reader(by_name=True) as c:
            rows = self.db.rows(c, query, (platform, _key(handle), *kp))
        return {UUID(r["account_id"]) for r in rows}

    def handle_at(
        self,
        platform: str,
        handle: str,
        at: datetime | None = None,
        known_at: datetime | None = None,
    ) -> HandleAnswer:
        """The account that carried the handle at `at` as known at `known_at` (None if none did)."""
        key = _key(handle)
        at, known_at = times(at, known_at)
        vc, vp = valid(at)
        kc, kp = known(known_at)
        query = self.db.sql(self._intervals + " AND " + vc + " AND " + kc, t=HANDLES.name)
        with self.reading.cursor() as c:
            r = self.db.row(c, query, (platform, key, *vp, *kp))
            if r is None:
                if self.db.row(c, self._carried, (platform, key)) is None:
                    raise HandleNotFound(platform, normalize_handle(handle))
                return HandleAnswer(platform, normalize_handle(handle), at, known_at, None, ())
            account_id = UUID(r["account_id"])
            account = self.accounts.state(c, account_id, at, known_at)
            provenance = self.events.provenance(c, account_id, json.loads(r["established_by"]))
            return HandleAnswer(platform, r["handle"], at, known_at, account, provenance)

    def handle_history(
        self, platform: str, handle: str, known_at: datetime | None = None
    ) -> tuple[HandleIntervalView, ...]:
        """Every account that carried the handle and when, as known at `known_at`."""
        key = _key(handle)
        _, known_at = times(None, known_at)
        kc, kp = known(known_at)
        query = self.db.sql(self._intervals + " AND " + kc + " ORDER BY valid_from", t=HANDLES.name)
        with self.reading.cursor() as c:
            rows = self.db.rows(c, query, (platform, key, *kp))
            answers = [(UUID(r["account_id"]), json.loads(r["established_by"])) for r in rows]
            provenance = self.events.provenance_each(c, answers)
        return tuple(
            HandleIntervalView(
                aid, r["handle"], from_us(r["valid_from"]), opt_time(r["valid_to"]), established_by
            )
            for r, (aid, _), established_by in zip(rows, answers, provenance, strict=True)
        )


def _key(handle: str) -> str:
    try:
        return handle_key(handle)
    except ValueError as e:
        raise InvalidInput(f"handle: {e}", field="handle") from None

"""Questions answered from the segments model (`rm_segments`): an account's state at a time, and
the accounts matching filters at a time."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any
from uuid import UUID

from ledger.errors import InvalidInput
from ledger.fold import OFFICE_OWNED, ArchiveEntry, HolderRef, Ineffective
from projections.db import NamedRow
from projections.derive import from_us, to_us
from projections.models import Segments
from projections.queries.common import MAX_PAGE, Reading, known, opt_time, select_list, times, valid
from projections.queries.events import EVENTS, EventLogQueries
from projections.queries.views import (
    AccountPage,
    AccountSummary,
    AccountView,
    AudienceView,
    HolderView,
    Provenance,
)

SEGMENTS = Segments.table
STATUSES = (None, "active", "closed")


class AccountQueries:
    def __init__(self, reading: Reading, events: EventLogQueries) -> None:
        self.reading = reading
        self.db = reading.db
        self.events = events
        # A state's columns, and the stream's version as then known (from the event log).
        self._state = (
            "SELECT "
            + select_list(SEGMENTS)
            + ", (SELECT MAX(e.version) FROM {e} e WHERE e.account_id = %s"
        )
        # A listing reads who and where only, not the whole state.
        summary = ("account_id", "platform", "handle", "office", "status", "holder_id")
        self._summary = "SELECT " + select_list(SEGMENTS, *summary, "holder_name", "holder_since")

    def account_at(
        self, account_id: UUID, at: datetime | None = None, known_at: datetime | None = None
    ) -> AccountView | None:
        """The account's state at `at` as known at `known_at`; None if it did not exist then."""
        at, known_at = times(at, known_at)
        with self.reading.cursor() as c:
            view = self.state(c, account_id, at, known_at)
            if view is None:
                self.events.require_account(c, account_id)
            return view

    def accounts(
        self,
        *,
        office: str | None = None,
        platform: str | None = None,
        status: str | None = None,
        at: datetime | None = None,
        known_at: datetime | None = None,
        limit: int = 50,
        cursor: str | None = None,
    ) -> AccountPage:
        """Accounts matching the filters at `at` as known at `known_at`, by account id, paginated."""
        if not 1 <= limit <= MAX_PAGE:
            raise InvalidInput(f"limit must be between 1 and {MAX_PAGE}", field="limit")
        if status not in STATUSES:
            raise InvalidInput("status must be 'active' or 'closed'", field="status")
        if cursor is not None:
            try:
                cursor = str(UUID(cursor))
            except ValueError:
                raise InvalidInput(
                    "cursor is not one this service returned", field="cursor"
                ) from None
        at, known_at = times(at, known_at)
        conds, params = [], []
        for column, value in (("office", office), ("platform", platform), ("status", status)):
            if value is not None:
                conds.append(f"{column} = %s")
                params.append(value)
        if cursor is not None:
            conds.append("account_id > %s")
            params.append(cursor)
        vc, vp = valid(at)
        kc, kp = known(known_at)
        query = self.db.sql(
            self._summary
            + " FROM {t} WHERE "
            + " AND ".join([*conds, vc, kc])
            + " ORDER BY account_id LIMIT %s",
            t=SEGMENTS.name,
        )
        with self.reading.cursor() as c:
            rows = self.db.rows(c, query, (*params, *vp, *kp, limit + 1))
        page = [
            AccountSummary(
                UUID(r["account_id"]),
                r["platform"],
                r["handle"],
                r["office"],
                r["status"],
                _holder(r),
            )
            for r in rows[:limit]
        ]
        return AccountPage(tuple(page), str(page[-1].account_id) if len(rows) > limit else None)

    def state(
        self, c: Any, account_id: UUID, at: datetime, known_at: datetime | None
    ) -> AccountView | None:
        """The account's state at `at` as known at `known_at`, on a cursor of `Reading`."""
        vc, vp = valid(at)
        kc, kp = known(known_at)
        recorded = "" if known_at is None else " AND e.recorded_at <= %s"
        recorded_param: tuple[Any, ...] = () if known_at is None else (to_us(known_at),)
        aid = str(account_id)
        r = self.db.row(
            c,
            self.db.sql(
                self._state
                + recorded
                + ") AS known_version FROM {t} WHERE account_id = %s AND "
                + vc
                + " AND "
                + kc,
                t=SEGMENTS.name,
                e=EVENTS.name,
            ),
            (aid, *recorded_param, aid, *vp, *kp),
        )
        if r is None:
            return None
        established_by = self.events.provenance(c, account_id, json.loads(r["established_by"]))
        return AccountView(
            account_id=account_id,
            platform=r["platform"],
            platform_account_id=r["platform_account_id"],
            handle=r["handle"],
            office=r["office"],
            status=r["status"],
            holder=_holder(r),
            archives=tuple(
                ArchiveEntry(
                    a["ref"], a["sha256"], a["items"], from_us(a["effective_at"]), a["version"]
                )
                for a in json.loads(r["archives"])
            ),
            registered_at=from_us(r["registered_at"]),
            version=int(r["known_version"] or 0),
            at=at,
            known_at=known_at,
            established_by=established_by,
            ineffective=tuple(
                Ineffective(i["version"], i["type"], i["why"]) for i in json.loads(r["ineffective"])
            ),
            ownership=r["ownership"] or OFFICE_OWNED,
            owner=HolderRef(r["owner_id"], r["owner_name"]) if r["owner_id"] else None,
            audience=audience(r, established_by),
        )


def audience(r: NamedRow, cited: tuple[Provenance, ...]) -> AudienceView | None:
    """A segment row's audience observation, with its event among `cited` (the row's)."""
    if r["followers"] is None:
        return None
    by = tuple(p for p in cited if p.version == r["audience_by"])
    return AudienceView(int(r["followers"]), from_us(r["observed_at"]), by)


def _holder(r: NamedRow) -> HolderView | None:
    if r["holder_id"] is None:
        return None
    return HolderView(r["holder_id"], r["holder_name"], opt_time(r["holder_since"]))

"""The query service: what oversight bodies and dispute panels ask, answered from the read models.

Every answer names the events that establish it (version, type, recorded_at, actor, position).
`at` is valid time and `known_at` record time; None means now. Before answering, the service
waits (bounded) until the read models have applied the log head, so a read issued after a write
returned sees that write (`common.Reading`).

One module per read model answers its questions (`accounts`: segments, `custody`, `handles`,
`events`: the event log); `QueryService` composes them behind one face, and the answers are the
frozen dataclasses of `views`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import datetime
from typing import Any, TypeVar
from uuid import UUID

from ledger.errors import NotFound
from ledger.oversight import Rules
from ledger.records import EventRecord
from projections import quarantine
from projections.projector import Progress, Projector
from projections.queries.accounts import AccountQueries
from projections.queries.changes import ChangeQueries
from projections.queries.common import MAX_PAGE, Reading
from projections.queries.custody import CustodyQueries
from projections.queries.disputes import DisputeQueries
from projections.queries.events import EventLogQueries
from projections.queries.handles import HandleQueries
from projections.queries.offices import OfficeQueries, check_office
from projections.queries.views import (
    AccountPage,
    AccountSummary,
    AccountView,
    CustodyChanges,
    CustodyIntervalView,
    CustodyTimeline,
    DisputeNote,
    HandleAnswer,
    HandleChanges,
    HandleIntervalView,
    HolderPortfolio,
    HolderView,
    LogPage,
    Provenance,
    TenureChanges,
)

T = TypeVar("T")

__all__ = [
    "MAX_PAGE",
    "AccountPage",
    "AccountSummary",
    "AccountView",
    "CustodyIntervalView",
    "CustodyTimeline",
    "HandleAnswer",
    "HandleIntervalView",
    "HolderPortfolio",
    "HolderView",
    "LogPage",
    "Provenance",
    "QueryService",
]


class QueryService:
    """Read-only answers from the read models; the doors call this and nothing lower."""

    def __init__(
        self, projector: Projector, *, wait_seconds: float = 5.0, rules: Rules | None = None
    ) -> None:
        self.projector = projector
        self.progress = Progress()
        self.reading = Reading(projector, wait_seconds)
        self._events = EventLogQueries(self.reading)
        self._accounts = AccountQueries(self.reading, self._events)
        self._custody = CustodyQueries(self.reading, self._events)
        self._handles = HandleQueries(self.reading, self._events, self._accounts)
        self.offices = OfficeQueries(self.reading, self._events, rules or Rules())
        self._changes = ChangeQueries(self.reading, self._events)
        self.disputes = DisputeQueries(self.reading, self._events)

    # -- accounts (segments) ---------------------------------------------------------------------

    def account_at(
        self, account_id: UUID, at: datetime | None = None, known_at: datetime | None = None
    ) -> AccountView | None:
        """The account's state at `at` as known at `known_at`; None if it did not exist then.
        It lists the disputes open then whose window holds `at`."""
        view = self._checked(
            lambda: self._accounts.account_at(account_id, at, known_at), account_id
        )
        if view is None:
            return None
        disputes = self._open_about((account_id,), view.at, view.known_at, view.office)
        return replace(view, disputes=disputes)

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
        return self._accounts.accounts(
            office=office,
            platform=platform,
            status=status,
            at=at,
            known_at=known_at,
            limit=limit,
            cursor=cursor,
        )

    # -- custody ---------------------------------------------------------------------------------

    def custody_timeline(
        self,
        account_id: UUID,
        known_at: datetime | None = None,
        meeting: tuple[datetime, datetime] | None = None,
    ) -> CustodyTimeline:
        """The account's holder intervals in valid time, as known at `known_at` (those that
        meet the range `meeting` only, if given), and the disputes about the account open
        then."""
        timeline = self._checked(
            lambda: self._custody.custody_timeline(account_id, known_at, meeting), account_id
        )
        return replace(timeline, disputes=self._open_about((account_id,), None, known_at))

    def holder_custody(self, holder_id: str, known_at: datetime | None = None) -> HolderPortfolio:
        """Every account the holder held, and when, as known at `known_at`."""
        answer = self._custody.holder_custody(holder_id, known_at)
        # A stream set aside may hold this person's later custody, unapplied: no answer that
        # might leave it out silently.
        self.reading.check(*self.reading.aside)
        return answer

    # -- handles ---------------------------------------------------------------------------------

    def handle_at(
        self,
        platform: str,
        handle: str,
        at: datetime | None = None,
        known_at: datetime | None = None,
    ) -> HandleAnswer:
        """The account that carried the handle at `at` as known at `known_at` (None if none did)."""
        answer = self._handles.handle_at(platform, handle, at, known_at)
        if answer.account is not None:
            self.reading.check(answer.account.account_id)
            # A dispute about any account that carried the handle may contest who carries it
            # at `at` (a look-alike that took it): each is listed on the handle's answer.
            carriers = self._handles.carriers(platform, handle, answer.known_at)
            carriers.add(answer.account.account_id)
            answer = replace(
                answer,
                disputes=self._open_about(
                    tuple(sorted(carriers, key=str)), answer.at, answer.known_at
                ),
            )
        if self.reading.aside:  # rare: a stream set aside may hold a move of this handle
            self.reading.check(
                *(i.account_id for i in self._handles.handle_history(platform, handle))
            )
        return answer

    def handle_history(
        self, platform: str, handle: str, known_at: datetime | None = None
    ) -> tuple[HandleIntervalView, ...]:
        """Every account that carried the handle and when, as known at `known_at`."""
        answer = self._handles.handle_history(platform, handle, known_at)
        self.reading.check(*{i.account_id for i in answer})
        return answer

    # -- how an answer changed -----------------------------------------------------------------

    def custody_changes(self, account_id: UUID, from_: datetime, to: datetime) -> CustodyChanges:
        """Each record time at which the account's holder intervals in the valid-time window
        [from_, to) changed, with the events that changed them, oldest first."""
        return self._checked(
            lambda: self._changes.custody_changes(account_id, from_, to), account_id
        )

    def handle_changes(
        self, platform: str, handle: str, from_: datetime, to: datetime
    ) -> HandleChanges:
        """Each record time at which the accounts carrying the handle in [from_, to) changed."""
        return self._changes.handle_changes(platform, handle, from_, to)

    def tenure_changes(self, office: str, from_: datetime, to: datetime) -> TenureChanges:
        """Each record time at which the office's tenures in [from_, to) changed."""
        return self._changes.tenure_changes(office, from_, to)

    # -- the event log ---------------------------------------------------------------------------

    def events(self, account_id: UUID) -> tuple[EventRecord, ...]:
        """The stream's event records, oldest first."""
        return self._checked(lambda: self._events.events(account_id), account_id)

    def office_events(self, office: str) -> tuple[EventRecord, ...]:
        """The office stream's event records, oldest first."""
        return self._events.office_events(check_office(office))

    def current_version(self, account_id: UUID) -> int:
        """The stream's version as known now (0 for an unknown account), without reading its
        records; call it after a query that waited for the read models (it does not wait)."""
        return self._events.current_version(account_id)

    def log(self, after: int = 0, limit: int = 100) -> LogPage:
        """The global log of custody events in position order, after an exclusive position."""
        return self._events.log(after, limit)

    def _open_about(
        self,
        accounts: tuple[UUID, ...],
        at: datetime | None,
        known_at: datetime | None,
        office: str | None = None,
    ) -> tuple[DisputeNote, ...]:
        """Disputes open at `known_at` about these accounts (or `office`) whose window holds
        `at` (None: any window)."""
        # The answer it goes with has waited for the read models: read without waiting again.
        with self.projector.db.reader(by_name=True) as c:
            found = self.disputes.open_about(
                c, accounts=accounts, office=office, at=at, known_at=known_at
            )
        self.reading.check(*(d.dispute_id for d in found))
        return found

    def _checked(self, answer: Callable[[], T], account_id: UUID) -> T:
        """The answer about one account, unless its stream is set aside (then UnreadableEvent,
        even where the read models, missing its later events, would say it does not exist)."""
        try:
            result = answer()
        except NotFound:
            self.reading.check(account_id)
            raise
        self.reading.check(account_id)
        return result

    # -- health ----------------------------------------------------------------------------------

    def health(self) -> dict[str, Any]:
        """The store kind, the log head, each read model's position (this version's models
        only), the lag behind the head, and for how long the read models have stayed behind
        without moving (as this process has looked)."""
        head = self.projector.ledger.head()
        positions = self.projector.positions()
        applied = min(positions.values(), default=0)
        lag = max(head - applied, 0)
        return {
            "store": self.projector.db.kind,
            "log_head": head,
            "read_models": positions,
            "lag": lag,
            "stalled_seconds": round(self.progress.stalled_for(applied, lag), 1),
            "set_aside": [e.detail for e in quarantine.load(self.projector.db).values()],
        }

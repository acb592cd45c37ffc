"""The dossier: what a dispute panel is handed about an account over a window of valid time.

It gathers, from the read models, the answers a panel asks for and the record behind them:
the custody in the window as known at every record time that matters (the complaint's, each
change's, now), how it changed (`ledger.changes`' rule), every event of the account's stream,
the dispute and its events, other disputes about the account over the window, and (where the
verifiable log runs) the proofs: each stream's entries with their inclusion in a signed
checkpoint. `ledger.tlog.dossier` checks a dossier offline against those proofs, re-running
the fold. The doors render it (JSON, W3C PROV, a printable page).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar
from uuid import UUID

from ledger.changes import Window
from ledger.domain import office_id
from ledger.errors import InvalidInput, NotFound, StoreUnavailable
from ledger.records import EventRecord
from projections.queries import QueryService
from projections.queries.views import (
    AccountView,
    CustodyChanges,
    CustodyIntervalView,
    DisputeSummary,
    DisputeView,
    HandleIntervalView,
    TenureChanges,
)
from projections.tlog.service import LogNotFound, LogService

FORMAT = "custody-dossier/v1"
ATTEMPTS = 3


class DossierBusy(StoreUnavailable):
    """The account kept being written while its dossier was read: ask again."""

    code = "dossier-busy"


COMPLAINT, CHANGE, NOW = "complaint", "change", "now"


@dataclass(frozen=True, slots=True)
class Answer:
    """The custody in the window as known at `known_at` (None: now), and why it is here."""

    known_at: datetime | None
    label: str
    custody: tuple[CustodyIntervalView, ...]


@dataclass(frozen=True, slots=True)
class HandleAnswer:
    """Which accounts carried one of the subject's handles in the window, as known at
    `known_at` (None: now): a look-alike that took the handle shows here."""

    known_at: datetime | None
    handle: str
    intervals: tuple[HandleIntervalView, ...]


@dataclass(frozen=True, slots=True)
class OfficeTenures:
    """How the tenures of an office the account belonged to in the window changed, with the
    office stream's proof (None: no verifiable log, or an office never registered)."""

    changes: TenureChanges
    proof: dict[str, Any] | None


@dataclass(frozen=True, slots=True)
class Dossier:
    generated_at: datetime
    account_id: UUID
    window: Window
    account: AccountView | None  # the account at the window's last instant, as known now
    dispute: DisputeView | None
    answers: tuple[Answer, ...]
    handles: tuple[HandleAnswer, ...]
    offices: tuple[OfficeTenures, ...]
    changes: CustodyChanges
    events: tuple[EventRecord, ...]
    disputes: tuple[DisputeSummary, ...]
    # {checkpoint, entries}: the account's stream, and the dispute's (None: no verifiable log).
    proof: dict[str, Any] | None
    dispute_proof: dict[str, Any] | None


class DossierService:
    """Builds dossiers from the query service and, when it runs, the verifiable log."""

    def __init__(
        self,
        queries: QueryService,
        log: LogService | None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.queries = queries
        self.log = log
        self.clock = clock

    def for_dispute(self, dispute_id: UUID) -> Dossier:
        """The dossier of a dispute: its subject over its window, the complaint's date first."""
        dispute = self.queries.disputes.dispute(dispute_id)
        if dispute.subject_account is None:
            raise InvalidInput(
                f"dispute {dispute_id} is about office {dispute.subject_office}: a dossier is "
                "built about an account (ask for the dossier of each of the office's accounts, "
                "GET /v1/accounts/{id}/dossier)",
                field="dispute_id",
            )
        window = Window(dispute.window_from, dispute.window_to)
        return self._consistent(dispute.subject_account, window, dispute)

    def for_account(self, account_id: UUID, from_: datetime, to: datetime) -> Dossier:
        """The dossier of an account over the valid-time window [from_, to)."""
        return self._consistent(account_id, Window(from_, to), None)

    def _consistent(self, account_id: UUID, window: Window, dispute: DisputeView | None) -> Dossier:
        """A dossier read in several queries: built again if the account or the dispute was
        written meanwhile, so that every part of it rests on the same events (`custody verify`
        would refuse a dossier whose answers saw an event its list of events does not hold)."""
        q = self.queries
        for _ in range(ATTEMPTS):
            dossier = self._build(account_id, window, dispute)
            moved = q.current_version(account_id) != len(dossier.events)
            if dispute is not None:
                again = q.disputes.dispute(dispute.dispute_id)
                moved |= again.version != dispute.version
                dispute = again
            if not moved:
                return dossier
        raise DossierBusy(
            f"account {account_id} kept being written while its dossier was read; retry"
        )

    def _build(self, account_id: UUID, window: Window, dispute: DisputeView | None) -> Dossier:
        q = self.queries
        generated_at = self.clock()
        events = q.events(account_id)
        changes = q.custody_changes(account_id, window.valid_from, window.valid_to)
        answers: list[Answer] = []
        if dispute is not None:
            complaint = self._custody(account_id, window, dispute.opened_at)
            answers.append(Answer(dispute.opened_at, COMPLAINT, complaint))
        answers += [Answer(v.known_at, CHANGE, v.intervals) for v in changes.versions]
        answers.append(Answer(None, NOW, self._custody(account_id, window, None)))
        handles = self._handles(events, window, answers, dispute)
        last = window.valid_to - timedelta(microseconds=1)
        others = tuple(
            d
            for d in self._disputes_about(account_id)
            if d.window_from < window.valid_to
            and window.valid_from < d.window_to
            and (dispute is None or d.dispute_id != dispute.dispute_id)
        )
        proof = self._proof(account_id, len(events))
        dispute_proof = (
            None if dispute is None else self._proof(dispute.dispute_id, dispute.version)
        )
        return Dossier(
            generated_at=generated_at,
            account_id=account_id,
            window=window,
            account=q.account_at(account_id, last),
            dispute=dispute,
            answers=tuple(answers),
            handles=handles,
            offices=self._offices(answers, window),
            changes=changes,
            events=events,
            disputes=others,
            proof=proof,
            dispute_proof=dispute_proof,
        )

    def _proof(self, stream: UUID, version: int) -> dict[str, Any] | None:
        """The stream's first `version` entries with their inclusion in the latest published
        checkpoint; None where the log signs none (no key; witnesses not cosigning yet).
        LogBehind (503) while those events are not in a published checkpoint yet."""
        if self.log is None:
            return None
        try:
            return self.log.stream_proof(stream, version)
        except LogNotFound:
            return None

    def _custody(
        self, account_id: UUID, window: Window, known_at: datetime | None
    ) -> tuple[CustodyIntervalView, ...]:
        meeting = (window.valid_from, window.valid_to)
        timeline = self.queries.custody_timeline(account_id, known_at, meeting)
        return _clipped(window, timeline.intervals)

    def _handles(
        self,
        events: tuple[EventRecord, ...],
        window: Window,
        answers: list[Answer],
        dispute: DisputeView | None,
    ) -> tuple[HandleAnswer, ...]:
        """Every account that carried, in the window, a handle the subject carried there (as
        known at the complaint's date, and now)."""
        platform = str(events[0].data["platform"])
        carried = dict.fromkeys(h for a in answers for iv in a.custody for h in iv.handles)
        out = []
        for known_at in ([dispute.opened_at] if dispute else []) + [None]:
            for handle in carried:
                try:
                    history = self.queries.handle_history(platform, handle, known_at)
                except NotFound:
                    history = ()  # not carried yet, as known then
                out.append(HandleAnswer(known_at, handle, _clipped(window, history)))
        return tuple(out)

    def _offices(self, answers: list[Answer], window: Window) -> tuple[OfficeTenures, ...]:
        """The tenure changes of every registered office the account belonged to in the
        window (as known at any of the answers), with each office stream's proof."""
        out = []
        for office in sorted({o for a in answers for iv in a.custody for o in iv.offices}):
            changes = self.queries.tenure_changes(office, window.valid_from, window.valid_to)
            stream = office_id(office)
            recorded = self.queries.current_version(stream)  # 0: named by accounts only
            out.append(OfficeTenures(changes, self._proof(stream, recorded) if recorded else None))
        return tuple(out)

    def _disputes_about(self, account_id: UUID) -> list[DisputeSummary]:
        found: list[DisputeSummary] = []
        after: str | None = None
        while True:
            page = self.queries.disputes.disputes(account_id=account_id, after=after, limit=1000)
            found += page.disputes
            if page.next_cursor is None:
                return found
            after = page.next_cursor


Clippable = TypeVar("Clippable", CustodyIntervalView, HandleIntervalView)


def _clipped(window: Window, intervals: Iterable[Clippable]) -> tuple[Clippable, ...]:
    """The intervals that meet the window, cut to it (`ledger.changes.clipped`, for views)."""
    return tuple(
        replace(iv, valid_from=start, valid_to=end)
        for iv in intervals
        if window.overlaps(iv.valid_from, iv.valid_to)
        for start, end in (window.clip(iv.valid_from, iv.valid_to),)
    )

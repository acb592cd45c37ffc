"""The dossier: what a dispute panel is handed about an account, or an office, over a window
of valid time.

It gathers, from the read models, the answers a panel asks for and the record behind them:
the custody in the window (an office's: its tenures) as known at every record time that
matters (the complaint's, each change's, now), how it changed (`ledger.changes`' rule), every
event of the subject's stream, the dispute and its events, other disputes about the subject
over the window, and (where the verifiable log runs) the proofs: each stream's entries with
their inclusion in a signed checkpoint. `ledger.tlog.dossier` checks a dossier offline against
those proofs, re-running the fold. The doors render it (JSON, W3C PROV, a printable page).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar
from uuid import UUID

from ledger import oversight
from ledger.changes import Window
from ledger.domain import office_id
from ledger.errors import NotFound, StoreUnavailable
from ledger.fold import HolderRef
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
    TenureSpanView,
)
from projections.tlog.service import LogNotFound, LogService

FORMAT = "custody-dossier/v1"
ATTEMPTS = 3


class DossierBusy(StoreUnavailable):
    """The subject kept being written while its dossier was read: ask again."""

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


@dataclass(frozen=True, slots=True)
class TenureAnswer:
    """The office's tenures in the window as known at `known_at` (None: now), and why it is
    here."""

    known_at: datetime | None
    label: str
    tenures: tuple[TenureSpanView, ...]


@dataclass(frozen=True, slots=True)
class Speaking:
    """An account that spoke for the office in the window, as known at `known_at` (None:
    now): shown, not proved (its stream is not in the office's dossier)."""

    known_at: datetime | None
    account_id: UUID
    platform: str
    handles: tuple[str, ...]
    ownership: str
    owner: HolderRef | None
    valid_from: datetime
    valid_to: datetime


@dataclass(frozen=True, slots=True)
class OfficeDossier:
    """The dossier of an office: its tenures where an account's has custody, the office
    stream's events and proof, and the accounts that spoke for it (to ask their dossiers)."""

    generated_at: datetime
    office: str
    window: Window
    dispute: DisputeView | None
    answers: tuple[TenureAnswer, ...]
    changes: TenureChanges
    events: tuple[EventRecord, ...]
    accounts: tuple[Speaking, ...]
    disputes: tuple[DisputeSummary, ...]
    proof: dict[str, Any] | None
    dispute_proof: dict[str, Any] | None


Built = TypeVar("Built", Dossier, OfficeDossier)


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

    def for_dispute(self, dispute_id: UUID) -> Dossier | OfficeDossier:
        """The dossier of a dispute: its subject (an account, or an office) over its window,
        the complaint's date first."""
        dispute = self.queries.disputes.dispute(dispute_id)
        window = Window(dispute.window_from, dispute.window_to)
        office = dispute.subject_office
        if office is not None:
            return self._consistent(
                office_id(office), lambda d: self._build_office(office, window, d), dispute
            )
        account_id = dispute.subject_account
        assert account_id is not None
        return self._consistent(account_id, lambda d: self._build(account_id, window, d), dispute)

    def for_account(self, account_id: UUID, from_: datetime, to: datetime) -> Dossier:
        """The dossier of an account over the valid-time window [from_, to)."""
        window = Window(from_, to)
        return self._consistent(account_id, lambda d: self._build(account_id, window, d), None)

    def _consistent(
        self,
        stream: UUID,
        build: Callable[[DisputeView | None], Built],
        dispute: DisputeView | None,
    ) -> Built:
        """A dossier read in several queries: built again if the subject's stream or the
        dispute was written meanwhile, so that every part of it rests on the same events
        (`custody verify` would refuse a dossier whose answers saw an event its list of events
        does not hold)."""
        q = self.queries
        for _ in range(ATTEMPTS):
            dossier = build(dispute)
            moved = q.current_version(stream) != len(dossier.events)
            if dispute is not None:
                again = q.disputes.dispute(dispute.dispute_id)
                moved |= again.version != dispute.version
                dispute = again
            if not moved:
                return dossier
        raise DossierBusy(f"stream {stream} kept being written while its dossier was read; retry")

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
        others = self._others(window, dispute, account_id=account_id)
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

    def _build_office(
        self, office: str, window: Window, dispute: DisputeView | None
    ) -> OfficeDossier:
        q = self.queries
        generated_at = self.clock()
        events = q.office_events(office)
        changes = q.tenure_changes(office, window.valid_from, window.valid_to)
        # As known at the complaint's date and now: the tenures, and who spoke for the office.
        seen = [q.offices.in_window(office, window, k)
                for k in ([dispute.opened_at] if dispute else []) + [None]]  # fmt: skip
        answers = [TenureAnswer(dispute.opened_at, COMPLAINT, seen[0].tenures)] if dispute else []
        answers += [TenureAnswer(v.known_at, CHANGE, v.intervals) for v in changes.versions]
        answers.append(TenureAnswer(None, NOW, seen[-1].tenures))
        stream = office_id(office)
        return OfficeDossier(
            generated_at=generated_at,
            office=office,
            window=window,
            dispute=dispute,
            answers=tuple(answers),
            changes=changes,
            events=events,
            accounts=tuple(_speaking(w.known_at, s) for w in seen for s in w.accounts),
            disputes=self._others(window, dispute, office=office),
            proof=self._proof(stream, len(events)),
            dispute_proof=None
            if dispute is None
            else self._proof(dispute.dispute_id, dispute.version),
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

    def _others(
        self,
        window: Window,
        dispute: DisputeView | None,
        *,
        account_id: UUID | None = None,
        office: str | None = None,
    ) -> tuple[DisputeSummary, ...]:
        """The other disputes about the subject whose window meets this one."""
        return tuple(
            d
            for d in self._disputes_about(account_id, office)
            if d.window_from < window.valid_to
            and window.valid_from < d.window_to
            and (dispute is None or d.dispute_id != dispute.dispute_id)
        )

    def _disputes_about(self, account_id: UUID | None, office: str | None) -> list[DisputeSummary]:
        found: list[DisputeSummary] = []
        after: str | None = None
        while True:
            page = self.queries.disputes.disputes(
                account_id=account_id, office=office, after=after, limit=1000
            )
            found += page.disputes
            if page.next_cursor is None:
                return found
            after = page.next_cursor


def _speaking(known_at: datetime | None, s: oversight.Speaker) -> Speaking:
    return Speaking(
        known_at, s.account_id, s.platform, s.handles, s.ownership, s.owner, s.valid_from,
        s.valid_to,
    )  # fmt: skip


Clippable = TypeVar("Clippable", CustodyIntervalView, HandleIntervalView)


def _clipped(window: Window, intervals: Iterable[Clippable]) -> tuple[Clippable, ...]:
    """The intervals that meet the window, cut to it (`ledger.changes.clipped`, for views)."""
    return tuple(
        replace(iv, valid_from=start, valid_to=end)
        for iv in intervals
        if window.overlaps(iv.valid_from, iv.valid_to)
        for start, end in (window.clip(iv.valid_from, iv.valid_to),)
    )

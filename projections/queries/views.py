"""What the query service answers: one frozen dataclass per concept, handed to the doors as is.

Where the ledger already has the concept it is not defined again: an event record is the
ledger's `EventRecord`; a custody interval's holder, an archive and an ineffective fact are the
fold's `HolderRef`, `ArchiveEntry` and `Ineffective`. Only what the read side adds is here.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Generic, TypeVar
from uuid import UUID

from ledger.changes import Window
from ledger.fold import ArchiveEntry, HolderRef, Ineffective
from ledger.oversight import Speaker
from ledger.records import EventRecord


@dataclass(frozen=True, slots=True)
class Provenance:
    """One event behind an answer."""

    version: int
    type: str
    recorded_at: datetime
    actor: str
    position: int


@dataclass(frozen=True, slots=True)
class HolderView:
    """Who holds an account at a time, and since when."""

    id: str
    name: str
    since: datetime | None = None


@dataclass(frozen=True, slots=True)
class AudienceView:
    """The latest audience observation at or before a time, and the event that recorded it."""

    followers: int
    observed_at: datetime
    established_by: tuple[Provenance, ...]


@dataclass(frozen=True, slots=True)
class AccountView:
    """An account's state at `at` as known at `known_at` (None: now). `office`: the office that
    owns it, or, for a personal account, the office it speaks for then (None if none)."""

    account_id: UUID
    platform: str
    platform_account_id: str | None
    handle: str
    office: str | None
    status: str
    holder: HolderView | None
    archives: tuple[ArchiveEntry, ...]
    registered_at: datetime
    version: int
    at: datetime
    known_at: datetime | None
    established_by: tuple[Provenance, ...]
    ineffective: tuple[Ineffective, ...]
    ownership: str = "office"
    owner: HolderRef | None = None
    audience: AudienceView | None = None
    # Disputes open at `known_at` about what the answer covers (`DisputeNote`).
    disputes: tuple[DisputeNote, ...] = ()


@dataclass(frozen=True, slots=True)
class AccountSummary:
    """An account in a listing: who and where, at the listing's time."""

    account_id: UUID
    platform: str
    handle: str
    office: str | None
    status: str
    holder: HolderView | None


@dataclass(frozen=True, slots=True)
class AccountPage:
    accounts: tuple[AccountSummary, ...]
    next_cursor: str | None


@dataclass(frozen=True, slots=True)
class CustodyIntervalView:
    """One holder's custody of one account over `[valid_from, valid_to)` in valid time."""

    account_id: UUID
    holder: HolderRef
    valid_from: datetime
    valid_to: datetime | None
    handles: tuple[str, ...]
    offices: tuple[str, ...]
    established_by: tuple[Provenance, ...]


@dataclass(frozen=True, slots=True)
class CustodyTimeline:
    """An account's holders over valid time, as known at `known_at`."""

    account_id: UUID
    known_at: datetime | None
    intervals: tuple[CustodyIntervalView, ...]
    # Disputes open at `known_at` about what the answer covers (`DisputeNote`).
    disputes: tuple[DisputeNote, ...] = ()


@dataclass(frozen=True, slots=True)
class HolderPortfolio:
    """Every account one holder held, and when, as known at `known_at`."""

    holder_id: str
    known_at: datetime | None
    intervals: tuple[CustodyIntervalView, ...]


@dataclass(frozen=True, slots=True)
class HandleIntervalView:
    """The account carried the handle over `[valid_from, valid_to)` in valid time."""

    account_id: UUID
    handle: str
    valid_from: datetime
    valid_to: datetime | None
    established_by: tuple[Provenance, ...]


@dataclass(frozen=True, slots=True)
class HandleAnswer:
    """The account that carried a handle at `at` as known at `known_at` (None if none did)."""

    platform: str
    handle: str
    at: datetime
    known_at: datetime | None
    account: AccountView | None
    established_by: tuple[Provenance, ...]
    # Disputes open at `known_at` about what the answer covers (`DisputeNote`).
    disputes: tuple[DisputeNote, ...] = ()


@dataclass(frozen=True, slots=True)
class LogPage:
    """A page of the global log, and the position to read on from."""

    events: tuple[EventRecord, ...]
    next_after: int


# -- offices ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Cited:
    """An event behind an answer drawn from several streams: of an account, or of an office."""

    account_id: UUID | None
    office: str | None
    version: int
    type: str
    recorded_at: datetime
    actor: str
    position: int


@dataclass(frozen=True, slots=True)
class ObservedView:
    """An account, with the audience observation that goes with the answer (None if none)."""

    account_id: UUID
    platform: str
    handle: str
    ownership: str
    owner: HolderRef | None
    audience: AudienceView | None


@dataclass(frozen=True, slots=True)
class FindingView:
    kind: str
    office: str
    account_id: UUID | None
    handle: str | None
    holder: HolderRef | None
    valid_from: datetime
    valid_to: datetime | None
    followers: int | None
    detail: str
    established_by: tuple[Cited, ...]


@dataclass(frozen=True, slots=True)
class OfficeView:
    """An office at `at` as known at `known_at`: its holder (`tenure_known` False before its
    registration, or for an office that accounts name but nobody registered), the accounts
    speaking for it, and the findings in effect then."""

    office: str
    registered: bool
    name: str | None
    jurisdiction: str | None
    tenure_known: bool
    holder: HolderView | None
    accounts: tuple[ObservedView, ...]
    findings: tuple[FindingView, ...]
    at: datetime
    known_at: datetime | None
    established_by: tuple[Provenance, ...]


@dataclass(frozen=True, slots=True)
class OfficeSummary:
    office: str
    name: str
    jurisdiction: str
    holder: HolderView | None


@dataclass(frozen=True, slots=True)
class TenureView:
    holder: HolderRef
    valid_from: datetime
    valid_to: datetime | None
    accounts: tuple[ObservedView, ...]
    established_by: tuple[Provenance, ...]


@dataclass(frozen=True, slots=True)
class Tenures:
    office: str
    known_at: datetime | None
    tenures: tuple[TenureView, ...]


@dataclass(frozen=True, slots=True)
class SideView:
    """Accounts on one side of a handover: the sum of their observed followers, and how many
    had no observation near it."""

    accounts: tuple[ObservedView, ...]
    followers: int
    unobserved: int


@dataclass(frozen=True, slots=True)
class HandoverView:
    at: datetime
    outgoing: HolderRef | None
    incoming: HolderRef | None
    retained: SideView
    departed: SideView
    established_by: tuple[Provenance, ...]


@dataclass(frozen=True, slots=True)
class Handovers:
    office: str
    known_at: datetime | None
    handovers: tuple[HandoverView, ...]


@dataclass(frozen=True, slots=True)
class FindingsPage:
    findings: tuple[FindingView, ...]
    next_after: str | None


@dataclass(frozen=True, slots=True)
class DisputeNote:
    """A dispute open at the answer's `known_at` whose window meets what the answer covers."""

    dispute_id: UUID
    window_from: datetime
    window_to: datetime
    claim: str
    opened_at: datetime


@dataclass(frozen=True, slots=True)
class DisputeSummary:
    """A dispute in a listing: its subject, window, claim and status, as known now."""

    dispute_id: UUID
    subject_account: UUID | None
    subject_office: str | None
    window_from: datetime
    window_to: datetime
    claim: str
    status: str
    outcome: str | None
    opened_at: datetime
    opened_by: str


@dataclass(frozen=True, slots=True)
class DisputePage:
    disputes: tuple[DisputeSummary, ...]
    next_cursor: str | None


@dataclass(frozen=True, slots=True)
class DisputeView:
    """A dispute as known at `known_at`: what it contests, its status, and its events."""

    dispute_id: UUID
    known_at: datetime | None
    subject_account: UUID | None
    subject_office: str | None
    window_from: datetime
    window_to: datetime
    claim: str
    contested: tuple[tuple[str, int], ...]
    status: str
    outcome: str | None
    ruling: str | None
    opened_at: datetime
    opened_by: str
    closed_at: datetime | None
    corrections: tuple[dict[str, Any], ...]
    version: int
    events: tuple[EventRecord, ...]


# -- how an answer changed ----------------------------------------------------------------

Interval = TypeVar("Interval")  # an interval view


@dataclass(frozen=True, slots=True)
class TenureSpanView:
    """One holder's tenure of an office over `[valid_from, valid_to)` in valid time."""

    holder: HolderRef
    valid_from: datetime
    valid_to: datetime | None
    established_by: tuple[Provenance, ...]


@dataclass(frozen=True)  # no slots: `ChangeVersion[X](...)` sets `__orig_class__`
class ChangeVersion(Generic[Interval]):
    """The answer about a window as known from `known_at` on, its intervals cut to the window,
    and the event records that made it differ from the answer known just before."""

    known_at: datetime
    intervals: tuple[Interval, ...]
    changed_by: tuple[EventRecord, ...]


@dataclass(frozen=True, slots=True)
class CustodyChanges:
    """Each record time at which an account's custody in `window` changed, oldest first."""

    account_id: UUID
    window: Window
    versions: tuple[ChangeVersion[CustodyIntervalView], ...]


@dataclass(frozen=True, slots=True)
class HandleChanges:
    """Each record time at which the accounts carrying a handle in `window` changed."""

    platform: str
    handle: str
    window: Window
    versions: tuple[ChangeVersion[HandleIntervalView], ...]


@dataclass(frozen=True, slots=True)
class OfficeWindow:
    """An office over a window of valid time as known at `known_at` (None: now): its tenures
    that meet the window, cut to it, and the accounts that spoke for it there."""

    office: str
    window: Window
    known_at: datetime | None
    tenures: tuple[TenureSpanView, ...]
    accounts: tuple[Speaker, ...]


@dataclass(frozen=True, slots=True)
class TenureChanges:
    """Each record time at which an office's tenures in `window` changed."""

    office: str
    window: Window
    versions: tuple[ChangeVersion[TenureSpanView], ...]

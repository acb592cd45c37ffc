"""Aggregates: one event stream per official account, plus index aggregates for cross-stream rules."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import field
from datetime import datetime
from functools import lru_cache
from typing import Any, cast
from uuid import NAMESPACE_URL, UUID, uuid4, uuid5

from eventsourcing.domain import Aggregate
from eventsourcing.persistence import Mapper, MapperDeserialisationError, StoredEvent
from eventsourcing.utils import get_topic

from ledger import dispute_fold, fold, office_fold
from ledger.blocks import Blocks
from ledger.errors import (
    AccountClosed,
    AccountNotFound,
    DisputeNotOpen,
    EffectiveBeforeRegistration,
    HandleTaken,
    InvalidRetraction,
    NoChange,
    NoHolder,
    NotFound,
    OfficeNotFound,
    OwnershipMismatch,
    RuleViolation,
    UnreadableEvent,
    WouldInvalidateLaterEvents,
    first_line,
)
from ledger.fold import Fact
from ledger.history import History

NS_HANDLE = uuid5(NAMESPACE_URL, "custody-ledger:handle")
NS_PLATFORM_ID = uuid5(NAMESPACE_URL, "custody-ledger:platform-account-id")
NS_IDEMPOTENCY = uuid5(NAMESPACE_URL, "custody-ledger:idempotency")
NS_OFFICE = uuid5(NAMESPACE_URL, "custody-ledger:office")

Interval = tuple[datetime, datetime | None]


class StreamEvent(Aggregate.Event):
    """Fields every event of an account or office stream carries. `timestamp` is
    `recorded_at`, set by the ledger. Stored events name their own classes (`Account.…`,
    `Office.…`), never this one. `attributed_to`: who an imported line says recorded the event
    (not verified by the ledger; None for an event written directly). It came later: an event
    stored before has no such key and decodes to the default, None."""

    effective_at: datetime
    actor: str
    reason: str
    evidence: list[dict[str, Any]]
    data: dict[str, Any]
    attributed_to: str | None = field(default=None, kw_only=True)

    def apply(self, aggregate: Any) -> None:
        aggregate.add_event(self)


class _Stream:
    """What account and office streams share: their facts, and the decision whether a new fact
    applies (by the stream's fold, `rules`). Not an aggregate: a base beside `Aggregate`.

    The facts are a `Blocks`, never changed: a copy of the aggregate (the library's cache
    gives one to every command) shares them, and a fact recorded makes a new one sharing all
    but the last block, so neither costs the length of the stream."""

    rules: Any  # the stream's fold module: ledger.fold or ledger.office_fold
    facts: Blocks[Fact]

    @property
    def id(self) -> UUID:  # the aggregate's (Aggregate comes first in a stream's bases)
        raise NotImplementedError

    def __deepcopy__(self, memo: dict[int, Any]) -> Any:
        # Facts are immutable, and so are their blocks: sharing them is a full copy.
        copy: Any = object.__new__(type(self))
        copy.__dict__.update(self.__dict__)
        copy._pending_events = list(cast(Any, self)._pending_events)
        return copy

    def add_event(self, event: StreamEvent) -> None:
        """Add the fact of `event`, the stream's next. The candidate `check_append` decided on,
        recorded (`_record` hands the event the candidate's very values, the library copies
        none): its history is this one's now (and the one before it is let go at once, not
        kept beside it until next asked), and the stream keeps the candidate itself, without
        making the fact again and comparing it field by field."""
        n = len(self.facts)
        trial: tuple[int, Fact, History] | None = self.__dict__.pop("_trial", None)
        if trial is not None and trial[0] == n + 1 == event.originator_version:
            fact = trial[1]
            if (
                fact.data is event.data
                and fact.actor is event.actor
                and fact.reason is event.reason
                and fact.attributed_to is event.attributed_to
                and fact.recorded_at == event.timestamp
                and fact.effective_at == event.effective_at
                and fact.type == TYPE_OF[type(event)]
                and len(fact.evidence) == len(event.evidence)
                and all(a is b for a, b in zip(fact.evidence, event.evidence, strict=True))
            ):
                self._history = (n + 1, trial[2])
                self.facts = self.facts.splice(n, n, (fact,))
                return
        self.facts = self.facts.splice(n, n, (to_fact(event),))

    def record(self, event_class: type[StreamEvent], **kwargs: Any) -> None:
        cast(Any, self).trigger_event(event_class, **kwargs)

    def exists(self) -> bool:
        """False once the registration (always version 1) has been retracted."""
        return 1 not in self.retracted_by()

    def _missing(self) -> NotFound:
        raise NotImplementedError

    def last_recorded_at(self) -> datetime:
        return self.facts[-1].recorded_at

    def fact(self, version: int) -> Fact:
        return self.facts[version - 1]

    def retracted_by(self) -> Mapping[int, int]:
        """Target version -> version of the retraction that names it (kept per stream length
        and extended by the facts added since, since every append asks for it; read-only)."""
        cached: tuple[int, dict[int, int]] | None = self.__dict__.get("_retractions")
        n = len(self.facts)
        if cached is not None and cached[0] == n:
            return cached[1]
        start, found = cached if cached is not None and cached[0] < n else (0, {})
        added = {
            f.data["event_version"]: f.version
            for f in self.facts[start:]
            if f.type == fold.RETRACTED
        }
        if added:
            found = {**found, **added}
        self._retractions = (n, found)
        return found

    def kept_history(self) -> History | None:
        """`history()` if it is kept up to the stream's last fact (as after a command recorded
        one), else None: it folds nothing."""
        cached: tuple[int, History] | None = self.__dict__.get("_history")
        return cached[1] if cached is not None and cached[0] == len(self.facts) else None

    def history(self) -> History:
        """The stream's timeline as known now, kept up to date fact by fact (`ledger.history`):
        folded whole once per aggregate loaded, then extended by each fact recorded. Shared,
        never changed, by the aggregate's copies."""
        n = len(self.facts)
        cached: tuple[int, History] | None = self.__dict__.get("_history")
        if cached is None or cached[0] > n:
            history = History.of(self.facts, self.facts[0].kind)
        else:
            history = cached[1]
            for fact in self.facts[cached[0] :]:
                history = history.push(fact)
        self._history = (n, history)
        return history

    # -- deciding --------------------------------------------------------------------------------

    def check_append(self, candidate: Fact) -> tuple[int, ...]:
        """Refuse `candidate` unless it applies; return the versions it leaves without premise.

        Only a retraction may leave later facts without their premise (the fold then ignores
        them and says so); any other fact that would do so is refused. Decided on the stream's
        history with the candidate pushed, which folds only the stretch of valid time the
        candidate changes (`ledger.history`), however long the stream.
        """
        if not self.exists():
            raise self._missing()
        history = self.history()
        if candidate.type == fold.RETRACTED:
            self._check_retraction(candidate.data["event_version"])
        elif candidate.effective_at < history.segments[0].valid_from:
            registered_at = history.segments[0].valid_from
            raise EffectiveBeforeRegistration(
                f"effective_at {candidate.effective_at.isoformat()} is before the "
                f"{candidate.kind}'s registration at {registered_at.isoformat()}",
                account_id=self.id,
            )
        trial = history.push(candidate)
        after = trial.ineffective_versions()
        if candidate.type != fold.RETRACTED and candidate.version in after:
            why = trial.why_ineffective(candidate.version)
            assert why is not None  # effective after the registration: the final state says why
            raise self._refusal(candidate, why)
        orphaned = tuple(sorted(after - history.ineffective_versions() - {candidate.version}))
        if orphaned and candidate.type != fold.RETRACTED:
            raise WouldInvalidateLaterEvents(
                f"an event effective {candidate.effective_at.isoformat()} would leave recorded "
                f"events {list(orphaned)} without their premise; retract those first",
                account_id=self.id,
                versions=orphaned,
            )
        # Recorded next (the caller records it at once): its history is this one.
        self._trial = (len(self.facts) + 1, candidate, trial)
        return orphaned

    def _refusal(self, candidate: Fact, why: str) -> RuleViolation:
        error: type[RuleViolation] = NoChange
        if why.startswith("effective after"):
            error = AccountClosed
        elif why.startswith("nobody holds"):
            error = NoHolder
        elif why.startswith("effective before"):
            error = EffectiveBeforeRegistration
        elif why in (fold.NOT_PERSONAL, fold.NOT_OFFICE_OWNED):
            error = OwnershipMismatch
        return error(f"{candidate.type} refused: {why}", account_id=self.id)

    def _check_retraction(self, target: int) -> None:
        if target == 1 and self.facts[0].kind == "office":
            raise InvalidRetraction(
                "an office's registration is not retracted: its key names the office for "
                "good; correct its holders' events instead",
                account_id=self.id,
            )
        if not 1 <= target <= len(self.facts):
            raise InvalidRetraction(
                f"event version {target} does not exist in this stream "
                f"(versions 1..{len(self.facts)})",
                account_id=self.id,
            )
        if self.fact(target).type == fold.RETRACTED:
            raise InvalidRetraction(
                f"event {target} is itself a retraction; retractions cannot be retracted",
                account_id=self.id,
            )
        by = self.retracted_by().get(target)
        if by is not None:
            raise InvalidRetraction(
                f"event {target} was already retracted by event {by}", account_id=self.id
            )


class Account(Aggregate, _Stream):
    """An official account's custody stream. Its state is the list of facts; the fold reads it."""

    class Recorded(StreamEvent):
        """An account's custody event."""

    class Registered(Aggregate.Created, Recorded):
        pass

    class HolderAssigned(Recorded):
        pass

    class HolderReleased(Recorded):
        pass

    class HandleRenamed(Recorded):
        pass

    class HistoryArchived(Recorded):
        pass

    class OfficeTransferred(Recorded):
        pass

    class Closed(Recorded):
        pass

    class EventRetracted(Recorded):
        pass

    class OwnershipChanged(Recorded):
        pass

    class OfficialUseStarted(Recorded):
        pass

    class OfficialUseEnded(Recorded):
        pass

    class AudienceObserved(Recorded):
        pass

    rules = fold

    def __init__(self) -> None:
        self.facts: Blocks[Fact] = Blocks()

    def _missing(self) -> NotFound:
        return AccountNotFound(self.id)

    @classmethod
    def register(
        cls,
        *,
        recorded_at: datetime,
        effective_at: datetime,
        actor: str,
        reason: str,
        evidence: list[dict[str, Any]],
        data: dict[str, Any],
        account_id: UUID | None = None,
        attributed_to: str | None = None,
    ) -> Account:
        return cls._create(
            cls.Registered,
            id=account_id or uuid4(),
            timestamp=recorded_at,
            effective_at=effective_at,
            actor=actor,
            reason=reason,
            evidence=evidence,
            data=data,
            attributed_to=attributed_to,
        )

    # -- changing --------------------------------------------------------------------------------


def office_id(office: str) -> UUID:
    """An office stream's id: one stream per office key."""
    return uuid5(NS_OFFICE, office)


class Office(Aggregate, _Stream):
    """An office's stream: its registration and who held it when (the office's tenures)."""

    class Recorded(StreamEvent):
        """An office's event."""

    class Registered(Aggregate.Created, Recorded):
        pass

    class HolderAssigned(Recorded):
        pass

    class HolderReleased(Recorded):
        pass

    class EventRetracted(Recorded):
        pass

    rules = office_fold

    def __init__(self) -> None:
        self.facts: Blocks[Fact] = Blocks()

    def _missing(self) -> NotFound:
        return OfficeNotFound(self.key)

    @property
    def key(self) -> str:
        return str(self.facts[0].data["office"])

    @classmethod
    def register(
        cls,
        *,
        recorded_at: datetime,
        effective_at: datetime,
        actor: str,
        reason: str,
        evidence: list[dict[str, Any]],
        data: dict[str, Any],
        attributed_to: str | None = None,
    ) -> Office:
        return cls._create(
            cls.Registered,
            id=office_id(data["office"]),
            timestamp=recorded_at,
            effective_at=effective_at,
            actor=actor,
            reason=reason,
            evidence=evidence,
            data=data,
            attributed_to=attributed_to,
        )


class Dispute(Aggregate):
    """A dispute's stream: a party contests what the record says about an account or an office
    over a window of valid time; a panel resolves it (`ledger.dispute_fold` reads it). Its
    events are custody events of the log (and entries of the verifiable log), effective when
    recorded."""

    class Recorded(StreamEvent):
        """A dispute's event."""

    class Opened(Aggregate.Created, Recorded):
        pass

    class EvidenceAdded(Recorded):
        pass

    class Withdrawn(Recorded):
        pass

    class Resolved(Recorded):
        pass

    def __init__(self) -> None:
        self.facts: list[Fact] = []

    def __deepcopy__(self, memo: dict[int, Any]) -> Any:
        copy: Any = object.__new__(type(self))
        copy.__dict__.update(self.__dict__)
        copy.facts = list(self.facts)
        copy._pending_events = list(self._pending_events)
        return copy

    def record(self, event_class: type[StreamEvent], **kwargs: Any) -> None:
        self.trigger_event(event_class, **kwargs)

    def add_event(self, event: StreamEvent) -> None:
        self.facts.append(to_fact(event))

    def last_recorded_at(self) -> datetime:
        return self.facts[-1].recorded_at

    def state(self) -> dispute_fold.DisputeState:
        state = dispute_fold.dispute(self.facts)
        assert state is not None
        return state

    def check_append(self, type_: str) -> None:
        why = dispute_fold.why_refused(self.state(), type_)
        if why is not None:
            raise DisputeNotOpen(self.id, why)

    @classmethod
    def open(
        cls,
        *,
        recorded_at: datetime,
        actor: str,
        evidence: list[dict[str, Any]],
        data: dict[str, Any],
        dispute_id: UUID | None = None,
        attributed_to: str | None = None,
    ) -> Dispute:
        return cls._create(
            cls.Opened,
            id=dispute_id or uuid4(),
            timestamp=recorded_at,
            effective_at=recorded_at,
            actor=actor,
            reason="",
            evidence=evidence,
            data=data,
            attributed_to=attributed_to,
        )


EVENT_CLASSES: dict[str, type[Account.Recorded]] = {
    fold.REGISTERED: Account.Registered,
    fold.ASSIGNED: Account.HolderAssigned,
    fold.RELEASED: Account.HolderReleased,
    fold.RENAMED: Account.HandleRenamed,
    fold.ARCHIVED: Account.HistoryArchived,
    fold.TRANSFERRED: Account.OfficeTransferred,
    fold.CLOSED: Account.Closed,
    fold.RETRACTED: Account.EventRetracted,
    fold.OWNERSHIP_CHANGED: Account.OwnershipChanged,
    fold.USE_STARTED: Account.OfficialUseStarted,
    fold.USE_ENDED: Account.OfficialUseEnded,
    fold.AUDIENCE: Account.AudienceObserved,
}
OFFICE_EVENT_CLASSES: dict[str, type[Office.Recorded]] = {
    office_fold.REGISTERED: Office.Registered,
    fold.ASSIGNED: Office.HolderAssigned,
    fold.RELEASED: Office.HolderReleased,
    fold.RETRACTED: Office.EventRetracted,
}
DISPUTE_EVENT_CLASSES: dict[str, type[Dispute.Recorded]] = {
    dispute_fold.OPENED: Dispute.Opened,
    dispute_fold.EVIDENCE_ADDED: Dispute.EvidenceAdded,
    dispute_fold.WITHDRAWN: Dispute.Withdrawn,
    dispute_fold.RESOLVED: Dispute.Resolved,
}
TYPE_OF: dict[type[Any], str] = {
    cls: name
    for name, cls in (
        *EVENT_CLASSES.items(),
        *OFFICE_EVENT_CLASSES.items(),
        *DISPUTE_EVENT_CLASSES.items(),
    )
}
# The topics of custody events in the log, account, office and dispute streams (not tokens,
# not the ledger's index streams): what the read models, the export and the verifiable log take.
CUSTODY_TOPICS: tuple[str, ...] = tuple(
    get_topic(cls)
    for cls in (
        *EVENT_CLASSES.values(),
        *OFFICE_EVENT_CLASSES.values(),
        *DISPUTE_EVENT_CLASSES.values(),
    )
)


def to_fact(event: StreamEvent) -> Fact:
    """The fold's view of a custody event; UnreadableEvent, naming it, if a stored event
    decoded without one of its fields (bytes that are JSON, but not this event's): an
    append to its stream, or a read of it, then says where instead of failing blindly."""
    try:
        return Fact(
            version=event.originator_version,
            type=TYPE_OF[type(event)],
            effective_at=event.effective_at,
            recorded_at=event.timestamp,
            actor=event.actor,
            reason=event.reason,
            evidence=tuple(event.evidence),
            data=event.data,
            kind=stream_kind(event),
            attributed_to=event.attributed_to,
        )
    except (AttributeError, KeyError, TypeError) as e:
        raise UnreadableEvent(
            event.originator_id, event.originator_version, None, first_line(e)
        ) from None


def stream_kind(event: Any) -> str:
    """Which kind of stream an event belongs to: "account", "office" or "dispute"."""
    if isinstance(event, Office.Recorded):
        return "office"
    return "dispute" if isinstance(event, Dispute.Recorded) else "account"


@lru_cache(maxsize=4096)  # a registration asks for it three times
def handle_index_id(platform: str, key: str) -> UUID:
    return uuid5(NS_HANDLE, f"{platform}\x1f{key}")


def overlaps(a: Interval, b: Interval) -> bool:
    a_from, a_to = a
    b_from, b_to = b
    return (b_to is None or a_from < b_to) and (a_to is None or b_from < a_to)


class HandleIndex(Aggregate):
    """Which accounts carry one (platform, handle key) over which valid-time intervals."""

    class Claimed(Aggregate.Created):
        platform: str
        key: str

    class ClaimsChanged(Aggregate.Event):
        account_id: UUID
        intervals: list[list[datetime | None]]

        def apply(self, aggregate: Any) -> None:
            ivs = [(a, b) for a, b in self.intervals]
            if ivs:
                aggregate.claims[str(self.account_id)] = ivs
            else:
                aggregate.claims.pop(str(self.account_id), None)

    def __init__(self, platform: str, key: str) -> None:
        self.platform = platform
        self.key = key
        self.claims: dict[str, list[Interval]] = {}

    def __deepcopy__(self, memo: dict[int, Any]) -> HandleIndex:
        copy = object.__new__(HandleIndex)
        copy.__dict__.update(self.__dict__)
        copy.claims = {k: list(v) for k, v in self.claims.items()}
        copy._pending_events = list(self._pending_events)
        return copy

    @classmethod
    def open(cls, platform: str, key: str) -> HandleIndex:
        return cls._create(
            cls.Claimed, id=handle_index_id(platform, key), platform=platform, key=key
        )

    def check_claim(self, account_id: UUID, intervals: list[Interval], display: str) -> None:
        for other, theirs in self.claims.items():
            if other == str(account_id):
                continue
            for mine in intervals:
                for iv in theirs:
                    if overlaps(mine, iv):
                        raise HandleTaken(self.platform, display, UUID(other), iv[0], iv[1])

    def set_claim(self, account_id: UUID, intervals: list[Interval]) -> None:
        self.trigger_event(
            self.ClaimsChanged, account_id=account_id, intervals=[[a, b] for a, b in intervals]
        )


def platform_id_index_id(platform: str, platform_account_id: str) -> UUID:
    return uuid5(NS_PLATFORM_ID, f"{platform}\x1f{platform_account_id}")


class PlatformIdIndex(Aggregate):
    """Which account a platform's permanent account id is registered as (once)."""

    class Claimed(Aggregate.Created):
        account_id: UUID

    class Released(Aggregate.Event):
        def apply(self, aggregate: Any) -> None:
            aggregate.account_id = None

    class Reclaimed(Aggregate.Event):
        account_id: UUID

        def apply(self, aggregate: Any) -> None:
            aggregate.account_id = self.account_id

    def __init__(self, account_id: UUID) -> None:
        self.account_id: UUID | None = account_id

    @classmethod
    def claim(cls, platform: str, platform_account_id: str, account_id: UUID) -> PlatformIdIndex:
        return cls._create(
            cls.Claimed,
            id=platform_id_index_id(platform, platform_account_id),
            account_id=account_id,
        )


def idempotency_id(actor: str, key: str) -> UUID:
    return uuid5(NS_IDEMPOTENCY, f"{actor}\x1f{key}")


class IdempotencyRecord(Aggregate):
    """Remembers which command an (actor, key) carried and which event it produced."""

    class Created(Aggregate.Created):
        fingerprint: str
        account_id: UUID
        event_version: int

    def __init__(self, fingerprint: str, account_id: UUID, event_version: int) -> None:
        self.fingerprint = fingerprint
        self.account_id = account_id
        self.event_version = event_version

    @classmethod
    def remember(
        cls, actor: str, key: str, fingerprint: str, account_id: UUID, event_version: int
    ) -> IdempotencyRecord:
        return cls._create(
            cls.Created,
            id=idempotency_id(actor, key),
            fingerprint=fingerprint,
            account_id=account_id,
            event_version=event_version,
        )


def decode(mapper: Mapper[UUID], stored: StoredEvent, position: int | None = None) -> Any:
    """The domain event of a stored event; UnreadableEvent, naming where, if its bytes do not
    decode (the mapper's own error names it only in its message)."""
    try:
        return mapper.to_domain_event(stored)
    except MapperDeserialisationError as e:
        raise UnreadableEvent(
            stored.originator_id, stored.originator_version, position, _cause(e)
        ) from None


def decode_fact(
    mapper: Mapper[UUID], stored: StoredEvent, position: int | None = None
) -> tuple[UUID, Fact]:
    """A stored custody event as (account id, fact); UnreadableEvent if it does not decode to
    one (bytes that are JSON, but not this event's fields, included)."""
    event = decode(mapper, stored, position)
    try:
        return event.originator_id, to_fact(event)
    except UnreadableEvent as e:
        raise UnreadableEvent(e.stream, e.version, position, e.why) from None


def _cause(error: BaseException) -> str:
    cause = error.__cause__
    return first_line(cause) if cause is not None else first_line(error)

"""The bitemporal fold: an account's state at valid time `at`, as the ledger knew it at `known_at`.

This module is the oracle. Every read model must give the answers `fold` gives. It is pure:
facts in, state out, no I/O and no clock.

The rule, in one place:
  1. keep the facts recorded at or before `known_at` (all facts when `known_at` is None);
  2. drop those retracted by a retraction that is itself kept;
  3. order the rest by `effective_at`, ties in stream order (version);
  4. apply each in turn; a fact whose premise does not hold (a release when nobody holds the
     account, anything after the closure...) has no effect and is listed as `ineffective`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from functools import lru_cache
from typing import Any, cast

REGISTERED = "account_registered"
ASSIGNED = "holder_assigned"
RELEASED = "holder_released"
RENAMED = "handle_renamed"
ARCHIVED = "history_archived"
TRANSFERRED = "office_transferred"
CLOSED = "account_closed"
RETRACTED = "event_retracted"
OWNERSHIP_CHANGED = "ownership_changed"
USE_STARTED = "official_use_started"
USE_ENDED = "official_use_ended"
AUDIENCE = "audience_observed"

OFFICE_OWNED = "office"
PERSONAL = "personal"
# Why a fact about ownership cannot apply: refused with 422 `ownership-mismatch`, not 409.
NOT_PERSONAL = "the account belongs to an office; only a personal account is put to official use"
NOT_OFFICE_OWNED = (
    "a personal account belongs to no office; record ownership_changed, or official use"
)

ACTIVE = "active"
CLOSED_STATUS = "closed"


@dataclass(frozen=True, slots=True)
class Fact:
    """One recorded event of an account stream, as the fold sees it."""

    version: int
    type: str
    effective_at: datetime
    recorded_at: datetime
    actor: str
    reason: str = ""
    evidence: tuple[dict[str, Any], ...] = ()
    data: dict[str, Any] = field(default_factory=dict, hash=False)
    # "account" or "office": which kind of stream the fact belongs to (the event's class says).
    kind: str = "account"
    # Who an imported line says recorded the event; not verified by the ledger (`actor` is who
    # wrote it). None for an event written directly.
    attributed_to: str | None = None


@dataclass(frozen=True, slots=True)
class HolderRef:
    id: str
    name: str


def holder_ref(ident: str, name: str) -> HolderRef:
    """`HolderRef(ident, name)`, one object for the facts that name the same person: a
    timeline's states would otherwise each hold one more long-lived object for the collector
    to walk. Values that cannot be a cache key (stored data not as validated) get their own."""
    try:
        return _holder_ref(ident, name)
    except TypeError:
        return HolderRef(ident, name)


@lru_cache(maxsize=4096)
def _holder_ref(ident: str, name: str) -> HolderRef:
    return HolderRef(ident, name)


@dataclass(frozen=True, slots=True)
class Audience:
    """The latest audience observation: `followers` seen at `observed_at` (event `version`)."""

    followers: int
    observed_at: datetime
    version: int


@dataclass(frozen=True, slots=True)
class ArchiveEntry:
    ref: str
    sha256: str | None
    items: int | None
    effective_at: datetime
    version: int


@dataclass(frozen=True, slots=True)
class Ineffective:
    """A kept fact that had no effect, and why."""

    version: int
    type: str
    why: str


@dataclass(frozen=True, slots=True)
class AccountState:
    """What the ledger says about an account at one valid time, as known at one record time."""

    platform: str
    platform_account_id: str | None
    handle: str
    # The owning office (office-owned), or the office a personal account speaks for (or None).
    office: str | None
    status: str
    holder: HolderRef | None
    holder_since: datetime | None
    archives: tuple[ArchiveEntry, ...]
    registered_at: datetime
    version: int
    established_by: tuple[int, ...]
    ineffective: tuple[Ineffective, ...]
    # Which fact set each facet; the read models use these to name provenance.
    handle_by: int
    office_by: int
    holder_by: int
    status_by: int
    ownership: str = OFFICE_OWNED
    owner: HolderRef | None = None
    audience: Audience | None = None
    ownership_by: int = 0


class _Acc:
    """Mutable accumulator used while folding; snapshotted into `AccountState`."""

    __slots__ = (
        "archives",
        "audience",
        "handle",
        "handle_by",
        "holder",
        "holder_by",
        "holder_since",
        "ineffective",
        "office",
        "office_by",
        "owner",
        "ownership",
        "ownership_by",
        "platform",
        "platform_account_id",
        "registered_at",
        "status",
        "status_by",
    )

    def __init__(self, fact: Fact) -> None:
        d = fact.data
        self.platform: str = d["platform"]
        self.platform_account_id: str | None = d.get("platform_account_id")
        self.handle: str = d["handle"]
        self.ownership: str = d.get("ownership", OFFICE_OWNED)
        owner = d.get("owner")
        self.owner: HolderRef | None = holder_ref(owner["id"], owner["name"]) if owner else None
        self.office: str | None = d.get("office")
        self.audience: Audience | None = None
        self.status = ACTIVE
        self.holder: HolderRef | None = None
        self.holder_since: datetime | None = None
        self.archives: list[ArchiveEntry] = []
        self.registered_at = fact.effective_at
        self.ineffective: list[Ineffective] = []
        self.handle_by = self.office_by = self.holder_by = self.status_by = fact.version
        self.ownership_by = fact.version

    def copy(self) -> _Acc:
        twin = object.__new__(_Acc)
        for name in _Acc.__slots__:
            setattr(twin, name, getattr(self, name))
        twin.archives = list(self.archives)
        twin.ineffective = list(self.ineffective)
        return twin

    @classmethod
    def restore(cls, state: AccountState) -> _Acc:
        """The accumulator a snapshot was taken of (its `version` and `established_by` aside,
        which the fold derives, not accumulates)."""
        acc = object.__new__(cls)  # every slot, by name (a loop of setattr costs 4 times this)
        acc.audience, acc.handle, acc.handle_by = state.audience, state.handle, state.handle_by
        acc.holder, acc.holder_by, acc.holder_since = (
            state.holder,
            state.holder_by,
            state.holder_since,
        )
        acc.office, acc.office_by, acc.owner = state.office, state.office_by, state.owner
        acc.ownership, acc.ownership_by = state.ownership, state.ownership_by
        acc.platform, acc.platform_account_id = state.platform, state.platform_account_id
        acc.registered_at, acc.status, acc.status_by = (
            state.registered_at,
            state.status,
            state.status_by,
        )
        acc.archives = list(state.archives)
        acc.ineffective = list(state.ineffective)
        return acc

    def matches(self, state: AccountState) -> bool:
        """Whether a snapshot of this accumulator would equal `state`, but for its `version`."""
        return all(getattr(self, name) == getattr(state, name) for name in _STATE_SLOTS) and (
            len(self.archives) == len(state.archives)
            and len(self.ineffective) == len(state.ineffective)
            and tuple(self.archives) == state.archives
            and tuple(self.ineffective) == state.ineffective
        )

    def snapshot(self, version: int, first: int) -> AccountState:
        established = {first, self.handle_by, self.office_by, self.holder_by, self.status_by}
        established.add(self.ownership_by)
        established.update(a.version for a in self.archives)
        if self.audience is not None:
            established.add(self.audience.version)
        return AccountState(
            platform=self.platform,
            platform_account_id=self.platform_account_id,
            handle=self.handle,
            office=self.office,
            status=self.status,
            holder=self.holder,
            holder_since=self.holder_since,
            archives=tuple(self.archives),
            registered_at=self.registered_at,
            version=version,
            established_by=tuple(sorted(established)),
            ineffective=tuple(self.ineffective),
            handle_by=self.handle_by,
            office_by=self.office_by,
            holder_by=self.holder_by,
            status_by=self.status_by,
            ownership=self.ownership,
            owner=self.owner,
            audience=self.audience,
            ownership_by=self.ownership_by,
        )


# The accumulator's slots a snapshot copies as they are (the lists become tuples).
_STATE_SLOTS = tuple(name for name in _Acc.__slots__ if name not in ("archives", "ineffective"))


def restore(state: AccountState, first: int) -> _Acc:
    """The accumulator after the facts `state` was folded from (`first`: the version of the
    fact that registered the stream, as `snapshot` takes it)."""
    return _Acc.restore(state)


def _premise_failure(acc: _Acc | None, fact: Fact) -> str | None:
    """Why `fact` cannot apply to `acc`, or None if it can."""
    if fact.type == REGISTERED:
        return "already registered" if acc is not None else None
    if acc is None:
        return "effective before the account's registration"
    if acc.status == CLOSED_STATUS:
        return "effective after the account's closure"
    d = fact.data
    if fact.type == ASSIGNED:
        if acc.holder is not None and acc.holder.id == d["holder"]["id"]:
            return f"{acc.holder.name} ({acc.holder.id}) already holds the account"
    elif fact.type == RELEASED:
        if acc.holder is None:
            return "nobody holds the account at that instant"
    elif fact.type == RENAMED:
        if d["handle"] == acc.handle:
            return f"the account already carries @{acc.handle}"
    elif fact.type == TRANSFERRED:
        if acc.ownership != OFFICE_OWNED:
            return NOT_OFFICE_OWNED
        if d["office"] == acc.office:
            return f"the account already belongs to {acc.office}"
    elif fact.type == OWNERSHIP_CHANGED:
        return _ownership_premise(acc, d)
    elif fact.type in (USE_STARTED, USE_ENDED):
        if acc.ownership != PERSONAL:
            return NOT_PERSONAL
        if fact.type == USE_ENDED and acc.office is None:
            return "the account speaks for no office at that instant"
        if fact.type == USE_STARTED and d["office"] == acc.office:
            return f"the account already speaks for {acc.office}"
    return None


def _ownership_premise(acc: _Acc, d: dict[str, Any]) -> str | None:
    if d["ownership"] == OFFICE_OWNED:
        if acc.ownership == OFFICE_OWNED and d["office"] == acc.office:
            return f"the account already belongs to {acc.office}"
    elif (
        acc.ownership == PERSONAL
        and acc.owner is not None
        and acc.owner.id == d["owner"]["id"]
        and d.get("office") == acc.office
    ):
        return f"the account is already {acc.owner.name}'s ({acc.owner.id})"
    return None


def apply(acc: _Acc | None, fact: Fact) -> _Acc | None:
    """Apply one kept fact; a fact without its premise is recorded as ineffective."""
    why = _premise_failure(acc, fact)
    if why is not None:
        if acc is not None:
            acc.ineffective.append(Ineffective(fact.version, fact.type, why))
        return acc
    if fact.type == REGISTERED:
        return _Acc(fact)
    assert acc is not None
    d, v, t = fact.data, fact.version, fact.effective_at
    if fact.type == ASSIGNED:
        acc.holder = holder_ref(d["holder"]["id"], d["holder"]["name"])
        acc.holder_since, acc.holder_by = t, v
    elif fact.type == RELEASED:
        acc.holder, acc.holder_since, acc.holder_by = None, None, v
    elif fact.type == RENAMED:
        acc.handle, acc.handle_by = d["handle"], v
    elif fact.type == ARCHIVED:
        a = d["archive"]
        acc.archives.append(ArchiveEntry(a["ref"], a.get("sha256"), a.get("items"), t, v))
    elif fact.type == TRANSFERRED:
        acc.office, acc.office_by = d["office"], v
    elif fact.type == CLOSED:
        acc.status, acc.status_by = CLOSED_STATUS, v
        if acc.holder is not None:
            acc.holder, acc.holder_since, acc.holder_by = None, None, v
    elif fact.type == OWNERSHIP_CHANGED:
        acc.ownership, acc.ownership_by, acc.office_by = d["ownership"], v, v
        owner = d.get("owner")
        acc.owner = holder_ref(owner["id"], owner["name"]) if owner else None
        acc.office = d.get("office")
    elif fact.type == USE_STARTED:
        acc.office, acc.office_by = d["office"], v
    elif fact.type == USE_ENDED:
        acc.office, acc.office_by = None, v
    elif fact.type == AUDIENCE:
        acc.audience = Audience(d["followers"], t, v)
    return acc


def believed(facts: Iterable[Fact], known_at: datetime | None = None) -> list[Fact]:
    """Steps 1-3: the facts in force as known at `known_at`, in valid-time order."""
    known = [f for f in facts if known_at is None or f.recorded_at <= known_at]
    retracted = {f.data["event_version"] for f in known if f.type == RETRACTED}
    kept = [f for f in known if f.type != RETRACTED and f.version not in retracted]
    kept.sort(key=lambda f: (f.effective_at, f.version))
    return kept


# The fold's steps, for any kind of stream: `step` applies one kept fact to an accumulator (None
# before the stream's first fact) and returns it; an accumulator has `ineffective` and
# `snapshot(version, first)`. Accounts use `apply` below, offices `ledger.office_fold.apply`.
Step = Callable[[Any, Fact], Any]


def final_with(step: Step, facts: Sequence[Fact]) -> tuple[Any, datetime | None]:
    """The accumulator after every kept fact (as known now), and the latest kept effective time."""
    acc: Any = None
    kept = believed(facts)
    for fact in kept:
        acc = step(acc, fact)
    return acc, (kept[-1].effective_at if kept else None)


def fold_with(step: Step, facts: Sequence[Fact], at: datetime, known_at: datetime | None) -> Any:
    """The state at `at` as known at `known_at`; None if the stream did not exist then."""
    acc: Any = None
    first = 0
    for fact in believed(facts, known_at):
        if fact.effective_at > at:
            break
        acc = step(acc, fact)
        if acc is not None and not first:
            first = fact.version
    if acc is None:
        return None
    return acc.snapshot(known_version(facts, known_at), first)


def starts_with(
    step: Step, facts: Sequence[Fact], known_at: datetime | None
) -> list[tuple[datetime, datetime | None, Any]]:
    """All of valid time in one pass: (from, to, state) where the state changes."""
    kept = believed(facts, known_at)
    version = known_version(facts, known_at)
    starts: list[tuple[datetime, Any]] = []
    acc: Any = None
    first = 0
    i = 0
    while i < len(kept):
        instant = kept[i].effective_at
        while i < len(kept) and kept[i].effective_at == instant:
            acc = step(acc, kept[i])
            if acc is not None and not first:
                first = kept[i].version
            i += 1
        if acc is not None:
            starts.append((instant, acc.snapshot(version, first)))
    return [
        (t, starts[n + 1][0] if n + 1 < len(starts) else None, state)
        for n, (t, state) in enumerate(starts)
    ]


def ineffective_with(step: Step, facts: Sequence[Fact], known_at: datetime | None) -> set[int]:
    """Versions of kept facts that have no effect, over all of valid time."""
    acc: Any = None
    orphans: set[int] = set()
    for fact in believed(facts, known_at):
        before = len(acc.ineffective) if acc is not None else 0
        after_acc = step(acc, fact)
        if after_acc is None or (acc is after_acc and len(after_acc.ineffective) > before):
            orphans.add(fact.version)
        acc = after_acc
    return orphans


def final(facts: Sequence[Fact]) -> tuple[_Acc | None, datetime | None]:
    """The accumulator after every kept fact (as known now), and the latest kept effective time."""
    acc, latest = final_with(apply, facts)
    return cast(_Acc | None, acc), latest


def known_version(facts: Iterable[Fact], known_at: datetime | None = None) -> int:
    """The stream version as known at `known_at` (0 if nothing was recorded yet)."""
    return max(
        (f.version for f in facts if known_at is None or f.recorded_at <= known_at), default=0
    )


def fold(
    facts: Sequence[Fact], at: datetime, known_at: datetime | None = None
) -> AccountState | None:
    """The oracle: the account's state at `at` as known at `known_at`; None if not registered then."""
    return cast(AccountState | None, fold_with(apply, facts, at, known_at))


@dataclass(frozen=True, slots=True)
class Segment:
    """A stretch of valid time `[valid_from, valid_to)` over which the state does not change."""

    valid_from: datetime
    valid_to: datetime | None
    state: AccountState


def timeline(facts: Sequence[Fact], known_at: datetime | None = None) -> list[Segment]:
    """All of valid time in one pass: the state in each segment equals `fold` at any instant in it."""
    return [Segment(*start) for start in starts_with(apply, facts, known_at)]


def ineffective_versions(facts: Sequence[Fact], known_at: datetime | None = None) -> set[int]:
    """Versions of kept facts that have no effect, over all of valid time."""
    return ineffective_with(apply, facts, known_at)


@dataclass(frozen=True, slots=True)
class CustodyInterval:
    """One holder's custody of one account, `[valid_from, valid_to)` in valid time."""

    holder: HolderRef
    valid_from: datetime
    valid_to: datetime | None
    handles: tuple[str, ...]
    offices: tuple[str, ...]
    established_by: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class HandleInterval:
    """The account carried the handle (case-insensitive `key`) over `[valid_from, valid_to)`."""

    key: str
    handle: str
    valid_from: datetime
    valid_to: datetime | None
    established_by: tuple[int, ...]


def runs(segments: Sequence[Any], key: Any) -> list[tuple[int, int]]:
    """Index ranges [i, j) of adjacent segments (anything with `valid_from` and `valid_to`:
    an account's, an office's, spans) sharing a non-None `key(segment)`."""
    runs: list[tuple[int, int]] = []
    i = 0
    while i < len(segments):
        k = key(segments[i])
        j = i + 1
        while (
            j < len(segments)
            and segments[j].valid_from == segments[j - 1].valid_to
            and key(segments[j]) == k
        ):
            j += 1
        if k is not None:
            runs.append((i, j))
        i = j
    return runs


def holder_run_key(s: Segment) -> Any:
    st = s.state
    return (st.holder, st.holder_since) if st.holder is not None else None


def handle_run_key(s: Segment) -> Any:
    st = s.state
    return st.handle.casefold() if st.status == ACTIVE else None


def custody_intervals(segments: Sequence[Segment]) -> list[CustodyInterval]:
    out = []
    for i, j in runs(segments, holder_run_key):
        first, last = segments[i].state, segments[j - 1].state
        assert first.holder is not None
        ended_by = (segments[j].state.holder_by,) if j < len(segments) else ()
        out.append(
            CustodyInterval(
                holder=first.holder,
                valid_from=segments[i].valid_from,
                valid_to=segments[j - 1].valid_to,
                handles=tuple(dict.fromkeys(s.state.handle for s in segments[i:j])),
                offices=tuple(
                    dict.fromkeys(o for s in segments[i:j] if (o := s.state.office) is not None)
                ),
                established_by=(last.holder_by, *ended_by),
            )
        )
    return out


def handle_intervals(segments: Sequence[Segment]) -> list[HandleInterval]:
    out = []
    for i, j in runs(segments, handle_run_key):
        first = segments[i].state
        if j < len(segments):
            nxt = segments[j].state
            ended_by: tuple[int, ...] = (nxt.status_by if nxt.status != ACTIVE else nxt.handle_by,)
        else:
            ended_by = ()
        out.append(
            HandleInterval(
                key=first.handle.casefold(),
                handle=first.handle,
                valid_from=segments[i].valid_from,
                valid_to=segments[j - 1].valid_to,
                established_by=(first.handle_by, *ended_by),
            )
        )
    return out

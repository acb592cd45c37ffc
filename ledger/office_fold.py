"""The bitemporal fold of an office stream: who held the office at valid time `at`, as the
ledger knew it at `known_at`. The oracle for the office read models and for the findings.

The rule is the account fold's (`ledger.fold`): keep the facts recorded by `known_at`, drop the
retracted ones, order the rest by `effective_at` then version, and apply each in turn; a fact
whose premise does not hold (a release of a vacant office, the same holder assigned twice) has
no effect and is listed as ineffective. Pure: facts in, state out.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import cast

from ledger.fold import (
    ASSIGNED,
    RELEASED,
    RETRACTED,
    Fact,
    HolderRef,
    Ineffective,
    final_with,
    fold_with,
    holder_ref,
    holder_run_key,
    ineffective_with,
    runs,
    starts_with,
)

REGISTERED = "office_registered"
TYPES = (REGISTERED, ASSIGNED, RELEASED, RETRACTED)


@dataclass(frozen=True, slots=True)
class OfficeState:
    """What the ledger says about an office at one valid time, as known at one record time."""

    office: str
    name: str
    jurisdiction: str
    holder: HolderRef | None
    holder_since: datetime | None
    registered_at: datetime
    version: int
    established_by: tuple[int, ...]
    ineffective: tuple[Ineffective, ...]
    holder_by: int


@dataclass(frozen=True, slots=True)
class OfficeSegment:
    """A stretch of valid time `[valid_from, valid_to)` over which the office does not change."""

    valid_from: datetime
    valid_to: datetime | None
    state: OfficeState


@dataclass(frozen=True, slots=True)
class Tenure:
    """One holder's tenure of an office, `[valid_from, valid_to)` in valid time."""

    holder: HolderRef
    valid_from: datetime
    valid_to: datetime | None
    established_by: tuple[int, ...]


class _OfficeAcc:
    """Mutable accumulator used while folding; snapshotted into `OfficeState`."""

    __slots__ = (
        "holder",
        "holder_by",
        "holder_since",
        "ineffective",
        "jurisdiction",
        "name",
        "office",
        "registered_at",
        "registered_by",
    )

    def __init__(self, fact: Fact) -> None:
        d = fact.data
        self.office: str = d["office"]
        self.name: str = d["name"]
        self.jurisdiction: str = d["jurisdiction"]
        self.holder: HolderRef | None = None
        self.holder_since: datetime | None = None
        self.registered_at = fact.effective_at
        self.registered_by = fact.version
        self.holder_by = fact.version
        self.ineffective: list[Ineffective] = []

    def copy(self) -> _OfficeAcc:
        twin = object.__new__(_OfficeAcc)
        for name in _OfficeAcc.__slots__:
            setattr(twin, name, getattr(self, name))
        twin.ineffective = list(self.ineffective)
        return twin

    @classmethod
    def restore(cls, state: OfficeState, first: int) -> _OfficeAcc:
        """The accumulator a snapshot was taken of; `first` is its registration's version."""
        acc = object.__new__(cls)
        for name in _STATE_SLOTS:
            setattr(acc, name, getattr(state, name))
        acc.registered_by = first
        acc.ineffective = list(state.ineffective)
        return acc

    def matches(self, state: OfficeState) -> bool:
        """Whether a snapshot of this accumulator would equal `state`, but for its `version`
        (`registered_by` is the stream's first version either way)."""
        return all(getattr(self, name) == getattr(state, name) for name in _STATE_SLOTS) and (
            tuple(self.ineffective) == state.ineffective
        )

    def snapshot(self, version: int, first: int) -> OfficeState:
        return OfficeState(
            office=self.office,
            name=self.name,
            jurisdiction=self.jurisdiction,
            holder=self.holder,
            holder_since=self.holder_since,
            registered_at=self.registered_at,
            version=version,
            established_by=tuple(sorted({first, self.registered_by, self.holder_by})),
            ineffective=tuple(self.ineffective),
            holder_by=self.holder_by,
        )


_STATE_SLOTS = tuple(
    name for name in _OfficeAcc.__slots__ if name not in ("ineffective", "registered_by")
)


def restore(state: OfficeState, first: int) -> _OfficeAcc:
    """The accumulator after the facts `state` was folded from (`first`: its registration)."""
    return _OfficeAcc.restore(state, first)


def _premise_failure(acc: _OfficeAcc | None, fact: Fact) -> str | None:
    if fact.type == REGISTERED:
        return "already registered" if acc is not None else None
    if acc is None:
        return "effective before the office's registration"
    if fact.type == ASSIGNED:
        if acc.holder is not None and acc.holder.id == fact.data["holder"]["id"]:
            return f"{acc.holder.name} ({acc.holder.id}) already holds the office"
    elif fact.type == RELEASED and acc.holder is None:
        return "nobody holds the office at that instant"
    return None


def apply(acc: _OfficeAcc | None, fact: Fact) -> _OfficeAcc | None:
    """Apply one kept fact; a fact without its premise is recorded as ineffective."""
    why = _premise_failure(acc, fact)
    if why is not None:
        if acc is not None:
            acc.ineffective.append(Ineffective(fact.version, fact.type, why))
        return acc
    if fact.type == REGISTERED:
        return _OfficeAcc(fact)
    assert acc is not None
    if fact.type == ASSIGNED:
        h = fact.data["holder"]
        acc.holder, acc.holder_since = holder_ref(h["id"], h["name"]), fact.effective_at
        acc.holder_by = fact.version
    elif fact.type == RELEASED:
        acc.holder, acc.holder_since, acc.holder_by = None, None, fact.version
    return acc


def final(facts: Sequence[Fact]) -> tuple[_OfficeAcc | None, datetime | None]:
    """The accumulator after every kept fact (as known now), and the latest kept effective time."""
    acc, latest = final_with(apply, facts)
    return cast(_OfficeAcc | None, acc), latest


def fold(
    facts: Sequence[Fact], at: datetime, known_at: datetime | None = None
) -> OfficeState | None:
    """The oracle: the office at `at` as known at `known_at`; None if not registered then."""
    return cast(OfficeState | None, fold_with(apply, facts, at, known_at))


def timeline(facts: Sequence[Fact], known_at: datetime | None = None) -> list[OfficeSegment]:
    """All of valid time: the state in each segment equals `fold` at any instant in it."""
    return [OfficeSegment(*start) for start in starts_with(apply, facts, known_at)]


def ineffective_versions(facts: Sequence[Fact], known_at: datetime | None = None) -> set[int]:
    """Versions of kept facts that have no effect, over all of valid time."""
    return ineffective_with(apply, facts, known_at)


def tenures(segments: Sequence[OfficeSegment]) -> list[Tenure]:
    """The holders' tenures over valid time: runs of segments with one holder since one time.
    A tenure's provenance is the fact that began it and the one that ended it."""
    out = []
    for i, j in runs(segments, holder_run_key):
        holder = segments[i].state.holder
        assert holder is not None
        ended_by = (segments[j].state.holder_by,) if j < len(segments) else ()
        out.append(
            Tenure(holder, segments[i].valid_from, segments[j - 1].valid_to,
                   (segments[j - 1].state.holder_by, *ended_by))
        )  # fmt: skip
    return out

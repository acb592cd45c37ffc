"""How an answer changed: every record time at which the answer about a stretch of valid time
changed, and the events that changed it. The oracle for `projections.queries.changes`.

Pure: facts in, versions out, no I/O and no clock. The rule, in one place:
  1. the candidate record times are the distinct `recorded_at` of the subject's streams;
  2. the answer as known at k is the fold's intervals as known at k (an account's custody, a
     handle's carriers, an office's tenures) that overlap the window [from, to), each clipped
     to it (an open end becomes `to`);
  3. a version is due at k where that answer, provenance aside, differs from the answer as
     known just before k (nothing is known before the first record time);
  4. it names the events that changed it: those recorded at k and those whose retraction was
     recorded at k, as (stream, version) pairs in that order.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, Generic, TypeVar
from uuid import UUID

from ledger import fold, office_fold
from ledger.commands import handle_key
from ledger.errors import InvalidInput
from ledger.fold import CustodyInterval, Fact
from ledger.office_fold import Tenure

T = TypeVar("T")
Clipped = TypeVar("Clipped", CustodyInterval, Tenure)


@dataclass(frozen=True, slots=True)
class Window:
    """A stretch of valid time, `[valid_from, valid_to)`, both ends given."""

    valid_from: datetime
    valid_to: datetime

    def __post_init__(self) -> None:
        if self.valid_to <= self.valid_from:
            shown = (t.isoformat().replace("+00:00", "Z") for t in (self.valid_from, self.valid_to))
            raise InvalidInput("to must be after from (from {}, to {})".format(*shown), field="to")

    def overlaps(self, start: datetime, end: datetime | None) -> bool:
        """Whether `[start, end)` (None: open) shares an instant with the window."""
        return start < self.valid_to and (end is None or end > self.valid_from)

    def clip(self, start: datetime, end: datetime | None) -> tuple[datetime, datetime]:
        """`[start, end)` cut to the window; an open end becomes the window's end."""
        stop = self.valid_to if end is None else min(end, self.valid_to)
        return max(start, self.valid_from), stop


@dataclass(frozen=True)  # no slots: `Version[X](...)` sets `__orig_class__`
class Version(Generic[T]):
    """The answer as known from `known_at` on, and the events that made it differ from the one
    known just before: (stream, version) pairs."""

    known_at: datetime
    intervals: tuple[T, ...]
    changed_by: tuple[tuple[UUID, int], ...]


@dataclass(frozen=True, slots=True)
class Carried:
    """The account `account_id` carried the handle (as it displayed it) over
    `[valid_from, valid_to)`; `established_by`: versions of that account's stream."""

    account_id: UUID
    handle: str
    valid_from: datetime
    valid_to: datetime | None
    established_by: tuple[int, ...]


# What the comparison of two answers looks at: an interval without its provenance. Read
# models' views have the same attributes, so the read side compares with these too.


def custody_key(iv: Any) -> Hashable:
    return (iv.holder.id, iv.holder.name, iv.valid_from, iv.valid_to, tuple(iv.handles),
            tuple(iv.offices))  # fmt: skip


def carried_key(iv: Any) -> Hashable:
    return (iv.account_id, iv.handle, iv.valid_from, iv.valid_to)


def tenure_key(iv: Any) -> Hashable:
    return (iv.holder.id, iv.holder.name, iv.valid_from, iv.valid_to)


def carried_order(iv: Any) -> tuple[datetime, str]:
    """How a handle's carriers are listed: by start, then account id."""
    return iv.valid_from, str(iv.account_id)


# -- the answers as known at one record time -----------------------------------------------------


def custody_at(facts: Sequence[Fact], window: Window, known_at: datetime) -> list[CustodyInterval]:
    """The account's holder intervals in the window, as known at `known_at`."""
    return clipped(window, fold.custody_intervals(fold.timeline(facts, known_at)))


def carried_at(
    streams: Mapping[UUID, Sequence[Fact]], key: str, window: Window, known_at: datetime
) -> list[Carried]:
    """Which accounts carried the handle (case-insensitive `key`) in the window, as known at
    `known_at`."""
    out = [
        Carried(stream, iv.handle, *window.clip(iv.valid_from, iv.valid_to), iv.established_by)
        for stream, facts in streams.items()
        for iv in fold.handle_intervals(fold.timeline(facts, known_at))
        if iv.key == key and window.overlaps(iv.valid_from, iv.valid_to)
    ]
    return sorted(out, key=carried_order)


def tenures_at(facts: Sequence[Fact], window: Window, known_at: datetime) -> list[Tenure]:
    """The office's tenures in the window, as known at `known_at`."""
    return clipped(window, office_fold.tenures(office_fold.timeline(facts, known_at)))


def clipped(window: Window, intervals: Iterable[Clipped]) -> list[Clipped]:
    """The intervals that overlap the window, each cut to it."""
    out = []
    for iv in intervals:
        if window.overlaps(iv.valid_from, iv.valid_to):
            start, end = window.clip(iv.valid_from, iv.valid_to)
            out.append(replace(iv, valid_from=start, valid_to=end))
    return out


# -- how they changed ----------------------------------------------------------------------------


def custody_changes(
    stream: UUID, facts: Sequence[Fact], window: Window
) -> list[Version[CustodyInterval]]:
    """Each record time at which the account's custody in the window changed (`stream`: the
    account's id, which names the events)."""
    return versions({stream: facts}, lambda k: custody_at(facts, window, k), custody_key)


def handle_changes(
    streams: Mapping[UUID, Sequence[Fact]], handle: str, window: Window
) -> list[Version[Carried]]:
    """Each record time at which the handle's carriers in the window changed. `streams`: any
    accounts' facts; those that carried the handle as known at some time are the subject."""
    key = handle_key(handle)
    carriers = {s: facts for s, facts in streams.items() if ever_carried(facts, key)}
    return versions(carriers, lambda k: carried_at(carriers, key, window, k), carried_key)


def tenure_changes(stream: UUID, facts: Sequence[Fact], window: Window) -> list[Version[Tenure]]:
    """Each record time at which the office's tenures in the window changed (`stream`: the
    office stream's id)."""
    return versions({stream: facts}, lambda k: tenures_at(facts, window, k), tenure_key)


def ever_carried(facts: Sequence[Fact], key: str) -> bool:
    """Whether the account carried the handle at any valid time, as known at any time."""
    return any(
        iv.key == key
        for k in record_times([facts])
        for iv in fold.handle_intervals(fold.timeline(facts, k))
    )


def record_times(streams: Iterable[Sequence[Fact]]) -> list[datetime]:
    """The distinct record times of the streams' facts, ascending."""
    return sorted({f.recorded_at for facts in streams for f in facts})


def versions(
    streams: Mapping[UUID, Sequence[Fact]],
    answer: Callable[[datetime], Sequence[T]],
    key: Callable[[T], Hashable],
) -> list[Version[T]]:
    """Steps 1, 3 and 4 of the rule, for any answer (step 2)."""
    out: list[Version[T]] = []
    before: list[Hashable] = []
    for k in record_times(streams.values()):
        now = answer(k)
        keys = [key(iv) for iv in now]
        if keys != before:
            out.append(Version(k, tuple(now), changed_by(streams, k)))
        before = keys
    return out


def changed_by(
    streams: Mapping[UUID, Sequence[Fact]], known_at: datetime
) -> tuple[tuple[UUID, int], ...]:
    """The events recorded at `known_at`, and those whose retraction was, by (stream, version)."""
    found: set[tuple[UUID, int]] = set()
    for stream, facts in streams.items():
        for f in facts:
            if f.recorded_at == known_at:
                found.add((stream, f.version))
                if f.type == fold.RETRACTED:
                    found.add((stream, f.data["event_version"]))
    return tuple(sorted(found))

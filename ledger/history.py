"""A stream's timeline kept up to date fact by fact, at a cost that depends on how much of valid
time a fact changes, not on how long the stream is.

After every `push`, `History.segments` equals the oracle's `timeline(facts)` (as known now) for
the facts pushed so far, but for the states' `version` (a segment keeps the version it was made
at; nothing derived from a timeline reads it). A fact effective at `t` leaves every segment
before `t` as it was; from `t` on, the fold is applied again, from the state just before `t`,
only until the state it reaches at some instant equals the one the timeline held there: from
then on the same facts apply to the same state, so the rest is kept too. A retraction is the
same with a fact taken out. A change at or before the registration's instant is folded whole.

A `History` is never changed: `push` returns a new one (sharing the facts and the unchanged
segments), so an aggregate's copy, a batch's staged state, a cache and the projector (lent by
the writer that recorded its last fact) may all hold one. Its lazy caches (`_handles`,
`_moved`, `_ineffective`, `_early`) are each set at most once, to a value that depends on its
facts alone: threads that fill one at the same time fill it alike.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from itertools import groupby
from typing import Any

from ledger import fold, office_fold
from ledger.blocks import Blocks
from ledger.fold import RETRACTED, Fact

Interval = tuple[datetime, datetime | None]
HandleRun = tuple[datetime, datetime | None, str]  # valid_from, valid_to, the handle as written


def _effective(fact: Fact) -> datetime:
    return fact.effective_at


def _order(fact: Fact) -> tuple[datetime, int]:
    return fact.effective_at, fact.version


def _starts(segment: Any) -> datetime:
    return segment.valid_from  # type: ignore[no-any-return]


@dataclass(frozen=True, slots=True)
class Splice:
    """What a push kept of the timeline before it: its first `head` and last `tail` segments
    are the same objects in the timeline after it (head + tail is at most either length)."""

    head: int
    tail: int

    def then(self, later: Splice) -> Splice:
        """The splice of this push followed by `later`."""
        return Splice(min(self.head, later.head), min(self.tail, later.tail))


NO_SPLICE = Splice(0, 0)  # nothing kept: every segment may have changed
_NONE: frozenset[int] = frozenset()
_NO_KEYS: frozenset[str] = frozenset()  # no handle run moved (shared: `frozenset()` makes one)


class History:
    """An account's or an office's timeline, as known now (see the module's docstring)."""

    __slots__ = (
        "_early",
        "_handles",
        "_ineffective",
        "_make",
        "_moved",
        "_rules",
        "first",
        "kept",
        "kind",
        "length",
        "retracted",
        "segments",
        "splice",
    )

    def __init__(self, kind: str = "account") -> None:
        if kind not in ("account", "office"):
            raise ValueError(f"no timeline for a {kind} stream")
        self.kind = kind
        self._rules: Any = office_fold if kind == "office" else fold
        self._make: Any = office_fold.OfficeSegment if kind == "office" else fold.Segment
        self.length = 0  # facts pushed
        self.kept: Blocks[Fact] = Blocks()  # the facts in force, in the fold's order
        self.retracted: frozenset[int] = frozenset()  # versions named by a retraction
        self.segments: Blocks[Any] = Blocks()
        self.first = 0  # the version whose fact registered the stream (0: none yet)
        self.splice = Splice(0, 0)  # what the last push kept of the timeline before it
        # Handle key -> the runs the account carried it in (accounts; built when first asked),
        # and the keys whose runs the last push may have moved (None: not known).
        self._handles: dict[str, tuple[HandleRun, ...]] | None = None
        self._moved: frozenset[str] | None = None
        self._ineffective: frozenset[int] | None = None  # `ineffective_versions`, once asked
        # The versions of its kept facts effective before the registration, once asked.
        self._early: frozenset[int] | None = None

    @classmethod
    def of(cls, facts: Iterable[Fact], kind: str = "account") -> History:
        """The history of `facts` (a stream's, in version order), folded once."""
        history = cls(kind)
        facts = list(facts)
        if [f.version for f in facts] != list(range(1, len(facts) + 1)):
            raise ValueError("facts must be a stream's, versions 1, 2, ... in order")
        history.length = len(facts)
        history.retracted = frozenset(f.data["event_version"] for f in facts if f.type == RETRACTED)
        history.kept = Blocks(fold.believed(facts))
        history._refold_all()
        return history

    # -- reading ---------------------------------------------------------------------------------

    def ineffective_versions(self) -> frozenset[int]:
        """Versions of kept facts that have no effect (`fold.ineffective_versions`): those
        effective before the registration, and those the final state lists. (Asked of a
        history before and after each push: kept once found.)"""
        if self._ineffective is None:
            if not self.segments:
                self._ineffective = frozenset(f.version for f in self.kept)
            else:
                if self._early is None:
                    registered = self.segments[0].valid_from
                    before = self.kept.bisect_left(registered, _effective)
                    self._early = frozenset(f.version for f in self.kept.iter_from(0, before))
                final = self.segments[-1].state.ineffective
                found = self._early | {i.version for i in final} if final else self._early
                self._ineffective = found or _NONE  # most histories: one empty set for all
        return self._ineffective

    def why_ineffective(self, version: int) -> str | None:
        """Why the kept fact `version` has no effect, as the final state says (None if it has
        an effect, or is effective before the registration)."""
        if not self.segments:
            return None
        return next(
            (i.why for i in self.segments[-1].state.ineffective if i.version == version), None
        )

    def state_at(self, at: datetime) -> Any:
        """The state at valid time `at` (None before the registration)."""
        n = self.segments.bisect_right(at, _starts)
        return self.segments[n - 1].state if n else None

    def handles(self) -> dict[str, tuple[str, list[Interval]]]:
        """As known now: handle key -> (the handle as first carried, the valid-time intervals
        it is carried), like `fold.handle_intervals` (accounts only)."""
        runs = self._handle_runs()
        return {key: (ivs[0][2], [(a, b) for a, b, _ in ivs]) for key, ivs in runs.items()}

    def handle_changes(self, before: History | None) -> dict[str, tuple[str, list[Interval]]]:
        """The handles whose intervals differ from those of `before`, of which this history is
        the next push (None: a new stream, every handle), as `handles` gives them: (key, [])
        for a handle no longer carried. Found among the keys the push moved, not all."""
        if before is None:
            return dict(sorted(self.handles().items()))
        if before.length + 1 != self.length:
            raise ValueError("handle_changes compares a history with the one it was pushed on")
        theirs = before._handle_runs()
        if self._handles is None:
            self._handles = self._spliced_handles(before)
        mine = self._handles
        keys = self._moved if self._moved is not None else mine.keys() | theirs.keys()
        out: dict[str, tuple[str, list[Interval]]] = {}
        for key in sorted(keys):
            now = [(a, b) for a, b, _ in mine.get(key, ())]
            if now != [(a, b) for a, b, _ in theirs.get(key, ())]:
                out[key] = (mine[key][0][2], now) if now else (key, [])
        return out

    # -- changing --------------------------------------------------------------------------------

    def push(self, fact: Fact) -> History:
        """This history with `fact`, the stream's next, added."""
        if fact.version != self.length + 1:
            raise ValueError(f"fact version {fact.version} after version {self.length}")
        new = self._copy()
        new.length = fact.version
        if fact.type == RETRACTED:
            target = fact.data["event_version"]
            new.retracted = self.retracted | {target}
            found = (
                next((i for i, f in enumerate(self.kept) if f.version == target), None)
                if target not in self.retracted
                else None
            )
            if found is None:  # a retraction of a retraction, or of nothing kept: no change
                new.splice = Splice(len(self.segments), 0)
                return new
            new.kept = self.kept.splice(found, found + 1, ())
            new._refold(self, self.kept[found].effective_at)
        elif fact.version in self.retracted:  # named before it was recorded (a restore's oddity)
            new.splice = Splice(len(self.segments), 0)
            return new
        elif self.segments and fact.effective_at > self.segments[-1].valid_from:
            # Effective after every kept fact (each of their instants from the registration's
            # on begins a segment): appended, the timeline changes from the last segment on.
            n = len(self.kept)
            new.kept = self.kept.splice(n, n, (fact,))
            new._fold_last(self, fact)
            new._early = self._early  # kept after the registration: the early facts stay
            if self._handles is not None and _handle_facet(new.segments[-1]) == _handle_facet(
                self.segments[-1]
            ):
                # The last segment's handle run goes on into the one the fact begins, to the
                # same open end: no run moved (what `_spliced_handles` finds, found at once).
                new._handles, new._moved = self._handles, _NO_KEYS
                return new
        else:
            at = self.kept.bisect_right(_order(fact), _order)
            new.kept = self.kept.splice(at, at, (fact,))
            new._refold(self, fact.effective_at)
        if self._handles is not None:
            new._handles = new._spliced_handles(self)
        return new

    def _copy(self) -> History:
        new = object.__new__(History)  # every slot, by name (a loop of setattr costs more)
        new.kind, new._rules, new._make, new.first = self.kind, self._rules, self._make, self.first
        new.length, new.kept, new.retracted = self.length, self.kept, self.retracted
        new.segments, new.splice = self.segments, self.splice
        new._handles, new._moved, new._ineffective, new._early = None, None, None, None
        return new

    def _refold(self, old: History, t: datetime) -> None:
        """Set the segments from `old`'s, the kept facts having changed at valid time `t`."""
        segments = old.segments
        p = segments.bisect_left(t, _starts)  # old segments that begin before t
        if p == 0:  # at or before the registration's instant: fold it whole
            self._refold_all()
            return
        rules, first = self._rules, self.first
        acc = rules.restore(segments[p - 1].state, first)
        mid: list[tuple[datetime, Any]] = []
        j = p  # the first old segment not before the instant being folded
        join: int | None = None  # the old segment from which the old timeline is kept
        start = self.kept.bisect_left(t, _effective)
        for instant, facts in groupby(self.kept.iter_from(start), key=_effective):
            for fact in facts:
                acc = rules.apply(acc, fact)
            while j < len(segments) and segments[j].valid_from < instant:
                j += 1
            held = segments[j] if j < len(segments) else None
            if held is not None and held.valid_from == instant and acc.matches(held.state):
                join = j
                break
            mid.append((instant, acc.snapshot(self.length, first)))
        make = self._make
        end = segments[join].valid_from if join is not None else None
        made = [
            make(begin, mid[k + 1][0] if k + 1 < len(mid) else end, state)
            for k, (begin, state) in enumerate(mid)
        ]
        before = segments[p - 1]
        to = made[0].valid_from if made else end
        if before.valid_to == to:
            head = p
        else:  # the segment before the change ends elsewhere now
            head = p - 1
            made.insert(0, make(before.valid_from, to, before.state))
        stop = join if join is not None else len(segments)
        self.segments = segments.splice(head, stop, made)
        self.splice = Splice(head, len(segments) - stop)

    def _fold_last(self, old: History, fact: Fact) -> None:
        """Set the segments from `old`'s for `fact`, kept and effective after the last segment
        begins: what `_refold` makes of that (the last segment ends at the fact, the state the
        fact makes begins there), without searching for where to fold from."""
        segments = old.segments
        n, last = len(segments), segments[-1]
        t, rules, first = fact.effective_at, self._rules, self.first
        acc = rules.apply(rules.restore(last.state, first), fact)
        made = (
            self._make(last.valid_from, t, last.state),
            self._make(t, None, acc.snapshot(self.length, first)),
        )
        self.segments = segments.splice(n - 1, n, made)
        self.splice = Splice(n - 1, 0)

    def _refold_all(self) -> None:
        """Fold every kept fact (`fold.starts_with` for the kept facts, remembering `first`)."""
        rules, make = self._rules, self._make
        acc: Any = None
        first = 0
        starts: list[tuple[datetime, Any]] = []
        for instant, facts in groupby(self.kept, key=_effective):
            for fact in facts:
                acc = rules.apply(acc, fact)
                if acc is not None and not first:
                    first = fact.version
            if acc is not None:
                starts.append((instant, acc.snapshot(self.length, first)))
        self.first = first
        self.segments = Blocks(
            make(begin, starts[k + 1][0] if k + 1 < len(starts) else None, state)
            for k, (begin, state) in enumerate(starts)
        )
        self.splice = Splice(0, 0)

    # -- handles (accounts) ----------------------------------------------------------------------

    def _handle_runs(self) -> dict[str, tuple[HandleRun, ...]]:
        if self._handles is None:
            self._handles = _group(_runs_of(list(self.segments)))
        return self._handles

    def _spliced_handles(self, old: History) -> dict[str, tuple[HandleRun, ...]]:
        """`old`'s handle runs, with those the push changed taken out and put back as they are
        now: the runs that meet the changed segments, found from the splice."""
        assert old._handles is not None
        before, after = old.segments.view(), self.segments.view()
        if same_runs(before, after, self.splice, _handle_facet):  # no run moved
            self._moved = _NO_KEYS
            return old._handles
        lo, hi_before, hi_after = run_bounds(before, after, self.splice, fold.handle_run_key)
        was, now = _runs_of(before[lo:hi_before]), _runs_of(after[lo:hi_after])
        gone, came = was - now, now - was
        runs = dict(old._handles)
        moved = {k for k, _ in gone} | {k for k, _ in came}
        self._moved = frozenset(moved)
        for key in moved:
            out = [r for r in runs.get(key, ()) if (key, r) not in gone]
            out += [r for k, r in came if k == key]
            if out:
                runs[key] = tuple(sorted(out, key=lambda r: r[0]))
            else:
                runs.pop(key, None)
        return runs


def run_bounds(
    before: Sequence[Any],
    after: Sequence[Any],
    splice: Splice,
    key: Any,
    *,
    following: bool = False,
) -> tuple[int, int, int]:
    """Where the rows grouped by `key` (`fold.runs`; None: a row per segment) can differ between
    two timelines that share `splice`: `before[lo:hi_before]` and `after[lo:hi_after]` begin
    and end at a run's boundary, and every run outside them is in both (the same segments).
    `following`: a run's row also reads the segment after it (its `ended_by`), so the slices
    take that one too (a run it begins, cut short by the slice, is the same in both)."""
    head, tail = splice.head, splice.tail
    lo = max(head - 1, 0)
    if key is not None:
        while lo > 0 and _continues(after, lo, key):
            lo -= 1
    k = 0
    if tail and key is not None:  # the run the shared tail begins may begin before it
        start = len(after) - tail
        k = 1
        while k < tail and _continues(after, start + k, key):
            k += 1
        if following and k < tail:
            k += 1
    return lo, len(before) - tail + k, len(after) - tail + k


def same_runs(
    before: Sequence[Any], after: Sequence[Any], splice: Splice, key: Any, first: Any = None
) -> bool:
    """Whether two timelines that share `splice` change `key` at the same instants, to the same
    values, with the same `first(segment)` (None: nothing) for the segment each change begins:
    then every row that depends only on those (a run's extent, its key, and what `first` says
    of its first segment) is in both. Compared over the changed stretch and its neighbours
    only, so a change that does not move a run (an observation inside a custody) costs the
    stretch, however long the runs around it are."""
    head, tail = splice.head, splice.tail
    return _changes(before, head, len(before) - tail, key, first) == _changes(
        after, head, len(after) - tail, key, first
    )


def _changes(
    segments: Sequence[Any], head: int, stop: int, key: Any, first: Any
) -> list[tuple[Any, ...]]:
    """Where `key` changes among `segments[head:stop + 1]`, from the value at `head - 1`."""
    out: list[tuple[Any, ...]] = []
    previous: Any = key(segments[head - 1]) if head else _NOTHING
    end = min(stop + 1, len(segments))
    for segment in segments[head:end] if head < end else ():
        k = key(segment)
        if k != previous:
            out.append((segment.valid_from, k, first(segment) if first is not None else None))
            previous = k
    return out


_NOTHING = object()  # no value of any key


def _continues(segments: Sequence[Any], i: int, key: Any) -> bool:
    """Whether segment i belongs to the run of segment i - 1."""
    k = key(segments[i])
    return bool(
        k is not None
        and segments[i].valid_from == segments[i - 1].valid_to
        and key(segments[i - 1]) == k
    )


def _handle_facet(segment: fold.Segment) -> tuple[Any, str]:
    """What a handle run's extent and display rest on."""
    return fold.handle_run_key(segment), segment.state.handle


def _runs_of(segments: Sequence[fold.Segment]) -> set[tuple[str, HandleRun]]:
    return {
        (iv.key, (iv.valid_from, iv.valid_to, iv.handle)) for iv in fold.handle_intervals(segments)
    }


def _group(runs: Iterable[tuple[str, HandleRun]]) -> dict[str, tuple[HandleRun, ...]]:
    out: dict[str, list[HandleRun]] = {}
    for key, run in runs:
        out.setdefault(key, []).append(run)
    return {key: tuple(sorted(rs, key=lambda r: r[0])) for key, rs in out.items()}

"""A list that is never changed, kept in blocks: replacing a stretch of it makes a new one that
shares every block outside the stretch, at a cost of the stretch and the index of blocks, not of
the list. `ledger.history` keeps a stream's facts in force and its timeline in these, so a push
to a stream of ten thousand events copies a few hundred references, not twenty thousand (and
frees as few when the previous version goes)."""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Callable, Iterable, Iterator, Sequence
from itertools import accumulate, chain, islice, pairwise
from typing import Any, Generic, TypeVar, overload

T = TypeVar("T")
SIZE = 64  # a block's target length; blocks hold SIZE // 2 to 2 * SIZE items, but at the edges
# The starts of a sequence of one block (shared by all: a sequence is made per splice).
_FIRST: tuple[int, ...] = (0,)


class Blocks(Sequence[T], Generic[T]):
    """An immutable sequence in blocks (see the module's docstring)."""

    __slots__ = ("_blocks", "_len", "_starts")

    def __init__(self, items: Iterable[T] = ()) -> None:
        values = list(items)
        self._blocks: tuple[tuple[T, ...], ...] = tuple(
            tuple(values[i : i + SIZE]) for i in range(0, len(values), SIZE)
        )
        self._index()

    def _index(self) -> None:
        if len(self._blocks) == 1:  # most streams: one block, nothing to accumulate
            self._starts, self._len = _FIRST, len(self._blocks[0])
            return
        ends = list(accumulate(map(len, self._blocks)))
        self._starts = (0, *ends[:-1]) if ends else ()  # the index of each block's first item
        self._len = ends[-1] if ends else 0

    @classmethod
    def _of(cls, blocks: tuple[tuple[T, ...], ...]) -> Blocks[T]:
        new: Blocks[T] = object.__new__(cls)
        new._blocks = blocks
        new._index()
        return new

    @classmethod
    def _one(cls, block: tuple[T, ...]) -> Blocks[T]:
        """`_of((block,))` for a block that is not empty, without the general indexing."""
        new: Blocks[T] = object.__new__(cls)
        new._blocks, new._starts, new._len = (block,), _FIRST, len(block)
        return new

    def __len__(self) -> int:
        return self._len

    @overload
    def __getitem__(self, i: int) -> T: ...

    @overload
    def __getitem__(self, i: slice) -> list[T]: ...

    def __getitem__(self, i: int | slice) -> T | list[T]:
        blocks = self._blocks
        if len(blocks) == 1:  # one block answers as the tuple it is
            return list(blocks[0][i]) if isinstance(i, slice) else blocks[0][i]
        if isinstance(i, slice):
            start, stop, step = i.indices(self._len)
            if step != 1:
                return list(self)[i]
            return list(self.iter_from(start, stop))
        if i < 0:
            i += self._len
        if not 0 <= i < self._len:
            raise IndexError("Blocks index out of range")
        b = bisect_right(self._starts, i) - 1
        return blocks[b][i - self._starts[b]]

    def __iter__(self) -> Iterator[T]:
        return chain.from_iterable(self._blocks)

    def iter_from(self, start: int, stop: int | None = None) -> Iterator[T]:
        """The items from index `start` (to `stop`), without copying the ones before."""
        stop = self._len if stop is None else min(stop, self._len)
        if start >= stop:
            return iter(())
        if len(self._blocks) == 1:
            return iter(self._blocks[0][start:stop])
        b = bisect_right(self._starts, start) - 1
        first = islice(self._blocks[b], start - self._starts[b], None)
        items = chain(first, chain.from_iterable(self._blocks[b + 1 :]))
        return islice(items, stop - start)

    def splice(self, start: int, stop: int, items: Sequence[T]) -> Blocks[T]:
        """A new sequence: this one with `[start:stop)` replaced by `items`."""
        if not 0 <= start <= stop <= self._len:
            raise IndexError("splice out of range")
        blocks, starts = self._blocks, self._starts
        if not blocks:
            return Blocks(items)
        if len(blocks) == 1 and self._len - (stop - start) + len(items) < 2 * SIZE:
            # One block before and after (what the cutting below makes of it too). Most
            # splices of most streams: a fact or a segment put at the end.
            block = blocks[0]
            if start == stop == self._len:
                return Blocks._one((*block, *items)) if items else self
            whole = (*block[:start], *items, *block[stop:])
            return Blocks._one(whole) if whole else Blocks._of(())
        # The blocks the stretch meets (at least one), rebuilt from their items around it.
        first = max(bisect_right(starts, start) - 1, 0)
        last = max(bisect_right(starts, stop - 1) - 1, first) if stop > start else first
        base = starts[first]
        middle = list(chain.from_iterable(blocks[first : last + 1]))
        middle[start - base : stop - base] = items
        if len(middle) < SIZE // 2 and (first > 0 or last + 1 < len(blocks)):
            # Too short a block: take a neighbour in (keeps the blocks from fragmenting).
            if last + 1 < len(blocks):
                middle += blocks[last + 1]
                last += 1
            else:
                first -= 1
                middle[:0] = blocks[first]
        # Cut evenly into blocks of SIZE to 2 * SIZE items (one, if it is shorter).
        parts = max(len(middle) // SIZE, 1)
        cuts = [len(middle) * k // parts for k in range(parts + 1)]
        made = tuple(tuple(middle[a:b]) for a, b in pairwise(cuts) if b > a)
        return Blocks._of((*blocks[:first], *made, *blocks[last + 1 :]))

    def view(self) -> Sequence[T]:
        """The same items, for reading many times: the one block itself (a tuple, indexed and
        sliced in C) when there is one, else this sequence."""
        blocks = self._blocks
        if len(blocks) == 1:
            return blocks[0]
        return self if blocks else ()

    def bisect_left(self, x: Any, key: Callable[[T], Any]) -> int:
        """`bisect.bisect_left(self, x, key=key)`, the items being in `key` order: the block
        found by its first item, then the place within it."""
        b = bisect_left(self._blocks, x, key=lambda block: key(block[0])) - 1
        return 0 if b < 0 else self._starts[b] + bisect_left(self._blocks[b], x, key=key)

    def bisect_right(self, x: Any, key: Callable[[T], Any]) -> int:
        """`bisect.bisect_right(self, x, key=key)`, the items being in `key` order."""
        b = bisect_right(self._blocks, x, key=lambda block: key(block[0])) - 1
        return 0 if b < 0 else self._starts[b] + bisect_right(self._blocks[b], x, key=key)

    def __repr__(self) -> str:
        return f"Blocks({list(self)!r})"

"""`ledger.blocks.Blocks` is a list that a splice copies in part: it answers as the list it
models after any splices, and a splice leaves the sequence it was made from as it was."""

from __future__ import annotations

from bisect import bisect_left, bisect_right

from hypothesis import given, settings
from hypothesis import strategies as st

from ledger.blocks import SIZE, Blocks

_splices = st.lists(
    st.tuples(st.integers(0, 10_000), st.integers(0, 40), st.integers(0, 3 * SIZE)), max_size=40
)


@settings(max_examples=300, deadline=None)
@given(start=st.integers(0, 5 * SIZE), splices=_splices)
def test_blocks_answer_as_the_list_they_model_after_any_splices(
    start: int, splices: list[tuple[int, int, int]]
) -> None:
    model = list(range(start))
    blocks = Blocks(model)
    counter = 10**6
    for at, width, count in splices:
        at = at % (len(model) + 1)
        stop = min(at + width, len(model))
        items = list(range(counter, counter + count))
        counter += count
        before, kept = list(blocks), blocks
        blocks = blocks.splice(at, stop, items)
        model[at:stop] = items
        assert list(kept) == before  # the old one is untouched
        assert list(blocks) == model and len(blocks) == len(model)
    for i in range(-len(model), len(model)):
        assert blocks[i] == model[i]
    for lo in range(0, len(model) + 1, 7):
        assert blocks[lo : lo + 9] == model[lo : lo + 9]
        assert list(blocks.iter_from(lo, lo + 5)) == model[lo : lo + 5]
    ordered = Blocks(sorted(model))
    for x in (-1, 0, counter // 2, counter):
        assert bisect_left(ordered, x) == bisect_left(sorted(model), x)


def test_a_splice_copies_the_blocks_it_meets_and_shares_the_others() -> None:
    blocks: Blocks[int] = Blocks(range(100 * SIZE))
    after = blocks.splice(50 * SIZE + 3, 50 * SIZE + 4, [-1])
    shared = sum(1 for b in after._blocks if any(b is a for a in blocks._blocks))
    assert shared >= len(blocks._blocks) - 2
    assert after[50 * SIZE + 3] == -1 and len(after) == len(blocks)


@settings(max_examples=200, deadline=None)
@given(
    values=st.lists(st.integers(0, 50), max_size=6 * SIZE),
    cuts=st.lists(st.integers(0, 6 * SIZE), max_size=8),
    probes=st.lists(st.integers(-1, 52), min_size=1, max_size=10),
)
def test_a_search_by_key_finds_what_bisect_finds_in_the_list(
    values: list[int], cuts: list[int], probes: list[int]
) -> None:
    """Whatever the blocks (built whole, or cut by splices into blocks of other lengths), a
    search by key answers as `bisect` over the list, ties included."""
    model = sorted(values)
    blocks: Blocks[tuple[int, int]] = Blocks((v, i) for i, v in enumerate(model))
    for at in cuts:  # replace an item by itself: the same list, other blocks
        at = at % (len(model) + 1)
        if at < len(model):
            blocks = blocks.splice(at, at + 1, [blocks[at]])
    items = list(blocks)

    def key(item: tuple[int, int]) -> int:
        return item[0]

    for x in probes:
        assert blocks.bisect_left(x, key) == bisect_left(items, x, key=key)
        assert blocks.bisect_right(x, key) == bisect_right(items, x, key=key)


def test_a_short_sequence_stays_one_block_through_splices() -> None:
    blocks: Blocks[int] = Blocks(range(10))
    for n in range(10, 2 * SIZE - 1):
        blocks = blocks.splice(n, n, [n])
        assert len(blocks._blocks) == 1 and list(blocks) == list(range(n + 1))
    assert blocks[-1] == 2 * SIZE - 2 and blocks[3:5] == [3, 4]
    assert len(blocks.splice(0, 0, [-2, -1])._blocks) == 2  # 2 * SIZE items: cut in two
    assert len(blocks.splice(0, len(blocks), [])) == 0


def test_a_view_reads_as_the_sequence_and_is_its_one_block_when_there_is_one() -> None:
    for n in (0, 1, SIZE, 2 * SIZE - 1, 2 * SIZE, 5 * SIZE + 3):
        blocks: Blocks[int] = Blocks(range(n))
        view = blocks.view()
        assert list(view) == list(range(n)) and len(view) == n
        assert all(view[i] is blocks[i] for i in range(-n, n))
        assert isinstance(view, tuple) == (len(blocks._blocks) <= 1)

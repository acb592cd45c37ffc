"""`verify --store` recomputes the tree chunk by chunk: each chunk's complete nodes from its
leaf hashes, the nodes above the chunks from their roots, and a checkpoint's root from both.
Held here to the plain fold (`merkle.Frontier`, `merkle.root_of`) for every size and every
chunk height, including chunks cut short by a finding."""

from __future__ import annotations

import hashlib

from hypothesis import given, settings
from hypothesis import strategies as st

from ledger.tlog import merkle
from projections.tlog.audit import Checked, Chunk, _Above, _levels


def leaves(n: int) -> list[bytes]:
    return [hashlib.sha256(i.to_bytes(4, "big")).digest() for i in range(n)]


def every_node(hashes: list[bytes]) -> dict[tuple[int, int], bytes]:
    """Each complete node of the tree over `hashes`, as a store keeps them."""
    frontier, out = merkle.Frontier(), {}
    for h in hashes:
        for level, index, node in frontier.append(h):
            out[(level, index)] = node
    return out


@settings(max_examples=150, deadline=None)
@given(size=st.integers(1, 300), height=st.integers(0, 5), cut=st.integers(0, 300))
def test_chunks_give_every_node_and_every_root_the_fold_gives(
    size: int, height: int, cut: int
) -> None:
    hashes = leaves(size)
    nodes = every_node(hashes)
    above, made = _Above(height), dict[tuple[int, int], bytes]()
    width = 1 << height
    for start in range(0, size, width):
        end = min(start + width, size)
        chunk = Chunk(start, end, 0, 0, height)
        # The last chunk may stop short of its end, as a chunk with a finding does.
        confirmed = end if end < size else max(start + 1, min(end, start + cut))
        checked = Checked(_levels(b"".join(hashes[start:confirmed]), height))
        assert len(checked.levels) == height + 1
        for level, level_hashes in enumerate(checked.levels):
            for i in range(len(level_hashes) // 32):
                made[(level, (start >> level) + i)] = bytes(level_hashes[32 * i : 32 * i + 32])
        above.add(chunk, checked)
        for s in range(start + 1, confirmed + 1):
            assert above.root(s, chunk, checked) == merkle.root_of(hashes[:s]), s
        if confirmed < end:
            size = confirmed
            break
    for k, upper in enumerate(above.levels[1:], start=1):
        for i in range(len(upper) // 32):
            made[(height + k, i)] = bytes(upper[32 * i : 32 * i + 32])
    assert made == every_node(hashes[:size])
    assert all(made[k] == nodes[k] for k in made)

"""RFC 6962 / RFC 9162 Merkle trees over SHA-256: hashes, proofs read from a node store, and
strict verification that agrees with transparency-dev/merkle's `proof/verify.go`.

A tree of `size` leaves is addressed by its complete subtrees: node (level, index) is the root of
the `2**level` leaves `[index * 2**level, (index + 1) * 2**level)`. A store keeps exactly these;
every other hash a proof needs (a root, the one incomplete right-hand subtree of a proof) is folded
here from the few complete nodes that cover it, all fetched with one call to the reader."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable, Sequence
from typing import TypeAlias

HASH_SIZE = 32
EMPTY_ROOT: bytes = hashlib.sha256(b"").digest()

# Domain separation (RFC 6962 section 2.1): a leaf hash can never pass for an interior node.
_LEAF_PREFIX = b"\x00"
_NODE_PREFIX = b"\x01"

NodeReader: TypeAlias = Callable[[int, int], bytes]
"""`nodes(level, index)`: the hash of the complete subtree of height `level` at `index`."""
NodesReader: TypeAlias = Callable[[Sequence[tuple[int, int]]], Sequence[bytes]]
"""The batch form of `NodeReader`: the hashes of the given (level, index) nodes, in order."""

# What a proof reads: per proof hash, the complete nodes that fold into it (usually just one).
_Plan: TypeAlias = list[list[tuple[int, int]]]


class ProofError(ValueError):
    """A proof that does not verify, with the reason in the message."""


def leaf_hash(entry: bytes) -> bytes:
    """The leaf hash of a log entry: SHA-256(0x00 || entry)."""
    return hashlib.sha256(_LEAF_PREFIX + entry).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """The hash of an interior node: SHA-256(0x01 || left || right)."""
    return hashlib.sha256(_NODE_PREFIX + left + right).digest()


def root_of(leaf_hashes: Sequence[bytes]) -> bytes:
    """MTH over already-hashed leaves in O(n); EMPTY_ROOT for none."""
    for i, h in enumerate(leaf_hashes):
        if len(h) != HASH_SIZE:
            raise ValueError(f"leaf hash {i} is {len(h)} bytes, not {HASH_SIZE}")
    if not leaf_hashes:
        return EMPTY_ROOT
    # Level by level, an odd last node moves up unchanged: the same tree as RFC 6962's split
    # at the largest power of two.
    level = list(leaf_hashes)
    while len(level) > 1:
        parents = [node_hash(level[i], level[i + 1]) for i in range(0, len(level) - 1, 2)]
        if len(level) % 2:
            parents.append(level[-1])
        level = parents
    return level[0]


def subtree_plan(start: int, end: int) -> list[tuple[int, int]]:
    """The complete nodes, left to right, whose hashes fold into MTH(D[start:end])."""
    if not 0 <= start <= end:
        raise ValueError(f"not a range of leaves: [{start}, {end})")
    plan: list[tuple[int, int]] = []
    while start < end:
        n = end - start
        if n & (n - 1) == 0 and start % n == 0:
            # A complete, aligned subtree is one stored node.
            plan.append((n.bit_length() - 1, start // n))
            break
        # RFC 6962: the left part is the largest power of two smaller than n, and must be a
        # stored (aligned) node; the right part recurses.
        k = _split(n)
        if start % k:
            raise ValueError(f"[{start}, {end}) is not a subtree: {start} is not a multiple of {k}")
        plan.append((k.bit_length() - 1, start // k))
        start += k
    return plan


def root_at(nodes: NodesReader, size: int) -> bytes:
    """MTH of the first `size` leaves, from its popcount(size) peaks in one read."""
    return _fold(_read(nodes, subtree_plan(0, size)))


def inclusion_proof(nodes: NodesReader, index: int, size: int) -> list[bytes]:
    """RFC 9162 2.1.3.1 PATH(index, D[0:size]), the leaf's sibling first, in one read."""
    if not 0 <= index < size:
        raise ValueError(f"index {index} is not in a tree of {size}")
    return _read_plan(nodes, _inclusion_plan(index, size))


def inclusion_proofs(nodes: NodesReader, indexes: Sequence[int], size: int) -> list[list[bytes]]:
    """`inclusion_proof` of each of `indexes` in one tree, from a single read of the nodes
    they need. The hash a path takes at a level is the sibling of its node there, so it depends
    only on that node, (level, index >> level): a stream's entries share most of theirs, and
    each is planned, read and folded once."""
    for index in indexes:
        if not 0 <= index < size:
            raise ValueError(f"index {index} is not in a tree of {size}")
    # Level by level, the nodes on the entries' paths and the plan of each one's sibling (none
    # where the sibling would start past the last leaf: the node moves up as it is).
    siblings: list[dict[int, list[tuple[int, int]]]] = []
    on_paths = list(dict.fromkeys(indexes))
    for level in range((size - 1).bit_length()):
        here = {}
        for node in on_paths:
            begin = (node ^ 1) << level
            if begin < size:
                here[node] = subtree_plan(begin, min(begin + (1 << level), size))
        siblings.append(here)
        on_paths = list(dict.fromkeys(node >> 1 for node in on_paths))
    wanted = list(dict.fromkeys(n for here in siblings for plan in here.values() for n in plan))
    known = dict(zip(wanted, _read(nodes, wanted), strict=True))
    hashes = [
        {node: _fold([known[n] for n in plan]) for node, plan in here.items()} for here in siblings
    ]
    return [
        [h for level, here in enumerate(hashes) if (h := here.get(index >> level)) is not None]
        for index in indexes
    ]


def consistency_proof(nodes: NodesReader, size1: int, size2: int) -> list[bytes]:
    """RFC 9162 2.1.4.1 PROOF(size1, D[0:size2]), in one read."""
    # The verifier refuses size1 == 0 (nothing to prove), so no proof is made for it either.
    if not 0 < size1 <= size2:
        raise ValueError(f"no consistency proof from size {size1} to size {size2}")
    return _read_plan(nodes, _consistency_plan(size1, size2))


def root_from_inclusion(index: int, size: int, leaf: bytes, proof: Sequence[bytes]) -> bytes:
    """The root that `proof` gives for leaf hash `leaf` at `index` in a tree of `size`."""
    if not 0 <= index < size:
        raise ProofError(f"index {index} is not in a tree of {size}")
    _check_hash("leaf hash", leaf)
    inner, border = _inclusion_shape(index, size)
    if len(proof) != inner + border:
        raise ProofError(
            f"proof has {_hashes(len(proof))}, expected {inner + border}"
            f" for index {index} in a tree of {size}"
        )
    _check_proof(proof)
    h = leaf
    # Below the level where the paths to `index` and to the last leaf meet, the bits of the
    # index say on which side each sibling is.
    for level, sibling in enumerate(proof[:inner]):
        h = node_hash(h, sibling) if (index >> level) & 1 == 0 else node_hash(sibling, h)
    # Above it the node is on the tree's right edge: every sibling there is on the left.
    for sibling in proof[inner:]:
        h = node_hash(sibling, h)
    return h


def verify_inclusion(
    index: int, size: int, leaf: bytes, proof: Sequence[bytes], root: bytes
) -> None:
    """Check that leaf hash `leaf` is at `index` in the tree of `size` with `root`."""
    _check_hash("root", root)
    got = root_from_inclusion(index, size, leaf, proof)
    if not hmac.compare_digest(got, root):
        raise ProofError(f"proof for index {index} in a tree of {size} gives another root")


def verify_consistency(
    size1: int, size2: int, proof: Sequence[bytes], root1: bytes, root2: bytes
) -> None:
    """Check that the tree of `size2` with `root2` extends the tree of `size1` with `root1`."""
    if size2 < size1:
        raise ProofError(f"size2 {size2} is smaller than size1 {size1}")
    if size1 <= 0:
        raise ProofError(f"size1 is {size1}: nothing to prove consistent")
    if size1 == size2:
        # Like upstream, equal sizes need no proof and no particular root length.
        if proof:
            raise ProofError(f"sizes are equal ({size1}) but the proof has {_hashes(len(proof))}")
        if not hmac.compare_digest(root1, root2):
            raise ProofError(f"sizes are equal ({size1}) but the roots differ")
        return
    _check_hash("root1", root1)
    _check_hash("root2", root2)
    # The proof is the tail of the inclusion proof of leaf size1-1 in the tree of size2, from
    # the level of the old tree's last peak (a complete subtree of 2**shift leaves) up.
    inner, border = _inclusion_shape(size1 - 1, size2)
    shift = (size1 & -size1).bit_length() - 1
    inner -= shift
    # That peak comes first in the proof, unless it is the whole old tree, whose root is root1.
    seeded = size1 == 1 << shift
    want = inner + border + (0 if seeded else 1)
    if len(proof) != want:
        raise ProofError(
            f"proof has {_hashes(len(proof))}, expected {want} from size {size1} to size {size2}"
        )
    _check_proof(proof)
    seed, path = (root1, proof) if seeded else (proof[0], proof[1:])
    mask = (size1 - 1) >> shift
    old = new = seed
    for level, sibling in enumerate(path[:inner]):
        if (mask >> level) & 1:
            old, new = node_hash(sibling, old), node_hash(sibling, new)
        else:
            # A right sibling holds only leaves added since size1: it is in the new tree only.
            new = node_hash(new, sibling)
    for sibling in path[inner:]:
        old, new = node_hash(sibling, old), node_hash(sibling, new)
    if not hmac.compare_digest(old, root1):
        raise ProofError(f"proof from size {size1} to size {size2} does not give root1")
    if not hmac.compare_digest(new, root2):
        raise ProofError(f"proof from size {size1} to size {size2} does not give root2")


class Frontier:
    """The right edge of a growing tree (its compact range): the roots of the complete subtrees that
    the binary decomposition of `size` gives, largest (leftmost) first. Appending a leaf returns every
    complete node it completes, so a store can keep all of them."""

    def __init__(self, size: int = 0, peaks: Sequence[bytes] = ()) -> None:
        if size < 0:
            raise ValueError(f"a tree cannot have {size} leaves")
        if len(peaks) != size.bit_count():
            raise ValueError(f"a tree of {size} has {size.bit_count()} peaks, got {len(peaks)}")
        for i, peak in enumerate(peaks):
            if len(peak) != HASH_SIZE:
                raise ValueError(f"peak {i} is {len(peak)} bytes, not {HASH_SIZE}")
        self._size = size
        self._peaks = [bytes(peak) for peak in peaks]

    @classmethod
    def load(cls, nodes: NodesReader, size: int) -> Frontier:
        """The frontier of the stored tree of `size`, from its peaks in one read."""
        return cls(size, _read(nodes, cls.peak_positions(size)))

    @staticmethod
    def peak_positions(size: int) -> list[tuple[int, int]]:
        """The (level, index) of the peaks of a tree of `size`, largest first."""
        return subtree_plan(0, size)

    @property
    def size(self) -> int:
        """The number of leaves so far."""
        return self._size

    @property
    def peaks(self) -> tuple[bytes, ...]:
        """The peak hashes, largest (leftmost) first."""
        return tuple(self._peaks)

    def append(self, leaf: bytes) -> list[tuple[int, int, bytes]]:
        """Add leaf hash `leaf`; return it at (0, size) and every parent it completes, bottom-up."""
        if len(leaf) != HASH_SIZE:
            raise ValueError(f"leaf hash is {len(leaf)} bytes, not {HASH_SIZE}")
        level, index, h = 0, self._size, bytes(leaf)
        made = [(level, index, h)]
        # A node with an odd index is a right child: with the last peak (its left sibling) it
        # completes their parent, which may in turn be a right child.
        while index & 1:
            h = node_hash(self._peaks.pop(), h)
            level, index = level + 1, index >> 1
            made.append((level, index, h))
        self._peaks.append(h)
        self._size += 1
        return made

    def root(self) -> bytes:
        """MTH of the tree so far (EMPTY_ROOT at size 0), from the peaks alone."""
        return _fold(self._peaks)


def _split(n: int) -> int:
    """The largest power of two smaller than n (n >= 2): where RFC 6962 splits D[0:n]."""
    return 1 << ((n - 1).bit_length() - 1)


def _inclusion_shape(index: int, size: int) -> tuple[int, int]:
    """How many proof hashes lie below the level where the paths to `index` and to the last leaf
    meet (`inner`), and how many left siblings lie above it (`border`)."""
    inner = (index ^ (size - 1)).bit_length()
    return inner, (index >> inner).bit_count()


def _inclusion_plan(index: int, size: int) -> _Plan:
    """The nodes of PATH(index, D[0:size]), one group per proof hash, leaf-sibling first."""
    # Below the level where the paths to `index` and to the last leaf meet (`inner`), every
    # sibling is a complete, aligned subtree (one stored node) except the one at the meeting
    # level, which holds the last leaf and may be the tree's one incomplete subtree. Above it
    # the node is on the right edge: a sibling exists, on the left and complete, where the
    # index has a 1 bit (`_inclusion_shape`).
    inner = (index ^ (size - 1)).bit_length()
    plan: _Plan = [[(level, (index >> level) ^ 1)] for level in range(inner - 1)]
    if inner:
        level = inner - 1
        begin = ((index >> level) ^ 1) << level
        plan.append(subtree_plan(begin, min(begin + (1 << level), size)))
    plan += [
        [(level, (index >> level) ^ 1)]
        for level in range(inner, (size - 1).bit_length())
        if (index >> level) & 1
    ]
    return plan


def _consistency_plan(size1: int, size2: int) -> _Plan:
    """The nodes of PROOF(size1, D[0:size2]), one group per proof hash, in proof order."""
    if size1 == size2:
        return []
    # SUBPROOF(m, D[start:end], known) unrolled: each step adds a hash after the ones the inner
    # step will produce, so they are collected outermost first and reversed at the end.
    outer: _Plan = []
    start, end, m, known = 0, size2, size1, True
    while end - start != m:
        k = _split(end - start)
        if m <= k:
            outer.append(subtree_plan(start + k, end))
            end = start + k
        else:
            outer.append(subtree_plan(start, start + k))
            start, m, known = start + k, m - k, False
    # The old tree's part [start, end) is given only if the verifier cannot know it as root1.
    head = [] if known else [subtree_plan(start, end)]
    return head + outer[::-1]


def _read(nodes: NodesReader, plan: Sequence[tuple[int, int]]) -> list[bytes]:
    """The hashes of `plan` in one call to the reader (none for an empty plan), checked."""
    if not plan:
        return []
    hashes = list(nodes(plan))
    if len(hashes) != len(plan):
        raise ValueError(f"the node reader gave {_hashes(len(hashes))} for {len(plan)} nodes")
    for (level, index), h in zip(plan, hashes, strict=True):
        if len(h) != HASH_SIZE:
            raise ValueError(f"node ({level}, {index}) is {len(h)} bytes, not {HASH_SIZE}")
    return hashes


def _read_plan(nodes: NodesReader, plan: _Plan) -> list[bytes]:
    """One hash per group of `plan`, from a single read of all its nodes."""
    hashes = _read(nodes, [node for group in plan for node in group])
    proof: list[bytes] = []
    at = 0
    for group in plan:
        proof.append(_fold(hashes[at : at + len(group)]))
        at += len(group)
    return proof


def _fold(hashes: Sequence[bytes]) -> bytes:
    """MTH of a range from the hashes of its subtree plan (left to right): fold from the right."""
    if not hashes:
        return EMPTY_ROOT
    h = hashes[-1]
    for left in reversed(hashes[:-1]):
        h = node_hash(left, h)
    return h


def _check_hash(what: str, h: bytes) -> None:
    """Refuse a hash that is not SHA-256 sized."""
    if len(h) != HASH_SIZE:
        raise ProofError(f"{what} is {len(h)} bytes, not {HASH_SIZE}")


def _check_proof(proof: Sequence[bytes]) -> None:
    """Refuse a proof with a hash that is not SHA-256 sized."""
    for i, h in enumerate(proof):
        if len(h) != HASH_SIZE:
            raise ProofError(f"proof hash {i} is {len(h)} bytes, not {HASH_SIZE}")


def _hashes(n: int) -> str:
    """'1 hash', 'n hashes'."""
    return f"{n} hash" if n == 1 else f"{n} hashes"

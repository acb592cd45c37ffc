"""The Merkle tree module against upstream's vectors and against a second implementation written
straight from RFC 9162's recursive definitions (MTH, PATH, PROOF/SUBPROOF) over a list of leaf
hashes. The node store in these tests is what `Frontier.append` hands out, and its reader refuses
any node that is not complete inside the tree a call asks about."""

from __future__ import annotations

import base64
import hashlib
import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ledger.tlog.merkle import (
    EMPTY_ROOT,
    HASH_SIZE,
    Frontier,
    NodesReader,
    ProofError,
    consistency_proof,
    inclusion_proof,
    inclusion_proofs,
    leaf_hash,
    node_hash,
    root_at,
    root_from_inclusion,
    root_of,
    subtree_plan,
    verify_consistency,
    verify_inclusion,
)

VECTORS = Path(__file__).resolve().parents[1] / "vectors" / "merkle"
Store = dict[tuple[int, int], bytes]


# --- The second implementation: RFC 9162 section 2.1, recursion over slices, nothing shared ---


def ref_leaf(entry: bytes) -> bytes:
    """RFC 9162 leaf hash."""
    return hashlib.sha256(b"\x00" + entry).digest()


def ref_split(n: int) -> int:
    """k: the largest power of two smaller than n."""
    k = 1
    while k * 2 < n:
        k *= 2
    return k


def ref_mth(d: Sequence[bytes]) -> bytes:
    """MTH(D[n]) over leaf hashes."""
    if not d:
        return hashlib.sha256(b"").digest()
    if len(d) == 1:
        return d[0]
    k = ref_split(len(d))
    return hashlib.sha256(b"\x01" + ref_mth(d[:k]) + ref_mth(d[k:])).digest()


def ref_path(m: int, d: Sequence[bytes]) -> list[bytes]:
    """PATH(m, D[n])."""
    if len(d) == 1:
        return []
    k = ref_split(len(d))
    if m < k:
        return [*ref_path(m, d[:k]), ref_mth(d[k:])]
    return [*ref_path(m - k, d[k:]), ref_mth(d[:k])]


def ref_subproof(m: int, d: Sequence[bytes], b: bool) -> list[bytes]:
    """SUBPROOF(m, D[n], b)."""
    if m == len(d):
        return [] if b else [ref_mth(d)]
    k = ref_split(len(d))
    if m <= k:
        return [*ref_subproof(m, d[:k], b), ref_mth(d[k:])]
    return [*ref_subproof(m - k, d[k:], False), ref_mth(d[:k])]


def ref_proof(m: int, d: Sequence[bytes]) -> list[bytes]:
    """PROOF(m, D[n])."""
    return ref_subproof(m, d, True)


# --- A node store fed by Frontier.append, and readers over it ---


def build_store(hashes: Sequence[bytes]) -> Store:
    """Every node that appending `hashes` one by one hands out; a node handed out twice fails."""
    store: Store = {}
    frontier = Frontier()
    for h in hashes:
        for level, index, node in frontier.append(h):
            assert (level, index) not in store, f"node ({level}, {index}) handed out twice"
            store[(level, index)] = node
    return store


def reader(store: Store, size: int) -> NodesReader:
    """A batch reader that answers only for complete nodes inside the first `size` leaves."""

    def read(pairs: Sequence[tuple[int, int]]) -> list[bytes]:
        for level, index in pairs:
            assert (index + 1) << level <= size, f"({level}, {index}) is not in a tree of {size}"
        return [store[pair] for pair in pairs]

    return read


def fold_right(hashes: Sequence[bytes]) -> bytes:
    """Fold the roots of adjacent subtrees, left to right, the way RFC 6962 nests them."""
    h = hashes[-1]
    for left in reversed(hashes[:-1]):
        h = hashlib.sha256(b"\x01" + left + h).digest()
    return h


@st.composite
def trees(draw: st.DrawFn, max_size: int = 300) -> list[bytes]:
    """Leaf hashes of a random tree. Every entry is distinct (random bytes, then its position),
    so no proof can honestly verify for another leaf, index or size."""
    n = draw(st.integers(1, max_size))
    rng = draw(st.randoms(use_true_random=False))
    return [ref_leaf(rng.randbytes(rng.randrange(12)) + i.to_bytes(2, "big")) for i in range(n)]


def flip_bit(proof: list[bytes], which: int, bit: int) -> list[bytes]:
    """`proof` with one bit of one hash flipped."""
    h = bytearray(proof[which])
    h[bit // 8] ^= 1 << (bit % 8)
    return [*proof[:which], bytes(h), *proof[which + 1 :]]


# --- 1. The reference tree (upstream's testonly/constants.go) ---


def test_the_reference_tree_has_upstreams_roots_and_nodes_at_every_size() -> None:
    ref = json.loads((VECTORS / "reference-tree.json").read_text(encoding="utf-8"))
    hashes = [leaf_hash(bytes.fromhex(x)) for x in ref["leaves_hex"]]
    roots = {int(n): bytes.fromhex(x) for n, x in ref["roots_hex_by_size"].items()}
    assert sorted(roots) == list(range(9))
    assert roots[0] == EMPTY_ROOT
    store = build_store(hashes)
    frontier = Frontier()
    for n in range(9):
        assert root_of(hashes[:n]) == roots[n], n
        assert root_at(reader(store, n), n) == roots[n], n
        assert frontier.root() == roots[n], n
        if n < 8:
            frontier.append(hashes[n])
    want = {
        (int(level), i): bytes.fromhex(x)
        for level, row in ref["node_hashes_hex_by_level"].items()
        for i, x in enumerate(row)
    }
    assert len(want) == 15
    assert store == want


# --- 2. Upstream's proof vectors ---


def vector_files(kind: str) -> list[Path]:
    """The JSON cases under vectors/merkle/<kind>, in a stable order."""
    return sorted((VECTORS / kind).rglob("*.json"))


def vector_id(path: Path) -> str:
    """A case's id: its path under vectors/merkle."""
    return path.relative_to(VECTORS).as_posix()


def load_case(path: Path) -> dict[str, Any]:
    """A case with its base64 fields decoded and a null proof as an empty one."""
    case: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    for key in ("root", "leafHash", "root1", "root2"):
        if key in case:
            case[key] = base64.b64decode(case[key], validate=True)
    case["proof"] = [base64.b64decode(h, validate=True) for h in case["proof"] or []]
    return case


@pytest.mark.parametrize("kind", ["inclusion", "consistency"])
def test_all_upstream_vector_files_are_there(kind: str) -> None:
    assert len(vector_files(kind)) == 98


@pytest.mark.parametrize("path", vector_files("inclusion"), ids=vector_id)
def test_an_inclusion_vector_fails_exactly_when_upstream_says(path: Path) -> None:
    case = load_case(path)
    args = (case["leafIdx"], case["treeSize"], case["leafHash"], case["proof"], case["root"])
    if case["wantErr"]:
        with pytest.raises(ProofError):
            verify_inclusion(*args)
    else:
        verify_inclusion(*args)


@pytest.mark.parametrize("path", vector_files("consistency"), ids=vector_id)
def test_a_consistency_vector_fails_exactly_when_upstream_says(path: Path) -> None:
    case = load_case(path)
    args = (case["size1"], case["size2"], case["proof"], case["root1"], case["root2"])
    if case["wantErr"]:
        with pytest.raises(ProofError):
            verify_consistency(*args)
    else:
        verify_consistency(*args)


# --- 3. Against the RFC's definitions, on random trees ---


@settings(max_examples=25, deadline=None)
@given(trees())
def test_every_root_agrees_with_mth_at_every_size(hashes: list[bytes]) -> None:
    store = build_store(hashes)
    frontier = Frontier()
    for n in range(len(hashes) + 1):
        want = ref_mth(hashes[:n])
        assert root_at(reader(store, n), n) == want
        assert root_of(hashes[:n]) == want
        assert frontier.root() == want
        if n < len(hashes):
            frontier.append(hashes[n])


@settings(max_examples=60, deadline=None)
@given(trees(), st.data())
def test_a_subtree_plan_folds_into_the_mth_of_its_range(
    hashes: list[bytes], data: st.DataObject
) -> None:
    n = len(hashes)
    store = build_store(hashes)
    # Power-of-two lengths are drawn often: unaligned, they must not be taken for a stored node.
    powers = st.integers(0, n.bit_length() - 1).map(lambda e: 1 << e)
    length = data.draw(st.one_of(st.integers(0, n), powers), label="length")
    k = ref_split(length) if length > 1 else 1
    if data.draw(st.booleans(), label="aligned"):
        start = data.draw(st.integers(0, (n - length) // k), label="start") * k
    else:
        start = data.draw(st.integers(0, n - length), label="start")
    end = start + length
    # RFC 6962 nests [start, end) as a subtree only when start is a multiple of k.
    if start % k:
        with pytest.raises(ValueError, match="not a subtree"):
            subtree_plan(start, end)
        return
    plan = subtree_plan(start, end)
    assert len(plan) <= length.bit_length()
    want = ref_mth(hashes[start:end])
    assert (fold_right(reader(store, end)(plan)) if plan else hashlib.sha256(b"").digest()) == want


@settings(max_examples=120, deadline=None)
@given(trees(), st.data())
def test_an_inclusion_proof_is_rfc_path_and_verifies_only_as_made(
    hashes: list[bytes], data: st.DataObject
) -> None:
    n = len(hashes)
    store = build_store(hashes)
    size = data.draw(st.integers(1, n), label="size")
    index = data.draw(st.integers(0, size - 1), label="index")
    root = ref_mth(hashes[:size])
    leaf = hashes[index]

    proof = inclusion_proof(reader(store, size), index, size)
    assert proof == ref_path(index, hashes[:size])
    verify_inclusion(index, size, leaf, proof, root)
    assert root_from_inclusion(index, size, leaf, proof) == root

    if proof:
        which = data.draw(st.integers(0, len(proof) - 1), label="which")
        bit = data.draw(st.integers(0, 8 * HASH_SIZE - 1), label="bit")
        with pytest.raises(ProofError):
            verify_inclusion(index, size, leaf, flip_bit(proof, which, bit), root)
        with pytest.raises(ProofError, match="proof has"):
            verify_inclusion(index, size, leaf, proof[:which] + proof[which + 1 :], root)
    extra = data.draw(st.sampled_from([*proof, leaf, root]), label="extra")
    with pytest.raises(ProofError, match="proof has"):
        verify_inclusion(index, size, leaf, [*proof, extra], root)
    with pytest.raises(ProofError, match="proof has"):
        verify_inclusion(index, size, leaf, [extra, *proof], root)
    bad_root = flip_bit([root], 0, data.draw(st.integers(0, 8 * HASH_SIZE - 1), label="root bit"))
    with pytest.raises(ProofError, match="another root"):
        verify_inclusion(index, size, leaf, proof, bad_root[0])
    if size > 1:
        other = data.draw(st.integers(0, size - 1).filter(lambda i: i != index), label="other")
        with pytest.raises(ProofError):
            verify_inclusion(other, size, leaf, proof, root)
    if n > index + 1:
        other_size = data.draw(
            st.integers(index + 1, n).filter(lambda s: s != size), label="other_size"
        )
        with pytest.raises(ProofError):
            verify_inclusion(index, other_size, leaf, proof, ref_mth(hashes[:other_size]))


@settings(max_examples=120, deadline=None)
@given(trees(), st.data())
def test_a_consistency_proof_is_rfc_proof_and_verifies_only_as_made(
    hashes: list[bytes], data: st.DataObject
) -> None:
    n = len(hashes)
    store = build_store(hashes)
    size2 = data.draw(st.integers(1, n), label="size2")
    size1 = data.draw(st.integers(1, size2), label="size1")
    root1, root2 = ref_mth(hashes[:size1]), ref_mth(hashes[:size2])

    proof = consistency_proof(reader(store, size2), size1, size2)
    assert proof == ref_proof(size1, hashes[:size2])
    verify_consistency(size1, size2, proof, root1, root2)

    if proof:
        which = data.draw(st.integers(0, len(proof) - 1), label="which")
        bit = data.draw(st.integers(0, 8 * HASH_SIZE - 1), label="bit")
        with pytest.raises(ProofError):
            verify_consistency(size1, size2, flip_bit(proof, which, bit), root1, root2)
        with pytest.raises(ProofError, match="proof has"):
            verify_consistency(size1, size2, proof[:which] + proof[which + 1 :], root1, root2)
    extra = data.draw(st.sampled_from([*proof, root1, root2]), label="extra")
    with pytest.raises(ProofError, match="proof has"):
        verify_consistency(size1, size2, [*proof, extra], root1, root2)
    with pytest.raises(ProofError, match="proof has"):
        verify_consistency(size1, size2, [extra, *proof], root1, root2)
    if size1 < size2:
        with pytest.raises(ProofError):
            verify_consistency(size1, size2, proof, root2, root1)
    # Each root on its own is checked, whether or not the proof starts from root1.
    bit = data.draw(st.integers(0, 8 * HASH_SIZE - 1), label="root bit")
    with pytest.raises(ProofError):
        verify_consistency(size1, size2, proof, flip_bit([root1], 0, bit)[0], root2)
    with pytest.raises(ProofError):
        verify_consistency(size1, size2, proof, root1, flip_bit([root2], 0, bit)[0])
    if size2 > 1:
        other1 = data.draw(st.integers(1, size2).filter(lambda s: s != size1), label="other1")
        with pytest.raises(ProofError):
            verify_consistency(other1, size2, proof, ref_mth(hashes[:other1]), root2)
    if n > size1:
        other2 = data.draw(st.integers(size1, n).filter(lambda s: s != size2), label="other2")
        with pytest.raises(ProofError):
            verify_consistency(size1, other2, proof, root1, ref_mth(hashes[:other2]))


def test_a_wrong_proof_length_is_named_in_the_error() -> None:
    hashes = [ref_leaf(bytes([i])) for i in range(9)]
    proof = inclusion_proof(reader(build_store(hashes), 9), 5, 9)
    with pytest.raises(
        ProofError, match="proof has 3 hashes, expected 4 for index 5 in a tree of 9"
    ):
        verify_inclusion(5, 9, hashes[5], proof[:-1], ref_mth(hashes))


def test_verifiers_refuse_hashes_that_are_not_32_bytes() -> None:
    hashes = [ref_leaf(bytes([i])) for i in range(6)]
    read = reader(build_store(hashes), 6)
    root3, root6 = ref_mth(hashes[:3]), ref_mth(hashes)
    path = inclusion_proof(read, 2, 6)
    verify_inclusion(2, 6, hashes[2], path, root6)
    with pytest.raises(ProofError, match="leaf hash is 31 bytes"):
        root_from_inclusion(2, 6, hashes[2][:31], path)
    with pytest.raises(ProofError, match="root is 33 bytes"):
        verify_inclusion(2, 6, hashes[2], path, root6 + b"\x00")
    with pytest.raises(ProofError, match="proof hash 1 is 31 bytes"):
        root_from_inclusion(2, 6, hashes[2], [path[0], path[1][:31], *path[2:]])
    proof = consistency_proof(read, 3, 6)
    verify_consistency(3, 6, proof, root3, root6)
    with pytest.raises(ProofError, match="proof hash 0 is 33 bytes"):
        verify_consistency(3, 6, [proof[0] + b"\x00", *proof[1:]], root3, root6)
    with pytest.raises(ProofError, match="root1 is 31 bytes"):
        verify_consistency(3, 6, proof, root3[:31], root6)
    with pytest.raises(ProofError, match="root2 is 0 bytes"):
        verify_consistency(3, 6, proof, root3, b"")


def test_proofs_are_refused_for_positions_outside_the_tree() -> None:
    hashes = [ref_leaf(bytes([i])) for i in range(4)]
    read = reader(build_store(hashes), 4)
    path = inclusion_proof(read, 3, 4)
    for index in (4, 5, -1):
        with pytest.raises(ProofError, match=f"index {index} is not in a tree of 4"):
            root_from_inclusion(index, 4, hashes[3], path)
    for index, size in [(4, 4), (-1, 4), (0, 0)]:
        with pytest.raises(ValueError, match="not in a tree"):
            inclusion_proof(read, index, size)
    for size1, size2 in [(0, 4), (5, 4), (-1, 4)]:
        with pytest.raises(ValueError, match="no consistency proof"):
            consistency_proof(read, size1, size2)


def test_a_reader_that_answers_badly_is_refused() -> None:
    def short(pairs: Sequence[tuple[int, int]]) -> list[bytes]:
        return [EMPTY_ROOT] * (len(pairs) - 1)

    def truncated(pairs: Sequence[tuple[int, int]]) -> list[bytes]:
        return [b"\x00" * 31 for _ in pairs]

    with pytest.raises(ValueError, match="gave 1 hash for 2 nodes"):
        root_at(short, 3)
    with pytest.raises(ValueError, match="is 31 bytes"):
        inclusion_proof(truncated, 0, 3)


# --- 4. The frontier ---


@settings(max_examples=40, deadline=None)
@given(trees(max_size=130), st.data())
def test_a_loaded_frontier_goes_on_as_if_built_from_scratch(
    hashes: list[bytes], data: st.DataObject
) -> None:
    frontier = Frontier()
    made = [frontier.append(h) for h in hashes]
    store = build_store(hashes)
    cut = data.draw(st.integers(0, len(hashes)), label="cut")

    loaded = Frontier.load(reader(store, cut), cut)
    assert loaded.size == cut
    assert loaded.root() == ref_mth(hashes[:cut])
    assert [loaded.append(h) for h in hashes[cut:]] == made[cut:]
    assert (loaded.size, loaded.peaks, loaded.root()) == (
        frontier.size,
        frontier.peaks,
        frontier.root(),
    )


@settings(max_examples=30, deadline=None)
@given(trees())
def test_appends_hand_out_every_complete_node_once_bottom_up(hashes: list[bytes]) -> None:
    frontier = Frontier()
    seen: list[tuple[int, int]] = []
    for i, h in enumerate(hashes):
        made = frontier.append(h)
        assert made[0] == (0, i, h)
        assert [level for level, _, _ in made] == list(range(len(made)))
        for level, index, node in made:
            assert node == ref_mth(hashes[index << level : (index + 1) << level])
            seen.append((level, index))
    n = len(hashes)
    complete = {
        (level, index)
        for level in range(n.bit_length())
        for index in range(n >> level)
        if (index + 1) << level <= n
    }
    assert len(seen) == len(set(seen))
    assert set(seen) == complete


def test_peak_positions_follow_the_binary_decomposition_of_the_size() -> None:
    for size in range(200):
        want: list[tuple[int, int]] = []
        start = 0
        for level in reversed(range(size.bit_length())):
            if size >> level & 1:
                want.append((level, start >> level))
                start += 1 << level
        assert Frontier.peak_positions(size) == want, size
        assert len(want) == bin(size).count("1")


def test_a_frontier_refuses_peaks_that_do_not_fit_its_size() -> None:
    peak = ref_leaf(b"x")
    with pytest.raises(ValueError, match="a tree of 3 has 2 peaks, got 1"):
        Frontier(3, [peak])
    with pytest.raises(ValueError, match="a tree of 4 has 1 peaks, got 2"):
        Frontier(4, [peak, peak])
    with pytest.raises(ValueError, match="a tree of 0 has 0 peaks, got 1"):
        Frontier(0, [peak])
    with pytest.raises(ValueError, match="peak 1 is 31 bytes"):
        Frontier(3, [peak, peak[:31]])
    with pytest.raises(ValueError, match="cannot have -1 leaves"):
        Frontier(-1)
    frontier = Frontier(1, [peak])
    with pytest.raises(ValueError, match="leaf hash is 5 bytes"):
        frontier.append(b"entry")
    assert (frontier.size, frontier.peaks) == (1, (peak,))


def test_root_of_takes_only_leaf_hashes() -> None:
    with pytest.raises(ValueError, match="leaf hash 1 is 5 bytes"):
        root_of([ref_leaf(b"a"), b"entry"])


def test_leaf_and_node_hashes_are_domain_separated() -> None:
    left, right = ref_leaf(b"a"), ref_leaf(b"b")
    assert leaf_hash(b"a") == left
    assert node_hash(left, right) == hashlib.sha256(b"\x01" + left + right).digest()
    assert leaf_hash(left + right) != node_hash(left, right)


# --- 5. Proofs from a big tree read their nodes in one call ---

BIG = 1_000_003


class CountingReader:
    """Made-up but stable node hashes for a tree of BIG leaves; counts calls and nodes asked for."""

    def __init__(self) -> None:
        self.calls = 0
        self.pairs = 0

    def __call__(self, pairs: Sequence[tuple[int, int]]) -> list[bytes]:
        self.calls += 1
        self.pairs += len(pairs)
        for level, index in pairs:
            assert level >= 0 and index >= 0 and (index + 1) << level <= BIG, (level, index)
        return [hashlib.sha256(f"{level}:{index}".encode()).digest() for level, index in pairs]


MOST_PAIRS = 2 * math.ceil(math.log2(BIG))


@pytest.mark.parametrize("index", [0, 1, 524_287, 524_288, 999_999, 1_000_000, BIG - 1])
def test_an_inclusion_proof_in_a_big_tree_is_one_read(index: int) -> None:
    nodes = CountingReader()
    proof = inclusion_proof(nodes, index, BIG)
    assert (nodes.calls, nodes.pairs <= MOST_PAIRS) == (1, True), nodes.pairs
    # The hashes are made up, but the proof has the length the verifier demands.
    root_from_inclusion(index, BIG, hashlib.sha256(b"leaf").digest(), proof)


@pytest.mark.parametrize("size1", [1, 2, 3, 524_287, 524_288, 999_999, BIG - 1])
def test_a_consistency_proof_in_a_big_tree_is_one_read(size1: int) -> None:
    nodes = CountingReader()
    proof = consistency_proof(nodes, size1, BIG)
    assert (nodes.calls, nodes.pairs <= MOST_PAIRS) == (1, True), nodes.pairs
    # Made-up hashes give wrong roots, but only after the length and hash sizes passed.
    with pytest.raises(ProofError, match="does not give root"):
        verify_consistency(size1, BIG, proof, EMPTY_ROOT, EMPTY_ROOT)


def test_a_root_of_a_big_tree_reads_its_peaks_in_one_call() -> None:
    nodes = CountingReader()
    root_at(nodes, BIG)
    assert (nodes.calls, nodes.pairs) == (1, bin(BIG).count("1"))


def test_what_needs_no_node_reads_none() -> None:
    nodes = CountingReader()
    assert root_at(nodes, 0) == EMPTY_ROOT
    assert inclusion_proof(nodes, 0, 1) == []
    assert consistency_proof(nodes, 7, 7) == []
    assert Frontier.load(nodes, 0).root() == EMPTY_ROOT
    assert nodes.calls == 0


@settings(max_examples=60, deadline=None)
@given(trees(), st.data())
def test_the_proofs_of_many_leaves_are_each_leafs_proof_from_one_read(
    hashes: list[bytes], data: st.DataObject
) -> None:
    store = build_store(hashes)
    size = data.draw(st.integers(1, len(hashes)), label="size")
    indexes = data.draw(st.lists(st.integers(0, size - 1), max_size=12), label="indexes")
    proofs = inclusion_proofs(reader(store, size), indexes, size)
    assert proofs == [inclusion_proof(reader(store, size), i, size) for i in indexes]
    nodes = CountingReader()
    inclusion_proofs(nodes, indexes, BIG)
    assert nodes.calls == (1 if indexes else 0)
    with pytest.raises(ValueError, match="not in a tree"):
        inclusion_proofs(reader(store, size), [*indexes, size], size)

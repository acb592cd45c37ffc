"""The witness's decisions, without HTTP or SQL: a log shows it checkpoints of a growing tree
(built here leaf by leaf, every complete subtree kept in a dict) and it cosigns those that
extend what it last cosigned, and refuses the rest with the protocol's reason.

`History`, `checkpoint` and `body` are used by the end-to-end tests too.
"""

from __future__ import annotations

import base64
from collections.abc import Sequence

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ledger.tlog import merkle
from ledger.tlog.note import (
    COSIGNATURE_ED25519,
    NOTE_ED25519,
    AddCheckpoint,
    Checkpoint,
    Signature,
    Signer,
    cosignatures,
    parse_note,
    sign_note,
    verify_cosignature,
    verify_note,
)
from ledger.tlog.witness import (
    Cosigned,
    Cosigning,
    Inconsistent,
    Malformed,
    Refused,
    UnknownLog,
    Untrusted,
    Witness,
    WrongOldSize,
    origin_hash,
)

ORIGIN = "log.example/custody"
NOW = 1_767_225_600  # 2026-01-01T00:00:00Z


class History:
    """A log's entries as a tree that keeps every complete subtree (a dict node store)."""

    def __init__(self, tag: str, size: int = 0) -> None:
        self.tag = tag
        self.frontier = merkle.Frontier()
        self.store: dict[tuple[int, int], bytes] = {}
        self.grow(size)

    def grow(self, to: int) -> History:
        while self.frontier.size < to:
            entry = f"{self.tag} entry {self.frontier.size}".encode()
            for level, index, h in self.frontier.append(merkle.leaf_hash(entry)):
                self.store[(level, index)] = h
        return self

    def nodes(self, pairs: Sequence[tuple[int, int]]) -> list[bytes]:
        return [self.store[pair] for pair in pairs]

    def root(self, size: int) -> bytes:
        return merkle.root_at(self.nodes, size)

    def proof(self, old: int, size: int) -> list[bytes]:
        return merkle.consistency_proof(self.nodes, old, size) if 0 < old < size else []


def checkpoint(log: Signer, history: History, size: int, *also: Signer) -> str:
    """The signed note of `history`'s checkpoint at `size`, signed by `log` (and `also`)."""
    text = Checkpoint(log.name, size, history.root(size)).text()
    note = sign_note(text, log)
    extra = [sign_note(text, other).signatures[0] for other in also]
    return text + "\n" + "".join(s.line() for s in (*note.signatures, *extra))


def body(old: int, note: str, proof: Sequence[bytes] = ()) -> bytes:
    """An add-checkpoint request body."""
    return str(AddCheckpoint(old, tuple(proof), note)).encode()


def grown(history: History, log: Signer, old: int, size: int) -> bytes:
    """The body a log sends to move the witness from `old` to `size` of `history`."""
    return body(old, checkpoint(log, history.grow(size), size), history.proof(old, size))


@pytest.fixture
def log() -> Signer:
    return Signer.generate(ORIGIN)


@pytest.fixture
def witness(log: Signer) -> Witness:
    return Witness(Signer.generate("witness.example/w1", COSIGNATURE_ED25519), [log.verifier()])


def submit(witness: Witness, request: bytes, last: Cosigned | None, now: int = NOW) -> Cosigning:
    return witness.decide(witness.open(request), last, now)


def the_cosignature(lines: str) -> Signature:
    (signature,) = parse_note("x\n\n" + lines).signatures
    return signature


# -- cosigning -----------------------------------------------------------------------------


def test_a_witness_that_never_saw_the_log_cosigns_its_first_checkpoint_from_old_size_0(
    witness: Witness, log: Signer
) -> None:
    a = History("a", 5)
    note = checkpoint(log, a, 5)
    cosigning = submit(witness, body(0, note), None)

    text = parse_note(note).text
    signature = the_cosignature(cosigning.lines)
    assert cosigning.lines == signature.line()
    assert verify_cosignature(witness.verifier, text, signature) == NOW
    assert cosigning.old_size == 0
    assert cosigning.new == Cosigned(ORIGIN, 5, a.root(5), note + signature.line())
    # What monitors are shown: the log's line and the witness's, both valid.
    shown = parse_note(cosigning.new.note)
    assert verify_note(shown, [log.verifier()]) == [log.verifier()]
    assert cosignatures(shown, [witness.verifier]) == [(witness.verifier, NOW)]


@pytest.mark.parametrize(
    ("old", "size"), [(1, 2), (3, 8), (5, 7), (8, 9), (5, 13), (16, 17), (1, 1000), (777, 1024)]
)
def test_a_growing_log_is_cosigned_with_a_real_consistency_proof(
    witness: Witness, log: Signer, old: int, size: int
) -> None:
    a = History("a", old)
    first = submit(witness, body(0, checkpoint(log, a, old)), None).new
    cosigning = submit(witness, grown(a, log, old, size), first, NOW + 1)
    assert (cosigning.old_size, cosigning.new.size, cosigning.new.root) == (old, size, a.root(size))
    text = Checkpoint(ORIGIN, size, a.root(size)).text()
    assert verify_cosignature(witness.verifier, text, the_cosignature(cosigning.lines)) == NOW + 1


def test_the_same_checkpoint_again_is_cosigned_again_with_the_new_time(
    witness: Witness, log: Signer
) -> None:
    a = History("a", 5)
    note = checkpoint(log, a, 5)
    first = submit(witness, body(0, note), None).new
    again = submit(witness, body(5, note), first, NOW + 60)
    assert (again.old_size, again.new.size, again.new.root) == (5, 5, first.root)
    assert verify_cosignature(witness.verifier, parse_note(note).text, the_cosignature(again.lines))
    assert the_cosignature(again.lines).signature[:8] == (NOW + 60).to_bytes(8, "big")


def test_an_empty_log_is_cosigned_at_size_0_and_then_grows_from_0_without_proof(
    witness: Witness, log: Signer
) -> None:
    empty = submit(witness, body(0, checkpoint(log, History("a"), 0)), None).new
    assert (empty.size, empty.root) == (0, merkle.EMPTY_ROOT)
    assert submit(witness, body(0, checkpoint(log, History("a", 3), 3)), empty).new.size == 3


def test_the_shown_note_keeps_the_logs_line_and_drops_lines_of_keys_the_witness_does_not_know(
    witness: Witness, log: Signer
) -> None:
    stranger = Signer.generate("other.example/witness")
    note = checkpoint(log, History("a", 2), 2, stranger)
    shown = parse_note(submit(witness, body(0, note), None).new.note)
    assert [s.name for s in shown.signatures] == [ORIGIN, "witness.example/w1"]


def test_a_log_with_two_keys_is_cosigned_when_either_signs(log: Signer) -> None:
    rotated = Signer.generate(ORIGIN)
    witness = Witness(
        Signer.generate("w", COSIGNATURE_ED25519), [log.verifier(), rotated.verifier()]
    )
    a = History("a", 4)
    assert submit(witness, body(0, checkpoint(rotated, a, 4)), None).new.size == 4
    both = parse_note(submit(witness, body(0, checkpoint(log, a, 4, rotated)), None).new.note)
    assert [s.key_id for s in both.signatures[:2]] == [
        log.verifier().key_id,
        rotated.verifier().key_id,
    ]


# -- the split view ------------------------------------------------------------------------


def test_a_log_that_shows_the_witness_two_histories_is_caught(
    witness: Witness, log: Signer
) -> None:
    """After cosigning size 5 of history A, a checkpoint of size 7 of history B (same origin,
    same key, with B's own valid proof from 5 to 7) is refused, and A's 7 is still cosigned."""
    a, b = History("a", 5), History("b", 7)
    at_5 = submit(witness, body(0, checkpoint(log, a, 5)), None).new
    with pytest.raises(Inconsistent, match="does not give root1"):
        submit(witness, body(5, checkpoint(log, b, 7), b.proof(5, 7)), at_5)
    # B's checkpoint with A's proof does not pass either.
    with pytest.raises(Inconsistent, match="does not give root2"):
        submit(witness, body(5, checkpoint(log, b, 7), a.grow(7).proof(5, 7)), at_5)
    assert submit(witness, body(5, checkpoint(log, a, 7), a.proof(5, 7)), at_5).new.size == 7


def test_a_second_checkpoint_of_the_same_size_with_another_root_is_refused(
    witness: Witness, log: Signer
) -> None:
    at_5 = submit(witness, body(0, checkpoint(log, History("a", 5), 5)), None).new
    with pytest.raises(Inconsistent, match=r"sizes are equal \(5\) but the roots differ"):
        submit(witness, body(5, checkpoint(log, History("b", 5), 5)), at_5)


# -- refusals ------------------------------------------------------------------------------


def test_an_old_size_that_is_not_the_size_last_cosigned_is_told_that_size(
    witness: Witness, log: Signer
) -> None:
    a = History("a", 9)
    with pytest.raises(WrongOldSize) as never:
        submit(witness, grown(a, log, 5, 9), None)
    assert never.value.size == 0
    at_5 = submit(witness, body(0, checkpoint(log, a, 5)), None).new
    for old in (0, 3, 6):
        with pytest.raises(WrongOldSize) as held:
            submit(witness, body(old, checkpoint(log, a, 9), a.proof(old, 9)), at_5)
        assert held.value.size == 5
    assert submit(witness, grown(a, log, 5, 9), at_5).new.size == 9


def test_a_proof_that_does_not_verify_is_refused(witness: Witness, log: Signer) -> None:
    a = History("a", 6)
    at_6 = submit(witness, body(0, checkpoint(log, a, 6)), None).new
    note = checkpoint(log, a.grow(11), 11)
    proof = a.proof(6, 11)
    flipped = [bytes([proof[0][0] ^ 1]) + proof[0][1:], *proof[1:]]
    for bad in (flipped, proof[:-1], [*proof, proof[0]], proof[::-1]):
        with pytest.raises(Inconsistent):
            submit(witness, body(6, note, bad), at_6)
    with pytest.raises(Inconsistent, match="sizes are equal"):
        submit(witness, body(6, checkpoint(log, a, 6), proof[:1]), at_6)


def test_a_proof_from_old_size_0_is_refused_since_the_empty_tree_needs_none(
    witness: Witness, log: Signer
) -> None:
    a = History("a", 4)
    with pytest.raises(Inconsistent, match="old size is 0 but the proof has 1 lines"):
        submit(witness, body(0, checkpoint(log, a, 4), [a.root(2)]), None)


def test_a_checkpoint_of_size_0_must_have_the_empty_trees_root(
    witness: Witness, log: Signer
) -> None:
    text = Checkpoint(ORIGIN, 0, merkle.leaf_hash(b"not empty")).text()
    with pytest.raises(Inconsistent, match="size 0 must have the empty tree's root"):
        submit(witness, body(0, str(sign_note(text, log))), None)


def test_a_checkpoint_signed_by_another_key_of_the_same_name_is_forbidden(
    witness: Witness,
) -> None:
    impostor = Signer.generate(ORIGIN)
    with pytest.raises(Untrusted, match="no valid signature by a known key"):
        witness.open(body(0, checkpoint(impostor, History("a", 3), 3)))


def test_a_line_of_the_logs_key_that_fails_is_forbidden_even_beside_a_good_one(
    witness: Witness, log: Signer
) -> None:
    note = checkpoint(log, History("a", 3), 3)
    text, line = note.split("\n\n")
    raw = base64.b64decode(line.split(" ")[2])
    forged = f"\u2014 {ORIGIN} {base64.b64encode(raw[:-1] + bytes([raw[-1] ^ 1])).decode()}\n"
    with pytest.raises(Untrusted, match="does not verify"):
        witness.open(body(0, text + "\n\n" + forged))
    with pytest.raises(Untrusted, match="does not verify"):
        witness.open(body(0, note + forged))


def test_a_checkpoint_of_a_log_not_witnessed_here_is_unknown(witness: Witness) -> None:
    other = Signer.generate("other.example/log")
    with pytest.raises(UnknownLog, match=r"'other\.example/log'"):
        witness.open(body(0, checkpoint(other, History("a", 3), 3)))


def test_an_old_size_above_the_checkpoints_is_malformed(witness: Witness, log: Signer) -> None:
    with pytest.raises(Malformed, match="old size 4 is above the checkpoint's size 3"):
        witness.open(body(4, checkpoint(log, History("a", 3), 3)))


def _note() -> str:
    return checkpoint(Signer.generate(ORIGIN), History("a", 3), 3)


MALFORMED = {
    "not UTF-8": b"old 0\n\n\xff\n",
    "empty": b"",
    "no blank line": b"old 0\n",
    "no old line": b"\n\n" + _note().encode(),
    "negative old size": b"old -1\n\n" + _note().encode(),
    "leading zero": b"old 01\n\n" + _note().encode(),
    "old size above 2**64-1": b"old 18446744073709551616\n\n" + _note().encode(),
    "proof line not base64": b"old 0\nnot base64!\n\n" + _note().encode(),
    "proof line not 32 bytes": b"old 0\nAAAA\n\n" + _note().encode(),
    "64 proof lines": "old 1\n" + ("A" * 43 + "=\n") * 64 + "\n" + _note(),
    "no signature": b"old 0\n\n" + _note().split("\n\n")[0].encode() + b"\n\n",
    "not a checkpoint": b"old 0\n\nhello\n\n" + _note().encode().split(b"\n\n")[1],
    "CR LF": b"old 0\r\n\r\n" + _note().encode(),
}


@pytest.mark.parametrize("request_body", MALFORMED.values(), ids=MALFORMED.keys())
def test_a_body_that_is_not_an_add_checkpoint_request_is_malformed(
    witness: Witness, request_body: bytes | str
) -> None:
    raw = request_body.encode() if isinstance(request_body, str) else request_body
    with pytest.raises(Malformed):
        witness.open(raw)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=600))
def test_any_bytes_are_refused_with_a_reason_and_nothing_else(raw: bytes) -> None:
    log = Signer.generate(ORIGIN)
    witness = Witness(Signer.generate("w", COSIGNATURE_ED25519), [log.verifier()])
    with pytest.raises(Refused):
        witness.open(raw)


@settings(max_examples=300, deadline=None)
@given(st.data())
def test_a_valid_body_cut_or_with_a_byte_changed_is_refused_or_cosigned_never_crashes(
    data: st.DataObject,
) -> None:
    log = Signer.generate(ORIGIN)
    witness = Witness(Signer.generate("w", COSIGNATURE_ED25519), [log.verifier()])
    a = History("a", 6)
    at_3 = Cosigned(ORIGIN, 3, a.root(3), "unused")
    raw = bytearray(grown(a, log, 3, 6))
    at = data.draw(st.integers(0, len(raw) - 1))
    if data.draw(st.booleans()):
        raw[at] = data.draw(st.integers(0, 255))
    else:
        del raw[at:]
    try:
        cosigning = submit(witness, bytes(raw), at_3)
    except Refused:
        return
    assert cosigning.new.size == 6  # only a change that does not matter (none, here) passes


# -- the witness itself --------------------------------------------------------------------


def test_a_witness_cosigns_with_a_cosignature_key_and_trusts_only_log_note_keys() -> None:
    log = Signer.generate(ORIGIN)
    with pytest.raises(ValueError, match="not a cosignature key"):
        Witness(Signer.generate("w", NOTE_ED25519), [log.verifier()])
    with pytest.raises(ValueError, match=r"not an Ed25519 note key \(type 0x01\)"):
        Witness(
            Signer.generate("w", COSIGNATURE_ED25519),
            [Signer.generate(ORIGIN, COSIGNATURE_ED25519).verifier()],
        )
    with pytest.raises(ValueError, match="at least one log key"):
        Witness(Signer.generate("w", COSIGNATURE_ED25519), [])
    twice = Witness(Signer.generate("w", COSIGNATURE_ED25519), [log.verifier(), log.verifier()])
    assert twice.logs == {ORIGIN: (log.verifier(),)}


def test_the_monitoring_name_of_an_origin_is_its_lowercase_hex_sha256() -> None:
    assert origin_hash("example.com/behind-the-sofa") == (
        "5fd2dc0beb4ce54da5050cf6d5c75248b023abad441c3cecde3976fbe9da4fe4"
    )

"""Signed notes, checkpoints, cosignatures, tlog-proof receipts and add-checkpoint bodies.

First the examples of the C2SP specifications (one of them verifiable), then round trips with
fresh keys, then the strict refusals, each with its reason, and fuzzing: a parser raises
nothing but NoteError, and whatever it accepts it writes back unchanged.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import given, settings
from hypothesis import strategies as st

from ledger.tlog.note import (
    COSIGNATURE_ED25519,
    NOTE_ED25519,
    AddCheckpoint,
    Checkpoint,
    Note,
    NoteError,
    Receipt,
    Signature,
    Signer,
    Verifier,
    add_signatures,
    cosign,
    cosignature_message,
    cosignatures,
    key_id,
    open_checkpoint,
    parse_note,
    sign_note,
    verify_cosignature,
    verify_note,
)

EXAMPLES_PATH = Path(__file__).resolve().parents[1] / "vectors" / "c2sp" / "examples.json"
EXAMPLES: list[dict[str, Any]] = json.loads(EXAMPLES_PATH.read_text(encoding="utf-8"))["examples"]
DASH = "\u2014 "  # every signature line starts with an EM DASH and a space
ROOT = hashlib.sha256(b"a root").digest()
# Characters a note line may hold: not a newline, no control character, no lone surrogate
# (which UTF-8 cannot encode).
LINE_CHARACTERS = st.characters(
    exclude_characters="\n", min_codepoint=0x20, exclude_categories=["Cs"]
)
EMPTY_ROOT = hashlib.sha256(b"").digest()
TS = 1_679_315_147  # the timestamp of the spec's cosignature example


def example(spec: str, what: str) -> dict[str, Any]:
    """The one example of `spec` whose description contains `what`."""
    (found,) = [e for e in EXAMPLES if e["spec"] == spec and what in e["what"]]
    return found


def b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


def fixed_signer(name: str, key_type: int = NOTE_ED25519, seed: int = 1) -> Signer:
    """A key from a fixed seed, made for these tests only."""
    return Signer(name, key_type, Ed25519PrivateKey.from_private_bytes(bytes([seed]) * 32))


def checkpoint_note(
    origin: str = "log.example/custody", size: int = 5, root: bytes = ROOT
) -> tuple[Signer, str, Note]:
    """A fresh log key, a checkpoint text and the note of it signed by that key."""
    log = Signer.generate(origin)
    text = Checkpoint(origin, size, root).text()
    return log, text, sign_note(text, log)


# The examples of the specifications.

FOO = example("signed-note.md", "verifier key + signed note")
SOFA = example("tlog-checkpoint.md", "example checkpoint")
COSIGNED = example("tlog-cosignature.md", "witness cosignature")
MESSAGE = example("tlog-cosignature.md", "signed message")
PROOF = example("tlog-proof.md", "tlog-proof@v1 example")
ADD = example("tlog-witness.md", "add-checkpoint request body")
ADD_RESPONSE = example("tlog-witness.md", "add-checkpoint 200 response")


def test_the_spec_key_verifies_the_spec_note_and_its_key_id_is_recomputed() -> None:
    verifier = Verifier.parse(FOO["vkey"])
    parts = FOO["vkey_parts"]
    assert verifier == Verifier(
        "example.com/foo", NOTE_ED25519, bytes.fromhex(parts["public_key_hex"])
    )
    assert verifier.key_id.hex() == parts["key_id_hex"] == "530d903a"
    assert key_id("example.com/foo", NOTE_ED25519, verifier.public_key) == bytes.fromhex("530d903a")
    assert str(verifier) == FOO["vkey"]

    note = parse_note(FOO["signed_note"])
    assert note.text == FOO["note_text"] == "This is an example message.\n"
    assert [(s.name, s.key_id.hex(), s.signature.hex()) for s in note.signatures] == [
        ("example.com/foo", "530d903a", FOO["signature_lines"][0]["signature_hex"])
    ]
    assert verify_note(note, [verifier]) == [verifier]
    assert str(note) == FOO["signed_note"]


def test_the_spec_note_with_one_byte_of_its_text_changed_does_not_verify() -> None:
    verifier = Verifier.parse(FOO["vkey"])
    forged = parse_note(FOO["signed_note"].replace("example message", "example massage"))
    with pytest.raises(
        NoteError, match=r"^signature by example\.com/foo\+530d903a does not verify$"
    ):
        verify_note(forged, [verifier])


SIGNED_NOTES = [e for e in EXAMPLES if "signed_note" in e]


@pytest.mark.parametrize("ex", SIGNED_NOTES, ids=[e["what"][:40] for e in SIGNED_NOTES])
def test_every_spec_note_parses_into_its_text_and_signature_lines(ex: dict[str, Any]) -> None:
    note = parse_note(ex["signed_note"])
    assert note.text == ex["note_text"]
    assert [(s.name, s.key_id.hex(), len(s.key_id + s.signature)) for s in note.signatures] == [
        (line["key_name"], line["key_id_hex"], line["decoded_len"])
        for line in ex["signature_lines"]
    ]
    assert [s.line() for s in note.signatures] == [
        line["line"] + "\n" for line in ex["signature_lines"]
    ]
    assert str(note) == ex["signed_note"]


def test_the_poem_keeps_its_own_blank_line_because_the_note_splits_at_the_last_one() -> None:
    poem = example("signed-note.md", "Quasimodo")
    assert parse_note(poem["signed_note"]).text.count("\n\n") == 1


CHECKPOINTS = [e for e in EXAMPLES if "checkpoint" in e]


@pytest.mark.parametrize("ex", CHECKPOINTS, ids=[e["what"][:40] for e in CHECKPOINTS])
def test_every_spec_checkpoint_body_parses_into_origin_size_and_root(ex: dict[str, Any]) -> None:
    fields = ex["checkpoint"]
    signed = ex.get("signed_note") or ex["checkpoint_text"]
    body = signed[: signed.rindex("\n\n") + 1]
    checkpoint = Checkpoint.parse(body)
    assert checkpoint == Checkpoint(
        fields["origin"],
        fields["tree_size"],
        bytes.fromhex(fields["root_hash_hex"]),
        tuple(fields["extension_lines"]),
    )
    assert checkpoint.text() == body
    # Where the spec cut its signatures with [...], the whole note is refused for exactly that.
    first = ex["signature_lines"][0]
    if first.get("elided_in_spec"):
        with pytest.raises(
            NoteError, match=rf"^signature by {first['key_name']} is not valid base64$"
        ):
            parse_note(signed)
    else:
        assert parse_note(signed).text == body


def test_the_witness_line_of_the_cosignature_example_carries_the_timestamp_of_the_signed_message() -> (
    None
):
    note = parse_note(COSIGNED["signed_note"])
    log_line, witness_line = note.signatures
    assert (log_line.name, len(log_line.signature)) == ("example.com/behind-the-sofa", 64)
    assert (witness_line.name, witness_line.key_id.hex()) == ("witness.example.com/w1", "8d66cf3f")
    assert len(witness_line.signature) == 8 + 64
    assert int.from_bytes(witness_line.signature[:8], "big") == TS == MESSAGE["timestamp"]
    message = cosignature_message(note.text, TS)
    assert message == MESSAGE["signed_message"].encode()
    assert message.startswith(b"cosignature/v1\ntime 1679315147\nexample.com/behind-the-sofa\n")


def test_a_witness_we_do_not_hold_the_key_of_is_skipped_in_the_cosignature_example() -> None:
    note = parse_note(COSIGNED["signed_note"])
    stranger = Signer.generate("witness.example.com/w1", COSIGNATURE_ED25519).verifier()
    assert cosignatures(note, [stranger]) == []
    with pytest.raises(NoteError, match="no valid signature by a known key"):
        verify_note(note, [stranger])


def test_the_add_checkpoint_example_body_parses_and_writes_back_unchanged() -> None:
    body = AddCheckpoint.parse(ADD["request_body"])
    assert body.old_size == 20852014 == ADD["old_size"]
    assert body.proof == tuple(base64.b64decode(h) for h in ADD["consistency_proof_b64"])
    assert body.checkpoint == ADD["checkpoint_text"]
    assert Checkpoint.parse(parse_note(body.checkpoint).text).size == 20852163
    # Two signatures under one key name with different key ids: both kept.
    ids = [s.key_id.hex() for s in parse_note(body.checkpoint).signatures]
    assert ids == ["033de0ae", "a292ea05"]
    assert str(body) == ADD["request_body"]


def test_the_add_checkpoint_response_lines_join_the_checkpoint_as_cosignature_lines() -> None:
    note = parse_note(SOFA["signed_note"] + ADD_RESPONSE["response_body"])
    lines = note.signatures[1:]
    assert [(s.name, s.key_id.hex(), len(s.signature)) for s in lines] == [
        (line["key_name"], line["key_id_hex"], line["decoded_len"] - 4)
        for line in ADD_RESPONSE["signature_lines"]
    ]
    # The spec's filler bytes read as timestamps, two of them beyond 2**63-1.
    assert [int.from_bytes(s.signature[:8], "big") for s in lines] == [
        line["timestamp"] for line in ADD_RESPONSE["signature_lines"]
    ]


def test_the_tlog_proof_example_is_refused_for_its_cut_signatures_and_parses_once_signed() -> None:
    with pytest.raises(
        NoteError,
        match=r"^tlog-proof checkpoint: signature by example\.com/fancylog is not valid base64$",
    ):
        Receipt.parse(PROOF["proof_text"])

    head = PROOF["proof_text"][: PROOF["proof_text"].index("\n\n") + 2]
    body = PROOF["checkpoint_text"][: PROOF["checkpoint_text"].index("\n\n") + 1]
    signed = str(sign_note(body, Signer.generate("example.com/fancylog")))
    receipt = Receipt.parse(head + signed)
    assert receipt.index == 73894
    assert receipt.extra == bytes.fromhex(PROOF["extra_decoded_hex"])
    assert receipt.extra.startswith(b"age-v1.2.1-darwin-arm64.tar.gz")
    assert receipt.hashes == tuple(base64.b64decode(h) for h in PROOF["inclusion_proof_b64"])
    assert receipt.checkpoint == signed
    assert str(receipt) == head + signed


# Round trips with fresh keys.


def test_a_note_signed_by_two_keys_verifies_under_each_and_both() -> None:
    alice, bob = Signer.generate("alice.example/k"), Signer.generate("bob.example/k")
    text = "two signatures\n\nand an empty line inside\n"
    note = add_signatures(sign_note(text, alice), sign_note(text, bob).signatures[0])
    reread = parse_note(str(note))
    assert reread == note
    assert verify_note(reread, [alice.verifier()]) == [alice.verifier()]
    assert verify_note(reread, [bob.verifier(), alice.verifier()]) == [
        bob.verifier(),
        alice.verifier(),
    ]
    # Adding a line already there changes nothing.
    assert add_signatures(note, *note.signatures) == note


def test_a_checkpoint_with_extension_lines_round_trips() -> None:
    checkpoint = Checkpoint("log.example/custody", 0, EMPTY_ROOT, ("ext one", "ext two"))
    text = checkpoint.text()
    assert text == f"log.example/custody\n0\n{b64(EMPTY_ROOT)}\next one\next two\n"
    assert Checkpoint.parse(text) == checkpoint


@settings(max_examples=100, deadline=None)
@given(
    origin=st.text(
        LINE_CHARACTERS,
        min_size=1,
    ),
    size=st.integers(0, 2**64 - 1),
    root=st.binary(min_size=32, max_size=32),
    extensions=st.lists(
        st.text(
            LINE_CHARACTERS,
            min_size=1,
        )
    ),
)
def test_any_checkpoint_round_trips(
    origin: str, size: int, root: bytes, extensions: list[str]
) -> None:
    checkpoint = Checkpoint(origin, size, root, tuple(extensions))
    assert Checkpoint.parse(checkpoint.text()) == checkpoint


def test_a_signed_checkpoint_opens_with_its_log_key() -> None:
    log, _, note = checkpoint_note(size=42)
    checkpoint, opened = open_checkpoint(str(note), log.verifier())
    assert checkpoint == Checkpoint("log.example/custody", 42, ROOT)
    assert opened == note


def test_a_cosignature_verifies_and_gives_back_its_timestamp_in_and_out_of_the_note() -> None:
    log, text, note = checkpoint_note()
    witness = Signer.generate("witness.example/w1", COSIGNATURE_ED25519)
    cosignature = cosign(witness, text, TS)
    assert cosignature.key_id == witness.verifier().key_id
    assert cosignature.signature[:8] == TS.to_bytes(8, "big")
    assert len(cosignature.signature) == 72
    assert verify_cosignature(witness.verifier(), text, cosignature) == TS

    cosigned = parse_note(str(add_signatures(note, cosignature)))
    assert cosignatures(cosigned, [witness.verifier()]) == [(witness.verifier(), TS)]
    both = [log.verifier(), witness.verifier()]
    assert verify_note(cosigned, both) == both
    assert open_checkpoint(str(cosigned), log.verifier())[1] == cosigned


def test_a_receipt_round_trips_with_and_without_extra_data() -> None:
    _, _, note = checkpoint_note(size=8)
    hashes = tuple(hashlib.sha256(bytes([i])).digest() for i in range(3))
    for extra in (None, b"", b"\x00artifact"):
        receipt = Receipt(5, hashes, str(note), extra)
        text = str(receipt)
        assert text.startswith("c2sp.org/tlog-proof@v1\n")
        assert text.endswith(f"\n\n{note}")
        assert Receipt.parse(text) == receipt
    assert str(Receipt(0, (), str(note))) == f"c2sp.org/tlog-proof@v1\nindex 0\n\n{note}"


def test_an_add_checkpoint_body_round_trips_with_no_proof_and_with_63_lines() -> None:
    _, _, note = checkpoint_note(size=100)
    for proof in ((), tuple(hashlib.sha256(bytes([i])).digest() for i in range(63))):
        body = AddCheckpoint(0 if not proof else 99, proof, str(note))
        assert AddCheckpoint.parse(str(body)) == body
    assert str(AddCheckpoint(0, (), str(note))) == f"old 0\n\n{note}"


@pytest.mark.parametrize("key_type", [NOTE_ED25519, COSIGNATURE_ED25519])
def test_a_signer_and_its_verifier_round_trip_through_their_key_strings(key_type: int) -> None:
    signer = Signer.generate("log.example/custody", key_type)
    reread = Signer.parse(str(signer))
    assert str(reread) == str(signer)
    assert reread.verifier() == signer.verifier()
    assert signer.verifier().verify(b"message", reread.sign(b"message"))
    assert Verifier.parse(str(signer.verifier())) == signer.verifier()


def test_a_private_key_in_gos_format_reads_and_writes_the_same_string() -> None:
    seed = bytes(range(32))
    public = Ed25519PrivateKey.from_private_bytes(seed).public_key().public_bytes_raw()
    kid = hashlib.sha256(b"example.com/log\n\x01" + public).digest()[:4].hex()
    skey = "PRIVATE+KEY+example.com/log+" + kid + "+" + b64(b"\x01" + seed)
    signer = Signer.parse(skey)
    assert str(signer) == skey
    assert str(signer.verifier()) == "example.com/log+" + kid + "+" + b64(b"\x01" + public)


# Strictness: each refusal with its reason.


def test_a_key_with_another_name_or_another_id_is_skipped_so_no_signature_is_valid() -> None:
    log, _, note = checkpoint_note()
    renamed = Verifier("other.example/custody", NOTE_ED25519, log.verifier().public_key)
    other_key = Signer.generate(log.name).verifier()  # same name, different key id
    for verifier in (renamed, other_key):
        with pytest.raises(NoteError, match=r"^note has no valid signature by a known key"):
            verify_note(note, [verifier])
    assert verify_note(note, [renamed, other_key, log.verifier()]) == [log.verifier()]


def test_a_line_by_a_known_key_that_fails_rejects_the_whole_note() -> None:
    log, text, note = checkpoint_note()
    stolen = sign_note("another text\n", log).signatures[0]
    forged = Note(text, (note.signatures[0], stolen))
    label = re.escape(f"{log.name}+{log.verifier().key_id.hex()}")
    with pytest.raises(NoteError, match=rf"^signature by {label} does not verify$"):
        verify_note(forged, [log.verifier()])


def test_a_cosignature_by_a_known_witness_that_fails_rejects_the_note() -> None:
    log, _, note = checkpoint_note()
    witness = Signer.generate("witness.example/w1", COSIGNATURE_ED25519)
    other_text = Checkpoint("log.example/custody", 6, ROOT).text()
    wrong = add_signatures(note, cosign(witness, other_text, TS))
    with pytest.raises(
        NoteError, match=r"^cosignature by witness\.example/w1\+[0-9a-f]{8} does not verify$"
    ):
        cosignatures(wrong, [witness.verifier()])
    with pytest.raises(NoteError, match="does not verify"):
        verify_note(wrong, [log.verifier(), witness.verifier()])


@pytest.mark.parametrize(
    ("note", "reason"),
    [
        ("text\x01\n\n" + DASH + "k AAAAAAA=\n", "^note contains the control character U\\+0001$"),
        ("text\r\n\n" + DASH + "k AAAAAAA=\n", "^note contains the control character U\\+000D$"),
        ("text\ud800\n\n" + DASH + "k AAAAAAA=\n", "^note is not valid UTF-8$"),
        ("text\n" + DASH + "k AAAAAAA=\n", "^note has no blank line before its signatures$"),
        ("text\n\n", "^note has no signature lines$"),
        ("text\n\n" + DASH + "k AAAAAAA=", "^note does not end with a newline$"),
        ("text\n\n- k AAAAAAA=\n", "^signature line 1 does not start with an em dash"),
        ("text\n\n" + DASH + "kAAAAAAA=\n", "^signature line 1 has no space"),
        ("text\n\n" + DASH + " AAAAAAA=\n", "^key name is empty$"),
        ("text\n\n" + DASH + "a+b AAAAAAA=\n", "contains a space or a plus sign$"),
        ("text\n\n" + DASH + "a\u00a0b AAAAAAA=\n", "contains a space or a plus sign$"),
        (
            "text\n\n" + DASH + "k AAAAAA==\n",
            "^signature by k is 4 bytes, not a key id and a signature$",
        ),
        ("text\n\n" + DASH + "k AAAAAAA\n", "^signature by k is not valid base64$"),
        ("text\n\n" + DASH + "k AAAAAAB=\n", "^signature by k is not canonical base64$"),
        ("text\n\n" + (DASH + "k AAAAAAA=\n") * 101, "^note has more than 100 signature lines$"),
    ],
)
def test_a_malformed_note_is_refused_with_its_reason(note: str, reason: str) -> None:
    with pytest.raises(NoteError, match=reason):
        parse_note(note)


def test_a_note_text_must_end_in_a_newline_and_a_cosignature_key_does_not_sign_notes() -> None:
    with pytest.raises(NoteError, match=r"^note text does not end with a newline$"):
        sign_note("no newline", Signer.generate("log.example/k"))
    with pytest.raises(NoteError, match="is a cosignature key"):
        sign_note("text\n", Signer.generate("w.example/k", COSIGNATURE_ED25519))
    with pytest.raises(NoteError, match=r"is not a cosignature key \(type 0x04\)$"):
        cosign(Signer.generate("log.example/k"), Checkpoint("o", 1, ROOT).text(), TS)


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        (f"log\n07\n{b64(ROOT)}\n", "^checkpoint size '07' has a leading zero$"),
        (f"log\n-7\n{b64(ROOT)}\n", "^checkpoint size '-7' is negative$"),
        (f"log\n+7\n{b64(ROOT)}\n", "^checkpoint size '\\+7' is not a decimal number$"),
        (f"log\n\u0667\n{b64(ROOT)}\n", "is not a decimal number$"),  # an Arabic-Indic seven
        (f"log\n{2**64}\n{b64(ROOT)}\n", "is above 2\\*\\*64-1$"),
        (f"log\n{'9' * 5000}\n{b64(ROOT)}\n", "is above 2\\*\\*64-1$"),
        (f"log\n7\n{b64(ROOT[:31])}\n", "^checkpoint root is 31 bytes, not 32$"),
        (f"log\n7\n{b64(ROOT)[:-1]}\n", "^checkpoint root is not valid base64$"),
        (f"\n7\n{b64(ROOT)}\n", "^checkpoint origin is empty$"),
        (f"log\n7\n{b64(ROOT)}\n\n", "^checkpoint extension line 1 is empty$"),
        (f"log\n7\n{b64(ROOT)}", "^checkpoint does not end with a newline$"),
        ("log\n7\n", "^checkpoint has fewer than 3 lines"),
    ],
)
def test_a_malformed_checkpoint_is_refused_with_its_reason(text: str, reason: str) -> None:
    with pytest.raises(NoteError, match=reason):
        Checkpoint.parse(text)


def test_a_checkpoint_whose_origin_is_not_the_log_key_name_does_not_open() -> None:
    log = Signer.generate("log.example/custody")
    note = sign_note(Checkpoint("log.example/elsewhere", 1, ROOT).text(), log)
    with pytest.raises(
        NoteError,
        match=r"^checkpoint origin 'log\.example/elsewhere' is not the log key name 'log\.example/custody'$",
    ):
        open_checkpoint(str(note), log.verifier())


@pytest.mark.parametrize(
    ("timestamp", "reason"),
    [(0, "has timestamp 0$"), (2**63, "has timestamp 9223372036854775808, above")],
)
def test_a_cosignature_with_timestamp_zero_or_beyond_2_63_is_refused(
    timestamp: int, reason: str
) -> None:
    _, text, _ = checkpoint_note()
    witness = Signer.generate("witness.example/w1", COSIGNATURE_ED25519)
    raw = witness.sign(f"cosignature/v1\ntime {timestamp}\n{text}".encode())
    line = Signature(witness.name, witness.verifier().key_id, timestamp.to_bytes(8, "big") + raw)
    with pytest.raises(NoteError, match=reason):
        verify_cosignature(witness.verifier(), text, line)
    with pytest.raises(NoteError, match="is not between 1 and 2"):
        cosign(witness, text, timestamp)


@pytest.mark.parametrize(
    ("vkey", "reason"),
    [
        (FOO["vkey"].replace("530d903a", "530d903b"), "id 530d903b does not match the key$"),
        (FOO["vkey"].replace("530d903a", "530D903A"), "is not 8 lowercase hex digits$"),
        ("example.com/foo+530d903a", "is not <name>\\+<id>\\+<key>$"),
        ("example.com/foo+530d903a+" + b64(b"\x02" + bytes(32)), "type 0x02 is not 0x01"),
        ("example.com/foo+530d903a+" + b64(b"\x01" + bytes(31)), "public key is 31 bytes, not 32$"),
        ("example com+530d903a+" + b64(b"\x01" + bytes(32)), "contains a space or a plus sign$"),
    ],
)
def test_a_malformed_verifier_key_is_refused_with_its_reason(vkey: str, reason: str) -> None:
    with pytest.raises(NoteError, match=reason):
        Verifier.parse(vkey)


def test_a_private_key_with_a_wrong_id_or_prefix_is_refused_without_quoting_the_key() -> None:
    skey = str(Signer.generate("log.example/k"))
    key64 = skey.split("+", 4)[4]  # PRIVATE, KEY, name, id, then the key (which may hold a +)
    wrong_id = "PRIVATE+KEY+log.example/k+00000000+" + key64
    for bad, reason in (
        (wrong_id, "id 00000000 does not match the key$"),
        (skey[8:], "PRIVATE\\+KEY\\+"),
    ):
        with pytest.raises(NoteError, match=reason) as refused:
            Signer.parse(bad)
        assert key64 not in str(refused.value)


def test_malformed_receipts_and_add_checkpoint_bodies_are_refused_with_their_reasons() -> None:
    _, _, note = checkpoint_note()
    head = "c2sp.org/tlog-proof@v1\nindex 3\n"
    cases: list[tuple[Callable[[str], object], str, str]] = [
        (
            Receipt.parse,
            f"{head}{b64(ROOT[:31])}\n\n{note}",
            "^tlog-proof hash 1 is 31 bytes, not 32$",
        ),
        (Receipt.parse, f"{head}{b64(ROOT)}\n{note}", "^tlog-proof hash 2 is not valid base64$"),
        (Receipt.parse, f"c2sp.org/tlog-proof@v2\nindex 3\n\n{note}", "does not start with c2sp"),
        (
            Receipt.parse,
            f"c2sp.org/tlog-proof@v1\nindex 03\n\n{note}",
            "index '03' has a leading zero$",
        ),
        (Receipt.parse, f"c2sp.org/tlog-proof@v1\nextra AA==\n\n{note}", "has no `index <n>` line"),
        (Receipt.parse, f"{head}{b64(ROOT)}\n", "has no blank line before the checkpoint$"),
        (
            AddCheckpoint.parse,
            "old 1\n" + f"{b64(ROOT)}\n" * 64 + f"\n{note}",
            "64 proof lines, above 63$",
        ),
        (AddCheckpoint.parse, f"old -1\n\n{note}", "old size '-1' is negative$"),
        (AddCheckpoint.parse, f"new 1\n\n{note}", "does not start with `old <size>`$"),
        (
            AddCheckpoint.parse,
            f"old 1\n{b64(ROOT)}\n\ntext\n\n{DASH}k AAAAAAA=\n",
            "^add-checkpoint checkpoint: checkpoint has fewer",
        ),
    ]
    for parse, text, reason in cases:
        with pytest.raises(NoteError, match=reason):
            parse(text)


# Fuzzing: arbitrary and mangled text raises NoteError and nothing else.

_LOG = fixed_signer("log.example/custody")
_WITNESS = fixed_signer("witness.example/w1", COSIGNATURE_ED25519, seed=2)
_TEXT = Checkpoint("log.example/custody", 9, ROOT, ("ext",)).text()
_NOTE = add_signatures(sign_note(_TEXT, _LOG), cosign(_WITNESS, _TEXT, TS))
CORPUS = [
    str(_NOTE),
    _TEXT,
    str(Receipt(3, (ROOT, EMPTY_ROOT), str(_NOTE), b"extra")),
    str(AddCheckpoint(4, (ROOT,), str(_NOTE))),
    str(_LOG),
    str(_WITNESS.verifier()),
    *(e["signed_note"] for e in SIGNED_NOTES),
    PROOF["proof_text"],
    ADD["request_body"],
]
FRAGMENTS = [
    "\n",
    "\n\n",
    DASH,
    " ",
    "+",
    "-",
    "0",
    "00",
    "=",
    "==",
    "[...]",
    "\x00",
    "\ud800",
    "é",
    "\u3000",
]


def _mangle(text: str, edits: list[tuple[int, str, int]]) -> str:
    for at, insert, cut in edits:
        at %= len(text) + 1
        text = text[:at] + insert + text[at + cut :]
    return text


def documents() -> st.SearchStrategy[str]:
    """Random text, random fragments of the formats, and valid documents with a few edits."""
    fragment = st.sampled_from(
        FRAGMENTS + CORPUS[:1] + ["c2sp.org/tlog-proof@v1\n", "index ", "old "]
    )
    edits = st.lists(
        st.tuples(st.integers(0, 5000), st.sampled_from(["", *FRAGMENTS]), st.integers(0, 3)),
        max_size=4,
    )
    return st.one_of(
        st.text(st.characters(exclude_categories=())),
        st.lists(fragment | st.text(max_size=4), max_size=20).map("".join),
        st.builds(_mangle, st.sampled_from(CORPUS), edits),
    )


PARSERS: dict[str, tuple[Callable[[str], Any], Callable[[Any], str]]] = {
    "parse_note": (parse_note, str),
    "Checkpoint.parse": (Checkpoint.parse, Checkpoint.text),
    "Receipt.parse": (Receipt.parse, str),
    "AddCheckpoint.parse": (AddCheckpoint.parse, str),
    "Verifier.parse": (Verifier.parse, str),
    "Signer.parse": (Signer.parse, str),
}


@pytest.mark.parametrize("name", PARSERS)
@settings(max_examples=300, deadline=None)
@given(text=documents())
def test_a_parser_raises_only_note_error_and_writes_back_exactly_what_it_accepts(
    name: str, text: str
) -> None:
    parse, render = PARSERS[name]
    try:
        parsed = parse(text)
    except NoteError:
        return
    assert render(parsed) == text


def test_a_witness_cosignature_key_is_not_accepted_as_the_log_key() -> None:
    witness = Signer.generate("log.example/a", COSIGNATURE_ED25519)
    note = str(
        sign_note(
            Checkpoint("log.example/a", 1, bytes(32)).text(), Signer.generate("log.example/a")
        )
    )
    with pytest.raises(NoteError, match=r"is not a log's note key \(type 0x01\)"):
        open_checkpoint(note, witness.verifier())

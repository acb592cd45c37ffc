"""C2SP signed notes and what is built on them: checkpoints, cosignatures, proofs, witness requests.

Text in, text out, no I/O. The formats are c2sp.org/signed-note, tlog-checkpoint, the Ed25519
cosignature/v1 of tlog-cosignature, tlog-proof@v1 and the tlog-witness add-checkpoint body.
Parsers are strict: anything malformed raises `NoteError` with the reason, and whatever the
constructors accept serialises to text that the parsers read back unchanged.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
from collections.abc import Sequence
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    NoEncryption,
    PrivateFormat,
    PublicFormat,
)


class NoteError(ValueError):
    """A note, key or checkpoint that is malformed or does not verify; the message says why."""


NOTE_ED25519 = 0x01  # an Ed25519 signature over the note text
COSIGNATURE_ED25519 = 0x04  # a timestamped Ed25519 cosignature/v1 over a checkpoint
KEY_TYPES = (NOTE_ED25519, COSIGNATURE_ED25519)

MAX_SIGNATURES = 100  # Go's note.Open stops here; the spec asks to accept at least 16
MAX_PROOF_LINES = 63  # tlog-witness: a client must not send more consistency proof lines
MAX_SIZE = 2**64 - 1  # tree sizes and indexes are uint64 in RFC 6962
MAX_TIMESTAMP = 2**63 - 1  # tlog-cosignature: a timestamp must not exceed this
PROOF_HEADER = "c2sp.org/tlog-proof@v1"
SIGNATURE_PREFIX = "\u2014 "  # EM DASH and a space start every signature line
PRIVATE_KEY_PREFIX = "PRIVATE+KEY+"  # Go's golang.org/x/mod/sumdb/note signer key encoding
COSIGNATURE_HEADER = "cosignature/v1\n"

# ASCII control characters other than newline, which no note may contain.
_CONTROL = re.compile(r"[\x00-\x09\x0b-\x1f]")
_DECIMAL = re.compile(r"0|[1-9][0-9]*")
_HEX_KEY_ID = re.compile(r"[0-9a-f]{8}")


def key_id(name: str, key_type: int, public_key: bytes) -> bytes:
    """SHA-256(name || "\\n" || type || key)[:4], the id every signature line starts with."""
    _check_name(name)
    if not 0 <= key_type <= 0xFF:
        raise NoteError(f"key type {key_type} is not a byte")
    return hashlib.sha256(name.encode() + b"\n" + bytes([key_type]) + public_key).digest()[:4]


@dataclass(frozen=True)
class Verifier:
    """A public key that checks note signatures (type 0x01) or cosignatures (type 0x04)."""

    name: str
    key_type: int
    public_key: bytes  # 32-byte raw Ed25519

    def __post_init__(self) -> None:
        _check_name(self.name)
        _check_key_type(self.key_type, self.name)
        if len(self.public_key) != 32:
            raise NoteError(f"key {self.name}: public key is {len(self.public_key)} bytes, not 32")

    @property
    def key_id(self) -> bytes:
        """The 4-byte key id computed from name, type and key."""
        return key_id(self.name, self.key_type, self.public_key)

    @classmethod
    def parse(cls, vkey: str) -> Verifier:
        """Read a vkey `<name>+<8 hex id>+<base64(type || key)>`; the id must match the key."""
        name, hex_id, key64 = _split_key(vkey, "verifier key")
        raw = _unb64(key64, f"verifier key {name}")
        if not raw:
            raise NoteError(f"verifier key {name} has no key material")
        verifier = cls(name, raw[0], raw[1:])
        if not hmac.compare_digest(bytes.fromhex(hex_id), verifier.key_id):
            raise NoteError(f"verifier key {name}: id {hex_id} does not match the key")
        return verifier

    def __str__(self) -> str:
        return f"{self.name}+{self.key_id.hex()}+{_b64(bytes([self.key_type]) + self.public_key)}"

    def verify(self, message: bytes, signature: bytes) -> bool:
        """Whether `signature` is a valid Ed25519 signature of `message` by this key."""
        if len(signature) != 64:
            return False
        try:
            Ed25519PublicKey.from_public_bytes(self.public_key).verify(signature, message)
        except (InvalidSignature, ValueError):
            return False
        return True


@dataclass(frozen=True)
class Signer:
    """A private key that signs notes (type 0x01) or cosigns checkpoints (type 0x04)."""

    name: str
    key_type: int
    private_key: Ed25519PrivateKey

    def __post_init__(self) -> None:
        _check_name(self.name)
        _check_key_type(self.key_type, self.name)

    @classmethod
    def generate(cls, name: str, key_type: int = NOTE_ED25519) -> Signer:
        """A fresh random key."""
        return cls(name, key_type, Ed25519PrivateKey.generate())

    @classmethod
    def parse(cls, skey: str) -> Signer:
        """Read Go's `PRIVATE+KEY+<name>+<8 hex id>+<base64(type || 32-byte seed)>`."""
        # Messages never quote the key material: they may end up in a log.
        if not skey.startswith(PRIVATE_KEY_PREFIX):
            raise NoteError("private key does not start with PRIVATE+KEY+")
        name, hex_id, key64 = _split_key(skey[len(PRIVATE_KEY_PREFIX) :], "private key")
        raw = _unb64(key64, f"private key {name}")
        if len(raw) != 33:
            raise NoteError(f"private key {name} is not a type byte and a 32-byte seed")
        signer = cls(name, raw[0], Ed25519PrivateKey.from_private_bytes(raw[1:]))
        # Go computes the id from the public key, as for the vkey.
        if not hmac.compare_digest(bytes.fromhex(hex_id), signer.verifier().key_id):
            raise NoteError(f"private key {name}: id {hex_id} does not match the key")
        return signer

    def __str__(self) -> str:
        seed = self.private_key.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption())
        key64 = _b64(bytes([self.key_type]) + seed)
        return f"{PRIVATE_KEY_PREFIX}{self.name}+{self.verifier().key_id.hex()}+{key64}"

    def verifier(self) -> Verifier:
        """The matching public key."""
        public = self.private_key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
        return Verifier(self.name, self.key_type, public)

    def sign(self, message: bytes) -> bytes:
        """The raw 64-byte Ed25519 signature of `message`."""
        return self.private_key.sign(message)


@dataclass(frozen=True)
class Signature:
    """One signature line: key name, 4-byte key id, and the bytes after the id."""

    name: str
    key_id: bytes
    signature: bytes  # 64 bytes for a note signature, 8 + 64 for a cosignature

    def __post_init__(self) -> None:
        _check_name(self.name)
        if len(self.key_id) != 4:
            raise NoteError(f"signature by {self.name}: key id is {len(self.key_id)} bytes, not 4")
        if not self.signature:
            raise NoteError(f"signature by {self.name} is empty")

    def line(self) -> str:
        """The line as it appears in a note: `— name base64(key_id || signature)` and a newline."""
        return f"{SIGNATURE_PREFIX}{self.name} {_b64(self.key_id + self.signature)}\n"


@dataclass(frozen=True)
class Note:
    """A text ending in a newline and its signatures."""

    text: str
    signatures: tuple[Signature, ...]

    def __post_init__(self) -> None:
        _check_note_text(self.text, "note text")
        if not 1 <= len(self.signatures) <= MAX_SIGNATURES:
            raise NoteError(
                f"a note has 1 to {MAX_SIGNATURES} signatures, not {len(self.signatures)}"
            )

    def __str__(self) -> str:
        return self.text + "\n" + "".join(s.line() for s in self.signatures)


def parse_note(note: str) -> Note:
    """Split a signed note at its last blank line into text and signature lines, strictly."""
    _check_text(note, "note")
    split = note.rfind("\n\n")
    if split < 0:
        raise NoteError("note has no blank line before its signatures")
    text, block = note[: split + 1], note[split + 2 :]
    if not block:
        raise NoteError("note has no signature lines")
    if not block.endswith("\n"):
        raise NoteError("note does not end with a newline")
    lines = block[:-1].split("\n")
    if len(lines) > MAX_SIGNATURES:
        raise NoteError(f"note has more than {MAX_SIGNATURES} signature lines")
    return Note(text, tuple(_parse_signature_line(line, n) for n, line in enumerate(lines, 1)))


def sign_note(text: str, signer: Signer) -> Note:
    """A note of `text` with one Ed25519 note signature (type 0x01)."""
    if signer.key_type != NOTE_ED25519:
        raise NoteError(
            f"key {signer.name} is a cosignature key; checkpoints are cosigned with cosign()"
        )
    _check_note_text(text, "note text")
    signature = Signature(signer.name, signer.verifier().key_id, signer.sign(text.encode()))
    return Note(text, (signature,))


def add_signatures(note: Note, *signatures: Signature) -> Note:
    """The note with more signature lines; a line already present is not repeated."""
    added = tuple(dict.fromkeys(s for s in signatures if s not in note.signatures))
    return Note(note.text, note.signatures + added)


def verify_note(note: Note, verifiers: Sequence[Verifier]) -> list[Verifier]:
    """The verifiers with a valid signature in the note, in the order given.

    A line counts only if both its name and key id match a verifier; other lines are skipped.
    A matching line that fails rejects the whole note, as does a note with no valid line.
    A cosignature key (type 0x04) checks its line as a cosignature of the note text.
    """
    _check_distinct(verifiers)
    valid: set[Verifier] = set()
    for signature in note.signatures:
        for verifier in verifiers:
            if not _matches(verifier, signature):
                continue
            if verifier.key_type == COSIGNATURE_ED25519:
                verify_cosignature(verifier, note.text, signature)  # raises, naming the key
            elif not verifier.verify(note.text.encode(), signature.signature):
                raise NoteError(f"signature by {_label(verifier)} does not verify")
            valid.add(verifier)
    if not valid:
        known = ", ".join(_label(v) for v in verifiers) or "none"
        raise NoteError(f"note has no valid signature by a known key (known: {known})")
    return [v for v in dict.fromkeys(verifiers) if v in valid]


@dataclass(frozen=True)
class Checkpoint:
    """A log's tree head: origin, tree size, RFC 6962 root hash, optional extension lines."""

    origin: str
    size: int
    root: bytes
    extensions: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not self.origin:
            raise NoteError("checkpoint origin is empty")
        _check_line(self.origin, "checkpoint origin")
        if not 0 <= self.size <= MAX_SIZE:
            raise NoteError(f"checkpoint size {self.size} is not between 0 and 2**64-1")
        if len(self.root) != 32:
            raise NoteError(f"checkpoint root is {len(self.root)} bytes, not 32")
        for n, extension in enumerate(self.extensions, 1):
            if not extension:
                raise NoteError(f"checkpoint extension line {n} is empty")
            _check_line(extension, f"checkpoint extension line {n}")

    def text(self) -> str:
        """The note text: origin, size, base64 root and extension lines, each ending in a newline."""
        return "\n".join((self.origin, str(self.size), _b64(self.root), *self.extensions)) + "\n"

    @classmethod
    def parse(cls, text: str) -> Checkpoint:
        """Read a checkpoint note text (the body, without signatures), strictly."""
        _check_note_text(text, "checkpoint")
        lines = text[:-1].split("\n")
        if len(lines) < 3:
            raise NoteError("checkpoint has fewer than 3 lines (origin, size, root)")
        origin, size, root, *extensions = lines
        return cls(
            origin,
            _decimal(size, "checkpoint size"),
            _unb64(root, "checkpoint root"),
            tuple(extensions),
        )


def open_checkpoint(note: str, log: Verifier) -> tuple[Checkpoint, Note]:
    """Parse a signed checkpoint, require a valid signature by `log` and origin == its key name."""
    if log.key_type != NOTE_ED25519:  # a witness's cosignature is not the log's signature
        raise NoteError(f"key {_label(log)} is not a log's note key (type 0x01)")
    parsed = parse_note(note)
    verify_note(parsed, [log])
    checkpoint = Checkpoint.parse(parsed.text)
    if checkpoint.origin != log.name:
        raise NoteError(
            f"checkpoint origin {_show(checkpoint.origin)} is not the log key name {_show(log.name)}"
        )
    return checkpoint, parsed


def cosignature_message(checkpoint_text: str, timestamp: int) -> bytes:
    """What a cosignature/v1 signs: `cosignature/v1`, `time <ts>`, then the checkpoint text."""
    _check_note_text(checkpoint_text, "checkpoint")
    if not 0 <= timestamp <= MAX_TIMESTAMP:
        raise NoteError(f"cosignature timestamp {timestamp} is not between 0 and 2**63-1")
    return f"{COSIGNATURE_HEADER}time {timestamp}\n{checkpoint_text}".encode()


def cosign(signer: Signer, checkpoint_text: str, timestamp: int) -> Signature:
    """A witness's cosignature/v1 of a checkpoint text at `timestamp` (POSIX seconds, > 0)."""
    if signer.key_type != COSIGNATURE_ED25519:
        raise NoteError(f"key {signer.name} is not a cosignature key (type 0x04)")
    Checkpoint.parse(checkpoint_text)  # a witness cosigns checkpoints, nothing else
    if not 1 <= timestamp <= MAX_TIMESTAMP:
        raise NoteError(f"cosignature timestamp {timestamp} is not between 1 and 2**63-1")
    signature = signer.sign(cosignature_message(checkpoint_text, timestamp))
    return Signature(
        signer.name, signer.verifier().key_id, timestamp.to_bytes(8, "big") + signature
    )


def verify_cosignature(verifier: Verifier, checkpoint_text: str, signature: Signature) -> int:
    """The timestamp of a valid cosignature/v1 by `verifier`; NoteError if it is not one."""
    label = _label(verifier)
    if verifier.key_type != COSIGNATURE_ED25519:
        raise NoteError(f"key {label} is not a cosignature key (type 0x04)")
    if not _matches(verifier, signature):
        raise NoteError(f"signature by {signature.name}+{signature.key_id.hex()} is not by {label}")
    if len(signature.signature) != 8 + 64:
        raise NoteError(f"cosignature by {label} is {len(signature.signature)} bytes, not 8 + 64")
    timestamp = int.from_bytes(signature.signature[:8], "big")
    if timestamp == 0:
        raise NoteError(f"cosignature by {label} has timestamp 0")
    if timestamp > MAX_TIMESTAMP:
        raise NoteError(f"cosignature by {label} has timestamp {timestamp}, above 2**63-1")
    message = cosignature_message(checkpoint_text, timestamp)
    if not verifier.verify(message, signature.signature[8:]):
        raise NoteError(f"cosignature by {label} does not verify")
    return timestamp


def cosignatures(note: Note, witnesses: Sequence[Verifier]) -> list[tuple[Verifier, int]]:
    """Each witness with a valid cosignature in the note, and its timestamp (the first line's).

    Lines of unknown keys are skipped; a witness line that fails rejects the note. How many
    witnesses are enough is the caller's policy, so an empty list is not an error here.
    """
    for witness in witnesses:
        if witness.key_type != COSIGNATURE_ED25519:
            raise NoteError(f"witness key {_label(witness)} is not a cosignature key (type 0x04)")
    _check_distinct(witnesses)
    found: dict[Verifier, int] = {}
    for signature in note.signatures:
        for witness in witnesses:
            if _matches(witness, signature):
                found.setdefault(witness, verify_cosignature(witness, note.text, signature))
    return [(w, found[w]) for w in dict.fromkeys(witnesses) if w in found]


@dataclass(frozen=True)
class Receipt:
    """A tlog-proof@v1: an entry's index, its inclusion proof and the signed checkpoint."""

    index: int
    hashes: tuple[bytes, ...]  # from the leaf's sibling up to the root's child
    checkpoint: str  # the whole signed note, cosignatures included
    extra: bytes | None = None  # opaque and unauthenticated

    def __post_init__(self) -> None:
        if not 0 <= self.index <= MAX_SIZE:
            raise NoteError(f"tlog-proof index {self.index} is not between 0 and 2**64-1")
        _check_hashes(self.hashes, "tlog-proof hash")
        _check_checkpoint_note(self.checkpoint, "tlog-proof checkpoint")

    def __str__(self) -> str:
        extra = () if self.extra is None else (f"extra {_b64(self.extra)}",)
        lines = (PROOF_HEADER, *extra, f"index {self.index}", *map(_b64, self.hashes))
        return "\n".join(lines) + "\n\n" + self.checkpoint

    @classmethod
    def parse(cls, text: str) -> Receipt:
        """Read a tlog-proof@v1 strictly; the checkpoint must be a well-formed signed note."""
        lines, checkpoint = _split_request(text, "tlog-proof")
        if lines[0] != PROOF_HEADER:
            raise NoteError(f"tlog-proof does not start with {PROOF_HEADER}")
        rest = lines[1:]
        extra = None
        if rest and rest[0].startswith("extra "):
            extra = _unb64(rest[0].removeprefix("extra "), "tlog-proof extra data")
            rest = rest[1:]
        if not rest or not rest[0].startswith("index "):
            raise NoteError("tlog-proof has no `index <n>` line after its header")
        index = _decimal(rest[0].removeprefix("index "), "tlog-proof index")
        hashes = _hash_lines(rest[1:], "tlog-proof hash")
        return cls(index, hashes, checkpoint, extra)


@dataclass(frozen=True)
class AddCheckpoint:
    """The body of a tlog-witness add-checkpoint request."""

    old_size: int
    proof: tuple[bytes, ...]  # consistency proof from old_size to the checkpoint's size
    checkpoint: str  # the whole signed note

    def __post_init__(self) -> None:
        if not 0 <= self.old_size <= MAX_SIZE:
            raise NoteError(f"old size {self.old_size} is not between 0 and 2**64-1")
        if len(self.proof) > MAX_PROOF_LINES:
            raise NoteError(
                f"add-checkpoint has {len(self.proof)} proof lines, above {MAX_PROOF_LINES}"
            )
        _check_hashes(self.proof, "add-checkpoint proof hash")
        _check_checkpoint_note(self.checkpoint, "add-checkpoint checkpoint")

    def __str__(self) -> str:
        lines = (f"old {self.old_size}", *map(_b64, self.proof))
        return "\n".join(lines) + "\n\n" + self.checkpoint

    @classmethod
    def parse(cls, text: str) -> AddCheckpoint:
        """Read an add-checkpoint body strictly; the checkpoint must be a well-formed signed note."""
        lines, checkpoint = _split_request(text, "add-checkpoint")
        if not lines[0].startswith("old "):
            raise NoteError("add-checkpoint does not start with `old <size>`")
        old_size = _decimal(lines[0].removeprefix("old "), "add-checkpoint old size")
        if len(lines) - 1 > MAX_PROOF_LINES:
            raise NoteError(
                f"add-checkpoint has {len(lines) - 1} proof lines, above {MAX_PROOF_LINES}"
            )
        return cls(old_size, _hash_lines(lines[1:], "add-checkpoint proof hash"), checkpoint)


# Helpers: each check raises NoteError saying what is wrong and where.


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode("ascii")


def _unb64(text: str, what: str) -> bytes:
    """Decode standard padded base64, accepting only the canonical encoding (one text per value)."""
    try:
        raw = base64.b64decode(text.encode("ascii"), validate=True)
    except (UnicodeEncodeError, binascii.Error):
        raise NoteError(f"{what} is not valid base64") from None
    if _b64(raw) != text:
        raise NoteError(f"{what} is not canonical base64")
    return raw


def _decimal(text: str, what: str) -> int:
    """A uint64 in ASCII decimal without leading zeros (`0` alone is fine)."""
    if not _DECIMAL.fullmatch(text):
        if text.startswith("-"):
            raise NoteError(f"{what} {_show(text)} is negative")
        if text.startswith("0") and text[1:].isascii() and text[1:].isdigit():
            raise NoteError(f"{what} {_show(text)} has a leading zero")
        raise NoteError(f"{what} {_show(text)} is not a decimal number")
    # Length first: int() of thousands of digits is slow and hits Python's digit limit.
    if len(text) > len(str(MAX_SIZE)) or int(text) > MAX_SIZE:
        raise NoteError(f"{what} {_show(text)} is above 2**64-1")
    return int(text)


def _show(text: str) -> str:
    """A short quotation of untrusted text for an error message."""
    return repr(text) if len(text) <= 40 else repr(text[:40]) + "..."


def _check_text(text: str, what: str) -> None:
    """Valid UTF-8 (no lone surrogates) and no ASCII control character but newline."""
    try:
        text.encode()
    except UnicodeEncodeError:
        raise NoteError(f"{what} is not valid UTF-8") from None
    control = _CONTROL.search(text)
    if control:
        raise NoteError(f"{what} contains the control character U+{ord(control.group()):04X}")


def _check_note_text(text: str, what: str) -> None:
    _check_text(text, what)
    if not text.endswith("\n"):
        raise NoteError(f"{what} does not end with a newline")


def _check_line(text: str, what: str) -> None:
    _check_text(text, what)
    if "\n" in text:
        raise NoteError(f"{what} contains a newline")


def _check_name(name: str) -> None:
    """Key names are non-empty, without Unicode spaces or `+` (and, being in notes, controls)."""
    if not name:
        raise NoteError("key name is empty")
    _check_line(name, f"key name {_show(name)}")
    if "+" in name or any(c.isspace() for c in name):
        raise NoteError(f"key name {_show(name)} contains a space or a plus sign")


def _check_key_type(key_type: int, name: str) -> None:
    if key_type not in KEY_TYPES:
        raise NoteError(
            f"key {name}: type {key_type:#04x} is not 0x01 (note) or 0x04 (cosignature)"
        )


def _check_hashes(hashes: tuple[bytes, ...], what: str) -> None:
    for n, digest in enumerate(hashes, 1):
        if len(digest) != 32:
            raise NoteError(f"{what} {n} is {len(digest)} bytes, not 32")


def _hash_lines(lines: list[str], what: str) -> tuple[bytes, ...]:
    hashes = tuple(_unb64(line, f"{what} {n}") for n, line in enumerate(lines, 1))
    _check_hashes(hashes, what)
    return hashes


def _check_checkpoint_note(note: str, what: str) -> None:
    """A well-formed signed note whose text is a checkpoint (signatures are checked later)."""
    try:
        Checkpoint.parse(parse_note(note).text)
    except NoteError as e:
        raise NoteError(f"{what}: {e}") from None


def _check_distinct(verifiers: Sequence[Verifier]) -> None:
    """Two different keys with the same name and id would make a signature line ambiguous."""
    seen: dict[tuple[str, bytes], Verifier] = {}
    for verifier in verifiers:
        if seen.setdefault((verifier.name, verifier.key_id), verifier) != verifier:
            raise NoteError(f"two different keys are named {_label(verifier)}")


def _split_key(text: str, what: str) -> tuple[str, str, str]:
    """`name+hex id+base64`; the base64 part may itself contain `+`."""
    parts = text.split("+", 2)
    if len(parts) != 3:
        raise NoteError(f"{what} is not <name>+<id>+<key>")
    name, hex_id, key64 = parts
    _check_name(name)
    if not _HEX_KEY_ID.fullmatch(hex_id):
        raise NoteError(f"{what} {name}: id {_show(hex_id)} is not 8 lowercase hex digits")
    return name, hex_id, key64


def _split_request(text: str, what: str) -> tuple[list[str], str]:
    """Header lines up to the first blank line, and the signed checkpoint after it."""
    _check_text(text, what)
    head, blank, checkpoint = text.partition("\n\n")
    if not blank:
        raise NoteError(f"{what} has no blank line before the checkpoint")
    return head.split("\n"), checkpoint


def _parse_signature_line(line: str, n: int) -> Signature:
    if not line.startswith(SIGNATURE_PREFIX):
        raise NoteError(f"signature line {n} does not start with an em dash and a space")
    name, space, signature64 = line.removeprefix(SIGNATURE_PREFIX).partition(" ")
    if not space:
        raise NoteError(f"signature line {n} has no space between key name and signature")
    _check_name(name)
    raw = _unb64(signature64, f"signature by {name}")
    if len(raw) < 5:
        raise NoteError(f"signature by {name} is {len(raw)} bytes, not a key id and a signature")
    return Signature(name, raw[:4], raw[4:])


def _matches(verifier: Verifier, signature: Signature) -> bool:
    """Whether a signature line claims to be by this key: same name and same key id."""
    return verifier.name == signature.name and hmac.compare_digest(
        verifier.key_id, signature.key_id
    )


def _label(verifier: Verifier) -> str:
    return f"{verifier.name}+{verifier.key_id.hex()}"

"""What a C2SP tlog-witness decides (c2sp.org/tlog-witness, add-checkpoint): whether a submitted
checkpoint is signed by a log it witnesses and extends what it last cosigned for that log, and
the cosignature it answers with.

No I/O and no clock. The caller opens the body (`Witness.open`), reads what it last cosigned for
the origin, decides (`Witness.decide`) with the time, persists `Cosigning.new` only if the log's
size is still `Cosigning.old_size` (compare and swap), and answers `Cosigning.lines` after that.
Each refusal is a subclass of `Refused` that names the protocol's answer.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from ledger.tlog.merkle import EMPTY_ROOT, ProofError, verify_consistency
from ledger.tlog.note import (
    COSIGNATURE_ED25519,
    NOTE_ED25519,
    AddCheckpoint,
    Checkpoint,
    Note,
    NoteError,
    Signature,
    Signer,
    Verifier,
    cosign,
    parse_note,
    verify_note,
)


class Refused(Exception):
    """The witness does not cosign; the subclass says why, `detail` in words."""

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


class Malformed(Refused):
    """Not an add-checkpoint body, or an old size above the checkpoint's size (400)."""


class Untrusted(Refused):
    """No valid signature by a key of the log, or a line of its key that fails (403)."""


class UnknownLog(Refused):
    """The witness has no key named as the checkpoint's origin (404)."""


class WrongOldSize(Refused):
    """The old size is not the size last cosigned for the log, which is `size` (409)."""

    def __init__(self, old_size: int, size: int) -> None:
        super().__init__(f"old size {old_size} is not {size}, the size last cosigned for this log")
        self.size = size


class Inconsistent(Refused):
    """The checkpoint does not extend what was cosigned, or the proof does not show it (422)."""


@dataclass(frozen=True)
class Cosigned:
    """What the witness last cosigned for one log, and the note it shows monitors: the
    checkpoint with the log's signatures it verified and its own cosignature."""

    origin: str
    size: int
    root: bytes
    note: str


@dataclass(frozen=True)
class Submission:
    """An add-checkpoint body whose checkpoint is signed by a log the witness trusts."""

    old_size: int
    proof: tuple[bytes, ...]
    checkpoint: Checkpoint
    note: Note  # the checkpoint text with only the log's signature lines that verified

    @property
    def origin(self) -> str:
        return self.checkpoint.origin


@dataclass(frozen=True)
class Cosigning:
    """An accepted checkpoint: the state to persist if the log's size is still `old_size`, and
    the answer's body (the cosignature line), to give only once that state is persisted."""

    old_size: int
    new: Cosigned
    lines: str


def origin_hash(origin: str) -> str:
    """The lowercase hex SHA-256 of an origin: the log's name in monitoring URLs."""
    return hashlib.sha256(origin.encode()).hexdigest()


class Witness:
    """A witness's fixed part: its cosignature key (type 0x04) and the note keys (type 0x01) of
    the logs it witnesses; a key's name is its log's origin, and a log may have several."""

    def __init__(self, signer: Signer, logs: Iterable[Verifier]) -> None:
        if signer.key_type != COSIGNATURE_ED25519:
            raise ValueError(f"witness key {signer.name} is not a cosignature key (type 0x04)")
        by_origin: dict[str, list[Verifier]] = {}
        for log in logs:
            if log.key_type != NOTE_ED25519:
                raise ValueError(f"log key {log} is not an Ed25519 note key (type 0x01)")
            keys = by_origin.setdefault(log.name, [])
            if any(k.key_id == log.key_id and k != log for k in keys):
                raise ValueError(f"two different keys of log {log.name} have one key id")
            if log not in keys:
                keys.append(log)
        if not by_origin:
            raise ValueError("a witness needs at least one log key")
        self.signer = signer
        self.logs: Mapping[str, tuple[Verifier, ...]] = {o: tuple(k) for o, k in by_origin.items()}

    @property
    def verifier(self) -> Verifier:
        """The key a log or a reader checks this witness's cosignatures with."""
        return self.signer.verifier()

    def open(self, body: bytes) -> Submission:
        """Parse an add-checkpoint body and check what needs no state: the origin is a log
        witnessed here (UnknownLog), its keys sign the checkpoint (Untrusted), and the old size
        is at most the checkpoint's (Malformed, as is any body that does not parse)."""
        try:
            request = AddCheckpoint.parse(body.decode("utf-8"))
            note = parse_note(request.checkpoint)
            checkpoint = Checkpoint.parse(note.text)
        except UnicodeDecodeError:
            raise Malformed("the body is not UTF-8") from None
        except NoteError as e:
            raise Malformed(str(e)) from None
        keys = self.logs.get(checkpoint.origin)
        if keys is None:
            raise UnknownLog(f"no log with origin {checkpoint.origin!r} is witnessed here")
        try:
            verified = verify_note(note, keys)
        except NoteError as e:
            raise Untrusted(str(e)) from None
        if request.old_size > checkpoint.size:
            raise Malformed(
                f"old size {request.old_size} is above the checkpoint's size {checkpoint.size}"
            )
        # Lines of other keys (other witnesses, say) are not the witness's to vouch for.
        by_log = tuple(s for s in note.signatures if _by_any(s, verified))
        return Submission(
            request.old_size,
            request.proof,
            checkpoint,
            Note(note.text, tuple(dict.fromkeys(by_log))),
        )

    def decide(self, submission: Submission, last: Cosigned | None, now: int) -> Cosigning:
        """Cosign at `now` (POSIX seconds, > 0) if the checkpoint extends `last` (None: never
        cosigned, size 0): WrongOldSize if the old size is not `last`'s, Inconsistent if the
        checkpoint or its proof does not extend it."""
        checkpoint, old = submission.checkpoint, submission.old_size
        if last is not None and last.origin != checkpoint.origin:
            raise ValueError(f"the state of {last.origin!r} is not {checkpoint.origin!r}'s")
        if checkpoint.size == 0 and checkpoint.root != EMPTY_ROOT:
            raise Inconsistent("a checkpoint of size 0 must have the empty tree's root")
        held = 0 if last is None else last.size
        if old != held:
            raise WrongOldSize(old, held)
        if last is None or old == 0:
            # The empty tree is consistent with every tree: there is nothing to prove.
            if submission.proof:
                raise Inconsistent(f"old size is 0 but the proof has {len(submission.proof)} lines")
        else:
            try:
                verify_consistency(
                    old, checkpoint.size, submission.proof, last.root, checkpoint.root
                )
            except ProofError as e:
                raise Inconsistent(f"consistency: {e}") from None
        signature = cosign(self.signer, submission.note.text, now)
        note = Note(submission.note.text, (*submission.note.signatures, signature))
        new = Cosigned(checkpoint.origin, checkpoint.size, checkpoint.root, str(note))
        return Cosigning(old, new, signature.line())


def _by_any(signature: Signature, keys: Iterable[Verifier]) -> bool:
    """Whether the line claims one of `keys` (verify_note has checked every such line)."""
    return any(k.name == signature.name and k.key_id == signature.key_id for k in keys)

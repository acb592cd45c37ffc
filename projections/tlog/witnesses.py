"""The ledger's side of C2SP tlog-witness: hand each new checkpoint to the configured
witnesses and keep the cosignatures they answer with."""

from __future__ import annotations

import urllib.error
import urllib.request
from dataclasses import dataclass

from ledger.tlog import merkle
from ledger.tlog.note import (
    COSIGNATURE_ED25519,
    AddCheckpoint,
    NoteError,
    Verifier,
    parse_note,
    verify_cosignature,
)


class WitnessAnswer(ValueError):
    """A witness refused the checkpoint or answered something that is not a cosignature."""


@dataclass(frozen=True)
class Witness:
    """A witness the log submits to: its submission URL prefix and its cosignature key."""

    url: str
    verifier: Verifier

    @property
    def name(self) -> str:
        return self.verifier.name

    @classmethod
    def parse(cls, spec: str) -> Witness:
        """`URL VKEY`: the witness's submission prefix and its cosignature verifier key."""
        url, _, vkey = spec.strip().partition(" ")
        if not url.startswith(("http://", "https://")) or not vkey.strip():
            raise ValueError(
                f"a witness is 'URL VKEY' (an http(s) URL, a space, its verifier key), not {spec!r}"
            )
        try:
            verifier = Verifier.parse(vkey.strip())
        except NoteError as e:
            raise ValueError(f"witness {url}: {e}") from None
        if verifier.key_type != COSIGNATURE_ED25519:
            raise ValueError(f"witness {url}: the key is not an Ed25519 cosignature key")
        return cls(url.rstrip("/"), verifier)


def submit(
    witness: Witness,
    log: merkle.NodesReader,
    note: str,
    size: int,
    old: int | None,
    *,
    timeout: float,
) -> tuple[str, int]:
    """Give the checkpoint `note` (of `size` entries) to `witness`, proving consistency from
    the size it last cosigned (`old`, learnt from its 409 answer when unknown). The
    cosignature line it returned and the size it now holds; WitnessAnswer or OSError if not."""
    text = parse_note(note).text
    known = 0 if old is None else old
    for _ in range(3):  # a 409 tells the size to prove from; ask again once or twice
        if known > size:
            raise WitnessAnswer(
                f"witness {witness.url} has cosigned {known} entries, more than this "
                f"checkpoint's {size}: a newer checkpoint of this log (another process "
                "submitted it), or a fork"
            )
        proof = merkle.consistency_proof(log, known, size) if 0 < known < size else []
        body = str(AddCheckpoint(known, tuple(proof), note)).encode("utf-8")
        request = urllib.request.Request(
            witness.url + "/add-checkpoint",
            data=body,
            method="POST",
            headers={"Content-Type": "text/plain; charset=utf-8"},
        )
        try:
            with urllib.request.urlopen(request, timeout=timeout) as answer:
                lines = answer.read(65_536).decode("utf-8", "replace")
        except urllib.error.HTTPError as e:
            said = e.read(4096).decode("utf-8", "replace").strip()
            if e.code == 409 and said.isdigit():
                known = int(said)
                continue
            raise WitnessAnswer(f"witness {witness.url} answered {e.code}: {said[:200]}") from None
        return _cosignature(witness, text, lines), size
    raise WitnessAnswer(f"witness {witness.url} kept changing the size it holds")


def _cosignature(witness: Witness, text: str, lines: str) -> str:
    """The line of `lines` that is a valid cosignature of `text` by `witness`."""
    for line in lines.splitlines(keepends=True):
        if not line.startswith("\u2014 "):
            continue
        try:
            note = parse_note("x\n\n" + line)
            for signature in note.signatures:
                if signature.name == witness.name:
                    verify_cosignature(witness.verifier, text, signature)
                    return line if line.endswith("\n") else line + "\n"
        except NoteError:
            continue
    raise WitnessAnswer(f"witness {witness.url} answered no valid cosignature by {witness.name}")

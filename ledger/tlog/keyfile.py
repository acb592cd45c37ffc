"""The log's signing key on disk: one line in Go's note private-key format, in a file only its
owner can read. Never in the database, never in the log."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from ledger.errors import InvalidInput
from ledger.tlog.note import NOTE_ED25519, NoteError, Signer


class KeyFileError(InvalidInput):
    """The signing key file is missing, unreadable, malformed or readable by others."""

    code = "log-key-file"


def create_key(path: Path, name: str, key_type: int = NOTE_ED25519) -> Signer:
    """A new Ed25519 key named `name`, written to `path` with mode 0600; KeyFileError if the
    file exists (a key is never replaced: checkpoints signed with it would no longer verify)."""
    signer = Signer.generate(name, key_type)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise KeyFileError(f"{path} exists; a signing key is never overwritten") from None
    except OSError as e:
        raise KeyFileError(f"cannot create {path}: {e.strerror}") from None
    with os.fdopen(fd, "w", encoding="ascii") as out:
        out.write(str(signer) + "\n")
    return signer


def read_key(path: Path) -> Signer:
    """The key in `path`; KeyFileError if it is unreadable, malformed, or open to others."""
    try:
        mode = path.stat().st_mode
        text = path.read_text(encoding="ascii").strip()
    except FileNotFoundError:
        raise KeyFileError(
            f"{path} does not exist (create it with `custody log init` or `custody witness init`)"
        ) from None
    except (OSError, UnicodeDecodeError) as e:
        raise KeyFileError(f"cannot read {path}: {e}") from None
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise KeyFileError(
            f"{path} is readable by others (mode {stat.S_IMODE(mode):o}); chmod 600 it"
        )
    try:
        return Signer.parse(text)
    except NoteError as e:
        raise KeyFileError(f"{path} holds no signing key: {e}") from None

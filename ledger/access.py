"""API tokens, event-sourced in the same store as the log: who may record, for which offices.

A token's name is the `actor` recorded on every event it writes, so issuing and revoking tokens
is part of the audit trail too. Secrets are never stored: only their sha256.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import threading
import time
from dataclasses import dataclass
from typing import Any
from uuid import NAMESPACE_URL, uuid5

from eventsourcing.application import AggregateNotFoundError
from eventsourcing.domain import Aggregate
from eventsourcing.persistence import IntegrityError, InterfaceError, OperationalError

from ledger.commands import OFFICE_RE
from ledger.errors import InvalidInput, LedgerError, unreachable

# An adjudicator reads, and resolves disputes (writing their corrections on any account).
ROLES = ("reader", "recorder", "admin", "adjudicator")
NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
DIRECTORY_ID = uuid5(NAMESPACE_URL, "custody-ledger:access-tokens")
PREFIX = "cst"


class TokenError(LedgerError):
    code = "token-error"


class TokenExists(TokenError):
    code = "token-exists"


class UnknownToken(TokenError):
    code = "unknown-token"


@dataclass(frozen=True)
class Principal:
    """Who is calling: the token's name (the actor), its role and, for recorders, its offices."""

    name: str
    role: str
    offices: tuple[str, ...] = ()

    def can_read(self) -> bool:
        return self.role in ROLES

    def can_record_for(self, office: str) -> bool:
        if self.role == "admin":
            return True
        return self.role == "recorder" and (not self.offices or office in self.offices)


@dataclass(frozen=True)
class TokenInfo:
    name: str
    role: str
    offices: tuple[str, ...]
    revoked: bool


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


class TokenDirectory(Aggregate):
    """Every token ever issued: name, role, offices, secret hash, revoked or not."""

    class Opened(Aggregate.Created):
        pass

    class Issued(Aggregate.Event):
        name: str
        role: str
        offices: list[str]
        secret_sha256: str

        def apply(self, aggregate: Any) -> None:
            aggregate.tokens[self.name] = {
                "role": self.role,
                "offices": list(self.offices),
                "secret_sha256": self.secret_sha256,
                "revoked": False,
            }

    class Revoked(Aggregate.Event):
        name: str

        def apply(self, aggregate: Any) -> None:
            aggregate.tokens[self.name]["revoked"] = True

    def __init__(self) -> None:
        self.tokens: dict[str, dict[str, Any]] = {}


class AccessControl:
    """Issues, lists, revokes and checks tokens.

    Checking a bearer token reads the directory from the store at most once per
    `cache_seconds`: a token revoked from another process stops working within that time (at
    once in this process), and a request does not pay a store round trip for its token.
    """

    def __init__(self, app: Any, *, cache_seconds: float = 1.0) -> None:
        self.app = app
        self.cache_seconds = cache_seconds
        self._cached: tuple[float, TokenDirectory | None] | None = None
        self._lock = threading.Lock()

    def _fresh_cached(self) -> tuple[bool, TokenDirectory | None]:
        with self._lock:
            cached = self._cached
        if cached is not None and time.monotonic() - cached[0] < self.cache_seconds:
            return True, cached[1]
        return False, None

    def _recent_directory(self) -> TokenDirectory | None:
        fresh, directory = self._fresh_cached()
        if fresh:
            return directory
        now = time.monotonic()
        directory = self._directory()
        with self._lock:
            self._cached = (now, directory)
        return directory

    def _directory(self) -> TokenDirectory | None:
        try:
            events = list(self.app.events.get(DIRECTORY_ID))
        except (OperationalError, InterfaceError) as e:
            raise unreachable(e) from None
        if not events:
            return None
        directory: Any = None
        for event in events:
            directory = event.mutate(directory)
        return directory  # type: ignore[no-any-return]

    def issue(self, name: str, role: str, offices: tuple[str, ...] = ()) -> str:
        """Create a token; return its secret (shown once, never stored)."""
        if not isinstance(name, str) or not NAME_RE.fullmatch(name):
            raise InvalidInput(f"token name {name!r} must be 1-64 letters, digits, '.', '_' or '-'")
        if role not in ROLES:
            raise InvalidInput(f"role must be one of {', '.join(ROLES)}")
        bad = [o for o in offices if not OFFICE_RE.fullmatch(o)]
        if bad:
            raise InvalidInput(f"office keys not valid: {', '.join(bad)}")
        if offices and role != "recorder":
            raise InvalidInput("only a recorder token is limited to offices")
        directory = self._directory() or TokenDirectory._create(
            TokenDirectory.Opened, id=DIRECTORY_ID
        )
        if name in directory.tokens:
            raise TokenExists(f"a token named {name!r} already exists (names are never reused)")
        secret = f"{PREFIX}_{name}_{secrets.token_hex(24)}"
        directory.trigger_event(
            TokenDirectory.Issued,
            name=name,
            role=role,
            offices=list(offices),
            secret_sha256=_hash(secret),
        )
        self.app.save(directory)
        return secret

    def revoke(self, name: str) -> None:
        directory = self._directory()
        if directory is None or name not in directory.tokens:
            raise UnknownToken(f"no token named {name!r}")
        if directory.tokens[name]["revoked"]:
            return
        directory.trigger_event(TokenDirectory.Revoked, name=name)
        self._save(directory)

    def _save(self, directory: TokenDirectory) -> None:
        with self._lock:
            self._cached = None
        try:
            self.app.save(directory)
        except (OperationalError, InterfaceError) as e:
            raise unreachable(e) from None
        except IntegrityError:
            raise TokenError(
                "another token change was recorded at the same moment; retry"
            ) from None

    def list(self) -> list[TokenInfo]:
        directory = self._directory()
        if directory is None:
            return []
        return [
            TokenInfo(n, t["role"], tuple(t["offices"]), t["revoked"])
            for n, t in sorted(directory.tokens.items())
        ]

    def authenticate(self, secret: str) -> Principal | None:
        """The principal a bearer secret stands for, or None if unknown or revoked."""
        if not secret.startswith(PREFIX + "_") or len(secret) > 200:
            return None
        try:
            directory = self._recent_directory()
        except AggregateNotFoundError:
            return None
        return self._principal(directory, secret)

    def authenticate_cached(self, secret: str) -> tuple[bool, Principal | None]:
        """`(True, authenticate(secret))` when that needs no database read (the directory
        was read less than `cache_seconds` ago), else `(False, None)`: lets an event loop
        answer most requests without handing them to a thread."""
        if not secret.startswith(PREFIX + "_") or len(secret) > 200:
            return True, None
        fresh, directory = self._fresh_cached()
        return (True, self._principal(directory, secret)) if fresh else (False, None)

    @staticmethod
    def _principal(directory: TokenDirectory | None, secret: str) -> Principal | None:
        name = secret[len(PREFIX) + 1 :].rsplit("_", 1)[0]
        token = directory.tokens.get(name) if directory else None
        if token is None or token["revoked"]:
            return None
        if not hmac.compare_digest(token["secret_sha256"], _hash(secret)):
            return None
        return Principal(name, token["role"], tuple(token["offices"]))

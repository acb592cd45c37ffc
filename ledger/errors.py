"""The ledger's one small error tree. Every refused command raises one of these and writes nothing."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from uuid import UUID


class LedgerError(Exception):
    """Base of every error the ledger raises on purpose."""

    code = "ledger-error"

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


class InvalidInput(LedgerError):
    """A value failed validation (bad handle, time without a timezone, unknown type...)."""

    code = "invalid-input"

    def __init__(
        self,
        detail: str,
        *,
        field: str | None = None,
        errors: tuple[tuple[tuple[str | int, ...], str], ...] = (),
    ) -> None:
        super().__init__(detail)
        self.field = field
        # (location, message) per bad field: the location as pydantic gives it (keys and
        # list indexes), so a key holding a dot or a digit-like character stays one part.
        self.errors = errors or (((field,), detail),) if field else errors


class NotFound(LedgerError):
    """The thing asked about is not recorded in the ledger at all."""

    code = "not-found"


class AccountNotFound(NotFound):
    code = "account-not-found"

    def __init__(self, account_id: UUID) -> None:
        super().__init__(f"No account {account_id} is recorded in the ledger.")
        self.account_id = account_id


class AccountRetracted(AccountNotFound):
    """The account's registration was retracted: as known now it never existed."""

    def __init__(self, account_id: UUID) -> None:
        super().__init__(account_id)
        self.detail = (
            f"Account {account_id}'s registration was retracted: as known now the account "
            "never existed, and nothing more can be recorded on it (its log is still readable)."
        )
        self.args = (self.detail,)


class HandleNotFound(NotFound):
    code = "handle-not-found"

    def __init__(self, platform: str, handle: str) -> None:
        super().__init__(f"No account on {platform} has ever carried the handle @{handle}.")
        self.platform = platform
        self.handle = handle


class OfficeNotFound(NotFound):
    code = "office-not-found"

    def __init__(self, office: str) -> None:
        super().__init__(f"office {office!r} is not registered")
        self.office = office


class DisputeNotFound(NotFound):
    code = "dispute-not-found"

    def __init__(self, dispute_id: object) -> None:
        super().__init__(f"No dispute {dispute_id} is recorded in the ledger.")
        self.dispute_id = dispute_id


class HolderNotFound(NotFound):
    code = "holder-not-found"

    def __init__(self, holder_id: str) -> None:
        super().__init__(f"No custody by holder {holder_id!r} is recorded in the ledger.")
        self.holder_id = holder_id


class RuleViolation(LedgerError):
    """The command is well formed but the account's history does not allow it."""

    code = "rule-violation"

    def __init__(self, detail: str, *, account_id: UUID | None = None) -> None:
        super().__init__(detail)
        self.account_id = account_id


class EffectiveBeforeRegistration(RuleViolation):
    code = "effective-before-registration"


class AccountClosed(RuleViolation):
    code = "account-closed"


class NoHolder(RuleViolation):
    code = "no-holder"


class OwnershipMismatch(RuleViolation):
    """The event needs a personal account (official use) or an office's (a transfer)."""

    code = "ownership-mismatch"


class NoChange(RuleViolation):
    """The command would change nothing (same holder, same handle, same office)."""

    code = "no-change"


class InvalidRetraction(RuleViolation):
    code = "invalid-retraction"


class WouldInvalidateLaterEvents(RuleViolation):
    """A back-dated fact would leave already-recorded events without their premise."""

    code = "would-invalidate-later-events"

    def __init__(self, detail: str, *, account_id: UUID, versions: tuple[int, ...]) -> None:
        super().__init__(detail, account_id=account_id)
        self.versions = versions


class OfficeNotAllowed(LedgerError):
    """The actor may record only for some offices, and this event would reach another's."""

    code = "forbidden"

    def __init__(self, actor: str, allowed: Iterable[str], outside: Iterable[str]) -> None:
        super().__init__(
            f"{actor!r} may record only for the offices {', '.join(sorted(allowed)) or 'none'}; "
            f"this event would change the account's history where it belongs to "
            f"{', '.join(sorted(outside))}."
        )


class Conflict(LedgerError):
    """The command conflicts with state held elsewhere in the ledger."""

    code = "conflict"


class HandleTaken(Conflict):
    code = "handle-taken"

    def __init__(
        self,
        platform: str,
        handle: str,
        holder_account: UUID,
        valid_from: datetime,
        valid_to: datetime | None,
    ) -> None:
        until = valid_to.isoformat() if valid_to else "onwards"
        super().__init__(
            f"Handle @{handle} on {platform} is carried by account {holder_account} "
            f"from {valid_from.isoformat()} {'until ' + until if valid_to else until}; "
            "one handle belongs to at most one account at any instant."
        )
        self.platform = platform
        self.handle = handle
        self.holder_account = holder_account


class AccountExists(Conflict):
    code = "account-exists"

    def __init__(self, account_id: UUID) -> None:
        super().__init__(f"An account with id {account_id} is already recorded.")
        self.account_id = account_id


class OfficeExists(Conflict):
    code = "office-exists"

    def __init__(self, office: str) -> None:
        super().__init__(f"office {office!r} is already registered")
        self.office = office


class PlatformAccountIdTaken(Conflict):
    code = "platform-account-id-taken"

    def __init__(self, platform: str, platform_account_id: str, account_id: UUID) -> None:
        super().__init__(
            f"Platform account id {platform_account_id!r} on {platform} is already "
            f"registered as account {account_id}."
        )
        self.account_id = account_id


class DisputeNotOpen(Conflict):
    """An event for a dispute that is withdrawn or resolved already."""

    code = "dispute-not-open"

    def __init__(self, dispute_id: object, why: str) -> None:
        super().__init__(f"Dispute {dispute_id}: {why}.")
        self.dispute_id = dispute_id


class ConcurrencyConflict(Conflict):
    """Other writers kept winning the race; the command was not applied."""

    code = "concurrency-conflict"


class StaleVersion(LedgerError):
    code = "stale-version"

    def __init__(
        self, account_id: UUID, expected: int, actual: int, *, stream: str | None = None
    ) -> None:
        super().__init__(
            f"{stream or f'Account {account_id}'} is at version {actual}, not the expected "
            f"{expected}; read it again and retry."
        )
        self.account_id = account_id
        self.expected = expected
        self.actual = actual


class IdempotencyKeyReused(LedgerError):
    code = "idempotency-key-reused"

    def __init__(self, key: str) -> None:
        super().__init__(
            f"Idempotency key {key!r} was already used for a different command; "
            "use a new key for a new command."
        )
        self.key = key


class StoreUnavailable(LedgerError):
    """The database cannot be reached right now."""

    code = "store-unavailable"


class UnreadableEvent(LedgerError):
    """A stored event cannot be decoded (its bytes were altered or damaged outside the
    ledger): names the stream, the version and, where known, the log position."""

    code = "unreadable-event"

    def __init__(self, stream: object, version: int | None, position: int | None, why: str) -> None:
        where = f"stream {stream}" + (f" version {version}" if version is not None else "")
        at = f" at log position {position}" if position is not None else ""
        super().__init__(
            f"the stored event of {where}{at} cannot be decoded ({why}); it was changed outside "
            "the ledger: restore it from a backup or an export"
        )
        self.stream, self.version, self.position, self.why = stream, version, position, why


def first_line(error: BaseException) -> str:
    """A driver's message without PostgreSQL's LINE and CONTEXT lines (and the SQL they quote),
    which stay out of the command line's messages and the API's 503."""
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


def unreachable(error: BaseException) -> StoreUnavailable:
    """StoreUnavailable for a lost or refused connection or a statement the database failed."""
    return StoreUnavailable(f"the database is unreachable: {first_line(error)}")

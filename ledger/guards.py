"""The guards a command passes before the ledger decides on it: who records it, under which
idempotency key, for which account id, and which offices' part of an account's history it
would touch. Pure functions of their arguments."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any
from uuid import UUID

from ledger import fold
from ledger.commands import LINE_CONTROL_RE, Command
from ledger.dispute_commands import DisputeCommand
from ledger.errors import InvalidInput
from ledger.fold import Fact
from ledger.history import History

# Not an office key (OFFICE_RE has no parentheses): the "office" of a personal account that
# speaks for none, which only recorders for every office may write.
NO_OFFICE = "(no office)"


def check_actor(actor: str, *, restoring: bool = False, name: str = "actor") -> str:
    """A recorder's name (`name`: which field holds it, `actor` or `attributed_to`)."""
    if not isinstance(actor, str) or not actor.strip() or len(actor) > 128:
        raise InvalidInput(f"{name} must be a non-empty name of at most 128 characters")
    # A restore keeps what older rules let in, except NUL, which PostgreSQL cannot store.
    if LINE_CONTROL_RE.search(actor) if not restoring else "\x00" in actor:
        raise InvalidInput(f"{name} must be one line, without control characters")
    return actor


def check_key(key: str | None) -> str | None:
    if key is not None and (
        not isinstance(key, str) or not key.strip() or len(key) > 200 or LINE_CONTROL_RE.search(key)
    ):
        raise InvalidInput(
            "Idempotency-Key must be 1 to 200 characters, without control characters"
        )
    return key


def offices_touched(history: History, facts: Sequence[Fact], command: Command) -> set[str]:
    """The offices whose part of the account's history `command` would change: the office at
    the instant it takes effect (for a retraction, that of the event it retracts), and, from
    then on, the offices before and after it wherever the account's custody differs, as known
    now. A change that a later event masks (a holder replaced at a transfer) reaches no
    further. Checked before the event's own rules, so a command they refuse counts too.
    `history` is the stream's (`facts`): custody can differ only where pushing the command
    changes its timeline, so only those instants are compared."""
    probe = Fact(
        version=len(facts) + 1,
        type=command.type,
        effective_at=command.effective_at,
        recorded_at=facts[-1].recorded_at,
        actor="",
        reason="",
        evidence=(),
        data=command.data(),
    )
    start = probe.effective_at
    target = probe.data.get("event_version") if probe.type == fold.RETRACTED else None
    if isinstance(target, int) and 1 <= target <= len(facts):
        start = facts[target - 1].effective_at
    trial = history.push(probe)
    head, tail = trial.splice.head, trial.splice.tail
    before, after = history.segments, trial.segments
    changed = (*before[head : len(before) - tail], *after[head : len(after) - tail])
    instants = sorted({start} | {s.valid_from for s in changed if s.valid_from > start})
    touched: set[str | None] = set()
    for n, instant in enumerate(instants):
        was, now = _custody_at(history, instant), _custody_at(trial, instant)
        if n == 0 or was != now:
            touched |= {state[0] for state in (was, now) if state is not None}
    if not touched and before:  # it takes effect before the registration: the account's office
        touched.add(before[0].state.office)
    # A personal account speaking for no office is no office's: a change that reaches no
    # office's time (an observation of such an account, say) is NO_OFFICE's, which no token
    # has; one that reaches an office's (official use for it starting) is that office's.
    offices = {office for office in touched if office is not None}
    return offices or {NO_OFFICE}


def _custody_at(history: History, instant: datetime) -> tuple[Any, ...] | None:
    """The account's custody facets at `instant` (office first), without the provenance."""
    state = history.state_at(instant)
    if state is None:
        return None
    return (state.office, state.status, state.holder, state.holder_since, state.handle,
            state.platform_account_id, state.archives, state.ownership,
            state.owner)  # fmt: skip


def check_account_id(account_id: UUID | None) -> UUID | None:
    # The ledger's own streams (handle and platform-id claims, the token directory) have
    # name-based (version 5) ids; a chosen account id of that form could take one's place.
    if account_id is not None and account_id.version != 4:
        raise InvalidInput(
            f"account_id: {account_id} is not a random (version 4) UUID; the ledger keeps "
            "other UUID forms for its own streams",
            field="account_id",
        )
    return account_id


def fingerprint(
    account_id: UUID | None, command: Command | DisputeCommand, expected_version: int | None
) -> str:
    body = {
        "account_id": str(account_id) if account_id else None,
        "type": command.type,
        "expected_version": expected_version,
        **command.model_dump(mode="json"),
    }
    return hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()

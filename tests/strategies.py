"""Hypothesis strategies for random custody histories, shared by the ledger and read-model tests.

Two levels:
  * `fact_lists()` draws raw `Fact` lists for the pure fold (no ledger, no rules): any order of
    valid time, record time non-decreasing with the version, retractions of earlier facts.
  * `command_steps()` draws a list of `Step`s (commands addressed to account slots) and
    `apply_steps()` / `run_steps()` feed them to a `CustodyLedger`, skipping what it refuses.

Values come from small pools (two holders, a few handles differing only in case, a grid of
instants with many ties) so that premises fail, handles collide and retractions orphan facts often.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

from hypothesis import strategies as st

from ledger import fold
from ledger.application import CustodyLedger
from ledger.batch import Batch
from ledger.commands import (
    Archive,
    ArchiveHistory,
    AssignHolder,
    CloseAccount,
    Command,
    Holder,
    RegisterAccount,
    ReleaseHolder,
    RenameHandle,
    RetractEvent,
    TransferOffice,
)
from ledger.errors import (
    AccountNotFound,
    HandleTaken,
    LedgerError,
    PlatformAccountIdTaken,
    RuleViolation,
)
from ledger.fold import Fact
from ledger.records import EventRecord

BASE = datetime(2017, 1, 20, 17, 0, tzinfo=UTC)
"""Noon in Washington on inauguration day 2017: the centre of every generated history."""

PLATFORMS = ("x", "mastodon")
HANDLES = ("POTUS", "potus", "POTUS45", "PresElectBiden", "WhiteHouse")
OFFICES = ("us-president", "us-president-elect", "nara")
HOLDERS = (
    ("obama", "Barack Obama"),
    ("trump", "Donald J. Trump"),
    ("biden", "Joseph R. Biden"),
)
PLATFORM_ACCOUNT_IDS = ("822215679726100480", "1349149096909668363")

# Valid time on a coarse grid so that ties at one instant are common.
_HOURS = (-48, -24, -6, -1, 0, 0, 0, 1, 6, 24, 48)


def instants() -> st.SearchStrategy[datetime]:
    """An instant of valid time near `BASE`; the same instant is drawn often."""
    return st.sampled_from(_HOURS).map(lambda h: BASE + timedelta(hours=h))


# -- raw facts for the fold ------------------------------------------------------------------------

_FACT_TYPES = (
    fold.ASSIGNED,
    fold.ASSIGNED,
    fold.RELEASED,
    fold.RENAMED,
    fold.ARCHIVED,
    fold.TRANSFERRED,
    fold.CLOSED,
    fold.RETRACTED,
    fold.RETRACTED,
)


def _fact_data(draw: st.DrawFn, kind: str, version: int, targets: list[int]) -> dict[str, Any]:
    if kind == fold.ASSIGNED:
        hid, name = draw(st.sampled_from(HOLDERS[:2]))
        return {"holder": {"id": hid, "name": name}}
    if kind == fold.RENAMED:
        return {"handle": draw(st.sampled_from(HANDLES[:3]))}
    if kind == fold.ARCHIVED:
        return {"archive": {"ref": f"archive-{version}", "sha256": None, "items": version}}
    if kind == fold.TRANSFERRED:
        return {"office": draw(st.sampled_from(OFFICES[:2]))}
    if kind == fold.RETRACTED:
        return {"event_version": draw(st.sampled_from(targets))}
    return {}


@st.composite
def fact_lists(draw: st.DrawFn, max_facts: int = 12) -> list[Fact]:
    """A stream as the fold sees it: v1 registers; later facts may be effective at any instant.

    Record time never decreases with the version (ties allowed). A retraction names a random
    earlier non-retraction version (possibly the registration, possibly one already retracted).
    """
    n = draw(st.integers(1, max_facts))
    recorded = BASE + timedelta(days=draw(st.integers(-3, 3)))
    facts = [
        Fact(
            version=1,
            type=fold.REGISTERED,
            effective_at=draw(instants()),
            recorded_at=recorded,
            actor="records-office",
            data={
                "platform": "x",
                "platform_account_id": None,
                "handle": draw(st.sampled_from(HANDLES[:3])),
                "office": draw(st.sampled_from(OFFICES[:2])),
            },
        )
    ]
    for version in range(2, n + 1):
        targets = [f.version for f in facts if f.type != fold.RETRACTED]
        kind = draw(st.sampled_from(_FACT_TYPES))
        recorded += timedelta(hours=draw(st.sampled_from((0, 1, 1, 5))))
        facts.append(
            Fact(
                version=version,
                type=kind,
                effective_at=draw(instants()),
                recorded_at=recorded,
                actor="records-office",
                data=_fact_data(draw, kind, version, targets),
            )
        )
    return facts


_RICH_TYPES = (
    *_FACT_TYPES,
    fold.AUDIENCE,
    fold.AUDIENCE,
    fold.AUDIENCE,
    fold.OWNERSHIP_CHANGED,
    fold.USE_STARTED,
    fold.USE_ENDED,
)
_OWNERS = ({"id": "obama", "name": "Barack Obama"}, {"id": "trump", "name": "Donald J. Trump"})


def _rich_data(draw: st.DrawFn, kind: str, version: int, targets: list[int]) -> dict[str, Any]:
    if kind == fold.AUDIENCE:
        return {"followers": draw(st.integers(0, 3))}
    if kind == fold.OWNERSHIP_CHANGED:
        if draw(st.booleans()):
            return {"ownership": fold.OFFICE_OWNED, "office": draw(st.sampled_from(OFFICES[:2]))}
        office = draw(st.sampled_from((None, *OFFICES[:2])))
        data = {"ownership": fold.PERSONAL, "owner": draw(st.sampled_from(_OWNERS))}
        return data if office is None else {**data, "office": office}
    if kind == fold.USE_STARTED:
        return {"office": draw(st.sampled_from(OFFICES[:2]))}
    return _fact_data(draw, kind, version, targets)


@st.composite
def long_fact_lists(draw: st.DrawFn, max_facts: int = 40) -> list[Fact]:
    """Like `fact_lists`, longer, over every account fact type (audience, ownership, official
    use too) and a wider grid of instants: most facts land between earlier ones, so a timeline
    kept fact by fact changes in its middle, as back-dated events change long streams."""
    facts = draw(fact_lists(max_facts=1))
    recorded = facts[0].recorded_at
    n = draw(st.integers(1, max_facts))
    for version in range(2, n + 1):
        targets = [f.version for f in facts if f.type != fold.RETRACTED]
        kind = draw(st.sampled_from(_RICH_TYPES))
        recorded += timedelta(hours=draw(st.sampled_from((0, 1, 1, 5))))
        facts.append(
            Fact(
                version=version,
                type=kind,
                effective_at=BASE + timedelta(hours=draw(st.integers(-60, 60))),
                recorded_at=recorded,
                actor="records-office",
                data=_rich_data(draw, kind, version, targets),
            )
        )
    return facts


# -- command histories for the ledger --------------------------------------------------------------


@dataclass(frozen=True)
class Step:
    """One command for the account in `slot` (a registration opens a new slot instead).

    Slots are resolved when the step is applied: `slot` modulo the number of accounts opened so
    far. A `RetractEvent`'s `event_version` counts back from the stream's version then (1 names
    the latest event, 2 the one before...), so most generated retractions name a real event.
    """

    slot: int
    command: Command


def registrations() -> st.SearchStrategy[RegisterAccount]:
    return st.builds(
        lambda platform, pid, handle, office, at: RegisterAccount(
            platform=platform,
            platform_account_id=pid,
            handle="@" + handle,
            office=office,
            effective_at=at,
        ),
        st.sampled_from(PLATFORMS[:1] * 3 + PLATFORMS[1:]),
        st.sampled_from((None, None, *PLATFORM_ACCOUNT_IDS)),
        st.sampled_from(HANDLES),
        st.sampled_from(OFFICES),
        st.sampled_from((-48, -48, -24, 0)).map(lambda h: BASE + timedelta(hours=h)),
    )


def account_commands() -> st.SearchStrategy[Command]:
    """Any custody command but a registration, with values from the small pools."""
    holders = st.sampled_from(HOLDERS).map(lambda h: Holder(id=h[0], name=h[1]))
    assign = st.builds(lambda h, at: AssignHolder(holder=h, effective_at=at), holders, instants())
    release = st.builds(lambda at: ReleaseHolder(effective_at=at), instants())
    return st.one_of(
        assign,
        assign,
        release,
        release,
        st.builds(
            lambda h, at: RenameHandle(handle=h, effective_at=at),
            st.sampled_from(HANDLES),
            instants(),
        ),
        st.builds(
            lambda n, at: ArchiveHistory(
                archive=Archive(ref=f"nara-{n}", items=n), effective_at=at
            ),
            st.integers(0, 99),
            instants(),
        ),
        st.builds(
            lambda o, at: TransferOffice(office=o, effective_at=at),
            st.sampled_from(OFFICES),
            instants(),
        ),
        st.builds(lambda at: CloseAccount(effective_at=at), instants()),
        st.builds(
            lambda v, at: RetractEvent(event_version=v, effective_at=at),
            st.integers(1, 4),
            instants(),
        ),
    )


@st.composite
def command_steps(draw: st.DrawFn, max_steps: int = 25, max_accounts: int = 3) -> list[Step]:
    """A random history: a registration first, then commands (and further registrations)."""
    steps = [Step(0, draw(registrations()))]
    opened = 1
    for _ in range(draw(st.integers(0, max_steps - 1))):
        if opened < max_accounts and draw(st.integers(0, 5)) == 0:
            steps.append(Step(opened, draw(registrations())))
            opened += 1
        else:
            steps.append(Step(draw(st.integers(0, max_accounts - 1)), draw(account_commands())))
    return steps


REFUSALS: tuple[type[LedgerError], ...] = (
    RuleViolation,
    HandleTaken,
    PlatformAccountIdTaken,
    AccountNotFound,
)
"""What a valid command may be refused with; anything else (StoreUnavailable...) propagates."""


@dataclass(frozen=True)
class Sent:
    """One command as it was sent (slot and retraction target resolved) and what came back."""

    account_id: UUID | None  # None for a registration
    command: Command
    outcome: EventRecord | LedgerError


@dataclass
class Applied:
    """What `run_steps` did: accounts opened (in slot order), records written, steps refused,
    and every command sent, in order."""

    account_ids: list[UUID] = field(default_factory=list)
    records: list[EventRecord] = field(default_factory=list)
    refused: list[tuple[Step, LedgerError]] = field(default_factory=list)
    log: list[Sent] = field(default_factory=list)


def run_steps(
    ledger: CustodyLedger,
    steps: list[Step],
    *,
    batch: Batch | None = None,
    actor: str = "records-office",
    verify_refusals: bool = True,
    after_write: Callable[[], object] | None = None,
    continuing: Applied | None = None,
) -> Applied:
    """Apply `steps` in order, skipping refused commands (with `verify_refusals`, each refusal
    is checked to have written nothing to the log); `after_write` is called after each write.
    Given a `batch` (from `ledger.batch()`), the steps are staged in it. `continuing` is an earlier run whose
    accounts the steps' slots address too (what is returned covers both runs)."""
    out = Applied()
    if continuing is not None:
        out.account_ids = list(continuing.account_ids)
        out.records = list(continuing.records)
        out.refused = list(continuing.refused)
        out.log = list(continuing.log)
    versions: dict[UUID, int] = {r.account_id: r.version for r in out.records}
    for step in steps:
        command = step.command
        account_id: UUID | None = None
        if not isinstance(command, RegisterAccount):
            if not out.account_ids:
                continue
            account_id = out.account_ids[step.slot % len(out.account_ids)]
            if isinstance(command, RetractEvent):
                latest = versions[account_id]
                target = latest - (command.event_version - 1) % latest
                command = replace_command(command, event_version=target)
        head = ledger.head() if verify_refusals else 0
        try:
            if account_id is None:
                record = ledger.register_account(command, actor=actor, batch=batch)  # type: ignore[arg-type]
                out.account_ids.append(record.account_id)
            else:
                record = ledger.append(account_id, command, actor=actor, batch=batch)  # type: ignore[arg-type]
        except REFUSALS as e:
            if verify_refusals:
                assert ledger.head() == head, f"refused {step} but the log moved"
            out.refused.append((step, e))
            out.log.append(Sent(account_id, command, e))
            continue
        versions[record.account_id] = record.version
        if after_write is not None:
            after_write()
        out.records.append(record)
        out.log.append(Sent(account_id, command, record))
    return out


def apply_steps(
    ledger: CustodyLedger, steps: list[Step], *, actor: str = "records-office"
) -> list[UUID]:
    """Apply `steps`, skipping refused commands; return the ids of the accounts opened."""
    return run_steps(ledger, steps, actor=actor).account_ids


def replace_command(command: Command, **changes: Any) -> Command:
    """A copy of a frozen command with some fields changed (validated again)."""
    return type(command)(**{**dict(command), **changes})


__all__ = [
    "BASE",
    "Applied",
    "Sent",
    "Step",
    "account_commands",
    "apply_steps",
    "command_steps",
    "fact_lists",
    "instants",
    "registrations",
    "replace_command",
    "run_steps",
]

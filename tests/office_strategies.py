"""Hypothesis strategies for offices and the accounts that speak for them: small histories that
the oversight answers (tenures, handovers, findings) are checked on.

A history is a list of `Op`s: commands for an office slot (a key of `KEYS`) or for an account
slot, fed to a `CustodyLedger` by `run_history`, which skips what the ledger refuses. Values come
from small pools so that the findings happen: three people who hold offices and own accounts
(the owner often holds the office), five handles to rename to (one freed by an office's
account is soon taken by another), a grid of days around the 2016 ISPR handover whose steps
straddle the 30-day windows, one office key accounts name but nobody registers, and
retractions (of registrations too).

Office keys, jurisdictions and platforms are placeholders until `run_history` puts them in
a `Scope`: each example gets keys, jurisdictions and platforms of its own, so examples sharing
one store never see each other's offices or handles.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from uuid import UUID

from hypothesis import strategies as st

from ledger.application import CustodyLedger
from ledger.batch import Batch
from ledger.commands import (
    AssignHolder,
    ChangeOwnership,
    CloseAccount,
    Command,
    EndOfficialUse,
    Holder,
    ObserveAudience,
    RegisterAccount,
    RegisterOffice,
    ReleaseHolder,
    RenameHandle,
    RetractEvent,
    StartOfficialUse,
    TransferOffice,
)
from ledger.domain import office_id
from ledger.errors import Conflict, NotFound, RuleViolation
from ledger.oversight import KINDS
from tests.strategies import replace_command

BASE = datetime(2016, 12, 25, tzinfo=UTC)
"""The day Asif Ghafoor took charge as DG ISPR: the centre of every generated history."""

KEYS = ("ispr", "cm", "pm", "coas")
"""Office slots; the last is named by accounts but never registered."""
NAMED = (*KEYS[:1] * 3, *KEYS[1:])  # what accounts name: mostly the office always registered
JURISDICTIONS = ("PK", "PK-PB", "PK-IS")
PEOPLE = (
    ("asim-saleem-bajwa", "Asim Saleem Bajwa"),
    ("asif-ghafoor", "Asif Ghafoor"),
    ("shahbaz-sharif", "Shahbaz Sharif"),
)
HANDLES = ("ISPR_Official", "OfficialDGISPR", "CMShehbaz", "AsimBajwaISPR")
"""What accounts are registered with (account i with `HANDLES[i % 4]`, or a spare)."""
RENAMES = (*HANDLES, "ispr_official")
"""What accounts are renamed to: few, one differing from another only in case, so that a
handle one account frees is soon taken by another."""
SPARE_HANDLES = ("DGISPR", "PMShehbaz", "ShehbazSharif", "BajwaAsim", "ISPR")
"""Account i's other handle to register with, so that most registrations go through."""
# Days from BASE: ties at 0, and steps of 29, 30, 31 days (the audience window and the grace).
DAYS = (-31, -30, -1, 0, 0, 0, 1, 29, 30, 31, 61, 400)
STARTS = (-400, -40, -40, 0, 30)  # when offices and accounts are registered

RETRACTED = st.sampled_from((1, 1, 1, 2, 3))
"""A retraction's target, counting back from the stream's latest event (1: the latest)."""

REFUSALS = (RuleViolation, NotFound, Conflict)
"""What the ledger may refuse a generated command with (an office not registered, a handle
taken, a premise that does not hold...); anything else propagates."""


def day(n: int) -> datetime:
    return BASE + timedelta(days=n)


@dataclass(frozen=True)
class Op:
    """One command: for the office `KEYS[slot]` when `office`, else for the account in `slot`
    (modulo the accounts opened so far; a registration opens the next). A `RetractEvent`'s
    `event_version` counts back from the stream's version then (1: its latest event)."""

    office: bool
    slot: int
    command: Command


@dataclass(frozen=True)
class Scope:
    """One example's names: office keys `prefix + KEYS[i]`, jurisdictions, platforms.

    Prefixes count up, so an example's offices sort after those of every earlier example in
    the same store: a listing resumed at `start` lists this example's offices and nothing
    else. Jurisdictions are the example's own too (the country's code repeats every 676
    examples; its subdivisions' codes do not, for 24,336)."""

    n: int

    @property
    def prefix(self) -> str:
        return f"o{self.n:05d}-"

    def platform(self, placeholder: str) -> str:
        """`x` and `y` as the example's two platforms."""
        return f"{placeholder}{self.n}"

    @property
    def start(self) -> str:
        """A listing's cursor just before this example's first office (a key no office has,
        sorting before theirs)."""
        return f"{self.prefix}/0/{KINDS[0]}/{'0' * 32}"

    def key(self, slot_key: str) -> str:
        return self.prefix + slot_key

    @property
    def keys(self) -> tuple[str, ...]:
        return tuple(self.key(k) for k in KEYS)

    def mine(self, office: str) -> bool:
        return office.startswith(self.prefix)

    def jurisdiction(self, placeholder: str) -> str:
        """`PK` as the example's country, `PK-PB` as one of its subdivisions."""
        letters = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
        digits = "0123456789" + letters
        country = letters[self.n // 26 % 26] + letters[self.n % 26]
        if "-" not in placeholder:
            return country
        return f"{country}-{placeholder[3:5]}{digits[self.n // 676 % 36]}"

    @property
    def jurisdictions(self) -> tuple[str, ...]:
        return tuple(self.jurisdiction(j) for j in JURISDICTIONS)


_scopes = itertools.count()


def new_scope() -> Scope:
    return Scope(next(_scopes))


@dataclass
class Ran:
    """What `run_history` wrote: account ids in slot order, office streams by key, how many
    commands were refused."""

    accounts: list[UUID] = field(default_factory=list)
    offices: dict[str, UUID] = field(default_factory=dict)
    refused: int = 0

    @property
    def streams(self) -> list[UUID]:
        return [*self.offices.values(), *self.accounts]


def people() -> st.SearchStrategy[Holder]:
    """Mostly the first two: the owner of an account often holds, or held, the office."""
    return st.sampled_from((*PEOPLE[:2], *PEOPLE)).map(lambda p: Holder(id=p[0], name=p[1]))


def days() -> st.SearchStrategy[datetime]:
    return st.sampled_from(DAYS).map(day)


@st.composite
def office_opening(draw: st.DrawFn, slot: int) -> list[Op]:
    """The office's registration, and often its first holder from then on."""
    at = day(draw(st.sampled_from(STARTS)))
    key = KEYS[slot]
    jurisdiction = draw(st.sampled_from(JURISDICTIONS))
    ops = [Op(True, slot, RegisterOffice(office=key, name=f"Office {key}",
                                         jurisdiction=jurisdiction, effective_at=at))]  # fmt: skip
    if draw(st.booleans()):
        ops.append(Op(True, slot, AssignHolder(holder=draw(people()), effective_at=at)))
    return ops


@st.composite
def account_opening(draw: st.DrawFn, i: int) -> list[Op]:
    """The i-th account's registration (owned by an office, or personal), and often its
    first holder (a personal account's, its owner) from then on."""
    handle = draw(st.sampled_from((HANDLES[i % 4], SPARE_HANDLES[i % len(SPARE_HANDLES)])))
    at = day(draw(st.sampled_from(STARTS)))
    owner = draw(people())
    platform = draw(st.sampled_from(("x", "x", "x", "y")))
    if draw(st.booleans()):
        office = draw(st.sampled_from(NAMED))
        command = RegisterAccount(platform=platform, handle=handle, office=office, effective_at=at)
        holder = draw(people())
    else:
        command = RegisterAccount(
            platform=platform,
            handle=handle,
            ownership="personal",
            owner=owner,
            office=draw(st.sampled_from(NAMED)),
            effective_at=at,
        )
        holder = owner
    ops = [Op(False, 0, command)]
    if draw(st.booleans()):  # slot -1: the account opened last
        ops.append(Op(False, -1, AssignHolder(holder=holder, effective_at=at)))
    return ops


def office_commands() -> st.SearchStrategy[Command]:
    return st.one_of(
        st.builds(lambda h, at: AssignHolder(holder=h, effective_at=at), people(), days()),
        st.builds(lambda h, at: AssignHolder(holder=h, effective_at=at), people(), days()),
        st.builds(lambda h, at: AssignHolder(holder=h, effective_at=at), people(), days()),
        st.builds(lambda at: ReleaseHolder(effective_at=at), days()),
        st.builds(lambda at: ReleaseHolder(effective_at=at), days()),
        st.builds(lambda v, at: RetractEvent(event_version=v, effective_at=at), RETRACTED, days()),
    )


def account_commands() -> st.SearchStrategy[Command]:
    keys = st.sampled_from(NAMED)
    assign = st.builds(lambda h, at: AssignHolder(holder=h, effective_at=at), people(), days())
    to_office = st.builds(
        lambda o, at: ChangeOwnership(ownership="office", office=o, effective_at=at), keys, days()
    )
    to_person = st.builds(
        lambda p, o, at: ChangeOwnership(ownership="personal", owner=p, office=o, effective_at=at),
        people(),
        st.sampled_from((None, *NAMED)),
        days(),
    )
    return st.one_of(
        assign,
        assign,
        st.builds(lambda at: ReleaseHolder(effective_at=at), days()),
        st.builds(lambda o, at: StartOfficialUse(office=o, effective_at=at), keys, days()),
        st.builds(lambda o, at: StartOfficialUse(office=o, effective_at=at), keys, days()),
        st.builds(lambda at: EndOfficialUse(effective_at=at), days()),
        to_office,
        to_person,
        st.builds(
            lambda n, at: ObserveAudience(followers=n, effective_at=at),
            st.sampled_from((0, 17_000, 3_050_000)),
            days(),
        ),
        st.builds(
            lambda n, at: ObserveAudience(followers=n, effective_at=at),
            st.integers(0, 10**6),
            days(),
        ),
        st.builds(
            lambda h, at: RenameHandle(handle=h, effective_at=at), st.sampled_from(RENAMES), days()
        ),
        st.builds(
            lambda h, at: RenameHandle(handle=h, effective_at=at), st.sampled_from(RENAMES), days()
        ),
        st.builds(lambda o, at: TransferOffice(office=o, effective_at=at), keys, days()),
        st.builds(lambda v, at: RetractEvent(event_version=v, effective_at=at), RETRACTED, days()),
        st.builds(lambda at: CloseAccount(effective_at=at), days()),
    )


@st.composite
def office_histories(draw: st.DrawFn, max_ops: int = 24, max_accounts: int = 5) -> list[Op]:
    """1-3 offices and 2-5 accounts, their registrations among the other commands (an office
    may be registered after accounts name it); then holders, releases, ownership changes,
    official use, audience observations, renames and retractions at random days."""
    # The first office always, the others or not, in any order.
    registered = draw(st.permutations([0, *draw(st.sets(st.sampled_from((1, 2))))]))
    offices = [draw(office_opening(slot)) for slot in registered]
    accounts = [draw(account_opening(i)) for i in range(draw(st.integers(2, max_accounts)))]
    others = [
        Op(True, draw(st.sampled_from((0, *registered))), draw(office_commands()))
        if draw(st.integers(0, 4)) < 2
        else Op(False, draw(st.integers(0, max_accounts - 1)), draw(account_commands()))
        for _ in range(draw(st.integers(0, max_ops)))
    ]
    # An account first (someone names an office); the other openings each at a drawn place,
    # mostly early, sometimes late (an office may be registered after accounts name it).
    ops = [*accounts[0], *others]
    first = len(accounts[0])
    for opening in [*accounts[1:], *offices]:  # offices last: they go in earliest
        late = draw(st.integers(0, 3)) == 0
        at = draw(st.integers(first, len(ops) if late else min(first + 2, len(ops))))
        ops[at:at] = opening
    return ops


@st.composite
def own_account_histories(draw: st.DrawFn, max_ops: int = 40) -> list[Op]:
    """An office (registered, often with a holder) and its own account first; then 1-2 other
    accounts (whose handles the own account may take, or which take its handles); then many
    events, most of them to the own account, at random days around the others, so most land
    between earlier ones: holders, observations, renames, the office's holders now and then,
    and sometimes what makes the account more than its office's own (a transfer, official
    use, an ownership change, a closure, a retraction) or a command to another account.
    Now and then the office is registered only later in record time, or never (an account
    recorded before offices were), and the commands to it before then are refused."""
    mine = RegisterAccount(
        platform="x",
        handle=HANDLES[0],
        office=KEYS[0],
        effective_at=day(draw(st.sampled_from(STARTS))),
    )
    opening = draw(office_opening(0))
    registered = draw(st.sampled_from(("first", "first", "first", "later", "never")))
    ops = [*(opening if registered == "first" else ()), Op(False, 0, mine)]
    for i in range(1, draw(st.integers(2, 3))):
        ops += draw(account_opening(i))
    plain = st.one_of(
        st.builds(lambda h, at: AssignHolder(holder=h, effective_at=at), people(), days()),
        st.builds(
            lambda n, at: ObserveAudience(followers=n, effective_at=at), st.integers(0, 99), days()
        ),
        st.builds(
            lambda h, at: RenameHandle(handle=h, effective_at=at), st.sampled_from(RENAMES), days()
        ),
    )
    # Mostly handles of its own (nobody else renames to them), sometimes the shared ones.
    own_handles = st.sampled_from(("ISPR_Own", "ispr_own", "ISPR_Own2", *RENAMES[:2]))
    mine_only = st.one_of(
        plain,
        st.builds(lambda h, at: RenameHandle(handle=h, effective_at=at), own_handles, days()),
    )
    for _ in range(draw(st.integers(0, max_ops))):
        turn = draw(st.integers(0, 39))
        if turn < 27:
            ops.append(Op(False, 0, draw(mine_only)))
        elif turn < 33:
            ops.append(Op(True, 0, draw(office_commands())))
        elif turn < 38:  # another account: often a rename, to take the own account's handles
            other = draw(st.one_of(plain, account_commands()))
            ops.append(Op(False, draw(st.integers(1, 2)), other))
        else:
            ops.append(Op(False, 0, draw(account_commands())))
    if registered == "later":
        at = draw(st.integers(1, len(ops)))
        ops[at:at] = opening
    return ops


def _scoped(command: Command, scope: Scope) -> Command:
    changes: dict[str, object] = {}
    if isinstance(command, RegisterAccount):
        changes["platform"] = scope.platform(command.platform)
    office = getattr(command, "office", None)
    if office is not None:
        changes["office"] = scope.key(office)
    if isinstance(command, RegisterOffice):
        changes["jurisdiction"] = scope.jurisdiction(command.jurisdiction)
    return replace_command(command, **changes) if changes else command


def run_history(
    ledger: CustodyLedger,
    ops: list[Op],
    scope: Scope,
    *,
    after_write: Callable[[], object] | None = None,
    batch: Batch | None = None,
) -> Ran:
    """Apply `ops` under `scope`'s names, in order, skipping the commands the ledger refuses;
    `after_write` is called after each write. Given a `batch`, the commands are staged in it."""
    ran = Ran()
    actor = "records-office"
    versions: dict[UUID, int] = {}
    for op in ops:
        command = _scoped(op.command, scope)
        try:
            if op.office:
                key = scope.key(KEYS[op.slot])
                stream = office_id(key)
                if isinstance(command, RegisterOffice):
                    record = ledger.register_office(command, actor=actor, batch=batch)
                    ran.offices[key] = stream
                else:
                    if isinstance(command, RetractEvent) and stream in versions:
                        command = _back(command, versions[stream])
                    record = ledger.append_office(key, command, actor=actor, batch=batch)  # type: ignore[arg-type]
            elif isinstance(command, RegisterAccount):
                record = ledger.register_account(command, actor=actor, batch=batch)
                ran.accounts.append(record.account_id)
            else:
                if not ran.accounts:
                    continue
                aid = ran.accounts[op.slot % len(ran.accounts)]
                if isinstance(command, RetractEvent):
                    command = _back(command, versions[aid])
                record = ledger.append(aid, command, actor=actor, batch=batch)  # type: ignore[arg-type]
        except REFUSALS:
            ran.refused += 1
            continue
        versions[record.account_id] = record.version
        if after_write is not None:
            after_write()
    return ran


def _back(command: RetractEvent, latest: int) -> Command:
    """The retraction aimed at a real event: `event_version` counts back from `latest`."""
    return replace_command(command, event_version=latest - (command.event_version - 1) % latest)


__all__ = [
    "BASE",
    "JURISDICTIONS",
    "KEYS",
    "PEOPLE",
    "Op",
    "Ran",
    "Scope",
    "day",
    "new_scope",
    "office_histories",
    "own_account_histories",
    "run_history",
]

"""An import's read-model rows derived in a forked child while the log is written
(`projections.forked`), on the embedded store where it runs: whatever goes wrong around it, the
read models end as projecting in this process would leave them, and nothing is written twice.
"""

from __future__ import annotations

import json
import os
import signal
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from uuid import UUID, uuid4

import pytest

from api.bootstrap import Container, build
from api.transfer import import_file
from ledger import fold
from ledger.application import CustodyLedger
from ledger.batch import Batch
from ledger.commands import AssignHolder, Holder, RegisterAccount, RetractEvent
from ledger.domain import Account, to_fact
from ledger.errors import ConcurrencyConflict
from ledger.settings import Settings
from projections.forked import FORK_EVENTS, Alongside, derived_alongside
from projections.models import MODELS, Pending
from projections.projector import Projector, derive_pending
from projections.rebuild import Rebuilder, digest
from tests.conftest import wait_for_sole_thread

T0 = datetime(2019, 5, 1, tzinfo=UTC)


@pytest.fixture
def url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path}/custody.db"


@pytest.fixture(autouse=True)
def sole_thread() -> None:
    """A child is forked only from a process with no other thread (see `_may_fork`)."""
    wait_for_sole_thread()


@pytest.fixture
def container(url: str) -> Iterator[Container]:
    c = build(Settings(database_url=url))
    yield c
    c.close()


@pytest.fixture
def other(url: str) -> Iterator[Container]:
    """Another process's view of the same store: its own connections, ledger and projector."""
    c = build(Settings(database_url=url))
    yield c
    c.close()


def _register(ledger: CustodyLedger | Batch, handle: str) -> UUID:
    command = RegisterAccount(platform="x", handle=handle, office="office-a", effective_at=T0)
    return ledger.register_account(command, actor="importer").account_id


def _hand_over(ledger: CustodyLedger | Batch, account_id: UUID, k: int) -> None:
    command = AssignHolder(
        holder=Holder(id=f"p{k}", name=f"Person {k}"), effective_at=T0 + timedelta(days=k)
    )
    ledger.append(account_id, command, actor="importer")


def _stage(
    batch: Batch, *, accounts: int = 4, handovers: int = 3, also: UUID | None = None
) -> list[UUID]:
    """Registrations and handovers, as a backfill file holds them; `also` gets handovers too."""
    ids = [_register(batch, f"acct{n}") for n in range(accounts)]
    for k in range(1, handovers + 1):
        for aid in [*ids, *([also] if also else [])]:
            _hand_over(batch, aid, k)
    return ids


@contextmanager
def _forked(
    container: Container, *, also: UUID | None = None
) -> Iterator[tuple[Batch, list[UUID], Alongside]]:
    """A backfill staged as one batch (`_stage`), with its child forked: the block commits it,
    or gets in its way first."""
    with container.ledger.batch() as batch:
        ids = _stage(batch, also=also)
        with derived_alongside(container.projector, batch, fork_events=1) as outcome:
            assert outcome.pid is not None
            yield batch, ids, outcome


def _like_a_rebuild(projector: Projector) -> None:
    """The read models are at the log head and hold exactly what a rebuild from the log holds."""
    assert projector.lag() == 0
    tables = [t for m in MODELS for t in m.tables]
    before = {t.name: digest(projector.db, t) for t in tables}
    Rebuilder(projector).rebuild()
    assert {t.name: digest(projector.db, t) for t in tables} == before


def _holder_now(c: Container, account_id: UUID) -> str | None:
    view = c.queries.account_at(account_id, T0 + timedelta(days=365))
    assert view is not None
    return view.holder.id if view.holder else None


def test_the_childs_rows_are_written_when_nothing_came_between(container: Container) -> None:
    ledger, projector = container.ledger, container.projector
    projector.cache_accounts = 0  # so the child takes `earlier`'s history from the batch
    earlier = _register(ledger, "earlier")
    projector.catch_up()
    with _forked(container, also=earlier) as (batch, ids, outcome):
        batch.commit()
    assert outcome.forked
    assert [_holder_now(container, aid) for aid in [*ids, earlier]] == ["p3"] * 5
    # The event records carry the positions this process's commit gave.
    written = [(r.version, r.position) for r in batch.records if r.account_id == earlier]
    shown = [(e.version, e.position) for e in container.queries.events(earlier)]
    assert shown[1:] == written and len(written) == 3
    _like_a_rebuild(projector)


def test_another_writer_between_the_fork_and_the_commit_sends_the_batch_through_the_projector(
    container: Container, other: Container
) -> None:
    with _forked(container) as (batch, ids, outcome):
        theirs = _register(other.ledger, "theirs")  # lands in the log before the batch
        batch.commit()
    assert not outcome.forked  # the child's rows would have skipped their event
    assert _holder_now(container, ids[0]) == "p3"
    assert container.queries.account_at(theirs, T0) is not None
    _like_a_rebuild(container.projector)


def test_another_projector_applying_the_batch_first_leaves_the_childs_rows_unwritten(
    container: Container, other: Container
) -> None:
    with _forked(container) as (batch, ids, outcome):
        batch.commit()
        assert other.projector.catch_up() == len(batch.records)  # from the log, first
    assert not outcome.forked
    assert _holder_now(container, ids[-1]) == "p3"
    _like_a_rebuild(container.projector)  # and nothing was applied twice


def test_a_child_that_dies_leaves_the_batch_to_the_projector(container: Container) -> None:
    with _forked(container) as (batch, ids, outcome):
        assert outcome.pid is not None
        os.kill(outcome.pid, signal.SIGKILL)
        batch.commit()
    assert not outcome.forked
    with pytest.raises(ChildProcessError):  # reaped: no zombie left behind
        os.waitpid(outcome.pid, os.WNOHANG)
    assert _holder_now(container, ids[1]) == "p3"
    _like_a_rebuild(container.projector)


def test_a_batch_refused_at_commit_stops_its_child_and_writes_nothing(
    container: Container, other: Container
) -> None:
    ledger, projector = container.ledger, container.projector
    shared = _register(ledger, "shared")
    projector.catch_up()
    head = ledger.head()
    with pytest.raises(ConcurrencyConflict), _forked(container, also=shared) as (batch, _, outcome):
        _hand_over(other.ledger, shared, 9)  # the batch's copy of `shared` is now stale
        batch.commit()
    assert outcome.pid is not None
    with pytest.raises(ChildProcessError):  # reaped
        os.waitpid(outcome.pid, os.WNOHANG)
    assert ledger.head() == head + 1  # their handover only
    assert [f.type for f in ledger.facts(shared)] == [fold.REGISTERED, fold.ASSIGNED]
    projector.catch_up()
    assert _holder_now(container, shared) == "p9"
    _like_a_rebuild(projector)


def test_an_import_file_large_enough_is_projected_by_a_child_and_a_small_one_here(
    container: Container, tmp_path: Path
) -> None:
    accounts = FORK_EVENTS // 4 + 1
    lines = [
        {"type": "account_registered", "account_id": str(UUID(int=n + 1, version=4)),
         "platform": "x", "handle": f"bulk{n}", "office": "office-a",
         "effective_at": T0.isoformat()}
        for n in range(accounts)
    ] + [
        {"type": "holder_assigned", "account_id": str(UUID(int=n + 1, version=4)),
         "holder": {"id": f"p{k}", "name": f"Person {k}"},
         "effective_at": (T0 + timedelta(days=k)).isoformat()}
        for k in (1, 2, 3) for n in range(accounts)
    ]  # fmt: skip
    big, small = tmp_path / "big.jsonl", tmp_path / "small.jsonl"
    big.write_text("\n".join(json.dumps(line) for line in lines[: FORK_EVENTS + 4]) + "\n")
    small.write_text("\n".join(json.dumps(line) for line in lines[FORK_EVENTS + 4 :]) + "\n")
    ledger, projector = container.ledger, container.projector
    report = import_file(ledger, big, actor="importer", projector=projector)
    assert report.forked and report.written == FORK_EVENTS + 4
    assert projector.lag() == 0
    report = import_file(ledger, small, actor="importer", projector=projector)
    assert not report.forked and report.written == len(lines) - FORK_EVENTS - 4
    assert _holder_now(container, UUID(int=accounts, version=4)) == "p3"
    _like_a_rebuild(projector)


def test_events_staged_through_the_ledger_inside_the_batch_are_projected_too(
    container: Container,
) -> None:
    """`ledger.batch()` stages whatever is asked of the ledger inside it, not only what goes
    through the batch's own methods: every staged event has its record, and its rows."""
    ledger, projector = container.ledger, container.projector
    with ledger.batch() as batch:
        ids = _stage(batch)
        direct = _register(ledger, "direct")  # through the ledger, not the batch
        _hand_over(ledger, direct, 7)
        with derived_alongside(projector, batch, fork_events=1) as outcome:
            batch.commit()
    assert outcome.forked
    assert {r.account_id for r in batch.records} == {*ids, direct}
    assert _holder_now(container, direct) == "p7"
    _like_a_rebuild(projector)


def test_a_restored_history_with_corrections_is_projected_by_the_child_step_by_step(
    container: Container,
) -> None:
    """A restore keeps each line's record time, so one batch holds several steps of knowledge,
    here with a back-dated handover and a retraction: the child's rows answer "as known then"
    for each of them."""
    ledger, projector = container.ledger, container.projector
    known = [datetime(2020, 3, 1, tzinfo=UTC) + timedelta(hours=h) for h in range(6)]
    with ledger.batch() as batch:
        register = RegisterAccount(
            platform="x", handle="restored", office="office-a", effective_at=T0
        )
        aid = batch.register_account(
            register, actor="archivist", account_id=uuid4(), recorded_at=known[0]
        ).account_id
        for k, days, at in ((1, 1, known[1]), (2, 5, known[2]), (3, 3, known[3])):
            command = AssignHolder(
                holder=Holder(id=f"p{k}", name=f"Person {k}"),
                effective_at=T0 + timedelta(days=days),
            )
            batch.append(aid, command, actor="archivist", recorded_at=at)
        retract = RetractEvent(event_version=3, effective_at=T0 + timedelta(days=5))
        batch.append(aid, retract, actor="archivist", recorded_at=known[4])
        _stage(batch, accounts=300)  # enough to fork for; recorded now
        with derived_alongside(projector, batch, fork_events=1) as outcome:
            batch.commit()
    assert outcome.forked
    at = T0 + timedelta(days=6)
    holders = []
    for when in (known[2], known[3], known[4]):
        view = container.queries.account_at(aid, at, when)
        holders.append(view.holder.id if view and view.holder else None)
    assert holders == ["p2", "p2", "p3"]  # p2 until its assignment was retracted
    facts = ledger.facts(aid)
    for as_of in (*known, None):
        want = fold.fold(facts, at, as_of)
        view = container.queries.account_at(aid, at, as_of)
        assert (view.holder.id if view and view.holder else None) == (
            want.holder.id if want and want.holder else None
        )
    _like_a_rebuild(projector)


def test_ctrl_c_reaching_the_child_does_not_stop_it(container: Container) -> None:
    """Ctrl-C goes to the whole process group; the child ignores it (the parent decides)."""
    with _forked(container) as (batch, ids, outcome):
        assert outcome.pid is not None
        os.kill(outcome.pid, signal.SIGINT)
        batch.commit()
    assert outcome.forked
    assert _holder_now(container, ids[0]) == "p3"
    _like_a_rebuild(container.projector)


def test_rows_that_stop_coming_part_way_are_not_written_at_all(container: Container) -> None:
    """The rows are written model by model in one transaction: rows that break off, leave a
    model out or give one twice write nothing."""
    ledger, projector = container.ledger, container.projector
    projector.catch_up()
    tracked = projector.positions()
    head = ledger.head()
    _hand_over(ledger, _register(ledger, "acct"), 1)  # in the log, not yet projected
    decoded = _facts_after(ledger, head)
    pending = list(derive_pending(projector.models, projector.changes(decoded), tracked))
    tables = [t for m in MODELS for t in m.tables]
    empty = {t.name: digest(projector.db, t) for t in tables}

    def broken() -> Iterator[tuple[str, Pending]]:
        yield from pending[:3]
        raise EOFError("the child ended before sending every model's rows")

    with pytest.raises(EOFError):
        projector.write(tracked, ledger.head(), broken())
    for rows in (pending[:-1], [*pending, pending[0]]):
        with pytest.raises(ValueError, match=r"every read model|again"):
            projector.write(tracked, ledger.head(), rows)
    assert projector.positions() == tracked
    assert {t.name: digest(projector.db, t) for t in tables} == empty
    assert projector.write(tracked, ledger.head(), pending)
    assert projector.lag() == 0
    _like_a_rebuild(projector)


def _facts_after(ledger: CustodyLedger, head: int) -> list[tuple[int, UUID, fold.Fact]]:
    """The custody facts the log holds after `head`, with their positions, in log order."""
    notes = ledger.recorder.select_notifications(start=head, limit=100, inclusive_of_start=False)
    out = []
    for note in notes:
        event = ledger.mapper.to_domain_event(note)
        if isinstance(event, Account.Recorded):
            out.append((note.id, event.originator_id, to_fact(event)))
    return out

"""Racing writers on PostgreSQL: each thread is its own ledger node (own pool, own cache).

Every race starts its threads together at a barrier; each test checks who won, what the losers
were told, and what the log holds afterwards.
"""

from __future__ import annotations

import multiprocessing
import threading
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any, TypeVar
from uuid import UUID

import pytest

from ledger.application import CustodyLedger
from ledger.commands import (
    Archive,
    ArchiveHistory,
    AssignHolder,
    Holder,
    RegisterAccount,
    ReleaseHolder,
    RenameHandle,
    RetractEvent,
)
from ledger.errors import (
    ConcurrencyConflict,
    HandleTaken,
    LedgerError,
    NoHolder,
    PlatformAccountIdTaken,
    StaleVersion,
)
from ledger.records import EventRecord
from ledger.settings import Settings
from tests.stories import ACTOR, INAUGURATION_2017, LATER, OPENED, register

pytestmark = pytest.mark.postgres

N = 6
T = TypeVar("T")


@pytest.fixture
def nodes(pg_url: str) -> Iterator[list[CustodyLedger]]:
    """N + 1 ledgers on one PostgreSQL schema, like separate API nodes (built one at a time)."""
    built = [
        CustodyLedger(Settings(database_url=pg_url, pool_size=2).store().env) for _ in range(N + 1)
    ]
    yield built
    for ledger in built:
        ledger.close()


def race(calls: Sequence[Callable[[], T]]) -> list[T | LedgerError]:
    """Run the calls in threads released together; each outcome is a result or a LedgerError."""
    barrier = threading.Barrier(len(calls), timeout=10)

    def run(call: Callable[[], T]) -> T | LedgerError:
        barrier.wait()
        try:
            return call()
        except LedgerError as e:
            return e

    with ThreadPoolExecutor(len(calls)) as pool:
        return list(pool.map(run, calls))


def kinds(outcomes: Sequence[object]) -> Counter[str]:
    return Counter(type(o).__name__ for o in outcomes)


def archive(n: int) -> ArchiveHistory:
    return ArchiveHistory(archive=Archive(ref=f"nara:batch-{n}"), effective_at=INAUGURATION_2017)


def obama(at: datetime = OPENED) -> AssignHolder:
    return AssignHolder(holder=Holder(id="obama", name="Barack Obama"), effective_at=at)


def test_of_n_writers_expecting_the_same_version_exactly_one_succeeds(
    nodes: list[CustodyLedger],
) -> None:
    setup, *racers = nodes
    potus = register(setup, "@POTUS").account_id
    setup.append(potus, obama(), actor=ACTOR)
    head = setup.head()
    outcomes = race(
        [
            partial(node.append, potus, archive(n), actor=ACTOR, expected_version=2)
            for n, node in enumerate(racers)
        ]
    )
    assert kinds(outcomes) == {"EventRecord": 1, "StaleVersion": N - 1}
    [winner] = [o for o in outcomes if isinstance(o, EventRecord)]
    assert winner.version == 3
    assert all(o.actual == 3 for o in outcomes if isinstance(o, StaleVersion))
    assert [f.version for f in setup.facts(potus)] == [1, 2, 3]
    assert setup.records(potus)[-1] == winner
    assert setup.head() == head + 1


def test_n_writers_without_an_expected_version_all_append_with_no_gap_or_duplicate(
    nodes: list[CustodyLedger],
) -> None:
    setup, *racers = nodes
    potus = register(setup, "@POTUS").account_id
    outcomes = race(
        [partial(node.append, potus, archive(n), actor=ACTOR) for n, node in enumerate(racers)]
    )
    assert kinds(outcomes) == {"EventRecord": N}
    records = [o for o in outcomes if isinstance(o, EventRecord)]
    assert sorted(r.version for r in records) == list(range(2, N + 2))
    assert len({r.position for r in records}) == N
    stored = setup.records(potus)
    assert [r.version for r in stored] == list(range(1, N + 2))
    assert sorted(r.data["archive"]["ref"] for r in stored[1:]) == sorted(
        f"nara:batch-{n}" for n in range(N)
    )
    assert [r.position for r in stored] == sorted(r.position for r in stored)  # type: ignore[type-var]
    assert [r.recorded_at for r in stored] == sorted(r.recorded_at for r in stored)


def test_accounts_racing_to_rename_onto_one_handle_at_overlapping_times_leave_one_winner(
    nodes: list[CustodyLedger],
) -> None:
    setup, *racers = nodes
    accounts = [register(setup, f"@Candidate{n}").account_id for n in range(N)]
    outcomes = race(
        [
            partial(
                node.append,
                account,
                RenameHandle(
                    handle="@POTUS", effective_at=datetime(2017 + n, 1, 20, 17, tzinfo=UTC)
                ),
                actor=ACTOR,
            )
            for n, (node, account) in enumerate(zip(racers, accounts, strict=True))
        ]
    )
    assert kinds(outcomes) == {"EventRecord": 1, "HandleTaken": N - 1}
    [winner] = [o for o in outcomes if isinstance(o, EventRecord)]
    assert all(
        o.holder_account == winner.account_id for o in outcomes if isinstance(o, HandleTaken)
    )
    carriers = [a for a in accounts if setup.state(a, LATER).handle == "POTUS"]  # type: ignore[union-attr]
    assert carriers == [winner.account_id]
    assert [len(setup.facts(a)) for a in accounts] == [
        2 if a == winner.account_id else 1 for a in accounts
    ]


def test_registrations_racing_for_one_handle_or_platform_account_id_leave_one_account(
    nodes: list[CustodyLedger],
) -> None:
    racers = nodes[1:]
    same_handle = race([partial(register, node, "@POTUS") for node in racers])
    assert kinds(same_handle) == {"EventRecord": 1, "HandleTaken": N - 1}
    same_id = race(
        [
            partial(register, node, f"@Potus{n}", platform_account_id="822215679726100480")
            for n, node in enumerate(racers)
        ]
    )
    assert kinds(same_id) == {"EventRecord": 1, "PlatformAccountIdTaken": N - 1}
    [winner] = [o for o in same_id if isinstance(o, EventRecord)]
    assert all(
        o.account_id == winner.account_id for o in same_id if isinstance(o, PlatformAccountIdTaken)
    )


def test_one_idempotency_key_sent_from_many_nodes_writes_one_event_and_all_get_its_record(
    nodes: list[CustodyLedger],
) -> None:
    setup, *racers = nodes
    potus = register(setup, "@POTUS").account_id
    head = setup.head()
    outcomes = race(
        [
            partial(node.append, potus, archive(0), actor=ACTOR, idempotency_key="k")
            for node in racers
        ]
    )
    records = [o for o in outcomes if isinstance(o, EventRecord)]
    assert len(records) == N, outcomes
    assert {(r.account_id, r.version, r.position) for r in records} == {
        (potus, 2, records[0].position)
    }
    assert sorted(r.replayed for r in records) == [False] + [True] * (N - 1)
    assert [f.version for f in setup.facts(potus)] == [1, 2]
    assert setup.head() == head + 2  # the custody event and the ledger's note of its key


def test_a_registration_retried_while_the_first_attempt_commits_replays_it(
    nodes: list[CustodyLedger], pg_url: str
) -> None:
    first = nodes[0]
    command = RegisterAccount(
        platform="x", handle="@POTUS", office="us-president", effective_at=OPENED
    )
    original: list[EventRecord] = []

    def clock() -> datetime:
        """The retrying node reads its clock just after its idempotency look-up: the first
        attempt commits on another node at that moment."""
        if not original:
            original.append(first.register_account(command, actor=ACTOR, idempotency_key="k"))
        return datetime.now(UTC)

    retrying = CustodyLedger(Settings(database_url=pg_url).store().env, clock=clock)
    try:
        retry = retrying.register_account(command, actor=ACTOR, idempotency_key="k")
    finally:
        retrying.close()
    assert (retry.account_id, retry.replayed) == (original[0].account_id, True)


# -- a node deciding on what it cached, after another node wrote ---------------------------------
# Settings turn the cache's fast-forward off, so a node reuses the aggregate it last saw. A lost
# race on a write is retried from the store, and a refusal is confirmed on state read afresh.


def test_a_node_that_cached_an_old_version_accepts_the_current_expected_version(
    nodes: list[CustodyLedger],
) -> None:
    first, second = nodes[0], nodes[1]
    potus = register(first, "@POTUS").account_id  # `first` caches the account at version 1
    second.append(potus, obama(), actor=ACTOR)  # the stream moves to version 2 elsewhere
    record = first.append(potus, ReleaseHolder(effective_at=LATER), actor=ACTOR, expected_version=2)
    assert record.version == 3


def test_a_node_that_cached_an_unheld_account_lets_the_new_holder_be_released(
    nodes: list[CustodyLedger],
) -> None:
    first, second = nodes[0], nodes[1]
    potus = register(first, "@POTUS").account_id
    second.append(potus, obama(), actor=ACTOR)
    with_holder = second.state(potus, LATER)
    assert with_holder is not None and with_holder.holder is not None
    try:
        first.append(potus, ReleaseHolder(effective_at=LATER), actor=ACTOR)
    except NoHolder as e:
        pytest.fail(f"refused on a stale copy: {e}")


def test_a_node_that_cached_a_handle_claim_sees_it_freed_by_another_node(
    nodes: list[CustodyLedger],
) -> None:
    first, second = nodes[0], nodes[1]
    potus = register(first, "@POTUS").account_id  # `first` caches the @potus claim
    second.append(
        potus, RenameHandle(handle="@POTUS44", effective_at=INAUGURATION_2017), actor=ACTOR
    )
    command = RegisterAccount(
        platform="x", handle="@POTUS", office="us-president", effective_at=INAUGURATION_2017
    )
    try:
        first.register_account(command, actor=ACTOR)
    except HandleTaken as e:
        pytest.fail(f"refused on a stale copy: {e}")


def test_a_node_that_cached_a_platform_id_claim_sees_it_freed_by_another_node(
    nodes: list[CustodyLedger],
) -> None:
    first, second = nodes[0], nodes[1]
    potus = register(first, "@POTUS", platform_account_id="822215679726100480").account_id
    second.append(potus, RetractEvent(event_version=1, effective_at=LATER), actor=ACTOR)
    try:
        register(first, "@POTUS", platform_account_id="822215679726100480")
    except PlatformAccountIdTaken as e:
        pytest.fail(f"refused on a stale copy: {e}")


def test_a_stale_expected_version_is_still_refused_after_the_fresh_look(
    nodes: list[CustodyLedger],
) -> None:
    first, second = nodes[0], nodes[1]
    potus: UUID = register(first, "@POTUS").account_id
    second.append(potus, obama(), actor=ACTOR)
    with pytest.raises(StaleVersion) as refused:
        first.append(potus, ReleaseHolder(effective_at=LATER), actor=ACTOR, expected_version=1)
    assert (refused.value.expected, refused.value.actual) == (1, 2)
    assert [f.version for f in second.facts(potus)] == [1, 2]


def _start_node(url: str, barrier: Any, results: Any) -> None:
    """One process building the whole container (log, read models, access) on a fresh schema."""
    from api.bootstrap import build

    barrier.wait(timeout=60)
    try:
        build(Settings(database_url=url)).close()
        results.put("ok")
    except Exception as e:  # reported to the test
        results.put(f"{type(e).__name__}: {e}")


def test_a_batch_refuses_an_account_written_after_it_began_and_writes_nothing(
    pg_url: str, nodes: list[CustodyLedger]
) -> None:
    """One batch, one record time: an account another node wrote after the batch began (its
    clock ahead, so the write is surely later) is a conflict, not a reason to stamp part of
    the batch later."""
    importer, setup = nodes[0], nodes[1]  # the importer has cached nothing: it reads fresh
    ahead = CustodyLedger(
        Settings(database_url=pg_url, pool_size=2).store().env,
        clock=lambda: datetime.now(UTC) + timedelta(hours=1),
    )
    try:
        potus = register(setup, "@POTUS").account_id
        wh = register(setup, "@WhiteHouse").account_id
        head = importer.head()
        with (
            pytest.raises(ConcurrencyConflict, match="after this batch began"),
            importer.batch() as batch,
        ):
            ahead.append(potus, obama(), actor=ACTOR)
            importer.append(wh, obama(), actor=ACTOR, batch=batch)
            importer.append(potus, archive(1), actor=ACTOR, batch=batch)
        assert importer.head() == head + 1  # the other node's event only
        assert [f.version for f in importer.facts(wh)] == [1]
        with importer.batch() as batch:  # run again: the batch now begins after that write
            importer.append(wh, obama(), actor=ACTOR, batch=batch)
        assert [f.version for f in importer.facts(wh)] == [1, 2]
    finally:
        ahead.close()


def test_processes_starting_together_on_a_fresh_database_all_start(pg_url: str) -> None:
    """API worker processes and nodes start at once: creating types, tables and functions
    concurrently must not fail any of them (it did: duplicate pg_type keys, "tuple concurrently
    updated" on CREATE OR REPLACE FUNCTION)."""
    context = multiprocessing.get_context("spawn")
    n = 4
    barrier, results = context.Barrier(n), context.Queue()
    processes = [
        context.Process(target=_start_node, args=(pg_url, barrier, results)) for _ in range(n)
    ]
    for p in processes:
        p.start()
    outcomes = [results.get(timeout=120) for _ in processes]
    for p in processes:
        p.join(timeout=30)
    assert outcomes == ["ok"] * n

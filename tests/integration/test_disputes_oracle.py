"""The disputes read model against the oracle, on both stores: for generated histories of
disputes (opened, added to, withdrawn, resolved, at record times that repeat and jump), the
disputes an answer lists as open about an account at every record time and every valid-time
point, and the listings, equal what `ledger.dispute_fold` says of each dispute's stream, as
the projector kept them event by event and as a rebuild writes them."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import suppress
from datetime import UTC, datetime, timedelta
from uuid import UUID

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from api.bootstrap import Container, build
from ledger import dispute_fold
from ledger.commands import RegisterAccount
from ledger.dispute_commands import AddEvidence, OpenDispute, Resolve, Withdraw
from ledger.errors import DisputeNotOpen
from ledger.settings import Settings
from projections.rebuild import Rebuilder
from tests.support import HeldClock

START = datetime(2026, 1, 1, tzinfo=UTC)
DAY = timedelta(days=1)
# Valid times the windows are made of, and the points the answers are asked at.
POINTS = [datetime(2020, 1, 1, tzinfo=UTC) + n * 30 * DAY for n in range(8)]

# An operation: ("open", account, window start, window length), ("evidence", dispute),
# ("withdraw", dispute), ("resolve", dispute, outcome), each after a clock step (0: same time).
ops = st.lists(
    st.tuples(
        st.sampled_from([0, 0, 1, 5]),
        st.one_of(
            st.tuples(st.just("open"), st.integers(0, 2), st.integers(0, 6), st.integers(1, 3)),
            st.tuples(st.just("evidence"), st.integers(0, 5)),
            st.tuples(st.just("withdraw"), st.integers(0, 5)),
            st.tuples(
                st.just("resolve"), st.integers(0, 5), st.sampled_from(["upheld", "rejected"])
            ),
        ),
    ),
    min_size=1,
    max_size=14,
)


@pytest.fixture
def container(store_url: str) -> Iterator[tuple[Container, HeldClock]]:
    clock = HeldClock(START)
    c = build(Settings(database_url=store_url), clock=clock)
    yield c, clock
    c.close()


def _accounts(c: Container) -> list[UUID]:
    return [
        c.ledger.register_account(
            RegisterAccount(
                platform="x",
                handle=f"Acct{n}_{c.ledger.head()}",
                office="o",
                effective_at=POINTS[0] - 400 * DAY,
            ),
            actor="clerk",
        ).account_id
        for n in range(3)
    ]


def _run(
    c: Container, clock: HeldClock, history: list[tuple[int, tuple]], accounts: list[UUID]
) -> list[UUID]:  # type: ignore[type-arg]
    disputes: list[UUID] = []
    for step, op in history:
        clock.advance(days=step)
        if op[0] == "open":
            _, a, start, length = op
            body = {
                "subject": {"account_id": str(accounts[a])},
                "window": {"from": POINTS[start].isoformat(),
                           "to": POINTS[min(start + length, 7)].isoformat()},
                "claim": f"claim {len(disputes)}",
            }  # fmt: skip
            disputes.append(
                c.ledger.open_dispute(OpenDispute.parse(body), actor="party").account_id
            )
            continue
        if not disputes:
            continue
        target = disputes[op[1] % len(disputes)]
        command: AddEvidence | Withdraw | Resolve
        if op[0] == "evidence":
            command = AddEvidence.parse({"evidence": [{"url": "https://example.org/e"}]})
        elif op[0] == "withdraw":
            command = Withdraw.parse({})
        else:
            command = Resolve.parse({"outcome": op[2], "ruling": "ruled"})
        # A refused event writes nothing: the oracle reads the streams as written.
        with suppress(DisputeNotOpen):
            c.ledger.append_dispute(target, command, actor="panel")
    return disputes


def _expected(
    c: Container, disputes: list[UUID], account: UUID, at: datetime, known_at: datetime
) -> list[UUID]:
    out = []
    for d in disputes:
        state = dispute_fold.dispute(c.ledger.dispute_facts(d), known_at)
        if (
            state is not None
            and state.status == dispute_fold.OPEN
            and state.subject_account == str(account)
            and state.window_from <= at < state.window_to
        ):
            out.append((state.opened_at, str(d), d))
    return [d for *_, d in sorted(out)]


def _check(c: Container, disputes: list[UUID], accounts: list[UUID]) -> None:
    times = sorted({f.recorded_at for d in disputes for f in c.ledger.dispute_facts(d)})
    for known_at in [*times, *(t - timedelta(microseconds=1) for t in times)]:
        with c.queries.reading.cursor() as cur:
            for account in accounts:
                for at in POINTS:
                    said = c.queries.disputes.open_about(
                        cur, accounts=(account,), at=at, known_at=known_at
                    )
                    assert [n.dispute_id for n in said] == _expected(
                        c, disputes, account, at, known_at
                    ), (account, at, known_at)
    # Listings (the store outlives one example: each example's accounts are its own).
    states = {d: dispute_fold.dispute(c.ledger.dispute_facts(d)) for d in disputes}
    for account in accounts:
        for status in (None, *dispute_fold.STATUSES):
            page = c.queries.disputes.disputes(status=status, account_id=account, limit=1000)
            expected = [
                d
                for d, state in states.items()
                if state is not None
                and state.subject_account == str(account)
                and status in (None, state.status)
            ]
            listed = [d.dispute_id for d in page.disputes]
            assert listed == sorted(expected, key=lambda d: (states[d].opened_at, str(d)))  # type: ignore[union-attr]


@settings(
    max_examples=12,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(history=ops)
def test_open_disputes_and_listings_equal_the_fold_kept_and_rebuilt(
    container: tuple[Container, HeldClock],
    history: list[tuple[int, tuple]],  # type: ignore[type-arg]
) -> None:
    c, clock = container
    accounts = _accounts(c)
    disputes = _run(c, clock, history, accounts)
    _check(c, disputes, accounts)
    Rebuilder(c.projector).rebuild(["disputes"])
    _check(c, disputes, accounts)

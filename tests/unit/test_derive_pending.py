"""`derive_pending` hands each model the batch's changes after its own tracked position, account
by account in log order: a model behind the others gets more of the same batch."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from uuid import UUID

from ledger import fold
from ledger.fold import Fact
from projections.models import Change, Pending, ReadModel
from projections.projector import derive_pending

T = datetime(2020, 1, 1, tzinfo=UTC)


class Noting(ReadModel):
    """Notes the (account, position) pairs it is given."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.seen: list[tuple[int, int]] = []

    def apply(self, changes: Sequence[Change], pending: Pending) -> None:
        self.seen += [(c.account_id.int, c.position) for c in changes]


def test_each_model_gets_the_changes_after_its_own_position() -> None:
    fact = Fact(2, fold.ASSIGNED, T, T, "clerk")
    log = [(1, 10), (2, 11), (1, 12), (2, 13), (1, 14)]  # (account, position)
    changes = [Change(UUID(int=a), fact, p, [], []) for a, p in log]
    level, behind, ahead = Noting("level"), Noting("behind"), Noting("ahead")
    tracked = {"level": 9, "behind": 5, "ahead": 11}
    list(derive_pending([level, behind, ahead], changes, tracked))
    assert level.seen == behind.seen == [(1, 10), (1, 12), (1, 14), (2, 11), (2, 13)]
    # Within each account's changes: from after the position on (account 2's first is it).
    assert ahead.seen == [(1, 12), (1, 14), (2, 13)]
    untracked = Noting("untracked")
    list(derive_pending([untracked], changes))
    assert untracked.seen == level.seen

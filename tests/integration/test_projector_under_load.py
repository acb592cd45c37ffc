"""A read-model worker whose batches are too large for the store's bounds (on a machine short
of CPU, a batch's transaction outlasted the idle and statement timeouts, failed, and was tried
again the same size, forever: the read models never moved and every read answered 503) goes
on in smaller batches, and back to the full size once they go through."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

from api.bootstrap import build
from ledger.commands import AssignHolder, Holder, RegisterAccount
from ledger.errors import StoreUnavailable
from ledger.settings import Settings
from projections.projector import Projector, ProjectorThread
from tests.support import until

T0 = datetime(2020, 1, 1, tzinfo=UTC)
LARGEST = 40  # log positions: the largest batch this store "can take"


class Strained(Projector):
    """A projector whose store refuses, as its bounds would, any batch of more than LARGEST
    log positions; it says which sizes it was offered."""

    offered: list[int]

    def write(
        self,
        tracked: dict[str, int],
        upto: int,
        pending: Iterable[tuple[str, Any]],
        *args: Any,
        **kwargs: Any,
    ) -> bool:
        size = upto - min(tracked.values())
        self.offered.append(size)
        if size > LARGEST:
            raise StoreUnavailable("canceling statement due to statement timeout")
        return super().write(tracked, upto, pending, *args, **kwargs)


def test_a_worker_whose_batches_fail_goes_on_in_smaller_ones(store_url: str) -> None:
    c = build(Settings(database_url=store_url, embedded_projections=False))
    try:
        ledger = c.ledger
        account = ledger.register_account(
            RegisterAccount(
                platform="x", handle="@Strained", office="pk-strained", effective_at=T0
            ),
            actor="test",
        ).account_id
        for n in range(150):
            holder = Holder(id=f"h{n}", name=f"Holder {n}")
            when = T0 + timedelta(days=n + 1)
            ledger.append(account, AssignHolder(holder=holder, effective_at=when), actor="test")
        projector = Strained(ledger, embedded=False, create_tables=False)
        projector.offered = []
        worker = ProjectorThread(projector, poll_seconds=0.02)
        worker.start()
        try:
            until(lambda: projector.applied() >= ledger.head(), 60)
        finally:
            worker.stop()
        assert projector.offered[0] > LARGEST  # the full batch, refused ...
        assert min(projector.offered) <= LARGEST  # ... and smaller ones, taken
        state = c.queries.account_at(account, T0 + timedelta(days=200))
        assert state is not None and state.version == 151
        assert worker.last_error is None  # a round went through since
    finally:
        c.close()

from __future__ import annotations

from datetime import UTC, datetime

from ledger.commands import AssignHolder, Holder, RegisterAccount


def t(y: int, m: int = 1, d: int = 1, h: int = 0) -> datetime:
    return datetime(y, m, d, h, tzinfo=UTC)


def test_registered_account_is_held_after_assignment(memory_ledger) -> None:
    r = memory_ledger.register_account(
        RegisterAccount(
            platform="x", handle="@POTUS", office="us-president", effective_at=t(2015, 5, 18)
        ),
        actor="records-office",
    )
    memory_ledger.append(
        r.account_id,
        AssignHolder(holder=Holder(id="obama", name="Barack Obama"), effective_at=t(2015, 5, 18)),
        actor="records-office",
    )
    state = memory_ledger.state(r.account_id, t(2016))
    assert state is not None
    assert state.holder is not None and state.holder.id == "obama"
    assert state.handle == "POTUS"
    assert memory_ledger.state(r.account_id, t(2014)) is None

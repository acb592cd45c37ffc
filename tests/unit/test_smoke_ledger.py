from __future__ import annotations

from datetime import UTC, datetime

from ledger.commands import AssignHolder, Evidence, Holder, RegisterAccount
from projections import derive


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


def test_stored_events_are_the_librarys_json(memory_ledger) -> None:
    """The ledger's transcoder skips the encoder's cycle check for speed; the bytes it stores
    must still be exactly what the library's own transcoder writes (stores stay readable by,
    and identical to, what any other eventsourcing 9.5 application with JSON would write)."""
    from eventsourcing.persistence import JSONTranscoder

    plain = JSONTranscoder()
    memory_ledger.register_transcodings(plain)
    r = memory_ledger.register_account(
        RegisterAccount(
            platform="x", handle="@POTUS", office="us-president", effective_at=t(2015, 5, 18),
            evidence=(Evidence(url="https://example.org/ä"),), reason="Präsident",
        ),
        actor="records-office",
    )  # fmt: skip
    memory_ledger.append(
        r.account_id,
        AssignHolder(holder=Holder(id="obama", name="Barack Obama"), effective_at=t(2015, 5, 18)),
        actor="records-office",
    )
    stored = memory_ledger.recorder.select_events(r.account_id)
    assert len(stored) == 2
    for s in stored:
        state = plain.decode(s.state)
        assert state["actor"] == "records-office"
        assert plain.encode(state) == s.state
    # ... and the cycle check really is off, for the events and for the read models' values.
    assert memory_ledger.mapper.transcoder.encoder.check_circular is False
    assert derive._ENCODER.check_circular is False
    assert derive.dumps({"b": [1, "ä"], "a": None}) == '{"a":null,"b":[1,"\\u00e4"]}'


def test_an_append_keeps_the_timeline_it_was_decided_on(memory_ledger, monkeypatch) -> None:
    """The history `check_append` pushed the candidate on is the stream's once it is recorded:
    the next command's decision starts from it, no fact pushed again, nothing folded again."""
    from ledger.fold import Fact
    from ledger.history import History

    r = memory_ledger.register_account(
        RegisterAccount(platform="x", handle="@POTUS", office="us-president", effective_at=t(2015)),
        actor="records-office",
    )
    for year, who in ((2016, "obama"), (2017, "trump")):
        memory_ledger.append(
            r.account_id,
            AssignHolder(holder=Holder(id=who, name=who.title()), effective_at=t(year)),
            actor="records-office",
        )
    account = memory_ledger.repository.get(r.account_id)
    pushed: list[int] = []
    push = History.push

    def counted(history: History, fact: Fact) -> History:
        pushed.append(fact.version)
        return push(history, fact)

    folded: list[int] = []
    of = History.of.__func__  # type: ignore[attr-defined]

    def counted_of(cls: type[History], facts: list[Fact], kind: str = "account") -> History:
        folded.append(len(facts))
        return of(cls, facts, kind)

    monkeypatch.setattr(History, "push", counted)
    monkeypatch.setattr(History, "of", classmethod(counted_of))
    history = account.history()
    assert pushed == [] and folded == [] and len(history.segments) == 3
    assert history.state_at(t(2018)).holder.id == "trump"

"""The findings read model over its life: kept event by event, built by a rebuild, built on the
first start of a store set up before it existed, and built again when the rules change. The
answers themselves are held to the oracle in `test_offices_oracle.py`; here the ways of
building the table are held to each other, on both stores."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime, timedelta
from itertools import count
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from api.bootstrap import Container, build
from api.demo import DEMO_FILE as DEMO
from ledger.application import CustodyLedger
from ledger.backfill import import_files
from ledger.commands import AssignHolder, Holder, RegisterAccount, RegisterOffice, RetractEvent
from ledger.records import EventRecord
from ledger.settings import Settings
from projections.derive import to_us
from projections.findings import FINDINGS, SETTINGS
from projections.projector import Projector
from projections.rebuild import Rebuilder, digest
from tests.office_strategies import Op, day, new_scope, office_histories, run_history
from tests.support import FakeClock

_rounds = count()


def _listing(c: Container, **filters: Any) -> list[tuple[Any, ...]]:
    """Every finding, every page, as plain values."""
    out: list[tuple[Any, ...]] = []
    after = None
    while True:
        page = c.queries.offices.findings(after=after, limit=7, **filters)
        out += [
            (f.kind, f.office, f.account_id, f.valid_from, f.valid_to, f.followers, f.detail,
             tuple((x.account_id or x.office, x.version) for x in f.established_by))
            for f in page.findings
        ]  # fmt: skip
        if page.next_after is None:
            return out
        after = page.next_after


@settings(
    max_examples=15,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(ops=office_histories(), one_by_one=st.booleans())
def test_a_rebuild_writes_the_findings_the_projector_kept(
    container: Container, ops: list[Op], one_by_one: bool
) -> None:
    """Applied after each write (one record time a batch) or all at once (every record time of
    the history in one batch): the same rows as a rebuild, which evaluates each office at
    every record time its inputs changed."""
    projector = container.projector
    after = projector.catch_up if one_by_one else None
    run_history(container.ledger, ops, new_scope(), after_write=after)
    projector.catch_up()
    kept = digest(projector.db, FINDINGS)
    Rebuilder(projector).rebuild(["findings"])
    assert digest(projector.db, FINDINGS) == kept
    Rebuilder(projector).rebuild()  # with every model: read from the new tables
    assert digest(projector.db, FINDINGS) == kept


def _demo_store(url: str, **options: Any) -> Container:
    c = build(Settings(database_url=url, **options), clock=FakeClock())
    import_files(c.ledger, [DEMO], actor="demo", restore=True)
    c.projector.catch_up()
    return c


def test_a_store_set_up_before_the_findings_model_builds_it_on_its_first_start(
    store_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    c = _demo_store(store_url)
    try:
        before = _listing(c)
        assert len({f[0] for f in before}) == 3, "the demo's findings are of three kinds"
        db = c.projector.db
        with db.transaction() as curs:  # what a store of the version before holds
            for table in (FINDINGS, SETTINGS):
                db.execute(curs, db.sql("DROP TABLE {t}", t=table.name))
            db.execute(curs, db.sql("DELETE FROM {t} WHERE name = 'findings'", t="rm_tracking"))
    finally:
        c.close()
    with caplog.at_level(logging.WARNING, logger="projections.projector"):
        c = build(Settings(database_url=store_url), clock=FakeClock())
    try:
        assert "read model findings: built again" in caplog.text
        assert c.projector.lag() == 0
        assert _listing(c) == before
        assert _listing(c, jurisdiction="PK") == [f for f in before if f[1].startswith("pk-")]
    finally:
        c.close()


def test_changed_rules_build_the_findings_again_as_a_store_kept_under_them_from_the_start(
    store_url: str, tmp_path: Path
) -> None:
    c = _demo_store(store_url)
    try:
        default = _listing(c)
    finally:
        c.close()
    c = build(Settings(database_url=store_url, audience_window_days=0), clock=FakeClock())
    try:
        changed = _listing(c)
    finally:
        c.close()
    fresh = _demo_store(f"sqlite:///{tmp_path}/fresh.db", audience_window_days=0)
    try:
        assert changed == _listing(fresh)
    finally:
        fresh.close()
    assert changed != default, "no observation is nearer a handover than 0 days"
    # Started again under the same rules, nothing is built again.
    c = build(Settings(database_url=store_url, audience_window_days=0), clock=FakeClock())
    try:
        assert _listing(c) == changed
    finally:
        c.close()


@settings(
    max_examples=10,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(ops=office_histories(), back=st.lists(st.sampled_from([0, 0, 5, 40]), max_size=40))
def test_writes_recorded_before_what_the_findings_hold_rebuild_the_offices_they_touch(
    container: Container, ops: list[Op], back: list[int]
) -> None:
    """Record times that go back across streams in log order (a clock stepped back; a restore
    whose log order is not its record times' order), each write applied on its own: the rows
    equal a rebuild's, which reads every input as known at each time."""
    clock = container.ledger.clock
    assert isinstance(clock, FakeClock)
    projector = container.projector
    steps = iter(back)
    clock.advance(seconds=60)  # past the previous example's record times

    def after_write() -> None:
        projector.catch_up()
        clock.advance(milliseconds=-next(steps, 0))

    run_history(container.ledger, ops, new_scope(), after_write=after_write)
    kept = digest(projector.db, FINDINGS)
    Rebuilder(projector).rebuild(["findings"])
    assert digest(projector.db, FINDINGS) == kept


SHAHBAZ = Holder(id="shahbaz-sharif", name="Shahbaz Sharif")
ASIF = Holder(id="asif-ghafoor", name="Asif Ghafoor")
SPEAKS = "@PMShehbaz, Shahbaz Sharif's own account, speaks for the office; "
VACANT = SPEAKS + "the office is vacant then"
HELD = SPEAKS + "the owner does not hold the office then (Asif Ghafoor does)"
NO_ACCOUNT = "Asif Ghafoor holds the office and no account owned by the office speaks for it"


def _vacant_office_with_a_personal_account(c: Container, at: datetime) -> EventRecord:
    """At `at`, the office "pm" registered with nobody holding it, and Shahbaz Sharif's own
    account speaking for it from the 2016 handover on (both written in order): the account's
    registration."""
    clock = c.ledger.clock
    assert isinstance(clock, FakeClock)
    clock.set(at)
    office = RegisterOffice(office="pm", name="PM", jurisdiction="PK", effective_at=day(-400))
    c.ledger.register_office(office, actor="records-office")
    account = c.ledger.register_account(
        RegisterAccount(
            platform="x", handle="PMShehbaz", ownership="personal", owner=SHAHBAZ, office="pm",
            effective_at=day(0),
        ),
        actor="records-office",
    )  # fmt: skip
    c.projector.catch_up()
    return account


def _beliefs(c: Container, office: str) -> list[tuple[str, int, int | None, str]]:
    """The office's kept findings as (kind, known_from, known_to, detail), in that order."""
    db = c.projector.db
    query = db.sql(
        "SELECT kind, known_from, known_to, body FROM {t} WHERE office = %s", t=FINDINGS.name
    )
    rows = [(k, f, t, json.loads(b)["detail"]) for k, f, t, b in db.fetchall(query, (office,))]
    return sorted(rows, key=lambda r: (r[0], r[1]))


def test_a_holder_assigned_and_retracted_at_one_record_time_leaves_one_row_as_a_rebuild_does(
    container: Container,
) -> None:
    """The office's holder is assigned at noon; the assignment is retracted by a clock stepped
    back a millisecond, and the office's stream keeps its record time, so both transactions
    are recorded at noon. Nobody ever believed the office held: the finding that Shahbaz's own
    account speaks for a vacant office is one row from the account's registration on, as a
    rebuild writes it, not one closed and another opened at noon."""
    clock = container.ledger.clock
    assert isinstance(clock, FakeClock)
    account = _vacant_office_with_a_personal_account(container, datetime(2026, 3, 1, tzinfo=UTC))
    since, noon = to_us(account.recorded_at), datetime(2026, 3, 1, 12, tzinfo=UTC)
    clock.set(noon - timedelta(milliseconds=1))  # each reading moves it on by a millisecond
    assign = AssignHolder(holder=ASIF, effective_at=day(-400))
    assigned = container.ledger.append_office("pm", assign, actor="records-office")
    container.projector.catch_up()
    assert _beliefs(container, "pm") == [
        ("no-office-account", to_us(noon), None, NO_ACCOUNT),
        ("personal-account-in-official-use", since, to_us(noon), VACANT),
        ("personal-account-in-official-use", to_us(noon), None, HELD),
    ]
    clock.set(noon - timedelta(milliseconds=2))  # stepped back
    retract = RetractEvent(event_version=assigned.version, effective_at=day(-400))
    retracted = container.ledger.append_office("pm", retract, actor="records-office")
    assert retracted.recorded_at == noon, "the office's record times do not go back"
    container.projector.catch_up()
    assert _beliefs(container, "pm") == [("personal-account-in-official-use", since, None, VACANT)]
    kept = digest(container.projector.db, FINDINGS)
    Rebuilder(container.projector).rebuild(["findings"])
    assert digest(container.projector.db, FINDINGS) == kept


def test_findings_rebuilt_alone_after_a_retracted_registration_see_writes_recorded_before_it(
    container: Container,
) -> None:
    """Shahbaz's account is retracted at 10:00, which ends its rows and starts none; the
    findings are rebuilt alone. A holder assigned to the office by a clock stepped back to
    09:00 comes before what the findings hold: the finding about the account splits at 09:00,
    as a rebuild has it, though no input row starts as late as 10:00."""
    clock = container.ledger.clock
    assert isinstance(clock, FakeClock)
    account = _vacant_office_with_a_personal_account(container, datetime(2026, 3, 2, tzinfo=UTC))
    since = to_us(account.recorded_at)
    clock.set(datetime(2026, 3, 2, 10, tzinfo=UTC))
    retract = RetractEvent(event_version=1, effective_at=day(0))
    retracted = container.ledger.append(account.account_id, retract, actor="registry")
    container.projector.catch_up()
    Rebuilder(container.projector).rebuild(["findings"])
    clock.set(datetime(2026, 3, 2, 9, tzinfo=UTC))
    assign = AssignHolder(holder=ASIF, effective_at=day(-400))
    assigned = container.ledger.append_office("pm", assign, actor="records-office")
    container.projector.catch_up()
    nine, ten = to_us(assigned.recorded_at), to_us(retracted.recorded_at)
    assert _beliefs(container, "pm") == [
        ("no-office-account", nine, None, NO_ACCOUNT),
        ("personal-account-in-official-use", since, nine, VACANT),
        ("personal-account-in-official-use", nine, ten, HELD),
    ]
    kept = digest(container.projector.db, FINDINGS)
    Rebuilder(container.projector).rebuild(["findings"])
    assert digest(container.projector.db, FINDINGS) == kept


def test_a_restore_in_small_batches_keeps_the_findings_a_rebuild_writes(store_url: str) -> None:
    """The demo's record times go back seven times in its log order: applied a few events at a
    time, the findings are still those of a rebuild."""
    c = build(Settings(database_url=store_url), clock=FakeClock())
    try:
        c.projector.batch_size = c.projector.max_batch = 7
        import_files(c.ledger, [DEMO], actor="demo", restore=True)
        c.projector.catch_up()
        kept = digest(c.projector.db, FINDINGS)
        listing = _listing(c, known_at=datetime(2020, 1, 1, tzinfo=UTC))
        Rebuilder(c.projector).rebuild(["findings"])
        assert digest(c.projector.db, FINDINGS) == kept
        assert _listing(c, known_at=datetime(2020, 1, 1, tzinfo=UTC)) == listing
    finally:
        c.close()


def test_findings_rebuilt_alone_while_the_models_are_behind_catch_up_with_them(
    store_url: str,
) -> None:
    """Rebuilt from the live tables, the findings take those tables' position, so the events
    after it are applied to every model alike."""
    c = build(Settings(database_url=store_url), clock=FakeClock())
    try:
        import_files(c.ledger, [DEMO], actor="demo", restore=True)  # not applied yet
        Rebuilder(c.projector).rebuild(["findings"])
        assert c.projector.positions()["findings"] == 0
        c.projector.catch_up()
        kept = digest(c.projector.db, FINDINGS)
        count = c.projector.db.fetchone(
            c.projector.db.sql("SELECT COUNT(*) FROM {t}", t=FINDINGS.name)
        )
        assert count is not None and count[0] > 0
        Rebuilder(c.projector).rebuild()
        assert digest(c.projector.db, FINDINGS) == kept
    finally:
        c.close()


def test_changed_rules_while_a_model_is_built_again_keep_the_findings_from_the_start(
    store_url: str,
) -> None:
    """A model read by the findings at another position (emptied to be built again, as when it
    gains columns): changed rules empty the findings too, and they are kept from the start."""
    c = _demo_store(store_url)
    try:
        db = c.projector.db
        with db.transaction() as curs:
            for table in ("rm_segments",):
                db.execute(curs, db.sql("DELETE FROM {t}", t=table))
            reset = db.sql("UPDATE {t} SET position = 0 WHERE name = 'segments'", t="rm_tracking")
            db.execute(curs, reset)
    finally:
        c.close()
    c = build(Settings(database_url=store_url, audience_window_days=0), clock=FakeClock())
    try:
        assert c.projector.positions()["findings"] == 0
        c.projector.catch_up()
        kept = digest(c.projector.db, FINDINGS)
        Rebuilder(c.projector).rebuild()
        assert digest(c.projector.db, FINDINGS) == kept
        assert _listing(c), "the demo has findings under these rules too"
    finally:
        c.close()


@pytest.mark.postgres
def test_an_office_whose_account_has_a_thousand_handovers_is_rebuilt_on_a_short_idle_timeout(
    pg_url: str,
) -> None:
    """A rebuild evaluates an office at every record time its inputs changed: a thousand
    handovers, each recorded on its own, are a thousand evaluations. They run outside any
    transaction (PostgreSQL ends one left idle for `idle_in_transaction_session_timeout`,
    which eventsourcing sets to 5 s; 1 s here), so the rebuild, of every model or of the
    findings alone, completes and writes the rows the projector kept."""
    env = Settings(database_url=pg_url, log_enabled=False).store().env
    ledger = CustodyLedger({**env, "POSTGRES_IDLE_IN_TRANSACTION_SESSION_TIMEOUT": "1"})
    try:
        projector = Projector(ledger)
        start = datetime(2000, 1, 1, tzinfo=UTC)
        people = [Holder(id=f"p{n}", name=f"Person {n}") for n in range(3)]
        with ledger.batch() as batch:  # a restore: each event at a record time of its own
            ledger.register_office(
                RegisterOffice(office="o", name="O", jurisdiction="PK", effective_at=start),
                actor="clerk",
                batch=batch,
                recorded_at=start,
            )
            account = ledger.register_account(
                RegisterAccount(platform="x", handle="O_Official", office="o", effective_at=start),
                actor="clerk",
                batch=batch,
                recorded_at=start,
            ).account_id
            for n in range(1, 1001):
                ledger.append(
                    account,
                    AssignHolder(holder=people[n % 3], effective_at=start + timedelta(days=n)),
                    actor="clerk",
                    batch=batch,
                    recorded_at=start + timedelta(seconds=n),
                )
        projector.catch_up()
        kept = digest(projector.db, FINDINGS)
        assert kept != digest(projector.db, SETTINGS), "the account is not with the office's holder"
        Rebuilder(projector).rebuild(workers=1)
        assert digest(projector.db, FINDINGS) == kept
        Rebuilder(projector).rebuild(["findings"])
        assert digest(projector.db, FINDINGS) == kept
    finally:
        ledger.close()

"""The bitemporal fold, the oracle: hand-made histories, then a brute-force model on random ones."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from typing import Any

from hypothesis import given, settings

from ledger import fold
from ledger.fold import (
    AccountState,
    ArchiveEntry,
    CustodyInterval,
    Fact,
    HandleInterval,
    HolderRef,
    Ineffective,
    Segment,
    custody_intervals,
    handle_intervals,
    ineffective_versions,
    timeline,
)
from tests.strategies import fact_lists, long_fact_lists

US = timedelta(microseconds=1)
NAMES = {"obama": "Barack Obama", "trump": "Donald J. Trump", "biden": "Joseph R. Biden"}


def ts(text: str) -> datetime:
    """An instant of time written as in RFC 3339 without the zone, in UTC."""
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


OPENED = ts("2015-05-18T00:00")
HANDOVER = ts("2017-01-20T17:00")
OBAMA = HolderRef("obama", "Barack Obama")
TRUMP = HolderRef("trump", "Donald J. Trump")
REC0 = ts("2026-01-01T00:00")


@dataclass
class History:
    """Builds one account's facts in stream order; fact vN is recorded at `REC0 + N hours`."""

    facts: list[Fact] = field(default_factory=list)
    rec0: datetime = REC0

    def recorded(self, version: int) -> datetime:
        return self.rec0 + timedelta(hours=version)

    def known_before(self, version: int) -> datetime:
        return self.recorded(version) - US

    def add(self, kind: str, effective_at: datetime, **data: Any) -> int:
        version = len(self.facts) + 1
        self.facts.append(
            Fact(version, kind, effective_at, self.recorded(version), "records-office", data=data)
        )
        return version

    def register(
        self, at: datetime = OPENED, handle: str = "POTUS", office: str = "us-pres"
    ) -> int:
        data = {"platform": "x", "platform_account_id": "1", "handle": handle, "office": office}
        return self.add(fold.REGISTERED, at, **data)

    def assign(self, holder: str, at: datetime) -> int:
        return self.add(fold.ASSIGNED, at, holder={"id": holder, "name": NAMES[holder]})

    def release(self, at: datetime) -> int:
        return self.add(fold.RELEASED, at)

    def rename(self, handle: str, at: datetime) -> int:
        return self.add(fold.RENAMED, at, handle=handle)

    def archive(self, ref: str, at: datetime) -> int:
        return self.add(fold.ARCHIVED, at, archive={"ref": ref, "sha256": None, "items": 30_000})

    def transfer(self, office: str, at: datetime) -> int:
        return self.add(fold.TRANSFERRED, at, office=office)

    def close(self, at: datetime) -> int:
        return self.add(fold.CLOSED, at)

    def retract(self, version: int, at: datetime = HANDOVER) -> int:
        return self.add(fold.RETRACTED, at, event_version=version)


def held(h: History, at: datetime, known_at: datetime | None = None) -> str | None:
    state = fold.fold(h.facts, at, known_at)
    assert state is not None
    return state.holder.id if state.holder else None


# -- registration ---------------------------------------------------------------------------------


def test_an_account_does_not_exist_before_its_registration_in_valid_or_record_time() -> None:
    h = History()
    h.register()
    assert fold.fold(h.facts, OPENED - US) is None
    assert fold.fold(h.facts, OPENED, known_at=h.known_before(1)) is None
    assert fold.fold([], OPENED) is None


def test_a_registered_account_is_active_with_its_handle_and_office_and_nobody_holds_it() -> None:
    h = History()
    h.register()
    assert fold.fold(h.facts, OPENED) == AccountState(
        platform="x",
        platform_account_id="1",
        handle="POTUS",
        office="us-pres",
        status="active",
        holder=None,
        holder_since=None,
        archives=(),
        registered_at=OPENED,
        version=1,
        established_by=(1,),
        ineffective=(),
        handle_by=1,
        office_by=1,
        holder_by=1,
        status_by=1,
        ownership_by=1,
    )


def test_the_state_version_counts_every_fact_known_even_if_effective_later_or_retracted() -> None:
    h = History()
    h.register()
    h.assign("obama", OPENED)
    h.assign("trump", HANDOVER)
    h.retract(2)
    early = fold.fold(h.facts, OPENED)
    assert early is not None and early.version == 4 and early.holder is None
    known = fold.fold(h.facts, OPENED, known_at=h.recorded(2))
    assert known is not None and known.version == 2 and known.holder == OBAMA


# -- custody --------------------------------------------------------------------------------------


def test_2017_custody_passes_from_obama_to_trump_at_noon_eastern_on_inauguration_day() -> None:
    h = History()
    h.register()
    h.assign("obama", OPENED)
    h.archive("nara:potus44", HANDOVER)
    h.assign("trump", HANDOVER)
    before = fold.fold(h.facts, HANDOVER - US)
    after = fold.fold(h.facts, HANDOVER)
    assert before is not None and after is not None
    assert (before.holder, before.holder_since, before.holder_by) == (OBAMA, OPENED, 2)
    assert (after.holder, after.holder_since, after.holder_by) == (TRUMP, HANDOVER, 4)
    assert before.archives == ()
    assert after.archives == (ArchiveEntry("nara:potus44", None, 30_000, HANDOVER, 3),)
    assert after.established_by == (1, 3, 4)


def test_at_one_instant_facts_apply_in_stream_order_so_release_then_assign_hands_over() -> None:
    h = History()
    h.register()
    h.assign("obama", OPENED)
    h.release(HANDOVER)
    h.assign("trump", HANDOVER)
    state = fold.fold(h.facts, HANDOVER)
    assert state is not None
    assert (state.holder, state.holder_since, state.ineffective) == (TRUMP, HANDOVER, ())


def test_at_one_instant_a_release_recorded_before_the_assignment_finds_nobody_holding() -> None:
    h = History()
    h.register()
    h.release(HANDOVER)
    h.assign("trump", HANDOVER)
    state = fold.fold(h.facts, HANDOVER)
    assert state is not None
    assert state.holder == TRUMP
    assert state.ineffective == (
        Ineffective(2, fold.RELEASED, "nobody holds the account at that instant"),
    )


def test_at_one_instant_an_assignment_after_a_release_wins_whatever_their_order_of_effect() -> None:
    h = History()
    h.register()
    h.assign("trump", HANDOVER)
    h.release(HANDOVER)
    assert held(h, HANDOVER) is None
    assert held(h, HANDOVER - US) is None
    assert ineffective_versions(h.facts) == set()


def test_two_assignments_at_one_instant_leave_the_later_recorded_holder() -> None:
    h = History()
    h.register()
    h.assign("obama", HANDOVER)
    h.assign("trump", HANDOVER)
    assert held(h, HANDOVER) == "trump"
    [segment] = [s for s in timeline(h.facts) if s.valid_from == HANDOVER]
    assert segment.state.holder == TRUMP and segment.valid_to is None


def test_a_back_dated_assignment_recorded_later_takes_effect_from_its_valid_time() -> None:
    h = History()
    h.register()
    h.assign("trump", HANDOVER)
    h.assign("obama", OPENED)  # recorded later, effective earlier
    assert held(h, ts("2016-01-01T00:00")) == "obama"
    assert held(h, ts("2016-01-01T00:00"), known_at=h.recorded(2)) is None
    assert held(h, HANDOVER) == "trump"


def test_retracting_the_handover_restores_the_predecessor_for_that_week_as_known_after() -> None:
    week_early = ts("2017-01-13T17:00")
    h = History()
    h.register()
    h.assign("obama", OPENED)
    wrong = h.assign("trump", week_early)
    fix = h.retract(wrong)
    h.assign("trump", HANDOVER)
    mid_week = ts("2017-01-16T12:00")
    assert held(h, mid_week, known_at=h.known_before(fix)) == "trump"
    assert held(h, mid_week) == "obama"
    assert held(h, HANDOVER - US) == "obama"
    assert held(h, HANDOVER) == "trump"
    assert held(h, HANDOVER, known_at=h.known_before(fix)) == "trump"


def test_a_retraction_orphans_a_later_release_only_as_known_after_the_retraction() -> None:
    h = History()
    h.register()
    assigned = h.assign("obama", OPENED)
    released = h.release(HANDOVER)
    fix = h.retract(assigned)
    before = fold.fold(h.facts, HANDOVER, known_at=h.known_before(fix))
    after = fold.fold(h.facts, HANDOVER)
    assert before is not None and after is not None
    assert before.ineffective == () and before.holder_by == released
    assert after.ineffective == (
        Ineffective(released, fold.RELEASED, "nobody holds the account at that instant"),
    )
    assert after.holder is None and after.holder_by == 1
    assert ineffective_versions(h.facts, h.known_before(fix)) == set()
    assert ineffective_versions(h.facts) == {released}


def test_facts_without_their_premise_are_listed_with_the_reason() -> None:
    h = History()
    h.register()
    h.assign("obama", OPENED)
    h.assign("obama", HANDOVER)
    h.rename("POTUS", HANDOVER)
    h.transfer("us-pres", HANDOVER)
    state = fold.fold(h.facts, HANDOVER)
    assert state is not None
    assert state.ineffective == (
        Ineffective(3, fold.ASSIGNED, "Barack Obama (obama) already holds the account"),
        Ineffective(4, fold.RENAMED, "the account already carries @POTUS"),
        Ineffective(5, fold.TRANSFERRED, "the account already belongs to us-pres"),
    )
    assert (state.holder_since, state.holder_by, state.handle_by, state.office_by) == (
        OPENED,
        2,
        1,
        1,
    )
    assert ineffective_versions(h.facts) == {3, 4, 5}


def test_a_fact_effective_before_the_registration_is_ineffective_but_not_listed_in_the_state() -> (
    None
):
    h = History()
    h.register(at=HANDOVER)
    h.archive("too-early", OPENED)
    state = fold.fold(h.facts, HANDOVER)
    assert state is not None and state.archives == () and state.ineffective == ()
    assert ineffective_versions(h.facts) == {2}


# -- closure --------------------------------------------------------------------------------------


def test_closure_ends_custody_frees_the_handle_and_every_later_fact_is_ineffective() -> None:
    closing = ts("2017-01-20T16:00")
    h = History()
    h.register()
    h.assign("obama", OPENED)
    closed = h.close(closing)
    h.assign("trump", HANDOVER)
    h.rename("POTUS44", HANDOVER)
    h.release(closing)  # same instant as the closure, recorded after it
    state = fold.fold(h.facts, HANDOVER)
    assert state is not None
    assert (state.status, state.holder, state.holder_since) == ("closed", None, None)
    assert (state.status_by, state.holder_by, state.handle) == (closed, closed, "POTUS")
    why = "effective after the account's closure"
    assert state.ineffective == (
        Ineffective(6, fold.RELEASED, why),
        Ineffective(4, fold.ASSIGNED, why),
        Ineffective(5, fold.RENAMED, why),
    )
    assert ineffective_versions(h.facts) == {4, 5, 6}
    segments = timeline(h.facts)
    assert custody_intervals(segments) == [
        CustodyInterval(OBAMA, OPENED, closing, ("POTUS",), ("us-pres",), (2, closed))
    ]
    assert handle_intervals(segments) == [
        HandleInterval("potus", "POTUS", OPENED, closing, (1, closed))
    ]


def test_retracting_the_closure_reopens_the_account_and_revives_what_followed_it() -> None:
    h = History()
    h.register()
    closed = h.close(ts("2016-01-01T00:00"))
    h.assign("trump", HANDOVER)
    h.retract(closed)
    assert held(h, HANDOVER, known_at=h.recorded(3)) is None
    state = fold.fold(h.facts, HANDOVER)
    assert state is not None
    assert (state.status, state.holder, state.ineffective) == ("active", TRUMP, ())


# -- registration retraction ----------------------------------------------------------------------


def test_retracting_the_registration_makes_the_account_cease_to_exist_as_known_after() -> None:
    h = History()
    h.register()
    h.assign("obama", OPENED)
    gone = h.retract(1)
    assert held(h, HANDOVER, known_at=h.known_before(gone)) == "obama"
    assert fold.fold(h.facts, HANDOVER) is None
    assert timeline(h.facts) == []
    assert ineffective_versions(h.facts) == {2}
    assert ineffective_versions(h.facts, h.known_before(gone)) == set()


# -- timeline and intervals -----------------------------------------------------------------------


def test_the_timeline_has_one_segment_per_instant_at_which_something_was_recorded_to_happen() -> (
    None
):
    h = History()
    h.register()
    h.assign("obama", OPENED)
    h.rename("POTUS44", HANDOVER)
    h.assign("trump", HANDOVER)
    h.retract(3, at=ts("2030-01-01T00:00"))
    known = h.recorded(4)
    segments = timeline(h.facts, known)
    assert [(s.valid_from, s.valid_to) for s in segments] == [(OPENED, HANDOVER), (HANDOVER, None)]
    assert segments == [
        Segment(OPENED, HANDOVER, fold.fold(h.facts, OPENED, known)),  # type: ignore[arg-type]
        Segment(HANDOVER, None, fold.fold(h.facts, HANDOVER, known)),  # type: ignore[arg-type]
    ]
    assert segments[1].state.handle == "POTUS44"
    assert timeline(h.facts)[1].state.handle == "POTUS"


def test_custody_intervals_follow_each_holder_and_the_handles_and_offices_they_carried() -> None:
    h = History()
    h.register()
    h.assign("obama", OPENED)
    h.rename("POTUS44", HANDOVER - US)
    h.transfer("nara", HANDOVER - US)
    h.assign("trump", HANDOVER)
    h.release(ts("2021-01-20T17:00"))
    h.assign("trump", ts("2025-01-20T17:00"))
    assert custody_intervals(timeline(h.facts)) == [
        CustodyInterval(OBAMA, OPENED, HANDOVER, ("POTUS", "POTUS44"), ("us-pres", "nara"), (2, 5)),
        CustodyInterval(TRUMP, HANDOVER, ts("2021-01-20T17:00"), ("POTUS44",), ("nara",), (5, 6)),
        CustodyInterval(TRUMP, ts("2025-01-20T17:00"), None, ("POTUS44",), ("nara",), (7,)),
    ]


def test_handle_intervals_key_handles_case_insensitively_and_name_the_facts_that_bound_them() -> (
    None
):
    h = History()
    h.register()
    h.rename("POTUS45", HANDOVER)
    h.assign("trump", HANDOVER)
    h.rename("Trump45Archive", ts("2021-01-20T17:00"))
    h.close(ts("2022-01-01T00:00"))
    assert handle_intervals(timeline(h.facts)) == [
        HandleInterval("potus", "POTUS", OPENED, HANDOVER, (1, 2)),
        HandleInterval("potus45", "POTUS45", HANDOVER, ts("2021-01-20T17:00"), (2, 4)),
        HandleInterval(
            "trump45archive", "Trump45Archive", ts("2021-01-20T17:00"), ts("2022-01-01"), (4, 5)
        ),
    ]


def test_known_at_none_means_everything_recorded() -> None:
    h = History()
    h.register()
    h.assign("obama", OPENED)
    h.retract(2)
    far = ts("2999-01-01T00:00")
    assert fold.fold(h.facts, HANDOVER) == fold.fold(h.facts, HANDOVER, far)
    assert timeline(h.facts) == timeline(h.facts, far)


# -- a second, brute-force model ------------------------------------------------------------------


def _cause(model: dict[str, Any] | None, f: Fact) -> str | None:
    """Why the model refuses to let `f` act, as a short category; None if it acts."""
    if f.type == fold.REGISTERED:
        return None if model is None else "registered-twice"
    if model is None:
        return "before-registration"
    if model["status"] == "closed":
        return "closed"
    if f.type == fold.ASSIGNED and model["holder"] and model["holder"][0] == f.data["holder"]["id"]:
        return "same-holder"
    if f.type == fold.RELEASED and model["holder"] is None:
        return "no-holder"
    if f.type == fold.RENAMED and model["handle"] == f.data["handle"]:
        return "same-handle"
    if f.type == fold.TRANSFERRED and model["office"] == f.data["office"]:
        return "same-office"
    return None


def model_run(
    facts: list[Fact], known_at: datetime | None, until: datetime | None
) -> tuple[dict[str, Any] | None, set[int]]:
    """Replay what was known at `known_at`, valid time up to `until` (None: all of it).

    Returns the state as a plain dict and the versions that had no effect.
    """
    visible = [f for f in facts if known_at is None or f.recorded_at <= known_at]
    struck: set[int] = set()
    for f in visible:
        if f.type == fold.RETRACTED:
            struck.add(f.data["event_version"])
    pending = [f for f in visible if f.type != fold.RETRACTED and f.version not in struck]
    if until is not None:
        pending = [f for f in pending if f.effective_at <= until]
    model: dict[str, Any] | None = None
    no_effect: set[int] = set()
    while pending:  # brute force: take the earliest (then lowest version) fact each round
        f = min(pending, key=lambda g: (g.effective_at, g.version))
        pending.remove(f)
        cause = _cause(model, f)
        if cause is not None:
            no_effect.add(f.version)
            if model is not None:
                model["ineffective"].append((f.version, f.type, cause))
            continue
        d, v = f.data, f.version
        if f.type == fold.REGISTERED:
            model = {
                "platform": d["platform"],
                "platform_account_id": d.get("platform_account_id"),
                "handle": d["handle"],
                "office": d["office"],
                "status": "active",
                "holder": None,
                "holder_since": None,
                "archives": [],
                "registered_at": f.effective_at,
                "ineffective": [],
                "handle_by": v,
                "office_by": v,
                "holder_by": v,
                "status_by": v,
                "first": v,
            }
            continue
        assert model is not None
        if f.type == fold.ASSIGNED:
            model["holder"] = (d["holder"]["id"], d["holder"]["name"])
            model["holder_since"], model["holder_by"] = f.effective_at, v
        elif f.type == fold.RELEASED:
            model["holder"], model["holder_since"], model["holder_by"] = None, None, v
        elif f.type == fold.RENAMED:
            model["handle"], model["handle_by"] = d["handle"], v
        elif f.type == fold.ARCHIVED:
            a = d["archive"]
            model["archives"].append((a["ref"], a["sha256"], a["items"], f.effective_at, v))
        elif f.type == fold.TRANSFERRED:
            model["office"], model["office_by"] = d["office"], v
        elif f.type == fold.CLOSED:
            model["status"], model["status_by"] = "closed", v
            if model["holder"] is not None:
                model["holder"], model["holder_since"], model["holder_by"] = None, None, v
    if model is not None:
        model["version"] = max(f.version for f in visible)
        model["established_by"] = sorted(
            {model.pop("first"), model["handle_by"], model["office_by"], model["holder_by"]}
            | {model["status_by"]}
            | {a[4] for a in model["archives"]}
        )
    return model, no_effect


def _category(why: str) -> str:
    for needle, category in (
        ("closure", "closed"),
        ("nobody holds", "no-holder"),
        ("already holds", "same-holder"),
        ("already carries", "same-handle"),
        ("already belongs", "same-office"),
        ("already registered", "registered-twice"),
    ):
        if needle in why:
            return category
    raise AssertionError(f"unexpected reason {why!r}")


def as_model(state: AccountState | None) -> dict[str, Any] | None:
    """The fold's answer in the model's shape."""
    if state is None:
        return None
    return {
        "platform": state.platform,
        "platform_account_id": state.platform_account_id,
        "handle": state.handle,
        "office": state.office,
        "status": state.status,
        "holder": (state.holder.id, state.holder.name) if state.holder else None,
        "holder_since": state.holder_since,
        "archives": [(a.ref, a.sha256, a.items, a.effective_at, a.version) for a in state.archives],
        "registered_at": state.registered_at,
        "ineffective": [(i.version, i.type, _category(i.why)) for i in state.ineffective],
        "handle_by": state.handle_by,
        "office_by": state.office_by,
        "holder_by": state.holder_by,
        "status_by": state.status_by,
        "version": state.version,
        "established_by": list(state.established_by),
    }


def probe_times(facts: list[Fact]) -> tuple[list[datetime], list[datetime | None]]:
    """Valid times at and just before every effective instant, plus far before and after;
    record times at and just before every recording, plus None (everything)."""
    effective = sorted({f.effective_at for f in facts})
    ats = [effective[0] - timedelta(days=400), effective[-1] + timedelta(days=400)]
    ats += [t for e in effective for t in (e - US, e)]
    recorded = sorted({f.recorded_at for f in facts})
    knowns: list[datetime | None] = [None, recorded[0] - timedelta(days=1)]
    knowns += [t for r in recorded for t in (r - US, r)]
    return ats, knowns


@settings(max_examples=300, deadline=None)
@given(fact_lists())
def test_fold_agrees_with_a_brute_force_model_at_every_boundary(facts: list[Fact]) -> None:
    ats, knowns = probe_times(facts)
    for known_at in knowns:
        for at in ats:
            expected, _ = model_run(facts, known_at, at)
            assert as_model(fold.fold(facts, at, known_at)) == expected, (at, known_at)
        _, no_effect = model_run(facts, known_at, None)
        assert ineffective_versions(facts, known_at) == no_effect, known_at


@settings(max_examples=200, deadline=None)
@given(fact_lists())
def test_every_timeline_segment_holds_the_fold_from_its_start_to_just_before_its_end(
    facts: list[Fact],
) -> None:
    _, knowns = probe_times(facts)
    for known_at in knowns:
        segments = timeline(facts, known_at)
        if not segments:
            assert all(fold.fold(facts, at, known_at) is None for at in probe_times(facts)[0])
            continue
        assert fold.fold(facts, segments[0].valid_from - US, known_at) is None
        for prev, nxt in pairwise(segments):
            assert prev.valid_to == nxt.valid_from and prev.valid_from < nxt.valid_from
        assert segments[-1].valid_to is None
        for s in segments:
            assert fold.fold(facts, s.valid_from, known_at) == s.state
            end = s.valid_to - US if s.valid_to else s.valid_from + timedelta(days=3650)
            assert fold.fold(facts, end, known_at) == s.state


@settings(max_examples=150, deadline=None)
@given(fact_lists())
def test_custody_and_handle_intervals_cover_exactly_the_instants_the_fold_says(
    facts: list[Fact],
) -> None:
    ats, knowns = probe_times(facts)
    for known_at in knowns:
        segments = timeline(facts, known_at)
        custody = custody_intervals(segments)
        handles = handle_intervals(segments)
        for at in ats:
            state = fold.fold(facts, at, known_at)
            holding = [
                c for c in custody if c.valid_from <= at and (c.valid_to is None or at < c.valid_to)
            ]
            carried = [
                h for h in handles if h.valid_from <= at and (h.valid_to is None or at < h.valid_to)
            ]
            if state is None or state.holder is None:
                assert holding == []
            else:
                assert [(c.holder, c.valid_from) for c in holding] == [
                    (state.holder, state.holder_since)
                ]
                assert state.handle in holding[0].handles and state.office in holding[0].offices
            if state is None or state.status != "active":
                assert carried == []
            else:
                assert [h.key for h in carried] == [state.handle.casefold()]


@settings(max_examples=200, deadline=None)
@given(long_fact_lists())
def test_an_accumulator_restored_from_a_state_is_the_one_it_was_taken_of(
    facts: list[Fact],
) -> None:
    """Every slot, as the fold left it: restored from a snapshot, it snapshots to the same state
    and folds on as the original does."""
    acc: Any = None
    for fact in fold.believed(facts):
        acc = fold.apply(acc, fact)
        if acc is None:
            continue
        state = acc.snapshot(fact.version, 1)
        twin = fold.restore(state, 1)
        assert all(getattr(twin, name) == getattr(acc, name) for name in acc.__slots__)
        assert twin.matches(state) and twin.snapshot(fact.version, 1) == state

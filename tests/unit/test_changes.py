"""How an answer changed (`ledger.changes`), the oracle: hand-written histories, each fact
recorded at a time of its own unless the story says otherwise."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from uuid import UUID

import pytest

from ledger import fold, office_fold
from ledger.changes import (
    Window,
    custody_changes,
    custody_key,
    handle_changes,
    tenure_changes,
)
from ledger.errors import InvalidInput
from ledger.fold import Fact, HolderRef

CM = UUID("540ac008-9006-47b7-99b2-87d9305174d5")
ANNA = HolderRef("anna-vale", "Anna Vale")
BORIS = HolderRef("boris-kade", "Boris Kade")
JUNE = Window(datetime(2021, 6, 1, tzinfo=UTC), datetime(2021, 7, 1, tzinfo=UTC))


def ts(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def fact(version: int, kind: str, effective: str, recorded: str, **data: Any) -> Fact:
    return Fact(version, kind, ts(effective), ts(recorded), "records-office", data=data)


def registered(recorded: str, handle: str, effective: str = "2018-03-01T09:00") -> Fact:
    return fact(1, fold.REGISTERED, effective, recorded, platform="x", handle=handle,
                office="ruritania-chief-minister")  # fmt: skip


def assigned(version: int, holder: HolderRef, effective: str, recorded: str) -> Fact:
    holder_data = {"id": holder.id, "name": holder.name}
    return fact(version, fold.ASSIGNED, effective, recorded, holder=holder_data)


# The demo's @CMRuritania: Anna Vale from 2018; the handover to Boris Kade recorded on 12 June
# as of 10 June; on 1 July retracted and recorded again as of the oath, 1 June.
ANNA_SWORN = [
    registered("2018-03-01T10:00", "CMRuritania"),
    assigned(2, ANNA, "2018-03-01T09:00", "2018-03-01T10:00:01"),
]
LATE_HANDOVER = [*ANNA_SWORN, assigned(3, BORIS, "2021-06-10T09:00", "2021-06-12T08:00")]
CORRECTED = [
    *LATE_HANDOVER,
    fact(4, fold.RETRACTED, "2021-06-10T09:00", "2021-07-01T14:00", event_version=3),
    assigned(5, BORIS, "2021-06-01T09:00", "2021-07-01T14:00:01"),
]


def told(versions: list[Any]) -> list[tuple[object, ...]]:
    """Each version as (known_at, [(holder, from, to)], changed_by versions)."""
    return [
        (
            v.known_at,
            [(iv.holder.name, iv.valid_from, iv.valid_to) for iv in v.intervals],
            [n for _, n in v.changed_by],
        )
        for v in versions
    ]


def test_a_handover_recorded_late_is_a_new_version_from_the_day_it_was_recorded() -> None:
    assert told(custody_changes(CM, LATE_HANDOVER, JUNE)) == [
        (ts("2018-03-01T10:00:01"), [("Anna Vale", ts("2021-06-01"), ts("2021-07-01"))], [2]),
        (
            ts("2021-06-12T08:00"),
            [
                ("Anna Vale", ts("2021-06-01"), ts("2021-06-10T09:00")),
                ("Boris Kade", ts("2021-06-10T09:00"), ts("2021-07-01")),
            ],
            [3],
        ),
    ]


def test_retracting_the_handover_restores_the_predecessor_until_it_is_recorded_again() -> None:
    versions = custody_changes(CM, CORRECTED, JUNE)

    assert told(versions)[2:] == [
        (ts("2021-07-01T14:00"), [("Anna Vale", ts("2021-06-01"), ts("2021-07-01"))], [3, 4]),
        (
            ts("2021-07-01T14:00:01"),
            [
                ("Anna Vale", ts("2021-06-01"), ts("2021-06-01T09:00")),
                ("Boris Kade", ts("2021-06-01T09:00"), ts("2021-07-01")),
            ],
            [5],
        ),
    ]
    assert [v.changed_by for v in versions[2:]] == [((CM, 3), (CM, 4)), ((CM, 5),)]
    # Provenance is the fold's, and the interval keeps its handles and offices.
    restored = versions[2].intervals[0]
    assert (restored.established_by, restored.handles, restored.offices) == (
        (2,),
        ("CMRuritania",),
        ("ruritania-chief-minister",),
    )


def test_a_window_no_change_touches_has_only_the_version_that_first_filled_it() -> None:
    spring = Window(ts("2021-01-01"), ts("2021-05-01"))

    assert told(custody_changes(CM, CORRECTED, spring)) == [
        (ts("2018-03-01T10:00:01"), [("Anna Vale", ts("2021-01-01"), ts("2021-05-01"))], [2]),
    ]
    before_anything = Window(ts("2017-01-01"), ts("2018-01-01"))
    assert custody_changes(CM, CORRECTED, before_anything) == []


def test_boris_kade_leaving_in_august_changes_nothing_in_june() -> None:
    """The release ends Boris Kade's interval after the window: cut to the window it is the
    same interval (only its provenance changed), so there is no new version."""
    later = [*CORRECTED, fact(6, fold.RELEASED, "2021-08-01T00:00", "2021-08-02T00:00")]
    assert fold.custody_intervals(fold.timeline(later))[-1].established_by == (5, 6)

    versions = custody_changes(CM, later, JUNE)

    assert [v.known_at for v in versions] == [
        ts("2018-03-01T10:00:01"),
        ts("2021-06-12T08:00"),
        ts("2021-07-01T14:00"),
        ts("2021-07-01T14:00:01"),
    ]
    assert [custody_key(iv) for iv in versions[-1].intervals] == [
        (ANNA.id, ANNA.name, ts("2021-06-01"), ts("2021-06-01T09:00"), ("CMRuritania",),
         ("ruritania-chief-minister",)),
        (BORIS.id, BORIS.name, ts("2021-06-01T09:00"), ts("2021-07-01"), ("CMRuritania",),
         ("ruritania-chief-minister",)),
    ]  # fmt: skip


def test_once_potus_is_renamed_potus45_the_handle_moves_to_the_other_account_at_noon() -> None:
    first, second, third = (UUID(int=n) for n in (1, 2, 3))
    noon = "2021-01-20T17:00"
    streams = {
        first: [
            registered("2017-01-20T18:00", "POTUS", effective="2017-01-20T17:00"),
            fact(2, fold.RENAMED, noon, "2021-01-20T18:00", handle="POTUS45"),
        ],
        second: [
            registered("2020-11-08T00:00", "PresElectBiden", effective="2020-11-07T00:00"),
            fact(2, fold.RENAMED, noon, "2021-01-20T18:05", handle="POTUS"),
        ],
        # Never carried the handle: its events are no part of the answer.
        third: [registered("2021-01-20T18:05", "WhiteHouse")],
    }

    versions = handle_changes(streams, "@potus", Window(ts("2021-01-01"), ts("2021-02-01")))

    assert [
        (v.known_at, [(c.account_id, c.handle, c.valid_from, c.valid_to) for c in v.intervals],
         v.changed_by)
        for v in versions
    ] == [
        (ts("2017-01-20T18:00"), [(first, "POTUS", ts("2021-01-01"), ts("2021-02-01"))],
         ((first, 1),)),
        (ts("2021-01-20T18:00"), [(first, "POTUS", ts("2021-01-01"), ts(noon))], ((first, 2),)),
        (ts("2021-01-20T18:05"),
         [(first, "POTUS", ts("2021-01-01"), ts(noon)),
          (second, "POTUS", ts(noon), ts("2021-02-01"))],
         ((second, 2),)),
    ]  # fmt: skip
    assert versions[2].intervals[1].established_by == (2,)


def test_a_tenure_corrected_after_the_fact_is_a_version_at_the_correction() -> None:
    office = UUID(int=9)
    facts = [
        Fact(1, office_fold.REGISTERED, ts("2012-01-01"), ts("2012-01-01"), "clerk",
             data={"office": "pk-dg-ispr", "name": "DG ISPR", "jurisdiction": "PK"},
             kind="office"),
        Fact(2, fold.ASSIGNED, ts("2016-12-15"), ts("2016-12-16"), "clerk",
             data={"holder": {"id": "asif-ghafoor", "name": "Asif Ghafoor"}}, kind="office"),
        Fact(3, fold.RETRACTED, ts("2016-12-15"), ts("2017-01-05"), "clerk",
             data={"event_version": 2}, kind="office"),
        Fact(4, fold.ASSIGNED, ts("2016-12-25"), ts("2017-01-05"), "clerk",
             data={"holder": {"id": "asif-ghafoor", "name": "Asif Ghafoor"}}, kind="office"),
    ]  # fmt: skip

    versions = tenure_changes(office, facts, Window(ts("2016-12-01"), ts("2017-01-01")))

    assert [
        (v.known_at, [(t.holder.id, t.valid_from, t.valid_to) for t in v.intervals], v.changed_by)
        for v in versions
    ] == [
        (ts("2016-12-16"), [("asif-ghafoor", ts("2016-12-15"), ts("2017-01-01"))], ((office, 2),)),
        (ts("2017-01-05"), [("asif-ghafoor", ts("2016-12-25"), ts("2017-01-01"))],
         ((office, 2), (office, 3), (office, 4))),
    ]  # fmt: skip


def test_a_window_must_end_after_it_begins() -> None:
    with pytest.raises(InvalidInput) as info:
        Window(ts("2021-07-01"), ts("2021-07-01"))
    assert info.value.field == "to"

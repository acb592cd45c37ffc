"""Log entries and tile paths: every kind of custody event survives the trip to an entry and
back; an entry is exactly one canonical spelling (RFC 8785), so two readers of the same bytes
never disagree; it fits an entry bundle's length prefix; and the tiles a tree has are the
ones the C2SP spec lists."""

from __future__ import annotations

import base64
import json
import re
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from api.cli.log import tiles_of
from ledger import fold
from ledger.application import CustodyLedger
from ledger.commands import (
    Archive,
    ArchiveHistory,
    AssignHolder,
    ChangeOwnership,
    CloseAccount,
    EndOfficialUse,
    Evidence,
    Holder,
    ObserveAudience,
    RegisterAccount,
    RegisterOffice,
    ReleaseHolder,
    RenameHandle,
    RetractEvent,
    StartOfficialUse,
    TransferOffice,
)
from ledger.domain import EVENT_CLASSES
from ledger.fold import Fact
from ledger.tlog.entry import (
    FIXED_MAX,
    MAX_ENTRY_BYTES,
    EntryError,
    check_entry,
    entry_bytes,
    parse_entry,
)
from ledger.tlog.merkle import leaf_hash
from ledger.tlog.tiles import (
    TilePathError,
    TileRef,
    bundle,
    encode_index,
    parse_tile_path,
    unbundle,
)
from tests.stories import ACTOR, INAUGURATION_2017, INAUGURATION_2021, LATER, OPENED, register
from tests.strategies import fact_lists

EXAMPLES = json.loads(
    (Path(__file__).resolve().parents[1] / "vectors" / "c2sp" / "examples.json").read_text()
)["examples"]
STREAM = UUID("3b6d7be1-b2fa-4ac0-94e3-21774eebbea7")
PREV = bytes(range(32))


def chained(stream: UUID, facts: list[Fact]) -> list[tuple[bytes, bytes | None]]:
    """Each fact's entry, with the leaf hash of the one before it (None for the first)."""
    out: list[tuple[bytes, bytes | None]] = []
    prev = None
    for fact in facts:
        entry = entry_bytes(stream, fact, prev)
        out.append((entry, prev))
        prev = leaf_hash(entry)
    return out


def test_every_kind_of_custody_event_makes_an_entry_that_reads_back_as_the_same_fact(
    memory_ledger: CustodyLedger,
) -> None:
    ledger = memory_ledger
    potus = register(ledger, "@POTUS", platform_account_id="1536791610").account_id
    source = Evidence(url="https://www.archives.gov/presidential-records", sha256="ab" * 32)
    commands = [
        AssignHolder(holder=Holder(id="obama", name="Barack Obama"), effective_at=OPENED,
                     reason="sworn in", evidence=(source,)),
        ArchiveHistory(archive=Archive(ref="nara:potus44", sha256="cd" * 32, items=3),
                       effective_at=INAUGURATION_2017),
        ReleaseHolder(effective_at=INAUGURATION_2017),
        AssignHolder(holder=Holder(id="trump", name="Donald J. Trump"),
                     effective_at=INAUGURATION_2017 - timedelta(microseconds=1)),
        RetractEvent(event_version=5, effective_at=LATER, reason="a microsecond too early"),
        RenameHandle(handle="@POTUS45", effective_at=INAUGURATION_2021),
        TransferOffice(office="us-archivist", effective_at=INAUGURATION_2021),
        CloseAccount(effective_at=LATER),
    ]  # fmt: skip
    for command in commands:
        ledger.append(potus, command, actor=ACTOR)  # type: ignore[arg-type]
    bajwa = Holder(id="asim-saleem-bajwa", name="Asim Saleem Bajwa")
    personal = ledger.register_account(
        RegisterAccount(platform="x", handle="@AsimBajwaISPR", ownership="personal",
                        owner=bajwa, office="pk-dg-ispr", effective_at=OPENED),
        actor=ACTOR,
    ).account_id  # fmt: skip
    for later in (
        ObserveAudience(followers=3_050_000, effective_at=INAUGURATION_2017, evidence=(source,)),
        EndOfficialUse(effective_at=INAUGURATION_2017),
        StartOfficialUse(office="pk-coas", effective_at=INAUGURATION_2021),
        ChangeOwnership(ownership="office", office="pk-coas", effective_at=LATER),
    ):
        ledger.append(personal, later, actor=ACTOR)
    office = ledger.register_office(
        RegisterOffice(office="pk-dg-ispr", name="DG ISPR", jurisdiction="PK", effective_at=OPENED),
        actor=ACTOR,
    ).account_id
    ledger.append_office("pk-dg-ispr", AssignHolder(holder=bajwa, effective_at=OPENED), actor=ACTOR)
    streams = [(potus, ledger.facts(potus)), (personal, ledger.facts(personal)),
               (office, ledger.office_facts("pk-dg-ispr"))]  # fmt: skip
    # every type the ledger has, of both kinds of stream
    kinds = {(f.kind, f.type) for _, facts in streams for f in facts}
    assert {t for k, t in kinds if k == "account"} == set(EVENT_CLASSES)
    assert {t for k, t in kinds if k == "office"} == {"office_registered", "holder_assigned"}
    for stream, facts in streams:
        for fact, (entry, prev) in zip(facts, chained(stream, facts), strict=True):
            assert parse_entry(entry) == (stream, fact, prev), fact.type
            value = json.loads(entry)
            assert (value["type"], value["version"]) == (fact.type, fact.version)
            assert value["prev"] == (None if prev is None else base64.b64encode(prev).decode())
            # an office's entry names its stream office_id, an account's account_id
            assert value["office_id" if fact.kind == "office" else "account_id"] == str(stream)
    facts = ledger.facts(potus)
    assert json.loads(chained(potus, facts)[1][0])["evidence"] == [
        {"url": "https://www.archives.gov/presidential-records", "sha256": "ab" * 32}
    ]


def _texts() -> st.SearchStrategy[str]:
    return st.text(st.characters(exclude_categories=["Cs"]), max_size=30)


@settings(max_examples=60, deadline=None)
@given(
    facts=fact_lists(max_facts=6),
    reason=_texts(),
    actor=_texts(),
    when=st.datetimes(
        min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30), timezones=st.just(UTC)
    ),
    offset=st.integers(-14 * 60, 14 * 60),
)
def test_any_fact_makes_one_canonical_entry_that_reads_back_as_itself(
    facts: list[Fact], reason: str, actor: str, when: datetime, offset: int
) -> None:
    """Whatever the text (quotes, control characters, any script) and whatever the time zone
    a time is given in: the entry reads back as the same fact, and is its own canonical form."""
    zone = timezone(timedelta(minutes=offset))
    last = facts[-1]
    facts[-1] = Fact(last.version, last.type, when.astimezone(zone), last.recorded_at, actor,
                     reason, ({"url": "https://example.org/" + str(len(reason))},), last.data)  # fmt: skip
    for fact, (entry, prev) in zip(facts, chained(STREAM, facts), strict=True):
        stream, read, read_prev = parse_entry(entry)
        assert (stream, read, read_prev) == (STREAM, fact, prev)
        assert read.effective_at.tzinfo == UTC
        assert entry_bytes(stream, read, read_prev) == entry


# -- the one spelling --------------------------------------------------------------------------

FACT = Fact(
    version=2,
    type=fold.ASSIGNED,
    effective_at=datetime(2017, 1, 20, 12, tzinfo=timezone(timedelta(hours=-5))),
    recorded_at=datetime(2017, 1, 20, 18, 0, 0, 500000, tzinfo=UTC),
    actor="records-office",
    reason='Présidence — 総統 "sworn"\nin\x1f / \u2028',
    evidence=({"url": "https://example.org/oath", "sha256": None},),
    data={"holder": {"name": "Donald J. Trump", "id": "trump-45"}},
)
CANONICAL = (
    '{"account_id":"3b6d7be1-b2fa-4ac0-94e3-21774eebbea7","actor":"records-office",'
    '"data":{"holder":{"id":"trump-45","name":"Donald J. Trump"}},'
    '"effective_at":"2017-01-20T17:00:00Z",'
    '"evidence":[{"sha256":null,"url":"https://example.org/oath"}],'
    '"prev":"AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=",'
    '"reason":"Présidence — 総統 \\"sworn\\"\\nin\\u001f / \u2028",'
    '"recorded_at":"2017-01-20T18:00:00.500000Z","type":"holder_assigned","version":2}'
)


def test_an_entry_is_rfc_8785_json_keys_sorted_no_spaces_utf8_kept_times_in_utc() -> None:
    entry = entry_bytes(STREAM, FACT, PREV)
    assert entry == CANONICAL.encode("utf-8")
    assert "Présidence".encode() in entry and b"\\u00e9" not in entry
    assert entry_bytes(STREAM, FACT, None) == CANONICAL.replace(
        '"AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="', "null"
    ).encode("utf-8")


def _value() -> dict[str, Any]:
    return dict(json.loads(CANONICAL))


def _changed(**fields: Any) -> bytes:
    value = _value()
    for name, v in fields.items():
        if v is _DROP:
            del value[name]
        else:
            value[name] = v
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


_DROP = object()


@pytest.mark.parametrize(
    ("entry", "why"),
    [
        (json.dumps(_value(), sort_keys=True, ensure_ascii=False).encode(), "canonical form"),
        (
            json.dumps(
                dict(reversed(_value().items())), separators=(",", ":"), ensure_ascii=False
            ).encode(),
            "canonical form",
        ),
        (json.dumps(_value(), sort_keys=True, separators=(",", ":")).encode(), "canonical form"),
        (CANONICAL.encode() + b"\n", "canonical form"),
        (b"\xef\xbb\xbf" + CANONICAL.encode(), "canonical form"),
        (CANONICAL.replace('{"account_id"', '{"version":1,"account_id"', 1).encode(), "canonical"),
        (_changed(effective_at="2017-01-20T17:00:00+00:00"), "canonical form"),
        (_changed(effective_at="2017-01-20T12:00:00-05:00"), "canonical form"),
        (_changed(recorded_at="2017-01-20T18:00:00.5Z"), "canonical form"),
        (_changed(account_id="3B6D7BE1-B2FA-4AC0-94E3-21774EEBBEA7"), "canonical form"),
        (_changed(data=[]), "canonical form"),
        (_changed(prev=None), None),  # canonical, and valid: a stream's first entry
        (_changed(prev=_DROP), "exactly the fields"),
        (_changed(reason=_DROP), "exactly the fields"),
        (_changed(retracted_by=None), "exactly the fields"),
        (_changed(version=2.0), "malformed"),
        (_changed(version=True), "malformed"),
        (_changed(version="2"), "malformed"),
        (_changed(type=None), "malformed"),
        (_changed(effective_at="2017-01-20T17:00:00"), "malformed"),
        (_changed(effective_at="yesterday"), "malformed"),
        (_changed(account_id="potus"), "malformed"),
        (_changed(evidence={"url": "https://example.org"}), "malformed"),
        (_changed(evidence=["https://example.org"]), "malformed"),
        (_changed(data="ab"), "malformed"),
        (_changed(prev="not base64!"), "malformed"),
        (_changed(prev="AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8"), "malformed"),
        (_changed(prev=base64.b64encode(bytes(31)).decode()), "not a 32-byte hash"),
        (_changed(prev=base64.b64encode(bytes(33)).decode()), "not a 32-byte hash"),
        (b"[]", "exactly the fields"),
        (b"\xff", "not JSON"),
        (b"", "not JSON"),
    ],
)
def test_an_entry_that_is_not_the_one_canonical_spelling_is_refused(
    entry: bytes, why: str | None
) -> None:
    if why is None:
        assert parse_entry(entry) == (STREAM, FACT, None)
        return
    with pytest.raises(EntryError, match=why):
        parse_entry(entry)


def test_an_imported_events_attribution_is_in_its_entry_and_an_unattributed_entry_is_unchanged() -> (
    None
):
    """`attributed_to` (who an imported line named as its recorder) joins the entry only when
    the event has one: every entry written before the field existed is the same bytes."""
    attributed = replace(FACT, actor="import:records-clerk", attributed_to="t-reader")
    entry = entry_bytes(STREAM, attributed, PREV)
    assert entry == CANONICAL.replace(
        '"actor":"records-office",', '"actor":"import:records-clerk","attributed_to":"t-reader",'
    ).encode("utf-8")
    assert parse_entry(entry) == (STREAM, attributed, PREV)
    assert entry_bytes(STREAM, replace(FACT, attributed_to=None), PREV) == CANONICAL.encode()
    # null is not a spelling of "none": the one canonical entry of an unattributed event omits it
    with pytest.raises(EntryError, match="malformed"):
        parse_entry(_changed(attributed_to=None))
    with pytest.raises(EntryError, match="malformed"):
        parse_entry(_changed(attributed_to=7))
    with pytest.raises(EntryError, match="exactly the fields"):
        parse_entry(_changed(attributed_by="t-reader"))


def test_a_repeated_key_is_refused_whichever_copy_a_reader_keeps() -> None:
    entry = CANONICAL.replace('"actor":"records-office",', '"actor":"x","actor":"records-office",')
    assert json.loads(entry)["actor"] == "records-office"  # Python keeps the last; others not
    with pytest.raises(EntryError, match="canonical form"):
        parse_entry(entry.encode())


def test_an_entry_is_at_most_65535_bytes_the_most_a_bundle_length_prefix_can_say() -> None:
    base = len(entry_bytes(STREAM, replace(FACT, reason=""), PREV))
    fits = replace(FACT, reason="x" * (MAX_ENTRY_BYTES - base))
    entry = entry_bytes(STREAM, fits, PREV)
    assert len(entry) == MAX_ENTRY_BYTES == 65_535
    assert parse_entry(entry) == (STREAM, fits, PREV)
    assert unbundle(bundle([entry, b"{}"])) == [entry, b"{}"]
    over = replace(FACT, reason="x" * (MAX_ENTRY_BYTES - base + 1))
    with pytest.raises(EntryError, match=r"is 65,536 bytes as a log entry; an entry is at most"):
        entry_bytes(STREAM, over, PREV)
    # Counted in bytes, not characters: two-byte characters reach the bound at half the count.
    wide = replace(FACT, reason="é" * ((MAX_ENTRY_BYTES - base) // 2 + 1))
    with pytest.raises(EntryError, match="an entry is at most 65,535"):
        entry_bytes(STREAM, wide, PREV)


def test_a_value_json_cannot_hold_is_an_entry_error_not_a_crash() -> None:
    for data in ({"n": float("nan")}, {"when": datetime(2017, 1, 1)}):
        with pytest.raises(EntryError, match="has no canonical JSON"):
            entry_bytes(STREAM, replace(FACT, data=data), PREV)


def test_an_entry_is_at_most_fixed_max_bytes_more_than_its_events_own_fields() -> None:
    # The largest fixed part: the longest stream key, a version of 16 digits, times with
    # microseconds, `prev` and the optional field present.
    late = datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC)
    largest = replace(
        FACT, version=2**53 - 1, effective_at=late, recorded_at=late, kind="dispute",
        attributed_to="",
    )  # fmt: skip
    own = [largest.actor, largest.reason, list(largest.evidence), largest.data, "", largest.type]
    mine = json.dumps(own, ensure_ascii=False, separators=(",", ":")).encode()
    fixed = len(entry_bytes(STREAM, largest, PREV)) - len(mine)
    assert fixed + 40 < FIXED_MAX  # with room to spare, so the bound holds without a margin


# Any text; lone surrogates (which no JSON holds) drawn by hand, as Hypothesis seldom does.
_ANY_TEXT = st.text(st.characters(exclude_categories=()), max_size=8) | st.sampled_from(
    ["\ud800", "x\udc00y"]
)
_LEAVES = st.none() | st.booleans() | st.integers(-(2**60), 2**60) | st.floats() | _ANY_TEXT
_VALUES = (
    _LEAVES
    | st.lists(_LEAVES, max_size=3)
    | st.dictionaries(_ANY_TEXT, _LEAVES | st.lists(_LEAVES, max_size=2), max_size=3)
)
_TIMES = st.datetimes(timezones=st.sampled_from([UTC, timezone(timedelta(hours=-5))])) | (
    st.sampled_from(  # a time zone away from UTC, at the ends of what a datetime holds
        [
            datetime(9999, 12, 31, 23, tzinfo=timezone(timedelta(hours=-5))),
            datetime(1, 1, 1, tzinfo=timezone(timedelta(hours=5))),
        ]
    )
)


# The drawn arguments of an ordinary event, for the examples below to change one of.
_USUAL: dict[str, Any] = {
    "data": {}, "evidence": [], "reason": "", "actor": "a", "attributed": None,
    "kind": "account", "version": 2, "times": None, "pad": None,
}  # fmt: skip
HOURS_5 = timedelta(hours=5)


@settings(max_examples=300, deadline=None)
@given(
    data=st.dictionaries(_ANY_TEXT, _VALUES, max_size=3),
    evidence=st.lists(st.dictionaries(_ANY_TEXT, _VALUES, max_size=2), max_size=2),
    reason=_ANY_TEXT,
    actor=_ANY_TEXT,
    attributed=st.none() | _ANY_TEXT,
    kind=st.sampled_from(["account", "office", "dispute", "elsewhere"]),
    version=st.integers(1, 2**53 - 1) | st.integers(2**53, 2**60),
    times=st.tuples(_TIMES, _TIMES) | st.none(),
    pad=st.integers(-60, 20) | st.integers(-(FIXED_MAX + 50), 20) | st.none(),
)
@example(**{**_USUAL, "data": {"n": float("nan")}})  # each a reason there is no entry
@example(**{**_USUAL, "reason": "x\udc00y"})
@example(**{**_USUAL, "kind": "elsewhere"})
@example(**{**_USUAL, "version": 2**53})
@example(**{**_USUAL, "times": (datetime(9999, 12, 31, 23, tzinfo=timezone(-HOURS_5)), LATER)})
@example(**{**_USUAL, "pad": 1})
def test_check_entry_refuses_exactly_what_entry_bytes_refuses(
    data: dict[str, Any],
    evidence: list[dict[str, Any]],
    reason: str,
    actor: str,
    attributed: str | None,
    kind: str,
    version: int,
    times: tuple[datetime, datetime] | None,
    pad: int | None,
) -> None:
    fact = replace(
        FACT, data=data, evidence=tuple(evidence), reason=reason, actor=actor,
        attributed_to=attributed, kind=kind, version=version,
    )  # fmt: skip
    # Times in UTC unless drawn: the ledger's (the check decides those without the entry).
    effective, recorded = times or (FACT.effective_at.astimezone(UTC), FACT.recorded_at)
    fact = replace(fact, effective_at=effective, recorded_at=recorded)
    if pad is not None:  # near the bound, where the check has to make the entry to decide
        try:
            size = len(entry_bytes(STREAM, fact, PREV))
        except Exception:
            size = MAX_ENTRY_BYTES
        fact = replace(fact, reason=reason + "x" * max(MAX_ENTRY_BYTES - size + pad, 0))
    try:
        entry_bytes(STREAM, fact, PREV)
    except Exception as e:  # EntryError; or a fact the ledger never makes, refused alike
        with pytest.raises(type(e), match=re.escape(str(e))):
            check_entry(STREAM, fact)
    else:
        check_entry(STREAM, fact)


def test_a_whole_number_beyond_what_a_double_holds_is_written_as_its_decimal_text() -> None:
    entry = entry_bytes(STREAM, replace(FACT, data={"n": 2**60, "m": [2**53 - 1, -(2**53)]}), PREV)
    assert b'"n":"1152921504606846976"' in entry
    assert b'"m":[9007199254740991,"-9007199254740992"]' in entry
    assert parse_entry(entry)[1].data == {"n": str(2**60), "m": [2**53 - 1, str(-(2**53))]}


# -- tiles -------------------------------------------------------------------------------------


def _example(what: str) -> dict[str, Any]:
    (found,) = [e for e in EXAMPLES if e["what"] == what]
    return dict(found)


@pytest.mark.parametrize("size", [70000, 256])
def test_a_tree_has_the_tiles_the_c2sp_spec_lists(size: int) -> None:
    example = _example(f"tiles needed for a tree of size {size}")
    assert example["tree_size"] == size
    refs = tiles_of(size)
    by_level: dict[str, dict[str, int]] = {}
    for ref in refs:
        if ref.level is None:
            continue
        level = by_level.setdefault(str(ref.level), {"full": 0, "partial_width": 0})
        if ref.width is None:
            level["full"] += 1
        else:
            assert level["partial_width"] == 0, "one partial tile per level"
            level["partial_width"] = ref.width
    assert by_level == example["tiles_by_level"]
    # Entry bundles go with the level-0 tiles, one for one.
    assert [(r.index, r.width) for r in refs if r.level is None] == [
        (r.index, r.width) for r in refs if r.level == 0
    ]
    assert len(refs) == len(set(refs)) == len({r.path() for r in refs})


def test_a_tree_of_no_entries_has_no_tiles_and_a_full_tile_no_partial_one() -> None:
    assert tiles_of(0) == []
    assert [r.path() for r in tiles_of(1)] == ["0/000.p/1", "entries/000.p/1"]
    assert [r.path() for r in tiles_of(512)] == [
        "0/000", "0/001", "1/000.p/2", "entries/000", "entries/001"
    ]  # fmt: skip


def test_a_tile_index_is_written_in_three_digit_groups_as_the_spec_shows() -> None:
    example = _example("tile index path encoding")
    assert encode_index(example["tile_index"]) == example["path_segment"] == "x001/x234/067"
    assert (encode_index(0), encode_index(999), encode_index(1000)) == ("000", "999", "x001/000")
    with pytest.raises(TilePathError):
        encode_index(-1)


@settings(max_examples=300, deadline=None)
@given(
    index=st.one_of(st.integers(0, 2000), st.integers(0, 2**64)),
    level=st.one_of(st.none(), st.integers(0, 63)),
    width=st.one_of(st.none(), st.integers(1, 255)),
)
def test_a_tile_path_reads_back_as_the_tile_it_names(
    index: int, level: int | None, width: int | None
) -> None:
    ref = TileRef(level, index, width)
    path = ref.path()
    assert parse_tile_path(path) == ref
    head, _, rest = path.partition("/")
    assert head == ("entries" if level is None else str(level))
    groups = rest.split(".p/")[0].split("/")
    assert all(len(g) == 4 and g[0] == "x" for g in groups[:-1]) and len(groups[-1]) == 3
    assert int("".join(g.lstrip("x") for g in groups)) == index


@pytest.mark.parametrize(
    "path",
    ["0/1", "00/000", "0/x000/005", "0/000.p/0", "0/000.p/256", "64/000", "entries/0000",
     "foo/000", "0/000.p/", "0/000.p/043", "0/+01", "01/000", "0", "", "entries/",
     "0/x1/000", "0/x001/000/", "\u0660/000", "0/\u0660\u0660\u0660"],
)  # fmt: skip
def test_a_tile_path_in_any_other_spelling_is_refused(path: str) -> None:
    with pytest.raises(TilePathError):
        parse_tile_path(path)


@settings(max_examples=100, deadline=None)
@given(st.lists(st.binary(max_size=300), min_size=1, max_size=8), st.integers(1, 400))
def test_an_entry_bundle_reads_back_and_one_cut_short_is_refused(
    entries: list[bytes], cut: int
) -> None:
    data = bundle(entries)
    assert unbundle(data) == entries
    assert len(data) == sum(2 + len(e) for e in entries)
    cut = min(cut, len(entries[-1]) + 1)  # into the last entry, or into its length
    where = "an entry" if cut <= len(entries[-1]) else "a length"
    with pytest.raises(TilePathError, match=f"ends inside {where}"):
        unbundle(data[:-cut])


@pytest.mark.parametrize(
    "path", ["9" * 5000 + "/000", "0/000.p/" + "9" * 5000, "0/" + "x999/" * 1500 + "000"]
)
def test_a_tile_path_too_long_to_name_a_tile_is_refused_before_any_number_is_read(
    path: str,
) -> None:
    with pytest.raises(TilePathError, match="at most 64 characters"):
        parse_tile_path(path)

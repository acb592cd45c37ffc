"""The log's canonical JSON is RFC 8785's: the fast path (the standard library's encoder, for
values it writes canonically) and the `rfc8785` package agree on every JSON value, and where
the package refuses a value the fast path refuses it too. An entry read straight from a stored
event's JSON is the entry of the decoded event."""

from __future__ import annotations

from typing import Any
from uuid import UUID

import rfc8785
from hypothesis import given, settings
from hypothesis import strategies as st

from api.bootstrap import build
from ledger.domain import CUSTODY_TOPICS, decode_fact
from ledger.settings import Settings
from ledger.tlog.entry import canonical, entry_bytes, entry_from_stored
from ledger.tlog.merkle import leaf_hash
from tests.strategies import Step, command_steps, run_steps

JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**60), 2**60)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.text(), inner, max_size=5),
    max_leaves=20,
)


def outcome(encode: Any, value: Any) -> bytes | str:
    try:
        out: bytes = encode(value)
        return out
    except (rfc8785.CanonicalizationError, ValueError, TypeError):
        return "refused"


@settings(max_examples=3000, deadline=None)
@given(JSON)
def test_the_fast_path_writes_what_rfc8785_writes(value: Any) -> None:
    assert outcome(canonical, value) == outcome(rfc8785.dumps, value)


def test_the_fast_path_is_taken_for_entries_and_escapes_as_the_rfc_does() -> None:
    value: Any = {"b": 'tab\there \u001f \u2028 é "q" \\', "a": [1, None, True], "é": 1.5}
    assert canonical(value) == rfc8785.dumps(value)
    assert canonical({"z": 1, "a": "\x7f"}) == b'{"a":"\x7f","z":1}'


@settings(max_examples=25, deadline=None)
@given(command_steps(max_steps=15))
def test_an_entry_read_straight_from_the_stored_json_is_the_entry_of_the_decoded_event(
    steps: list[Step],
) -> None:
    container = build(Settings(database_url="sqlite://", log_enabled=False))
    try:
        run_steps(container.ledger, steps, verify_refusals=False)
        notes = container.ledger.recorder.select_notifications(
            start=0, limit=1000, topics=CUSTODY_TOPICS
        )
        prev: dict[UUID, bytes] = {}
        for note in notes:
            stream, fact = decode_fact(container.ledger.mapper, note, note.id)
            exact = entry_bytes(stream, fact, prev.get(stream))
            fast = entry_from_stored(stream, fact.version, note.topic, note.state, prev.get(stream))
            assert fast == exact
            prev[stream] = leaf_hash(exact)
    finally:
        container.close()


def test_the_shortcut_declines_what_decoding_would_turn_into_another_type() -> None:
    stream = UUID(int=1)
    state = (
        b'{"timestamp":{"_type_":"datetime_iso","_data_":"2020-01-01T00:00:00+00:00"},'
        b'"effective_at":{"_type_":"datetime_iso","_data_":"2020-01-01T00:00:00+00:00"},'
        b'"actor":"a","reason":"","evidence":[],"data":{"x":{"_type_":"uuid_hex","_data_":"0"}}}'
    )
    topic = "ledger.domain:Account.HolderAssigned"
    assert entry_from_stored(stream, 2, topic, state, None) is None
    plain = state.replace(b'{"_type_":"uuid_hex","_data_":"0"}', b'"0"')
    assert entry_from_stored(stream, 2, topic, plain, None) is not None
    offset = plain.replace(b"2020-01-01T00:00:00+00:00", b"2020-01-01T05:00:00+05:00")
    assert entry_from_stored(stream, 2, topic, offset, None) is None
    assert entry_from_stored(stream, 2, "ledger.domain:Token.Created", plain, None) is None


def test_the_shortcut_reads_an_attribution_and_an_event_stored_before_the_field_existed() -> None:
    """The stored JSON of an imported event holds `attributed_to`; one stored before the field
    existed has no such key, and one written directly holds null: the shortcut gives the entry
    the decoded event gives in each case."""
    stream = UUID(int=1)
    when = '{"_type_":"datetime_iso","_data_":"2020-01-01T00:00:00+00:00"}'
    head = f'{{"timestamp":{when},"effective_at":{when},"actor":"a","reason":""'
    tail = ',"evidence":[],"data":{"x":"0"}}'
    topic = "ledger.domain:Account.HolderAssigned"

    def entry(attribution: str) -> bytes | None:
        return entry_from_stored(stream, 2, topic, (head + attribution + tail).encode(), None)

    old, null, said = entry(""), entry(',"attributed_to":null'), entry(',"attributed_to":"t"')
    assert old is not None and old == null and b"attributed_to" not in old
    assert said == old.replace(b'"actor":"a",', b'"actor":"a","attributed_to":"t",')
    assert entry(',"attributed_to":7') is None  # not a name: decoding decides

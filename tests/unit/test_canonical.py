"""The log's canonical JSON is RFC 8785's: the fast path (the standard library's encoder, for
values it writes canonically) and the `rfc8785` package agree on every JSON value, and where
the package refuses a value the fast path refuses it too."""

from __future__ import annotations

from typing import Any

import rfc8785
from hypothesis import given, settings
from hypothesis import strategies as st

from ledger.tlog.entry import canonical

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


@settings(max_examples=1500, deadline=None)
@given(JSON)
def test_the_fast_path_writes_what_rfc8785_writes(value: Any) -> None:
    assert outcome(canonical, value) == outcome(rfc8785.dumps, value)


def test_the_fast_path_is_taken_for_entries_and_escapes_as_the_rfc_does() -> None:
    value = {"b": "tab\there \u001f \u2028 é \"q\" \\", "a": [1, None, True], "é": 1.5}
    assert canonical(value) == rfc8785.dumps(value)
    assert canonical({"z": 1, "a": "\x7f"}) == b'{"a":"\x7f","z":1}'

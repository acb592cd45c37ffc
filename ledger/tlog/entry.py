"""A custody event as an entry of the verifiable log: the RFC 8785 canonical JSON of its
immutable fields, chained to the previous entry of the same stream by that entry's leaf hash.
An integer beyond what an IEEE double holds exactly (2**53) is written as its decimal string.

The entry is what the Merkle tree commits to and what entry tiles serve; anyone holding the
entries of a stream can re-run the fold on them (`fact_of`) and check the chain (`prev`).
`retracted_by` is not in it: it is derived from later entries. `attributed_to` (who an
imported line says recorded the event) is in it only when the event has one, so the entries of
every other event are the bytes they were before the field existed.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

import orjson
import rfc8785
from eventsourcing.utils import get_topic

from ledger.domain import DISPUTE_EVENT_CLASSES, EVENT_CLASSES, OFFICE_EVENT_CLASSES
from ledger.fold import Fact

MAX_ENTRY_BYTES = 65_535  # an entry bundle prefixes each entry with its length as a uint16
FIELDS = frozenset(
    (
        "account_id",
        "version",
        "type",
        "effective_at",
        "recorded_at",
        "actor",
        "reason",
        "evidence",
        "data",
        "prev",
    )
)
# An office stream's entry names its stream `office_id` instead, a dispute's `dispute_id` (the
# same fields otherwise), so a reader of one entry knows which kind of stream it belongs to.
STREAM_KEYS = {"account": "account_id", "office": "office_id", "dispute": "dispute_id"}
KIND_OF_KEY = {key: kind for kind, key in STREAM_KEYS.items()}
FIELDS_OF_KIND = {kind: (FIELDS - {"account_id"}) | {key} for kind, key in STREAM_KEYS.items()}
OFFICE_FIELDS = FIELDS_OF_KIND["office"]
ATTRIBUTED = "attributed_to"  # an optional field: present only when the event has one
# Every field set an entry may have: a kind's fields, with or without `attributed_to`.
ENTRY_FIELD_SETS = (
    *FIELDS_OF_KIND.values(),
    *(fields | {ATTRIBUTED} for fields in FIELDS_OF_KIND.values()),
)


def stream_key(kind: str) -> str:
    return STREAM_KEYS[kind]


class EntryError(ValueError):
    """Bytes that are not a log entry, or an event that cannot be one; the message says why."""


def timestamp(value: datetime) -> str:
    """A time as the API writes it: RFC 3339 in UTC with a `Z`, microseconds when not zero."""
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def canonical(value: Any) -> bytes:
    """RFC 8785 canonical JSON. For values without numbers that are not whole and with ASCII
    keys, orjson with sorted keys writes exactly the canonical bytes (its string escapes and
    key order are then the RFC's), at a fiftieth of the cost of the pure-Python `rfc8785`
    package, which takes every other value (a test holds the two to each other)."""
    if not _plain(value):
        return rfc8785.dumps(value)
    # orjson.JSONEncodeError (a TypeError) for a lone surrogate, as the RFC refuses it.
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS)


def _exact(value: Any) -> Any:
    """`value` with every integer that an IEEE double cannot hold exactly (beyond 2**53 - 1,
    which older versions accepted in an archive's count) written as its decimal string: an
    RFC 8785 number is a double. The same object when there is none (the usual case)."""
    if type(value) is int and not -(2**53) < value < 2**53:
        return str(value)
    if type(value) is dict:
        changed = {k: _exact(v) for k, v in value.items()}
        return value if all(changed[k] is value[k] for k in value) else changed
    if type(value) is list:
        items = [_exact(v) for v in value]
        return value if all(a is b for a, b in zip(items, value, strict=True)) else items
    return value


def _plain(value: Any, *, stored: bool = False) -> bool:
    """No floats anywhere, and dict keys ASCII strings (sorted alike by code point and by
    UTF-16 unit); integers within the RFC's exact range (2**53). `stored`: JSON as the
    transcoder stored it, where a dict with a `_type_` key is an object of its own, which
    decoding would turn into another type (so not plain)."""
    stack = [value]
    pop, push, extend = stack.pop, stack.append, stack.extend
    while stack:
        item = pop()
        kind = type(item)
        if kind is dict:
            if stored and "_type_" in item:
                return False
            for key, inner in item.items():
                if type(key) is not str or not key.isascii():
                    return False
                if type(inner) is not str:  # the usual leaf, passed here without a round
                    push(inner)
        elif kind is list or kind is tuple:
            extend(item)
        elif kind is int:
            if not -(2**53) < item < 2**53:
                return False
        elif not (kind is str or item is None or kind is bool):
            return False  # floats, subclasses and anything else: the library decides
    return True


def entry_bytes(stream: UUID, fact: Fact, prev: bytes | None) -> bytes:
    """The entry for `fact` of `stream`, after the entry whose leaf hash is `prev` (None for
    the stream's first). EntryError if it would exceed MAX_ENTRY_BYTES."""
    value: dict[str, Any] = {
        stream_key(fact.kind): str(stream),
        "version": fact.version,
        "type": fact.type,
        "effective_at": timestamp(fact.effective_at),
        "recorded_at": timestamp(fact.recorded_at),
        "actor": fact.actor,
        "reason": fact.reason,
        "evidence": list(fact.evidence),
        "data": fact.data,
        "prev": None if prev is None else base64.b64encode(prev).decode("ascii"),
    }
    if fact.attributed_to is not None:
        value[ATTRIBUTED] = fact.attributed_to
    try:
        if _plain(value):  # no integer beyond 2**53 either: `_exact` would change nothing
            out = orjson.dumps(value, option=orjson.OPT_SORT_KEYS)
        else:
            value["evidence"], value["data"] = _exact(value["evidence"]), _exact(fact.data)
            out = canonical(value)
    except (rfc8785.CanonicalizationError, TypeError, ValueError) as e:
        raise EntryError(f"event {stream} v{fact.version} has no canonical JSON: {e}") from None
    if len(out) > MAX_ENTRY_BYTES:
        raise EntryError(
            f"event {stream} v{fact.version} is {len(out):,} bytes as a log entry; an entry "
            f"is at most {MAX_ENTRY_BYTES:,}"
        )
    return out


# More than an entry's bytes outside its actor, reason, evidence, data, attributed_to and type
# can be: field names and punctuation (under 140), a stream id (38), a version (16 digits), two
# times (29 each) and `prev` (46). A test checks the largest such entry against it.
FIXED_MAX = 400
_ANY_PREV = bytes(32)


def check_entry(stream: UUID, fact: Fact) -> None:
    """EntryError exactly when `entry_bytes(stream, fact, prev)` would raise one for some
    `prev` (an entry's size does not depend on which hash it holds), at a fraction of the cost
    of making the entry: each append asks. For a fact as the ledger makes them (a version below
    2**53, a kind of stream, times in UTC) only the event's own fields can be refused (a value
    JSON cannot hold, or too many bytes), and an entry is at most FIXED_MAX bytes more than
    their JSON, as orjson writes it for plain values whatever the order of keys. Anything else
    (another fact, values not plain, or near the bound) makes the entry to decide."""
    own = [fact.actor, fact.reason, list(fact.evidence), fact.data, fact.attributed_to, fact.type]
    if (
        0 < fact.version < 2**53
        and fact.kind in STREAM_KEYS
        and fact.effective_at.tzinfo is UTC
        and fact.recorded_at.tzinfo is UTC
        and _plain(own)
    ):
        try:
            if len(orjson.dumps(own)) + FIXED_MAX <= MAX_ENTRY_BYTES:
                return
        except TypeError:  # orjson.JSONEncodeError: a lone surrogate, say; said below
            pass
    entry_bytes(stream, fact, _ANY_PREV)


def entry_from_stored(
    stream: UUID | str, version: int, topic: str, state: bytes, prev: bytes | None
) -> bytes | None:
    """The entry of a stored custody event read straight from its JSON, without building the
    domain event: the same bytes as `entry_bytes` of the decoded fact (a test holds them to
    each other), or None where the shortcut does not apply (a value the transcoder encodes as
    an object of its own, a time not in UTC, bytes that are not such JSON): then decode.
    `stream` may be given as its text (`str(uuid)`)."""
    known = _TOPIC_TYPES.get(topic)
    if known is None:
        return None
    kind, stream_kind = known
    try:
        raw = orjson.loads(state)
        # A time as the transcoder stores it: {"_type_": "datetime_iso", "_data_": ...}.
        effective, recorded = raw["effective_at"], raw["timestamp"]
        if effective["_type_"] != "datetime_iso" or recorded["_type_"] != "datetime_iso":
            return None
        effective, recorded = effective["_data_"], recorded["_data_"]
        actor, reason, evidence, data = raw["actor"], raw["reason"], raw["evidence"], raw["data"]
        attributed = raw.get(ATTRIBUTED)  # absent from events stored before it existed
    except (orjson.JSONDecodeError, KeyError, TypeError, AttributeError):
        return None
    if (
        type(effective) is not str
        or type(recorded) is not str
        or not effective.endswith("+00:00")  # in UTC, as `timestamp` writes it
        or not recorded.endswith("+00:00")
        or type(actor) is not str
        or (attributed is not None and type(attributed) is not str)
        or type(reason) is not str
        or type(evidence) is not list
        or type(data) is not dict
        or not _plain(data, stored=True)
        or (
            evidence
            and not (all(type(e) is dict for e in evidence) and _plain(evidence, stored=True))
        )
    ):
        return None
    value = {
        stream_key(stream_kind): str(stream),
        "version": version,
        "type": kind,
        "effective_at": effective[:-6] + "Z",
        "recorded_at": recorded[:-6] + "Z",
        "actor": actor,
        "reason": reason,
        "evidence": evidence,
        "data": data,
        "prev": None if prev is None else base64.b64encode(prev).decode("ascii"),
    }
    if attributed is not None:
        value[ATTRIBUTED] = attributed
    try:  # plain values, checked above: orjson's bytes are the canonical ones
        out = orjson.dumps(value, option=orjson.OPT_SORT_KEYS)
    except orjson.JSONEncodeError:  # a lone surrogate
        return None
    return out if len(out) <= MAX_ENTRY_BYTES else None


_TOPIC_TYPES = {
    **{get_topic(cls): (name, "account") for name, cls in EVENT_CLASSES.items()},
    **{get_topic(cls): (name, "office") for name, cls in OFFICE_EVENT_CLASSES.items()},
    **{get_topic(cls): (name, "dispute") for name, cls in DISPUTE_EVENT_CLASSES.items()},
}


def parse_entry(entry: bytes) -> tuple[UUID, Fact, bytes | None]:
    """The stream, fact and previous leaf hash an entry holds; EntryError unless the bytes are
    exactly the canonical entry of those values (so two parties reading one entry agree)."""
    try:
        value = json.loads(entry)
    except (UnicodeDecodeError, ValueError) as e:
        raise EntryError(f"not JSON: {e}") from None
    if not isinstance(value, Mapping) or set(value) not in ENTRY_FIELD_SETS:
        raise EntryError(
            f"an entry has exactly the fields {sorted(FIELDS)} (office_id or dispute_id for "
            "account_id, in an office's or a dispute's stream), and attributed_to if the event "
            "has one"
        )
    kind = next(KIND_OF_KEY[k] for k in value if k in KIND_OF_KEY)
    try:
        stream = UUID(value[stream_key(kind)])
        prev = None if value["prev"] is None else base64.b64decode(value["prev"], validate=True)
        fact = Fact(
            version=_int(value["version"]),
            type=_str(value["type"]),
            effective_at=_time(value["effective_at"]),
            recorded_at=_time(value["recorded_at"]),
            actor=_str(value["actor"]),
            reason=_str(value["reason"]),
            evidence=tuple(_evidence(value["evidence"])),
            data=dict(value["data"]),
            kind=kind,
            attributed_to=_str(value[ATTRIBUTED]) if ATTRIBUTED in value else None,
        )
    except (TypeError, ValueError, AttributeError) as e:
        raise EntryError(f"a field of the entry is malformed: {e}") from None
    if prev is not None and len(prev) != 32:
        raise EntryError("prev is not a 32-byte hash")
    if entry_bytes(stream, fact, prev) != entry:
        raise EntryError("the entry is not in canonical form")
    return stream, fact, prev


def _int(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{value!r} is not a whole number")
    return value


def _str(value: Any) -> str:
    if not isinstance(value, str):
        raise TypeError(f"{value!r} is not a string")
    return value


def _time(value: Any) -> datetime:
    parsed = datetime.fromisoformat(_str(value).replace("Z", "+00:00"))
    if parsed.tzinfo is None:
        raise ValueError(f"{value!r} has no time zone")
    return parsed.astimezone(UTC)


def _evidence(value: Any) -> list[dict[str, Any]]:
    if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
        raise TypeError("evidence is not a list of objects")
    return value

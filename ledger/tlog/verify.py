"""Offline verification: receipts, checkpoints under a witness policy, and a monitor's step
from one checkpoint to the next. Pure: what it checks comes in as text and bytes."""

from __future__ import annotations

import base64
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from uuid import UUID

from ledger.fold import AccountState, Fact, fold, handle_intervals, timeline
from ledger.tlog import merkle
from ledger.tlog.entry import EntryError, parse_entry, timestamp
from ledger.tlog.note import Checkpoint, NoteError, Receipt, Verifier, cosignatures, open_checkpoint
from ledger.tlog.tiles import TILE_WIDTH, TilePathError, TileRef, unbundle


class VerifyError(ValueError):
    """What was checked does not verify; the message says what and where."""


@dataclass(frozen=True)
class Policy:
    """Whom a verifier trusts: the log's key, the witnesses' keys and how many must cosign."""

    log: Verifier
    witnesses: tuple[Verifier, ...] = ()
    quorum: int = 0

    def __post_init__(self) -> None:
        if self.quorum > len(self.witnesses):
            raise VerifyError(f"a quorum of {self.quorum} needs as many witness keys")


def check_checkpoint(note: str, policy: Policy) -> tuple[Checkpoint, int]:
    """The checkpoint a signed note holds, signed by the log and cosigned by a quorum of
    witnesses; with the number of valid cosignatures."""
    try:
        checkpoint, parsed = open_checkpoint(note, policy.log)
        cosigned = cosignatures(parsed, policy.witnesses)
    except NoteError as e:
        raise VerifyError(f"checkpoint: {e}") from None
    if len(cosigned) < policy.quorum:
        raise VerifyError(
            f"checkpoint: {len(cosigned)} valid cosignature(s), the policy needs {policy.quorum}"
        )
    return checkpoint, len(cosigned)


@dataclass(frozen=True)
class ReceiptCheck:
    """A verified receipt: the event it proves, where, and in which checkpoint."""

    index: int
    checkpoint: Checkpoint
    cosigned: int
    stream: UUID
    fact: Fact


def verify_receipt(text: str, policy: Policy) -> ReceiptCheck:
    """Check a tlog-proof@v1 receipt whose `extra` is the entry: the checkpoint under the
    policy, and the entry's inclusion in it."""
    try:
        receipt = Receipt.parse(text)
    except NoteError as e:
        raise VerifyError(f"receipt: {e}") from None
    checkpoint, cosigned = check_checkpoint(receipt.checkpoint, policy)
    if receipt.extra is None:
        raise VerifyError("receipt: it carries no entry (`extra`)")
    try:
        merkle.verify_inclusion(
            receipt.index,
            checkpoint.size,
            merkle.leaf_hash(receipt.extra),
            receipt.hashes,
            checkpoint.root,
        )
        stream, fact, _ = parse_entry(receipt.extra)
    except (merkle.ProofError, EntryError) as e:
        raise VerifyError(f"receipt: entry {receipt.index}: {e}") from None
    return ReceiptCheck(receipt.index, checkpoint, cosigned, stream, fact)


@dataclass
class MonitorState:
    """What a monitor remembers between runs: the last checkpoint it verified (size, root),
    the tree's right edge, and each stream's last version and leaf hash (the chains)."""

    origin: str
    size: int = 0
    root: bytes = merkle.EMPTY_ROOT
    peaks: list[bytes] = field(default_factory=list)
    streams: dict[str, tuple[int, bytes]] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "origin": self.origin,
            "size": self.size,
            "root": self.root.hex(),
            "peaks": [p.hex() for p in self.peaks],
            "streams": {s: [v, h.hex()] for s, (v, h) in self.streams.items()},
        }

    @classmethod
    def from_json(cls, value: dict[str, Any]) -> MonitorState:
        try:
            state = cls(
                str(value["origin"]),
                int(value["size"]),
                bytes.fromhex(value["root"]),
                [bytes.fromhex(p) for p in value["peaks"]],
                {s: (int(v), bytes.fromhex(h)) for s, (v, h) in value["streams"].items()},
            )
            frontier = merkle.Frontier(state.size, state.peaks)  # the right number and sizes
        except (KeyError, TypeError, ValueError, AttributeError) as e:
            raise VerifyError(f"the monitor's state file is not valid: {e}") from None
        if frontier.root() != state.root:
            raise VerifyError("the monitor's state file is not valid: its root is not its tree's")
        return state


Fetch = Callable[[str], bytes]
"""Fetch a path under the log's prefix (`checkpoint`, `tile/entries/000`) and return its body."""


def monitor_step(state: MonitorState, policy: Policy, fetch: Fetch) -> tuple[MonitorState, int]:
    """Fetch the log's checkpoint and the entries added since `state`, and check: the
    signatures, that the new tree extends the old one (a rollback or a fork is an error),
    every new entry canonical and chained to its stream's previous entry, and the root.
    The new state and the number of entries checked; VerifyError at the first failure."""
    checkpoint, _ = check_checkpoint(fetch("checkpoint").decode("utf-8", "replace"), policy)
    if checkpoint.size < state.size:
        raise VerifyError(
            f"rollback: the log's checkpoint has {checkpoint.size} entries, the "
            f"last one seen had {state.size}"
        )
    if checkpoint.size == state.size:
        if checkpoint.root != state.root:
            raise VerifyError(f"fork: two different roots for {state.size} entries")
        return state, 0
    frontier = merkle.Frontier(state.size, state.peaks)
    streams = dict(state.streams)
    index = state.size
    while index < checkpoint.size:
        tile = index // TILE_WIDTH
        width = min(checkpoint.size - tile * TILE_WIDTH, TILE_WIDTH)
        ref = TileRef(None, tile, None if width == TILE_WIDTH else width)
        try:
            entries = unbundle(fetch("tile/" + ref.path()))
        except TilePathError as e:
            raise VerifyError(f"entry tile {ref.path()}: {e}") from None
        if len(entries) != width:
            raise VerifyError(f"entry tile {ref.path()} holds {len(entries)} entries, not {width}")
        for entry in entries[index - tile * TILE_WIDTH :]:
            _check_chain(index, entry, streams)
            frontier.append(merkle.leaf_hash(entry))
            index += 1
    if frontier.root() != checkpoint.root:
        raise VerifyError(
            f"fork: the entries give a root for {checkpoint.size} entries that is not the "
            f"checkpoint's (the log changed entries before {state.size}, or serves others)"
        )
    new = MonitorState(
        state.origin, checkpoint.size, checkpoint.root, list(frontier.peaks), streams
    )
    return new, checkpoint.size - state.size


def _check_chain(index: int, entry: bytes, streams: dict[str, tuple[int, bytes]]) -> None:
    try:
        stream, fact, prev = parse_entry(entry)
    except EntryError as e:
        raise VerifyError(f"entry {index}: {e}") from None
    key = str(stream)
    version, last = streams.get(key, (0, None))
    if fact.version != version + 1 or prev != last:
        raise VerifyError(
            f"entry {index}: stream {key} version {fact.version} does not follow "
            f"its entry before (version {version})"
        )
    streams[key] = (fact.version, merkle.leaf_hash(entry))


def chain_facts(entries: Sequence[bytes]) -> tuple[UUID, list[Fact]]:
    """The facts of one stream's entries, oldest first, checked as a hash chain from its
    first entry: versions 1, 2, ... each naming the leaf hash of the one before."""
    if not entries:
        raise VerifyError("no entries")
    streams: dict[str, tuple[int, bytes]] = {}
    facts = []
    first: UUID | None = None
    for i, entry in enumerate(entries):
        _check_chain(i, entry, streams)
        stream, fact, _ = parse_entry(entry)
        first = first or stream
        if stream != first:
            raise VerifyError(f"entry {i} belongs to stream {stream}, not {first}")
        facts.append(fact)
    assert first is not None
    return first, facts


@dataclass(frozen=True)
class AnswerCheck:
    """A verified answer: the account, how many entries back it, and the checkpoint."""

    account_id: UUID
    entries: int
    checkpoint: Checkpoint
    cosigned: int


# The fields of the two answers that take `proof=true` (besides `proof`).
ACCOUNT_FIELDS = frozenset(
    (
        "account_id",
        "platform",
        "platform_account_id",
        "handle",
        "office",
        "status",
        "holder",
        "archives",
        "version",
        "at",
        "known_at",
        "established_by",
        "ineffective",
    )
)
# An account answer of a version before offices (issue 18) has no ownership facets: a proof
# saved then still verifies, on the fields it has.
ACCOUNT_FIELDS_BEFORE_OFFICES = ACCOUNT_FIELDS
ACCOUNT_FIELDS = ACCOUNT_FIELDS | {"ownership", "owner", "audience"}
HANDLE_FIELDS = frozenset(
    ("platform", "handle", "at", "known_at", "account_id", "office", "holder", "established_by")
)


def verify_answer(answer: dict[str, Any], policy: Policy) -> AnswerCheck:
    """Check an account or handle answer saved with `proof=true`: the checkpoint under the
    policy, each entry's inclusion in it, the stream's hash chain from its first entry, and
    that the fold run on the entries at the answer's `at` and `known_at` gives the answer,
    every field of it. The one thing the entries cannot show is the log position each cited
    event has (`established_by[].position`, the server's numbering): it is not compared."""
    try:
        proof = answer["proof"]
        account_id = UUID(str(answer["account_id"]))
        at = _time(answer["at"])
        known_at = None if answer["known_at"] is None else _time(answer["known_at"])
        items = [
            (
                int(e["index"]),
                base64.b64decode(e["entry"], validate=True),
                [base64.b64decode(h, validate=True) for h in e["hashes"]],
            )
            for e in proof["entries"]
        ]
        note = str(proof["checkpoint"])
    except (KeyError, TypeError, ValueError, AttributeError) as e:
        raise VerifyError(f"not an answer saved with proof=true: {e!r}") from None
    # The disputes an answer lists live in their own streams, not the account's: not proved.
    fields = set(answer) - {"proof", "disputes"}
    if fields not in (ACCOUNT_FIELDS, ACCOUNT_FIELDS_BEFORE_OFFICES, HANDLE_FIELDS):
        raise VerifyError(f"not an account or handle answer: its fields are {sorted(fields)}")
    checkpoint, cosigned = check_checkpoint(note, policy)
    for index, entry, hashes in items:
        try:
            merkle.verify_inclusion(
                index, checkpoint.size, merkle.leaf_hash(entry), hashes, checkpoint.root
            )
        except merkle.ProofError as e:
            raise VerifyError(f"entry {index}: {e}") from None
    stream, facts = chain_facts([entry for _, entry, _ in items])
    if stream != account_id:
        raise VerifyError(f"the entries are of account {stream}, the answer of {account_id}")
    state = fold(facts, at, known_at)
    if state is None:
        raise VerifyError("the fold says the account did not exist at `at` as known then")
    by_version = {f.version: f for f in facts}
    if fields == ACCOUNT_FIELDS_BEFORE_OFFICES and (
        state.ownership != "office" or state.owner is not None or state.audience is not None
    ):
        raise VerifyError(
            "the answer leaves out the account's ownership and audience, which its entries "
            "record (ownership, owner, audience)"
        )
    if fields != HANDLE_FIELDS:
        cited = state.established_by
        expected = _account_fields(state)
        audience = state.audience
        expected["audience"] = None if audience is None else {
            "followers": audience.followers,
            "observed_at": timestamp(audience.observed_at),
            "established_by": [_provenance(by_version[audience.version])],
        }  # fmt: skip
    else:
        cited = _handle_provenance(facts, state, at, known_at)
        expected = {k: v for k, v in _account_fields(state).items() if k in HANDLE_FIELDS}
    expected |= {
        "account_id": str(account_id),
        "at": answer["at"],
        "known_at": answer["known_at"],
        "established_by": [_provenance(by_version[v]) for v in cited],
    }
    said = {k: answer[k] for k in fields}
    said["established_by"] = _unplaced(said["established_by"])
    if isinstance(said.get("audience"), dict):
        said["audience"] = {**said["audience"]}
        said["audience"]["established_by"] = _unplaced(said["audience"].get("established_by"))
    differ = sorted(k for k in fields if expected[k] != said[k])
    if differ:
        shown = "; ".join(f"{k}: answer {said[k]!r}, fold {expected[k]!r}" for k in differ)
        raise VerifyError(f"the answer is not what its entries say: {shown}")
    return AnswerCheck(account_id, len(items), checkpoint, cosigned)


def _unplaced(cited: Any) -> Any:
    """Provenance without log positions (the server's to number)."""
    if not isinstance(cited, list):
        return cited
    return [{k: v for k, v in p.items() if k != "position"} if isinstance(p, dict) else p
            for p in cited]  # fmt: skip


def _account_fields(state: AccountState) -> dict[str, Any]:
    """An account answer's fields as the API writes them, from the fold's state."""
    return {
        "platform": state.platform,
        "platform_account_id": state.platform_account_id,
        "handle": state.handle,
        "office": state.office,
        "status": state.status,
        "holder": None
        if state.holder is None
        else {
            "id": state.holder.id,
            "name": state.holder.name,
            "since": None if state.holder_since is None else timestamp(state.holder_since),
        },
        "archives": [
            {
                "ref": a.ref,
                "sha256": a.sha256,
                "items": a.items,
                "effective_at": timestamp(a.effective_at),
            }
            for a in state.archives
        ],
        "version": state.version,
        "ownership": state.ownership,
        "owner": None if state.owner is None else {"id": state.owner.id, "name": state.owner.name},
        "ineffective": [
            {"version": i.version, "type": i.type, "why": i.why} for i in state.ineffective
        ],
    }


def _handle_provenance(
    facts: list[Fact], state: AccountState, at: datetime, known_at: datetime | None
) -> tuple[int, ...]:
    """The events behind the account carrying its handle at `at`: its handle interval's."""
    for interval in handle_intervals(timeline(facts, known_at)):
        if interval.valid_from <= at and (interval.valid_to is None or at < interval.valid_to):
            return interval.established_by
    raise VerifyError(f"the fold says the account carried no handle at {timestamp(at)}")


def _provenance(fact: Fact) -> dict[str, Any]:
    return {
        "version": fact.version,
        "type": fact.type,
        "recorded_at": timestamp(fact.recorded_at),
        "actor": fact.actor,
    }


def _time(value: Any) -> datetime:
    parsed = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    if parsed.tzinfo is None:
        raise ValueError(f"{value!r} has no time zone")
    return parsed

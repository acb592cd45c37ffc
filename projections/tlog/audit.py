"""`custody verify --store`: recompute every entry and the whole tree from the stored event
log, and compare them with the stored leaves, nodes and signed checkpoints.

It is what catches a row edited, deleted or reordered by someone who got round the triggers:
the first entry that differs is named (leaf index, log position, stream and version), and a
checkpoint whose root the recomputed tree does not give, or whose signature fails, is named.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from uuid import UUID

from eventsourcing.persistence import Notification

from ledger.application import CustodyLedger
from ledger.domain import CUSTODY_TOPICS, decode_fact
from ledger.errors import UnreadableEvent
from ledger.tlog import merkle
from ledger.tlog.entry import EntryError, entry_bytes, entry_from_stored
from ledger.tlog.note import NoteError, Verifier, open_checkpoint
from projections.tlog.store import NODES, STRIDE, Leaf, LogStore, StoredCheckpoint

BATCH = 5000


@dataclass
class Finding:
    """Where the stored log and the recomputed one part."""

    what: str
    leaf_index: int | None = None
    position: int | None = None
    stream: UUID | None = None
    version: int | None = None

    def __str__(self) -> str:
        where = [
            f"{name} {value}"
            for name, value in (
                ("leaf", self.leaf_index),
                ("log position", self.position),
                ("stream", self.stream),
                ("version", self.version),
            )
            if value is not None
        ]
        return (", ".join(where) + ": " if where else "") + self.what


@dataclass
class Audit:
    """The outcome: entries and checkpoints checked, and the first finding (None: all agree)."""

    entries: int = 0
    checkpoints: int = 0
    nodes: int = 0
    pending: int = 0  # custody events recorded but not yet integrated (not an error)
    finding: Finding | None = None
    notes: list[str] = field(default_factory=list)


def audit_store(
    ledger: CustodyLedger,
    store: LogStore,
    log_key: Verifier | None,
    progress: Callable[[int, int], None] | None = None,
) -> Audit:
    """Compare the stored log with one recomputed from the event log (see the module)."""
    audit = Audit()
    size, _ = store.tip()
    checkpoints = store.checkpoints()
    if log_key is None and checkpoints:
        audit.notes.append("no log key given: checkpoint signatures not checked")
    frontier = merkle.Frontier()
    levels: list[bytearray] = []  # every recomputed node hash, level by level, in order
    streams: dict[UUID, tuple[int, bytes]] = {}
    pending_checkpoints = list(checkpoints)
    position, index = 0, 0
    while True:
        notes = ledger.recorder.select_notifications(
            start=position, limit=BATCH, topics=CUSTODY_TOPICS, inclusive_of_start=False
        )
        stored = store.leaves(index, len(notes)) if index < size else []
        for i, note in enumerate(notes):
            if index >= size:
                audit.pending += 1
                continue
            leaf = stored[i] if i < len(stored) else None
            finding = _compare(ledger, note, leaf, index, streams)
            if finding is not None:
                audit.finding = finding
                return audit
            assert leaf is not None
            for level, _, h in frontier.append(leaf.leaf_hash):
                if level == len(levels):
                    levels.append(bytearray())
                levels[level] += h
            index += 1
            audit.entries += 1
            while pending_checkpoints and pending_checkpoints[0].size == frontier.size:
                found = _check_checkpoint(pending_checkpoints.pop(0), frontier, log_key)
                audit.checkpoints += 1
                if found is not None:
                    audit.finding = found
                    return audit
        if progress is not None:
            progress(index, size)
        if len(notes) < BATCH:
            break
        position = notes[-1].id
    if index < size:
        extra = store.leaves(index, 1)
        audit.finding = Finding(
            f"the tree holds {size} entries, the event log only {index} custody events: "
            "stored events were deleted",
            index,
            extra[0].position if extra else None,
            extra[0].stream if extra else None,
            extra[0].version if extra else None,
        )
        return audit
    for checkpoint in pending_checkpoints:
        if checkpoint.size == 0:
            audit.checkpoints += 1
            found = _check_checkpoint(checkpoint, merkle.Frontier(), log_key)
            if found is not None:
                audit.finding = found
                return audit
            continue
        audit.finding = Finding(
            f"checkpoint of size {checkpoint.size} is larger than the tree "
            f"of {size} entries: entries were removed"
        )
        return audit
    audit.finding = _compare_nodes(store, levels, audit)
    return audit


def _compare(
    ledger: CustodyLedger,
    note: Notification,
    leaf: Leaf | None,
    index: int,
    streams: dict[UUID, tuple[int, bytes]],
) -> Finding | None:
    if leaf is None:
        return Finding("the tree misses this leaf", index, note.id)
    stream, version = UUID(str(note.originator_id)), note.originator_version
    last, prev = streams.get(stream, (0, None))
    where = (index, note.id, stream, version)
    if leaf.position != note.id:
        return Finding(
            f"the tree's entry is of log position {leaf.position} (stream "
            f"{leaf.stream} version {leaf.version})",
            *where,
        )
    if version != last + 1:
        return Finding(f"the stream's event before is version {last}", *where)
    # The entry read straight from the stored JSON; where that does not apply or differs,
    # the entry of the decoded event decides.
    entry = entry_from_stored(stream, version, note.topic, note.state, prev)
    if entry != leaf.entry:
        try:
            _, fact = decode_fact(ledger.mapper, note, note.id)
            entry = entry_bytes(stream, fact, prev)
        except UnreadableEvent as e:
            return Finding(f"the stored event cannot be decoded: {e.why}", *where)
        except EntryError as e:
            return Finding(str(e), *where)
    if entry != leaf.entry:
        return Finding("the stored event differs from the entry the tree holds", *where)
    if merkle.leaf_hash(entry) != leaf.leaf_hash:
        return Finding("the stored leaf hash is not the hash of the entry", *where)
    streams[stream] = (version, leaf.leaf_hash)
    return None


def _check_checkpoint(
    checkpoint: StoredCheckpoint, frontier: merkle.Frontier, log_key: Verifier | None
) -> Finding | None:
    if frontier.root() != checkpoint.root:
        return Finding(
            f"checkpoint of size {checkpoint.size}: its root is not the root of the recomputed tree"
        )
    if log_key is not None:
        try:
            signed, _ = open_checkpoint(checkpoint.note, log_key)
        except NoteError as e:
            return Finding(f"checkpoint of size {checkpoint.size}: {e}")
        if signed.size != checkpoint.size or signed.root != checkpoint.root:
            return Finding(
                f"checkpoint of size {checkpoint.size}: the signed note says size {signed.size}"
            )
    return None


def _compare_nodes(store: LogStore, levels: list[bytearray], audit: Audit) -> Finding | None:
    """Every stored node hash equals the recomputed one, and none is missing or extra."""
    db = store.db
    query = db.sql(
        "SELECT node, hash FROM {t} WHERE node >= %s AND node < %s ORDER BY node", t=NODES
    )
    for level, hashes in enumerate(levels):
        count = len(hashes) // 32
        start = 0
        while start < count:
            end = min(start + 50_000, count)
            rows = db.fetchall(query, (level * STRIDE + start, level * STRIDE + end))
            for key, h in rows:
                i = int(key) - level * STRIDE
                if bytes(h) != bytes(hashes[i * 32 : i * 32 + 32]):
                    return Finding(
                        f"the stored node hash at level {level}, index {i} is not "
                        "the recomputed one"
                    )
            if len(rows) != end - start:
                return Finding(
                    f"the stored tree has {len(rows)} of {end - start} node hashes "
                    f"at level {level} from index {start}"
                )
            audit.nodes += len(rows)
            start = end
    return None

"""`custody verify --store`: recompute every entry and the whole tree from the stored event
log, and compare them with the stored leaves, nodes and signed checkpoints.

It is what catches a row edited, deleted or reordered by someone who got round the triggers:
the first entry that differs is named (leaf index, log position, stream and version), and a
checkpoint whose root the recomputed tree does not give, or whose signature fails, is named.

The entries are checked in chunks of leaves, each one query joining the events in its span of
log positions to the leaves that hold them; on a large store the chunks go to worker processes
(one per core), each with its own connection, while this process folds the leaf hashes they
confirm into the tree, in order.
"""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

from eventsourcing.persistence import Mapper, StoredEvent

from ledger.application import CustodyLedger
from ledger.domain import CUSTODY_TOPICS, decode_fact
from ledger.errors import UnreadableEvent
from ledger.settings import Settings
from ledger.tlog import merkle
from ledger.tlog.entry import EntryError, entry_bytes, entry_from_stored
from ledger.tlog.note import (
    Checkpoint,
    NoteError,
    Verifier,
    open_checkpoint,
    parse_note,
    verify_cosignature,
)
from projections.db import Db
from projections.tlog.store import LEAVES, NODES, STRIDE, LogStore, StoredCheckpoint

CHUNK = 20_000  # leaves per chunk
PARALLEL_FROM = 100_000  # leaves: below this, one process does it all


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


@dataclass(frozen=True)
class Chunk:
    """Leaves [start, end) and the log positions [low, high] their events must have."""

    start: int
    end: int
    low: int
    high: int


def audit_store(
    ledger: CustodyLedger,
    store: LogStore,
    log_key: Verifier | None,
    progress: Callable[[int, int], None] | None = None,
    *,
    witnesses: Sequence[Verifier] = (),
    database_url: str | None = None,
    processes: int | None = None,
) -> Audit:
    """Compare the stored log with one recomputed from the event log (see the module).
    `witnesses`: the cosignature keys to check the stored cosignatures with. `database_url`
    lets worker processes open the same store (a file or a server, not an in-memory database);
    without it, or below PARALLEL_FROM leaves, this process does all."""
    audit = Audit()
    # The checkpoints before the tip: the tree only grows, so every checkpoint read is within
    # the tip read after it, even while the checkpointer runs.
    checkpoints = store.checkpoints()
    size, passed = store.tip()
    if log_key is None and checkpoints:
        audit.notes.append("no log key given: checkpoint signatures not checked")
    db = store.db
    audit.pending = _count_events(db, passed)
    waiting = list(checkpoints)
    found = _check_cosignatures(waiting, witnesses, audit)
    while found is None and waiting and waiting[0].size == 0:
        audit.checkpoints += 1
        found = _check_checkpoint(waiting.pop(0), merkle.Frontier(), log_key)
    found = found or _extra_rows(store, size)
    if found is not None:
        audit.finding = found
        return audit
    chunks, missing = _chunks(store, size, passed)
    frontier = merkle.Frontier()
    levels: list[bytearray] = []  # every recomputed node hash, level by level, in order
    for hashes, finding in _checked(db, ledger.mapper, chunks, database_url, processes):
        for i in range(len(hashes) // 32):  # the leaves confirmed, up to a finding
            for level, _, h in frontier.append(hashes[32 * i : 32 * i + 32]):
                if level == len(levels):
                    levels.append(bytearray())
                levels[level] += h
            while waiting and waiting[0].size == frontier.size:
                audit.checkpoints += 1
                found = _check_checkpoint(waiting.pop(0), frontier, log_key)
                if found is not None:
                    audit.entries, audit.finding = frontier.size, found
                    return audit
        if finding is not None:
            audit.entries, audit.finding = frontier.size, finding
            return audit
        audit.entries = frontier.size
        if progress is not None:
            progress(frontier.size, size)
    if missing is not None:
        audit.finding = missing
        return audit
    if waiting:
        audit.finding = Finding(
            f"checkpoint of size {waiting[0].size} is larger than the tree of {size} "
            "entries: entries were removed"
        )
        return audit
    audit.finding = _compare_nodes(store, levels, audit)
    return audit


def _extra_rows(store: LogStore, size: int) -> Finding | None:
    """Leaf or node rows beyond a tree of `size` entries (none are ever written)."""
    db = store.db
    leaves = db.fetchone(db.sql("SELECT COUNT(*) FROM {t}", t=LEAVES))
    if leaves is not None and int(leaves[0]) != size:
        return Finding(f"the tree's table holds {int(leaves[0])} leaves, its state says {size}")
    nodes = db.fetchone(db.sql("SELECT COUNT(*) FROM {t}", t=NODES))
    expected = sum(size >> level for level in range(size.bit_length()))
    if nodes is not None and int(nodes[0]) != expected:
        return Finding(
            f"the tree's table holds {int(nodes[0])} node hashes; a tree of {size} entries "
            f"has {expected}"
        )
    return None


def _check_cosignatures(
    checkpoints: Sequence[StoredCheckpoint], witnesses: Sequence[Verifier], audit: Audit
) -> Finding | None:
    """Every stored cosignature of a known witness verifies; others are noted, unchecked."""
    known = {w.name: w for w in witnesses}
    unknown: set[str] = set()
    for checkpoint in checkpoints:
        for line in checkpoint.cosignatures:
            try:
                text = parse_note(checkpoint.note).text
                signature = parse_note(text + "\n" + line).signatures[0]
                witness = known.get(signature.name)
                if witness is None:
                    unknown.add(signature.name)
                    continue
                verify_cosignature(witness, text, signature)
            except NoteError as e:
                return Finding(
                    f"checkpoint of size {checkpoint.size}: a stored cosignature does not "
                    f"verify: {e}"
                )
    if unknown:
        audit.notes.append(
            f"cosignatures of witnesses without a key given not checked: {sorted(unknown)}"
        )
    return None


def _count_events(db: Db, after: int) -> int:
    """Custody events recorded after log position `after` (not yet integrated)."""
    query, params = db.where_in(
        "SELECT COUNT(*) FROM {e}",
        "topic",
        CUSTODY_TOPICS,
        f" AND {db.position_column} > %s",
        e=db.events_table,
    )
    row = db.fetchone(query, [*params, after])
    return int(row[0]) if row else 0


def _chunks(store: LogStore, size: int, passed: int) -> tuple[list[Chunk], Finding | None]:
    """The chunks of leaves, each with its span of log positions (from its first leaf's to
    just before the next chunk's first; the last one to the position integration passed).
    A leaf missing at a chunk's start ends the list there, with a finding."""
    starts = list(range(0, size, CHUNK))
    if not starts:
        return [], _none_integrated(store.db, passed)
    found = _positions(store.db, starts)
    chunks: list[Chunk] = []
    for i, start in enumerate(starts):
        if start not in found:
            return chunks, Finding("the tree misses this leaf", start)
        end = starts[i + 1] if i + 1 < len(starts) else size
        high = found[end] - 1 if end in found else passed
        # The first chunk from the log's start: an event before the first leaf is missed too.
        chunks.append(Chunk(start, end, 0 if start == 0 else found[start], high))
    return chunks, None


def _none_integrated(db: Db, passed: int) -> Finding | None:
    """An empty tree whose integration passed a custody event: the tree misses it."""
    passed_over = _count_events(db, 0) - _count_events(db, passed)
    if passed_over:
        return Finding(
            f"the tree is empty, but integration has passed {passed_over} custody event(s) "
            f"(up to log position {passed})"
        )
    return None


def _positions(db: Db, indexes: Sequence[int]) -> dict[int, int]:
    out: dict[int, int] = {}
    for begin in range(0, len(indexes), 500):
        query, params = db.where_in(
            "SELECT leaf_index, position FROM {t}",
            "leaf_index",
            indexes[begin : begin + 500],
            t=LEAVES,
        )
        out.update((int(i), int(p)) for i, p in db.fetchall(query, params))
    return out


Checked = tuple[bytes, Finding | None]
"""A chunk's leaf hashes, concatenated, confirmed up to its first finding (if any)."""


def _checked(
    db: Db, mapper: Mapper[UUID], chunks: list[Chunk], url: str | None, processes: int | None
) -> Iterator[Checked]:
    """Each chunk checked, in order: in worker processes for a large store with a URL."""
    total = chunks[-1].end if chunks else 0
    workers = processes if processes is not None else min(os.cpu_count() or 1, 4)
    if url is None or total < PARALLEL_FROM or workers < 2 or url.startswith("sqlite://:"):
        for chunk in chunks:
            yield check_chunk(db, mapper, chunk)
        return
    # Spawned, not forked: this process holds connections and threads.
    context = multiprocessing.get_context("spawn")
    with context.Pool(workers, initializer=_open, initargs=(url,)) as pool:
        yield from pool.imap(_check_in_worker, chunks)


_worker: CustodyLedger | None = None  # kept open: closing it would close its connections


def _open(url: str) -> None:
    """A worker's own connection to the store, and the ledger's mapper to decode with."""
    global _worker
    _worker = CustodyLedger(Settings(database_url=url).store().env)


def _check_in_worker(chunk: Chunk) -> Checked:
    assert _worker is not None
    return check_chunk(Db(_worker.recorder), _worker.mapper, chunk)


def check_chunk(db: Db, mapper: Mapper[UUID], chunk: Chunk) -> Checked:
    """Check the leaves of one chunk against the events in its span of log positions: every
    custody event there has the next leaf, whose entry is the event's (chained to its stream's
    entry before), whose hash is the leaf hash. The leaf hashes, up to the first finding."""
    rows = _rows(db, chunk)
    prevs = _previous(db, rows)
    hashes = bytearray()
    expected = chunk.start
    for position, oid, version, topic, state, index, leaf_hash, entry in rows:
        stream = oid if isinstance(oid, UUID) else UUID(str(oid))
        where = (expected, position, stream, version)
        if index is None:
            return bytes(hashes), Finding("the tree misses this custody event", *where)
        if index != expected:
            return bytes(hashes), _missing(db, expected, chunk.start, position)
        key = (stream, version - 1)
        if version > 1 and key not in prevs:
            return bytes(hashes), Finding(
                f"the stream has no entry of version {version - 1}", *where
            )
        prev = prevs.get(key)
        made = entry_from_stored(stream, version, topic, bytes(state), prev)
        if made != bytes(entry):
            try:
                stored = StoredEvent(stream, version, topic, bytes(state))
                _, fact = decode_fact(mapper, stored, position)
                made = entry_bytes(stream, fact, prev)
            except UnreadableEvent as e:
                return bytes(hashes), Finding(
                    f"the stored event cannot be decoded: {e.why}", *where
                )
            except EntryError as e:
                return bytes(hashes), Finding(str(e), *where)
        if made != bytes(entry):
            return bytes(hashes), Finding(
                "the stored event differs from the entry the tree holds", *where
            )
        leaf = merkle.leaf_hash(made)
        if leaf != bytes(leaf_hash):
            return bytes(hashes), Finding("the stored leaf hash is not the entry's hash", *where)
        prevs[(stream, version)] = leaf
        hashes += leaf
        expected += 1
    if expected != chunk.end:
        return bytes(hashes), _missing(db, expected, chunk.start, None)
    return bytes(hashes), None


def _rows(db: Db, chunk: Chunk) -> list[tuple[Any, ...]]:
    """The custody events in the chunk's span, in log order, each with its leaf (or Nones)."""
    pos = db.position_column
    query, params = db.where_in(
        f"SELECT e.{pos}, e.originator_id, e.originator_version, e.topic, e.state, "
        f"l.leaf_index, l.leaf_hash, l.entry FROM {{e}} e LEFT JOIN {{t}} l ON l.position = e.{pos}",
        "e.topic",
        CUSTODY_TOPICS,
        f" AND e.{pos} >= %s AND e.{pos} <= %s ORDER BY e.{pos}",
        e=db.events_table,
        t=LEAVES,
    )
    return db.fetchall(query, [*params, chunk.low, chunk.high])


def _previous(db: Db, rows: list[tuple[Any, ...]]) -> dict[tuple[UUID, int], bytes]:
    """The leaf hash of the entry before each stream's first event in the chunk (the link to
    the chunks before), by (stream, version)."""
    first: dict[UUID, int] = {}
    for _, oid, version, *_ in rows:
        stream = oid if isinstance(oid, UUID) else UUID(str(oid))
        first.setdefault(stream, int(version))
    wanted = [(s, v - 1) for s, v in first.items() if v > 1]
    out: dict[tuple[UUID, int], bytes] = {}
    for begin in range(0, len(wanted), 500):
        part = wanted[begin : begin + 500]
        query, params = db.where_in(
            "SELECT stream, version, leaf_hash FROM {t}",
            "stream",
            [str(s) for s, _ in part],
            t=LEAVES,
        )
        want = set(part)
        for stream, version, leaf_hash in db.fetchall(query, params):
            key = (UUID(str(stream)), int(version))
            if key in want:
                out[key] = bytes(leaf_hash)
    return out


def _missing(db: Db, index: int, start: int, position: int | None) -> Finding:
    """A leaf with no event where it should be: named with what it holds."""
    query = db.sql("SELECT position, stream, version FROM {t} WHERE leaf_index = %s", t=LEAVES)
    row = db.fetchone(query, (index,))
    if row is None:
        return Finding("the tree misses this leaf", index, position)
    return Finding(
        "the tree holds an entry whose event is not in the log at its position (deleted, or moved)",
        index,
        int(row[0]),
        UUID(str(row[1])),
        int(row[2]),
    )


def _check_checkpoint(
    checkpoint: StoredCheckpoint, frontier: merkle.Frontier, log_key: Verifier | None
) -> Finding | None:
    if frontier.root() != checkpoint.root:
        return Finding(
            f"checkpoint of size {checkpoint.size}: its root is not the root of the recomputed tree"
        )
    try:  # the note says what its row says, signature checked or not
        said = Checkpoint.parse(parse_note(checkpoint.note).text)
    except NoteError as e:
        return Finding(f"checkpoint of size {checkpoint.size}: its note is not valid: {e}")
    if (said.size, said.root) != (checkpoint.size, checkpoint.root):
        return Finding(f"checkpoint of size {checkpoint.size}: its note says size {said.size}")
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

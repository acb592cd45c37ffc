"""`custody verify --store`: recompute every entry and the whole tree from the stored event
log, and compare them with the stored leaves, nodes and signed checkpoints.

It is what catches a row edited, deleted or reordered by someone who got round the triggers:
the first entry that differs is named (leaf index, log position, stream and version), and a
checkpoint whose root the recomputed tree does not give, or whose signature fails, is named.

The entries are checked in chunks: the leaves under one node of level CHUNK_LEVEL (the last
chunk may be partial). A chunk reads the events in its span of log positions and the leaves
that hold them, and matches them by position; from the leaf hashes it confirms, its own subtree is
recomputed and compared with the stored node hashes of that subtree. On a large store worker
processes check chunks beside this one (one process per core, each with its own connection);
this process takes the results in order, checks each stored checkpoint once the leaves under
it are confirmed, and recomputes and compares the few nodes above the chunks.
"""

from __future__ import annotations

import hashlib
import multiprocessing
import os
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from itertools import pairwise
from multiprocessing.pool import AsyncResult
from operator import itemgetter
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

CHUNK_LEVEL = 14  # a chunk is the 2**14 leaves under one node of this level
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
    """Leaves [start, end) and the log positions [low, high] their events must have. `start`
    is a multiple of 2**level, and end - start at most 2**level: the leaves are those under one
    node of `level` (all of them unless the chunk is the tree's last)."""

    start: int
    end: int
    low: int
    high: int
    level: int


@dataclass(frozen=True)
class Checked:
    """A chunk checked. `levels[k]`: the complete nodes of level k over the leaves confirmed
    (up to the first finding, if any), concatenated, for k from 0 (the leaf hashes) to the
    chunk's level. `finding`: about an entry (the audit stops there). `node`: the first stored
    node hash of the chunk's subtree that differs, by (level, index), with `nodes` compared."""

    levels: list[bytes]
    finding: Finding | None = None
    node: tuple[int, int, Finding] | None = None
    nodes: int = 0


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
        found = _check_checkpoint(waiting.pop(0), merkle.EMPTY_ROOT, log_key)
    found = found or _extra_rows(store, size)
    if found is not None:
        audit.finding = found
        return audit
    chunks, missing = _chunks(store, size, passed)
    above = _Above(chunks[0].level if chunks else CHUNK_LEVEL)
    node: tuple[int, int, Finding] | None = None  # the first that differs, by (level, index)
    for chunk, checked in zip(
        chunks, _checked(db, ledger.mapper, chunks, database_url, processes), strict=True
    ):
        confirmed = chunk.start + len(checked.levels[0]) // 32
        above.add(chunk, checked)
        while waiting and waiting[0].size <= confirmed:
            audit.checkpoints += 1
            checkpoint = waiting.pop(0)
            found = _check_checkpoint(
                checkpoint, above.root(checkpoint.size, chunk, checked), log_key
            )
            if found is not None:
                audit.entries, audit.finding = checkpoint.size, found
                return audit
        audit.entries = confirmed
        if checked.finding is not None:
            audit.finding = checked.finding
            return audit
        if checked.node is not None and (node is None or checked.node[:2] < node[:2]):
            node = checked.node
        audit.nodes += checked.nodes
        if progress is not None:
            progress(confirmed, size)
    if missing is not None:
        audit.finding = missing
        return audit
    if waiting:
        audit.finding = Finding(
            f"checkpoint of size {waiting[0].size} is larger than the tree of {size} "
            "entries: entries were removed"
        )
        return audit
    if node is not None:
        audit.finding = node[2]
        return audit
    audit.finding = above.compare(db, audit)
    return audit


class _Above:
    """The complete nodes above the chunks: from the chunks' own level (their roots) up,
    recomputed as whole chunks are confirmed."""

    def __init__(self, base: int) -> None:
        self.base = base  # the chunks' level
        self.levels: list[bytearray] = []  # from `base` up

    def add(self, chunk: Chunk, checked: Checked) -> None:
        if not checked.levels[chunk.level]:
            return  # the tree's last chunk, not whole: no node of its level
        h: bytes = checked.levels[chunk.level]
        k = 0
        while True:
            if k == len(self.levels):
                self.levels.append(bytearray())
            level = self.levels[k]
            level += h
            if len(level) % 64:
                return
            h = merkle.node_hash(bytes(level[-64:-32]), bytes(level[-32:]))
            k += 1

    def root(self, size: int, chunk: Chunk, checked: Checked) -> bytes:
        """The root of the first `size` leaves, all confirmed, where `checked` is the chunk that
        holds leaf size - 1, added already if whole: nodes in it below the chunks' level from
        `checked`, the others from above."""

        def read(plan: Sequence[tuple[int, int]]) -> list[bytes]:
            out = []
            for level, index in plan:
                hashes: bytes | bytearray
                if level <= chunk.level and index << level >= chunk.start:
                    hashes, i = checked.levels[level], index - (chunk.start >> level)
                else:  # a node of an earlier chunk's level or above: every chunk before is whole
                    hashes, i = self.levels[level - chunk.level], index
                out.append(bytes(hashes[32 * i : 32 * i + 32]))
            return out

        return merkle.root_at(read, size)

    def compare(self, db: Db, audit: Audit) -> Finding | None:
        """The stored nodes above the chunks' level equal these (the chunks compared theirs)."""
        for k, hashes in enumerate(self.levels[1:], start=1):
            node, compared = _compare_level(db, self.base + k, 0, bytes(hashes))
            audit.nodes += compared
            if node is not None:
                return node[2]
        return None


def _extra_rows(store: LogStore, size: int) -> Finding | None:
    """Leaf or node rows outside a tree of `size` entries (none are ever written). The ends of
    each key range are read, not every row (two counts took most of a second at a million
    entries): the chunks find each row the tree should have, a gap being a missing leaf or
    node there, and keys are unique, so an extra row is one outside the tree's ranges. They
    are counted only to say how many there are."""
    db = store.db
    if _outside(db, LEAVES, "leaf_index", [(0, size)]):
        return Finding(f"the tree's table holds {_count(db, LEAVES)} leaves, its state says {size}")
    levels = range(size.bit_length())  # the levels with nodes: size >> level > 0
    if _outside(db, NODES, "node", [(k * STRIDE, k * STRIDE + (size >> k)) for k in levels]):
        return Finding(
            f"the tree's table holds {_count(db, NODES)} node hashes; a tree of {size} entries "
            f"has {sum(size >> k for k in levels)}"
        )
    return None


def _outside(db: Db, table: str, key: str, ranges: list[tuple[int, int]]) -> bool:
    """Whether `table` has a `key` outside `ranges` (ascending, disjoint, none empty): the
    least key, the greatest, and the first at or after the end of each range, through the
    key's index (MIN and MAX are planned so on both stores, whatever the statistics say)."""
    if db.fetchone(db.sql(f"SELECT 1 FROM {{t}} WHERE {key} IS NULL", t=table)):
        return True  # SQLite lets a BIGINT PRIMARY KEY hold NULL

    def value(query: str, params: tuple[int, ...] = ()) -> int | None:
        row = db.fetchone(db.sql(query, t=table), params)
        return None if row is None or row[0] is None else int(row[0])

    least, most = value(f"SELECT MIN({key}) FROM {{t}}"), value(f"SELECT MAX({key}) FROM {{t}}")
    if least is None or most is None:
        return False  # empty: the chunks find what is missing
    if not ranges or least < ranges[0][0] or most >= ranges[-1][1]:
        return True
    after = f"SELECT MIN({key}) FROM {{t}} WHERE {key} >= %s"
    for (_, end), (start, _) in pairwise(ranges):
        found = value(after, (end,))
        if found is not None and found < start:
            return True
    return False


def _count(db: Db, table: str) -> int:
    row = db.fetchone(db.sql("SELECT COUNT(*) FROM {t}", t=table))
    return 0 if row is None else int(row[0])


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
    starts = list(range(0, size, 1 << CHUNK_LEVEL))
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
        chunks.append(Chunk(start, end, 0 if start == 0 else found[start], high, CHUNK_LEVEL))
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


def _checked(
    db: Db, mapper: Mapper[UUID], chunks: list[Chunk], url: str | None, processes: int | None
) -> Iterator[Checked]:
    """Each chunk checked, in order. For a large store with a URL, `processes` check them
    together (default: one per core, up to 4): this one and workers. The workers are fed a few
    chunks ahead; this process checks the next chunk not handed out whenever the one due is
    not ready (the workers take a second to start, importing the program: it does not wait)."""
    total = chunks[-1].end if chunks else 0
    workers = processes if processes is not None else min(os.cpu_count() or 1, 4)
    if url is None or total < PARALLEL_FROM or workers < 2 or url.startswith("sqlite://:"):
        for chunk in chunks:
            yield check_chunk(db, mapper, chunk)
        return
    queued, lead = 2 * (workers - 1), 4 * workers  # in the pool; done here and not yet due
    # Spawned, not forked: this process holds connections and threads.
    context = multiprocessing.get_context("spawn")
    with context.Pool(workers - 1, initializer=_open, initargs=(url,)) as pool:
        given: dict[int, AsyncResult[Checked]] = {}
        done: dict[int, Checked] = {}
        handed = 0  # the chunks before it are given to the pool or done here
        for due in range(len(chunks)):
            while due not in done:
                while handed < len(chunks) and len(given) < queued:
                    given[handed] = pool.apply_async(_check_in_worker, (chunks[handed],))
                    handed += 1
                if due in given and (
                    given[due].ready() or handed == len(chunks) or handed - due >= lead
                ):
                    done[due] = given.pop(due).get()
                else:  # the one due is not ready: check the next one not handed out here
                    done[handed] = check_chunk(db, mapper, chunks[handed])
                    handed += 1
            yield done.pop(due)


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
    entry before), whose hash is the leaf hash. Then, unless an entry differs, the stored node
    hashes of the chunk's subtree against those its leaf hashes give."""
    events, leaves = _rows(db, chunk)
    prevs = _previous(db, events)
    hashes = bytearray()
    expected = chunk.start
    finding: Finding | None = None
    sha256, leaf_prefix, no_leaf = hashlib.sha256, b"\x00", (None, None, None)
    # The stream as text (the leaves' own form): a UUID is made only to name one in a finding.
    for position, stream, version, topic, state in events:
        index, leaf_hash, entry = leaves.get(position, no_leaf)
        if index != expected:
            finding = (
                _at("the tree misses this custody event", expected, position, stream, version)
                if index is None
                else _missing(db, expected, position)
            )
            break
        if version > 1:
            prev = prevs.get((stream, version - 1))
            if prev is None:
                what = f"the stream has no entry of version {version - 1}"
                finding = _at(what, expected, position, stream, version)
                break
        else:
            prev = None
        made = entry_from_stored(stream, version, topic, state, prev)
        if made is None or made != entry:
            where = (expected, position, UUID(stream), version)
            made, finding = _decoded(mapper, *where, topic, bytes(state), prev)
            if finding is None and made != bytes(entry):
                finding = Finding("the stored event differs from the entry the tree holds", *where)
            if finding is not None:
                break
        leaf = sha256(leaf_prefix + made).digest()
        if leaf != leaf_hash:
            what = "the stored leaf hash is not the entry's hash"
            finding = _at(what, expected, position, stream, version)
            break
        prevs[(stream, version)] = leaf
        hashes += leaf
        expected += 1
    else:
        if expected != chunk.end:
            finding = _missing(db, expected, None)
    levels = _levels(bytes(hashes), chunk.level)
    if finding is not None:
        return Checked(levels, finding)
    node, compared = None, 0
    for level, made_here in enumerate(levels):
        node, counted = _compare_level(db, level, chunk.start >> level, made_here)
        compared += counted
        if node is not None:
            break
    return Checked(levels, None, node, compared)


def _at(what: str, index: int, position: int, stream: str, version: int) -> Finding:
    """A finding about the entry of leaf `index` (the stream as the chunk reads it, as text)."""
    return Finding(what, index, position, UUID(stream), version)


def _decoded(
    mapper: Mapper[UUID],
    index: int,
    position: int,
    stream: UUID,
    version: int,
    topic: str,
    state: bytes,
    prev: bytes | None,
) -> tuple[bytes, Finding | None]:
    """The entry of a stored event the shortcut does not take, through the domain event."""
    where = (index, position, stream, version)
    try:
        _, fact = decode_fact(mapper, StoredEvent(stream, version, topic, state), position)
        return entry_bytes(stream, fact, prev), None
    except UnreadableEvent as e:
        return b"", Finding(f"the stored event cannot be decoded: {e.why}", *where)
    except EntryError as e:
        return b"", Finding(str(e), *where)


def _levels(leaves: bytes, height: int) -> list[bytes]:
    """The complete nodes over `leaves` (leaf hashes, concatenated, the first at an index that
    is a multiple of 2**height), level by level from 0 to `height`, each level concatenated."""
    sha256, node_prefix = hashlib.sha256, b"\x01"
    levels = [leaves]
    for _ in range(height):
        below = levels[-1]
        levels.append(
            b"".join(
                sha256(node_prefix + below[i : i + 64]).digest()
                for i in range(0, len(below) - 63, 64)
            )
        )
    return levels


def _compare_level(
    db: Db, level: int, first: int, made: bytes
) -> tuple[tuple[int, int, Finding] | None, int]:
    """The stored node hashes of `level` from index `first` against `made` (concatenated):
    the first that differs, by (level, index), if any, and how many were compared."""
    count = len(made) // 32
    if not count:
        return None, 0
    low = level * STRIDE + first
    if db.kind == "postgres":  # the server joins them: one value to compare
        row = db.fetchone(
            db.sql(
                "SELECT COUNT(*), string_agg(hash, ''::bytea ORDER BY node) FROM {t} "
                "WHERE node >= %s AND node < %s",
                t=NODES,
            ),
            (low, low + count),
        )
        if row is not None and int(row[0]) == count and bytes(row[1]) == made:
            return None, count
    rows = db.fetchall(
        db.sql("SELECT node, hash FROM {t} WHERE node >= %s AND node < %s ORDER BY node", t=NODES),
        (low, low + count),
    )
    for key, h in rows:
        i = int(key) - low
        if bytes(h) != made[i * 32 : i * 32 + 32]:
            return (
                level,
                first + i,
                Finding(
                    f"the stored node hash at level {level}, index {first + i} is not "
                    "the recomputed one"
                ),
            ), len(rows)
    if len(rows) != count:
        missing = next((i for i, (key, _) in enumerate(rows) if int(key) != low + i), len(rows))
        return (
            level,
            first + missing,
            Finding(
                f"the stored tree has {len(rows)} of {count} node hashes at level {level} "
                f"from index {first}"
            ),
        ), len(rows)
    return None, count


def _rows(db: Db, chunk: Chunk) -> tuple[list[tuple[Any, ...]], dict[int, tuple[Any, ...]]]:
    """The custody events in the chunk's span, in log order (position, stream as text,
    version, topic, state), and the leaves whose events are in that span, by position (index,
    leaf hash, entry). Two range reads: a join of the two, row by row through the leaves'
    index, cost the server three times as much."""
    pos = db.position_column
    query, params = db.where_in(
        f"SELECT {pos}, CAST(originator_id AS TEXT), originator_version, topic, state FROM {{e}}",
        "topic",
        CUSTODY_TOPICS,
        f" AND {pos} >= %s AND {pos} <= %s",
        e=db.events_table,
    )
    leaf_query = db.sql(
        "SELECT position, leaf_index, leaf_hash, entry FROM {t} "
        "WHERE position >= %s AND position <= %s",
        t=LEAVES,
    )
    with db.reader(binary=True) as curs:  # (rows up to `high` are integrated: they stay)
        events = db.all(curs, query, [*params, chunk.low, chunk.high])
        leaves = db.all(curs, leaf_query, (chunk.low, chunk.high))
    # In log order: sorted here, as PostgreSQL would sort them, but without its spilling to
    # disk a sort of rows this wide, or planning a bitmap scan and a sort for it.
    events.sort(key=itemgetter(0))
    by_position = {row[0]: row[1:] for row in leaves}
    if db.kind == "postgres":
        return events, by_position
    # SQLite keeps a stream as its hex digits, a leaf as the UUID's text.
    return [(row[0], str(UUID(row[1])), *row[2:]) for row in events], by_position


def _previous(db: Db, rows: list[tuple[Any, ...]]) -> dict[tuple[str, int], bytes]:
    """The leaf hash of the entry before each stream's first event in the chunk (the link to
    the chunks before), by (stream, version)."""
    first = {row[1]: row[2] for row in reversed(rows)}  # the earliest row of each stream wins
    wanted = [(s, v - 1) for s, v in first.items() if v > 1]
    out: dict[tuple[str, int], bytes] = {}
    if db.kind == "postgres":  # exactly those versions
        query = db.sql(
            "SELECT l.stream, l.version, l.leaf_hash FROM {t} l "
            "JOIN unnest(%s::text[], %s::bigint[]) AS w(stream, version) "
            "ON l.stream = w.stream AND l.version = w.version",
            t=LEAVES,
        )
        for stream, version, leaf_hash in db.fetchall(
            query, ([s for s, _ in wanted], [v for _, v in wanted])
        ):
            out[(stream, int(version))] = bytes(leaf_hash)
        return out
    for begin in range(0, len(wanted), 500):
        part = wanted[begin : begin + 500]
        query, params = db.where_in(
            "SELECT stream, version, leaf_hash FROM {t}", "stream", [s for s, _ in part], t=LEAVES
        )
        want = set(part)
        for stream, version, leaf_hash in db.fetchall(query, params):
            key = (stream, int(version))
            if key in want:
                out[key] = bytes(leaf_hash)
    return out


def _missing(db: Db, index: int, position: int | None) -> Finding:
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
    checkpoint: StoredCheckpoint, root: bytes, log_key: Verifier | None
) -> Finding | None:
    """The checkpoint against `root`, the recomputed tree's at its size."""
    if root != checkpoint.root:
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

"""The verifiable log's tables, beside the event log in the same database.

- `tlog_leaves`: one row per entry, by dense leaf index, with the log position, stream and
  version of the event it holds, its leaf hash and the entry bytes (served as entry tiles).
- `tlog_nodes`: the hash of every complete subtree, keyed by `level * 2**52 + index`, so a
  proof or a tile is one indexed range or list lookup (level 0 are the leaf hashes).
- `tlog_checkpoints`: every checkpoint signed, by tree size, with the signed note.
- `tlog_cosignatures`: the witnesses' cosignature lines, by checkpoint size and witness.
- `tlog_state`: one row, the tree size and the log position integration has passed (moved in
  the transaction that adds the leaves).

These tables are not read models: `custody rebuild` never touches them. The event log and
the checkpoints refuse UPDATE and DELETE (and TRUNCATE on PostgreSQL) by trigger; an owner or
superuser can still drop the triggers, so detection is `custody verify`'s and the witnesses'
job, not the triggers'.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from ledger.errors import LedgerError
from projections.db import Db

LEAVES = "tlog_leaves"
NODES = "tlog_nodes"
CHECKPOINTS = "tlog_checkpoints"
COSIGNATURES = "tlog_cosignatures"
STATE = "tlog_state"  # one row: the tree size and the log position integration has passed
STRIDE = 2**52  # node key = level * STRIDE + index; a tree holds fewer than 2**52 leaves


class LogDamaged(LedgerError):
    """The verifiable log's tables miss or contradict what they must hold."""

    code = "log-damaged"


def node_key(level: int, index: int) -> int:
    return level * STRIDE + index


@dataclass(frozen=True)
class StoredCheckpoint:
    size: int
    root: bytes
    note: str  # the signed note, log signature only
    issued_at: datetime
    cosignatures: tuple[str, ...] = ()  # cosignature lines, each ending in a newline

    @property
    def cosigned_note(self) -> str:
        """The note with every cosignature line appended (what `/log/checkpoint` serves)."""
        return self.note + "".join(self.cosignatures)


@dataclass(frozen=True)
class Leaf:
    index: int
    position: int
    stream: UUID
    version: int
    leaf_hash: bytes
    entry: bytes


def _ddl(db: Db) -> list[Any]:
    blob = "BYTEA" if db.kind == "postgres" else "BLOB"
    stamp = "TIMESTAMPTZ" if db.kind == "postgres" else "TEXT"
    return [
        db.sql(
            "CREATE TABLE IF NOT EXISTS {t} (leaf_index BIGINT PRIMARY KEY, "
            f"position BIGINT NOT NULL UNIQUE, stream TEXT NOT NULL, version BIGINT NOT NULL, "
            f"leaf_hash {blob} NOT NULL, entry {blob} NOT NULL)",
            t=LEAVES,
        ),
        db.sql(
            'CREATE INDEX IF NOT EXISTS "tlog_leaves_stream" ON {t} (stream, version)', t=LEAVES
        ),
        db.sql(
            f"CREATE TABLE IF NOT EXISTS {{t}} (node BIGINT PRIMARY KEY, hash {blob} NOT NULL)",
            t=NODES,
        ),
        db.sql(
            "CREATE TABLE IF NOT EXISTS {t} (size BIGINT PRIMARY KEY, "
            f"root {blob} NOT NULL, note TEXT NOT NULL, issued_at {stamp} NOT NULL)",
            t=CHECKPOINTS,
        ),
        db.sql(
            "CREATE TABLE IF NOT EXISTS {t} (id BIGINT PRIMARY KEY, size BIGINT NOT NULL, "
            "position BIGINT NOT NULL)",
            t=STATE,
        ),
        db.sql(
            "INSERT INTO {t} (id, size, position) VALUES (1, 0, 0) ON CONFLICT (id) DO NOTHING",
            t=STATE,
        ),
        db.sql(
            "CREATE TABLE IF NOT EXISTS {t} (size BIGINT NOT NULL, witness TEXT NOT NULL, "
            "line TEXT NOT NULL, PRIMARY KEY (size, witness))",
            t=COSIGNATURES,
        ),
    ]


def guards(db: Db) -> list[Any]:
    """Triggers that refuse to change what was written: the event log and the checkpoints."""
    if db.kind == "postgres":
        refuse = db.sql(
            "CREATE OR REPLACE FUNCTION {f}() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
            "RAISE EXCEPTION 'custody ledger: %% on %% refused: the log is append-only', "
            "TG_OP, TG_TABLE_NAME USING ERRCODE = 'insufficient_privilege'; END $$",
            f="custody_append_only",
        )
        out = [refuse]
        for table in (db.events_table, CHECKPOINTS):
            out += [
                db.sql(
                    "CREATE OR REPLACE TRIGGER custody_append_only BEFORE UPDATE OR DELETE "
                    "ON {t} FOR EACH ROW EXECUTE FUNCTION {f}()",
                    t=table,
                    f="custody_append_only",
                ),
                db.sql(
                    "CREATE OR REPLACE TRIGGER custody_no_truncate BEFORE TRUNCATE ON {t} "
                    "FOR EACH STATEMENT EXECUTE FUNCTION {f}()",
                    t=table,
                    f="custody_append_only",
                ),
                # ALWAYS: also under session_replication_role = replica (pg_restore, logical
                # replication), where ordinary triggers do not fire.
                db.sql("ALTER TABLE {t} ENABLE ALWAYS TRIGGER custody_append_only", t=table),
                db.sql("ALTER TABLE {t} ENABLE ALWAYS TRIGGER custody_no_truncate", t=table),
            ]
        return out
    out = []
    for table in (db.events_table, CHECKPOINTS):
        for op in ("UPDATE", "DELETE"):
            out.append(
                db.sql(
                    f'CREATE TRIGGER IF NOT EXISTS "custody_no_{op.lower()}_{table}" '
                    f"BEFORE {op} ON {{t}} BEGIN SELECT RAISE(ABORT, 'custody ledger: {op} on "
                    f"{table} refused: the log is append-only'); END",
                    t=table,
                )
            )
    return out


class LogStore:
    """Reads and writes of the verifiable log's tables."""

    def __init__(self, db: Db) -> None:
        self.db = db
        self._tip = db.sql("SELECT size, position FROM {t} WHERE id = 1", t=STATE)

    def setup(self) -> None:
        """Create the tables and the append-only triggers if missing (safe concurrently)."""
        db = self.db
        with db.transaction() as curs:
            if db.kind == "postgres":
                db.execute(
                    curs,
                    db.sql("SELECT pg_advisory_xact_lock(hashtext(%s))"),
                    (db.schema + ".tlog_setup",),
                )
            for statement in _ddl(db) + guards(db):
                db.execute(curs, statement)

    def lock(self, curs: Any) -> None:
        """Serialise integrators (processes of one deployment) for one transaction."""
        if self.db.kind == "postgres":
            self.db.execute(
                curs,
                self.db.sql("SELECT pg_advisory_xact_lock(hashtext(%s))"),
                (self.db.schema + ".tlog_integrate",),
            )

    # -- leaves and nodes -------------------------------------------------------------------

    def tip(self, curs: Any | None = None) -> tuple[int, int]:
        """(tree size, the log position integration has passed)."""
        row = self.db.one(curs, self._tip) if curs is not None else self.db.fetchone(self._tip)
        if row is None:
            raise LogDamaged(f"the log's {STATE} row is missing")
        return int(row[0]), int(row[1])

    def nodes(self, pairs: Sequence[tuple[int, int]]) -> list[bytes]:
        """The hashes of these complete subtrees (level, index), in order; LogDamaged if one
        is missing."""
        if not pairs:
            return []
        keys = [node_key(level, index) for level, index in pairs]
        found: dict[int, bytes] = {}
        chunk = len(keys) if self.db.kind == "postgres" else 500  # SQLite's parameter limit
        for start in range(0, len(keys), chunk):
            query, params = self.db.where_in(
                "SELECT node, hash FROM {t}", "node", keys[start : start + chunk], t=NODES
            )
            found.update((int(k), bytes(h)) for k, h in self.db.fetchall(query, params))
        missing = [p for p, k in zip(pairs, keys, strict=True) if k not in found]
        if missing:
            raise LogDamaged(f"the log's tree misses node(s) (level, index) {missing[:5]}")
        return [found[k] for k in keys]

    def level_range(self, level: int, start: int, count: int) -> list[bytes]:
        """`count` consecutive hashes of one level from `start` (a tile's hashes)."""
        query = self.db.sql(
            "SELECT hash FROM {t} WHERE node >= %s AND node < %s ORDER BY node", t=NODES
        )
        low = node_key(level, start)
        rows = self.db.fetchall(query, (low, low + count))
        if len(rows) != count:
            raise LogDamaged(
                f"the log's tree has {len(rows)} of {count} hashes at level "
                f"{level} from index {start}"
            )
        return [bytes(r[0]) for r in rows]

    def leaves(self, start: int, count: int) -> list[Leaf]:
        query = self.db.sql(
            "SELECT leaf_index, position, stream, version, leaf_hash, entry FROM {t} "
            "WHERE leaf_index >= %s AND leaf_index < %s ORDER BY leaf_index",
            t=LEAVES,
        )
        return [_leaf(r) for r in self.db.fetchall(query, (start, start + count))]

    def leaf_at_position(self, position: int) -> Leaf | None:
        query = self.db.sql(
            "SELECT leaf_index, position, stream, version, leaf_hash, entry FROM {t} "
            "WHERE position = %s",
            t=LEAVES,
        )
        row = self.db.fetchone(query, (position,))
        return None if row is None else _leaf(row)

    def stream_leaves(self, stream: UUID, upto_index: int | None = None) -> list[Leaf]:
        """The entries of one stream, oldest first (those below `upto_index` if given)."""
        # `leaf_index + 0`: the bound is checked on the stream's rows, never through the leaf
        # index's own index (PostgreSQL, at a million leaves, planned a bitmap of every leaf
        # below the bound to AND with the stream's: 55 ms instead of 0.2).
        query = self.db.sql(
            "SELECT leaf_index, position, stream, version, leaf_hash, entry FROM {t} "
            "WHERE stream = %s AND leaf_index + 0 < %s ORDER BY version",
            t=LEAVES,
        )
        limit = upto_index if upto_index is not None else 2**62
        return [_leaf(r) for r in self.db.fetchall(query, (str(stream), limit))]

    def last_of_streams(self, streams: Iterable[UUID]) -> dict[UUID, tuple[int, bytes]]:
        """For each stream with entries: (its last version, that entry's leaf hash)."""
        out: dict[UUID, tuple[int, bytes]] = {}
        names = [str(s) for s in streams]
        for start in range(0, len(names), 500):
            # The last entry only (an index lookup per stream), however long the stream.
            query, params = self.db.where_in(
                "SELECT stream, version, leaf_hash FROM {t} l",
                "stream",
                names[start : start + 500],
                " AND version = (SELECT MAX(m.version) FROM {t} m WHERE m.stream = l.stream)",
                t=LEAVES,
            )
            for stream, version, leaf_hash in self.db.fetchall(query, params):
                out[UUID(str(stream))] = (int(version), bytes(leaf_hash))
        return out

    def add(
        self,
        curs: Any,
        leaves: Sequence[Leaf],
        nodes: Sequence[tuple[int, int, bytes]],
        tip: tuple[int, int],
    ) -> None:
        """Add leaves and the nodes they complete, and move the tip to (size, position)."""
        db = self.db
        db.execute(
            curs, db.sql("UPDATE {t} SET size = %s, position = %s WHERE id = 1", t=STATE), tip
        )
        # COPY on PostgreSQL: a round's rows in one stream, not a statement each (which cost
        # the serving process more than making the entries).
        db.insert_rows(
            curs,
            LEAVES,
            ("leaf_index", "position", "stream", "version", "leaf_hash", "entry"),
            [(x.index, x.position, str(x.stream), x.version, x.leaf_hash, x.entry) for x in leaves],
        )
        db.insert_rows(curs, NODES, ("node", "hash"), [(node_key(lv, i), h) for lv, i, h in nodes])

    # -- checkpoints ------------------------------------------------------------------------

    def checkpoints(self, *, since: int = -1, limit: int | None = None) -> list[StoredCheckpoint]:
        """Stored checkpoints with size above `since`, smallest first, with cosignatures."""
        query = self.db.sql(
            "SELECT size, root, note, issued_at FROM {t} WHERE size > %s ORDER BY size"
            + (" LIMIT %s" if limit is not None else ""),
            t=CHECKPOINTS,
        )
        params: tuple[Any, ...] = (since,) if limit is None else (since, limit)
        rows = self.db.fetchall(query, params)
        return self._with_cosignatures(rows)

    def latest_checkpoint(self, *, cosigned_by: int = 0) -> StoredCheckpoint | None:
        """The largest checkpoint, or the largest with at least `cosigned_by` cosignatures."""
        query = self.db.sql(
            "SELECT c.size, c.root, c.note, c.issued_at FROM {c} c WHERE %s <= "
            "(SELECT COUNT(*) FROM {w} w WHERE w.size = c.size) ORDER BY c.size DESC LIMIT 1",
            c=CHECKPOINTS,
            w=COSIGNATURES,
        )
        found = self._with_cosignatures(self.db.fetchall(query, (cosigned_by,)))
        return found[0] if found else None

    def _with_cosignatures(self, rows: list[tuple[Any, ...]]) -> list[StoredCheckpoint]:
        if not rows:
            return []
        sizes = [int(r[0]) for r in rows]
        query, params = self.db.where_in(
            "SELECT size, line FROM {t}", "size", sizes, " ORDER BY size, witness", t=COSIGNATURES
        )
        lines: dict[int, list[str]] = {}
        for size, line in self.db.fetchall(query, params):
            lines.setdefault(int(size), []).append(str(line))
        return [
            StoredCheckpoint(
                int(size), bytes(root), str(note), _time(issued), tuple(lines.get(int(size), ()))
            )
            for size, root, note, issued in rows
        ]

    def add_checkpoint(self, size: int, root: bytes, note: str, issued_at: datetime) -> None:
        """Store a signed checkpoint (one of that size stored already stays as it is: two
        processes sign the same tree with the same key to the same note)."""
        db = self.db
        verb = "INSERT INTO {t}" if db.kind == "postgres" else "INSERT OR IGNORE INTO {t}"
        conflict = " ON CONFLICT (size) DO NOTHING" if db.kind == "postgres" else ""
        with db.transaction() as curs:
            db.execute(
                curs,
                db.sql(
                    verb + " (size, root, note, issued_at) VALUES (%s, %s, %s, %s)" + conflict,
                    t=CHECKPOINTS,
                ),
                (size, root, note, issued_at if db.kind == "postgres" else issued_at.isoformat()),
            )

    def add_cosignature(self, size: int, witness: str, line: str) -> None:
        db = self.db
        verb = "INSERT INTO {t}" if db.kind == "postgres" else "INSERT OR IGNORE INTO {t}"
        conflict = " ON CONFLICT (size, witness) DO NOTHING" if db.kind == "postgres" else ""
        with db.transaction() as curs:
            db.execute(
                curs,
                db.sql(
                    verb + " (size, witness, line) VALUES (%s, %s, %s)" + conflict, t=COSIGNATURES
                ),
                (size, witness, line),
            )


def _leaf(row: Sequence[Any]) -> Leaf:
    index, position, stream, version, leaf_hash, entry = row
    return Leaf(
        int(index), int(position), UUID(str(stream)), int(version), bytes(leaf_hash), bytes(entry)
    )


def _time(value: Any) -> datetime:
    return value if isinstance(value, datetime) else datetime.fromisoformat(str(value))

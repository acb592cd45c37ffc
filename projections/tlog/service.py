"""Answers from the verifiable log: checkpoints, tiles, proofs and receipts."""

from __future__ import annotations

import base64
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from ledger.errors import NotFound, StoreUnavailable
from ledger.tlog import merkle
from ledger.tlog.note import Receipt
from ledger.tlog.tiles import TILE_HEIGHT, TILE_WIDTH, TileRef, bundle
from projections.tlog.store import Leaf, LogStore, StoredCheckpoint


class LogNotFound(NotFound):
    """What was asked of the log is not in it (a tile beyond the tree, a position that holds
    no custody event, no published checkpoint yet)."""

    code = "log-not-found"


class LogBehind(StoreUnavailable):
    """The event is recorded but not yet in the tree or in a published checkpoint: ask again
    in a second."""

    code = "log-behind"


def b64(value: bytes) -> str:
    return base64.b64encode(value).decode("ascii")


@dataclass
class LogService:
    """The log's read side. `published` is the cosignature count a checkpoint needs to count
    as published (the witness policy); `head` gives the event log's position."""

    store: LogStore
    head: Callable[[], int]
    published: int = 0

    def checkpoint(self) -> StoredCheckpoint:
        """The latest published checkpoint, with its cosignatures."""
        found = self.store.latest_checkpoint(cosigned_by=self.published)
        if found is None:
            raise LogNotFound(
                "the log has published no checkpoint yet (no signing key, see `custody log "
                "init`, or not enough witnesses have cosigned)"
            )
        return found

    def tile(self, ref: TileRef) -> bytes:
        """A hash tile (the concatenated hashes) or an entry bundle, if the tree holds it."""
        size, _ = self.store.tip()
        span = size if ref.level is None else size >> (TILE_HEIGHT * ref.level)
        if span < ref.index * TILE_WIDTH + ref.count:
            raise LogNotFound(f"tile {ref.path()} is not in the tree of {size} entries")
        if ref.level is None:
            leaves = self.store.leaves(ref.index * TILE_WIDTH, ref.count)
            return bundle([x.entry for x in leaves])
        level = TILE_HEIGHT * ref.level
        return b"".join(self.store.level_range(level, ref.index * TILE_WIDTH, ref.count))

    def _size(self, tree_size: int | None) -> int:
        size, _ = self.store.tip()
        if tree_size is None:
            return size
        if tree_size > size:
            raise LogNotFound(f"the tree holds {size} entries, not {tree_size}")
        return tree_size

    def inclusion(self, index: int, tree_size: int | None) -> dict[str, Any]:
        size = self._size(tree_size)
        if index >= size:
            raise LogNotFound(f"leaf {index} is not in a tree of {size} entries")
        (leaf,) = self.store.nodes([(0, index)])
        return {
            "index": index,
            "tree_size": size,
            "leaf_hash": b64(leaf),
            "root": b64(merkle.root_at(self.store.nodes, size)),
            "hashes": [b64(h) for h in merkle.inclusion_proof(self.store.nodes, index, size)],
        }

    def consistency(self, first: int, second: int | None) -> dict[str, Any]:
        size = self._size(second)
        if first > size:
            raise LogNotFound(f"from {first} is larger than to {size}")
        proof = merkle.consistency_proof(self.store.nodes, first, size) if 0 < first < size else []
        return {
            "from": first,
            "to": size,
            "root_from": b64(merkle.root_at(self.store.nodes, first)),
            "root_to": b64(merkle.root_at(self.store.nodes, size)),
            "hashes": [b64(h) for h in proof],
        }

    def leaf(self, position: int) -> Leaf:
        """The entry of the custody event at a log position."""
        found = self.store.leaf_at_position(position)
        if found is not None:
            return found
        _, passed = self.store.tip()
        if position <= passed or position > self.head():
            raise LogNotFound(f"log position {position} holds no custody event")
        raise LogBehind(f"the event at log position {position} is not in the tree yet")

    def receipt(self, position: int) -> Receipt:
        """The tlog-proof@v1 receipt of the event at `position`: its inclusion in the latest
        published checkpoint, which travels with it."""
        leaf = self.leaf(position)
        checkpoint = self.checkpoint()
        if checkpoint.size <= leaf.index:
            raise LogBehind(
                f"the event at log position {position} is in the tree but not yet "
                "in a published checkpoint"
            )
        hashes = merkle.inclusion_proof(self.store.nodes, leaf.index, checkpoint.size)
        # The entry travels in `extra`: the receipt then proves itself, offline.
        return Receipt(leaf.index, tuple(hashes), checkpoint.cosigned_note, leaf.entry)

    def stream_proof(self, stream: UUID, version: int) -> dict[str, Any]:
        """The proof that goes with an answer about `stream` built from its first `version`
        events: the latest published checkpoint and every entry of the stream in it, each
        with its inclusion proof. LogBehind if that checkpoint does not hold those events yet."""
        checkpoint = self.checkpoint()
        # The entries the answer rests on, not later ones the stream has gained since.
        leaves = self.store.stream_leaves(stream, upto_index=checkpoint.size)[:version]
        if len(leaves) < version:
            raise LogBehind(
                f"account {stream}'s events up to version {version} are not all in "
                "a published checkpoint yet"
            )
        proofs = merkle.inclusion_proofs(
            self.store.nodes, [leaf.index for leaf in leaves], checkpoint.size
        )
        # The proofs share most of their hashes: encode each once.
        text: dict[bytes, str] = {}
        return {
            "checkpoint": checkpoint.cosigned_note,
            "entries": [
                {
                    "index": leaf.index,
                    "entry": b64(leaf.entry),
                    "hashes": [text[h] if h in text else text.setdefault(h, b64(h)) for h in proof],
                }
                for leaf, proof in zip(leaves, proofs, strict=True)
            ],
        }

    def status(self, now: Callable[[], float] = time.time) -> dict[str, Any]:
        """For /health: the tree, how far integration is behind, the latest checkpoint."""
        size, passed = self.store.tip()
        latest = self.store.latest_checkpoint()
        return {
            "tree_size": size,
            "lag": max(self.head() - passed, 0),
            "checkpoint": None
            if latest is None
            else {
                "size": latest.size,
                "age_seconds": round(max(now() - latest.issued_at.timestamp(), 0.0), 3),
                "cosignatures": len(latest.cosignatures),
                "published": len(latest.cosignatures) >= self.published,
            },
        }

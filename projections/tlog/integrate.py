"""Integration of custody events into the Merkle tree, and the signed checkpoints.

The integrator follows the event log by position, like the projector, and appends each
custody event's entry to the tree in log order: leaves and the complete nodes they finish in
one transaction with a lock, so two processes never interleave and a crash leaves a prefix.
The checkpointer signs the tree when it has grown, after checking that the new tree is
consistent with the last checkpoint signed, and gives it to the witnesses.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from uuid import UUID

from eventsourcing.persistence import Notification

from ledger.application import CustodyLedger
from ledger.domain import CUSTODY_TOPICS, decode_fact
from ledger.errors import StoreUnavailable, UnreadableEvent, first_line
from ledger.tlog import merkle
from ledger.tlog.entry import EntryError, entry_bytes, entry_from_stored
from ledger.tlog.note import Checkpoint, Signer, sign_note
from projections.tlog.store import Leaf, LogDamaged, LogStore, StoredCheckpoint
from projections.tlog.witnesses import Witness, submit

log = logging.getLogger(__name__)


class IntegrationStuck(LogDamaged):
    """An event cannot become an entry (it does not decode, breaks its stream's chain, or is
    too large): integration stops before it, and says where."""

    code = "log-integration-stuck"


class Integrator:
    """Appends the log's custody events to the tree, in log order."""

    def __init__(self, ledger: CustodyLedger, store: LogStore, *, batch_size: int = 2000) -> None:
        self.ledger = ledger
        self.store = store
        self.batch_size = batch_size
        self._frontier: merkle.Frontier | None = None  # the tree's right edge, when known

    def integrate(self) -> int:
        """Integrate everything up to the log's head; the number of entries added."""
        total = 0
        while True:
            added, more = self._round()
            total += added
            if not more:
                return total

    def _round(self) -> tuple[int, bool]:
        size, position = self.store.tip()
        head = self.ledger.head()
        if position >= head:
            return 0, False
        notes = self.ledger.recorder.select_notifications(
            start=position,
            limit=self.batch_size,
            stop=head,
            topics=CUSTODY_TOPICS,
            inclusive_of_start=False,
        )
        # The round passes the index and token events too: up to the head if it read them all.
        more = len(notes) == self.batch_size
        reached = notes[-1].id if more else head
        # Entries are made before the write transaction, which then holds the lock (on SQLite,
        # the database's) only to write them, if nobody integrated meanwhile.
        ids = [_uuid(note.originator_id) for note in notes]
        last = self.store.last_of_streams(set(ids))
        frontier = self._frontier_at(size)
        leaves: list[Leaf] = []
        nodes: list[tuple[int, int, bytes]] = []
        stuck: IntegrationStuck | None = None
        for note, stream in zip(notes, ids, strict=True):
            try:
                entry = self._entry(note, stream, last)
            except IntegrationStuck as e:
                # The entries before it are kept (with the nodes they complete); the round
                # ends there and says where.
                stuck, reached = e, note.id - 1
                break
            leaf = merkle.leaf_hash(entry)
            leaves.append(
                Leaf(frontier.size, note.id, stream, note.originator_version, leaf, entry)
            )
            nodes += frontier.append(leaf)
            last[stream] = (note.originator_version, leaf)
        db = self.store.db
        with db.transaction() as curs:
            self.store.lock(curs)
            if self.store.tip(curs) != (size, position):
                self._frontier = None  # another process integrated meanwhile
                return 0, True
            self.store.add(curs, leaves, nodes, (frontier.size, reached))
        self._frontier = frontier
        if stuck is not None:
            raise stuck
        return len(leaves), more

    def _entry(
        self, note: Notification, stream: UUID, last: dict[UUID, tuple[int, bytes]]
    ) -> bytes:
        """The entry of a stored custody event of `stream`, after its stream's last entry."""
        version, prev = last.get(stream, (0, None))
        if note.originator_version != version + 1:
            raise IntegrationStuck(
                f"the log cannot integrate past stream {stream} version "
                f"{note.originator_version} at log position {note.id}: its entry before is "
                f"version {version}"
            )
        entry = entry_from_stored(stream, version + 1, note.topic, note.state, prev)
        if entry is not None:
            return entry
        try:
            _, fact = decode_fact(self.ledger.mapper, note, note.id)
            return entry_bytes(stream, fact, prev)
        except UnreadableEvent as e:
            raise IntegrationStuck(f"the log cannot integrate past {e.detail}") from None
        except EntryError as e:
            raise IntegrationStuck(
                f"the log cannot integrate past log position {note.id}: {e}"
            ) from None

    def _frontier_at(self, size: int) -> merkle.Frontier:
        frontier = self._frontier
        if frontier is None or frontier.size != size:
            frontier = merkle.Frontier.load(self.store.nodes, size)
        # A copy: a refused round must not leave the cached edge advanced.
        return merkle.Frontier(frontier.size, frontier.peaks)


def _uuid(value: object) -> UUID:
    """A stream id as a recorder returns it (a UUID, or its hex on SQLite)."""
    return value if isinstance(value, UUID) else UUID(str(value))


@dataclass
class WitnessState:
    """What this process knows of one witness: the size it last cosigned, and when to ask
    again after a failure (backing off, so a witness that is down does not slow every round)."""

    witness: Witness
    size: int | None = None  # unknown until it answers
    last_error: str | None = None
    failures: int = 0
    retry_at: float = 0.0  # time.monotonic()


class CheckpointRefused(LogDamaged):
    """The tree is not consistent with the last signed checkpoint: nothing is signed."""

    code = "log-inconsistent"


@dataclass
class Checkpointer:
    """Signs the tree as it grows, and collects the witnesses' cosignatures."""

    store: LogStore
    signer: Signer
    witnesses: Sequence[Witness] = ()
    clock: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))
    timeout: float = 5.0

    def __post_init__(self) -> None:
        self.states = [WitnessState(w) for w in self.witnesses]

    def checkpoint(self) -> StoredCheckpoint:
        """Sign the current tree unless the latest checkpoint covers it; cosign both."""
        latest = self.store.latest_checkpoint()
        size, _ = self.store.tip()
        if latest is not None and latest.size > size:
            raise CheckpointRefused(
                f"the tree holds {size} entries, fewer than the {latest.size} of the last "
                "checkpoint signed: its tables lost entries; nothing was signed"
            )
        if latest is None or latest.size < size:
            root = merkle.root_at(self.store.nodes, size)
            if latest is not None and latest.size > 0:
                proof = merkle.consistency_proof(self.store.nodes, latest.size, size)
                try:
                    merkle.verify_consistency(latest.size, size, proof, latest.root, root)
                except merkle.ProofError as e:
                    raise CheckpointRefused(
                        f"the tree of {size} entries is not consistent with the checkpoint "
                        f"signed at {latest.size}: {e}; nothing was signed"
                    ) from None
            text = Checkpoint(self.signer.name, size, root).text()
            note = str(sign_note(text, self.signer))
            self.store.add_checkpoint(size, root, note, self.clock())
            latest = self.store.latest_checkpoint()
            assert latest is not None
        if self.states and self._cosign(latest):
            cosigned = self.store.latest_checkpoint()
            assert cosigned is not None
            return cosigned
        return latest

    def _cosign(self, checkpoint: StoredCheckpoint) -> bool:
        """Ask every witness that has not cosigned `checkpoint` yet; whether one did now."""
        have = {line.split(" ", 2)[1] for line in checkpoint.cosignatures}
        added = False
        for state in self.states:
            if state.witness.name in have or time.monotonic() < state.retry_at:
                continue
            try:
                line, state.size = submit(
                    state.witness,
                    self.store.nodes,
                    checkpoint.note,
                    checkpoint.size,
                    state.size,
                    timeout=self.timeout,
                )
            except (OSError, ValueError, LogDamaged) as e:
                state.last_error = first_line(e)
                state.failures += 1
                state.retry_at = time.monotonic() + min(2.0**state.failures, 60.0)
                log.warning("witness %s: %s", state.witness.url, state.last_error)
                continue
            state.last_error, state.failures = None, 0
            self.store.add_cosignature(checkpoint.size, state.witness.name, line)
            added = True
        return added


class LogThread(threading.Thread):
    """Integrates and signs at least once a second while the log grows; never dies of a
    failed round (it says why in `last_error`, backs off and tries again)."""

    def __init__(
        self,
        integrator: Integrator,
        checkpointer: Checkpointer | None,
        *,
        interval: float = 0.5,
    ) -> None:
        super().__init__(name="custody-log", daemon=True)
        self.integrator = integrator
        self.checkpointer = checkpointer
        self.interval = interval
        self.stopping = threading.Event()
        self.last_error: str | None = None
        self.failing_since: float | None = None

    def stop(self) -> None:
        self.stopping.set()
        self.join(timeout=10)

    def round(self) -> None:
        self.integrator.integrate()
        if self.checkpointer is not None:
            self.checkpointer.checkpoint()

    def run(self) -> None:
        failures = 0
        while not self.stopping.is_set():
            try:
                self.round()
            except (StoreUnavailable, LogDamaged) as e:
                failures = self._failed(failures, e.detail)
                log.warning("log: %s", e.detail)
            except Exception as e:  # the worker's own loop: report, back off, retry
                failures = self._failed(failures, f"{type(e).__name__}: {first_line(e)}")
                log.exception("log: a round failed; retrying")
            else:
                failures, self.last_error, self.failing_since = 0, None, None
            wait = min(self.interval * 2**failures, 5.0) if failures else self.interval
            self.stopping.wait(wait)

    def _failed(self, failures: int, why: str) -> int:
        self.last_error = why
        if self.failing_since is None:
            self.failing_since = time.monotonic()
        return failures + 1

"""A batch's read-model rows, derived in a forked child while this process writes the batch.

An import is checked and staged in memory, written to the log in one transaction, and then
projected: the rows of every read model are derived from the new facts and written, with the
tracking position, in a second transaction. Deriving needs only the facts, and the staged batch
holds them (each account's whole stream), so it need not wait for the log. On a machine with a
core to spare, a child forked once the batch is staged derives the rows while this process
writes the log; the rows come back through a pipe, and this process writes them and the
tracking position in one transaction, exactly as the projector does (`Projector.write`).

The child reads memory only: it is given no database connection (the projector's is taken
from it), takes no lock, touches no file but its two pipes, and ends with `os._exit`. It is
used only where that is safe and worth it: on Linux, in a process with no other thread, for a
batch of at least `FORK_EVENTS` events, with read models at the log head. Its rows are written
only if the batch's events lie right after that head in the log (no other writer came
between) and the models are still there. Otherwise, or if the child fails, nothing of it is
written and the projector catches up in this process, as it would without a child.
"""

from __future__ import annotations

import logging
import os
import pickle
import select
import signal
import sys
import threading
from array import array
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from typing import NoReturn
from uuid import UUID

from ledger.batch import Batch
from ledger.fold import Fact
from projections.projector import Decoded, Projector, derive_pending

log = logging.getLogger(__name__)

FORK_EVENTS = 1000
"""A smaller batch is projected in this process: forking would cost about what it saves."""
QUIET_SECONDS = 60.0
"""A child that neither reads nor writes for this long is presumed stuck: it is stopped and
the batch is projected in this process."""


@dataclass
class Alongside:
    """What `derived_alongside` did: `pid` is the child's while it works; `forked` says, once
    the block has ended, whether the child's rows were the ones written."""

    pid: int | None = None
    forked: bool = False


@contextmanager
def derived_alongside(
    projector: Projector, batch: Batch, *, fork_events: int = FORK_EVENTS
) -> Iterator[Alongside]:
    """Around the block that commits `batch`: derive its rows in a forked child meanwhile, and
    on leaving the block write them; either way the read models are then up to date with the
    batch (and with the rest of the log). Leaving with an exception stops the child."""
    outcome = Alongside()
    child = _Child.start(projector, batch) if _may_fork(batch, fork_events) else None
    outcome.pid = None if child is None else child.pid
    try:
        yield outcome
    except BaseException:
        if child is not None:
            child.stop()
        raise
    outcome.forked = child is not None and child.finish(batch)
    projector.catch_up()


def commit_and_project(projector: Projector, batch: Batch) -> bool:
    """Commit `batch` and return with the read models up to date with it. True if its rows
    were derived in a forked child while the log was written."""
    with derived_alongside(projector, batch) as outcome:
        batch.commit()
    return outcome.forked


def _may_fork(batch: Batch, fork_events: int) -> bool:
    # Fork copies only the calling thread: with another thread alive, a lock it held stays
    # held in the child. Elsewhere than Linux, fork is either missing or unsafe with system
    # libraries (macOS); on one core the child only competes with the parent.
    return (
        sys.platform == "linux"
        and len(batch.records) >= fork_events
        and threading.active_count() == 1
        and len(os.sched_getaffinity(0)) > 1
    )


class _Child:
    """The parent's handle on a child deriving a batch's rows."""

    def __init__(
        self, projector: Projector, pid: int, to_child: int, from_child: int, head: int
    ) -> None:
        self.projector = projector
        self.pid = pid
        self.to_child = to_child
        self.from_child = from_child
        self.head = head  # the log head, and every model's position, when the child forked
        self.open = [to_child, from_child]

    @classmethod
    def start(cls, projector: Projector, batch: Batch) -> _Child | None:
        projector.catch_up()
        head = projector.ledger.head()
        if any(p != head for p in projector.positions().values()):
            return None  # a rebuild or another projector is part-way: project here
        positions_r, positions_w = os.pipe()
        rows_r, rows_w = os.pipe()
        try:
            pid = os.fork()
        except OSError as e:
            for fd in (positions_r, positions_w, rows_r, rows_w):
                os.close(fd)
            log.warning("cannot fork to derive the batch's rows (%s); projecting here", e)
            return None
        if pid == 0:
            os.close(positions_w)
            os.close(rows_r)
            _derive_in_child(projector, batch, positions_r, rows_w)
        os.close(positions_r)
        os.close(rows_w)
        return cls(projector, pid, positions_w, rows_r, head)

    def finish(self, batch: Batch) -> bool:
        """Hand the committed positions to the child, take its rows, write them. False (and
        nothing written) if the batch does not lie right after `head` or the child failed."""
        try:
            written = batch.positions
            if written != list(range(self.head + 1, self.head + 1 + len(written))):
                return False  # another writer's events are among the batch's: project here
            placed = [r.position for r in batch.records if r.position is not None]
            if len(placed) != len(batch.records):
                return False
            self._send(array("q", placed).tobytes())
            kind, payload = pickle.loads(self._receive())
            if kind != "rows":
                log.warning("deriving the batch's rows in a child failed: %s", payload)
                return False
            tracked = {m.name: self.head for m in self.projector.models}
            return self.projector.write(tracked, written[-1], payload)
        except (OSError, EOFError, TypeError, ValueError, pickle.UnpicklingError) as e:
            log.warning("the child deriving the batch's rows failed (%s); projecting here", e)
            return False
        finally:
            self.stop()

    def stop(self) -> None:
        """Close the pipes and reap the child (stopping it first if it is still working)."""
        while self.open:
            os.close(self.open.pop())
        with suppress(ProcessLookupError):
            os.kill(self.pid, signal.SIGKILL)
        with suppress(ChildProcessError):
            os.waitpid(self.pid, 0)

    def _send(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            _wait(self.to_child, write=True)
            view = view[os.write(self.to_child, view) :]
        os.close(self.to_child)
        self.open.remove(self.to_child)

    def _receive(self) -> bytes:
        chunks: list[bytes] = []
        while True:
            _wait(self.from_child, write=False)
            chunk = os.read(self.from_child, 1 << 20)
            if not chunk:
                return b"".join(chunks)
            chunks.append(chunk)


def _wait(fd: int, *, write: bool) -> None:
    readable, writable, _ = select.select(
        [] if write else [fd], [fd] if write else [], [], QUIET_SECONDS
    )
    if not readable and not writable:
        raise TimeoutError(f"the child was silent for {QUIET_SECONDS:g}s")


def _derive_in_child(projector: Projector, batch: Batch, positions_r: int, rows_w: int) -> NoReturn:
    """The child: derive every model's rows for the batch, those that carry log positions once
    the parent sends them, and send the rows back. Never returns."""
    code = 1
    try:
        projector.db = None  # type: ignore[assignment]  # the parent's connections stay the parent's
        histories = batch.histories()
        known: dict[UUID, list[Fact]] = {aid: facts for aid, facts, _ in histories}
        decoded: list[Decoded] = [
            (0, aid, fact) for aid, facts, first in histories for fact in facts[first - 1 :]
        ]
        changes = projector.changes(decoded, known)
        models = projector.models
        pending = derive_pending([m for m in models if not m.uses_positions], changes)
        placed = _read_exact(positions_r, 8 * len(batch.records))
        if placed is None:  # the parent gave up on this child
            os._exit(0)
        where = {
            (r.account_id, r.version): p
            for r, p in zip(batch.records, array("q", placed), strict=True)
        }
        for change in changes:
            change.position = where[change.account_id, change.fact.version]
        pending |= derive_pending([m for m in models if m.uses_positions], changes)
        message: tuple[str, object] = ("rows", pending)
        code = 0
    except BaseException as e:  # the child must end here: the parent projects in-process
        message = ("failed", f"{type(e).__name__}: {e}")
    try:
        with os.fdopen(rows_w, "wb") as out:
            pickle.dump(message, out, protocol=pickle.HIGHEST_PROTOCOL)
    except BaseException:
        code = 1
    os._exit(code)


def _read_exact(fd: int, size: int) -> bytes | None:
    chunks: list[bytes] = []
    got = 0
    while got < size:
        chunk = os.read(fd, size - got)
        if not chunk:
            return None
        chunks.append(chunk)
        got += len(chunk)
    return b"".join(chunks)

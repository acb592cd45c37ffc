"""A batch's read-model rows, derived in a forked child while this process writes the batch.

An import is checked and staged in memory, written to the log in one transaction, and then
projected: the rows of every read model are derived from the new facts and written, with the
tracking position, in a second transaction. Deriving needs only the facts, and the staged batch
holds them (each account's whole stream), so it need not wait for the log. On a machine with a
core to spare, a child forked once the batch is staged derives the rows while this process
writes the log, and sends each model's rows as soon as they are ready; this process then
writes them as they come, and the tracking position, in one transaction, exactly as the
projector does (`Projector.write`). The rows that carry log positions (the event records') are
derived last, once this process has sent the positions its commit gave.

The child reads memory only: it is given no database connection (the projector's is taken
from it), touches no file but its two pipes, and ends with `os._exit`. It is used only where
that is safe and worth it: on Linux, in a process with no other thread, for a batch of at
least `FORK_EVENTS` events, with read models at the log head. Its rows are written only if the
batch's events lie right after that head in the log (no other writer came between), the models
are still there, and every model's rows arrive. Otherwise, or if the child fails, nothing of it
is written and the projector catches up in this process, as it would without a child.
"""

from __future__ import annotations

import logging
import os
import pickle
import select
import signal
import struct
import sys
import threading
from array import array
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from queue import SimpleQueue
from typing import NoReturn
from uuid import UUID

from ledger.batch import Batch
from ledger.fold import Fact
from projections.models import Pending
from projections.projector import Decoded, Projector, derive_pending

log = logging.getLogger(__name__)

FORK_EVENTS = 1000
"""A smaller batch is projected in this process: forking would cost about what it saves."""
QUIET_SECONDS = 60.0
"""A child that neither reads nor writes for this long (plus a second per thousand events of
the batch) is presumed stuck: it is stopped and the batch is projected in this process."""


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


class ChildFailed(ValueError):
    """The child reported that it could not derive the rows."""


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
        self.quiet = QUIET_SECONDS

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
        child = cls(projector, pid, positions_w, rows_r, head)
        # A model's rows come in one message: allow for the time a large batch takes.
        child.quiet += len(batch.records) / 1000
        return child

    def finish(self, batch: Batch) -> bool:
        """Hand the committed positions to the child, write its rows as they come, in one
        transaction. False (and nothing written) if the batch does not lie right after `head`
        or the child failed."""
        try:
            written = batch.positions
            if written != list(range(self.head + 1, self.head + 1 + len(written))):
                return False  # another writer's events are among the batch's: project here
            placed = [r.position for r in batch.records if r.position is not None]
            if len(placed) != len(batch.records):
                return False
            self._send(array("q", placed).tobytes())
            tracked = {m.name: self.head for m in self.projector.models}
            return self.projector.write(tracked, written[-1], self._rows())
        except (OSError, EOFError, ValueError, pickle.UnpicklingError) as e:
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

    def _rows(self) -> Iterator[tuple[str, Pending]]:
        """Each model's rows as the child sends them, until it says it is done."""
        while True:
            (size,) = struct.unpack("<Q", self._read(8))
            message = pickle.loads(self._read(size))
            if message[0] == "done":
                return
            if message[0] != "rows":
                raise ChildFailed(message[1])
            yield message[1], message[2]

    def _send(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            self._wait(self.to_child, write=True)
            view = view[os.write(self.to_child, view) :]
        os.close(self.to_child)
        self.open.remove(self.to_child)

    def _read(self, size: int) -> bytes:
        chunks: list[bytes] = []
        while size:
            self._wait(self.from_child, write=False)
            chunk = os.read(self.from_child, min(size, 1 << 20))
            if not chunk:
                raise EOFError("the child ended before sending every model's rows")
            chunks.append(chunk)
            size -= len(chunk)
        return b"".join(chunks)

    def _wait(self, fd: int, *, write: bool) -> None:
        readable, writable, _ = select.select(
            [] if write else [fd], [fd] if write else [], [], self.quiet
        )
        if not readable and not writable:
            raise TimeoutError(f"the child was silent for {self.quiet:g}s")


def _derive_in_child(projector: Projector, batch: Batch, positions_r: int, rows_w: int) -> NoReturn:
    """The child: derive each model's rows for the batch and send them as they are ready (a
    thread writes them, so deriving never waits for the parent to read); the rows that carry
    log positions once the parent has sent those (another thread takes them in as they come).
    Never returns."""
    out = _Outbox(rows_w)
    positions = _Inbox(positions_r, 8 * len(batch.records))
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
        for name, rows in derive_pending([m for m in models if not m.uses_positions], changes):
            out.put(("rows", name, rows))
        placed = positions.take()
        if placed is None:  # the parent gave up on this child
            os._exit(0)
        where = {
            (r.account_id, r.version): p
            for r, p in zip(batch.records, array("q", placed), strict=True)
        }
        for change in changes:
            change.position = where[change.account_id, change.fact.version]
        for name, rows in derive_pending([m for m in models if m.uses_positions], changes):
            out.put(("rows", name, rows))
        out.put(("done",))
        code = 0
    except BaseException as e:  # the child must end here: the parent projects in-process
        out.put(("failed", f"{type(e).__name__}: {e}"))
    os._exit(code if out.close() else 1)


class _Outbox:
    """Messages to the parent, each pickled here and written, length first, by a thread."""

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self.queue: SimpleQueue[bytes | None] = SimpleQueue()
        self.ok = True
        self.thread = threading.Thread(target=self._write, daemon=True)
        self.thread.start()

    def put(self, message: tuple[object, ...]) -> None:
        self.queue.put(pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL))

    def close(self) -> bool:
        """Wait until everything is written; False if the parent stopped reading."""
        self.queue.put(None)
        self.thread.join()
        return self.ok

    def _write(self) -> None:
        while (data := self.queue.get()) is not None:
            if not self.ok:
                continue
            try:
                view = memoryview(struct.pack("<Q", len(data)) + data)
                while view:
                    view = view[os.write(self.fd, view) :]
            except OSError:
                self.ok = False


class _Inbox:
    """`size` bytes from the parent, read by a thread as they come (the parent never waits)."""

    def __init__(self, fd: int, size: int) -> None:
        self.fd = fd
        self.size = size
        self.data: bytes | None = None
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def take(self) -> bytes | None:
        """The bytes, once all have come; None if the parent closed the pipe first."""
        self.thread.join()
        return self.data

    def _read(self) -> None:
        chunks: list[bytes] = []
        got = 0
        with suppress(OSError):
            while got < self.size:
                chunk = os.read(self.fd, self.size - got)
                if not chunk:
                    return
                chunks.append(chunk)
                got += len(chunk)
            self.data = b"".join(chunks)

"""A batch's read-model rows, derived in a forked child while this process writes the batch.

An import is checked and staged in memory, written to the log in one transaction, and then
projected: the rows of every read model are derived from the new facts and written, with the
tracking position, in a second transaction. Deriving needs only the facts, and the staged batch
holds them (each account's whole stream), so it need not wait for the log. On a machine with a
core to spare, a child forked once the batch is staged derives the rows while this process
writes the log. This process then derives the rows that carry log positions (the event
records': its commit gave the positions, and they need no timeline), takes the child's rows,
and writes them all with the tracking position in one transaction, exactly as the projector
does (`Projector.write`). It never holds the write lock while the child works.

The child reads memory only: it is given no database connection (the projector's is taken
from it), ignores Ctrl-C (this process decides its fate), touches no file but its pipe, and
always ends with `os._exit`, whatever happens. It is used only where that is safe and worth it:
on Linux, in a process with no other thread, for a batch of at least `FORK_EVENTS` events,
with read models at the log head. Its rows are written only if the batch's events lie right
after that head in the log (no other writer came between) and the models are still there.
Otherwise, or if the child fails, nothing of it is written and the projector catches up in
this process, as it would without a child. The child shares this process's memory until
either writes to it: a large import may need up to about half as much again while it runs.
"""

from __future__ import annotations

import logging
import os
import pickle
import select
import signal
import sys
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from typing import Protocol
from uuid import UUID

from ledger.fold import Fact
from ledger.records import EventRecord
from projections.models import Change, Pending
from projections.projector import Decoded, Projector, derive_pending

log = logging.getLogger(__name__)

FORK_EVENTS = 1000
"""A smaller batch is projected in this process: forking would cost about what it saves."""
QUIET_SECONDS = 60.0
"""A child silent for this long (plus a second per thousand events of the batch) is presumed
stuck: it is stopped and the batch is projected in this process."""


class StagedBatch(Protocol):
    """What this module needs of the ledger's batch (`ledger.batch.Batch`)."""

    records: list[EventRecord]  # one per event staged; placed at log positions by the commit
    positions: list[int]  # every log position the commit wrote, ascending

    def histories(self) -> list[tuple[UUID, list[Fact], int]]: ...

    def commit(self) -> list[EventRecord]: ...


@dataclass
class Alongside:
    """What `derived_alongside` did: `pid` is the child's while it works; `forked` says, once
    the block has ended, whether the child's rows were the ones written."""

    pid: int | None = None
    forked: bool = False


@contextmanager
def derived_alongside(
    projector: Projector, batch: StagedBatch, *, fork_events: int = FORK_EVENTS
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


def commit_and_project(projector: Projector, batch: StagedBatch) -> bool:
    """Commit `batch` and return with the read models up to date with it. True if its rows
    were derived in a forked child while the log was written."""
    with derived_alongside(projector, batch) as outcome:
        batch.commit()
    return outcome.forked


def _may_fork(batch: StagedBatch, fork_events: int) -> bool:
    # Fork copies only the calling thread: with another thread alive, a lock it held stays
    # held in the child. Elsewhere than Linux, fork is either missing or unsafe with system
    # libraries (macOS); on one core the child only competes with the parent.
    return (
        sys.platform == "linux"
        and len(batch.records) >= max(fork_events, 1)
        and threading.active_count() == 1
        and len(os.sched_getaffinity(0)) > 1
    )


class _ChildFailed(Exception):
    """The child's rows cannot be used (it said so, or sent what it should not have)."""


class _Child:
    """The parent's handle on a child deriving a batch's rows."""

    def __init__(self, projector: Projector, pid: int, rows: int, head: int, quiet: float) -> None:
        self.projector = projector
        self.pid = pid
        self.rows = rows  # the read end of the child's pipe, until closed
        self.head = head  # the log head, and every model's position, when the child forked
        self.quiet = quiet

    @classmethod
    def start(cls, projector: Projector, batch: StagedBatch) -> _Child | None:
        projector.catch_up()
        head = projector.ledger.head()
        if any(p != head for p in projector.positions().values()):
            return None  # a rebuild or another projector is part-way: project here
        rows_r, rows_w = os.pipe()
        # Ctrl-C must not reach the child before it ignores it: blocked across the fork.
        mask = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
        try:
            pid = os.fork()
        except OSError as e:
            signal.pthread_sigmask(signal.SIG_SETMASK, mask)
            os.close(rows_r)
            os.close(rows_w)
            log.warning("cannot fork to derive the batch's rows (%s); projecting here", e)
            return None
        if pid == 0:  # the child: whatever happens, it ends here
            code = 1
            try:
                signal.signal(signal.SIGINT, signal.SIG_IGN)
                signal.pthread_sigmask(signal.SIG_SETMASK, mask)
                os.close(rows_r)
                code = _derive_in_child(projector, batch, rows_w)
            finally:
                os._exit(code)
        os.close(rows_w)
        # The child sends its rows in one message: allow for the time a large batch takes.
        child = cls(projector, pid, rows_r, head, QUIET_SECONDS + len(batch.records) / 1000)
        try:
            signal.pthread_sigmask(signal.SIG_SETMASK, mask)  # a Ctrl-C waiting lands here
        except BaseException:
            child.stop()
            raise
        return child

    def finish(self, batch: StagedBatch) -> bool:
        """Derive the rows that carry log positions, take the child's, write them all in one
        transaction. False (and nothing written) if the batch does not lie right after `head`
        or the child's rows cannot be used."""
        try:
            written = batch.positions
            if not written or written != list(range(self.head + 1, written[-1] + 1)):
                return False  # another writer's events are among the batch's: project here
            models = self.projector.models
            ours = list(derive_pending([m for m in models if m.uses_positions], _placed(batch)))
            theirs = self._rows()
            wanted = sorted(m.name for m in models if not m.uses_positions)
            if sorted(name for name, _ in theirs) != wanted:
                raise _ChildFailed(f"rows for {sorted(name for name, _ in theirs)}")
            tracked = {m.name: self.head for m in models}
            return self.projector.write(tracked, written[-1], [*theirs, *ours])
        except (OSError, EOFError, pickle.UnpicklingError, _ChildFailed) as e:
            log.warning("the child deriving the batch's rows failed (%s); projecting here", e)
            return False
        finally:
            self.stop()

    def stop(self) -> None:
        """Close the pipe and reap the child (stopping it first if it is still working)."""
        if self.rows >= 0:
            os.close(self.rows)
            self.rows = -1
        with suppress(ProcessLookupError):
            os.kill(self.pid, signal.SIGKILL)
        with suppress(ChildProcessError):
            os.waitpid(self.pid, 0)

    def _rows(self) -> list[tuple[str, Pending]]:
        """The child's message, once it has sent all of it."""
        poll = select.poll()
        poll.register(self.rows, select.POLLIN)
        chunks: list[bytes] = []
        while True:
            if not poll.poll(self.quiet * 1000):
                raise TimeoutError(f"the child was silent for {self.quiet:g}s")
            chunk = os.read(self.rows, 1 << 20)
            if not chunk:
                break
            chunks.append(chunk)
        kind, payload = pickle.loads(b"".join(chunks))
        if kind != "rows":
            raise _ChildFailed(payload)
        return list(payload)


def _placed(batch: StagedBatch) -> list[Change]:
    """The batch's events at the log positions its commit gave them, for the models whose rows
    carry positions (they read no timeline: none is given)."""
    facts = {aid: facts for aid, facts, _ in batch.histories()}
    return [
        Change(r.account_id, facts[r.account_id][r.version - 1], r.position, [], [])
        for r in batch.records
        if r.position is not None
    ]


def _derive_in_child(projector: Projector, batch: StagedBatch, rows_w: int) -> int:
    """In the child: derive the rows of every model that needs no log position and send them
    to the parent in one message (or why it could not). Returns the exit code."""
    try:
        projector.db = None  # type: ignore[assignment]  # never the parent's connections
        histories = batch.histories()
        known: dict[UUID, Sequence[Fact]] = {aid: facts for aid, facts, _ in histories}
        decoded: list[Decoded] = [
            (0, aid, fact) for aid, facts, first in histories for fact in facts[first - 1 :]
        ]  # the positions are not known yet, and these models do not read them
        changes = projector.changes(decoded, known)
        models = [m for m in projector.models if not m.uses_positions]
        message: tuple[str, object] = ("rows", list(derive_pending(models, changes)))
        code = 0
    except Exception as e:  # reported to the parent, which projects in-process instead
        message, code = ("failed", f"{type(e).__name__}: {e}"), 1
    with os.fdopen(rows_w, "wb") as out:
        pickle.dump(message, out, protocol=pickle.HIGHEST_PROTOCOL)
    return code

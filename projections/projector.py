"""Keeps the read models up with the log: each event applied exactly once, rows and tracking in one
transaction.

The projector pulls from the log by position (it never relies on notifications alone): on
PostgreSQL a LISTEN connection only wakes it early, and a lost notification costs at most one
poll interval. Positions become visible in order (the ledger's recorder serialises inserts), so
reading up to the head seen at the start of a batch never skips an event.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import nullcontext
from typing import Any
from uuid import UUID

import psycopg
from psycopg.sql import SQL, Identifier

from ledger.application import CustodyLedger
from ledger.bulk import collector_paused
from ledger.domain import CUSTODY_TOPICS, decode_fact
from ledger.errors import StoreUnavailable, UnreadableEvent, first_line
from ledger.fold import Fact
from ledger.history import History
from ledger.oversight import Rules
from ledger.pgbounds import dedicated_connection
from projections import derive, quarantine
from projections.catalogue import MODELS
from projections.db import Db
from projections.findings import (
    SETTINGS,
    FindingsModel,
    evaluate_all,
    rules_changed,
    rules_differ,
)
from projections.models import INTEGER_COLUMNS, Change, Pending, ReadModel, Table
from projections.quarantine import QUARANTINE

log = logging.getLogger(__name__)

ACCOUNT_TOPICS = CUSTODY_TOPICS
TRACKING = Table("rm_tracking", ("name", "position"), (), primary_key=("name",))


ASIDE = "#set-aside"  # not a model's name: the count of quarantined streams, in _tracked
BULK_EVENTS = 500  # a projector batch this large pauses the cyclic garbage collector

Decoded = tuple[int, UUID, Fact]
"""A custody event read from the log: (position, account id, fact)."""


def lock_positions(db: Db, curs: Any, names: Sequence[str]) -> None:
    """Take the write lock of these models' tracking rows, in one statement. PostgreSQL locks
    the rows in name order, so projectors and rebuilds never wait for each other in a cycle;
    SQLite's first write locks the whole database."""
    if db.kind == "postgres":
        template, then = "SELECT name FROM {t}", " ORDER BY name FOR UPDATE"
    else:
        template, then = "UPDATE {t} SET position = position", ""
    lock, params = db.where_in(template, "name", names, then, t=TRACKING.name)
    db.execute(curs, lock, params)


def _chunks(decoded: list[Decoded], size: int) -> Iterator[list[Decoded]]:
    """`decoded` in chunks of `size`, ending with a short one (empty if `size` divides it), as
    the log gives them."""
    for begin in range(0, len(decoded) + 1, size):
        yield decoded[begin : begin + size]


def derive_pending(
    models: Sequence[ReadModel], changes: Sequence[Change], tracked: dict[str, int] | None = None
) -> Iterator[tuple[str, Pending]]:
    """What each model will write for `changes` (events in log order), model by model: a model
    gets the changes after its own tracked position (all of them without `tracked`), account
    by account."""
    by_account: dict[UUID, list[Change]] = {}
    for change in changes:
        by_account.setdefault(change.account_id, []).append(change)
    for model in models:
        pending = Pending()
        after = None if tracked is None else tracked[model.name]
        for account_changes in by_account.values():
            mine = (
                account_changes
                if after is None or account_changes[0].position > after  # all (log order)
                else [c for c in account_changes if c.position > after]
            )
            if mine and model.takes(mine[0].fact.kind):
                model.apply(mine, pending)
        yield model.name, pending


class ReadModelsBehind(StoreUnavailable):
    """The read models did not reach the requested log position in time."""

    code = "read-models-behind"


class Projector:
    """Applies custody events from the log to the read models."""

    def __init__(
        self,
        ledger: CustodyLedger,
        models: Sequence[ReadModel] = MODELS,
        *,
        batch_size: int = 2000,
        max_batch: int = 25_000,
        embedded: bool = True,
        create_tables: bool = True,
        cache_accounts: int = 4096,
        cache_events: int = 200_000,
        recent_facts: int = 50_000,
        rules: Rules | None = None,
    ) -> None:
        self.ledger = ledger
        self.db = Db(ledger.recorder)
        # The findings model evaluates under the settings' rules (`rules`; default: the
        # defaults): findings are kept, not computed per query.
        self.models = tuple(
            FindingsModel(rules) if isinstance(m, FindingsModel) and rules is not None else m
            for m in models
        )
        self.batch_size = self.full_batch = batch_size
        self.max_batch = max(max_batch, batch_size)
        self.embedded = embedded  # catch up in the caller's thread when a reader waits
        # Applying in the writers' process: take the facts they just recorded as they are.
        self._recent = ledger.keep_recent_facts(recent_facts) if embedded else None
        self._lock = threading.Lock()
        # Timelines of recently projected accounts (guarded by _lock, like all applying).
        # Bounded by accounts and by the events they hold (a long history is a big timeline).
        self._timelines: dict[UUID, derive.Timeline] = {}
        self._cached_events = 0
        self.cache_accounts = cache_accounts
        self.cache_events = cache_events
        self._tracked_query = self.db.sql(
            f"SELECT name, position FROM {{t}} UNION ALL SELECT '{ASIDE}', COUNT(*) FROM {{q}}",
            t=TRACKING.name,
            q=QUARANTINE.name,
        )
        if create_tables:
            self.setup()

    # -- schema ----------------------------------------------------------------------------------

    def setup(self) -> None:
        """Create the read-model tables and tracking rows if missing (safe to run concurrently)."""
        db = self.db
        with db.transaction() as curs:
            if db.kind == "postgres":
                db.execute(
                    curs,
                    SQL("SELECT pg_advisory_xact_lock(hashtext(%s))"),
                    (db.schema + ".rm_setup",),
                )
            stale: list[str] = []
            tables = (TRACKING, QUARANTINE, SETTINGS, *(t for m in self.models for t in m.tables))
            for table in tables:
                db.execute(curs, table.ddl(db, table.name))
                if _add_missing_columns(db, curs, table) and "row_key" in table.columns:
                    stale.append(table.name)
                for statement in table.index_ddl(db, table.name):
                    db.execute(curs, statement)
            insert = db.sql(
                "INSERT INTO {t} (name, position) VALUES (%s, 0) ON CONFLICT (name) DO NOTHING",
                t=TRACKING.name,
            )
            for model in self.models:
                db.execute(curs, insert, (model.name,))
            # A versioned table that gained columns keys its rows differently now: it is
            # emptied and its model applies the log again from the start.
            for model in self.models:
                if any(t.name in stale for t in model.tables):
                    log.warning("read model %s gained columns: it is built again", model.name)
                    for t in model.tables:
                        db.execute(curs, db.sql("DELETE FROM {t}", t=t.name))
                    reset = db.sql("UPDATE {t} SET position = 0 WHERE name = %s", t=TRACKING.name)
                    db.execute(curs, reset, (model.name,))
        self._setup_findings()

    def _setup_findings(self) -> None:
        """Build the findings again, from the other models' tables, when they were built under
        other rules or never (a store set up before the model existed): one transaction, which
        takes the tracking rows' lock, so only one process builds them."""
        findings = next((m for m in self.models if isinstance(m, FindingsModel)), None)
        if findings is None:
            return
        db = self.db
        names = {t.name: t.name for m in self.models for t in m.tables}
        # Evaluated before the lock is taken (a transaction must not idle while it evaluates);
        # written under it if the models have not moved meanwhile.
        built = (
            evaluate_all(db, names, findings.rules) if rules_differ(db, findings.rules) else None
        )
        with db.transaction() as curs:
            lock_positions(db, curs, [m.name for m in self.models])
            if not rules_changed(db, curs, findings.rules):
                return
            if findings.rebuild_in_place(db, curs, names, built):
                log.warning("read model findings: built again, for the rules in the settings")

    # -- positions -------------------------------------------------------------------------------

    def positions(self) -> dict[str, int]:
        rows = self.db.fetchall(self.db.sql("SELECT name, position FROM {t}", t=TRACKING.name))
        known = dict(rows)
        return {m.name: int(known.get(m.name, 0)) for m in self.models}

    def _tracked(self) -> tuple[dict[str, int], int]:
        """Each model's position, and how many streams are set aside, in one round trip."""
        rows = self.db.fetchall(self._tracked_query)
        known = {str(name): int(position) for name, position in rows}
        aside = known.pop(ASIDE, 0)
        return {m.name: known.get(m.name, 0) for m in self.models}, aside

    def applied(self) -> int:
        """The log position every read model has reached."""
        return min(self.positions().values(), default=0)

    def lag(self) -> int:
        """Log head minus the applied position (events and index records not yet applied)."""
        return max(self.ledger.head() - self.applied(), 0)

    # -- applying --------------------------------------------------------------------------------

    def catch_up(self, *, max_batches: int | None = None, within: float | None = None) -> int:
        """Apply everything up to the current head; return the number of custody events applied.
        `within`: wait at most this many seconds for another applier and for the write lock
        (else as long as the lock timeout); none applied if another applier held on longer."""
        deadline = None if within is None else time.monotonic() + within
        if not self._lock.acquire(timeout=-1 if within is None else max(within, 0)):
            return 0
        total = 0
        batches = 0
        try:
            while max_batches is None or batches < max_batches:
                applied, more = self._process_batch(deadline)
                total += applied
                batches += 1
                if not more:
                    break
        finally:
            self._lock.release()
        return total

    # The smallest batch `narrow` goes down to.
    MIN_BATCH = 16

    def narrow(self) -> None:
        """After a failed round: batches half as large, down to MIN_BATCH. A batch that the
        store's bounds cannot take in one transaction (a statement, or the time computed
        between statements, longer than the timeouts, as on a machine short of CPU) then gets
        through in smaller ones instead of failing the same way forever."""
        with self._lock:
            self.batch_size = max(self.batch_size // 2, min(self.MIN_BATCH, self.full_batch))

    def widen(self) -> None:
        """After a round that went through: back towards the full batch size."""
        with self._lock:
            self.batch_size = min(self.batch_size * 2, self.full_batch)

    def wait_for(self, position: int, timeout: float) -> None:
        """Block until every read model has applied `position` (read-your-writes), for at most
        `timeout` seconds, applying the log itself when embedded (waiting for locks within the
        time left)."""
        deadline = time.monotonic() + timeout
        delay = 0.002
        while self.applied() < position:
            if self.embedded and self.catch_up(within=deadline - time.monotonic()):
                continue  # applied something ourselves; look again
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise ReadModelsBehind(
                    f"the read models have not reached log position {position} within "
                    f"{timeout:g}s; is the `custody project` worker running?"
                )
            time.sleep(min(delay, remaining))
            delay = min(delay * 2, 0.1)

    def _process_batch(self, deadline: float | None = None) -> tuple[int, bool]:
        tracked, aside = self._tracked()
        start = min(tracked.values())
        head = self.ledger.head()
        if start >= head:
            if self._recent is not None:
                self._recent.forget_upto(start)  # applied by another projector first
            return 0, False
        found: list[UnreadableEvent] = []
        decoded, more, upto = self._read(start, head, found)
        # A large batch (a backfill, a worker catching up) pauses the cyclic collector while
        # it works (ledger.bulk); the small batches of a serving process do not, so requests'
        # cyclic garbage in the same process is still collected under steady load.
        bulk = collector_paused() if len(decoded) >= BULK_EVENTS else nullcontext()
        with bulk:
            return self._apply_batch(tracked, upto, decoded, more, found, aside, deadline)

    def _apply_batch(
        self,
        tracked: dict[str, int],
        upto: int,
        decoded: list[Decoded],
        more: bool,
        found: list[UnreadableEvent],
        quarantined: int = 0,
        deadline: float | None = None,
    ) -> tuple[int, bool]:
        # A stream with an event that cannot be decoded is set aside, whole, from that event
        # on: its later events are not applied (they would build on a gap), the others are.
        # stream -> the first log position not applied (its events before it are)
        known = quarantine.load(self.db) if quarantined else {}
        aside = {s: e.position or 0 for s, e in known.items()}
        for e in found:
            aside[_stream(e)] = min(aside.get(_stream(e), e.position or 0), e.position or 0)
        lent = self._recent.lent if self._recent is not None else None
        while True:
            kept = [d for d in decoded if d[0] < aside.get(d[1], d[0] + 1)]
            try:
                changes = self.changes(kept, lent=lent)
                break
            except UnreadableEvent as e:  # met reading an account's history back
                found.append(e)
                aside[_stream(e)] = 0
        if found:
            log.warning("projector: set aside %s", "; ".join(e.detail for e in found))
        # Derived before the transaction: the write lock is held only to write.
        pending = list(derive_pending(self.models, changes, tracked))
        # Recorded as the models pass them (one past `upto` is met again by the next batch).
        passed = [e for e in found if e.position is None or e.position <= upto]
        if not self.write(tracked, upto, pending, passed, deadline=deadline):
            return 0, True  # another projector or a rebuild moved on; read again
        return len(changes), more

    def write(
        self,
        tracked: dict[str, int],
        upto: int,
        pending: Iterable[tuple[str, Pending]],
        unreadable: Iterable[UnreadableEvent] = (),
        *,
        deadline: float | None = None,
    ) -> bool:
        """Write what `derive_pending` gathered, one model after another as `pending` yields
        them, set aside the streams of `unreadable` events, and move every model to `upto`, in
        one transaction, if the models are still at `tracked` (else write nothing: False).
        Rows for every model, once each, or nothing (ValueError). With a `deadline`
        (time.monotonic()), the locks are waited for until then at most."""
        db = self.db
        names = {t.name: t.name for m in self.models for t in m.tables}
        by_name = {m.name: m for m in self.models}
        lock_wait = None if deadline is None else deadline - time.monotonic()
        with db.transaction(lock_wait=lock_wait) as curs:
            # Take the tracking rows' write lock first, then confirm nobody moved them.
            lock_positions(db, curs, list(by_name))
            db.execute(curs, db.sql("SELECT name, position FROM {t}", t=TRACKING.name))
            now = {name: int(pos) for name, pos in curs.fetchall()}
            if any(now.get(m.name) != tracked[m.name] for m in self.models):
                return False
            written: list[str] = []
            for name, rows in pending:
                model = by_name.get(name)
                if model is None or name in written:
                    raise ValueError(f"rows for {name!r} again, or for no read model")
                model.flush(db, curs, names, rows)
                written.append(name)
            if len(written) != len(by_name):
                raise ValueError(f"rows for {sorted(written)} only, not for every read model")
            quarantine.record(db, curs, unreadable)
            reached: dict[int, list[str]] = {}  # usually one position for every model
            for model in self.models:
                reached.setdefault(max(upto, tracked[model.name]), []).append(model.name)
            for position, names_at in reached.items():
                update, params = db.where_in(
                    "UPDATE {t} SET position = %s", "name", names_at, t=TRACKING.name
                )
                db.execute(curs, update, (position, *params))
        if self._recent is not None:
            self._recent.forget_upto(upto)
        return True

    def _read(
        self, start: int, head: int, found: list[UnreadableEvent]
    ) -> tuple[list[Decoded], bool, int]:
        """The next batch of custody events after `start`, decoded, whether more follow, and
        the log position the batch reaches. An event that cannot be decoded is added to
        `found` and left out (its position is still passed).

        A batch does not end inside a run of events recorded at one time (a `ledger.batch()`,
        such as an import, is one contiguous run): the models treat such a run as one step of
        knowledge. A run longer than a batch is read whole, up to `max_batch` events (a bound
        on the projector's memory). Where a run is split anyway (a longer run; or two
        transactions sharing a record time because the clock stepped back and `append` kept a
        stream's time from decreasing), the tables store the same answers differently from a
        rebuild: an empty-range row, or a row closed and reopened at the same record time.
        Chunks of `batch_size` events come from memory where this process recorded every
        position up to the head itself, else from the log; the cuts are the same."""
        known = self._recent.span(start, head) if self._recent is not None else None
        chunks = (
            self._from_log(start, head, found)
            if known is None
            else ((c, len(c), c[-1][0] if c else start) for c in _chunks(known, self.batch_size))
        )
        decoded: list[Decoded] = []
        read = 0  # events read, decoded or not
        for chunk, count, reached in chunks:
            decoded += chunk
            read += count
            if count < self.batch_size:
                return decoded, False, head
            if not decoded:  # nothing in it could be decoded: read on, bounded
                if read >= self.max_batch:
                    return decoded, True, reached
                continue
            last = decoded[-1][2].recorded_at
            end = len(decoded)
            while end > 0 and decoded[end - 1][2].recorded_at == last:
                end -= 1
            if end > 0:
                return decoded[:end], True, decoded[end - 1][0]
            if read >= self.max_batch:
                return decoded, True, decoded[-1][0]
        raise AssertionError("unreachable: the last chunk is shorter than a batch")

    def _from_log(
        self, start: int, head: int, found: list[UnreadableEvent]
    ) -> Iterator[tuple[list[Decoded], int, int]]:
        """The custody events after `start` up to `head`, read and decoded `batch_size` at a time
        (with how many were read, and the last position read), until a chunk comes back short
        (the caller stops there). What cannot be decoded goes to `found`."""
        after = start
        while True:
            notes = self.ledger.recorder.select_notifications(
                start=after,
                limit=self.batch_size,
                stop=head,
                topics=ACCOUNT_TOPICS,
                inclusive_of_start=False,
            )
            yield self._decode(notes, found), len(notes), notes[-1].id if notes else after
            if len(notes) < self.batch_size:
                return
            after = notes[-1].id

    def _decode(self, notes: Sequence[Any], found: list[UnreadableEvent]) -> list[Decoded]:
        mapper = self.ledger.mapper
        recent = self._recent
        out = []
        for note in notes:
            known = recent.take(note.id) if recent is not None else None
            if known is not None:
                out.append((note.id, *known))
                continue
            try:
                out.append((note.id, *decode_fact(mapper, note, note.id)))
            except UnreadableEvent as e:
                found.append(e)
        return out

    def changes(
        self,
        decoded: Sequence[Decoded],
        known: Mapping[UUID, Sequence[Fact]] | None = None,
        lent: Callable[[int, UUID, Fact], History | None] | None = None,
    ) -> list[Change]:
        """Pair each event of a batch with the account's timeline before and after it.

        An account's timeline is taken from the cache when it ends just before the batch's first
        event of that account, started empty when the batch begins at its registration, built
        from the account's facts in `known` (its whole stream, held in memory by the caller),
        and otherwise built from the stream read back from the store (one query for all such
        accounts). The log never changes, so a cached timeline stays true; the cache only
        saves reading and folding history again. `lent`: the history, up to an event, that
        whoever recorded it in this process held (`RecentFacts.lent`), taken instead of folding
        the event again.
        """
        mapper = self.ledger.mapper
        first: dict[UUID, int] = {}
        kinds: dict[UUID, str] = {}
        for _, aid, fact in decoded:
            first.setdefault(aid, fact.version)
            kinds.setdefault(aid, fact.kind)
        cache = self._timelines
        timelines: dict[UUID, derive.Timeline] = {}
        missing: dict[UUID, int] = {}
        for aid, version in first.items():
            cached = cache.pop(aid, None)
            if cached is not None:
                self._cached_events -= cached.version
            if cached is not None and cached.version == version - 1:
                timelines[aid] = cached
            elif version == 1:
                timelines[aid] = derive.Timeline(kinds[aid])
            elif known is not None and aid in known:
                timeline = timelines[aid] = derive.Timeline(kinds[aid])
                for fact in known[aid][: version - 1]:
                    timeline.push(fact)
            else:
                missing[aid] = version - 1
        if missing:
            for aid, stored in self.db.streams(missing).items():
                timeline = timelines[aid] = derive.Timeline(kinds[aid])
                for e in stored:
                    timeline.push(decode_fact(mapper, e)[1])
        changes = []
        for position, aid, fact in decoded:
            timeline = timelines[aid]
            before = timeline.segments
            after = timeline.push(fact, lent(position, aid, fact) if lent is not None else None)
            changes.append(
                Change(aid, fact, position, before, after, timeline.key, timeline.splice,
                       timeline.offices, timeline.own)
            )  # fmt: skip
        cache.update(timelines)  # most recently used last
        self._cached_events += sum(t.version for t in timelines.values())
        while cache and (
            len(cache) > self.cache_accounts or self._cached_events > self.cache_events
        ):
            self._cached_events -= cache.pop(next(iter(cache))).version
        return changes


def _add_missing_columns(db: Db, curs: Any, table: Table) -> bool:
    """Add the columns a newer version gave `table` to a store set up before (NULL in the rows
    there); True if it added any."""
    if db.kind == "postgres":
        db.execute(
            curs,
            SQL(
                "SELECT column_name FROM information_schema.columns "
                "WHERE table_schema = COALESCE(NULLIF(%s, ''), current_schema()) "
                "AND table_name = %s"
            ),
            (db.schema, table.name),
        )
        have = {str(r[0]) for r in curs.fetchall()}
    else:
        db.execute(curs, db.sql("SELECT name FROM pragma_table_info(%s)"), (table.name,))
        have = {str(r[0]) for r in curs.fetchall()}
    missing = [c for c in table.columns if c not in have]
    for column in missing:
        kind = "BIGINT" if column in INTEGER_COLUMNS else "TEXT"
        assert column.replace("_", "").isalnum(), column
        db.execute(curs, db.sql(f"ALTER TABLE {{t}} ADD COLUMN {column} {kind}", t=table.name))
    return bool(missing)


def _stream(error: UnreadableEvent) -> UUID:
    return error.stream if isinstance(error.stream, UUID) else UUID(str(error.stream))


class Progress:
    """When the read models last moved, as this process has seen them: read models that stay
    behind the log without moving are stalled (their worker stopped, or failing)."""

    def __init__(self, clock: Any = time.monotonic) -> None:
        self.clock = clock
        self._applied: int | None = None
        self._since = clock()

    def stalled_for(self, applied: int, lag: int) -> float:
        """Seconds the read models have stayed at `applied` while behind; 0 when they are at
        the log head or have moved since the last look."""
        now = self.clock()
        if lag == 0 or applied != self._applied:
            self._applied, self._since = applied, now
            return 0.0
        return float(now - self._since)


class ProjectorThread(threading.Thread):
    """Runs a projector until stopped: LISTEN wake-ups on PostgreSQL, polling always. It never
    dies of a failed round: it says why (`last_error`, `failing_since`), backs off and tries
    again, so `/health` can tell a failing read side from a healthy one."""

    # A store back after an outage is used again within this (a failed round costs one
    # bounded attempt to connect).
    MAX_BACKOFF_SECONDS = 1.0

    def __init__(
        self, projector: Projector, *, poll_seconds: float = 1.0, settle_seconds: float = 0.05
    ) -> None:
        super().__init__(name="custody-projector", daemon=True)
        self.projector = projector
        self.poll_seconds = poll_seconds
        self.settle_seconds = settle_seconds
        self.stopping = threading.Event()
        self.last_error: str | None = None
        self.failing_since: float | None = None  # time.monotonic() of the first failed round

    def stop(self) -> None:
        self.stopping.set()
        self.join(timeout=10)

    def run(self) -> None:
        listener = None
        failures = 0
        while not self.stopping.is_set():
            try:
                self.projector.catch_up()
            except (StoreUnavailable, UnreadableEvent) as e:  # said in full by the ledger
                failures = self._failed(failures, e.detail)
                log.warning("projector: %s", e.detail)
            # The worker's own loop: whatever stops one round (an event it cannot decode, a
            # constraint, a bug) is reported and retried, never the end of the read side.
            except Exception as e:
                failures = self._failed(failures, f"{type(e).__name__}: {first_line(e)}")
                log.exception("projector: a round failed; retrying")
            else:
                failures, self.last_error, self.failing_since = 0, None, None
                self.projector.widen()
            if failures:
                self.projector.narrow()
                backoff = min(self.poll_seconds * 2 ** (failures - 1), self.MAX_BACKOFF_SECONDS)
                self.stopping.wait(backoff)
                continue
            listener = self._wait(listener)
            # Let a burst of writes land before applying them: one batch instead of one per
            # event. Readers never wait for this: they apply what they need themselves.
            self.stopping.wait(self.settle_seconds)
        if listener is not None:
            listener.close()

    def _failed(self, failures: int, why: str) -> int:
        self.last_error = why
        if self.failing_since is None:
            self.failing_since = time.monotonic()
        return failures + 1

    def _wait(self, listener: psycopg.Connection[Any] | None) -> psycopg.Connection[Any] | None:
        db = self.projector.db
        if db.kind != "postgres":
            self.stopping.wait(self.poll_seconds)
            return None
        try:
            if listener is None or listener.closed:
                listener = self._listen(db)
            for _ in listener.notifies(timeout=self.poll_seconds, stop_after=1):
                pass
        except psycopg.Error as e:
            # Fall back to polling; reconnect on the next round.
            log.warning("projector: LISTEN failed (%s); polling", e)
            if listener is not None:
                listener.close()
            self.stopping.wait(self.poll_seconds)
            return None
        return listener

    def _listen(self, db: Db) -> psycopg.Connection[Any]:
        conn = dedicated_connection(db.datastore, autocommit=True)  # bounded as the pool's
        channel = self.projector.ledger.recorder.channel_name  # type: ignore[attr-defined]
        conn.execute(SQL("LISTEN {}").format(Identifier(channel)))
        return conn

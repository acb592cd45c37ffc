"""The composition root: builds the ledger, the read models, the query service and access
control from one Settings object. The HTTP app and the command line both start here; tests
swap parts by passing their own settings or clock."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from uuid import UUID

from eventsourcing.persistence import InterfaceError, OperationalError, ProgrammingError

from api.demo import DEMO_FILE
from ledger.access import AccessControl
from ledger.application import Clock, CustodyLedger, utc_now
from ledger.backfill import custody_events, holds_custody_events, import_file, read_lines
from ledger.commands import require_utc
from ledger.domain import office_id
from ledger.errors import InvalidInput, StoreUnavailable, first_line
from ledger.oversight import Rules
from ledger.settings import InvalidSettings, Settings
from ledger.tlog.keyfile import read_key
from projections.bulk import catch_up_bulk
from projections.dossier import DossierService
from projections.projector import Projector, ProjectorThread
from projections.queries import QueryService
from projections.tlog.integrate import Checkpointer, Integrator, LogThread
from projections.tlog.service import LogService
from projections.tlog.store import LogStore
from projections.tlog.witnesses import Witness


@dataclass
class Container:
    settings: Settings
    ledger: CustodyLedger
    projector: Projector
    queries: QueryService
    access: AccessControl
    log: LogStore | None = None  # the verifiable log, unless turned off
    integrator: Integrator | None = None
    checkpointer: Checkpointer | None = None  # with a signing key
    log_service: LogService | None = None
    worker: ProjectorThread | None = field(default=None)
    log_worker: LogThread | None = field(default=None)

    @property
    def dossiers(self) -> DossierService:
        """Dossiers from this container's read models and verifiable log."""
        return DossierService(self.queries, self.log_service)

    def catch_up_import(self) -> int:
        """Bring the read models up to date after an import: `projections.bulk`, which keeps
        PostgreSQL's statistics up with the tables a large import grows."""
        return catch_up_bulk(self.projector)

    def start_worker(self) -> None:
        """Follow the log in background threads: the read models, and the verifiable log's
        integration and checkpoints (single-node setups and the embedded store)."""
        if self.worker is None:
            self.worker = ProjectorThread(self.projector)
            self.worker.start()
        if self.log_worker is None and self.integrator is not None:
            self.log_worker = LogThread(self.integrator, self.checkpointer)
            self.log_worker.start()

    def close(self) -> None:
        for worker in (self.worker, self.log_worker):
            if worker is not None:
                worker.stop()
        self.worker = self.log_worker = None
        self.ledger.close()


def build(settings: Settings | None = None, *, clock: Clock = utc_now) -> Container:
    """The container; StoreUnavailable (naming the store, never its password) if the store
    cannot be opened: unreachable, a missing folder or schema, a file that is not a database."""
    settings = settings or Settings()
    store = settings.store()
    # sqlite3.DatabaseError: the library lets "file is not a database" through unwrapped.
    try:
        ledger = CustodyLedger(store.env, clock=clock, max_event_bytes=settings.max_event_bytes)
    except (OperationalError, InterfaceError, ProgrammingError, sqlite3.DatabaseError) as e:
        raise StoreUnavailable(f"cannot open {store.description}: {first_line(e)}") from None
    # Embedded: a reader that finds the read models behind applies the log itself, in-process.
    # Otherwise (PostgreSQL with a separate `custody project` worker) it waits, bounded.
    embedded = store.kind == "sqlite" or settings.embedded_projections
    rules = Rules(
        audience_window=timedelta(days=settings.audience_window_days),
        holder_grace=timedelta(days=settings.holder_grace_days),
    )
    try:
        projector = Projector(ledger, embedded=embedded, rules=rules)
    except BaseException:
        ledger.close()
        raise
    queries = QueryService(
        projector,
        wait_seconds=settings.read_wait_seconds,
        rules=rules,
    )
    container = Container(settings, ledger, projector, queries, AccessControl(ledger))
    if settings.log_enabled:
        try:
            _with_log(container)
        except BaseException:
            ledger.close()
            raise
    return container


def _with_log(container: Container) -> None:
    """The verifiable log's tables, integrator and (with a key file) checkpointer."""
    settings = container.settings
    container.log = LogStore(container.projector.db)
    container.log.setup()
    container.integrator = Integrator(container.ledger, container.log)
    container.log_service = LogService(
        container.log, container.ledger.head, settings.log_witness_quorum
    )
    if settings.log_witness_quorum > len(settings.log_witnesses):
        raise InvalidSettings(
            f"CUSTODY_LOG_WITNESS_QUORUM is {settings.log_witness_quorum}, but "
            f"{len(settings.log_witnesses)} witness(es) are configured"
        )
    if not settings.log_key_file.exists():
        return
    signer = read_key(settings.log_key_file)
    if signer.name != settings.log_origin:
        raise InvalidSettings(
            f"the key in {settings.log_key_file} is named {signer.name!r}, but "
            f"CUSTODY_LOG_ORIGIN is {settings.log_origin!r}: a checkpoint's key is named "
            "after its origin"
        )
    try:
        witnesses = [Witness.parse(spec) for spec in settings.log_witnesses]
    except ValueError as e:
        raise InvalidSettings(f"CUSTODY_LOG_WITNESSES: {e}") from None
    container.checkpointer = Checkpointer(container.log, signer, witnesses)


class DemoRefused(InvalidInput):
    """`--demo` on a store that holds custody data other than the demo; nothing was written."""

    code = "demo-refused"


def load_demo(container: Container) -> str:
    """Load the demo (keeping its record times) into a store without custody events (tokens
    may be there); on a store that holds exactly the demo, do nothing. Any other custody data
    raises DemoRefused: the demo would be mixed into a real record."""
    ledger = container.ledger
    if not holds_custody_events(ledger):
        report = import_file(
            ledger, DEMO_FILE, actor="demo", restore=True, catch_up=container.catch_up_import
        )
        loaded = (
            f"loaded {report.written} demo events for {len(report.accounts)} accounts and "
            f"{len(report.offices)} offices"
        )
        if report.behind is not None:
            return f"{loaded}; the read models are behind ({report.behind}) and catch up later"
        return loaded
    if _holds_just_the_demo(ledger):
        return "the store holds the demo already"
    where = container.settings.store().description
    raise DemoRefused(
        f"--demo: {where} holds custody data other than the demo; to see the demo, point "
        "--database-url (or CUSTODY_DATABASE_URL) at a new store, e.g. sqlite:///demo.db"
    )


def _holds_just_the_demo(ledger: CustodyLedger) -> bool:
    """Whether the log's custody events are the demo's, account by account (type, times),
    and nothing else. Reads the log lazily: the first event that differs ends the look, so a
    real store is told apart from the demo after a page of its log."""
    expected: dict[UUID, list[tuple[str, datetime, datetime]]] = {}
    for _, line in read_lines(DEMO_FILE):
        assert isinstance(line, dict), "the demo file is valid JSON Lines"
        key = UUID(line["account_id"]) if "account_id" in line else office_id(line["office"])
        expected.setdefault(key, []).append(
            (
                line["type"],
                require_utc(line["effective_at"], "effective_at"),
                require_utc(line["recorded_at"], "recorded_at"),
            )
        )
    seen: dict[UUID, int] = {}
    for _, account_id, fact in custody_events(ledger):
        stream = expected.get(account_id, [])
        n = seen.get(account_id, 0)
        if fact.version != n + 1 or n >= len(stream):
            return False
        if stream[n] != (fact.type, fact.effective_at, fact.recorded_at):
            return False
        seen[account_id] = n + 1
    return seen == {account_id: len(stream) for account_id, stream in expected.items()}

"""The composition root: builds the ledger, the read models, the query service and access
control from one Settings object. The HTTP app and the command line both start here; tests
swap parts by passing their own settings or clock."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass, field

from eventsourcing.persistence import InterfaceError, OperationalError, ProgrammingError

from ledger.access import AccessControl
from ledger.application import Clock, CustodyLedger, utc_now
from ledger.errors import StoreUnavailable, first_line
from ledger.settings import Settings
from projections.projector import Projector, ProjectorThread
from projections.queries import QueryService


@dataclass
class Container:
    settings: Settings
    ledger: CustodyLedger
    projector: Projector
    queries: QueryService
    access: AccessControl
    worker: ProjectorThread | None = field(default=None)

    @property
    def store_kind(self) -> str:
        return self.projector.db.kind

    def start_worker(self) -> None:
        """Follow the log in a background thread (single-node setups and the embedded store)."""
        if self.worker is None:
            self.worker = ProjectorThread(self.projector)
            self.worker.start()

    def close(self) -> None:
        if self.worker is not None:
            self.worker.stop()
            self.worker = None
        self.ledger.close()


def build(settings: Settings | None = None, *, clock: Clock = utc_now) -> Container:
    """The container; StoreUnavailable (naming the store, never its password) if the store
    cannot be opened: unreachable, a missing folder or schema, a file that is not a database."""
    settings = settings or Settings()
    store = settings.store()
    # sqlite3.DatabaseError: the library lets "file is not a database" through unwrapped.
    try:
        ledger = CustodyLedger(store.env, clock=clock)
    except (OperationalError, InterfaceError, ProgrammingError, sqlite3.DatabaseError) as e:
        raise StoreUnavailable(f"cannot open {store.description}: {first_line(e)}") from None
    # Embedded: a reader that finds the read models behind applies the log itself, in-process.
    # Otherwise (PostgreSQL with a separate `custody project` worker) it waits, bounded.
    embedded = store.kind == "sqlite" or settings.embedded_projections
    try:
        projector = Projector(ledger, embedded=embedded)
    except BaseException:
        ledger.close()
        raise
    queries = QueryService(projector, wait_seconds=settings.read_wait_seconds)
    return Container(settings, ledger, projector, queries, AccessControl(ledger))

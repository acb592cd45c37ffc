"""Questions answered from the event log model (`rm_events`): an account's records, the global
log, and the provenance every other answer names."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any
from uuid import UUID

import orjson

from ledger import fold
from ledger.domain import office_id
from ledger.errors import AccountNotFound, InvalidInput, OfficeNotFound
from ledger.records import EventRecord
from projections.db import NamedRow
from projections.derive import from_us
from projections.models import EventLog
from projections.queries.common import MAX_PAGE, Reading, select_list
from projections.queries.views import LogPage, Provenance

EVENTS = EventLog.table


class EventLogQueries:
    def __init__(self, reading: Reading) -> None:
        self.reading = reading
        self.db = db = reading.db
        records = "SELECT " + select_list(EVENTS) + " FROM {t} WHERE "
        self._by_account = db.sql(records + "account_id = %s ORDER BY version", t=EVENTS.name)
        self._page = db.sql(records + "position > %s ORDER BY position LIMIT %s", t=EVENTS.name)
        self._version = db.sql(
            "SELECT MAX(version) AS version FROM {t} WHERE account_id = %s", t=EVENTS.name
        )
        self._registered = db.sql(
            "SELECT 1 FROM {t} WHERE account_id = %s AND version = 1 AND type = %s",
            t=EVENTS.name,
        )
        self._provenance = (
            "SELECT "
            + select_list(
                EVENTS, "account_id", "version", "type", "recorded_at", "actor", "position"
            )
            + " FROM {t} WHERE account_id IN ("
        )

    def events(self, account_id: UUID) -> tuple[EventRecord, ...]:
        """The account stream's event records, oldest first."""
        with self.reading.cursor() as c:
            rows = self.db.rows(c, self._by_account, (str(account_id),))
        if not rows or rows[0]["type"] != fold.REGISTERED:  # none, an office's or a dispute's
            raise AccountNotFound(account_id)
        return tuple(event_record(r, account_id) for r in rows)

    def stream_events(self, c: Any, stream: UUID) -> tuple[EventRecord, ...]:
        """Any stream's event records, oldest first (on a cursor of `Reading`)."""
        return tuple(
            event_record(r, stream) for r in self.db.rows(c, self._by_account, (str(stream),))
        )

    def office_events(self, office: str) -> tuple[EventRecord, ...]:
        """The office stream's event records, oldest first."""
        stream = office_id(office)
        with self.reading.cursor() as c:
            rows = self.db.rows(c, self._by_account, (str(stream),))
        if not rows or rows[0]["office"] is None:
            raise OfficeNotFound(office)
        return tuple(event_record(r, stream) for r in rows)

    def log(self, after: int = 0, limit: int = 100) -> LogPage:
        """The global log of custody events in position order, after an exclusive position."""
        if after < 0:
            raise InvalidInput("after must be a position >= 0", field="after")
        if not 1 <= limit <= MAX_PAGE:
            raise InvalidInput(f"limit must be between 1 and {MAX_PAGE}", field="limit")
        with self.reading.cursor() as c:
            rows = self.db.rows(c, self._page, (after, limit))
        records = tuple(event_record(r, UUID(r["account_id"])) for r in rows)
        return LogPage(records, rows[-1]["position"] if rows else after)

    def current_version(self, account_id: UUID) -> int:
        """The stream's version as known now (0 for an unknown account), without reading its
        records; call it after a query that waited for the read models (it does not wait)."""
        with self.db.reader(by_name=True) as c:
            row = self.db.row(c, self._version, (str(account_id),))
        return int(row["version"]) if row and row["version"] is not None else 0

    def require_account(self, c: Any, account_id: UUID) -> None:
        """AccountNotFound unless the account was ever registered."""
        if self.db.row(c, self._registered, (str(account_id), fold.REGISTERED)) is None:
            raise AccountNotFound(account_id)

    def provenance(
        self, c: Any, account_id: UUID, versions: Sequence[int]
    ) -> tuple[Provenance, ...]:
        """The events of one account with these versions, in version order."""
        return self.provenance_many(c, {account_id: versions}).get(account_id, ())

    def provenance_each(
        self, c: Any, answers: Sequence[tuple[UUID, Sequence[int]]]
    ) -> list[tuple[Provenance, ...]]:
        """The provenance of each of several answers, (account, versions), in one round trip."""
        wanted: dict[UUID, list[int]] = {}
        for aid, vs in answers:
            wanted.setdefault(aid, []).extend(vs)
        found = self.provenance_many(c, wanted)
        out = []
        for aid, vs in answers:
            versions = set(vs)
            out.append(tuple(p for p in found.get(aid, ()) if p.version in versions))
        return out

    def provenance_many(
        self, c: Any, versions: Mapping[UUID, Sequence[int]]
    ) -> dict[UUID, tuple[Provenance, ...]]:
        """`provenance` of several accounts in one round trip (an account's rows are few:
        they are filtered here)."""
        wanted = {aid: set(vs) for aid, vs in versions.items() if vs}
        if not wanted:
            return {}
        out: dict[UUID, list[Provenance]] = {aid: [] for aid in wanted}
        marks = ", ".join(["%s"] * len(wanted))
        # Only the versions asked for of any of the accounts (a long stream's other rows stay
        # in the database); the pairs are matched here.
        versions_in = (
            "version = ANY(%s)"
            if self.db.kind == "postgres"
            else "version IN (SELECT value FROM json_each(%s))"
        )
        every = sorted(set().union(*wanted.values()))
        query = self.db.sql(
            self._provenance + marks + ") AND " + versions_in + " ORDER BY account_id, version",
            t=EVENTS.name,
        )
        ids = {str(aid): aid for aid in wanted}  # the rows' ids as sent: no parsing per row
        every_param: Any = every if self.db.kind == "postgres" else orjson.dumps(every).decode()
        for r in self.db.rows(c, query, (*ids, every_param)):
            aid = ids[r["account_id"]]
            if r["version"] in wanted[aid]:
                out[aid].append(
                    Provenance(
                        r["version"],
                        r["type"],
                        from_us(r["recorded_at"]),
                        r["actor"],
                        r["position"],
                    )
                )
        return {aid: tuple(ps) for aid, ps in out.items()}


def event_record(r: NamedRow, account_id: UUID) -> EventRecord:
    """The record a row holds (of `account_id`, known to the caller)."""
    return EventRecord(
        account_id=account_id,
        version=r["version"],
        position=r["position"],
        type=r["type"],
        effective_at=from_us(r["effective_at"]),
        recorded_at=from_us(r["recorded_at"]),
        actor=r["actor"],
        reason=r["reason"],
        evidence=tuple(_loads(r["evidence"])),
        data=_loads(r["data"]),
        retracted_by=r["retracted_by"],
        office=r["office"],
        attributed_to=r["attributed_to"],
    )


def _loads(text: str) -> Any:
    """JSON text as stored; orjson is several times faster, and the standard library reads what
    orjson refuses (an integer beyond 64 bits, which an event may hold)."""
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        return json.loads(text)

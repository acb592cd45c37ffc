"""The query service: what oversight bodies and dispute panels ask, answered from the read models.

Every answer names the events that establish it (version, type, recorded_at, actor, position).
`at` is valid time and `known_at` record time; None means now. Before answering, the service
waits (bounded) until the read models have applied the log head, so a read issued after a write
returned sees that write.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from ledger.commands import handle_key, normalize_handle, require_utc
from ledger.errors import AccountNotFound, HandleNotFound, HolderNotFound, InvalidInput
from projections.derive import from_us, to_us
from projections.projector import Projector

MAX_PAGE = 1000


@dataclass(frozen=True)
class Provenance:
    """One event behind an answer."""

    version: int
    type: str
    recorded_at: datetime
    actor: str
    position: int


@dataclass(frozen=True)
class HolderView:
    id: str
    name: str
    since: datetime | None = None


@dataclass(frozen=True)
class ArchiveView:
    ref: str
    sha256: str | None
    items: int | None
    effective_at: datetime
    version: int


@dataclass(frozen=True)
class IneffectiveView:
    version: int
    type: str
    why: str


@dataclass(frozen=True)
class AccountView:
    account_id: UUID
    platform: str
    platform_account_id: str | None
    handle: str
    office: str
    status: str
    holder: HolderView | None
    archives: tuple[ArchiveView, ...]
    registered_at: datetime
    version: int
    at: datetime
    known_at: datetime | None
    established_by: tuple[Provenance, ...]
    ineffective: tuple[IneffectiveView, ...]


@dataclass(frozen=True)
class CustodyIntervalView:
    account_id: UUID
    holder: HolderView
    valid_from: datetime
    valid_to: datetime | None
    handles: tuple[str, ...]
    offices: tuple[str, ...]
    established_by: tuple[Provenance, ...]


@dataclass(frozen=True)
class CustodyTimeline:
    account_id: UUID
    known_at: datetime | None
    intervals: tuple[CustodyIntervalView, ...]


@dataclass(frozen=True)
class HandleAnswer:
    platform: str
    handle: str
    at: datetime
    known_at: datetime | None
    account: AccountView | None
    established_by: tuple[Provenance, ...]


@dataclass(frozen=True)
class HandleIntervalView:
    account_id: UUID
    handle: str
    valid_from: datetime
    valid_to: datetime | None
    established_by: tuple[Provenance, ...]


@dataclass(frozen=True)
class HolderPortfolio:
    holder_id: str
    known_at: datetime | None
    intervals: tuple[CustodyIntervalView, ...]


@dataclass(frozen=True)
class AccountSummary:
    account_id: UUID
    platform: str
    handle: str
    office: str
    status: str
    holder: HolderView | None


@dataclass(frozen=True)
class AccountPage:
    accounts: tuple[AccountSummary, ...]
    next_cursor: str | None


@dataclass(frozen=True)
class EventRecordView:
    account_id: UUID
    version: int
    position: int
    type: str
    effective_at: datetime
    recorded_at: datetime
    actor: str
    reason: str
    evidence: tuple[dict[str, Any], ...]
    data: dict[str, Any]
    retracted_by: int | None


@dataclass(frozen=True)
class LogPage:
    events: tuple[EventRecordView, ...]
    next_after: int


def _known(known_at: datetime | None) -> tuple[str, tuple[Any, ...]]:
    """SQL condition and parameters for 'believed as known at known_at' (None: now)."""
    if known_at is None:
        return "known_to IS NULL", ()
    k = to_us(known_at)
    return "known_from <= %s AND (known_to IS NULL OR known_to > %s)", (k, k)


def _valid(at: datetime) -> tuple[str, tuple[Any, ...]]:
    a = to_us(at)
    return "valid_from <= %s AND (valid_to IS NULL OR valid_to > %s)", (a, a)


def _opt_time(value: int | None) -> datetime | None:
    return None if value is None else from_us(value)


class QueryService:
    """Read-only answers from the read models; the API calls this and nothing lower."""

    def __init__(self, projector: Projector, *, wait_seconds: float = 5.0) -> None:
        self.projector = projector
        self.db = projector.db
        self.wait_seconds = wait_seconds
        # Every read asks whether the models are behind: the log head and the least position
        # of this version's models only (a store may keep the tracking row of a model it no
        # longer has, `holders` before 2026-12-03, which nothing moves any more).
        db = self.db
        self._models = [m.name for m in projector.models]
        self._behind_query = db.sql(
            f"SELECT (SELECT MAX({db.position_column}) FROM {{log}}), "
            "(SELECT MIN(position) FROM {tracking} WHERE name IN ("
            + ", ".join(["%s"] * len(self._models))
            + "))",
            log=db.events_table,
            tracking="rm_tracking",
        )

    # -- consistency -----------------------------------------------------------------------------

    @contextmanager
    def _reader(self) -> Iterator[Any]:
        """A cursor on read models that have applied the log head: the check and the reads share
        one connection; only when the models are behind is it given back while they catch up."""
        with self.db.reader() as c:
            behind = self._behind(c)
            if behind is None:
                yield c
                return
        self.projector.wait_for(behind, self.wait_seconds)
        with self.db.reader() as c:
            yield c

    def _behind(self, c: Any) -> int | None:
        """The log head, if the read models have not applied it yet; else None."""
        row = self.db.one(c, self._behind_query, self._models)
        head, applied = row or (0, 0)
        return head if (applied or 0) < (head or 0) else None

    # -- questions -------------------------------------------------------------------------------

    def account_at(
        self, account_id: UUID, at: datetime | None = None, known_at: datetime | None = None
    ) -> AccountView | None:
        """The account's state at `at` as known at `known_at`; None if it did not exist then."""
        at, known_at = self._times(at, known_at)
        with self._reader() as c:
            view = self._state(c, account_id, at, known_at)
            if view is None:
                self._require_account(c, account_id)
            return view

    def custody_timeline(
        self, account_id: UUID, known_at: datetime | None = None
    ) -> CustodyTimeline:
        _, known_at = self._times(None, known_at)
        cond, params = _known(known_at)
        with self._reader() as c:
            rows = self.db.all(
                c,
                self.db.sql(
                    "SELECT account_id, holder_id, holder_name, valid_from, valid_to, handles, "
                    "offices, established_by FROM {t} WHERE account_id = %s AND "
                    + cond
                    + " ORDER BY valid_from",
                    t="rm_custody",
                ),
                (str(account_id), *params),
            )
            if not rows:
                self._require_account(c, account_id)
            return CustodyTimeline(account_id, known_at, tuple(self._intervals(c, rows)))

    def handle_at(
        self,
        platform: str,
        handle: str,
        at: datetime | None = None,
        known_at: datetime | None = None,
    ) -> HandleAnswer:
        """The account that carried the handle at `at` as known at `known_at` (None if none did)."""
        key = self._handle_key(handle)
        at, known_at = self._times(at, known_at)
        kc, kp = _known(known_at)
        vc, vp = _valid(at)
        with self._reader() as c:
            row = self.db.one(
                c,
                self.db.sql(
                    "SELECT account_id, handle, established_by FROM {t} WHERE platform = %s AND "
                    "handle_key = %s AND " + vc + " AND " + kc,
                    t="rm_handles",
                ),
                (platform, key, *vp, *kp),
            )
            if row is None:
                exists = self.db.one(
                    c,
                    self.db.sql(
                        "SELECT 1 FROM {t} WHERE platform = %s AND handle_key = %s LIMIT 1",
                        t="rm_handles",
                    ),
                    (platform, key),
                )
                if exists is None:
                    raise HandleNotFound(platform, normalize_handle(handle))
                return HandleAnswer(platform, normalize_handle(handle), at, known_at, None, ())
            account_id = UUID(row[0])
            account = self._state(c, account_id, at, known_at)
            provenance = self._provenance(c, account_id, json.loads(row[2]))
            return HandleAnswer(platform, row[1], at, known_at, account, provenance)

    def handle_history(
        self, platform: str, handle: str, known_at: datetime | None = None
    ) -> tuple[HandleIntervalView, ...]:
        """Every account that carried the handle and when, as known at `known_at`."""
        key = self._handle_key(handle)
        _, known_at = self._times(None, known_at)
        kc, kp = _known(known_at)
        with self._reader() as c:
            rows = self.db.all(
                c,
                self.db.sql(
                    "SELECT account_id, handle, valid_from, valid_to, established_by FROM {t} "
                    "WHERE platform = %s AND handle_key = %s AND " + kc + " ORDER BY valid_from",
                    t="rm_handles",
                ),
                (platform, key, *kp),
            )
            return tuple(
                HandleIntervalView(
                    UUID(r[0]),
                    r[1],
                    from_us(r[2]),
                    _opt_time(r[3]),
                    self._provenance(c, UUID(r[0]), json.loads(r[4])),
                )
                for r in rows
            )

    def holder_custody(self, holder_id: str, known_at: datetime | None = None) -> HolderPortfolio:
        """Every account the holder held, and when, as known at `known_at`."""
        _, known_at = self._times(None, known_at)
        cond, params = _known(known_at)
        with self._reader() as c:
            rows = self.db.all(
                c,
                self.db.sql(
                    "SELECT account_id, holder_id, holder_name, valid_from, valid_to, handles, "
                    "offices, established_by FROM {t} WHERE holder_id = %s AND "
                    + cond
                    + " ORDER BY valid_from, account_id",
                    t="rm_custody",
                ),
                (holder_id, *params),
            )
            if not rows:
                exists = self.db.one(
                    c,
                    self.db.sql("SELECT 1 FROM {t} WHERE holder_id = %s LIMIT 1", t="rm_custody"),
                    (holder_id,),
                )
                if exists is None:
                    raise HolderNotFound(holder_id)
            return HolderPortfolio(holder_id, known_at, tuple(self._intervals(c, rows)))

    def accounts(
        self,
        *,
        office: str | None = None,
        platform: str | None = None,
        status: str | None = None,
        at: datetime | None = None,
        known_at: datetime | None = None,
        limit: int = 50,
        cursor: str | None = None,
    ) -> AccountPage:
        """Accounts matching the filters at `at` as known at `known_at`, by account id, paginated."""
        if not 1 <= limit <= MAX_PAGE:
            raise InvalidInput(f"limit must be between 1 and {MAX_PAGE}", field="limit")
        if status not in (None, "active", "closed"):
            raise InvalidInput("status must be 'active' or 'closed'", field="status")
        if cursor is not None:
            try:
                cursor = str(UUID(cursor))
            except ValueError:
                raise InvalidInput(
                    "cursor is not one this service returned", field="cursor"
                ) from None
        at, known_at = self._times(at, known_at)
        conds, params = [], []
        for column, value in (("office", office), ("platform", platform), ("status", status)):
            if value is not None:
                conds.append(f"{column} = %s")
                params.append(value)
        if cursor is not None:
            conds.append("account_id > %s")
            params.append(cursor)
        vc, vp = _valid(at)
        kc, kp = _known(known_at)
        with self._reader() as c:
            rows = self.db.all(
                c,
                self.db.sql(
                    "SELECT account_id, platform, handle, office, status, holder_id, "
                    "holder_name, holder_since FROM {t} WHERE "
                    + " AND ".join([*conds, vc, kc])
                    + " ORDER BY account_id LIMIT %s",
                    t="rm_segments",
                ),
                (*params, *vp, *kp, limit + 1),
            )
        page = [
            AccountSummary(
                UUID(r[0]),
                r[1],
                r[2],
                r[3],
                r[4],
                HolderView(r[5], r[6], _opt_time(r[7])) if r[5] is not None else None,
            )
            for r in rows[:limit]
        ]
        return AccountPage(tuple(page), str(page[-1].account_id) if len(rows) > limit else None)

    def events(self, account_id: UUID) -> tuple[EventRecordView, ...]:
        """The stream's event records, oldest first."""
        with self._reader() as c:
            rows = self.db.all(
                c,
                self.db.sql(
                    _EVENT_COLUMNS + " FROM {t} WHERE account_id = %s ORDER BY version",
                    t="rm_events",
                ),
                (str(account_id),),
            )
        if not rows:
            raise AccountNotFound(account_id)
        return tuple(_event(r) for r in rows)

    def current_version(self, account_id: UUID) -> int:
        """The stream's version as known now (0 for an unknown account), without reading its
        records; call it after a query that waited for the read models (it does not wait)."""
        row = self.db.fetchone(
            self.db.sql("SELECT MAX(version) FROM {t} WHERE account_id = %s", t="rm_events"),
            (str(account_id),),
        )
        return int(row[0]) if row and row[0] is not None else 0

    def log(self, after: int = 0, limit: int = 100) -> LogPage:
        """The global log of custody events in position order, after an exclusive position."""
        if after < 0:
            raise InvalidInput("after must be a position >= 0", field="after")
        if not 1 <= limit <= MAX_PAGE:
            raise InvalidInput(f"limit must be between 1 and {MAX_PAGE}", field="limit")
        with self._reader() as c:
            rows = self.db.all(
                c,
                self.db.sql(
                    _EVENT_COLUMNS + " FROM {t} WHERE position > %s ORDER BY position LIMIT %s",
                    t="rm_events",
                ),
                (after, limit),
            )
        events = tuple(_event(r) for r in rows)
        return LogPage(events, events[-1].position if events else after)

    def health(self) -> dict[str, Any]:
        head = self.projector.ledger.head()
        positions = self.projector.positions()
        return {
            "store": self.db.kind,
            "log_head": head,
            "read_models": positions,
            "lag": max(head - min(positions.values(), default=0), 0),
        }

    # -- helpers ---------------------------------------------------------------------------------

    @staticmethod
    def _times(at: Any, known_at: Any) -> tuple[datetime, datetime | None]:
        at_ = datetime.now(UTC) if at is None else require_utc(at, "at")
        known = None if known_at is None else require_utc(known_at, "known_at")
        return at_, known

    @staticmethod
    def _handle_key(handle: str) -> str:
        try:
            return handle_key(handle)
        except ValueError as e:
            raise InvalidInput(f"handle: {e}", field="handle") from None

    def _require_account(self, c: Any, account_id: UUID) -> None:
        row = self.db.one(
            c,
            self.db.sql("SELECT 1 FROM {t} WHERE account_id = %s AND version = 1", t="rm_events"),
            (str(account_id),),
        )
        if row is None:
            raise AccountNotFound(account_id)

    def _state(
        self, c: Any, account_id: UUID, at: datetime, known_at: datetime | None
    ) -> AccountView | None:
        vc, vp = _valid(at)
        kc, kp = _known(known_at)
        version_filter = "" if known_at is None else " AND e.recorded_at <= %s"
        version_param: tuple[Any, ...] = () if known_at is None else (to_us(known_at),)
        aid = str(account_id)
        row = self.db.one(
            c,
            self.db.sql(
                "SELECT platform, platform_account_id, handle, office, status, holder_id, "
                "holder_name, holder_since, archives, established_by, ineffective, registered_at, "
                "(SELECT MAX(e.version) FROM {events} e WHERE e.account_id = %s"
                + version_filter
                + ") FROM {t} WHERE account_id = %s AND "
                + vc
                + " AND "
                + kc,
                t="rm_segments",
                events="rm_events",
            ),
            (aid, *version_param, aid, *vp, *kp),
        )
        if row is None:
            return None
        return AccountView(
            account_id=account_id,
            platform=row[0],
            platform_account_id=row[1],
            handle=row[2],
            office=row[3],
            status=row[4],
            holder=HolderView(row[5], row[6], _opt_time(row[7])) if row[5] is not None else None,
            archives=tuple(
                ArchiveView(
                    a["ref"], a["sha256"], a["items"], from_us(a["effective_at"]), a["version"]
                )
                for a in json.loads(row[8])
            ),
            registered_at=from_us(row[11]),
            version=int(row[12]) if row[12] is not None else 0,
            at=at,
            known_at=known_at,
            established_by=self._provenance(c, account_id, json.loads(row[9])),
            ineffective=tuple(
                IneffectiveView(i["version"], i["type"], i["why"]) for i in json.loads(row[10])
            ),
        )

    def _provenance(
        self, c: Any, account_id: UUID, versions: Sequence[int]
    ) -> tuple[Provenance, ...]:
        return self._provenance_many(c, {account_id: versions}).get(account_id, ())

    def _provenance_many(
        self, c: Any, versions: Mapping[UUID, Sequence[int]]
    ) -> dict[UUID, tuple[Provenance, ...]]:
        wanted = {aid: set(vs) for aid, vs in versions.items() if vs}
        out: dict[UUID, list[Provenance]] = {aid: [] for aid in wanted}
        if not wanted:
            return {}
        # One round trip for all accounts: an account's event rows are few, filter here.
        marks = ", ".join(["%s"] * len(wanted))
        rows = self.db.all(
            c,
            self.db.sql(
                "SELECT account_id, version, type, recorded_at, actor, position FROM {t} "
                "WHERE account_id IN (" + marks + ") ORDER BY account_id, version",
                t="rm_events",
            ),
            tuple(str(aid) for aid in wanted),
        )
        for r in rows:
            aid = UUID(r[0])
            if r[1] in wanted[aid]:
                out[aid].append(Provenance(r[1], r[2], from_us(r[3]), r[4], r[5]))
        return {aid: tuple(ps) for aid, ps in out.items()}

    def _intervals(self, c: Any, rows: Iterable[tuple[Any, ...]]) -> list[CustodyIntervalView]:
        rows = list(rows)
        wanted: dict[UUID, list[int]] = {}
        for r in rows:
            wanted.setdefault(UUID(r[0]), []).extend(json.loads(r[7]))
        provenance = self._provenance_many(c, wanted)
        out = []
        for r in rows:
            aid = UUID(r[0])
            versions = set(json.loads(r[7]))
            out.append(
                CustodyIntervalView(
                    account_id=aid,
                    holder=HolderView(r[1], r[2], from_us(r[3])),
                    valid_from=from_us(r[3]),
                    valid_to=_opt_time(r[4]),
                    handles=tuple(json.loads(r[5])),
                    offices=tuple(json.loads(r[6])),
                    established_by=tuple(
                        p for p in provenance.get(aid, ()) if p.version in versions
                    ),
                )
            )
        return out


_EVENT_COLUMNS = (
    "SELECT account_id, version, position, type, effective_at, recorded_at, actor, reason, "
    "evidence, data, retracted_by"
)


def _event(r: tuple[Any, ...]) -> EventRecordView:
    return EventRecordView(
        account_id=UUID(r[0]),
        version=r[1],
        position=r[2],
        type=r[3],
        effective_at=from_us(r[4]),
        recorded_at=from_us(r[5]),
        actor=r[6],
        reason=r[7],
        evidence=tuple(json.loads(r[8])),
        data=json.loads(r[9]),
        retracted_by=r[10],
    )

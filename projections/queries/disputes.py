"""Questions about disputes: one dispute and its events (from the event log, folded by
`ledger.dispute_fold`), listings, and the disputes open about an account or an office at a
record time (from the disputes model, `rm_disputes`)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any
from uuid import UUID

from ledger import dispute_fold
from ledger.errors import DisputeNotFound, InvalidInput
from ledger.fold import Fact
from ledger.records import EventRecord
from projections.db import NamedRow
from projections.derive import from_us, to_us
from projections.models import Disputes
from projections.queries.common import MAX_PAGE, Reading, known, select_list
from projections.queries.events import EventLogQueries
from projections.queries.views import DisputeNote, DisputePage, DisputeSummary, DisputeView

DISPUTES = Disputes.table


class DisputeQueries:
    def __init__(self, reading: Reading, events: EventLogQueries) -> None:
        self.reading = reading
        self.db = reading.db
        self.events = events
        self._rows = "SELECT " + select_list(DISPUTES) + " FROM {t} WHERE "

    def dispute(self, dispute_id: UUID, known_at: datetime | None = None) -> DisputeView:
        """The dispute as known at `known_at` (None: now), with its events known then."""
        with self.reading.cursor() as c:
            records = self.events.stream_events(c, dispute_id)
        self.reading.check(dispute_id)  # set aside: its later events may be missing here
        if not records or records[0].type != dispute_fold.OPENED:
            raise DisputeNotFound(dispute_id)
        kept = [r for r in records if known_at is None or r.recorded_at <= known_at]
        state = dispute_fold.dispute([_fact(r) for r in kept])
        if state is None:
            raise DisputeNotFound(dispute_id)  # not yet opened as known then
        return DisputeView(
            dispute_id=dispute_id,
            known_at=known_at,
            subject_account=_uuid(state.subject_account),
            subject_office=state.subject_office,
            window_from=state.window_from,
            window_to=state.window_to,
            claim=state.claim,
            contested=state.contested,
            status=state.status,
            outcome=state.outcome,
            ruling=state.ruling,
            opened_at=state.opened_at,
            opened_by=state.opened_by,
            closed_at=state.closed_at,
            corrections=state.corrections,
            version=state.version,
            events=tuple(kept),
        )

    def disputes(
        self,
        *,
        status: str | None = None,
        account_id: UUID | None = None,
        office: str | None = None,
        after: str | None = None,
        limit: int = 50,
    ) -> DisputePage:
        """Disputes as known now, oldest opened first, filtered; paged by `after` (a page's
        `next_cursor`)."""
        if not 1 <= limit <= MAX_PAGE:
            raise InvalidInput(f"limit must be between 1 and {MAX_PAGE}", field="limit")
        if status is not None and status not in dispute_fold.STATUSES:
            raise InvalidInput(
                f"status must be one of {', '.join(dispute_fold.STATUSES)}", field="status"
            )
        conds: list[str] = ["known_to IS NULL"]
        params: list[Any] = []
        for column, value in (
            ("status", status),
            ("subject_account", None if account_id is None else str(account_id)),
            ("subject_office", office),
        ):
            if value is not None:
                conds.append(f"{column} = %s")
                params.append(value)
        if after is not None:
            opened, did = _cursor(after)
            conds.append("(opened_at > %s OR (opened_at = %s AND dispute_id > %s))")
            params += [opened, opened, did]
        query = self.db.sql(
            self._rows + " AND ".join(conds) + " ORDER BY opened_at, dispute_id LIMIT %s",
            t=DISPUTES.name,
        )
        with self.reading.cursor() as c:
            rows = self.db.rows(c, query, (*params, limit + 1))
        page = [_summary(r) for r in rows[:limit]]
        cursor = None
        if len(rows) > limit:
            last = page[-1]
            cursor = f"{to_us(last.opened_at)}/{last.dispute_id}"
        return DisputePage(tuple(page), cursor)

    def open_about(
        self,
        c: Any,
        *,
        accounts: Sequence[UUID] = (),
        office: str | None = None,
        at: datetime | None = None,
        known_at: datetime | None = None,
    ) -> tuple[DisputeNote, ...]:
        """Disputes open at `known_at` about these accounts (or this office) whose window holds
        the valid time `at` (None: any window), oldest first."""
        subjects = [("subject_account", str(a)) for a in accounts]
        if office is not None:
            subjects.append(("subject_office", office))
        if not subjects:
            return ()
        kc, kp = known(known_at)
        point = "" if at is None else " AND window_from <= %s AND window_to > %s"
        point_params: tuple[Any, ...] = () if at is None else (to_us(at), to_us(at))
        found: dict[str, NamedRow] = {}
        for column, value in subjects:
            query = self.db.sql(
                self._rows + f"{column} = %s AND status = %s" + point + " AND " + kc,
                t=DISPUTES.name,
            )
            for r in self.db.rows(c, query, (value, dispute_fold.OPEN, *point_params, *kp)):
                found[r["dispute_id"]] = r
        rows = sorted(found.values(), key=lambda r: (r["opened_at"], r["dispute_id"]))
        return tuple(
            DisputeNote(
                UUID(r["dispute_id"]),
                from_us(r["window_from"]),
                from_us(r["window_to"]),
                r["claim"],
                from_us(r["opened_at"]),
            )
            for r in rows
        )


def _summary(r: NamedRow) -> DisputeSummary:
    return DisputeSummary(
        dispute_id=UUID(r["dispute_id"]),
        subject_account=_uuid(r["subject_account"]),
        subject_office=r["subject_office"],
        window_from=from_us(r["window_from"]),
        window_to=from_us(r["window_to"]),
        claim=r["claim"],
        status=r["status"],
        outcome=r["outcome"],
        opened_at=from_us(r["opened_at"]),
        opened_by=r["opened_by"],
    )


def _cursor(value: str) -> tuple[int, str]:
    opened, _, did = value.partition("/")
    try:
        when = int(opened)
        if not -(2**63) <= when < 2**63:
            raise ValueError
        return when, str(UUID(did))
    except ValueError:
        raise InvalidInput("cursor is not one this service returned", field="after") from None


def _uuid(value: str | None) -> UUID | None:
    return None if value is None else UUID(value)


def _fact(r: EventRecord) -> Fact:
    return Fact(
        version=r.version,
        type=r.type,
        effective_at=r.effective_at,
        recorded_at=r.recorded_at,
        actor=r.actor,
        reason=r.reason,
        evidence=r.evidence,
        data=r.data,
        kind="dispute",
        attributed_to=r.attributed_to,
    )

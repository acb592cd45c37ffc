"""Questions about offices, answered from the office and account segments (`rm_office_segments`,
`rm_segments`) and the handle history: who held an office, which accounts spoke for it, what
stayed and left at each handover, and the findings. The read side only gathers the histories;
the answers are `ledger.oversight`'s, the same functions the oracle runs."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any
from uuid import UUID

from ledger import oversight
from ledger.changes import Window, clipped
from ledger.commands import JURISDICTION_RE, OFFICE_RE, require_utc, shown
from ledger.domain import office_id
from ledger.errors import InvalidInput, OfficeNotFound
from ledger.oversight import AccountSpan, Finding, Observed, OfficeRecord, Provenance, Rules
from projections.db import NamedRow
from projections.derive import from_us, to_us
from projections.findings import (
    FINDINGS,
    SPAN_COLUMNS,
    finding_from_row,
    office_segment,
    spans_from_rows,
)
from projections.models import EventLog, OfficeSegments, Segments
from projections.queries.common import MAX_PAGE, Reading, known, opt_time, select_list, times, valid
from projections.queries.events import EventLogQueries
from projections.queries.views import (
    AudienceView,
    Cited,
    FindingsPage,
    FindingView,
    Handovers,
    HandoverView,
    HolderView,
    ObservedView,
    OfficeSummary,
    OfficeView,
    OfficeWindow,
    SideView,
    Tenures,
    TenureSpanView,
    TenureView,
)
from projections.queries.views import (
    Provenance as ProvenanceView,
)

OFFICES = OfficeSegments.table
FINDING_COLUMNS = "office, kind, ident, valid_from, valid_to, body"
IDENT_RE = re.compile(r"^[0-9a-f]{32}$")
TIME_RE = re.compile(r"^-?[0-9]{1,19}$")
SEGMENTS = Segments.table
EVENTS = EventLog.table


class OfficeQueries:
    def __init__(self, reading: Reading, events: EventLogQueries, rules: Rules) -> None:
        self.reading = reading
        self.db = reading.db
        self.events = events
        self.rules = rules
        kc = "{k}"
        self._office = (
            "SELECT " + select_list(OFFICES) + " FROM {t} WHERE office = %s AND " + kc
            + " ORDER BY valid_from"
        )  # fmt: skip
        spans = "SELECT " + select_list(SEGMENTS, *SPAN_COLUMNS) + " FROM {t} WHERE "
        among, end = self.db.among()
        self._speakers = (
            spans + among + "SELECT account_id FROM {t} WHERE office = %s AND " + kc + end
            + " AND " + kc + " ORDER BY account_id, valid_from"
        )  # fmt: skip
        # The office answer needs each account's span at `at` only (an account with daily
        # audience observations has a span a day).
        self._speakers_at = self._speakers.replace(
            " ORDER BY", " AND valid_from <= %s AND (valid_to IS NULL OR valid_to > %s) ORDER BY"
        )
        self._cited = (
            "SELECT " + select_list(EVENTS, "account_id", "version", "type", "recorded_at",
                                     "actor", "position", "office")
            + " FROM {t} WHERE account_id IN ("
        )  # fmt: skip

    # -- answers ------------------------------------------------------------------------------

    def office_at(
        self, office: str, at: datetime | None = None, known_at: datetime | None = None
    ) -> OfficeView:
        """The office at `at` as known at `known_at`: holder, accounts speaking for it, the
        findings in effect then. OfficeNotFound if nobody registered it or named it."""
        office = check_office(office)
        at, known_at = times(at, known_at)
        with self.reading.cursor() as c:
            record, histories, rows = self._gather_rows(c, office, known_at, at=at)
            tenure_known, tenure = record.holder_at(at)
            speaking = oversight.speaking_at(office, histories, at)
            found = self._office_findings(c, office, at, known_at)
            self._check(record, histories)
            self.reading.check(*{s for f in found for s, _ in f.established_by})
            segment = _office_segment_at(rows, at)
            mine: Provenance = ()
            if segment is not None and record.stream is not None:
                mine = tuple((record.stream, v) for v in json.loads(segment["established_by"]))
            observed = [oversight.observed(s, s.audience) for s in speaking]
            cited = self._cite(
                c,
                [*mine, *(p for f in found for p in f.established_by), *_audiences(observed)],
            )
            return OfficeView(
                office=office,
                registered=record.stream is not None,
                name=record.name,
                jurisdiction=record.jurisdiction,
                tenure_known=tenure_known,
                holder=HolderView(tenure.holder.id, tenure.holder.name, tenure.valid_from)
                if tenure
                else None,
                accounts=_observed_views(observed, cited),
                findings=_finding_views(found, cited),
                at=at,
                known_at=known_at,
                established_by=_plain(cited, mine),
            )

    def offices(
        self,
        jurisdiction: str | None = None,
        at: datetime | None = None,
        known_at: datetime | None = None,
    ) -> tuple[OfficeSummary, ...]:
        """The registered offices (of one jurisdiction) at `at` as known at `known_at`."""
        if jurisdiction is not None:
            check_jurisdiction(jurisdiction)
        at, known_at = times(at, known_at)
        vc, vp = valid(at)
        kc, kp = known(known_at)
        where, jp = _in_jurisdiction(jurisdiction)
        query = self.db.sql(
            "SELECT office, name, jurisdiction, holder_id, holder_name, holder_since FROM {t} "
            f"WHERE {where}{vc} AND {kc} ORDER BY office",
            t=OFFICES.name,
        )
        params = (*jp, *vp, *kp)
        with self.reading.cursor() as c:
            rows = self.db.rows(c, query, params)
        return tuple(
            OfficeSummary(
                r["office"],
                r["name"],
                r["jurisdiction"],
                HolderView(r["holder_id"], r["holder_name"], opt_time(r["holder_since"]))
                if r["holder_id"]
                else None,
            )
            for r in rows
        )

    def tenures(self, office: str, known_at: datetime | None = None) -> Tenures:
        """Each tenure of the office with the accounts that spoke for it meanwhile."""
        office = check_office(office)
        _, known_at = times(None, known_at)
        with self.reading.cursor() as c:
            record, histories = self._gather(c, office, known_at)
            self._check(record, histories)
            items = oversight.tenures_with_accounts(record, histories)
            cited = self._cite(
                c,
                [
                    *(p for t in items for p in t.established_by),
                    *(p for t in items for p in _audiences(t.accounts)),
                ],
            )
            return Tenures(
                office,
                known_at,
                tuple(
                    TenureView(
                        t.tenure.holder,
                        t.tenure.valid_from,
                        t.tenure.valid_to,
                        _observed_views(t.accounts, cited),
                        _plain(cited, t.established_by),
                    )
                    for t in items
                ),
            )

    def in_window(
        self, office: str, window: Window, known_at: datetime | None = None
    ) -> OfficeWindow:
        """The office's tenures that meet the window, cut to it, and the accounts that spoke
        for it there, as known at `known_at` (the tenures as `ledger.changes.tenures_at`)."""
        office = check_office(office)
        _, known_at = times(None, known_at)
        with self.reading.cursor() as c:
            # Not known yet at `known_at` is an empty answer; never known at all, not found.
            record, histories = self._gather(c, office, known_at, must_exist=False)
            if record.stream is None and not histories and not self._known_ever(c, office):
                raise OfficeNotFound(office)
            self._check(record, histories)
            tenures = clipped(window, record.tenures)
            cited = self._cite(
                c, [p for t in tenures for p in record.provenance(*t.established_by)]
            )
        return OfficeWindow(
            office,
            window,
            known_at,
            tuple(
                TenureSpanView(
                    t.holder, t.valid_from, t.valid_to,
                    _plain(cited, record.provenance(*t.established_by)),
                )
                for t in tenures
            ),
            tuple(oversight.speakers_in(office, histories, window.valid_from, window.valid_to)),
        )  # fmt: skip

    def handovers(self, office: str, known_at: datetime | None = None) -> Handovers:
        """At each change of the office's holder: the accounts retained and departed."""
        office = check_office(office)
        _, known_at = times(None, known_at)
        with self.reading.cursor() as c:
            record, histories = self._gather(c, office, known_at)
            self._check(record, histories)
            items = oversight.handovers(record, histories, self.rules)
            sides = [side for h in items for side in (h.retained, h.departed)]
            cited = self._cite(
                c,
                [
                    *(p for h in items for p in h.established_by),
                    *(p for side in sides for p in _audiences(side.accounts)),
                ],
            )
            return Handovers(
                office,
                known_at,
                tuple(
                    HandoverView(
                        h.at,
                        h.outgoing,
                        h.incoming,
                        _side(h.retained, cited),
                        _side(h.departed, cited),
                        _plain(cited, h.established_by),
                    )
                    for h in items
                ),
            )

    def findings(
        self,
        *,
        jurisdiction: str | None = None,
        office: str | None = None,
        kind: str | None = None,
        at: datetime | None = None,
        known_at: datetime | None = None,
        after: str | None = None,
        limit: int = 50,
    ) -> FindingsPage:
        """The findings (in effect at `at`, if given) as known at `known_at`, office by office
        in key order, `limit` at a time; `after`: the previous page's `next_after`."""
        if jurisdiction is not None:
            check_jurisdiction(jurisdiction)
        if office is not None:
            office = check_office(office)
        if kind is not None and kind not in oversight.KINDS:
            raise InvalidInput(
                f"kind {shown(kind)} is not a finding; expected one of: {', '.join(oversight.KINDS)}",
                field="kind",
            )
        if not 1 <= limit <= MAX_PAGE:
            raise InvalidInput(f"limit must be between 1 and {MAX_PAGE}", field="limit")
        conditions: list[str] = []
        params: list[Any] = []
        if jurisdiction is not None:
            column = "jurisdiction" if "-" in jurisdiction else "country"
            conditions.append(f"{column} = %s")
            params.append(jurisdiction)
        if office is not None:
            conditions.append("office = %s")
            params.append(office)
        if kind is not None:
            conditions.append("kind = %s")
            params.append(kind)
        if at is not None:
            vc, vp = valid(require_utc(at, "at"))
            conditions.append(vc)
            params += vp
        _, known_at = times(None, known_at)
        kc, kp = known(known_at)
        conditions.append(kc)
        params += kp
        if after is not None:
            conditions.append("(office, valid_from, kind, ident) > (%s, %s, %s, %s)")
            params += _cursor(after)
        query = self.db.sql(
            f"SELECT {FINDING_COLUMNS} FROM {{t}} WHERE {' AND '.join(conditions)} "
            "ORDER BY office, valid_from, kind, ident LIMIT %s",
            t=FINDINGS.name,
        )
        with self.reading.cursor() as c:
            rows = self.db.rows(c, query, (*params, limit + 1))
            more = len(rows) > limit
            rows = rows[:limit]
            found = [finding_from_row(r) for r in rows]
            self.reading.check(*{s for f in found for s, _ in f.established_by})
            cited = self._cite(c, [p for f in found for p in f.established_by])
            last = rows[-1] if more else None
            next_after = (
                f"{last['office']}/{last['valid_from']}/{last['kind']}/{last['ident']}"
                if last is not None
                else None
            )
            return FindingsPage(_finding_views(found, cited), next_after)

    def _office_findings(
        self, c: Any, office: str, at: datetime, known_at: datetime | None
    ) -> list[Finding]:
        """The office's findings in effect at `at`, as known at `known_at`."""
        vc, vp = valid(at)
        kc, kp = known(known_at)
        query = self.db.sql(
            f"SELECT {FINDING_COLUMNS} FROM {{t}} WHERE office = %s AND {vc} AND {kc} "
            "ORDER BY valid_from, kind, ident",
            t=FINDINGS.name,
        )
        return [finding_from_row(r) for r in self.db.rows(c, query, (office, *vp, *kp))]

    # -- gathering ----------------------------------------------------------------------------

    def _office_rows(self, c: Any, office: str, known_at: datetime | None) -> list[NamedRow]:
        kc, kp = known(known_at)
        query = self.db.sql(self._office.replace("{k}", kc), t=OFFICES.name)
        return self.db.rows(c, query, (office, *kp))

    def _gather(
        self, c: Any, office: str, known_at: datetime | None, *, must_exist: bool = True
    ) -> tuple[OfficeRecord, dict[UUID, list[AccountSpan]]]:
        """The office's record and the histories of every account that ever spoke for it."""
        record, histories, _ = self._gather_rows(c, office, known_at, must_exist=must_exist)
        return record, histories

    def _gather_rows(
        self,
        c: Any,
        office: str,
        known_at: datetime | None,
        *,
        must_exist: bool = True,
        at: datetime | None = None,
    ) -> tuple[OfficeRecord, dict[UUID, list[AccountSpan]], list[NamedRow]]:
        """`_gather`, and the office's segment rows; given `at`, each account's span at `at`
        only."""
        rows = self._office_rows(c, office, known_at)
        stream = office_id(office)
        record = oversight.office_record(
            office, stream if rows else None, [office_segment(r) for r in rows]
        )
        kc, kp = known(known_at)
        if at is None:
            query = self.db.sql(self._speakers.replace("{k}", kc), t=SEGMENTS.name)
            params: tuple[Any, ...] = (office, *kp, *kp)
        else:
            query = self.db.sql(self._speakers_at.replace("{k}", kc), t=SEGMENTS.name)
            params = (office, *kp, *kp, to_us(at), to_us(at))
        histories = spans_from_rows(self.db.rows(c, query, params))
        if (
            must_exist
            and not rows
            and not histories
            and not self._named_ever(c, office)
            and not (at is not None and self._named_by_accounts(c, office, known_at))
        ):
            raise OfficeNotFound(office)
        return record, histories, rows

    def _named_by_accounts(self, c: Any, office: str, known_at: datetime | None) -> bool:
        """Whether an account names the office at any valid time, as known at `known_at`."""
        kc, kp = known(known_at)
        query = self.db.sql(
            f"SELECT 1 FROM {{t}} WHERE office = %s AND {kc} LIMIT 1", t=SEGMENTS.name
        )
        return self.db.row(c, query, (office, *kp)) is not None

    def _known_ever(self, c: Any, office: str) -> bool:
        """Whether the office was registered, or named by an account, as known at any time."""
        query = self.db.sql("SELECT 1 FROM {t} WHERE office = %s LIMIT 1", t=SEGMENTS.name)
        return self._named_ever(c, office) or self.db.row(c, query, (office,)) is not None

    def _named_ever(self, c: Any, office: str) -> bool:
        """Whether the office's stream exists at all (registered, maybe later than known_at)."""
        query = self.db.sql("SELECT 1 FROM {t} WHERE office = %s LIMIT 1", t=OFFICES.name)
        return self.db.row(c, query, (office,)) is not None

    def _check(self, record: OfficeRecord, histories: dict[UUID, list[AccountSpan]]) -> None:
        """UnreadableEvent if a stream behind the answer is set aside."""
        self.reading.check(*histories, *([record.stream] if record.stream else []))

    # -- views --------------------------------------------------------------------------------

    def _cite(self, c: Any, cited: Iterable[tuple[UUID, int]]) -> dict[tuple[UUID, int], Cited]:
        """The events behind answers, of any streams, in one query."""
        wanted: dict[UUID, set[int]] = {}
        for stream, version in cited:
            wanted.setdefault(stream, set()).add(version)
        if not wanted:
            return {}
        ids = {str(s): s for s in wanted}
        marks = ", ".join(["%s"] * len(ids))
        query = self.db.sql(self._cited + marks + ")", t=EVENTS.name)
        out = {}
        for r in self.db.rows(c, query, tuple(ids)):
            stream = ids[r["account_id"]]
            if r["version"] in wanted[stream]:
                office = r["office"]
                out[(stream, r["version"])] = Cited(
                    None if office else stream, office, r["version"], r["type"],
                    from_us(r["recorded_at"]), r["actor"], r["position"],
                )  # fmt: skip
        return out


def _audiences(accounts: Iterable[Observed]) -> list[tuple[UUID, int]]:
    return [(o.account_id, o.audience.version) for o in accounts if o.audience is not None]


def _observed_views(
    accounts: Iterable[Observed], cited: dict[tuple[UUID, int], Cited]
) -> tuple[ObservedView, ...]:
    out = []
    for o in accounts:
        audience = None
        if o.audience is not None:
            by = _plain(cited, ((o.account_id, o.audience.version),))
            audience = AudienceView(o.audience.followers, o.audience.observed_at, by)
        out.append(ObservedView(o.account_id, o.platform, o.handle, o.ownership, o.owner, audience))
    return tuple(out)


def _side(side: oversight.Side, cited: dict[tuple[UUID, int], Cited]) -> SideView:
    return SideView(_observed_views(side.accounts, cited), side.followers, side.unobserved)


def _finding_views(
    found: Sequence[Finding], cited: dict[tuple[UUID, int], Cited]
) -> tuple[FindingView, ...]:
    return tuple(
        FindingView(
            f.kind,
            f.office,
            f.account_id,
            f.handle,
            f.holder,
            f.valid_from,
            f.valid_to,
            f.followers,
            f.detail,
            tuple(cited[p] for p in f.established_by if p in cited),
        )
        for f in found
    )


def check_office(office: str) -> str:
    if not isinstance(office, str) or not OFFICE_RE.fullmatch(office):
        raise InvalidInput(
            f"office {shown(office)} is not an office key (expected {OFFICE_RE.pattern})",
            field="office",
        )
    return office


def check_jurisdiction(value: str) -> str:
    if not isinstance(value, str) or not JURISDICTION_RE.fullmatch(value):
        raise InvalidInput(
            f"jurisdiction {shown(value)} is not an ISO 3166 code such as PK or PK-PB",
            field="jurisdiction",
        )
    return value


def _in_jurisdiction(jurisdiction: str | None) -> tuple[str, tuple[str, ...]]:
    """SQL condition (with its trailing AND) and parameters: offices of the jurisdiction, a
    country's taking in its subdivisions (PK: PK and PK-PB)."""
    if jurisdiction is None:
        return "", ()
    if "-" in jurisdiction:
        return "jurisdiction = %s AND ", (jurisdiction,)
    return "country = %s AND ", (jurisdiction,)


def _cursor(after: str) -> tuple[str, int, str, str]:
    """(office, valid_from, kind, ident) of the last finding of the previous page."""
    parts = after.split("/")
    if (
        len(parts) != 4
        or not OFFICE_RE.fullmatch(parts[0])
        or not TIME_RE.fullmatch(parts[1])
        or not -(2**63) <= int(parts[1]) < 2**63
        or parts[2] not in oversight.KINDS
        or not IDENT_RE.fullmatch(parts[3])
    ):
        raise InvalidInput("after is not a cursor this service returned", field="after")
    return parts[0], int(parts[1]), parts[2], parts[3]


def _plain(
    cited: dict[tuple[UUID, int], Cited], provenance: Provenance
) -> tuple[ProvenanceView, ...]:
    """One stream's citations (an office's) as plain provenance."""
    return tuple(
        ProvenanceView(x.version, x.type, x.recorded_at, x.actor, x.position)
        for p in provenance
        if (x := cited.get(p)) is not None
    )


def _office_segment_at(rows: Sequence[NamedRow], at: datetime) -> NamedRow | None:
    for r in rows:
        start, end = from_us(r["valid_from"]), opt_time(r["valid_to"])
        if start <= at and (end is None or at < end):
            return r
    return None

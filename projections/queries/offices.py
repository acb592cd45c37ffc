"""Questions about offices, answered from the office and account segments (`rm_office_segments`,
`rm_segments`) and the handle history: who held an office, which accounts spoke for it, what
stayed and left at each handover, and the findings. The read side only gathers the histories;
the answers are `ledger.oversight`'s, the same functions the oracle runs."""

from __future__ import annotations

import json
from collections.abc import Container, Iterable, Iterator, Sequence
from datetime import datetime
from typing import Any
from uuid import UUID

import orjson

from ledger import oversight
from ledger.commands import JURISDICTION_RE, OFFICE_RE, shown
from ledger.domain import office_id
from ledger.errors import InvalidInput, OfficeNotFound
from ledger.fold import OFFICE_OWNED, Audience, HolderRef, Ineffective
from ledger.office_fold import OfficeSegment, OfficeState
from ledger.oversight import AccountSpan, Finding, Observed, OfficeRecord, Provenance, Rules
from projections.db import NamedRow
from projections.derive import from_us
from projections.models import EventLog, HandleHistory, OfficeSegments, Segments
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
    SideView,
    Tenures,
    TenureView,
)
from projections.queries.views import (
    Provenance as ProvenanceView,
)

OFFICES = OfficeSegments.table
CHUNK = 16  # offices a findings page gathers at once
SEGMENTS = Segments.table
HANDLES = HandleHistory.table
EVENTS = EventLog.table
SPAN_COLUMNS = (
    "account_id", "valid_from", "valid_to", "platform", "handle", "office", "ownership",
    "owner_id", "owner_name", "holder_id", "holder_name", "status", "followers", "observed_at",
    "audience_by", "established_by",
)  # fmt: skip


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
        # An office has a few accounts; PostgreSQL's planner guesses many for `IN (SELECT`
        # and scans the table when it is small, so it is handed the ids as an array.
        postgres = self.db.kind == "postgres"
        among, end = ("account_id = ANY(ARRAY(", "))") if postgres else ("account_id IN (", ")")
        self._speakers = (
            spans + among + "SELECT account_id FROM {t} WHERE office = %s AND " + kc + end
            + " AND " + kc + " ORDER BY account_id, valid_from"
        )  # fmt: skip
        self._carriers = (
            spans + among + "SELECT account_id FROM {h} WHERE ({pairs}) AND " + kc + end
            + " AND " + kc + " ORDER BY account_id, valid_from"
        )  # fmt: skip
        self._offices = (
            "SELECT " + select_list(OFFICES) + " FROM {t} WHERE office IN ({in}) AND " + kc
            + " ORDER BY office, valid_from"
        )  # fmt: skip
        self._speakers_of = (
            spans + among + "SELECT account_id FROM {t} WHERE office IN ({in}) AND " + kc + end
            + " AND " + kc + " ORDER BY account_id, valid_from"
        )  # fmt: skip
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
            record, histories, rows = self._gather_rows(c, office, known_at)
            tenure_known, tenure = record.holder_at(at)
            speaking = oversight.speaking_at(office, histories, at)
            found = [f for f in self._findings(c, record, histories, known_at) if f.in_effect(at)]
            self._check(record, histories)
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
        start_office, skip = _cursor(after)
        _, known_at = times(None, known_at)
        out: list[Finding] = []
        next_after = None
        with self.reading.cursor() as c:
            if office is not None and jurisdiction is None:
                keys = [office]  # registered or only named by accounts
            else:  # an office of another jurisdiction (or of none known) has none here
                keys = self._office_keys(c, jurisdiction, known_at)
                keys = [k for k in keys if office is None or k == office]
            keys = [k for k in keys if start_office is None or k >= start_office]
            for key, found_all in self._findings_of(c, keys, known_at):
                found = [
                    f
                    for f in found_all
                    if (kind is None or f.kind == kind) and (at is None or f.in_effect(at))
                ]
                if key == start_office:
                    found = found[skip:]
                    base = skip
                else:
                    base = 0
                room = limit - len(out)
                out += found[:room]
                if len(found) > room:
                    next_after = f"{key}:{base + room}"
                    break
            cited = self._cite(c, [p for f in out for p in f.established_by])
            return FindingsPage(_finding_views(out, cited), next_after)

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
        self, c: Any, office: str, known_at: datetime | None, *, must_exist: bool = True
    ) -> tuple[OfficeRecord, dict[UUID, list[AccountSpan]], list[NamedRow]]:
        """`_gather`, and the office's segment rows."""
        rows = self._office_rows(c, office, known_at)
        stream = office_id(office)
        record = oversight.office_record(
            office, stream if rows else None, [_office_segment(r) for r in rows]
        )
        kc, kp = known(known_at)
        query = self.db.sql(self._speakers.replace("{k}", kc), t=SEGMENTS.name)
        histories = _spans(self.db.rows(c, query, (office, *kp, *kp)))
        if must_exist and not rows and not histories and not self._named_ever(c, office):
            raise OfficeNotFound(office)
        return record, histories, rows

    def _named_ever(self, c: Any, office: str) -> bool:
        """Whether the office's stream exists at all (registered, maybe later than known_at)."""
        query = self.db.sql("SELECT 1 FROM {t} WHERE office = %s LIMIT 1", t=OFFICES.name)
        return self.db.row(c, query, (office,)) is not None

    def _carriers_of(
        self, c: Any, records: Iterable[OfficeRecord], histories: dict[UUID, list[AccountSpan]],
        known_at: datetime | None,
    ) -> dict[UUID, list[AccountSpan]]:  # fmt: skip
        """Accounts that ever carried a handle an account of the offices carried as theirs."""
        keys = {key for r in records for key in _own_handles(r.office, histories)}
        if not keys:
            return {}
        kc, kp = known(known_at)
        pairs = " OR ".join(["(platform = %s AND handle_key = %s)"] * len(keys))
        template = self._carriers.replace("{k}", kc).replace("{pairs}", pairs)
        query = self.db.sql(template, t=SEGMENTS.name, h=HANDLES.name)
        params = [v for pair in sorted(keys) for v in pair]
        # The office's own accounts carried its handles too: they are decoded once, not twice.
        return _spans(self.db.rows(c, query, (*params, *kp, *kp)), skip=histories)

    def _findings_of(
        self, c: Any, keys: Sequence[str], known_at: datetime | None
    ) -> Iterator[tuple[str, list[Finding]]]:
        """Each office's findings, in the order of `keys`, gathered `CHUNK` offices at a time:
        their rows, and every account that spoke for any of them or carried a handle their own
        accounts carried, in three queries (more accounts than an office's change nothing in
        its answers)."""
        kc, kp = known(known_at)
        for begin in range(0, len(keys), CHUNK):
            chunk = keys[begin : begin + CHUNK]
            marks = ", ".join(["%s"] * len(chunk))
            rows = self.db.rows(
                c,
                self.db.sql(
                    self._offices.replace("{k}", kc).replace("{in}", marks), t=OFFICES.name
                ),
                (*chunk, *kp),
            )
            by_office: dict[str, list[NamedRow]] = {}
            for r in rows:
                by_office.setdefault(r["office"], []).append(r)
            speakers = self.db.sql(
                self._speakers_of.replace("{k}", kc).replace("{in}", marks), t=SEGMENTS.name
            )
            histories = _spans(self.db.rows(c, speakers, (*chunk, *kp, *kp)))
            records = {
                key: oversight.office_record(
                    key,
                    office_id(key) if key in by_office else None,
                    [_office_segment(r) for r in by_office.get(key, ())],
                )
                for key in chunk
            }
            carriers = self._carriers_of(c, records.values(), histories, known_at)
            self.reading.check(
                *histories, *carriers, *(r.stream for r in records.values() if r.stream)
            )
            speaking: dict[str, dict[UUID, list[AccountSpan]]] = {key: {} for key in chunk}
            for aid, spans in histories.items():
                for office in {s.office for s in spans} & speaking.keys():
                    speaking[office][aid] = spans  # type: ignore[index]
            for key in chunk:
                # Each office's own accounts, and the carriers of its handles (the rest would
                # change nothing, and cost as much again for each office of the chunk).
                mine = speaking[key]
                handles = _own_handles(key, mine)
                theirs = {  # an account of another office of the chunk may carry them too
                    aid: spans
                    for aid, spans in (*histories.items(), *carriers.items())
                    if aid not in mine
                    and any((s.platform, s.handle.casefold()) in handles for s in spans)
                }
                yield key, oversight.findings(records[key], mine, self.rules, free_handles=theirs)

    def _findings(
        self, c: Any, record: OfficeRecord, histories: dict[UUID, list[AccountSpan]],
        known_at: datetime | None,
    ) -> list[Finding]:  # fmt: skip
        carriers = self._carriers_of(c, [record], histories, known_at)
        self.reading.check(*carriers)
        return oversight.findings(record, histories, self.rules, free_handles=carriers)

    def _office_keys(
        self, c: Any, jurisdiction: str | None, known_at: datetime | None
    ) -> list[str]:
        """The offices findings are sought for: registered ones (of the jurisdiction), and,
        without a jurisdiction, every office an account names."""
        kc, kp = known(known_at)
        if jurisdiction is not None:
            where, jp = _in_jurisdiction(jurisdiction)
            query = self.db.sql(
                f"SELECT DISTINCT office FROM {{t}} WHERE {where}{kc}", t=OFFICES.name
            )
            rows = self.db.rows(c, query, (*jp, *kp))
        else:
            query = self.db.sql(
                f"SELECT office FROM {{t}} WHERE {kc} UNION "
                f"SELECT office FROM {{s}} WHERE office IS NOT NULL AND {kc}",
                t=OFFICES.name,
                s=SEGMENTS.name,
            )
            rows = self.db.rows(c, query, (*kp, *kp))
        return sorted({str(r["office"]) for r in rows})

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


def _own_handles(office: str, histories: dict[UUID, list[AccountSpan]]) -> set[tuple[str, str]]:
    """(platform, handle key) of every handle the office's own accounts carried."""
    return {
        (s.platform, s.handle.casefold())
        for spans in histories.values()
        for s in spans
        if s.ownership == OFFICE_OWNED and s.speaks_for(office)
    }


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


def _cursor(after: str | None) -> tuple[str | None, int]:
    if after is None:
        return None, 0
    office, _, n = after.rpartition(":")
    if not OFFICE_RE.fullmatch(office) or not n.isdigit() or len(n) > 9:
        raise InvalidInput("after is not a cursor this service returned", field="after")
    return office, int(n)


def _plain(
    cited: dict[tuple[UUID, int], Cited], provenance: Provenance
) -> tuple[ProvenanceView, ...]:
    """One stream's citations (an office's) as plain provenance."""
    return tuple(
        ProvenanceView(x.version, x.type, x.recorded_at, x.actor, x.position)
        for p in provenance
        if (x := cited.get(p)) is not None
    )


def _office_segment(r: NamedRow) -> OfficeSegment:
    holder = HolderRef(r["holder_id"], r["holder_name"]) if r["holder_id"] else None
    state = OfficeState(
        office=r["office"],
        name=r["name"],
        jurisdiction=r["jurisdiction"],
        holder=holder,
        holder_since=opt_time(r["holder_since"]),
        registered_at=from_us(r["registered_at"]),
        version=0,  # not stored: no answer here reads it
        established_by=tuple(json.loads(r["established_by"])),
        ineffective=tuple(
            Ineffective(i["version"], i["type"], i["why"]) for i in json.loads(r["ineffective"])
        ),
        holder_by=int(r["holder_by"]),
    )
    return OfficeSegment(from_us(r["valid_from"]), opt_time(r["valid_to"]), state)


def _office_segment_at(rows: Sequence[NamedRow], at: datetime) -> NamedRow | None:
    for r in rows:
        start, end = from_us(r["valid_from"]), opt_time(r["valid_to"])
        if start <= at and (end is None or at < end):
            return r
    return None


def _spans(
    rows: Iterable[NamedRow], skip: Container[UUID] = frozenset()
) -> dict[UUID, list[AccountSpan]]:
    """Each account's spans from its segment rows (in valid-time order), but for `skip`'s."""
    out: dict[UUID, list[AccountSpan]] = {}
    ids: dict[str, UUID | None] = {}
    for r in rows:
        text = r["account_id"]
        if text not in ids:
            parsed = UUID(text)
            ids[text] = None if parsed in skip else parsed
        aid = ids[text]
        if aid is None:
            continue
        audience = (
            Audience(int(r["followers"]), from_us(r["observed_at"]), int(r["audience_by"]))
            if r["followers"] is not None
            else None
        )
        out.setdefault(aid, []).append(
            AccountSpan(
                aid,
                from_us(r["valid_from"]),
                opt_time(r["valid_to"]),
                r["platform"],
                r["handle"],
                r["office"],
                r["ownership"] or OFFICE_OWNED,
                HolderRef(r["owner_id"], r["owner_name"]) if r["owner_id"] else None,
                HolderRef(r["holder_id"], r["holder_name"]) if r["holder_id"] else None,
                r["status"],
                audience,
                tuple(orjson.loads(r["established_by"])),
            )
        )
    return out

"""The dossier as W3C PROV: who held the account (or the office) for which office, who recorded
each event, what each event produced and what a retraction invalidated.

Agents: holders (prov:Person), offices (prov:Organization), recorders (one per actor).
Entities: the account, each handle at a time (`specializationOf` the account), archives
(`wasDerivedFrom` the account), evidence (`used` by the event citing it) and each event's
result, the stream as of that version (`wasGeneratedBy` the event); in an office's dossier,
the accounts that spoke for the office (`custody:speaksFor` it; attributed to the office or
to their owner).
Activities: each event (start = end = its effective time) `wasAssociatedWith` its recorder,
and each dispute. A holder `actedOnBehalfOf` an office once per custody interval (an
office's dossier: once per tenure), with its valid times and the record times it was known
at. A retraction invalidates the retracted event's result at the retraction's record time.
Identifiers are made of ids, keys, versions and times under the one `custody:` namespace, so
the same dossier always gives the same document.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import quote

from prov.constants import PROV
from prov.identifier import Identifier, Namespace, QualifiedName
from prov.model import ProvDocument

from api.dossier import registration, when

PREFIX = "custody"
NAMESPACE = "https://custody-ledger.example/ns#"

RETRACTED = "event_retracted"
ASSIGNED = "holder_assigned"
ARCHIVED = "history_archived"


def prov_json(dossier: Mapping[str, Any]) -> str:
    """The dossier as a PROV-JSON document."""
    return str(to_prov(dossier).serialize(format="json", indent=2))


def to_prov(dossier: Mapping[str, Any]) -> ProvDocument:
    """The dossier as a PROV document (see the module's docstring for the model)."""
    doc = ProvDocument()
    graph = _Graph(doc, doc.add_namespace(PREFIX, NAMESPACE), when(dossier.get("generated_at")))
    about = dossier.get("subject") or {}
    office = about.get("office")
    if office:
        graph.office(str(office), registration(dossier).get("name"))
    account = dossier.get("account")
    if isinstance(account, Mapping):
        graph.account(account)
    for speaker in dossier.get("accounts") or []:
        graph.account({**speaker, "handle": (speaker.get("handles") or [None])[-1]}, office)
    for record in dossier.get("events") or []:
        graph.event(record)
    dispute = dossier.get("dispute")
    if isinstance(dispute, Mapping):
        graph.dispute(dispute)
    for other in dossier.get("disputes") or []:
        graph.dispute(other)
    subject = about.get("account_id")
    changes = dossier.get("changes") or {}
    for view in [*(dossier.get("answers") or []), *(changes.get("versions") or [])]:
        for interval in view.get("custody") or []:
            # An interval of the dossier's custody is of its subject's account.
            graph.custody({"account_id": subject, **interval}, view.get("known_at"))
        for tenure in view.get("tenures") or []:
            graph.tenure(str(office), tenure, view.get("known_at"))
    for view in dossier.get("handles") or []:
        for interval in view.get("intervals") or []:
            graph.handle(interval, view.get("known_at"))
    graph.close()
    return doc


def _part(value: Any) -> str:
    """One part of a local name: percent-encoded so PROV-N can write it, times compacted."""
    if isinstance(value, datetime):
        value = value.strftime("%Y%m%dT%H%M%S" + (".%f" if value.microsecond else "") + "Z")
    return quote(str(value), safe="-_~").replace(".", "%2E")


@dataclass
class _Span:
    """A delegation (holder for office) or a handle at a time (of an account), gathered across
    the dossier's views with every record time it was known at ("now": the dossier's time)."""

    subject: QualifiedName  # the holder; the handle's account
    office: QualifiedName | None  # the office of a delegation; None for a handle
    attrs: list[tuple[QualifiedName, Any]]
    known: list[datetime] = field(default_factory=list)

    def knew(self, known_at: datetime | None) -> None:
        if known_at is not None and known_at not in self.known:
            self.known.append(known_at)


class _Graph:
    """The document being built: each element added once, by its identifier."""

    def __init__(self, doc: ProvDocument, ns: Namespace, generated_at: datetime | None) -> None:
        self.doc, self.ns, self.generated_at = doc, ns, generated_at
        self.seen: set[QualifiedName] = set()
        self.invalidated: set[tuple[str, Any]] = set()
        self.spans: dict[QualifiedName, _Span] = {}  # delegations and handles at a time
        self.retractions: list[tuple[str, Any, Any]] = []  # (stream, version, retracted_by)
        self.evidences: dict[QualifiedName, tuple[str, list[str]]] = {}  # url, digests

    def id(self, kind: str, *parts: Any) -> QualifiedName:
        return self.ns["/".join([kind, *(_part(p) for p in parts)])]

    def once(self, qn: QualifiedName) -> bool:
        """True the first time an identifier is asked for."""
        if qn in self.seen:
            return False
        self.seen.add(qn)
        return True

    def attrs(self, **values: Any) -> list[tuple[QualifiedName, Any]]:
        """`custody:` attributes, leaving out absent values (and empty strings)."""
        return [(self.ns[k], v) for k, v in values.items() if v is not None and v != ""]

    # Agents

    def holder(self, holder: Mapping[str, Any]) -> QualifiedName:
        qn = self.id("holder", holder.get("id"))
        if self.once(qn):
            label = [(PROV["label"], str(holder["name"]))] if holder.get("name") else []
            self.doc.agent(qn, [(PROV["type"], PROV["Person"]), *label])
        return qn

    def office(self, key: str, name: Any = None) -> QualifiedName:
        """An office, labelled with its name where the dossier gives it (else its key)."""
        qn = self.id("office", key)
        if self.once(qn):
            label = str(name) if name else key
            self.doc.agent(qn, [(PROV["type"], PROV["Organization"]), (PROV["label"], label)])
        return qn

    def actor(self, actor: Any) -> QualifiedName:
        qn = self.id("actor", actor)
        if self.once(qn):
            self.doc.agent(qn, [(PROV["type"], self.ns["Recorder"]), (PROV["label"], str(actor))])
        return qn

    # Entities

    def account(self, account: Mapping[str, Any], speaks_for: Any = None) -> QualifiedName:
        """An account; `speaks_for`: the office it spoke for (in an office's dossier)."""
        qn = self.id("account", account.get("account_id"))
        if not self.once(qn):
            return qn
        office, owner = account.get("office") or speaks_for, account.get("owner")
        self.doc.entity(
            qn,
            [
                (PROV["type"], self.ns["Account"]),
                *self.attrs(
                    platform=account.get("platform"),
                    handle=account.get("handle"),
                    ownership=account.get("ownership"),
                    speaksFor=self.office(str(speaks_for)) if speaks_for else None,
                ),
            ],
        )
        # An office's account is the office's; a personal one is its owner's.
        if office and account.get("ownership") == "office":
            self.doc.attribution(qn, self.office(str(office)))
        if isinstance(owner, Mapping) and owner.get("id"):
            self.doc.attribution(qn, self.holder(owner))
        return qn

    def evidence(self, url: str, sha256: Any) -> QualifiedName:
        """A cited URL, one entity however often cited, with every digest given for it."""
        qn = self.id("evidence", hashlib.sha256(url.encode()).hexdigest()[:16])
        digests = self.evidences.setdefault(qn, (url, []))[1]
        if sha256 and str(sha256) not in digests:
            digests.append(str(sha256))
        return qn

    def custody(self, interval: Mapping[str, Any], known_at: Any) -> None:
        """One custody interval: the holder acted for each of its offices in its valid time."""
        holder, account = interval.get("holder") or {}, interval.get("account_id")
        start, end = when(interval.get("from")), when(interval.get("to"))
        for office in interval.get("offices") or []:
            qn = self.id("delegation", holder.get("id"), office, account, start, end or "open")
            attrs = self.attrs(
                account=self.id("account", account) if account else None,
                validFrom=start,
                validTo=end,
            )
            span = _Span(self.holder(holder), self.office(str(office)), attrs)
            self.spans.setdefault(qn, span).knew(when(known_at) or self.generated_at)

    def tenure(self, office: str, tenure: Mapping[str, Any], known_at: Any) -> None:
        """One tenure of the office: its holder acted for it over the tenure's valid time."""
        holder = tenure.get("holder") or {}
        start, end = when(tenure.get("from")), when(tenure.get("to"))
        qn = self.id("tenure", holder.get("id"), office, start, end or "open")
        span = _Span(
            self.holder(holder), self.office(office), self.attrs(validFrom=start, validTo=end)
        )
        self.spans.setdefault(qn, span).knew(when(known_at) or self.generated_at)

    def handle(self, interval: Mapping[str, Any], known_at: Any) -> None:
        """A handle carried by an account over a valid time: a specialisation of the account."""
        account, handle = interval.get("account_id"), interval.get("handle")
        start, end = when(interval.get("from")), when(interval.get("to"))
        qn = self.id("handle", account, handle, start, end or "open")
        attrs = [
            (PROV["type"], self.ns["Handle"]),
            *self.attrs(handle=handle, validFrom=start, validTo=end),
        ]
        span = _Span(self.account({"account_id": account}), None, attrs)
        self.spans.setdefault(qn, span).knew(when(known_at) or self.generated_at)

    # Activities

    def event(self, record: Mapping[str, Any]) -> QualifiedName:
        """An event: its activity, recorder, evidence and result; by type, what it changed."""
        stream = str(record.get("account_id") or record.get("office") or record.get("dispute_id"))
        version, effective = record.get("version"), when(record.get("effective_at"))
        recorded = when(record.get("recorded_at"))
        activity = self.id("event", stream, version)
        if not self.once(activity):
            return activity
        self.doc.activity(
            activity,
            effective,
            effective,
            [
                (PROV["type"], self.ns[_part(record.get("type"))]),
                *self.attrs(
                    version=version,
                    recordedAt=recorded,
                    position=record.get("position"),
                    reason=record.get("reason"),
                    # who an imported line named as its recorder, not verified (absent if none)
                    attributedTo=record.get("attributed_to"),
                ),
            ],
        )
        self.doc.association(activity, self.actor(record.get("actor")))
        result = self.doc.entity(
            self.id("record", stream, version), [(self.ns["version"], version)]
        )
        self.doc.generation(result, activity)
        if record.get("account_id") and not record.get("office"):  # an account's stream
            self.doc.specialization(result, self.account({"account_id": record["account_id"]}))
        for item in record.get("evidence") or []:
            if item.get("url"):
                self.doc.usage(activity, self.evidence(str(item["url"]), item.get("sha256")))
        data = record.get("data") or {}
        if record.get("type") == ASSIGNED and isinstance(data.get("holder"), Mapping):
            holder = self.holder(data["holder"])
            self.doc.association(activity, holder, None, None, [(PROV["role"], self.ns["holder"])])
        if record.get("type") == ARCHIVED and isinstance(data.get("archive"), Mapping):
            self.archive(stream, version, data["archive"], activity)
        if record.get("type") == RETRACTED and data.get("event_version") is not None:
            target = (stream, data["event_version"])
            self.invalidated.add(target)
            self.doc.invalidation(self.id("record", *target), activity, recorded)
        if record.get("retracted_by") is not None:
            self.retractions.append((stream, version, record["retracted_by"]))
        return activity

    def archive(
        self, stream: str, version: Any, archive: Mapping[str, Any], activity: QualifiedName
    ) -> None:
        ref = archive.get("ref")
        qn = self.doc.entity(
            self.id("archive", stream, version),
            [
                (PROV["type"], self.ns["Archive"]),
                *self.attrs(
                    ref=Identifier(str(ref)) if ref else None,
                    sha256=archive.get("sha256"),
                    items=archive.get("items"),
                ),
            ],
        )
        self.doc.derivation(qn, self.id("account", stream), activity)

    def dispute(self, dispute: Mapping[str, Any]) -> None:
        """A dispute: an activity from its opening to its close, informed by its events; it
        used the results it contests and informed the corrections its resolution names."""
        qn = self.id("dispute", dispute.get("dispute_id"))
        if not self.once(qn):
            return
        window = dispute.get("window") or {}
        activity = self.doc.activity(
            qn,
            when(dispute.get("opened_at")),
            when(dispute.get("closed_at")),
            [
                (PROV["type"], self.ns["Dispute"]),
                *self.attrs(
                    claim=dispute.get("claim"),
                    status=dispute.get("status"),
                    outcome=dispute.get("outcome"),
                    ruling=dispute.get("ruling"),
                    windowFrom=when(window.get("from")),
                    windowTo=when(window.get("to")),
                ),
            ],
        )
        complainant = [(PROV["role"], self.ns["complainant"])]
        self.doc.association(
            activity, self.actor(dispute.get("opened_by")), None, None, complainant
        )
        for record in dispute.get("events") or []:
            self.doc.communication(activity, self.event(record))
        for contested in dispute.get("contested") or []:
            target = self.id("record", contested.get("stream"), contested.get("version"))
            self.doc.usage(activity, target, None, None, [(PROV["role"], self.ns["contested"])])
        for correction in dispute.get("corrections") or []:
            # An office's event is named by the office's key, as its records name it.
            stream = correction.get("office") or correction.get("stream_id")
            event = self.id("event", stream, correction.get("version"))
            self.doc.communication(event, activity)

    def close(self) -> None:
        """Add what was gathered across views, and invalidations known only by `retracted_by`."""
        for qn, (url, digests) in self.evidences.items():
            sha = [(self.ns["sha256"], d) for d in digests]
            self.doc.entity(
                qn, [(PROV["type"], self.ns["Evidence"]), (self.ns["url"], Identifier(url)), *sha]
            )
        for qn, span in self.spans.items():
            attrs = span.attrs + [(self.ns["knownAt"], t) for t in sorted(span.known)]
            if span.office is not None:
                self.doc.delegation(span.subject, span.office, None, qn, attrs)
            else:
                self.doc.entity(qn, attrs)
                self.doc.specialization(qn, span.subject)
        for stream, version, by in self.retractions:
            if (stream, version) not in self.invalidated:
                self.doc.invalidation(
                    self.id("record", stream, version), self.id("event", stream, by)
                )

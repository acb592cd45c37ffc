"""The dossier as one printable HTML page: what a dispute panel reads, prints and files.

Self-contained (inline CSS and SVG, no scripts, no external assets). Every string that comes
from the dossier is escaped, and only http(s) URLs become links: they come from users.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from api.dossier import registration
from api.dossier.text import (
    esc,
    handle_text,
    intervals_of,
    link,
    moment,
    office_of,
    section,
    subject_text,
    window_text,
)
from api.dossier.timeline import timeline
from ledger.tlog.note import Checkpoint, NoteError, parse_note

HEAD = """<!doctype html>
<html lang="en">
<head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title>
<style>{css}</style></head>
<body>"""
CSS = """
:root { --ink:#1d2430; --muted:#5b6576; --line:#d8dde6; --accent:#2857b8; }
* { box-sizing:border-box; }
body { margin:0 auto; max-width:1040px; padding:24px; color:var(--ink); background:#fff;
  font:14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; }
h1 { font-size:22px; margin:2px 0 10px; } h2 { font-size:17px; margin:26px 0 8px; }
.kind, .muted, figcaption { color:var(--muted); } .kind { margin:0; font-size:12px; }
dl.facts { display:grid; grid-template-columns:max-content 1fr; gap:3px 14px; margin:8px 0; }
dt { color:var(--muted); } dd { margin:0; }
.dispute { border:1px solid var(--line); border-left:4px solid var(--accent); padding:4px 16px 10px; }
blockquote { margin:6px 0; font-style:italic; }
table { border-collapse:collapse; width:100%; font-size:13px; }
th, td { text-align:left; padding:5px 6px; border-bottom:1px solid var(--line); vertical-align:top; }
th { border-bottom:2px solid var(--ink); }
tr.retracted td.what { text-decoration:line-through; color:var(--muted); }
ul.plain, ol.evidence { list-style:none; margin:0; padding:0; }
ol.evidence li { margin-bottom:6px; } code { font-size:12px; }
td.t { white-space:nowrap; } td.what, td.why { overflow-wrap:anywhere; }
a { color:var(--accent); overflow-wrap:anywhere; } .url { overflow-wrap:anywhere; }
svg.timeline { width:100%; height:auto; }
svg text { font:12px system-ui, sans-serif; fill:var(--ink); }
svg .bar text { fill:#fff; } svg .sub, svg .tick text, svg .none { fill:var(--muted); font-size:11px; }
svg .rule { stroke:var(--line); } svg .tick line { stroke:var(--muted); }
footer { margin-top:28px; padding-top:8px; border-top:1px solid var(--line); font-size:12px; }
@page { size:A4; margin:16mm 14mm 18mm;
  @bottom-right { content:"Page " counter(page) " of " counter(pages); font-size:9pt; color:#5b6576; } }
@media print {
  body { max-width:none; padding:0; font-size:10pt; }
  * { -webkit-print-color-adjust:exact; print-color-adjust:exact; }
  a { color:inherit; text-decoration:none; }
  h2 { break-after:avoid; } tr, figure, .dispute { break-inside:avoid; }
}
"""


def to_html(dossier: Mapping[str, Any]) -> str:
    """The dossier as one self-contained, printable HTML page."""
    title = f"Custody dossier: {subject_text(dossier)}, {window_text(dossier.get('window'))}"
    cited = _cited(dossier)
    return "\n".join(
        [
            HEAD.format(title=esc(title), css=CSS),
            _header(dossier),
            "<main>",
            timeline(dossier),
            _changes(dossier, cited),
            _speakers(dossier),
            _offices(dossier.get("offices") or []),
            _dispute_events(dossier, cited),
            section("events", "Every event of the record", _events(dossier.get("events"), cited)),
            _other_disputes(dossier.get("disputes") or []),
            _evidence(cited),
            "</main>",
            _footer(dossier),
            "</body>\n</html>",
        ]
    )


# Text


def _table(headings: Sequence[str], rows: Iterable[str], empty: str) -> str:
    body = "".join(rows)
    if not body:
        return f'<p class="muted">{esc(empty)}</p>'
    head = "".join(f'<th scope="col">{esc(h)}</th>' for h in headings)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _facts(facts: Iterable[tuple[str, str]]) -> str:
    """Name and value pairs (values already HTML), leaving out the empty ones."""
    shown = "".join(f"<dt>{name}</dt><dd>{value}</dd>" for name, value in facts if value)
    return f'<dl class="facts">{shown}</dl>'


# The header


def _header(dossier: Mapping[str, Any]) -> str:
    account, subject = dossier.get("account") or {}, dossier.get("subject") or {}
    window = ("Window", f"{esc(window_text(dossier.get('window')))} (valid time; all times UTC)")
    if office_of(dossier) is not None:
        named = registration(dossier)
        facts = [
            ("Office", f"<code>{esc(subject.get('office'))}</code>"),
            ("Name", esc(named.get("name") or "unknown")),
            ("Jurisdiction", esc(named.get("jurisdiction") or "unknown")),
            window,
        ]
    else:
        facts = [
            (
                "Account",
                f"<code>{esc(account.get('account_id') or subject.get('account_id'))}</code>",
            ),
            ("Office", esc(account.get("office") or subject.get("office") or "none")),
            ("Ownership", esc(account.get("ownership") or "unknown")),
            window,
        ]
    types = {_key(r): str(r.get("type")) for r in dossier.get("events") or []}
    if isinstance(account.get("owner"), Mapping):
        facts.append(("Owner", esc(account["owner"].get("name") or account["owner"].get("id"))))
    return (
        f'<header><p class="kind">Custody dossier</p><h1>{esc(subject_text(dossier))}</h1>'
        f"{_facts(facts)}{_dispute(dossier.get('dispute'), types)}</header>"
    )


def _key(item: Mapping[str, Any]) -> tuple[str, str]:
    """An event's stream and version, as an event record or a contested entry names them."""
    stream = item.get("stream") or item.get("account_id") or item.get("office")
    return str(stream), str(item.get("version"))


def _dispute(dispute: Any, types: Mapping[tuple[str, str], str]) -> str:
    if not isinstance(dispute, Mapping):
        return '<p class="muted">No dispute: the dossier answers for the window alone.</p>'
    contested = [
        f"v{c.get('version')} {types.get(_key(c), '')}".strip()
        for c in dispute.get("contested") or []
    ]
    corrections = [f"v{c.get('version')} {c.get('type')}" for c in dispute.get("corrections") or []]
    facts = [
        ("Status", esc(_verdict(dispute))),
        ("Opened", f"{esc(moment(dispute.get('opened_at')))} by {esc(dispute.get('opened_by'))}"),
        ("Closed", esc(moment(dispute.get("closed_at"), "not yet"))),
        ("Window", esc(window_text(dispute.get("window")))),
        ("Contested", esc(", ".join(contested))),
        ("Ruling", esc(dispute.get("ruling") or "none yet")),
        ("Corrections", esc(", ".join(corrections))),
    ]
    return (
        '<section class="dispute" aria-labelledby="dispute-h">'
        f'<h2 id="dispute-h">Dispute <code>{esc(dispute.get("dispute_id"))}</code></h2>'
        f'<blockquote class="claim">{esc(dispute.get("claim"))}</blockquote>'
        f"{_facts(facts)}</section>"
    )


def _verdict(dispute: Mapping[str, Any]) -> str:
    verdict = str(dispute.get("status") or "open").capitalize()
    return f"{verdict}: {dispute['outcome']}" if dispute.get("outcome") else verdict


# The record


def _custody(intervals: Iterable[Mapping[str, Any]]) -> str:
    items = []
    for interval in intervals:
        holder = interval.get("holder") or {}
        where = ", ".join(
            [handle_text(h) for h in interval.get("handles") or []]
            + list(interval.get("offices") or [])
        )
        items.append(
            f"<li>{esc(holder.get('name') or holder.get('id'))}: "
            f"{esc(moment(interval.get('from')))} to {esc(moment(interval.get('to')))}"
            f"{esc(f' ({where})' if where else '')}</li>"
        )
    return f'<ul class="plain">{"".join(items)}</ul>' if items else "Nobody held it."


def _what(record: Mapping[str, Any]) -> str:
    """What an event says, in a few words, by type; its data as JSON otherwise."""
    data, kind = record.get("data") or {}, record.get("type")
    holder = data.get("holder") if isinstance(data.get("holder"), Mapping) else None
    archive = data.get("archive") if isinstance(data.get("archive"), Mapping) else None
    if holder is not None:
        return f"{kind}: {holder.get('name')} ({holder.get('id')})"
    if archive is not None:
        items = f", {archive['items']} items" if archive.get("items") is not None else ""
        return f"{kind}: {archive.get('ref')}{items}"
    if kind == "event_retracted":
        return f"{kind}: v{data.get('event_version')}"
    if kind == "office_registered":
        return f"{kind}: {data.get('name')} ({data.get('office')}, {data.get('jurisdiction')})"
    if "handle" in data:
        return f"{kind}: {handle_text(data['handle'])}"
    said = [data[k] for k in ("claim", "note", "outcome", "ruling") if data.get(k)]
    if said:
        return f"{kind}: " + "; ".join(str(s) for s in said)
    if data:
        return f"{kind}: {json.dumps(data, ensure_ascii=False, sort_keys=True)}"
    return str(kind)


@dataclass
class _Cited:
    """A URL cited as evidence: its number in the list, its digests, the events citing it."""

    number: int
    digests: list[str] = field(default_factory=list)
    by: list[str] = field(default_factory=list)


def _cited(dossier: Mapping[str, Any]) -> dict[str, _Cited]:
    """Every URL cited by the subject's or the dispute's events, once, numbered as first cited."""
    dispute = dossier.get("dispute")
    records = [("", r) for r in dossier.get("events") or []]
    if isinstance(dispute, Mapping):
        records += [("dispute ", r) for r in dispute.get("events") or []]
    for version in (dossier.get("changes") or {}).get("versions") or []:
        records += [("", r) for r in version.get("changed_by") or []]
    found: dict[str, _Cited] = {}
    for where, record in records:
        for item in record.get("evidence") or []:
            if not item.get("url"):
                continue
            cited = found.setdefault(str(item["url"]), _Cited(len(found) + 1))
            if item.get("sha256") and str(item["sha256"]) not in cited.digests:
                cited.digests.append(str(item["sha256"]))
            if f"{where}v{record.get('version')}" not in cited.by:
                cited.by.append(f"{where}v{record.get('version')}")
    return found


def _refs(record: Mapping[str, Any], cited: Mapping[str, _Cited]) -> str:
    """An event's evidence as E1, E2...: each links to its source, and the list says it in full."""
    refs = []
    for item in record.get("evidence") or []:
        url = str(item.get("url") or "")
        if url in cited:
            refs.append(link(url, f"E{cited[url].number}"))
    return " ".join(refs)


def _event_row(record: Mapping[str, Any], cited: Mapping[str, _Cited]) -> str:
    retracted = record.get("retracted_by")
    status = f"<br><em>retracted by v{esc(retracted)}</em>" if retracted is not None else ""
    row = "<tr>" if retracted is None else '<tr class="retracted">'
    return (
        f"{row}"
        f"<td>v{esc(record.get('version'))}</td>"
        f'<td class="what">{esc(_what(record))}</td>'
        f'<td class="t">{esc(moment(record.get("effective_at")))}<br>'
        f'<span class="muted">rec. {esc(moment(record.get("recorded_at")))}</span></td>'
        f'<td>{_by(record)}</td><td class="why">{esc(record.get("reason"))}{status}</td>'
        f"<td>{_refs(record, cited)}</td></tr>"
    )


def _by(record: Mapping[str, Any]) -> str:
    """Who wrote an event, and whom the imported line named (not verified by the ledger)."""
    attributed = record.get("attributed_to")
    said = f' <span class="muted">(attributed to {esc(attributed)})</span>' if attributed else ""
    return f"{esc(record.get('actor'))}{said}"


def _events(records: Any, cited: Mapping[str, _Cited]) -> str:
    headings = ("Version", "What", "Effective (recorded)", "By", "Reason", "Evidence")
    return _table(headings, (_event_row(r, cited) for r in records or []), "No events.")


def _change(record: Mapping[str, Any], cited: Mapping[str, _Cited]) -> str:
    """One event that changed the custody, as a sentence."""
    reason = f": \u201c{record['reason']}\u201d" if record.get("reason") else ""
    refs = _refs(record, cited)
    return (
        f"<li>v{esc(record.get('version'))} {esc(_what(record))}, effective "
        f"{esc(moment(record.get('effective_at')))}, recorded by {_by(record)}"
        f"{esc(reason)}{' ' + refs if refs else ''}</li>"
    )


def _changes(dossier: Mapping[str, Any], cited: Mapping[str, _Cited]) -> str:
    versions = (dossier.get("changes") or {}).get("versions") or []
    rows = (
        f"<tr><td>{esc(moment(v.get('known_at'), 'now'))}</td><td>{_custody(intervals_of(v))}</td>"
        f'<td><ul class="plain">{"".join(_change(r, cited) for r in v.get("changed_by") or [])}'
        "</ul></td></tr>"
        for v in versions
    )
    became = "The custody became" if office_of(dossier) is None else "The tenures became"
    table = _table(("Known at", became, "Changed by"), rows, "No change.")
    return section("changes", "How the record of the window changed", table)


def _speakers(dossier: Mapping[str, Any]) -> str:
    """An office's dossier: the accounts that spoke for it in the window, and how to ask for
    each one's own dossier (they rest on streams the office's dossier does not prove)."""
    if office_of(dossier) is None:
        return ""
    rows = []
    for a in dossier.get("accounts") or []:
        owner = a.get("owner") if isinstance(a.get("owner"), Mapping) else {}
        whose = str(a.get("ownership") or "")
        if owner:
            whose += f" ({owner.get('name') or owner.get('id')})"
        rows.append(
            f"<tr><td>{esc(moment(a.get('known_at'), 'now'))}</td>"
            f"<td><code>{esc(a.get('account_id'))}</code> on {esc(a.get('platform'))}</td>"
            f"<td>{esc(', '.join(handle_text(h) for h in a.get('handles') or []))}</td>"
            f"<td>{esc(whose)}</td>"
            f'<td class="t">{esc(moment(a.get("from")))} to {esc(moment(a.get("to")))}</td></tr>'
        )
    table = _table(
        ("As known at", "Account", "Handles", "Ownership", "Spoke for the office"),
        rows,
        "No account spoke for the office in the window.",
    )
    window = dossier.get("window") or {}
    ask = f"GET /v1/accounts/ACCOUNT_ID/dossier?from={window.get('from')}&to={window.get('to')}"
    note = (
        '<p class="muted">Shown, not proved: they rest on the accounts\' own streams, which '
        "this dossier does not hold. Each account's own dossier over the window proves its "
        f"part: <code>{esc(ask)}</code>.</p>"
    )
    return section("accounts", "Accounts that spoke for the office", note + table)


def _offices(offices: Sequence[Any]) -> str:
    """Each office's holders in the window, as its own record gave them over time."""
    parts = []
    for office in offices:
        tenures = office.get("tenures") or {} if isinstance(office, Mapping) else {}
        rows = (
            f"<tr><td>{esc(moment(v.get('known_at'), 'now'))}</td>"
            f"<td>{_custody(v.get('tenures') or [])}</td></tr>"
            for v in tenures.get("versions") or []
        )
        what = "No holder of the office is recorded in the window."
        parts.append(
            f"<h3>{esc(tenures.get('office'))}</h3>"
            + _table(("Known from", "Held the office in the window"), rows, what)
        )
    if not parts:
        return ""
    return section("offices", "Who held the office, as its own record says", "".join(parts))


def _dispute_events(dossier: Mapping[str, Any], cited: Mapping[str, _Cited]) -> str:
    dispute = dossier.get("dispute")
    if not isinstance(dispute, Mapping):
        return ""
    return section("dispute-events", "The dispute's events", _events(dispute.get("events"), cited))


def _other_disputes(disputes: Sequence[Mapping[str, Any]]) -> str:
    rows = (
        f"<tr><td><code>{esc(d.get('dispute_id'))}</code></td><td>{esc(d.get('claim'))}</td>"
        f"<td>{esc(window_text(d.get('window')))}</td><td>{esc(_verdict(d))}</td>"
        f"<td>{esc(moment(d.get('opened_at')))} by {esc(d.get('opened_by'))}</td></tr>"
        for d in disputes
    )
    table = _table(
        ("Dispute", "Claim", "Window", "Status", "Opened"),
        rows,
        "No other dispute about this subject meets the window.",
    )
    return section("other-disputes", "Other disputes about the subject", table)


def _evidence(cited: Mapping[str, _Cited]) -> str:
    items = "".join(
        f'<li id="evidence-{c.number}"><strong>E{c.number}</strong> {link(url)}'
        + "".join(f"<br>sha256 <code>{esc(d)}</code>" for d in c.digests)
        + f'<br><span class="muted">cited by {esc(", ".join(c.by))}</span></li>'
        for url, c in cited.items()
    )
    body = f'<ol class="evidence">{items}</ol>' if items else '<p class="muted">None cited.</p>'
    return section("evidence", "Evidence cited", body)


def _footer(dossier: Mapping[str, Any]) -> str:
    proofs = [_proof("the events", dossier.get("proof"))]
    if isinstance(dossier.get("dispute"), Mapping):
        proofs.append(_proof("the dispute", dossier.get("dispute_proof")))
    return (
        f"<footer><p>Generated at {esc(moment(dossier.get('generated_at'), 'an unknown time'))} "
        f"({esc(dossier.get('format'))}).</p><p>{'<br>'.join(proofs)}</p></footer>"
    )


def _proof(what: str, proof: Any) -> str:
    """One line on what a proof covers; the JSON dossier carries the proof itself."""
    if not isinstance(proof, Mapping):
        return esc(f"Not verifiable ({what}): no proof (the verifiable log was off).")
    try:
        checkpoint = Checkpoint.parse(parse_note(str(proof.get("checkpoint"))).text)
        of = f"checkpoint of {checkpoint.size} entries of {checkpoint.origin}"
    except NoteError:
        of = "unreadable checkpoint"
    return esc(f"Verifiable ({what}): {of}, {len(proof.get('entries') or [])} entries proved.")

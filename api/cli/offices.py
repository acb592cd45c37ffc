"""`custody office` and `custody findings`: what oversight asks of an office, on the terminal."""

from __future__ import annotations

import argparse
from datetime import datetime
from typing import Any

from api.cli import common
from api.cli.common import EXIT_OK, GLOBAL, add_row, opened, show, table, to_json
from api.http.office_schemas import FindingsPageOut, HandoversOut, OfficeOut
from ledger.fold import HolderRef
from ledger.oversight import KINDS
from projections.queries import MAX_PAGE
from projections.queries.views import FindingView, ObservedView, SideView


def office(args: argparse.Namespace) -> int:
    """The office at a time: holder, the accounts speaking for it (whose, and their audience),
    its handovers, and the findings in effect then."""
    at, known_at = common.time(args.at, "--at"), common.time(args.known_at, "--known-at")
    with opened(args) as container:
        offices = container.queries.offices
        view = offices.office_at(args.office, at, known_at)
        handovers = offices.handovers(args.office, known_at) if view.registered else None
    if args.json:
        body = OfficeOut.model_validate(view).model_dump(mode="json", by_alias=True)
        if handovers is not None:
            body["handovers"] = HandoversOut.model_validate(handovers).model_dump(
                mode="json", by_alias=True
            )["handovers"]
        print(to_json(body))
        return EXIT_OK
    when = f"at {_shown(view.at)}" + (f", as known at {_shown(known_at)}" if known_at else "")
    title = f"{view.office}" + (f": {view.name} ({view.jurisdiction})" if view.name else "")
    if not view.registered:
        held = "unknown (the office is named by accounts but not registered)"
    elif not view.tenure_known:
        held = "unknown (before the office's registration)"
    elif view.holder is None:
        held = "nobody (vacant)"
    else:
        held = f"{view.holder.name} ({view.holder.id}) since {_shown(view.holder.since)}"
    accounts = table("ACCOUNT", "HANDLE", "WHOSE", "FOLLOWERS", "OBSERVED")
    for a in view.accounts:
        add_row(accounts, str(a.account_id), f"@{a.handle} ({a.platform})", _whose(a),
                *_audience(a))  # fmt: skip
    parts: list[Any] = [f"{title}\n{when}\n  held by  {held}\n", accounts]
    if handovers is not None and handovers.handovers:
        rows = table("HANDOVER", "FROM", "TO", "RETAINED", "DEPARTED")
        for h in handovers.handovers:
            add_row(rows, _shown(h.at), _name(h.outgoing), _name(h.incoming),
                    _side(h.retained), _side(h.departed))  # fmt: skip
        parts += ["", rows]
    parts += ["", _findings_table(view.findings) if view.findings else "no findings in effect"]
    show(*parts)
    return EXIT_OK


def findings(args: argparse.Namespace) -> int:
    """The findings, office by office (in effect at --at, if given), every page of them."""
    at, known_at = common.time(args.at, "--at"), common.time(args.known_at, "--known-at")
    found: list[FindingView] = []
    with opened(args) as container:
        after = None
        while True:
            page = container.queries.offices.findings(
                jurisdiction=args.jurisdiction, office=args.office, kind=args.kind, at=at,
                known_at=known_at, after=after, limit=MAX_PAGE,
            )  # fmt: skip
            found += page.findings
            after = page.next_after
            if after is None:
                break
    if args.json:
        body = FindingsPageOut.model_validate({"findings": found, "next_after": None})
        print(to_json(body.model_dump(mode="json", by_alias=True)["findings"]))
        return EXIT_OK
    if not found:
        print("no findings")
        return EXIT_OK
    show(_findings_table(found), f"\n{len(found)} finding(s)")
    return EXIT_OK


def _findings_table(found: Any) -> Any:
    rows = table("OFFICE", "KIND", "ACCOUNT", "FROM", "TO", "FOLLOWERS", "DETAIL")
    for f in found:
        add_row(rows, f.office, f.kind, f"@{f.handle}" if f.handle else "",
                _shown(f.valid_from), _shown(f.valid_to),
                "" if f.followers is None else f"{f.followers:,}", f.detail)  # fmt: skip
    return rows


def _whose(a: ObservedView) -> str:
    if a.ownership == "personal" and a.owner is not None:
        return f"personal: {a.owner.name}"
    return "the office's"


def _audience(a: ObservedView) -> tuple[str, str]:
    if a.audience is None:
        return "", ""
    return f"{a.audience.followers:,}", _shown(a.audience.observed_at)


def _side(side: SideView) -> str:
    if not side.accounts:
        return "-"
    handles = ", ".join(f"@{a.handle}" for a in side.accounts)
    unknown = f", {side.unobserved} unobserved" if side.unobserved else ""
    return f"{handles} ({side.followers:,} followers{unknown})"


def _name(holder: HolderRef | None) -> str:
    return "(vacant)" if holder is None else holder.name


def _shown(value: datetime | None) -> str:
    return "(open)" if value is None else f"{value:%Y-%m-%d}"


def add_commands(sub: Any) -> None:
    s = sub.add_parser(
        "office",
        parents=[GLOBAL],
        help="an office at a time: holder, accounts, handovers, findings",
    )
    s.add_argument("office", help="the office's key, e.g. pk-dg-ispr")
    s.add_argument("--at", help="valid time: RFC 3339 with an offset, or a date; default now")
    s.add_argument("--known-at", help="as the ledger knew it then (RFC 3339 or a date)")
    s.add_argument("--json", action="store_true", help="the answer as JSON, as the API writes it")
    s.set_defaults(func=office)

    s = sub.add_parser(
        "findings",
        parents=[GLOBAL],
        help="what the record shows about offices: personal handles, departed audiences...",
    )
    s.add_argument("--jurisdiction", help="ISO 3166 code (a country takes in its subdivisions)")
    s.add_argument("--office", help="only this office")
    s.add_argument("--kind", choices=KINDS, help="only findings of this kind")
    s.add_argument("--at", help="only findings in effect then (RFC 3339 or a date)")
    s.add_argument("--known-at", help="as the ledger knew it then (RFC 3339 or a date)")
    s.add_argument(
        "--json", action="store_true", help="the findings as JSON, as the API writes them"
    )
    s.set_defaults(func=findings)

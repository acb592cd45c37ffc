"""`custody who` and `custody history`: the read models' answers on the terminal."""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict
from typing import Any
from uuid import UUID

from api.cli import common
from api.cli.common import ACCOUNT_ID_RE, EXIT_OK, EXIT_REFUSED, add_row, opened, stdout, table

WRITE_ONLY = ("orphaned", "replayed")


def who(args: argparse.Namespace) -> int:
    """Who held the account that carried HANDLE at a time, with the events behind the answer."""
    platform, handle = common.platform(args.platform), common.handle(args.handle)
    at, known_at = common.time(args.at, "--at"), common.time(args.known_at, "--known-at")
    with opened(args) as container:
        answer = container.queries.handle_at(platform, handle, at, known_at)
    when = f"at {answer.at.isoformat()}" + (
        f", as known at {answer.known_at.isoformat()}" if answer.known_at else ""
    )
    if answer.account is None:
        print(f"no account carried @{answer.handle} on {answer.platform} {when}")
        return EXIT_REFUSED
    a = answer.account
    holder = (
        f"{a.holder.name} ({a.holder.id}) since {a.holder.since:%Y-%m-%d %H:%M}Z"
        if a.holder
        else "nobody (vacant)"
    )
    print(f"@{answer.handle} on {answer.platform} {when}:")
    print(f"  account  {a.account_id} ({a.status}), office {a.office}")
    print(f"  held by  {holder}")
    print("  because:")
    for p in sorted({*answer.established_by, *a.established_by}, key=lambda p: p.version):
        recorded = f"{p.recorded_at:%Y-%m-%d %H:%M:%S}Z"
        print(f"    v{p.version:<3} {p.type:<20} recorded {recorded} by {p.actor}")
    return EXIT_OK


def history(args: argparse.Namespace) -> int:
    """An account's custody timeline and event log, by account id or handle."""
    platform = common.platform(args.platform)
    is_id = ACCOUNT_ID_RE.fullmatch(args.account) is not None
    handle = None if is_id else common.handle(args.account)
    with opened(args) as container:
        q = container.queries
        if handle is None:
            account_id = UUID(args.account)
        else:
            answer = q.handle_at(platform, handle)
            carried = q.handle_history(platform, handle)
            if answer.account is not None:
                account_id = answer.account.account_id
            elif carried:
                account_id = carried[-1].account_id
            else:
                print(f"custody: @{answer.handle} is not carried by any account", file=sys.stderr)
                return EXIT_REFUSED
        timeline = q.custody_timeline(account_id)
        events = q.events(account_id)
    if args.json:
        # An event record as the API lists it: `orphaned` and `replayed` describe a write's
        # answer, not a stored event.
        records = [{k: v for k, v in asdict(e).items() if k not in WRITE_ONLY} for e in events]
        body = {"custody": asdict(timeline), "events": records}
        print(json.dumps(body, default=str, indent=2))
        return EXIT_OK
    out = stdout()
    out.print(f"account {account_id}\n")
    intervals = table("HOLDER", "FROM", "TO", "HANDLES / OFFICES")
    for iv in timeline.intervals:
        to = f"{iv.valid_to:%Y-%m-%d %H:%M}" if iv.valid_to else "(open)"
        where = f"{', '.join(iv.handles)} / {', '.join(iv.offices)}"
        add_row(intervals, iv.holder.name, f"{iv.valid_from:%Y-%m-%d %H:%M}", to, where)
    out.print(intervals)
    log = table("V", "TYPE", "EFFECTIVE", "RECORDED", "BY", "DETAIL")
    for e in events:
        mark = f" [retracted by v{e.retracted_by}]" if e.retracted_by else ""
        add_row(
            log,
            str(e.version),
            e.type,
            f"{e.effective_at:%Y-%m-%d %H:%M}",
            f"{e.recorded_at:%Y-%m-%d %H:%M}",
            e.actor,
            json.dumps(e.data, sort_keys=True) + mark,
        )
    out.print()
    out.print(log)
    return EXIT_OK


def add_commands(sub: Any) -> None:
    s = sub.add_parser("who", help="who held the account that carried a handle")
    s.add_argument("handle")
    s.add_argument("--platform", required=True, help="platform key, e.g. x")
    s.add_argument("--at", help="valid time (RFC 3339 with offset); default now")
    s.add_argument("--known-at", help="record time (RFC 3339 with offset); default now")
    s.set_defaults(func=who)

    s = sub.add_parser("history", help="custody timeline and event log of an account")
    s.add_argument(
        "account",
        metavar="ACCOUNT_ID_OR_HANDLE",
        help="an account id (8-4-4-4-12 hex digits); anything else is a handle",
    )
    s.add_argument("--platform", default="x", help="platform of a handle (default x)")
    s.add_argument("--json", action="store_true")
    s.set_defaults(func=history)

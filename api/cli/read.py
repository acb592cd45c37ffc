"""`custody who` and `custody history`: the read models' answers on the terminal."""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict, replace
from datetime import datetime
from typing import Any
from uuid import UUID

from api.cli import common
from api.cli.common import (
    ACCOUNT_ID_RE,
    EXIT_OK,
    EXIT_REFUSED,
    GLOBAL,
    PLATFORM_DEFAULT,
    add_row,
    opened,
    show,
    table,
    to_json,
)
from ledger.records import EventRecord
from projections.queries import QueryService
from projections.queries.views import CustodyIntervalView

WRITE_ONLY = ("orphaned", "replayed")  # a write's answer, not part of a stored event's record


def who(args: argparse.Namespace) -> int:
    """Who held the account that carried HANDLE at a time, with the events behind the answer."""
    platform, handle = common.platform(args.platform), common.handle(args.handle)
    at, known_at = common.time(args.at, "--at"), common.time(args.known_at, "--known-at")
    with opened(args) as container:
        answer = container.queries.handle_at(platform, handle, at, known_at)
    when = f"at {_shown(answer.at)}" + (
        f", as known at {_shown(answer.known_at)}" if answer.known_at else ""
    )
    if answer.account is None:
        print(f"no account carried @{answer.handle} on {answer.platform} {when}")
        return EXIT_REFUSED
    a = answer.account
    holder = (
        f"{a.holder.name} ({a.holder.id}) since {_shown(a.holder.since)}"
        if a.holder and a.holder.since
        else "nobody (vacant)"
    )
    print(f"@{answer.handle} on {answer.platform} {when}:")
    print(f"  account  {a.account_id} ({a.status}), office {a.office}")
    print(f"  held by  {holder}")
    print("  because:")
    for p in sorted({*answer.established_by, *a.established_by}, key=lambda p: p.version):
        print(f"    v{p.version:<3} {p.type:<20} recorded {_shown(p.recorded_at)} by {p.actor}")
    return EXIT_OK


def history(args: argparse.Namespace) -> int:
    """A handle's life across the accounts that carried it, or an account's custody timeline
    and event log; as known at --known-at, with the holder at --at marked."""
    platform = common.platform(args.platform)
    at, known_at = common.time(args.at, "--at"), common.time(args.known_at, "--known-at")
    if ACCOUNT_ID_RE.fullmatch(args.account) is None:
        handle = common.handle(args.account)
        with opened(args) as container:
            return _handle_life(container.queries, platform, handle, at, known_at, args.json)
    account_id = UUID(args.account)
    with opened(args) as container:
        timeline = container.queries.custody_timeline(account_id, known_at)
        events = _as_known(container.queries.events(account_id), known_at)
    if args.json:
        records = [{k: v for k, v in asdict(e).items() if k not in WRITE_ONLY} for e in events]
        print(to_json({"custody": asdict(timeline), "events": records}))
        return EXIT_OK
    known = f", as known at {_shown(known_at)}" if known_at else ""
    intervals = _intervals(timeline.intervals, at)
    log = table("V", "TYPE", "EFFECTIVE", "RECORDED", "BY", "DETAIL")
    for e in events:
        mark = f" [retracted by v{e.retracted_by}]" if e.retracted_by else ""
        detail = json.dumps(e.data, sort_keys=True, ensure_ascii=False)
        add_row(log, str(e.version), e.type, _shown(e.effective_at), _shown(e.recorded_at),
                common.recorded_by(e.actor, e.attributed_to), detail + mark)  # fmt: skip
    show(f"account {account_id}{known}\n", intervals, "", log)
    return EXIT_OK


def _handle_life(
    q: QueryService,
    platform: str,
    handle: str,
    at: datetime | None,
    known_at: datetime | None,
    as_json: bool,
) -> int:
    """Every account that carried the handle, when, and who held each meanwhile."""
    carried = q.handle_history(platform, handle, known_at)
    if not carried:
        print(f"custody: @{handle.lstrip('@')} is not carried by any account on {platform}",
              file=sys.stderr)  # fmt: skip
        return EXIT_REFUSED
    timelines = {c.account_id: q.custody_timeline(c.account_id, known_at) for c in carried}
    spans = []
    for c in carried:
        held = [
            iv
            for iv in timelines[c.account_id].intervals
            if (c.valid_to is None or iv.valid_from < c.valid_to)
            and (iv.valid_to is None or iv.valid_to > c.valid_from)
        ]
        spans.append((c, held))
    if as_json:
        body = {
            "platform": platform,
            "handle": carried[0].handle,
            "known_at": known_at,
            "carried": [{**asdict(c), "custody": [asdict(iv) for iv in held]} for c, held in spans],
        }
        print(to_json(body))
        return EXIT_OK
    known = f", as known at {_shown(known_at)}" if known_at else ""
    rows = table("ACCOUNT", "CARRIED FROM", "TO", "HOLDER", "HELD FROM", "TO")
    for c, held in spans:
        first = True
        cells: list[CustodyIntervalView | None] = [*held] or [None]
        for iv in cells:
            where = (str(c.account_id), _shown(c.valid_from), _shown(c.valid_to)) if first else (
                "", "", "")  # fmt: skip
            first = False
            if iv is None:
                add_row(rows, *where, "nobody", "", "")
                continue
            start = max(iv.valid_from, c.valid_from)
            ends = [t for t in (iv.valid_to, c.valid_to) if t is not None]
            name = iv.holder.name + (" <- at" if _contains(iv, at) and _within(c, at) else "")
            add_row(rows, *where, name, _shown(start), _shown(min(ends) if ends else None))
    show(
        f"@{carried[0].handle} on {platform}{known}\n",
        rows,
        "\nAn account's own timeline and events: custody history ACCOUNT_ID",
    )
    return EXIT_OK


def _intervals(intervals: tuple[CustodyIntervalView, ...], at: datetime | None) -> Any:
    rows = table("HOLDER", "FROM", "TO", "HANDLES / OFFICES")
    for iv in intervals:
        where = f"{', '.join(iv.handles)} / {', '.join(iv.offices)}"
        name = iv.holder.name + (" <- at" if _contains(iv, at) else "")
        add_row(rows, name, _shown(iv.valid_from), _shown(iv.valid_to), where)
    return rows


def _as_known(events: tuple[EventRecord, ...], known_at: datetime | None) -> list[EventRecord]:
    """The records as the ledger held them at `known_at`: later events left out, and a
    retraction recorded later not yet marked."""
    if known_at is None:
        return list(events)
    kept = {e.version: e for e in events if e.recorded_at <= known_at}
    return [
        e if e.retracted_by is None or e.retracted_by in kept else _unmarked(e)
        for e in kept.values()
    ]


def _unmarked(record: EventRecord) -> EventRecord:
    return replace(record, retracted_by=None)


def _contains(iv: CustodyIntervalView, at: datetime | None) -> bool:
    return at is not None and iv.valid_from <= at and (iv.valid_to is None or at < iv.valid_to)


def _within(carried: Any, at: datetime | None) -> bool:
    return (
        at is not None
        and carried.valid_from <= at
        and (carried.valid_to is None or at < carried.valid_to)
    )


def _shown(value: datetime | None) -> str:
    return "(open)" if value is None else f"{value:%Y-%m-%d %H:%M}"


def add_commands(sub: Any) -> None:
    s = sub.add_parser("who", parents=[GLOBAL], help="who held the account that carried a handle")
    s.add_argument("handle")
    s.add_argument("--platform", default=PLATFORM_DEFAULT, help="platform key (default x)")
    s.add_argument("--at", help="valid time: RFC 3339 with an offset, or a date; default now")
    s.add_argument("--known-at", help="record time (RFC 3339 or a date); default now")
    s.set_defaults(func=who)

    s = sub.add_parser(
        "history",
        parents=[GLOBAL],
        help="a handle's life across accounts, or an account's timeline and events",
    )
    s.add_argument(
        "account",
        metavar="HANDLE_OR_ACCOUNT_ID",
        help="a handle (its life across the accounts that carried it), or an account id "
        "(8-4-4-4-12 hex digits: its custody timeline and event log)",
    )
    s.add_argument("--platform", default=PLATFORM_DEFAULT, help="platform of a handle (default x)")
    s.add_argument("--at", help="mark who held it at this time (RFC 3339 or a date)")
    s.add_argument("--known-at", help="as the ledger knew it then (RFC 3339 or a date)")
    s.add_argument("--json", action="store_true", help="the answer as JSON, as the API writes it")
    s.set_defaults(func=history)

"""`custody changes`: how the answer about a window of valid time changed, record time by record
time: an account's custody, a handle's carriers or an office's tenures."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from datetime import datetime
from typing import Any
from uuid import UUID

from api.cli import common
from api.cli.common import (
    ACCOUNT_ID_RE,
    EXIT_OK,
    GLOBAL,
    PLATFORM_DEFAULT,
    BadUsage,
    add_row,
    opened,
    plural,
    show,
    table,
    to_json,
)
from api.http.change_schemas import CustodyChangesOut, HandleChangesOut, TenureChangesOut
from ledger.changes import Window
from ledger.errors import InvalidInput
from ledger.records import EventRecord
from projections.queries.views import (
    ChangeVersion,
    CustodyChanges,
    CustodyIntervalView,
    HandleChanges,
    HandleIntervalView,
    TenureChanges,
    TenureSpanView,
)


def changes(args: argparse.Namespace) -> int:
    """Each record time at which the answer for the window changed, the answer from then on,
    and the events that changed it."""
    window = _window(args.from_, args.to)
    start, end = window.valid_from, window.valid_to
    with opened(args) as container:
        q = container.queries
        answer: CustodyChanges | HandleChanges | TenureChanges
        if args.account is not None:
            answer = q.custody_changes(_account_id(args.account), start, end)
        elif args.handle is not None:
            answer = q.handle_changes(*_handle(args.handle, args.platform), start, end)
        else:
            answer = q.tenure_changes(args.office, start, end)
    if args.json:
        print(to_json(_body(answer)))
        return EXIT_OK
    span = f"{_shown(start)} to {_shown(end)}"
    if isinstance(answer, CustodyChanges):
        title = f"account {answer.account_id}: its holders from {span}"
        rows = table("KNOWN AT", "HOLDER", "FROM", "TO", "HANDLES / OFFICES", "CHANGED BY")
    elif isinstance(answer, HandleChanges):
        title = f"@{answer.handle} on {answer.platform}: the accounts carrying it from {span}"
        rows = table("KNOWN AT", "ACCOUNT", "AS", "FROM", "TO", "CHANGED BY")
    else:
        title = f"{answer.office}: its holders from {span}"
        rows = table("KNOWN AT", "HOLDER", "FROM", "TO", "CHANGED BY")
    versions: Sequence[ChangeVersion[Any]] = answer.versions
    for v in versions:
        cells = [_cells(iv) for iv in v.intervals] or [_nobody(answer)]
        for n, cell in enumerate(cells):
            by = _changed_by(v, isinstance(answer, HandleChanges))
            add_row(rows, *((_recorded(v.known_at), *cell, by) if n == 0 else ("", *cell, "")))
    if not versions:
        show(f"{title}\nno version: as known at any time, the answer for that window was empty")
        return EXIT_OK
    show(f"{title} ({plural(len(versions), 'version')}, oldest first)\n", rows)
    return EXIT_OK


def _body(answer: CustodyChanges | HandleChanges | TenureChanges) -> Any:
    """The answer as the API writes it."""
    if isinstance(answer, CustodyChanges):
        out: Any = CustodyChangesOut.model_validate(answer)
    elif isinstance(answer, HandleChanges):
        out = HandleChangesOut.model_validate(answer)
    else:
        out = TenureChangesOut.model_validate(answer)
    return out.model_dump(mode="json", by_alias=True)


def _cells(iv: CustodyIntervalView | HandleIntervalView | TenureSpanView) -> tuple[str, ...]:
    when = (_shown(iv.valid_from), _shown(iv.valid_to))
    if isinstance(iv, CustodyIntervalView):
        return iv.holder.name, *when, f"{', '.join(iv.handles)} / {', '.join(iv.offices)}"
    if isinstance(iv, HandleIntervalView):
        return str(iv.account_id), f"@{iv.handle}", *when
    return iv.holder.name, *when


def _nobody(answer: CustodyChanges | HandleChanges | TenureChanges) -> tuple[str, ...]:
    if isinstance(answer, CustodyChanges):
        return "nobody", "", "", ""
    if isinstance(answer, HandleChanges):
        return "none", "", "", ""
    return "nobody", "", ""


def _changed_by(v: ChangeVersion[Any], named: bool) -> str:
    """The events behind a version: `v3 holder_assigned`, marked when it is their retraction
    that was recorded then; `named`: each after its account's id (a handle's accounts)."""
    return "; ".join(_event(r, v.known_at, named) for r in v.changed_by)


def _event(r: EventRecord, known_at: datetime, named: bool) -> str:
    text = f"v{r.version} {r.type}"
    if r.recorded_at != known_at:
        text += f" (retracted by v{r.retracted_by})"
    return f"{r.account_id} {text}" if named else text


def _window(start: str, end: str) -> Window:
    from_, to = common.time(start, "--from"), common.time(end, "--to")
    assert from_ is not None and to is not None  # both required by the parser
    try:
        return Window(from_, to)
    except InvalidInput:
        raise BadUsage(f"--to ({end}) must be after --from ({start})") from None


def _account_id(value: str) -> UUID:
    if ACCOUNT_ID_RE.fullmatch(value) is None:
        raise BadUsage(f"--account {value!r} is not an account id (8-4-4-4-12 hex digits)")
    return UUID(value)


def _handle(value: str, platform: str) -> tuple[str, str]:
    """PLATFORM/HANDLE, or HANDLE on --platform."""
    if "/" in value:
        platform, _, value = value.partition("/")
    return common.platform(platform), common.handle(value)


def _recorded(value: datetime) -> str:
    return f"{value:%Y-%m-%d %H:%M:%S}" + (f".{value:%f}" if value.microsecond else "")


def _shown(value: datetime | None) -> str:
    return "(open)" if value is None else f"{value:%Y-%m-%d %H:%M}"


def add_commands(sub: Any) -> None:
    s = sub.add_parser(
        "changes",
        parents=[GLOBAL],
        help="how the answer about a window of valid time changed, record time by record time",
        description="Each record time at which the answer for the window [--from, --to) "
        "changed, the answer from then on, and the events recorded (or retracted) then.",
    )
    subject = s.add_mutually_exclusive_group(required=True)
    subject.add_argument("--account", metavar="ID", help="an account's custody")
    subject.add_argument(
        "--handle",
        metavar="[PLATFORM/]HANDLE",
        help="the accounts carrying a handle (the platform is x unless given or --platform)",
    )
    subject.add_argument("--office", metavar="KEY", help="an office's tenures")
    s.add_argument(
        "--from",
        dest="from_",
        required=True,
        help="valid time the window begins: RFC 3339 with an offset, or a date",
    )
    s.add_argument("--to", required=True, help="valid time the window ends (exclusive)")
    s.add_argument("--platform", default=PLATFORM_DEFAULT, help="platform of a handle (default x)")
    s.add_argument("--json", action="store_true", help="the answer as JSON, as the API writes it")
    s.set_defaults(func=changes)

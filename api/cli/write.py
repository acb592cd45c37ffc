"""`custody append`: one custody event from the command line, under the same rules as the
API's `POST /v1/accounts/{id}/events` (If-Match, Idempotency-Key included)."""

from __future__ import annotations

import argparse
from dataclasses import asdict
from typing import Any
from uuid import UUID

from api.cli import common
from api.cli.common import (
    ACCOUNT_ID_RE,
    EXIT_OK,
    GLOBAL,
    PLATFORM_DEFAULT,
    BadUsage,
    api_time,
    default_actor,
    opened,
    to_json,
)
from ledger.commands import COMMANDS, RegisterAccount, parse_command
from ledger.errors import InvalidInput, NotFound

TYPES = sorted(t for t, cls in COMMANDS.items() if cls is not RegisterAccount)
# Each event type's own options, as the request body's fields.
FIELDS = {
    "holder_id": ("holder", "id"),
    "holder_name": ("holder", "name"),
    "handle": ("handle",),
    "office": ("office",),
    "archive_ref": ("archive", "ref"),
    "archive_sha256": ("archive", "sha256"),
    "archive_items": ("archive", "items"),
    "event_version": ("event_version",),
}


def append(args: argparse.Namespace) -> int:
    """Append one event to an account (by id, or by the handle it carries now)."""
    effective_at = common.time(args.effective_at, "--effective-at")
    body: dict[str, Any] = {
        "type": args.type,
        "effective_at": effective_at,
        "reason": args.reason,
        "evidence": [{"url": url} for url in args.evidence or ()],
    }
    for option, path in FIELDS.items():
        value = getattr(args, option)
        if value is not None:
            *outer, last = path
            target = body
            for key in outer:
                target = target.setdefault(key, {})
            target[last] = value
    try:
        command = parse_command(body)
    except InvalidInput as e:
        raise BadUsage(f"{args.type}: {_as_options(e)}") from None
    with opened(args) as container:
        account_id = _account(container, args.account, common.platform(args.platform))
        record = container.ledger.append(
            account_id,
            command,  # type: ignore[arg-type]  # parse_command refuses a registration here
            actor=args.actor,
            expected_version=args.if_match,
            idempotency_key=args.idempotency_key,
        )
    if args.json:
        print(to_json({k: v for k, v in asdict(record).items() if k not in ("orphaned",)}))
        return EXIT_OK
    again = " (an earlier request with this key; nothing new written)" if record.replayed else ""
    print(
        f"recorded v{record.version} {record.type} on account {record.account_id} at log "
        f"position {record.position}: effective {api_time(record.effective_at)}, recorded "
        f"{api_time(record.recorded_at)} by {record.actor}{again}"
    )
    if record.orphaned:
        print(f"it leaves v{', v'.join(map(str, record.orphaned))} without effect")
    return EXIT_OK


GROUPS = {
    "holder": "--holder-id and --holder-name",
    "archive": "--archive-ref, --archive-sha256 and --archive-items",
}


def _as_options(error: InvalidInput) -> str:
    """The refusal in the command line's words: `--holder-name: Field required`, not the
    request body's `holder.name`; a field the type does not take is an option it does not."""
    options = {".".join(path): "--" + name.replace("_", "-") for name, path in FIELDS.items()}
    options |= {"effective_at": "--effective-at", "reason": "--reason", **GROUPS}
    if not error.errors:
        return error.detail
    said = []
    for loc, message in error.errors:
        where = ".".join(str(p) for p in loc)
        top = str(loc[0]) if loc else ""
        if where.startswith("evidence"):
            said.append(f"--evidence: {message}")
        elif message.startswith("Extra inputs"):
            given = GROUPS.get(top, f"--{top.replace('_', '-')}")
            said.append(f"{given} does not go with this event type")
        else:
            said.append(f"{options.get(where, where)}: {message}")
    return "; ".join(dict.fromkeys(said))


def _account(container: Any, given: str, platform: str) -> UUID:
    """The account an id names, or the one carrying a handle now."""
    if ACCOUNT_ID_RE.fullmatch(given):
        return UUID(given)
    answer = container.queries.handle_at(platform, common.handle(given))
    if answer.account is None:
        raise NotFound(
            f"no account carries @{answer.handle} on {platform} now; name the account by its "
            "id (custody history HANDLE lists the accounts that carried it)"
        )
    account_id: UUID = answer.account.account_id
    return account_id


def add_commands(sub: Any) -> None:
    s = sub.add_parser(
        "append",
        parents=[GLOBAL],
        help="append one custody event to an account (the API's rules)",
        description="Append one custody event. Examples: "
        "custody append @POTUS holder_assigned --holder-id joe-biden "
        "--holder-name 'Joseph R. Biden Jr.' --effective-at 2021-01-20T17:00:00Z; "
        "custody append ACCOUNT_ID event_retracted --event-version 3 --reason 'wrong date'",
    )
    s.add_argument("account", metavar="ACCOUNT", help="an account id, or the handle it carries now")
    s.add_argument("type", choices=TYPES, metavar="TYPE", help=", ".join(TYPES))
    s.add_argument("--effective-at", required=True, help="when it took effect (RFC 3339 or a date)")
    s.add_argument("--reason", default="", help="why, in a sentence")
    s.add_argument("--evidence", action="append", metavar="URL", help="a source (repeatable)")
    s.add_argument("--holder-id", help="holder_assigned: the person's id")
    s.add_argument("--holder-name", help="holder_assigned: the person's name")
    s.add_argument("--handle", help="handle_renamed: the new handle")
    s.add_argument("--office", help="office_transferred: the office that now owns the account")
    s.add_argument("--archive-ref", help="history_archived: where the archive is")
    s.add_argument("--archive-sha256", help="history_archived: the archive's SHA-256")
    s.add_argument("--archive-items", type=int, help="history_archived: how many posts")
    s.add_argument("--event-version", type=int, help="event_retracted: the version retracted")
    s.add_argument("--platform", default=PLATFORM_DEFAULT, help="platform of a handle (default x)")
    s.add_argument("--if-match", type=int, metavar="VERSION",
                   help="refuse unless the account is at this version (as If-Match)")  # fmt: skip
    s.add_argument("--idempotency-key", metavar="KEY",
                   help="a retry with the same key writes nothing new (as Idempotency-Key)")  # fmt: skip
    s.add_argument(
        "--actor", default=default_actor("cli"), help="who records it (default cli:USER)"
    )
    s.add_argument("--json", action="store_true", help="print the event record as JSON")
    s.set_defaults(func=append)

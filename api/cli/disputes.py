"""`custody dispute open|show|evidence|withdraw|resolve|list`: disputes from the terminal, under
the ledger's rules (the command line is the operator's door: no token roles)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any
from uuid import UUID

from api.cli import common
from api.cli.common import (
    ACCOUNT_ID_RE,
    EXIT_OK,
    GLOBAL,
    BadUsage,
    add_row,
    api_time,
    default_actor,
    opened,
    recorded_by,
    show,
    table,
    to_json,
)
from api.dossier.html import to_html
from api.dossier.pdf import ChromiumMissing, find_chromium, to_pdf
from api.dossier.prov import prov_json
from api.http.dispute_schemas import DisputeEventOut, DisputeOut, DisputePageOut
from api.http.dossier_schemas import dossier_body
from ledger.dispute_commands import AddEvidence, OpenDispute, Resolve, Withdraw
from ledger.errors import InvalidInput
from projections.queries import MAX_PAGE
from projections.queries.views import DisputeSummary, DisputeView


def dispute_open(args: argparse.Namespace) -> int:
    """Open a dispute about an account or an office over a window of valid time."""
    if (args.account is None) == (args.office is None):
        raise BadUsage("name the subject: --account ID or --office KEY")
    body: dict[str, Any] = {
        "subject": {"account_id": args.account} if args.account else {"office": args.office},
        "window": {
            "from": common.time(args.from_, "--from"),
            "to": common.time(args.to, "--to"),
        },
        "claim": args.claim,
        "contested": [_contested(c) for c in args.contested or ()],
        "evidence": [{"url": url} for url in args.evidence or ()],
    }
    command = _parsed(OpenDispute, body)
    with opened(args) as container:
        record = container.ledger.open_dispute(
            command, actor=args.actor, idempotency_key=args.idempotency_key
        )
        view = container.queries.disputes.dispute(record.account_id)
    return _shown(view, args.json)


def dispute_show(args: argparse.Namespace) -> int:
    """The dispute as known at --known-at (default now), with its events."""
    known_at = common.time(args.known_at, "--known-at")
    with opened(args) as container:
        view = container.queries.disputes.dispute(_id(args.dispute), known_at)
    return _shown(view, args.json)


def dispute_evidence(args: argparse.Namespace) -> int:
    command = _parsed(
        AddEvidence, {"evidence": [{"url": u} for u in args.evidence], "note": args.note}
    )
    return _append(args, command)


def dispute_withdraw(args: argparse.Namespace) -> int:
    return _append(args, _parsed(Withdraw, {"note": args.note}))


def dispute_resolve(args: argparse.Namespace) -> int:
    corrections: list[Any] = []
    if args.corrections is not None:
        try:
            corrections = json.loads(Path(args.corrections).read_text())
        except OSError as e:
            raise BadUsage(f"--corrections: cannot read {args.corrections}: {e.strerror}") from None
        except ValueError as e:
            raise BadUsage(f"--corrections: {args.corrections} is not JSON: {e}") from None
        if not isinstance(corrections, list):
            raise BadUsage("--corrections: a JSON list of event requests")
    body = {"outcome": args.outcome, "ruling": args.ruling, "corrections": corrections}
    return _append(args, _parsed(Resolve, body))


def dispute_list(args: argparse.Namespace) -> int:
    """Every dispute matching the filters, as known now, oldest opened first."""
    account = _id(args.account) if args.account else None
    found: list[DisputeSummary] = []
    with opened(args) as container:
        after = None
        while True:
            page = container.queries.disputes.disputes(
                status=args.status, account_id=account, office=args.office, after=after,
                limit=MAX_PAGE,
            )  # fmt: skip
            found += page.disputes
            after = page.next_cursor
            if after is None:
                break
    if args.json:
        body = DisputePageOut.model_validate({"disputes": found, "next_cursor": None})
        print(to_json(body.model_dump(mode="json", by_alias=True)["disputes"]))
        return EXIT_OK
    if not found:
        print("no disputes")
        return EXIT_OK
    rows = table("DISPUTE", "SUBJECT", "WINDOW", "STATUS", "OPENED", "CLAIM")
    for d in found:
        subject = str(d.subject_account) if d.subject_account else f"office {d.subject_office}"
        status = d.status + (f" ({d.outcome})" if d.outcome else "")
        add_row(rows, str(d.dispute_id), subject, _window(d.window_from, d.window_to), status,
                f"{api_time(d.opened_at)} by {d.opened_by}", d.claim)  # fmt: skip
    show(rows)
    return EXIT_OK


def dossier(args: argparse.Namespace) -> int:
    """A dispute's dossier, or an account's over a window: JSON (verifiable), PROV-JSON or a
    printable page, to stdout or --out; --pdf prints the page to PDF with headless Chromium."""
    if (args.dispute is None) == (args.account is None):
        raise BadUsage("name a DISPUTE_ID, or --account ID with --from and --to")
    if args.account is not None and (args.from_ is None or args.to is None):
        raise BadUsage("an account's dossier needs --from and --to (its valid-time window)")
    with opened(args) as container:
        service = container.dossiers
        if args.dispute is not None:
            built = service.for_dispute(_id(args.dispute))
        else:
            start, end = common.time(args.from_, "--from"), common.time(args.to, "--to")
            assert start is not None and end is not None
            built = service.for_account(_id(args.account), start, end)
        chromium = container.settings.chromium
    body = dossier_body(built)
    rendered = {"json": lambda: to_json(body), "prov": lambda: prov_json(body),
                "html": lambda: to_html(body)}[args.format]()  # fmt: skip
    if args.pdf is not None:
        browser = find_chromium(chromium)
        if browser is None:
            raise ChromiumMissing(chromium)  # a CUSTODY_CHROMIUM that is not there is said so
        to_pdf(to_html(body), Path(args.pdf), chromium=browser)
        print(f"wrote {args.pdf}", file=sys.stderr)
    if args.out is not None:
        try:
            Path(args.out).write_text(rendered + "\n", encoding="utf-8")
        except OSError as e:
            raise BadUsage(f"--out: cannot write {args.out}: {e.strerror}") from None
        print(f"wrote {args.out}", file=sys.stderr)
    elif args.pdf is None:
        print(rendered)
    return EXIT_OK


def _append(args: argparse.Namespace, command: Any) -> int:
    with opened(args) as container:
        record, corrections = container.ledger.append_dispute(
            _id(args.dispute),
            command,
            actor=args.actor,
            expected_version=args.if_match,
            idempotency_key=args.idempotency_key,
        )
    if args.json:
        body = DisputeEventOut.model_validate({"event": record, "corrections": corrections})
        print(to_json(body.model_dump(mode="json", by_alias=True)))
        return EXIT_OK
    print(
        f"recorded v{record.version} {record.type} on dispute {record.account_id} at "
        f"{api_time(record.recorded_at)} by {record.actor}"
    )
    for c in corrections:
        print(f"  with correction v{c.version} {c.type} on {c.office or c.account_id}")
    return EXIT_OK


def _shown(view: DisputeView, as_json: bool) -> int:
    if as_json:
        print(to_json(DisputeOut.model_validate(view).model_dump(mode="json", by_alias=True)))
        return EXIT_OK
    subject = (
        f"account {view.subject_account}"
        if view.subject_account
        else f"office {view.subject_office}"
    )
    status = view.status + (f", {view.outcome}" if view.outcome else "")
    head = (
        f"dispute {view.dispute_id} ({status})\n"
        f"  about    {subject}, {_window(view.window_from, view.window_to)}\n"
        f"  claim    {view.claim}\n"
        f"  opened   {api_time(view.opened_at)} by {view.opened_by}\n"
    )
    if view.ruling is not None:
        head += f"  ruling   {view.ruling}\n"
    events = table("V", "TYPE", "RECORDED", "BY", "EVIDENCE")
    for e in view.events:
        add_row(events, str(e.version), e.type, api_time(e.recorded_at),
                recorded_by(e.actor, e.attributed_to),
                " ".join(str(x.get("url")) for x in e.evidence))  # fmt: skip
    show(head, events)
    return EXIT_OK


def _parsed(cls: Any, body: dict[str, Any]) -> Any:
    try:
        return cls.parse(body)
    except InvalidInput as e:
        raise BadUsage(e.detail) from None


def _contested(value: str) -> dict[str, Any]:
    """`ACCOUNT_ID:VERSION` or `OFFICE:VERSION`."""
    stream, _, version = value.rpartition(":")
    if not stream or not version.isdigit():
        raise BadUsage(f"--contested {value!r}: give STREAM:VERSION (an account id or office)")
    key = "account_id" if ACCOUNT_ID_RE.fullmatch(stream) else "office"
    return {key: stream, "version": int(version)}


def _id(value: str) -> UUID:
    if not ACCOUNT_ID_RE.fullmatch(value):
        raise BadUsage(f"{value!r} is not an id (a UUID)")
    return UUID(value)


def _window(start: Any, end: Any) -> str:
    return f"{api_time(start)} to {api_time(end)}"


def add_commands(sub: Any) -> None:
    d = sub.add_parser(
        "dispute",
        help="open, show, add to, withdraw, resolve or list disputes",
        description="Disputes: a party contests the record; a panel resolves it.",
    )
    ds = d.add_subparsers(dest="dispute_command", required=True, metavar="ACTION")
    writes = argparse.ArgumentParser(add_help=False)
    writes.add_argument("--actor", default=default_actor("cli"), help="who records it")
    writes.add_argument("--idempotency-key", metavar="KEY", help="as Idempotency-Key")
    writes.add_argument("--json", action="store_true", help="print the result as JSON")

    s = ds.add_parser("open", parents=[GLOBAL, writes], help="open a dispute")
    s.add_argument("--account", help="the account contested (its id)")
    s.add_argument("--office", help="or the office contested (its key)")
    s.add_argument("--from", dest="from_", required=True, help="window start (valid time)")
    s.add_argument("--to", required=True, help="window end, exclusive")
    s.add_argument("--claim", required=True, help="what the record gets wrong")
    s.add_argument("--contested", action="append", metavar="STREAM:VERSION",
                   help="a contested event (repeatable)")  # fmt: skip
    s.add_argument("--evidence", action="append", metavar="URL", help="a source (repeatable)")
    s.set_defaults(func=dispute_open)

    for name, func, helptext in (
        ("evidence", dispute_evidence, "add evidence to an open dispute"),
        ("withdraw", dispute_withdraw, "withdraw an open dispute"),
        ("resolve", dispute_resolve, "resolve a dispute, with its corrections"),
    ):
        s = ds.add_parser(name, parents=[GLOBAL, writes], help=helptext)
        s.add_argument("dispute", metavar="DISPUTE_ID")
        s.add_argument("--if-match", type=int, metavar="VERSION", help="as If-Match")
        if name == "evidence":
            s.add_argument("--evidence", action="append", metavar="URL", required=True)
        if name in ("evidence", "withdraw"):
            s.add_argument("--note", default="", help="what it shows, or why")
        if name == "resolve":
            s.add_argument("--outcome", choices=("upheld", "rejected"), required=True)
            s.add_argument("--ruling", required=True, help="the ruling as given")
            s.add_argument("--corrections", metavar="FILE",
                           help="a JSON list of event requests written with the ruling")  # fmt: skip
        s.set_defaults(func=func)

    s = ds.add_parser("show", parents=[GLOBAL], help="a dispute and its events")
    s.add_argument("dispute", metavar="DISPUTE_ID")
    s.add_argument("--known-at", help="as known then (default now)")
    s.add_argument("--json", action="store_true", help="print it as JSON")
    s.set_defaults(func=dispute_show)

    s = sub.add_parser(
        "dossier",
        parents=[GLOBAL],
        help="a dispute's dossier, or an account's over a window (JSON, PROV, page, PDF)",
        description="The dossier a panel is handed: custody in the window (a dispute about an "
        "office: the office's tenures) as known at the complaint, at each change and now; the "
        "changes; every event; the dispute; the proofs. "
        "Examples: custody dossier DISPUTE_ID --out d.json (then custody verify d.json --key "
        "VKEY); custody dossier --account ID --from 2021-06-01 --to 2021-07-01 --pdf d.pdf",
    )
    s.add_argument("dispute", metavar="DISPUTE_ID", nargs="?", help="the dispute's id")
    s.add_argument("--account", help="or an account's id (with --from and --to)")
    s.add_argument("--from", dest="from_", help="the window's start (valid time)")
    s.add_argument("--to", help="the window's end, exclusive")
    s.add_argument("--format", choices=("json", "prov", "html"), default="json")
    s.add_argument("--out", metavar="FILE", help="write it to FILE (default stdout)")
    s.add_argument("--pdf", metavar="FILE", help="also print the page to FILE as PDF (Chromium)")
    s.set_defaults(func=dossier)

    s = ds.add_parser("list", parents=[GLOBAL], help="disputes, oldest opened first")
    s.add_argument("--status", choices=("open", "withdrawn", "resolved"))
    s.add_argument("--account", help="only about this account")
    s.add_argument("--office", help="only about this office")
    s.add_argument("--json", action="store_true", help="print them as JSON")
    s.set_defaults(func=dispute_list)

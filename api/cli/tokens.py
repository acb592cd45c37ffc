"""`custody token create|list|revoke`: the API's bearer tokens."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from api.cli.common import EXIT_OK, GLOBAL, BadUsage, add_row, opened, show, table
from ledger.access import ROLES
from ledger.errors import InvalidInput


def create(args: argparse.Namespace) -> int:
    with opened(args) as container:
        try:
            secret = container.access.issue(args.name, args.role, tuple(args.office or ()))
        except InvalidInput as e:  # the name, role or offices given: nothing was written
            raise BadUsage(e.detail) from None
    print(secret)
    print(
        f"token {args.name!r} ({args.role}) created; the secret above is shown only once.",
        file=sys.stderr,
    )
    return EXIT_OK


def list_tokens(args: argparse.Namespace) -> int:
    with opened(args) as container:
        tokens = container.access.list()
    rows = table("NAME", "ROLE", "STATUS", "OFFICES")
    for t in tokens:
        status = "revoked" if t.revoked else "active"
        add_row(rows, t.name, t.role, status, ",".join(t.offices) or "*")
    show(rows)
    return EXIT_OK


def revoke(args: argparse.Namespace) -> int:
    with opened(args) as container:
        container.access.revoke(args.name)
    print(f"token {args.name!r} revoked")
    return EXIT_OK


def add_commands(sub: Any) -> None:
    tok = sub.add_parser("token", parents=[GLOBAL], help="manage API tokens").add_subparsers(
        dest="token_command", required=True, metavar="ACTION"
    )
    s = tok.add_parser("create", parents=[GLOBAL], help="create a token and print its secret once")
    s.add_argument("--name", required=True)
    s.add_argument("--role", required=True, choices=ROLES)
    s.add_argument("--office", action="append", help="limit a recorder to this office (repeatable)")
    s.set_defaults(func=create)
    s = tok.add_parser("list", parents=[GLOBAL], help="list tokens")
    s.set_defaults(func=list_tokens)
    s = tok.add_parser("revoke", parents=[GLOBAL], help="revoke a token")
    s.add_argument("name")
    s.set_defaults(func=revoke)

"""`custody witness`: a C2SP tlog-witness of other logs (c2sp.org/tlog-witness), its
cosignature key and its server.

  custody witness init --key FILE --name NAME     create the key (never overwriting one)
  custody witness key --key FILE                  print its verifier key
  custody witness serve --key FILE --state FILE --log VKEY [--log VKEY ...]
                        [--host 127.0.0.1] [--port 8100]

Exit codes as for every command: 1 the key file exists (init) or is missing, unreadable or
open to others; 2 bad usage (a name or log key that is not valid, a key that is not a
cosignature key, a state file that cannot be opened); 5 the port is taken.
"""

from __future__ import annotations

import argparse
import sqlite3
import sys
from pathlib import Path
from typing import Any

from api.cli.common import EXIT_OK, EXIT_PORT_IN_USE, BadUsage, cannot_listen
from api.witness.state import WitnessState
from ledger.tlog.keyfile import create_key, read_key
from ledger.tlog.note import COSIGNATURE_ED25519, NOTE_ED25519, NoteError, Signer, Verifier
from ledger.tlog.witness import Witness

DEFAULT_PORT = 8100


def init(args: argparse.Namespace) -> int:
    """Create the witness's Ed25519 cosignature key (type 0x04) and print its verifier key."""
    path = Path(args.key)
    try:
        signer = create_key(path, args.name, COSIGNATURE_ED25519)
    except NoteError as e:
        raise BadUsage(f"--name: {e}") from None
    print(f"created {path} (mode 0600) for witness {signer.name}", file=sys.stderr)
    print(signer.verifier())
    return EXIT_OK


def key(args: argparse.Namespace) -> int:
    """Print the verifier key that logs and readers check this witness's cosignatures with."""
    print(_witness_key(Path(args.key)).verifier())
    return EXIT_OK


def serve(args: argparse.Namespace) -> int:
    """Cosign the checkpoints of the logs given by their note verifier keys (the key name is
    the log's origin), remembering in --state what was cosigned for each."""
    import uvicorn  # only the command that serves pays for the web server

    from api.witness.app import create_app

    logs = [_log_key(vkey) for vkey in args.log]
    if not 0 <= args.port <= 65535:
        raise BadUsage("--port must be 0 to 65535")
    try:
        witness = Witness(_witness_key(Path(args.key)), logs)
    except ValueError as e:
        raise BadUsage(str(e)) from None
    if args.port and (busy := cannot_listen(args.host, args.port)) is not None:
        print(f"custody witness serve: {busy}", file=sys.stderr)
        return EXIT_PORT_IN_USE
    try:
        state = WitnessState(Path(args.state))
    except sqlite3.Error as e:
        raise BadUsage(f"--state {args.state}: {e}") from None
    print(
        f"custody witness serve: {witness.verifier} on http://{args.host}:{args.port}/, "
        f"witnessing {', '.join(witness.logs)}",
        file=sys.stderr,
    )
    try:
        uvicorn.run(create_app(witness, state), host=args.host, port=args.port, log_level="warning")
    except SystemExit as e:
        if e.code != 3:
            raise
        # uvicorn has logged why; with no lifespan to fail, its status 3 means it could not bind.
        return EXIT_PORT_IN_USE
    return EXIT_OK


def _witness_key(path: Path) -> Signer:
    signer = read_key(path)
    if signer.key_type != COSIGNATURE_ED25519:
        raise BadUsage(
            f"{path} holds a note signing key (a log's), not a witness's cosignature key; "
            "create one with `custody witness init`"
        )
    return signer


def _log_key(vkey: str) -> Verifier:
    try:
        verifier = Verifier.parse(vkey)
    except NoteError as e:
        raise BadUsage(f"--log: {e}") from None
    if verifier.key_type != NOTE_ED25519:
        raise BadUsage(f"--log {verifier.name}: not a log's Ed25519 note key (type 0x01)")
    return verifier


def add_commands(sub: Any) -> None:
    w = sub.add_parser(
        "witness",
        help="a C2SP tlog-witness of other logs: its key and its server",
        description="Cosign other logs' checkpoints (c2sp.org/tlog-witness).",
    )
    commands = w.add_subparsers(dest="witness_command", required=True, metavar="COMMAND")

    s = commands.add_parser("init", help="create the witness's cosignature key; print its vkey")
    s.add_argument("--key", required=True, metavar="FILE", help="the key file to create (0600)")
    s.add_argument("--name", required=True, help="the witness's name, e.g. witness.example.org/w1")
    s.set_defaults(func=init)

    s = commands.add_parser("key", help="print the witness's verifier key")
    s.add_argument("--key", required=True, metavar="FILE")
    s.set_defaults(func=key)

    s = commands.add_parser("serve", help="run the witness's HTTP server")
    s.add_argument("--key", required=True, metavar="FILE", help="the witness's key file")
    s.add_argument(
        "--state",
        required=True,
        metavar="FILE",
        help="SQLite file of what was cosigned per log (created if missing)",
    )
    s.add_argument(
        "--log",
        required=True,
        action="append",
        metavar="VKEY",
        help="a witnessed log's note verifier key, named as its origin (repeat for more)",
    )
    s.add_argument("--host", default="127.0.0.1", help="default 127.0.0.1")
    s.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"default {DEFAULT_PORT}")
    s.set_defaults(func=serve)

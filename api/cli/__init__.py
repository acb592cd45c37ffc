"""The `custody` command line: a thin door onto the same composition root the HTTP API uses
(`api.bootstrap`), one module per command group.

Exit codes: 0 done; 1 the ledger refused or found nothing (or the reader of stdout went
away first, as in `custody export | head -1`); 2 bad usage (an argument value or a setting that
is not valid, an output that cannot be written); 3 store unavailable; 4 `import` wrote every
event but the store failed before the read models were brought up to date (they catch up from
the log later; do not import the file again); 5 `serve` cannot listen on its host and port
(another server holds it, say); 6 a stored event cannot be decoded (the message names its
stream, version and log position; `export --skip-unreadable` exports the rest). `custody
verify` exits 1 when what it checks does not verify, naming the first thing that differs.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence

from api.cli import (
    backfill,
    changes,
    disputes,
    log,
    offices,
    read,
    serve,
    tokens,
    witness,
    write,
)
from api.cli.common import (
    EXIT_BEHIND,
    EXIT_OK,
    EXIT_PORT_IN_USE,
    EXIT_REFUSED,
    EXIT_UNAVAILABLE,
    EXIT_UNREADABLE,
    EXIT_USAGE,
    BadUsage,
)
from ledger.errors import LedgerError, StoreUnavailable, UnreadableEvent
from ledger.settings import InvalidSettings

__all__ = [
    "EXIT_BEHIND",
    "EXIT_OK",
    "EXIT_PORT_IN_USE",
    "EXIT_REFUSED",
    "EXIT_UNAVAILABLE",
    "EXIT_UNREADABLE",
    "EXIT_USAGE",
    "main",
    "parser",
]


EXIT_CODES = """exit codes:
  0  done
  1  refused or not found (or stdout's reader left first: custody export | head -1)
  2  bad usage: an argument, setting or output that is not valid
  3  store unavailable
  4  import wrote every event but the read models are not up to date yet (they catch up
     from the log; do not import again)
  5  serve cannot listen on its host and port
  6  a stored event cannot be decoded: the message names its stream, version and log
     position (export --skip-unreadable saves the rest; repair the bytes, then rebuild)"""


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="custody",
        description="Custody ledger for official social-media accounts. "
        "Store: CUSTODY_DATABASE_URL (default sqlite:///custody.db).",
        epilog=EXIT_CODES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--database-url", help="override CUSTODY_DATABASE_URL for this command")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")
    groups = (serve, read, changes, offices, write, disputes, backfill, tokens, log, witness)
    for group in groups:
        group.add_commands(sub)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    func: Callable[[argparse.Namespace], int] = args.func
    try:
        code = func(args)
        sys.stdout.flush()  # a closed or full stdout fails here, not at interpreter exit
        return code
    except BrokenPipeError:
        # The reader of stdout went away (`custody export | head -1`): stop quietly.
        _discard_stdout()
        return EXIT_REFUSED
    except OSError as e:
        # The files a command opens are checked where it opens them; what is left is the
        # output (`> /dev/full`, a full disk).
        _discard_stdout()
        print(f"custody: cannot write the output: {e.strerror or e}", file=sys.stderr)
        return EXIT_USAGE
    except (BadUsage, InvalidSettings) as e:
        print(f"custody: {e.detail}", file=sys.stderr)
        return EXIT_USAGE
    except StoreUnavailable as e:
        print(f"custody: store unavailable: {e.detail}", file=sys.stderr)
        return EXIT_UNAVAILABLE
    except UnreadableEvent as e:
        print(f"custody: {e.detail}", file=sys.stderr)
        return EXIT_UNREADABLE
    except LedgerError as e:  # refused, or not found
        print(f"custody: {e.detail}", file=sys.stderr)
        return EXIT_REFUSED


def _discard_stdout() -> None:
    """Point stdout at the null device, so that the interpreter's final flush cannot fail
    again (the Python docs' advice on SIGPIPE and BrokenPipeError)."""
    try:
        fd = sys.stdout.fileno()
    except (OSError, ValueError):
        return  # not a file descriptor (a test capturing output)
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, fd)
    os.close(devnull)

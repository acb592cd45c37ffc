"""`custody import` and `custody export`: the backfill service (`ledger.backfill`) on files."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

from api.cli.common import (
    EXIT_BEHIND,
    EXIT_OK,
    EXIT_REFUSED,
    EXIT_USAGE,
    GLOBAL,
    BadUsage,
    default_actor,
    opened,
    plural,
    progress,
)
from ledger.backfill import ImportRefused, UnreadableFile, import_file, write_export
from ledger.errors import UnreadableEvent


def import_(args: argparse.Namespace) -> int:
    """Backfill events from JSON Lines or CSV: all lines or none."""
    path = Path(args.file)
    if not path.is_file():
        raise BadUsage(f"{path} is a directory" if path.is_dir() else f"no such file {path}")
    with opened(args) as container, progress(f"import {path.name}") as bar:
        started = time.monotonic()
        try:
            report = import_file(
                container.ledger,
                path,
                actor=importer(args.actor),
                restore=args.restore,
                progress=bar,
                catch_up=container.catch_up_import,
            )
        except ImportRefused as e:
            print(f"custody: {e.detail}", file=sys.stderr)
            return EXIT_REFUSED
        except UnreadableFile as e:
            raise BadUsage(e.detail) from None
    if report.lines == 0:
        print(f"custody: {path} holds no events; nothing was written", file=sys.stderr)
    done = (
        f"imported {plural(report.written, 'event')} for {plural(len(report.accounts), 'account')}"
        + (f" and {plural(len(report.offices), 'office')}" if report.offices else "")
        + f" from {path} in {time.monotonic() - started:.1f}s"
    )
    if report.behind is not None:
        print(
            f"custody: {done}, but the read models are behind: {report.behind}\n"
            "The events are written: do not import the file again. The read models catch up "
            "from the log on the next read of the embedded store, or with `custody project`.",
            file=sys.stderr,
        )
        return EXIT_BEHIND
    print(f"{done}; read models up to date")
    return EXIT_OK


def importer(name: str) -> str:
    """Who an import is recorded as written by: `import:NAME`, or a name that already says its
    door (`import:USER`, the default). Never a bare token name (a token's has no `:`), so the
    log never shows a token writing what it did not."""
    return name if ":" in name else f"import:{name}"


def export(args: argparse.Namespace) -> int:
    """Write the whole custody log as JSON Lines (`import --restore` reads it back)."""
    if args.out == "":
        raise BadUsage("--out needs a file name (without --out the export goes to stdout)")
    skipped: list[UnreadableEvent] | None = [] if args.skip_unreadable else None
    with opened(args) as container:
        if args.out is None:  # main reports a stdout that cannot take it
            write_export(container.ledger, sys.stdout, lambda done, total: None, skipped)
            _say_skipped(skipped)
            return EXIT_OK
        try:
            out = open(args.out, "w", encoding="utf-8")  # noqa: SIM115 (closed just below)
        except OSError as e:
            raise BadUsage(f"--out {args.out}: cannot open it for writing: {e.strerror}") from None
        try:
            # Through the log's positions, tokens' and handle claims' included.
            with out, progress("export", unit="log positions") as bar:
                count = write_export(container.ledger, out, bar, skipped)
        except OSError as e:
            print(
                f"custody: writing the export to {args.out} failed ({e.strerror}); "
                "the file is incomplete",
                file=sys.stderr,
            )
            return EXIT_USAGE
    print(f"exported {plural(count, 'event')} to {args.out}", file=sys.stderr)
    _say_skipped(skipped)
    return EXIT_OK


def _say_skipped(skipped: list[UnreadableEvent] | None) -> None:
    """Name every event an export with --skip-unreadable left out: it is not a full backup."""
    if skipped:
        print(f"custody: skipped {plural(len(skipped), 'unreadable event')}; the export lacks:",
              file=sys.stderr)  # fmt: skip
        for e in skipped:
            print(f"  stream {e.stream} version {e.version} at log position {e.position}",
                  file=sys.stderr)  # fmt: skip


def add_commands(sub: Any) -> None:
    s = sub.add_parser(
        "import", parents=[GLOBAL], help="backfill events from JSON Lines or CSV (all or nothing)"
    )
    s.add_argument("file")
    s.add_argument(
        "--actor",
        default=default_actor("import"),
        help="who runs the import, each event's actor (default import:USER; NAME is recorded "
        "as import:NAME); a line's own actor is kept as its attributed_to",
    )
    s.add_argument(
        "--restore", action="store_true", help="keep recorded_at from an export (empty store only)"
    )
    s.set_defaults(func=import_)

    s = sub.add_parser("export", parents=[GLOBAL], help="write the whole log as JSON Lines")
    s.add_argument("--out", help="file to write (default stdout)")
    s.add_argument(
        "--skip-unreadable",
        action="store_true",
        help="export every event that can be decoded, and list those that cannot (exit 6 "
        "without it)",
    )
    s.set_defaults(func=export)

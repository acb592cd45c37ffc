"""The `custody` command line: a thin door onto the same container the HTTP API uses.

Exit codes: 0 done; 1 the ledger refused or found nothing (or the reader of stdout went
away first, as in `custody export | head -1`); 2 bad usage (an argument value or a setting that
is not valid, an output that cannot be written); 3 store unavailable; 4 `import` wrote every
event but the store failed before the read models were brought up to date (they catch up from
the log later; do not import the file again).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, TextIO
from uuid import UUID

from ledger.commands import PLATFORM_RE, normalize_handle, require_utc
from ledger.errors import InvalidInput, LedgerError, StoreUnavailable
from ledger.settings import InvalidSettings, Settings

if TYPE_CHECKING:
    from api.bootstrap import Container

EXIT_OK, EXIT_REFUSED, EXIT_USAGE, EXIT_UNAVAILABLE, EXIT_BEHIND = 0, 1, 2, 3, 4
# An account id only in its canonical form: other forms UUID() takes (32 bare hex digits,
# braces, urn:uuid:) are valid handles.
ACCOUNT_ID_RE = re.compile(
    r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", re.IGNORECASE
)


class BadUsage(Exception):
    """An argument's value is not valid (exit 2); raised before anything is written."""

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


class ProgressBar:
    """A one-line progress bar on stderr for anything that can take more than a moment."""

    def __init__(
        self, label: str, stream: TextIO = sys.stderr, width: int = 30, unit: str = "events"
    ) -> None:
        self.label = label
        self.unit = unit
        self.stream = stream
        self.width = width
        self.started = time.monotonic()
        self._last = 0.0

    def __call__(self, done: int, total: int) -> None:
        now = time.monotonic()
        if done < total and now - self._last < 0.2:
            return
        self._last = now
        share = done / total if total else 1.0
        filled = int(self.width * share)
        elapsed = now - self.started
        rate = done / elapsed if elapsed > 0 else 0.0
        self.stream.write(
            f"\r{self.label} [{'#' * filled}{'.' * (self.width - filled)}] "
            f"{share:6.1%} {done}/{total} {self.unit}, {rate:,.0f}/s"
        )
        if done >= total:
            self.stream.write("\n")
        self.stream.flush()


def _container(args: argparse.Namespace) -> Container:
    from api.bootstrap import build

    overrides: dict[str, Any] = {}
    if getattr(args, "database_url", None):
        overrides["database_url"] = args.database_url
    return build(Settings(**overrides))


@contextmanager
def _opened(args: argparse.Namespace) -> Iterator[Container]:
    """The container, closed however the command ends."""
    container = _container(args)
    try:
        yield container
    finally:
        container.close()


def _platform(value: str) -> str:
    """A platform key as the API takes it (PLATFORM_RE, no case folding)."""
    if not PLATFORM_RE.fullmatch(value):
        raise BadUsage(
            f"--platform {value!r} is not a platform key: a lower-case letter, then up to 31 "
            "lower-case letters, digits, '_' or '-' (e.g. x)"
        )
    return value


def _handle(value: str) -> str:
    try:
        normalize_handle(value)
    except ValueError as e:
        raise BadUsage(str(e)) from None
    return value


def _time(value: str | None, name: str) -> Any:
    try:
        return None if value is None else require_utc(value, name)
    except InvalidInput as e:
        raise BadUsage(e.detail) from None


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


def cmd_project(args: argparse.Namespace) -> int:
    """Follow the log and keep the read models up to date until interrupted."""
    with _opened(args) as container:
        container.projector.embedded = False
        print(
            f"custody project: following {container.settings.store().description} "
            f"(lag {container.projector.lag()}); Ctrl-C to stop",
            file=sys.stderr,
        )
        if args.once:
            applied = container.projector.catch_up()
            print(f"applied {applied} events; lag {container.projector.lag()}")
            return EXIT_OK
        container.start_worker()
        stop = {"now": False}

        def _stop(*_: Any) -> None:
            stop["now"] = True

        signal.signal(signal.SIGTERM, _stop)
        try:
            while not stop["now"]:
                time.sleep(0.5)
        except KeyboardInterrupt:
            pass
    return EXIT_OK


def cmd_rebuild(args: argparse.Namespace) -> int:
    """Rebuild one read model (or all) from the log, switching it in atomically."""
    from projections.models import BY_NAME
    from projections.rebuild import Rebuilder

    names = list(dict.fromkeys(args.names)) or None  # each once, in the order given
    unknown = [n for n in names or () if n not in BY_NAME]
    if unknown:
        print(
            f"unknown read model(s): {', '.join(unknown)}; choose from {', '.join(BY_NAME)}",
            file=sys.stderr,
        )
        return EXIT_USAGE
    label = "rebuild " + (",".join(names) if names else "all")
    with _opened(args) as container:
        started = time.monotonic()
        position = Rebuilder(container.projector).rebuild(names, progress=ProgressBar(label))
    print(
        f"rebuilt {label.split(' ', 1)[1]} up to log position {position} in {time.monotonic() - started:.1f}s"
    )
    return EXIT_OK


def cmd_token_create(args: argparse.Namespace) -> int:
    with _opened(args) as container:
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


def cmd_token_list(args: argparse.Namespace) -> int:
    with _opened(args) as container:
        tokens = container.access.list()
    print(f"{'NAME':<24} {'ROLE':<9} {'STATUS':<8} OFFICES")
    for t in tokens:
        print(
            f"{t.name:<24} {t.role:<9} {'revoked' if t.revoked else 'active':<8} {','.join(t.offices) or '*'}"
        )
    return EXIT_OK


def cmd_token_revoke(args: argparse.Namespace) -> int:
    with _opened(args) as container:
        container.access.revoke(args.name)
    print(f"token {args.name!r} revoked")
    return EXIT_OK


def cmd_import(args: argparse.Namespace) -> int:
    """Backfill events from JSON Lines or CSV: all lines or none."""
    from pathlib import Path

    from api.transfer import ImportRefused, UnreadableFile, import_file

    path = Path(args.file)
    if not path.is_file():
        raise BadUsage(f"{path} is a directory" if path.is_dir() else f"no such file {path}")
    with _opened(args) as container:
        started = time.monotonic()
        try:
            report = import_file(
                container.ledger,
                path,
                actor=args.actor,
                restore=args.restore,
                progress=ProgressBar(f"import {path.name}"),
                projector=container.projector,
            )
        except ImportRefused as e:
            print(f"custody: {e.detail}", file=sys.stderr)
            return EXIT_REFUSED
        except UnreadableFile as e:
            raise BadUsage(e.detail) from None
    if report.lines == 0:
        print(f"custody: {path} holds no events; nothing was written", file=sys.stderr)
    done = (
        f"imported {report.written} events for {len(report.accounts)} accounts from {path} "
        f"in {time.monotonic() - started:.1f}s"
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


def cmd_export(args: argparse.Namespace) -> int:
    """Write the whole custody log as JSON Lines (`import --restore` reads it back)."""
    from api.transfer import write_export

    if args.out == "":
        raise BadUsage("--out needs a file name (without --out the export goes to stdout)")
    with _opened(args) as container:
        if args.out is None:  # main reports a stdout that cannot take it
            write_export(container.ledger, sys.stdout, lambda done, total: None)
            return EXIT_OK
        try:
            out = open(args.out, "w", encoding="utf-8")  # noqa: SIM115 (closed just below)
        except OSError as e:
            raise BadUsage(f"--out {args.out}: cannot open it for writing: {e.strerror}") from None
        try:
            with out:
                # Through the log's positions, tokens' and handle claims' included.
                bar = ProgressBar("export", unit="log positions")
                count = write_export(container.ledger, out, bar)
        except OSError as e:
            print(
                f"custody: writing the export to {args.out} failed ({e.strerror}); "
                "the file is incomplete",
                file=sys.stderr,
            )
            return EXIT_USAGE
    print(f"exported {count} events to {args.out}", file=sys.stderr)
    return EXIT_OK


def cmd_who(args: argparse.Namespace) -> int:
    """Who held the account that carried HANDLE at a time, with the events behind the answer."""
    platform, handle = _platform(args.platform), _handle(args.handle)
    at, known_at = _time(args.at, "--at"), _time(args.known_at, "--known-at")
    with _opened(args) as container:
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
        print(
            f"    v{p.version:<3} {p.type:<20} recorded {p.recorded_at:%Y-%m-%d %H:%M:%S}Z by {p.actor}"
        )
    return EXIT_OK


def cmd_history(args: argparse.Namespace) -> int:
    """An account's custody timeline and event log, by account id or handle."""
    platform = _platform(args.platform)
    is_id = ACCOUNT_ID_RE.fullmatch(args.account) is not None
    handle = None if is_id else _handle(args.account)
    with _opened(args) as container:
        q = container.queries
        if handle is None:
            account_id = UUID(args.account)
        else:
            answer = q.handle_at(platform, handle)
            history = q.handle_history(platform, handle)
            if answer.account is not None:
                account_id = answer.account.account_id
            elif history:
                account_id = history[-1].account_id
            else:
                print(f"custody: @{answer.handle} is not carried by any account", file=sys.stderr)
                return EXIT_REFUSED
        timeline = q.custody_timeline(account_id)
        events = q.events(account_id)
    if args.json:
        from dataclasses import asdict

        print(
            json.dumps(
                {"custody": asdict(timeline), "events": [asdict(e) for e in events]},
                default=str,
                indent=2,
            )
        )
        return EXIT_OK
    print(f"account {account_id}")
    print(f"\n{'HOLDER':<28} {'FROM':<17} {'TO':<17} HANDLES / OFFICES")
    for iv in timeline.intervals:
        to = f"{iv.valid_to:%Y-%m-%d %H:%M}" if iv.valid_to else "(open)"
        where = f"{', '.join(iv.handles)} / {', '.join(iv.offices)}"
        print(f"{iv.holder.name[:28]:<28} {iv.valid_from:%Y-%m-%d %H:%M} {to:<17} {where}")
    print(f"\n{'V':>3} {'TYPE':<19} {'EFFECTIVE':<17} {'RECORDED':<17} {'BY':<14} DETAIL")
    for e in events:
        mark = f" [retracted by v{e.retracted_by}]" if e.retracted_by else ""
        detail = json.dumps(e.data, sort_keys=True)
        times = f"{e.effective_at:%Y-%m-%d %H:%M} {e.recorded_at:%Y-%m-%d %H:%M}"
        print(f"{e.version:>3} {e.type:<19} {times} {e.actor[:14]:<14} {detail}{mark}")
    return EXIT_OK


def cmd_serve(args: argparse.Namespace) -> int:
    """Run the API (and the read-model worker in-process unless told otherwise).

    With `--workers N` (PostgreSQL only) uvicorn serves from N worker processes and this
    process supervises them and runs the read-model worker, so projecting never competes with
    requests for one interpreter lock.
    """
    import uvicorn

    from api.app import create_app
    from api.bootstrap import build

    overrides: dict[str, Any] = {}
    if args.database_url:
        overrides["database_url"] = args.database_url
    if args.public_reads:
        overrides["public_reads"] = True
    if args.no_worker:
        overrides["embedded_projections"] = False
    settings = Settings(**overrides)
    if args.workers < 1:
        print("custody serve: --workers must be at least 1", file=sys.stderr)
        return EXIT_USAGE
    if not 0 <= args.port <= 65535:
        print("custody serve: --port must be 0 to 65535", file=sys.stderr)
        return EXIT_USAGE
    if args.workers > 1 and settings.store().kind != "postgres":
        print(
            "custody serve: --workers > 1 needs PostgreSQL (CUSTODY_DATABASE_URL=postgresql://...);"
            " the embedded SQLite store is served by one process",
            file=sys.stderr,
        )
        return EXIT_USAGE
    container = build(settings)
    try:  # the app's lifespan closes it too; closing twice is harmless
        if getattr(args, "demo", False):
            from api.demo import load_demo

            loaded = load_demo(container)
            print(f"demo: {loaded}", file=sys.stderr)
        print(
            f"custody serve: {container.settings.store().description} on "
            f"http://{args.host}:{args.port}/"
            + (f" ({args.workers} worker processes)" if args.workers > 1 else ""),
            file=sys.stderr,
        )
        if args.workers == 1:
            app = create_app(container=container, run_worker=not args.no_worker)
            try:
                uvicorn.run(app, host=args.host, port=args.port, log_level="warning")
            except SystemExit as e:
                if e.code != 3:
                    raise
                # uvicorn has logged why it could not listen; its status 3 means the store here.
                return EXIT_USAGE
            return EXIT_OK
        # The worker processes build their own containers from the same settings, through the
        # environment (Settings reads CUSTODY_*); they wait for this process to project.
        settings.export_to_environment(embedded_projections=False)
        if not args.no_worker:
            container.start_worker()
        uvicorn.run(
            "api.app:create_serving_app",
            factory=True,
            workers=args.workers,
            host=args.host,
            port=args.port,
            log_level="warning",
        )
    finally:
        container.close()
    return EXIT_OK


def _default_actor() -> str:
    import getpass

    try:
        return f"import:{getpass.getuser()}"
    except (KeyError, OSError):
        return "import"


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="custody",
        description="Custody ledger for official social-media accounts. "
        "Store: CUSTODY_DATABASE_URL (default sqlite:///custody.db).",
    )
    p.add_argument("--database-url", help="override CUSTODY_DATABASE_URL for this command")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    s = sub.add_parser("serve", help="run the HTTP API")
    s.add_argument("--host", default="127.0.0.1")
    s.add_argument("--port", type=int, default=8000)
    s.add_argument("--public-reads", action="store_true", help="let GETs through without a token")
    s.add_argument(
        "--no-worker",
        action="store_true",
        help="a separate `custody project` keeps the read models",
    )
    s.add_argument(
        "--demo", action="store_true", help="load the demo data into an empty store first"
    )
    s.add_argument(
        "--workers",
        type=int,
        default=1,
        help="API worker processes (PostgreSQL only); the read-model worker then runs in the "
        "supervising process (default 1: one process serves and projects)",
    )
    s.set_defaults(func=cmd_serve)

    s = sub.add_parser("who", help="who held the account that carried a handle")
    s.add_argument("handle")
    s.add_argument("--platform", required=True, help="platform key, e.g. x")
    s.add_argument("--at", help="valid time (RFC 3339 with offset); default now")
    s.add_argument("--known-at", help="record time (RFC 3339 with offset); default now")
    s.set_defaults(func=cmd_who)

    s = sub.add_parser("history", help="custody timeline and event log of an account")
    s.add_argument(
        "account",
        metavar="ACCOUNT_ID_OR_HANDLE",
        help="an account id (8-4-4-4-12 hex digits); anything else is a handle",
    )
    s.add_argument("--platform", default="x", help="platform of a handle (default x)")
    s.add_argument("--json", action="store_true")
    s.set_defaults(func=cmd_history)

    s = sub.add_parser("import", help="backfill events from JSON Lines or CSV (all or nothing)")
    s.add_argument("file")
    s.add_argument("--actor", default=_default_actor(), help="actor for lines that name none")
    s.add_argument(
        "--restore", action="store_true", help="keep recorded_at from an export (empty store only)"
    )
    s.set_defaults(func=cmd_import)

    s = sub.add_parser("export", help="write the whole log as JSON Lines")
    s.add_argument("--out", help="file to write (default stdout)")
    s.set_defaults(func=cmd_export)

    s = sub.add_parser("project", help="run the read-model worker (follows the log)")
    s.add_argument("--once", action="store_true", help="catch up once and exit")
    s.set_defaults(func=cmd_project)

    s = sub.add_parser("rebuild", help="rebuild read models from the log")
    s.add_argument("names", nargs="*", metavar="NAME", help="read model(s); all when omitted")
    s.set_defaults(func=cmd_rebuild)

    tok = sub.add_parser("token", help="manage API tokens").add_subparsers(
        dest="token_command", required=True, metavar="ACTION"
    )
    s = tok.add_parser("create", help="create a token and print its secret once")
    s.add_argument("--name", required=True)
    s.add_argument("--role", required=True, choices=["reader", "recorder", "admin"])
    s.add_argument("--office", action="append", help="limit a recorder to this office (repeatable)")
    s.set_defaults(func=cmd_token_create)
    s = tok.add_parser("list", help="list tokens")
    s.set_defaults(func=cmd_token_list)
    s = tok.add_parser("revoke", help="revoke a token")
    s.add_argument("name")
    s.set_defaults(func=cmd_token_revoke)
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
    except LedgerError as e:  # refused, or not found
        print(f"custody: {e.detail}", file=sys.stderr)
        return EXIT_REFUSED


if __name__ == "__main__":
    sys.exit(main())

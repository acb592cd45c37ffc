"""What every `custody` command shares: exit codes, usage errors, the container, argument
parsing, and the terminal output (progress and tables through `rich`)."""

from __future__ import annotations

import argparse
import getpass
import json
import re
import socket
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from time import monotonic
from typing import Any
from uuid import UUID

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from rich.text import Text

from api.bootstrap import Container, build
from ledger.commands import PLATFORM_RE, normalize_handle, require_utc
from ledger.errors import InvalidInput
from ledger.settings import Settings

EXIT_OK, EXIT_REFUSED, EXIT_USAGE, EXIT_UNAVAILABLE, EXIT_BEHIND = 0, 1, 2, 3, 4
EXIT_PORT_IN_USE, EXIT_UNREADABLE = 5, 6
# An account id only in its canonical form: other forms UUID() takes (32 bare hex digits,
# braces, urn:uuid:) are valid handles.
ACCOUNT_ID_RE = re.compile(
    r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", re.IGNORECASE
)
ProgressFn = Callable[[int, int], None]


class BadUsage(Exception):
    """An argument's value is not valid (exit 2); raised before anything is written."""

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


def default_actor(door: str) -> str:
    """Who a command records as, unless told: the door and the user running it."""
    try:
        return f"{door}:{getpass.getuser()}"
    except (KeyError, OSError):
        return door


def recorded_by(actor: str, attributed_to: str | None) -> str:
    """Who wrote an event, and whom an imported line named as its recorder (not verified)."""
    return actor if attributed_to is None else f"{actor} (attributed to {attributed_to})"


def settings_of(args: argparse.Namespace, **overrides: Any) -> Settings:
    """The settings, with the command line's `--database-url` over the environment's."""
    if getattr(args, "database_url", None):
        overrides["database_url"] = args.database_url
    return Settings(**overrides)


@contextmanager
def opened(args: argparse.Namespace) -> Iterator[Container]:
    """The container, closed however the command ends."""
    container = build(settings_of(args))
    try:
        yield container
    finally:
        container.close()


def platform(value: str) -> str:
    """A platform key as the API takes it (PLATFORM_RE, no case folding)."""
    if not PLATFORM_RE.fullmatch(value):
        raise BadUsage(
            f"--platform {value!r} is not a platform key: a lower-case letter, then up to 31 "
            "lower-case letters, digits, '_' or '-' (e.g. x)"
        )
    return value


def handle(value: str) -> str:
    try:
        normalize_handle(value)
    except ValueError as e:
        raise BadUsage(str(e)) from None
    return value


DATE_RE = re.compile(r"\d{4}-\d{2}-\d{2}")


def time(value: str | None, name: str) -> datetime | None:
    """A time given on the command line: RFC 3339 with an offset, or a date (its first
    instant in UTC)."""
    if value is None:
        return None
    if DATE_RE.fullmatch(value.strip()):
        try:
            return datetime.fromisoformat(value.strip()).replace(tzinfo=UTC)
        except ValueError:
            raise BadUsage(f"{name}: {value!r} is not a date") from None
    try:
        return require_utc(value, name)
    except InvalidInput as e:
        raise BadUsage(
            e.detail.replace("e.g. 2017-01-20T17:00:00Z", "e.g. 2017-01-20T17:00:00Z, or a date")
        ) from None


def plural(count: int, word: str) -> str:
    """'1 event', '2 events'."""
    return f"{count:,} {word}" + ("" if count == 1 else "s")


def api_time(value: datetime) -> str:
    """A time as the HTTP API writes it: RFC 3339 in UTC with a Z."""
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def to_json(value: Any) -> str:
    """JSON as the HTTP API writes it: times in RFC 3339 with a Z, ids as strings."""

    def encode(item: Any) -> Any:
        if isinstance(item, datetime):
            return api_time(item)
        if isinstance(item, UUID):
            return str(item)
        raise TypeError(f"{type(item).__name__} is not JSON")

    return json.dumps(value, default=encode, indent=2, ensure_ascii=False)


# `--database-url` goes before or after the command: every command's parser has it too.
GLOBAL = argparse.ArgumentParser(add_help=False)
GLOBAL.add_argument(
    "--database-url",
    default=argparse.SUPPRESS,  # not given after the command: the one before it (if any) stands
    help="override CUSTODY_DATABASE_URL for this command",
)
PLATFORM_DEFAULT = "x"


def stdout() -> Console:
    """Tables on stdout: plain text when it is not a terminal (a pipe, a file), where a row
    stays on one line however long, for `grep` and `cut`."""
    console = Console(file=sys.stdout, highlight=False, markup=False, emoji=False)
    if not console.is_terminal:
        console.width = 100_000
    return console


def show(*renderables: Any) -> None:
    """Print text and tables on stdout, with no padding left at the ends of lines."""
    console = stdout()
    with console.capture() as captured:
        for renderable in renderables:
            console.print(renderable)
    for line in captured.get().splitlines():
        print(line.rstrip())


def table(*columns: str) -> Table:
    """A borderless table whose rows start at the left margin, as `grep` and `cut` expect."""
    t = Table(box=None, show_edge=False, pad_edge=False, header_style="bold")
    for name in columns:
        t.add_column(name, overflow="fold")
    return t


def add_row(t: Table, *cells: str) -> None:
    """A row of plain text: a name with brackets in it is not read as `rich` markup."""
    t.add_row(*(Text(c) for c in cells))


@contextmanager
def progress(label: str, unit: str = "events") -> Iterator[ProgressFn]:
    """A progress bar on stderr while the block runs, only if stderr is a terminal (a log
    file or a pipe gets the command's one closing line, not a stream of redraws)."""
    console = Console(file=sys.stderr)
    if not console.is_terminal:
        yield lambda done, total: None
        return
    with Progress(
        TextColumn("{task.description}", markup=False),  # a file name is text, not markup
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn(unit),
        TimeElapsedColumn(),
        console=console,
        transient=True,
        redirect_stdout=False,
        redirect_stderr=False,
    ) as bar:
        task = bar.add_task(label, total=None)
        shown = [0.0]

        def update(done: int, total: int) -> None:
            now = monotonic()
            if done >= total or now - shown[0] >= 0.1:  # a redraw costs more than an event
                shown[0] = now
                bar.update(task, completed=done, total=total)

        yield update


def cannot_listen(host: str, port: int) -> str | None:
    """Why the server could not listen on host:port (in use, say), or None: checked before
    the store is opened, so a second server on a busy port says so and nothing else."""
    try:
        family, kind, proto, _, address = socket.getaddrinfo(
            host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )[0]
    except socket.gaierror as e:
        return f"cannot listen on {host}:{port}: {e.strerror}"
    with socket.socket(family, kind, proto) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn does
        try:
            probe.bind(address)
        except OSError as e:
            return f"cannot listen on {host}:{port}: {e.strerror} (is another server running?)"
    return None

"""Backfill and export: JSON Lines (or CSV) in, JSON Lines out.

One event per line, with the API's request-body fields plus `type` (`account_registered` for a
registration) and, after a registration, `account_id` or `account: {platform,
platform_account_id}`. A line of an office's stream is `office_registered`, or names its
`office` (and no account) with `holder_assigned`, `holder_released` or `event_retracted`.
Every line is checked by the ledger's own rules, cross-line ones included (a batch stages them
against each other and the store); if any line is bad, nothing is written and every bad line is
named. The parsing lives here; the rules stay in the ledger.

Who: an import's events are written by whoever runs it (`actor`, e.g. `import:USER`); a line's
own `actor` is kept as the event's `attributed_to`, who the file says recorded it, which the
ledger does not verify. A line that carries `attributed_to` (an export's) keeps it, and its
`actor`, an earlier import's, is dropped. Only `--restore` keeps both as exported.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, BinaryIO, TextIO
from uuid import UUID

from ledger import dispute_fold, fold, office_fold
from ledger.application import CustodyLedger
from ledger.batch import Batch
from ledger.bulk import collector_paused
from ledger.commands import (
    COMMANDS,
    OFFICE_COMMANDS,
    Command,
    RegisterAccount,
    RegisterOffice,
    parse_command,
    parse_json,
    require_utc,
    shown,
)
from ledger.domain import CUSTODY_TOPICS, decode_fact, office_id
from ledger.errors import InvalidInput, LedgerError, StoreUnavailable, UnreadableEvent
from ledger.guards import check_actor

Progress = Callable[[int, int], None]
CSV_COLUMNS = (
    "type", "account_id", "account.platform", "account.platform_account_id", "platform",
    "platform_account_id", "handle", "office", "effective_at", "reason", "evidence",
    "holder.id", "holder.name", "archive.ref", "archive.sha256", "archive.items",
    "event_version", "actor", "recorded_at", "name", "jurisdiction", "ownership", "owner.id",
    "owner.name", "followers", "attributed_to",
)  # fmt: skip
_WHOLE_NUMBER_COLUMNS = ("event_version", "archive.items", "followers")
# Who and when, not the event's own fields: the ledger sets them (a restore keeps them).
_ENVELOPE = ("actor", "attributed_to", "recorded_at")
_ROUTING = {"account_id", "account", *_ENVELOPE}
_ACCOUNT_REFS = ("account_id", "account")
_NAME_THE_ACCOUNT = "name the account: account_id, or account: {platform, platform_account_id}"
# An account line's types, and (for the list an unknown type is told) the office's.
_IMPORT_COMMANDS = {**COMMANDS, **OFFICE_COMMANDS}


@dataclass
class ImportReport:
    lines: int = 0
    written: int = 0
    errors: list[str] = field(default_factory=list)
    accounts: set[UUID] = field(default_factory=set)
    offices: set[str] = field(default_factory=set)  # the keys of the office streams written
    # Written, but the read models could not be brought up to date (why): they catch up from
    # the log the next time the projector runs. None when they are up to date.
    behind: str | None = None


class ImportRefused(LedgerError):
    """Some lines are bad; nothing was written."""

    code = "import-refused"

    def __init__(self, report: ImportReport) -> None:
        super().__init__(
            f"{len(report.errors)} bad line(s) of {report.lines}; nothing was written:\n"
            + "\n".join(report.errors)
        )
        self.report = report


class UnreadableFile(InvalidInput):
    """The file could not be read at all (permissions, a directory, an I/O error)."""

    code = "unreadable-file"


Line = tuple[int, dict[str, Any] | str]
"""A line's number and its parsed object, or the message saying why it is not one."""


def read_lines(path: Path) -> list[Line]:
    """Every non-blank line of a file (`lines`), in a list: for a small file read whole."""
    with open_lines(path) as lines:
        return list(lines)


@contextmanager
def open_lines(path: Path) -> Iterator[Iterator[Line]]:
    """(line number, parsed object or an error message) for each non-blank line, read as the
    caller goes: an import holds a few thousand lines of its file at a time, whatever its
    size. Lines end at a newline only (a JSON string may hold U+2028 and the like); a UTF-8
    BOM is skipped. UnreadableFile if the file cannot be opened or read."""
    try:
        file = path.open("rb")
    except OSError as e:
        raise UnreadableFile(f"cannot read {path}: {e.strerror or e}") from None
    with file:
        lines = _csv_file(path, file) if path.suffix.lower() == ".csv" else _jsonl(file)
        yield _reported(path, lines)


def _reported(path: Path, lines: Iterator[Line]) -> Iterator[Line]:
    """`lines`, with a read that fails half-way (an I/O error) as UnreadableFile."""
    try:
        yield from lines
    except OSError as e:
        raise UnreadableFile(f"cannot read {path}: {e.strerror or e}") from None


def _jsonl(file: BinaryIO) -> Iterator[Line]:
    for n, raw in enumerate(file, 1):  # a binary file's lines end at b"\n" only
        if n == 1:
            raw = raw.removeprefix(b"\xef\xbb\xbf")
        try:
            line = raw.decode("utf-8").removesuffix("\n").removesuffix("\r")
        except UnicodeDecodeError as e:
            yield n, _not_utf8(raw, e)
            continue
        if not line.strip() or line.lstrip().startswith("//"):
            continue
        try:
            obj = parse_json(line)
        except json.JSONDecodeError as e:
            yield n, f"not valid JSON ({e.msg} at column {e.colno})"
            continue
        except ValueError as e:
            yield n, f"not valid JSON ({e})"
            continue
        yield n, obj if isinstance(obj, dict) else "a line must be a JSON object"


def _not_utf8(data: bytes, e: UnicodeDecodeError) -> str:
    column = e.start - (data.rfind(b"\n", 0, e.start) + 1) + 1
    return f"not UTF-8 text (byte 0x{data[e.start]:02x} at column {column})"


def _csv_file(path: Path, file: BinaryIO) -> Iterator[Line]:
    """A CSV file's records, decoded as they are read (lines end at \\n, \\r\\n or \\r, as
    the csv module expects). Bytes that are not UTF-8 end the reading at the line they are on."""
    text = io.TextIOWrapper(file, encoding="utf-8-sig", newline="")
    try:
        yield from _csv_lines(text)
    except UnicodeDecodeError:
        # The decoder works in blocks and does not say which line: find it (only now, for
        # a file that is refused anyway) by reading the file again.
        data = path.read_bytes().removeprefix(b"\xef\xbb\xbf")
        try:
            data.decode("utf-8")
        except UnicodeDecodeError as e:
            yield data.count(b"\n", 0, e.start) + 1, _not_utf8(data, e)
    finally:
        text.detach()  # the binary file is closed by its owner


_WHOLE_NUMBER = re.compile(r"[0-9]+")


def _csv_lines(text: Iterable[str]) -> Iterator[Line]:
    reader = csv.reader(text)
    try:
        header = next(reader, [])
    except csv.Error as e:
        yield 1, f"not valid CSV ({e})"
        return
    unknown = set(header) - set(CSV_COLUMNS)
    if unknown:
        yield 1, f"unknown CSV column(s): {', '.join(sorted(unknown))}"
        return
    twice = sorted({c for c in header if header.count(c) > 1})
    if twice:
        yield 1, f"CSV column(s) given twice: {', '.join(twice)}"
        return
    end = reader.line_num
    while True:
        first = end + 1  # a record is named by its first line, though a quoted cell spans more
        try:
            cells = next(reader)
        except StopIteration:
            return
        except csv.Error as e:
            yield first, f"not valid CSV ({e}); the rest of the file was not read"
            return
        end = reader.line_num
        if not cells:
            continue  # a blank line
        if len(cells) > len(header):
            yield first, f"more cells than the header's {len(header)} columns"
            continue
        row = dict(zip(header, cells, strict=False))  # missing trailing cells are empty
        obj: dict[str, Any] = {}
        try:
            for key, value in row.items():
                if value == "":
                    continue
                try:
                    if key == "evidence":
                        obj["evidence"] = parse_json(value)
                    elif key in _WHOLE_NUMBER_COLUMNS:
                        if not _WHOLE_NUMBER.fullmatch(value.strip()):
                            raise ValueError(f"expected a whole number, got {shown(value)}")
                        _put(obj, key, int(value))
                    else:
                        _put(obj, key, value)
                except ValueError as e:
                    raise ValueError(f"{key}: {e}") from None
        except ValueError as e:
            yield first, f"bad cell: {e}"
            continue
        yield first, obj


def _put(obj: dict[str, Any], dotted: str, value: Any) -> None:
    head, _, tail = dotted.partition(".")
    if tail:
        obj.setdefault(head, {})[tail] = value
    else:
        obj[head] = value


def _uuid(value: Any) -> UUID:
    try:
        if not isinstance(value, str):
            raise ValueError
        return UUID(value)
    except ValueError:
        raise InvalidInput(
            f"account_id: {shown(value)} is not a UUID", field="account_id"
        ) from None


def _account_of(
    ledger: CustodyLedger, batch: Batch, obj: dict[str, Any], account_id: UUID | None
) -> UUID:
    if account_id is not None:
        return account_id
    ref = obj.get("account")
    if isinstance(ref, dict) and ref.get("platform") and ref.get("platform_account_id"):
        platform, platform_account_id = str(ref["platform"]), str(ref["platform_account_id"])
        return ledger.account_for_platform_id(platform, platform_account_id, batch=batch)
    raise InvalidInput(_NAME_THE_ACCOUNT)


def _is_office_line(obj: dict[str, Any]) -> bool:
    """Whether a line belongs to an office's stream: `office_registered`, or one of the
    office's events naming its `office` and no account. An account's event that names an
    office (a registration, a transfer, official use) names its account as well."""
    kind = obj.get("type")
    names_account = any(ref in obj for ref in _ACCOUNT_REFS)
    if kind == office_fold.REGISTERED:
        if names_account:
            raise InvalidInput("an office's registration names no account (account_id, account)")
        return True
    if "office" not in obj or names_account or kind == fold.REGISTERED:
        return False
    if kind in OFFICE_COMMANDS:
        return True
    if kind in COMMANDS:
        raise InvalidInput(
            f"{_NAME_THE_ACCOUNT} (an office's own stream takes only "
            f"{', '.join(sorted(OFFICE_COMMANDS))})"
        )
    return False  # an unknown type: parsing names it


@dataclass(frozen=True)
class _Line:
    """A parsed line: its command, who writes it and whom the line attributes it to, its
    record time (a restore's), and the stream it goes to, an office's (by key) or an account's
    (by id, when the line gives one)."""

    n: int
    obj: dict[str, Any]
    command: Command
    actor: str
    recorded_at: datetime | None
    account_id: UUID | None
    office: str | None
    # A dispute's event, restored as recorded (its stream id and fact); `command` is unused.
    dispute: tuple[UUID, fold.Fact] | None = None
    attributed_to: str | None = None

    @property
    def stream_id(self) -> UUID | None:
        if self.dispute is not None:
            return self.dispute[0]
        return office_id(self.office) if self.office is not None else self.account_id


def _parse(obj: dict[str, Any], n: int, *, actor: str, restore: bool, now: datetime) -> _Line:
    if "dispute_id" in obj:
        return _dispute_line(obj, n, restore=restore, now=now)
    office: str | None = None
    if _is_office_line(obj):
        body = {k: v for k, v in obj.items() if k not in _ENVELOPE}
        if obj.get("type") != office_fold.REGISTERED:  # here the key routes; not a field
            office = body.pop("office")
            if not isinstance(office, str):
                raise InvalidInput("office: expected an office's key", field="office")
        command = parse_command(body, restore=restore, commands=OFFICE_COMMANDS)
        if isinstance(command, RegisterOffice):
            office = command.office
    else:
        body = {k: v for k, v in obj.items() if k not in _ROUTING}
        command = parse_command(body, restore=restore, commands=_IMPORT_COMMANDS)
        if "account_id" in obj and "account" in obj:
            raise InvalidInput("name the account once: account_id or account, not both")
    who, attributed_to = _who(obj, actor, restore=restore)
    if restore:
        recorded_at: datetime | None = _restored_at(obj, now)
    elif "recorded_at" in obj:
        raise InvalidInput(
            "recorded_at is set by the ledger when it records an event; only --restore "
            "(an export into an empty store) keeps it: remove the field, or restore"
        )
    else:
        recorded_at = None
    account_id = _uuid(obj["account_id"]) if "account_id" in obj else None
    return _Line(n, obj, command, who, recorded_at, account_id, office, attributed_to=attributed_to)


def _who(obj: dict[str, Any], actor: str, *, restore: bool) -> tuple[str, str | None]:
    """The event's actor and attribution. An import's events are written by `actor`, who runs
    it; the line's `attributed_to`, or else its `actor`, is kept as whom the file attributes
    the event to (not verified). A restore keeps both as exported (`actor` for a line without)."""
    said_actor, said = obj.get("actor"), obj.get("attributed_to")
    if said_actor is not None and not isinstance(said_actor, str):
        raise InvalidInput("actor: expected a string naming who recorded the event")
    if said is not None and not isinstance(said, str):
        raise InvalidInput("attributed_to: expected a string naming who recorded the event")
    if restore:
        return said_actor if said_actor is not None else actor, said
    if said is None and said_actor is not None:  # checked here, to name the line's own field
        said = check_actor(said_actor, name="actor")
    return actor, said


_DISPUTE_FIELDS = {"type", "dispute_id", "effective_at", "reason", "evidence", *_ENVELOPE}


def _dispute_line(obj: dict[str, Any], n: int, *, restore: bool, now: datetime) -> _Line:
    """A dispute's event from the ledger's own export: only a restore takes one (disputes are
    opened and resolved over the API, where their rules and roles are checked)."""
    if not restore:
        raise InvalidInput(
            "a dispute's event is only imported by --restore of the ledger's own export; "
            "open and resolve disputes over the API (POST /v1/disputes)"
        )
    kind = obj.get("type")
    if kind not in dispute_fold.TYPES:
        raise InvalidInput(
            f"a dispute's line has type {', '.join(dispute_fold.TYPES)}, not {shown(kind)}",
            field="type",
        )
    recorded_at = _restored_at(obj, now)
    evidence = obj.get("evidence", [])
    who, reason = obj.get("actor"), obj.get("reason", "")
    attributed_to = obj.get("attributed_to")
    if not isinstance(who, str) or not isinstance(reason, str) or not isinstance(evidence, list):
        raise InvalidInput("a dispute's line needs actor, reason and evidence as exported")
    if attributed_to is not None and not isinstance(attributed_to, str):
        raise InvalidInput("attributed_to: expected a string naming who recorded the event")
    fact = fold.Fact(
        version=0,  # the stream's next: the ledger numbers it
        type=str(kind),
        effective_at=recorded_at,
        recorded_at=recorded_at,
        actor=who,
        reason=reason,
        evidence=tuple(evidence),
        data={k: v for k, v in obj.items() if k not in _DISPUTE_FIELDS},
        kind="dispute",
        attributed_to=attributed_to,
    )
    placeholder = Command.model_construct(effective_at=recorded_at)
    return _Line(
        n, obj, placeholder, who, recorded_at, None, None, (_uuid(obj["dispute_id"]), fact)
    )


CHUNK_LINES = 5_000
"""Lines parsed, read ahead for (`CustodyLedger.prefetch`) and staged together: what an import
holds of its file at once, besides what it has staged."""


def stage(
    ledger: CustodyLedger,
    batch: Batch,
    lines: Iterable[Line],
    *,
    actor: str,
    restore: bool,
    report: ImportReport,
    progress: Progress,
    where: str = "",
    total: int = 0,
) -> None:
    """Stage every line; record a message per bad line (`where` names the file, when there
    are several) and carry on with the next. The lines are taken CHUNK_LINES at a time, each
    chunk parsed first, so that the aggregates it will look up are read in a few queries.
    `progress` is given the line number staged and `total`, the file's lines (if known)."""
    now = ledger.clock()
    errors: list[tuple[int, str]] = []
    for chunk in _chunks(lines, CHUNK_LINES):
        report.lines += len(chunk)
        parsed: list[_Line] = []
        for n, obj in chunk:
            if isinstance(obj, str):
                errors.append((n, str(obj)))
                continue
            try:
                parsed.append(_parse(obj, n, actor=actor, restore=restore, now=now))
            except LedgerError as e:
                errors.append((n, e.detail))
            except (KeyError, ValueError) as e:
                errors.append((n, str(e)))
        ledger.prefetch(
            batch, ((line.stream_id, line.command) for line in parsed if line.dispute is None)
        )
        for line in parsed:
            progress(line.n, max(total, line.n))
            try:
                _stage_line(ledger, batch, line, report)
            except LedgerError as e:
                errors.append((line.n, e.detail))
            except (KeyError, ValueError) as e:
                errors.append((line.n, str(e)))
    report.errors += [f"{where}line {n}: {message}" for n, message in sorted(errors)]


def _chunks(lines: Iterable[Line], size: int) -> Iterator[list[Line]]:
    chunk: list[Line] = []
    for line in lines:
        chunk.append(line)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def _stage_line(ledger: CustodyLedger, batch: Batch, line: _Line, report: ImportReport) -> None:
    command, who, recorded_at, said = line.command, line.actor, line.recorded_at, line.attributed_to
    if line.dispute is not None:
        ledger.restore_dispute_event(*line.dispute, batch=batch)
        return
    if line.office is not None:
        if isinstance(command, RegisterOffice):
            ledger.register_office(
                command, actor=who, batch=batch, recorded_at=recorded_at, attributed_to=said
            )
        else:
            ledger.append_office(
                line.office,
                command,  # type: ignore[arg-type]  # OFFICE_COMMANDS' other types are OfficeCommand
                actor=who,
                batch=batch,
                recorded_at=recorded_at,
                attributed_to=said,
            )
        report.offices.add(line.office)
        return
    if isinstance(command, RegisterAccount):
        record = ledger.register_account(
            command,
            actor=who,
            account_id=line.account_id,
            batch=batch,
            recorded_at=recorded_at,
            attributed_to=said,
        )
    else:
        record = ledger.append(
            _account_of(ledger, batch, line.obj, line.account_id),
            command,  # type: ignore[arg-type]  # an account line is never an office registration
            actor=who,
            batch=batch,
            recorded_at=recorded_at,
            attributed_to=said,
        )
    report.accounts.add(record.account_id)


def _restored_at(obj: dict[str, Any], now: datetime) -> datetime:
    if "recorded_at" not in obj:
        raise InvalidInput("--restore needs recorded_at on every line")
    recorded_at = require_utc(obj["recorded_at"], "recorded_at")
    if recorded_at > now:
        raise InvalidInput(
            f"recorded_at {recorded_at.isoformat()} is in the future (now {now.isoformat()})"
        )
    return recorded_at


def import_file(
    ledger: CustodyLedger,
    path: Path,
    *,
    actor: str,
    restore: bool = False,
    progress: Progress = lambda done, total: None,
    catch_up: Callable[[], object] | None = None,
) -> ImportReport:
    """All or nothing: raises ImportRefused (having written nothing) if any line is bad.
    `catch_up` (the read models', from the composition root) is called once the events are
    written; if it fails (or is interrupted), the import returns all the same with
    `report.behind` saying why: the events are in the log, and the read models derive their
    rows from it whenever they next catch up. A caller must check it."""
    return import_files(
        ledger, [path], actor=actor, restore=restore, progress=progress, catch_up=catch_up
    )


def import_files(
    ledger: CustodyLedger,
    paths: Sequence[Path],
    *,
    actor: str,
    restore: bool = False,
    progress: Progress = lambda done, total: None,
    catch_up: Callable[[], object] | None = None,
) -> ImportReport:
    """`import_file` for several files read as one, in this order, in one batch (a restore of
    them into an empty store, as of the demo's files): all of them or nothing. A bad line is
    named by its file when there are several."""
    if restore and holds_custody_events(ledger):
        raise InvalidInput(
            "--restore keeps record times, so it only loads into an empty store (one without "
            "custody events; tokens may be there already)"
        )
    # The lines read are bulk work too (ledger.bulk): the batch pauses the collector from
    # staging on, and this pause covers reading the files as well.
    with collector_paused():
        sizes = [count_lines(path) for path in paths]  # for progress; and each can be read
        report = ImportReport()
        with ledger.batch(by_stream=not restore) as batch:
            before, total = 0, sum(sizes)
            for path, size in zip(paths, sizes, strict=True):
                with open_lines(path) as lines:
                    stage(
                        ledger,
                        batch,
                        lines,
                        actor=actor,
                        restore=restore,
                        report=report,
                        progress=_shifted(progress, before),
                        where=f"{path.name} " if len(paths) > 1 else "",
                        total=total,
                    )
                before += size
            if report.errors:
                raise ImportRefused(report)
        report.written = len(batch.records)
        del batch  # what it staged: the projection needs none of it (ledger.records.RecentFacts)
        if catch_up is not None:
            try:
                catch_up()
            # Not a failed import, whatever stopped the projection (the store, a constraint,
            # Ctrl-C): the events are in the log, in one committed transaction.
            except (Exception, KeyboardInterrupt) as e:
                if isinstance(e, StoreUnavailable):
                    report.behind = e.detail
                elif isinstance(e, KeyboardInterrupt):
                    report.behind = "interrupted"
                else:
                    report.behind = f"{type(e).__name__}: {e}"
    return report


def _shifted(progress: Progress, before: int) -> Progress:
    """A file's progress as part of all the files' lines (`before`: the earlier files')."""
    return lambda done, total: progress(before + done, total)


def count_lines(path: Path) -> int:
    """How many lines a file has (blank ones too), read in blocks; UnreadableFile if it cannot
    be read."""
    count, last = 0, b"\n"
    try:
        with path.open("rb") as file:
            while block := file.read(1 << 20):
                count += block.count(b"\n")
                last = block[-1:]
    except OSError as e:
        raise UnreadableFile(f"cannot read {path}: {e.strerror or e}") from None
    return count + (last != b"\n")


def holds_custody_events(ledger: CustodyLedger) -> bool:
    """Whether the log holds any custody event (tokens and other streams aside)."""
    return bool(ledger.recorder.select_notifications(start=None, limit=1, topics=CUSTODY_TOPICS))


def custody_events(
    ledger: CustodyLedger, skipped: list[UnreadableEvent] | None = None
) -> Iterator[tuple[int, UUID, fold.Fact]]:
    """Every custody event of the log, in log order, with its position and account. One that
    cannot be decoded raises UnreadableEvent, or, given a `skipped` list, is added to it and
    passed over."""
    head = ledger.head()
    position = 0
    while True:
        notes = ledger.recorder.select_notifications(
            start=position, limit=1000, stop=head, topics=CUSTODY_TOPICS, inclusive_of_start=False
        )
        if not notes:
            return
        for note in notes:
            try:
                yield note.id, *decode_fact(ledger.mapper, note, note.id)
            except UnreadableEvent as e:
                if skipped is None:
                    raise
                skipped.append(e)
        position = notes[-1].id


def export_lines(
    ledger: CustodyLedger,
    progress: Progress = lambda done, total: None,
    skipped: list[UnreadableEvent] | None = None,
) -> Iterable[str]:
    """The whole custody log in log order, as JSON Lines that `import --restore` reads back
    (`skipped`: see `custody_events`). An office's line names its `office`, an account's its
    `account_id`."""
    head = ledger.head()
    offices: dict[UUID, str] = {}  # an office stream's id -> its key, from its registration
    for position, stream_id, fact in custody_events(ledger, skipped):
        stream = {"account_id": str(stream_id)}
        if fact.kind == "dispute":
            stream = {"dispute_id": str(stream_id)}
        elif fact.kind == "office":
            if fact.type == office_fold.REGISTERED:
                offices[stream_id] = str(fact.data["office"])
            if stream_id not in offices:  # its registration was unreadable, and skipped
                missing = UnreadableEvent(
                    stream_id, fact.version, position, "the office's registration is unreadable"
                )
                if skipped is None:
                    raise missing
                skipped.append(missing)
                continue
            stream = {"office": offices[stream_id]}
        yield json.dumps(_line(stream, fact), sort_keys=True)
        progress(position, head)
    progress(head, head)


def _line(stream: dict[str, str], fact: fold.Fact) -> dict[str, Any]:
    return {
        "type": fact.type,
        **stream,
        "effective_at": fact.effective_at.isoformat(),
        "recorded_at": fact.recorded_at.isoformat(),
        "actor": fact.actor,
        # Only an imported event's: an export of a store without attributions is as before.
        **({} if fact.attributed_to is None else {"attributed_to": fact.attributed_to}),
        "reason": fact.reason,
        "evidence": list(fact.evidence),
        **{k: v for k, v in fact.data.items() if v is not None},
    }


def write_export(
    ledger: CustodyLedger,
    out: TextIO,
    progress: Progress,
    skipped: list[UnreadableEvent] | None = None,
) -> int:
    count = 0
    for line in export_lines(ledger, progress, skipped):
        out.write(line + "\n")
        count += 1
    return count

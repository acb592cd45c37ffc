"""Commands and their values, validated with pydantic; a failure raises `InvalidInput`."""

from __future__ import annotations

import json
import re
import unicodedata
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Annotated, Any, ClassVar, Literal, Self

from confusable_homoglyphs import confusables
from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from ledger.compat import as_pydantic_init
from ledger.errors import InvalidInput

PLATFORM_RE = re.compile(r"^[a-z][a-z0-9_-]{0,31}$")
HANDLE_RE = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")
OFFICE_RE = re.compile(r"^[a-z0-9][a-z0-9._-]{0,79}$")
# ISO 3166-1 alpha-2, or an ISO 3166-2 subdivision code (PK, PK-PB, US-CA).
JURISDICTION_RE = re.compile(r"^[A-Z]{2}(-[A-Z0-9]{1,3})?$")
HOLDER_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$")
PLATFORM_ACCOUNT_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}$")
SHA256_RE = re.compile(r"^[0-9a-f]{64}$")
URL_RE = re.compile(r"^https?://[^\s/$.?#][^\s]*$", re.IGNORECASE)
CONTROL_RE = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
# Text shown on one line: no C0/C1 controls (tab and line breaks included), no bidirectional
# embeddings, overrides or isolates (they make a name read as another: "\u202eamabO kcaraB"),
# no byte-order mark or noncharacters.
LINE_CONTROL_RE = re.compile(
    r"[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069\ufeff\ufffe\uffff]"
)
MAX_HANDLE = 64
MAX_EVIDENCE = 32  # pieces of evidence on one event
MAX_REASON_BYTES = 4096
# Letters that render as nothing (Hangul fillers): category Lo, yet invisible.
INVISIBLE_LETTERS = frozenset("\u115f\u1160\u3164\uffa0")
MAX_JSON_DEPTH = 32
_JSON_TOKEN = re.compile(r'"(?:[^"\\]|\\.)*"?|[\[\]{}]', re.DOTALL)


def parse_json(text: str | bytes) -> Any:
    """JSON from outside (a request body, an import line): ValueError unless it is JSON
    nested at most MAX_JSON_DEPTH deep, without NaN or Infinity or a key given twice (which
    value a reader takes would be a guess).

    The depth is checked before parsing because the decoder recurses once per level: a deep
    document reaches the interpreter's recursion limit, and a garbage collection at that
    depth runs other objects' finalizers where they cannot even report their own errors."""
    if isinstance(text, bytes):
        text = text.decode(json.detect_encoding(text), "surrogatepass")
    if text.count("[") + text.count("{") > MAX_JSON_DEPTH:
        depth = 0
        for token in _JSON_TOKEN.finditer(text):
            bracket = token.group()
            if bracket in ("[", "{"):
                depth += 1
                if depth > MAX_JSON_DEPTH:
                    raise ValueError(f"JSON nested more than {MAX_JSON_DEPTH} levels deep")
            elif bracket in ("]", "}"):
                depth -= 1
    return _DECODER.decode(text)


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    obj = dict(pairs)
    if len(obj) != len(pairs):
        seen: set[str] = set()
        twice = next(k for k, _ in pairs if k in seen or seen.add(k))  # type: ignore[func-returns-value]
        raise ValueError(f"key {shown(twice)} appears twice in one object")
    return obj


# One decoder for every call: json.loads with an option builds a new one each time.
_DECODER = json.JSONDecoder(parse_constant=_refuse_constant, object_pairs_hook=_object)


def shown(value: object, limit: int = 60) -> str:
    """A value quoted in an error message, cut short: a refusal never echoes a huge input."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def normalize_handle(raw: str) -> str:
    """Strip one leading '@' and surrounding blanks; validate; keep the display case."""
    if not isinstance(raw, str):
        raise ValueError("a handle must be a string")
    handle = raw.strip()
    if handle.startswith("@"):
        handle = handle[1:]
    if not handle:
        raise ValueError("a handle must not be empty")
    if len(handle) > MAX_HANDLE:
        raise ValueError(f"a handle has at most {MAX_HANDLE} characters, got {len(handle)}")
    if not HANDLE_RE.fullmatch(handle):
        raise ValueError(
            f"handle {shown(handle)} has characters other than letters, digits, '_', '.' and '-'"
        )
    return handle


def handle_key(handle: str) -> str:
    """The case-insensitive key a handle is unique under."""
    return normalize_handle(handle).casefold()


def _pattern(regex: re.Pattern[str], what: str) -> Any:
    def check(value: str) -> str:
        if not regex.fullmatch(value):
            raise ValueError(f"{what} {shown(value)} is not valid (expected {regex.pattern})")
        return value

    return AfterValidator(check)


def _text(value: str) -> str:
    if CONTROL_RE.search(value):
        raise ValueError("control characters are not allowed")
    return value


def _restoring(info: ValidationInfo) -> bool:
    """Whether `Value.parse(restore=True)` runs this validation (its validation context)."""
    return isinstance(info.context, dict) and info.context.get("restore") is True


def single_line(value: str, info: ValidationInfo) -> str:
    """Text shown on one line (a name, a reference): see LINE_CONTROL_RE. A restore keeps
    what the older rule (`_text`) let in."""
    if _restoring(info):
        return _text(value)
    if LINE_CONTROL_RE.search(value):
        raise ValueError(
            "control characters (tabs, line breaks, bidirectional overrides, byte-order marks) "
            "are not allowed"
        )
    return value


def _utc(value: datetime) -> datetime:
    try:
        return value.astimezone(UTC)
    except OverflowError:
        raise ValueError("time is out of range once converted to UTC") from None


def _url(value: str, info: ValidationInfo) -> str:
    controls = LINE_CONTROL_RE.search(value) and not _restoring(info)
    if not URL_RE.fullmatch(value) or controls:
        raise ValueError(f"{shown(value)} is not an http(s) URL")
    return value


Platform = Annotated[str, _pattern(PLATFORM_RE, "platform")]


def _new_handle(value: str, info: ValidationInfo) -> str:
    """A handle that a new event may give: not only dots and dashes (`.` and `..` register,
    and then every client normalises the lookup URL to another path)."""
    if not _restoring(info) and not any(ch.isalnum() or ch == "_" for ch in value):
        raise ValueError(f"handle {shown(value)} needs a letter, a digit or '_'")
    return value


Handle = Annotated[str, AfterValidator(normalize_handle), AfterValidator(_new_handle)]
Office = Annotated[str, _pattern(OFFICE_RE, "office")]
HolderId = Annotated[str, _pattern(HOLDER_ID_RE, "holder id")]
Jurisdiction = Annotated[
    str, _pattern(JURISDICTION_RE, "jurisdiction (ISO 3166, e.g. PK or PK-PB)")
]
PlatformAccountId = Annotated[str, _pattern(PLATFORM_ACCOUNT_ID_RE, "platform account id")]
Sha256 = Annotated[str, _pattern(SHA256_RE, "sha256 (64 lower-case hex digits)")]


def _rfc3339(value: Any) -> Any:
    # pydantic would read a bare number as seconds since 1970; a custody time must be spelled out.
    if isinstance(value, (int, float)) or (
        isinstance(value, str) and RFC3339_RE.fullmatch(value) is None
    ):
        raise ValueError("expected an RFC 3339 time with an offset, e.g. 2017-01-20T17:00:00Z")
    return value


RFC3339_RE = re.compile(
    r"^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?([Zz]|[+-]\d{2}:?\d{2})?$"
)
UtcTime = Annotated[AwareDatetime, BeforeValidator(_rfc3339), AfterValidator(_utc)]


def _bounded_reason(value: str, info: ValidationInfo) -> str:
    size = len(value.encode("utf-8"))
    if size > MAX_REASON_BYTES and not _restoring(info):
        raise ValueError(f"a reason has at most {MAX_REASON_BYTES} bytes (UTF-8), got {size}")
    return value


def _bounded_evidence(value: tuple[Any, ...], info: ValidationInfo) -> tuple[Any, ...]:
    if len(value) > MAX_EVIDENCE and not _restoring(info):
        raise ValueError(f"at most {MAX_EVIDENCE} pieces of evidence, got {len(value)}")
    return value


Reason = Annotated[str, AfterValidator(_text), AfterValidator(_bounded_reason)]
Url = Annotated[str, Field(max_length=2048), AfterValidator(_url)]


def field_errors(
    errors: Iterable[Mapping[str, Any]],
) -> tuple[tuple[tuple[str | int, ...], str], ...]:
    """(location, message a person can act on) for each of pydantic's errors (as
    `ValidationError.errors()` or FastAPI's request validation gives them); never the
    offending input itself."""
    out = []
    for item in errors:
        message = str(item.get("msg", "")).removeprefix("Value error, ")
        if item.get("type") == "timezone_aware":
            message = "a time must carry a timezone offset, e.g. 2017-01-20T17:00:00Z"
        # An unknown key is its own location: cut short like any echoed input.
        loc = tuple(p if isinstance(p, int) else _cut(str(p)) for p in item.get("loc", ()))
        out.append((loc, message))
    return tuple(out)


def _cut(text: str, limit: int = 60) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def dotted(loc: tuple[str | int, ...]) -> str:
    """A location as a person reads it: holder.id, evidence.0.url."""
    return ".".join(str(p) for p in loc) or "input"


def describe(error: ValidationError) -> str:
    """One line naming each bad field."""
    return "; ".join(f"{dotted(loc)}: {message}" for loc, message in field_errors(error.errors()))


def invalid(error: ValidationError) -> InvalidInput:
    errors = field_errors(error.errors())
    return InvalidInput(
        describe(error), field=dotted(errors[0][0]) if errors else None, errors=errors
    )


class Value(BaseModel):
    """A frozen, strictly validated value; bad input raises `InvalidInput`."""

    model_config = ConfigDict(frozen=True, extra="forbid", str_strip_whitespace=True)

    # Marked as pydantic's own (`ledger.compat`): pydantic builds nested values (a holder in a
    # command) without calling it, so their errors keep their place (holder.id) in the one
    # InvalidInput the outermost call raises, and nested values skip a call through Python.
    @as_pydantic_init
    def __init__(self, **data: Any) -> None:
        try:
            super().__init__(**data)
        except ValidationError as e:
            raise invalid(e) from None

    @classmethod
    def model_validate(cls, obj: Any, **kwargs: Any) -> Self:
        """pydantic's, raising `InvalidInput` as every other way in does."""
        try:
            return super().model_validate(obj, **kwargs)
        except ValidationError as e:
            raise invalid(e) from None

    @classmethod
    def parse(cls, data: Any, *, restore: bool = False) -> Self:
        """Validate `data`. `restore`: it comes from the ledger's own export, recorded under
        the rules of its day; rules that only tidy new input since then do not apply to it."""
        return cls.model_validate(data, context={"restore": restore})


class Evidence(Value):
    """A source for the event: where a reader can check it."""

    url: Url = Field(
        description="Where the source is (http or https, at most 2 KiB).",
        examples=["https://www.whitehouse.gov/briefing-room/"],
    )
    sha256: Sha256 | None = Field(
        default=None,
        description="SHA-256 of the source as it was read (64 lower-case hex digits), if kept.",
        examples=["9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"],
    )


def readable_name(value: str, info: ValidationInfo) -> str:
    """A person's name as readers will compare it: nothing invisible (zero-width and other
    format characters, Hangul fillers, private-use or unassigned code points, spaces other
    than the plain one) and no word that mixes scripts with look-alike letters ("Barack"
    spelt with a Cyrillic a, U+0430), which would make one person read as another. A
    zero-width (non-)joiner stays allowed between two letters of a script that writes with it
    (Persian, Urdu, Indic). A restore keeps what older rules let in."""
    if _restoring(info):
        return value
    for n, ch in enumerate(value):
        category = unicodedata.category(ch)
        if ch in "\u200c\u200d" and 0 < n < len(value) - 1:
            # After a letter of a script that joins (Arabic, Persian) or a virama (Indic),
            # before a letter: the joiner shapes the word.
            before, after = value[n - 1], value[n + 1]
            joins = not before.isascii() and (
                before.isalpha() or unicodedata.category(before).startswith("M")
            )
            if joins and after.isalpha():
                continue
        if (
            category in ("Cf", "Co", "Cn")
            or ch in INVISIBLE_LETTERS
            or (category.startswith("Z") and ch != " ")
        ):
            raise ValueError(
                f"invisible or blank character U+{ord(ch):04X} ({unicodedata.name(ch, 'unnamed')})"
                " is not allowed in a name"
            )
    for word in value.split(" "):
        # Accents are marks, not a script: "José" typed with a combining acute (decomposed,
        # as some keyboards send it) is one Latin word.
        letters = "".join(
            c
            for c in unicodedata.normalize("NFD", word)
            if not unicodedata.category(c).startswith("M")
        )
        if letters and confusables.is_dangerous(letters):
            raise ValueError(
                f"{shown(word)} mixes scripts with letters that look alike (a Cyrillic a, "
                "U+0430, among Latin letters, say); write each word in one script"
            )
    return value


Name = Annotated[
    str,
    Field(min_length=1, max_length=200),
    AfterValidator(single_line),
    AfterValidator(readable_name),
]


class Holder(Value):
    """The person who holds the account."""

    id: HolderId = Field(
        description="A stable id for the person, the same on every account they hold.",
        examples=["barack-obama"],
    )
    name: Name = Field(
        description="The person's name as it should be shown.", examples=["Barack Obama"]
    )


def _exact_count(value: int, info: ValidationInfo) -> int:
    # At most 2**53 - 1: a count every JSON reader (the page's JavaScript too) holds exactly.
    if value > 2**53 - 1 and not _restoring(info):
        raise ValueError("a count of items is at most 2**53 - 1 (9007199254740991)")
    return value


class Archive(Value):
    """Where the predecessor's posts were archived."""

    ref: Annotated[str, Field(min_length=1, max_length=2048), AfterValidator(single_line)] = Field(
        description="Where the archive is: a URL or a reference of the archiving body.",
        examples=["https://x.com/POTUS44"],
    )
    sha256: Sha256 | None = Field(
        default=None,
        description="SHA-256 of the archive, if it is a file.",
        examples=["9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"],
    )
    items: Annotated[int, Field(ge=0, strict=True), AfterValidator(_exact_count)] | None = Field(
        default=None, description="How many posts the archive holds, if counted.", examples=[352]
    )


class Command(Value):
    """Fields every custody event carries from the client."""

    type: ClassVar[str]
    effective_at: UtcTime = Field(
        description="Valid time: when it took effect in the world (RFC 3339 with an offset).",
        examples=["2017-01-20T17:00:00Z"],
    )
    reason: Reason = Field(
        default="",
        description="Why, in a sentence a reader of the record can follow (at most 4 KiB).",
        examples=["Inauguration: the office passes to the President-elect."],
    )
    evidence: Annotated[tuple[Evidence, ...], AfterValidator(_bounded_evidence)] = Field(
        default=(),
        description="The sources for the event (at most 32).",
        examples=[[{"url": "https://www.whitehouse.gov/briefing-room/"}]],
    )

    @field_validator("effective_at")
    @classmethod
    def _in_range(cls, value: datetime) -> datetime:
        if value.year < 1900:
            raise ValueError("effective_at before 1900 is not plausible for a social-media account")
        return value

    def data(self) -> dict[str, Any]:
        """The type's own fields, as JSON-ready values."""
        common = {"effective_at", "reason", "evidence"}
        return self.model_dump(mode="json", exclude=common)


class RegisterAccount(Command):
    type: ClassVar[str] = "account_registered"
    platform: Platform = Field(description="The platform's key.", examples=["x"])
    platform_account_id: PlatformAccountId | None = Field(
        default=None,
        description="The platform's permanent id of the account (unchanged by renames).",
        examples=["822215679726100480"],
    )
    handle: Handle = Field(description="The handle it carries from then on.", examples=["@POTUS"])
    office: Office | None = Field(
        default=None,
        description="The office the account belongs to (required when it is the office's); for "
        "a personal account, the office it speaks for from registration, if any.",
        examples=["us-president"],
    )
    ownership: Literal["office", "personal"] = Field(
        default="office",
        description='"office": the account belongs to the office and passes to successors; '
        '"personal": it belongs to `owner` and leaves with them.',
        examples=["office"],
    )
    owner: Holder | None = Field(
        default=None,
        description="The person a personal account belongs to (only for personal accounts).",
        examples=[{"id": "asim-saleem-bajwa", "name": "Asim Saleem Bajwa"}],
    )

    @model_validator(mode="after")
    def _owned(self) -> Self:
        check_ownership(self.ownership, self.owner, self.office)
        return self

    def data(self) -> dict[str, Any]:
        # An office's account records what it always did: the ownership keys only when personal.
        return ownership_data(super().data())


def check_ownership(ownership: str, owner: Holder | None, office: str | None) -> None:
    """An office's account names its office and no owner; a personal one names its owner."""
    if ownership == "office":
        if owner is not None:
            raise InvalidInput(
                "owner: an account that belongs to an office has no owner (leave it out, or "
                'give "ownership": "personal")',
                field="owner",
            )
        if office is None:
            raise InvalidInput(
                "office: an account that belongs to an office names the office", field="office"
            )
    elif owner is None:
        raise InvalidInput("owner: a personal account names its owner ({id, name})", field="owner")


def ownership_data(data: dict[str, Any]) -> dict[str, Any]:
    if data.get("ownership") == "office":
        del data["ownership"]
    return {k: v for k, v in data.items() if v is not None}


class AssignHolder(Command):
    type: ClassVar[str] = "holder_assigned"
    holder: Holder = Field(
        description="The person who takes custody (a handover if another held it).",
        examples=[{"id": "barack-obama", "name": "Barack Obama"}],
    )


class ReleaseHolder(Command):
    type: ClassVar[str] = "holder_released"


class RenameHandle(Command):
    type: ClassVar[str] = "handle_renamed"
    handle: Handle = Field(description="The new handle.", examples=["@POTUS44"])


class ArchiveHistory(Command):
    type: ClassVar[str] = "history_archived"
    archive: Archive = Field(
        description="Where the posts so far were archived.",
        examples=[{"ref": "https://x.com/POTUS44", "items": 352}],
    )


class TransferOffice(Command):
    type: ClassVar[str] = "office_transferred"
    office: Office = Field(
        description="The office that owns the account from then on.", examples=["nara"]
    )


class CloseAccount(Command):
    type: ClassVar[str] = "account_closed"


class RetractEvent(Command):
    type: ClassVar[str] = "event_retracted"
    event_version: Annotated[int, Field(ge=1, strict=True)] = Field(
        description="The version of the erroneous event in this account's stream.", examples=[3]
    )


class ChangeOwnership(Command):
    type: ClassVar[str] = "ownership_changed"
    ownership: Literal["office", "personal"] = Field(
        description='Who owns the account from then on: "office" or "personal".',
        examples=["office"],
    )
    owner: Holder | None = Field(
        default=None,
        description="The owner, when it becomes personal.",
        examples=[{"id": "shahbaz-sharif", "name": "Shahbaz Sharif"}],
    )
    office: Office | None = Field(
        default=None,
        description="The office that owns it (to office); for a personal account, the office "
        "it speaks for from then on, if any.",
        examples=["pk-dg-ispr"],
    )

    @model_validator(mode="after")
    def _owned(self) -> Self:
        check_ownership(self.ownership, self.owner, self.office)
        return self

    def data(self) -> dict[str, Any]:
        data = super().data()
        return {k: v for k, v in data.items() if v is not None}


class StartOfficialUse(Command):
    type: ClassVar[str] = "official_use_started"
    office: Office = Field(
        description="The office the personal account speaks for from then on (ending any "
        "earlier use).",
        examples=["pk-dg-ispr"],
    )


class EndOfficialUse(Command):
    type: ClassVar[str] = "official_use_ended"


class ObserveAudience(Command):
    type: ClassVar[str] = "audience_observed"
    followers: Annotated[int, Field(ge=0, strict=True), AfterValidator(_exact_count)] = Field(
        description="Followers seen at effective_at (a whole number); the source goes in evidence.",
        examples=[3050000],
    )


AccountCommand = (
    ChangeOwnership
    | StartOfficialUse
    | EndOfficialUse
    | ObserveAudience
    | AssignHolder
    | ReleaseHolder
    | RenameHandle
    | ArchiveHistory
    | TransferOffice
    | CloseAccount
    | RetractEvent
)

COMMANDS: dict[str, type[Command]] = {
    cls.type: cls
    for cls in (
        RegisterAccount,
        AssignHolder,
        ReleaseHolder,
        RenameHandle,
        ArchiveHistory,
        TransferOffice,
        CloseAccount,
        RetractEvent,
        ChangeOwnership,
        StartOfficialUse,
        EndOfficialUse,
        ObserveAudience,
    )
}

OfficeName = Annotated[str, Field(min_length=1, max_length=200), AfterValidator(single_line)]


class RegisterOffice(Command):
    type: ClassVar[str] = "office_registered"
    office: Office = Field(description="The office's key.", examples=["pk-dg-ispr"])
    name: OfficeName = Field(
        description="The office's name as it should be shown.",
        examples=["Director General, Inter-Services Public Relations"],
    )
    jurisdiction: Jurisdiction = Field(
        description="Where the office serves: an ISO 3166-1 country or ISO 3166-2 subdivision.",
        examples=["PK"],
    )


# An office stream's events after its registration: a holder takes office (a handover if
# another held it), the office falls vacant, an erroneous event is retracted.
OfficeCommand = AssignHolder | ReleaseHolder | RetractEvent
OFFICE_COMMANDS: dict[str, type[Command]] = {
    cls.type: cls for cls in (RegisterOffice, AssignHolder, ReleaseHolder, RetractEvent)
}


def parse_command(
    data: Any, *, restore: bool = False, commands: Mapping[str, type[Command]] = COMMANDS
) -> Command:
    """Build the command a JSON object names by its `type` (`restore`: see Value.parse), one of
    `commands` (an account's by default; OFFICE_COMMANDS for an office stream)."""
    if not isinstance(data, dict):
        raise InvalidInput("a command must be a JSON object")
    kind = data.get("type")
    cls = commands.get(kind) if isinstance(kind, str) else None
    if cls is None:
        known = ", ".join(sorted(commands))
        raise InvalidInput(
            f"unknown event type {shown(kind)}; expected one of: {known}", field="type"
        )
    return cls.parse({k: v for k, v in data.items() if k != "type"}, restore=restore)


def require_utc(value: Any, name: str) -> datetime:
    """Validate a query time: aware, converted to UTC."""
    if isinstance(value, str):
        if RFC3339_RE.fullmatch(value) is None:
            raise InvalidInput(
                f"{name}: {shown(value)} is not an RFC 3339 time with a timezone offset, "
                "e.g. 2017-01-20T17:00:00Z",
                field=name,
            )
        try:
            value = datetime.fromisoformat(value.replace("Z", "+00:00").replace("z", "+00:00"))
        except ValueError:
            raise InvalidInput(
                f"{name}: {shown(value)} is not an RFC 3339 time", field=name
            ) from None
    if not isinstance(value, datetime):
        raise InvalidInput(f"{name}: expected a time", field=name)
    if value.tzinfo is None or value.utcoffset() is None:
        raise InvalidInput(
            f"{name}: a time must carry a timezone offset, e.g. 2017-01-20T17:00:00Z", field=name
        )
    try:
        return value.astimezone(UTC)
    except OverflowError:
        raise InvalidInput(
            f"{name}: time is out of range once converted to UTC", field=name
        ) from None

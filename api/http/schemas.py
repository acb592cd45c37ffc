"""Response models and the problem model: what clients read, each field described.

Request bodies are the ledger's own command models (`ledger.commands`), read and documented in
`api.http.bodies`.
"""

from __future__ import annotations

from dataclasses import fields
from datetime import datetime
from typing import Annotated, Any, ClassVar, Literal
from uuid import UUID

from fastapi import Response
from pydantic import AliasPath, BaseModel, ConfigDict, Field, model_validator

from api.http.errors import PROBLEM_JSON
from ledger import fold
from ledger.changes import Window
from ledger.dispute_fold import TYPES as DISPUTE_TYPES
from ledger.records import EventRecord
from projections.queries import views


class Out(BaseModel):
    """A response body: what clients see of one of the query service's frozen dataclasses
    (`view`), validated from it attribute by attribute; a field read from deeper in the view
    names its path (`validation_alias=AliasPath(...)`). The body documents its fields and may
    leave some of the view's out, but reads none the view lacks (checked at import)."""

    model_config = ConfigDict(from_attributes=True, populate_by_name=True)
    view: ClassVar[type | None] = None

    @classmethod
    def __pydantic_init_subclass__(cls, **kwargs: Any) -> None:
        super().__pydantic_init_subclass__(**kwargs)
        if cls.view is None:
            return
        have = {f.name for f in fields(cls.view)}
        for name, info in cls.model_fields.items():
            path = info.validation_alias
            first = path.path[0] if isinstance(path, AliasPath) else name
            if first not in have:
                raise TypeError(f"{cls.__name__}.{name}: {cls.view.__name__} has no {first!r}")

    def response(self, status_code: int = 200, headers: dict[str, str] | None = None) -> Response:
        """This body as the response, serialised once: FastAPI does not validate a returned
        Response again (the hot routes skip that second pass and its thread hop); the route's
        `response_model` still documents it."""
        return Response(
            self.model_dump_json(by_alias=True),
            status_code=status_code,
            headers=headers,
            media_type="application/json",
        )


# -- examples for the OpenAPI document: the demo's first @POTUS account, Barack Obama's ---------

_ACCOUNT_ID = "3b6d7be1-b2fa-4ac0-94e3-21774eebbea7"
_AT = "2016-12-14T12:00:00Z"
_KNOWN_AT = "2017-01-20T18:00:00Z"
_HOLDER_REF = {"id": "barack-obama", "name": "Barack Obama"}
_HOLDER = {**_HOLDER_REF, "since": "2015-05-18T00:00:00Z"}
_PROVENANCE = {
    "version": 2,
    "type": "holder_assigned",
    "recorded_at": "2015-05-18T15:00:01Z",
    "actor": "demo:records-office",
    "position": 2,
}
_SHA256 = "2c26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7ae"
_ARCHIVE = {
    "ref": "https://x.com/POTUS44",
    "sha256": _SHA256,
    "items": 352,
    "effective_at": "2017-01-20T17:00:00Z",
}
_INEFFECTIVE = {
    "version": 7,
    "type": "holder_released",
    "why": "nobody holds the account at that instant",
}
_EVIDENCE = {"url": "https://records.example.gov/potus/2015", "sha256": _SHA256}
_AUDIENCE = {
    "followers": 3050000,
    "observed_at": "2016-12-26T00:00:00Z",
    "established_by": [{**_PROVENANCE, "type": "audience_observed"}],
}
# FastAPI drops null members of objects when it writes the document, so the objects below
# avoid nulls that would leave a required field out of the example.
_EVENT = {  # the demo's retracted handover of @CMRuritania (see the README's Concepts)
    "account_id": "540ac008-9006-47b7-99b2-87d9305174d5",
    "version": 3,
    "position": 61,
    "type": "holder_assigned",
    "effective_at": "2021-06-10T09:00:00Z",
    "recorded_at": "2021-06-12T08:00:00Z",
    "actor": "demo:records-office",
    "reason": "FICTIONAL. Handover to Boris Kade (recorded with the wrong date).",
    "evidence": [{"url": "https://gazette.ruritania.example/2021/06/01/oath"}],
    "data": {"holder": {"id": "boris-kade", "name": "Boris Kade"}},
    "retracted_by": 4,
}
_SPAN = {"from": "2015-05-18T00:00:00Z", "to": "2017-01-20T17:00:00Z"}
_CUSTODY_INTERVAL = {
    "holder": _HOLDER_REF,
    **_SPAN,
    "handles": ["POTUS"],
    "offices": ["us-president"],
    "established_by": [_PROVENANCE],
}
_HOLDING = {
    "account_id": _ACCOUNT_ID,
    "handle": "POTUS",
    "handles": ["POTUS"],
    "offices": ["us-president"],
    **_SPAN,
    "established_by": [_PROVENANCE],
}
_HANDLE_INTERVAL = {
    "account_id": _ACCOUNT_ID,
    "handle": "POTUS",
    **_SPAN,
    "established_by": [_PROVENANCE],
}
_ACCOUNT_SUMMARY = {
    "account_id": _ACCOUNT_ID,
    "platform": "x",
    "handle": "POTUS",
    "office": "us-president",
    "status": "active",
    "holder": _HOLDER,
}

_WORKER_ERROR = "OperationalError: connection to server at 127.0.0.1, port 5432 failed"

# Fields that mean the same in every body that carries them.
_ACCOUNT_ID_TEXT = "The account's id, as in `/v1/accounts/{account_id}`."
_AT_TEXT = "Valid time the answer is for (RFC 3339, UTC)."
_KNOWN_AT_TEXT = "Record time the answer is as of (RFC 3339, UTC); null: as known now."
_ESTABLISHED_TEXT = "The recorded events this answer rests on, in version order."
_FROM_TEXT = "Valid time the interval begins, inclusive (RFC 3339, UTC)."
_TO_TEXT = "Valid time the interval ends, exclusive (RFC 3339, UTC); null while it is open."
_ACCOUNT_STATUS_TEXT = "`active`, or `closed` once the account has been closed."


class Problem(BaseModel):
    """An RFC 9457 problem: `type` names the cause and is stable; `detail` says what to do."""

    type: str = Field(
        description="A URL naming the cause; stable, so clients can branch on it.",
        examples=["https://custody-ledger.example/problems/stale-version"],
    )
    title: str = Field(description="A short summary of the cause.", examples=["Stale version"])
    status: int = Field(description="The HTTP status code of the response.", examples=[412])
    detail: str = Field(
        description="What went wrong with this request, and what to do about it.",
        examples=[
            f"Account {_ACCOUNT_ID} is at version 6, not the expected 5; read it again and retry."
        ],
    )
    errors: list[dict[str, Any]] | None = Field(
        default=None,
        description="For validation problems: one `{loc, msg, type}` per field.",
        examples=[
            [
                {
                    "loc": ["query", "limit"],
                    "msg": "Input should be greater than or equal to 1",
                    "type": "greater_than_equal",
                }
            ]
        ],
    )
    model_config = ConfigDict(extra="allow")


class EvidenceOut(Out):
    """A document that supports a recorded event."""

    url: str = Field(description="Where the document is.", examples=[_EVIDENCE["url"]])
    sha256: str | None = Field(
        default=None,
        description="The document's SHA-256 (hex), to check it is unchanged; null if not given.",
        examples=[_SHA256],
    )


class EventRecordOut(Out):
    """One recorded custody event."""

    view = EventRecord
    account_id: UUID | None = Field(
        default=None,
        description=_ACCOUNT_ID_TEXT + " Null for an event of an office's or a dispute's stream.",
        examples=[_ACCOUNT_ID],
    )
    office: str | None = Field(
        default=None,
        description="The office's key, for an event of an office's stream "
        "(`/v1/offices/{office}/events`); null for an account's.",
        examples=[None, "pk-dg-ispr"],
    )

    dispute_id: UUID | None = Field(
        default=None,
        validation_alias=AliasPath("account_id"),
        description="The dispute's id, for an event of a dispute's stream "
        "(`/v1/disputes/{id}`); null otherwise.",
        examples=[None],
    )

    @model_validator(mode="after")
    def _stream(self) -> EventRecordOut:
        if self.office is not None:  # an office's stream: its key names it, not its uuid
            self.account_id = None
        if self.type in DISPUTE_TYPES:  # a dispute's: its id is the dispute's
            self.account_id = None
        else:
            self.dispute_id = None
        return self

    version: int = Field(
        description="The event's version in its account stream (from 1).", examples=[2]
    )
    position: int | None = Field(
        description="The event's position in the global log.", examples=[2]
    )
    type: str = Field(
        description="The event type, e.g. `holder_assigned` or `event_retracted`.",
        examples=["holder_assigned"],
    )
    effective_at: datetime = Field(
        description="Valid time: when the fact took effect.", examples=["2015-05-18T00:00:00Z"]
    )
    recorded_at: datetime = Field(
        description="Record time: when the ledger learned it.", examples=["2015-05-18T15:00:01Z"]
    )
    actor: str = Field(
        description="Who wrote the event: the name of the token that recorded it, or for the "
        "command line the door and the user that ran it (`import:USER` for an import).",
        examples=["demo:records-office"],
    )
    attributed_to: str | None = Field(
        default=None,
        description="Who the imported line says recorded the event (the line's `actor`); not "
        "verified by the ledger, which records who ran the import as `actor`. Null for events "
        "written directly.",
        examples=[None, "records-office"],
    )
    reason: str = Field(
        description="Why the event was recorded, in the recorder's words (may be empty).",
        examples=["Barack Obama posts from @POTUS."],
    )
    evidence: list[EvidenceOut] = Field(
        description="The documents the recorder gave for the event.", examples=[[_EVIDENCE]]
    )
    data: dict[str, Any] = Field(
        description="The event type's own fields.", examples=[{"holder": _HOLDER_REF}]
    )
    retracted_by: int | None = Field(
        default=None,
        description="The version of the event that retracted this one; null if none did.",
        examples=[None, 4],
    )


class ProvenanceOut(Out):
    """One event behind an answer."""

    view = views.Provenance
    version: int = Field(description="The event's version in its account stream.", examples=[2])
    type: str = Field(description="The event type.", examples=["holder_assigned"])
    recorded_at: datetime = Field(
        description="Record time: when the ledger learned of the event (RFC 3339, UTC).",
        examples=["2015-05-18T15:00:01Z"],
    )
    actor: str = Field(
        description="The name of the token that recorded the event.",
        examples=["demo:records-office"],
    )
    position: int = Field(
        description="The event's position in the global log (`GET /v1/events`).", examples=[2]
    )


class HolderOut(Out):
    """Who holds an account, and since when."""

    view = views.HolderView
    id: str = Field(
        description="The holder's id, as in `/v1/holders/{holder_id}/custody`.",
        examples=["barack-obama"],
    )
    name: str = Field(description="The holder's name as recorded.", examples=["Barack Obama"])
    since: datetime | None = Field(
        default=None,
        description="Valid time the holder's custody began (RFC 3339, UTC).",
        examples=["2015-05-18T00:00:00Z"],
    )


# Named as the fold's `HolderRef`, which it renders, so the component keeps the name clients
# know; a class here, not the fold's dataclass, so that its fields are documented.
class HolderRef(Out):
    """A holder of an account."""

    view = fold.HolderRef
    id: str = Field(
        description="The holder's id, as in `/v1/holders/{holder_id}/custody`.",
        examples=["barack-obama"],
    )
    name: str = Field(description="The holder's name as recorded.", examples=["Barack Obama"])


class ArchiveOut(Out):
    """An archive of the account's history."""

    view = fold.ArchiveEntry
    ref: str = Field(
        description="Where the archive is: a URL or an archive's own reference.",
        examples=["https://x.com/POTUS44"],
    )
    sha256: str | None = Field(
        description="The archive's SHA-256 (hex); null if not recorded.", examples=[_SHA256]
    )
    items: int | None = Field(
        description="How many items (posts) the archive holds; null if not recorded.",
        examples=[352],
    )
    effective_at: datetime = Field(
        description="Valid time the history was archived (RFC 3339, UTC).",
        examples=["2017-01-20T17:00:00Z"],
    )


class IneffectiveOut(Out):
    """A recorded event that has no effect on the answer."""

    view = fold.Ineffective
    version: int = Field(description="The event's version in its account stream.", examples=[7])
    type: str = Field(description="The event type.", examples=["holder_released"])
    why: str = Field(
        description="Why the event has no effect at that time.",
        examples=["nobody holds the account at that instant"],
    )


class AudienceOut(Out):
    """An observation of an account's audience."""

    view = views.AudienceView
    followers: int = Field(description="Followers observed.", examples=[3050000])
    observed_at: datetime = Field(
        description="Valid time of the observation (RFC 3339, UTC).",
        examples=["2016-12-26T00:00:00Z"],
    )
    established_by: list[ProvenanceOut] = Field(
        description="The event that recorded the observation (its evidence names the source).",
        examples=[[_PROVENANCE]],
    )


# An account's facets at `at`, as the state and the listing both give them.
HandleAt = Annotated[
    str,
    Field(
        description="The handle the account carried at `at`, without the `@`.", examples=["POTUS"]
    ),
]
OfficeAt = Annotated[
    str | None,
    Field(
        description="The office the account belonged to at `at`; for a personal account, the "
        "office it spoke for then (null when none).",
        examples=["us-president"],
    ),
]
StatusAt = Annotated[
    Literal["active", "closed"], Field(description=_ACCOUNT_STATUS_TEXT, examples=["active"])
]
HolderAt = Annotated[
    HolderOut | None,
    Field(description="Who held the account at `at`; null while nobody did.", examples=[_HOLDER]),
]


_DISPUTE_ID = "0b5e6c1e-2f4a-4d8e-9c3b-7a1f2e3d4c5b"
_WINDOW = {"from": "2017-01-01T00:00:00Z", "to": "2017-02-01T00:00:00Z"}
_CLAIM = "The account was renamed away from the office before the handover."
_OPENED_AT = "2017-01-27T09:00:00Z"
_DISPUTE_ID_TEXT = "The dispute's id (`GET /v1/disputes/{id}`)."
_WINDOW_TEXT = "The valid-time window the dispute contests, [from, to)."
_CLAIM_TEXT = "What the party that opened it says the record gets wrong."
_OPENED_TEXT = "When the ledger recorded the dispute's opening (record time)."


class WindowOut(Out):
    """A stretch of valid time, `[from, to)`: asked about (changes, a dossier) or contested (a
    dispute)."""

    view = Window
    valid_from: datetime = Field(
        alias="from",
        description="Valid time the window begins, inclusive (RFC 3339, UTC).",
        examples=[_WINDOW["from"]],
    )
    valid_to: datetime = Field(
        alias="to",
        description="Valid time the window ends, exclusive (RFC 3339, UTC).",
        examples=[_WINDOW["to"]],
    )


def nested_window(value: Any) -> Any:
    """A view with `window_from`/`window_to` as the body's nested `window`."""
    if isinstance(value, (BaseModel, dict)):
        return value
    fields = {n: getattr(value, n) for n in value.__slots__}
    fields["window"] = {"from": fields.pop("window_from"), "to": fields.pop("window_to")}
    return fields


class DisputeNoteOut(Out):
    """A dispute open at the answer's `known_at` about what it answers: the fact is contested."""

    dispute_id: UUID = Field(description=_DISPUTE_ID_TEXT, examples=[_DISPUTE_ID])
    window: WindowOut = Field(description=_WINDOW_TEXT, examples=[_WINDOW])
    claim: str = Field(description=_CLAIM_TEXT, examples=[_CLAIM])
    opened_at: datetime = Field(description=_OPENED_TEXT, examples=[_OPENED_AT])

    @model_validator(mode="before")
    @classmethod
    def _from_view(cls, value: Any) -> Any:
        return nested_window(value)


class AccountOut(Out):
    """An account's state at `at` as known at `known_at` (null: as known now)."""

    view = views.AccountView
    account_id: UUID = Field(description=_ACCOUNT_ID_TEXT, examples=[_ACCOUNT_ID])
    platform: str = Field(description="The platform the account is on.", examples=["x"])
    platform_account_id: str | None = Field(
        description="The platform's own id for the account; null if not recorded.",
        examples=["822215679726100480"],
    )
    handle: HandleAt
    office: OfficeAt
    status: StatusAt
    holder: HolderAt
    archives: list[ArchiveOut] = Field(
        description="The archives of the account's history effective up to `at`.",
        examples=[[_ARCHIVE]],
    )
    version: int = Field(
        description="The stream version as known at `known_at`; the `ETag` header has the "
        "current one, for `If-Match`.",
        examples=[6],
    )
    at: datetime = Field(description=_AT_TEXT, examples=[_AT])
    known_at: datetime | None = Field(description=_KNOWN_AT_TEXT, examples=[None, _KNOWN_AT])
    established_by: list[ProvenanceOut] = Field(
        description=_ESTABLISHED_TEXT, examples=[[_PROVENANCE]]
    )
    ineffective: list[IneffectiveOut] = Field(
        description="Recorded events that have no effect on this answer, and why.",
        examples=[[], [_INEFFECTIVE]],
    )
    ownership: Literal["office", "personal"] = Field(
        description='"office": the account belongs to its office and passes to successors; '
        '"personal": it belongs to `owner` and leaves with them.',
        examples=["office"],
    )
    owner: HolderRef | None = Field(
        description="The person a personal account belongs to; null for an office's.",
        examples=[None, {"id": "asim-saleem-bajwa", "name": "Asim Saleem Bajwa"}],
    )
    audience: AudienceOut | None = Field(
        description="The latest audience observation at or before `at`, as known at "
        "`known_at`; null if none.",
        examples=[None, _AUDIENCE],
    )
    disputes: list[DisputeNoteOut] = Field(
        description="Disputes open at `known_at` whose window meets what this answers: the "
        "record here is contested (`GET /v1/disputes/{id}`).",
        examples=[[]],
    )


class ProvenEntryOut(Out):
    """One entry of the account's stream with its inclusion proof in the checkpoint."""

    index: int = Field(description="The entry's leaf index.", examples=[4])
    entry: str = Field(
        description="The entry bytes (RFC 8785 canonical JSON of the event), base64.",
        examples=["eyJhY2NvdW50X2lkIjoi..."],
    )
    hashes: list[str] = Field(
        description="Its RFC 6962 inclusion proof in the checkpoint, base64.",
        examples=[["YXcP8/bq0cG9EGAJD7XJjOB4ZlrhpwLhXss5cAP1mT4="]],
    )


class AnswerProofOut(Out):
    """What lets a reader check an answer without trusting the server (`custody verify`)."""

    checkpoint: str = Field(
        description="The latest published checkpoint: a C2SP signed note with cosignatures.",
        examples=[
            "localhost/custody-ledger\n43\nnb+t4k190Q0LM02TvMoAh4ziVLQT+Q0GABt2ZHBMuB4=\n\n"
            "\u2014 localhost/custody-ledger O17CB2G4...\n"
        ],
    )
    entries: list[ProvenEntryOut] = Field(
        description="Every entry of the account's stream in that checkpoint, oldest first: "
        "the fold run on them gives the answer.",
        examples=[[{"index": 4, "entry": "eyJhY2NvdW50X2lkIjoi...", "hashes": []}]],
    )


class AccountProvedOut(AccountOut):
    """An account's state with the proof behind it (`proof=true`)."""

    view = None  # type: ignore[assignment]  # built from an answer and its proof, not a view
    proof: AnswerProofOut | None = Field(
        default=None,
        description="With `proof=true`: the entries and checkpoint behind the answer; null "
        "otherwise.",
        examples=[None],
    )


class CustodyIntervalOut(Out):
    """One holder's custody of the account over `[from, to)` in valid time."""

    view = views.CustodyIntervalView
    holder: HolderRef = Field(
        description="Who held the account in the interval.", examples=[_HOLDER_REF]
    )
    valid_from: datetime = Field(alias="from", description=_FROM_TEXT, examples=[_SPAN["from"]])
    valid_to: datetime | None = Field(alias="to", description=_TO_TEXT, examples=[_SPAN["to"]])
    handles: list[str] = Field(
        description="Every handle the account carried in the interval, in order.",
        examples=[["POTUS"]],
    )
    offices: list[str] = Field(
        description="Every office the account belonged to in the interval, in order.",
        examples=[["us-president"]],
    )
    established_by: list[ProvenanceOut] = Field(
        description="The recorded events the interval rests on, in version order.",
        examples=[[_PROVENANCE]],
    )


class CustodyOut(Out):
    """An account's holders over valid time, as known at `known_at`."""

    view = views.CustodyTimeline
    account_id: UUID = Field(description=_ACCOUNT_ID_TEXT, examples=[_ACCOUNT_ID])
    known_at: datetime | None = Field(description=_KNOWN_AT_TEXT, examples=[None, _KNOWN_AT])
    intervals: list[CustodyIntervalOut] = Field(
        description="The holders' intervals in valid-time order; gaps are vacancies.",
        examples=[[_CUSTODY_INTERVAL]],
    )
    disputes: list[DisputeNoteOut] = Field(
        description="Disputes open at `known_at` whose window meets what this answers: the "
        "record here is contested (`GET /v1/disputes/{id}`).",
        examples=[[]],
    )


class HoldingOut(Out):
    """One account the holder held, over `[from, to)` in valid time."""

    view = views.CustodyIntervalView
    account_id: UUID = Field(description=_ACCOUNT_ID_TEXT, examples=[_ACCOUNT_ID])
    handle: str = Field(
        validation_alias=AliasPath("handles", 0),
        description="The handle the account carried when the interval began.",
        examples=["POTUS"],
    )
    handles: list[str] = Field(
        description="Every handle the account carried in the interval, in order.",
        examples=[["POTUS"]],
    )
    offices: list[str] = Field(
        description="Every office the account belonged to in the interval, in order.",
        examples=[["us-president"]],
    )
    valid_from: datetime = Field(alias="from", description=_FROM_TEXT, examples=[_SPAN["from"]])
    valid_to: datetime | None = Field(alias="to", description=_TO_TEXT, examples=[_SPAN["to"]])
    established_by: list[ProvenanceOut] = Field(
        description="The recorded events the interval rests on, in version order.",
        examples=[[_PROVENANCE]],
    )


class HolderCustodyOut(Out):
    """Every account a holder held, and when, as known at `known_at`."""

    view = views.HolderPortfolio
    holder_id: str = Field(description="The holder's id.", examples=["barack-obama"])
    known_at: datetime | None = Field(description=_KNOWN_AT_TEXT, examples=[None, _KNOWN_AT])
    intervals: list[HoldingOut] = Field(
        description="The holder's intervals of custody of each account, in valid-time order.",
        examples=[[_HOLDING]],
    )


class HandleOut(Out):
    """The account that carried a handle at `at`, as known at `known_at`."""

    view = views.HandleAnswer  # one that names an account (`account` is not None)
    platform: str = Field(description="The platform the handle is on.", examples=["x"])
    handle: str = Field(
        description="The handle as the account displayed it then.", examples=["POTUS"]
    )
    at: datetime = Field(description=_AT_TEXT, examples=[_AT])
    known_at: datetime | None = Field(description=_KNOWN_AT_TEXT, examples=[None, _KNOWN_AT])
    account_id: UUID = Field(
        validation_alias=AliasPath("account", "account_id"),
        description="The id of the account that carried the handle at `at`.",
        examples=[_ACCOUNT_ID],
    )
    office: str = Field(
        validation_alias=AliasPath("account", "office"),
        description="The office that account belonged to at `at`.",
        examples=["us-president"],
    )
    holder: HolderOut | None = Field(
        validation_alias=AliasPath("account", "holder"),
        description="Who held that account at `at`; null while nobody did.",
        examples=[_HOLDER],
    )
    established_by: list[ProvenanceOut] = Field(
        description=_ESTABLISHED_TEXT, examples=[[_PROVENANCE]]
    )
    disputes: list[DisputeNoteOut] = Field(
        description="Disputes open at `known_at` whose window meets what this answers: the "
        "record here is contested (`GET /v1/disputes/{id}`).",
        examples=[[]],
    )


class HandleProvedOut(HandleOut):
    """The account that carried a handle, with the proof behind it (`proof=true`)."""

    view = None  # type: ignore[assignment]  # built from an answer and its proof, not a view
    proof: AnswerProofOut | None = Field(
        default=None,
        description="With `proof=true`: the entries and checkpoint behind the answer (the "
        "account's stream); null otherwise.",
        examples=[None],
    )


class HandleIntervalOut(Out):
    """One account's carrying of a handle over `[from, to)` in valid time."""

    view = views.HandleIntervalView
    account_id: UUID = Field(
        description="The id of the account that carried the handle.", examples=[_ACCOUNT_ID]
    )
    handle: str = Field(description="The handle as that account displayed it.", examples=["POTUS"])
    valid_from: datetime = Field(alias="from", description=_FROM_TEXT, examples=[_SPAN["from"]])
    valid_to: datetime | None = Field(alias="to", description=_TO_TEXT, examples=[_SPAN["to"]])
    established_by: list[ProvenanceOut] = Field(
        description="The recorded events the interval rests on, in version order.",
        examples=[[_PROVENANCE]],
    )


class HandleHistoryOut(Out):
    """Every account that carried a handle, and when, as known at `known_at`."""

    platform: str = Field(description="The platform the handle is on.", examples=["x"])
    handle: str = Field(description="The handle asked about, without the `@`.", examples=["POTUS"])
    known_at: datetime | None = Field(description=_KNOWN_AT_TEXT, examples=[None, _KNOWN_AT])
    intervals: list[HandleIntervalOut] = Field(
        description="The accounts' intervals with the handle, in valid-time order.",
        examples=[[_HANDLE_INTERVAL]],
    )


class AccountSummaryOut(Out):
    """An account in a list: what it is and who held it at `at`."""

    view = views.AccountSummary
    account_id: UUID = Field(description=_ACCOUNT_ID_TEXT, examples=[_ACCOUNT_ID])
    platform: str = Field(description="The platform the account is on.", examples=["x"])
    handle: HandleAt
    office: OfficeAt
    status: StatusAt
    holder: HolderAt


class AccountPageOut(Out):
    """A page of accounts, ordered by id."""

    view = views.AccountPage
    accounts: list[AccountSummaryOut] = Field(
        description="The accounts on this page that match the filters at `at`.",
        examples=[[_ACCOUNT_SUMMARY]],
    )
    next_cursor: str | None = Field(
        description="Pass as `cursor` for the next page; null: last.", examples=[None, _ACCOUNT_ID]
    )


class LogPageOut(Out):
    """A page of the global log."""

    view = views.LogPage
    events: list[EventRecordOut] = Field(
        description="The event records after `after`, in log order.", examples=[[_EVENT]]
    )
    next_after: int = Field(description="Pass as `after` for the next page.", examples=[2])


class WorkerOut(Out):
    """This process's read-model worker."""

    running: bool | None = Field(
        description="Whether this process's read-model worker runs; null when another process "
        "keeps the read models (`custody serve --workers N`, `custody project`): see `lag`.",
        examples=[True],
    )
    last_error: str | None = Field(
        description="Why the worker's last round failed; null once a round succeeds.",
        examples=[None, _WORKER_ERROR],
    )


class LogStatusOut(Out):
    """The verifiable log, as /health shows it."""

    tree_size: int = Field(description="Entries integrated into the Merkle tree.", examples=[74])
    lag: int = Field(
        description="Log positions recorded but not yet integrated into the tree.", examples=[0]
    )
    checkpoint: dict[str, Any] | None = Field(
        description="The latest signed checkpoint: its `size`, `age_seconds`, `cosignatures` "
        "and whether it counts as `published` under the witness policy; null before the first.",
        examples=[{"size": 74, "age_seconds": 0.4, "cosignatures": 1, "published": True}],
    )
    worker: WorkerOut = Field(
        description="Whether this process's integration worker runs, and its last error.",
        examples=[{"running": True, "last_error": _WORKER_ERROR}],
    )


class InclusionProofOut(Out):
    """An RFC 6962 inclusion proof: the leaf's sibling first, then upwards."""

    index: int = Field(description="The leaf index.", examples=[5])
    tree_size: int = Field(description="The size of the tree proved into.", examples=[74])
    leaf_hash: str = Field(
        description="SHA-256(0x00 || entry), base64.",
        examples=["hZ7a4mU2N0i0vUo1Zk1QhWcW6x3E5y1v1nSvq7qkq8Q="],
    )
    root: str = Field(
        description="The root of the tree of `tree_size` entries, base64.",
        examples=["9n4l1cS0ZyQb0jWlFhHq6i0a2xk3c7mZ3c7b6w2mT5s="],
    )
    hashes: list[str] = Field(
        description="The proof's hashes, base64.",
        examples=[["hZ7a4mU2N0i0vUo1Zk1QhWcW6x3E5y1v1nSvq7qkq8Q="]],
    )


class ConsistencyProofOut(Out):
    """An RFC 6962 consistency proof between two tree sizes."""

    from_: int = Field(alias="from", description="The smaller tree size.", examples=[10])
    to: int = Field(description="The larger tree size.", examples=[74])
    root_from: str = Field(
        description="The root at `from`, base64.",
        examples=["hZ7a4mU2N0i0vUo1Zk1QhWcW6x3E5y1v1nSvq7qkq8Q="],
    )
    root_to: str = Field(
        description="The root at `to`, base64.",
        examples=["9n4l1cS0ZyQb0jWlFhHq6i0a2xk3c7mZ3c7b6w2mT5s="],
    )
    hashes: list[str] = Field(
        description="The proof's hashes, base64.",
        examples=[["hZ7a4mU2N0i0vUo1Zk1QhWcW6x3E5y1v1nSvq7qkq8Q="]],
    )


class HealthOut(Out):
    """Whether reads and writes would succeed, and why not."""

    status: Literal["ok", "degraded"] = Field(
        description="`ok` (200) when reads and writes would succeed; `degraded` (503) otherwise, "
        "with the `reasons`.",
        examples=["ok"],
    )
    reasons: list[str] = Field(
        description="Why the service is degraded (empty when ok).",
        examples=[[], ["the read-model worker of this process has stopped"]],
    )
    store: str = Field(
        description="The kind of store: `postgres` or `sqlite`.", examples=["postgres"]
    )
    log_head: int = Field(description="The position of the last event in the log.", examples=[74])
    read_models: dict[str, int] = Field(
        description="The log position each read model has applied, by read model.",
        examples=[{"events": 74, "segments": 74, "custody": 74, "handles": 74}],
    )
    lag: int = Field(
        description="Log positions the read models have not applied yet.", examples=[0]
    )
    stalled_seconds: float = Field(
        description="Seconds the read models have stayed behind the log without moving.",
        examples=[0.0],
    )
    set_aside: list[str] = Field(
        description="Streams the read models set aside because one of their stored events "
        "cannot be decoded, each naming the event; repair it, then `custody rebuild`.",
        examples=[[]],
    )
    worker: WorkerOut = Field(
        description="Whether this process's read-model worker runs, and its last error.",
        examples=[{"running": True, "last_error": _WORKER_ERROR}],
    )
    log: LogStatusOut | None = Field(
        default=None,
        description="The verifiable log; null when it is turned off.",
        examples=[
            {
                "tree_size": 74,
                "lag": 0,
                "checkpoint": {
                    "size": 74,
                    "age_seconds": 0.4,
                    "cosignatures": 1,
                    "published": True,
                },
                "worker": {"running": True, "last_error": _WORKER_ERROR},
            }
        ],
    )


class LiveOut(Out):
    """The process answers."""

    status: Literal["alive"] = Field(
        description="Always `alive`: the process answers.", examples=["alive"]
    )


REF = "#/components/schemas/{model}"

_STATUS_TEXT = {
    400: "The body is not JSON.",
    401: "No valid token (send `Authorization: Bearer <token>`).",
    403: "The token's role or offices do not allow this.",
    404: "Nothing of that name, or not at that time.",
    406: "`Accept` names no format this answer is served in.",
    409: "Conflicts with other state (a handle or platform account id held elsewhere).",
    412: "`If-Match` names a version that is no longer current.",
    413: "The body is larger than the server accepts.",
    415: "The body is not sent as `application/json`, or is compressed.",
    422: "Input that fails validation or a custody rule.",
    503: "The database is unreachable or the read models are behind; retry after `Retry-After`.",
}


def problems(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses` entries for problem+json errors."""
    schema = {"$ref": REF.format(model="Problem")}
    return {
        s: {"description": _STATUS_TEXT[s], "content": {PROBLEM_JSON: {"schema": schema}}}
        for s in statuses
    }

"""Response models, the problem model, and the bridge from JSON bodies to ledger commands.

Request bodies are validated by the ledger's own command models (`ledger.commands`), so the
rules live in one place; the OpenAPI section at the end documents them from the same models.
"""

from __future__ import annotations

from dataclasses import fields
from datetime import datetime
from typing import Any, ClassVar, Literal, TypeVar
from uuid import UUID

from fastapi import Response
from pydantic import AliasPath, BaseModel, ConfigDict, Field
from pydantic.json_schema import models_json_schema

from api.http.errors import PROBLEM_JSON
from ledger import fold
from ledger.commands import COMMANDS, Command, RegisterAccount, parse_command
from ledger.errors import InvalidInput
from ledger.records import EventRecord
from projections.queries import views

CommandT = TypeVar("CommandT", bound=Command)


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


class Problem(BaseModel):
    """An RFC 9457 problem: `type` names the cause and is stable; `detail` says what to do."""

    type: str = Field(examples=["https://custody-ledger.example/problems/stale-version"])
    title: str
    status: int
    detail: str
    errors: list[dict[str, Any]] | None = Field(
        default=None, description="For validation problems: one `{loc, msg, type}` per field."
    )
    model_config = ConfigDict(extra="allow")


class EvidenceOut(Out):
    url: str
    sha256: str | None = None


class EventRecordOut(Out):
    """One recorded custody event."""

    view = EventRecord
    account_id: UUID
    version: int = Field(description="The event's version in its account stream (from 1).")
    position: int | None = Field(description="The event's position in the global log.")
    type: str = Field(examples=["holder_assigned"])
    effective_at: datetime = Field(description="Valid time: when the fact took effect.")
    recorded_at: datetime = Field(description="Record time: when the ledger learned it.")
    actor: str = Field(description="The name of the token that recorded the event.")
    reason: str
    evidence: list[EvidenceOut]
    data: dict[str, Any] = Field(description="The event type's own fields.")
    retracted_by: int | None = Field(description="The version of the retraction, if any.")


class ProvenanceOut(Out):
    """One event behind an answer."""

    view = views.Provenance
    version: int
    type: str
    recorded_at: datetime
    actor: str
    position: int


class HolderOut(Out):
    view = views.HolderView
    id: str
    name: str
    since: datetime | None = None


class ArchiveOut(Out):
    view = fold.ArchiveEntry
    ref: str
    sha256: str | None
    items: int | None
    effective_at: datetime


class IneffectiveOut(Out):
    view = fold.Ineffective
    version: int
    type: str
    why: str


class AccountOut(Out):
    """An account's state at `at` as known at `known_at` (null: as known now)."""

    view = views.AccountView
    account_id: UUID
    platform: str
    platform_account_id: str | None
    handle: str
    office: str
    status: Literal["active", "closed"]
    holder: HolderOut | None
    archives: list[ArchiveOut]
    version: int = Field(description="The stream version as known at `known_at`.")
    at: datetime
    known_at: datetime | None
    established_by: list[ProvenanceOut]
    ineffective: list[IneffectiveOut] = Field(
        description="Recorded events that have no effect on this answer, and why."
    )


class CustodyIntervalOut(Out):
    view = views.CustodyIntervalView
    holder: fold.HolderRef  # the fold's dataclass: its schema is the one clients know
    valid_from: datetime = Field(alias="from")
    valid_to: datetime | None = Field(alias="to", description="null while the interval is open.")
    handles: list[str]
    offices: list[str]
    established_by: list[ProvenanceOut]


class CustodyOut(Out):
    view = views.CustodyTimeline
    account_id: UUID
    known_at: datetime | None
    intervals: list[CustodyIntervalOut]


class HoldingOut(Out):
    view = views.CustodyIntervalView
    account_id: UUID
    handle: str = Field(
        validation_alias=AliasPath("handles", 0),
        description="The handle the account carried when the interval began.",
    )
    handles: list[str] = Field(description="Every handle the account carried in the interval.")
    offices: list[str]
    valid_from: datetime = Field(alias="from")
    valid_to: datetime | None = Field(alias="to")
    established_by: list[ProvenanceOut]


class HolderCustodyOut(Out):
    view = views.HolderPortfolio
    holder_id: str
    known_at: datetime | None
    intervals: list[HoldingOut]


class HandleOut(Out):
    view = views.HandleAnswer  # one that names an account (`account` is not None)
    platform: str
    handle: str = Field(description="The handle as the account displayed it then.")
    at: datetime
    known_at: datetime | None
    account_id: UUID = Field(validation_alias=AliasPath("account", "account_id"))
    office: str = Field(validation_alias=AliasPath("account", "office"))
    holder: HolderOut | None = Field(validation_alias=AliasPath("account", "holder"))
    established_by: list[ProvenanceOut]


class HandleIntervalOut(Out):
    view = views.HandleIntervalView
    account_id: UUID
    handle: str
    valid_from: datetime = Field(alias="from")
    valid_to: datetime | None = Field(alias="to")
    established_by: list[ProvenanceOut]


class HandleHistoryOut(Out):
    platform: str
    handle: str
    known_at: datetime | None
    intervals: list[HandleIntervalOut]


class AccountSummaryOut(Out):
    view = views.AccountSummary
    account_id: UUID
    platform: str
    handle: str
    office: str
    status: Literal["active", "closed"]
    holder: HolderOut | None


class AccountPageOut(Out):
    view = views.AccountPage
    accounts: list[AccountSummaryOut]
    next_cursor: str | None = Field(description="Pass as `cursor` for the next page; null: last.")


class LogPageOut(Out):
    view = views.LogPage
    events: list[EventRecordOut]
    next_after: int = Field(description="Pass as `after` for the next page.")


class WorkerOut(Out):
    running: bool | None = Field(
        description="Whether this process's read-model worker runs; null when another process "
        "keeps the read models (`custody serve --workers N`, `custody project`): see `lag`."
    )
    last_error: str | None


class HealthOut(Out):
    status: Literal["ok", "degraded"] = Field(
        description="`ok` (200) when reads and writes would succeed; `degraded` (503) otherwise, "
        "with the `reasons`"
    )
    reasons: list[str] = Field(description="why the service is degraded (empty when ok)")
    store: str
    log_head: int
    read_models: dict[str, int]
    lag: int = Field(description="log positions the read models have not applied yet")
    stalled_seconds: float = Field(
        description="how long the read models have stayed behind the log without moving"
    )
    worker: WorkerOut


class LiveOut(Out):
    status: Literal["alive"]


# -- request bodies -> commands ----------------------------------------------------------------


def registration(payload: Any) -> RegisterAccount:
    """The registration a JSON body describes (no `type` field: the route says it)."""
    return _validate(RegisterAccount, payload)


def custody_event(payload: Any) -> Command:
    """The custody event a JSON body names by its `type`."""
    kind = payload.get("type") if isinstance(payload, dict) else None
    cls = COMMANDS.get(kind) if isinstance(kind, str) else None
    if cls is None:
        return parse_command(payload)  # raises the ledger's own InvalidInput
    return _validate(cls, {k: v for k, v in payload.items() if k != "type"})


def _validate(cls: type[CommandT], payload: Any) -> CommandT:
    if not isinstance(payload, dict):
        raise InvalidInput("the request body must be a JSON object")
    return cls.parse(payload)  # the ledger's InvalidInput, one entry per bad field


# -- OpenAPI documentation of the request bodies, from the same command models ------------------

_REF = "#/components/schemas/{model}"
_SHA = "9f86d081884c7d659a2feb1b0b1e2c3b6a5e1d7f6a4e8e2b2f3a8c6e1d4b7a90"
_WHEN = "2021-01-20T17:00:00Z"

REGISTER_EXAMPLES: dict[str, dict[str, Any]] = {
    "account_registered": {
        "summary": "Register an official account",
        "value": {
            "platform": "x",
            "platform_account_id": "822215679726100480",
            "handle": "@POTUS",
            "office": "us-president",
            "effective_at": "2017-01-20T17:00:00Z",
            "reason": "The President's official account",
            "evidence": [{"url": "https://records.example.gov/potus/2017", "sha256": _SHA}],
        },
    }
}

EVENT_EXAMPLES: dict[str, dict[str, Any]] = {
    "holder_assigned": {
        "summary": "A person takes custody",
        "value": {
            "type": "holder_assigned",
            "holder": {"id": "potus-46", "name": "Joseph R. Biden"},
            "effective_at": _WHEN,
            "reason": "Inauguration",
            "evidence": [{"url": "https://records.example.gov/inauguration-2021"}],
        },
    },
    "holder_released": {
        "summary": "The holder gives up custody (a vacancy follows)",
        "value": {"type": "holder_released", "effective_at": _WHEN, "reason": "End of term"},
    },
    "handle_renamed": {
        "summary": "The account's handle changes",
        "value": {"type": "handle_renamed", "handle": "POTUS45", "effective_at": _WHEN},
    },
    "history_archived": {
        "summary": "The account's history is archived",
        "value": {
            "type": "history_archived",
            "archive": {"ref": "nara:potus45-x", "sha256": _SHA, "items": 26237},
            "effective_at": _WHEN,
        },
    },
    "office_transferred": {
        "summary": "Another office takes over the account",
        "value": {
            "type": "office_transferred",
            "office": "national-archives",
            "effective_at": _WHEN,
        },
    },
    "account_closed": {
        "summary": "The account is closed",
        "value": {"type": "account_closed", "effective_at": _WHEN, "reason": "Decommissioned"},
    },
    "event_retracted": {
        "summary": "Retract an event recorded in error (by its version)",
        "value": {
            "type": "event_retracted",
            "event_version": 3,
            "effective_at": _WHEN,
            "reason": "Recorded against the wrong account",
        },
    },
}


def request_components() -> dict[str, Any]:
    """Component schemas of every command model, event bodies with their `type` constant."""
    _, top = models_json_schema(
        [(cls, "validation") for cls in COMMANDS.values()], ref_template=_REF
    )
    defs: dict[str, Any] = top["$defs"]
    for kind, cls in COMMANDS.items():
        if cls is RegisterAccount:
            continue
        schema = defs[cls.__name__]
        schema["properties"] = {"type": {"const": kind, "type": "string"}, **schema["properties"]}
        schema["required"] = ["type", *schema.get("required", [])]
    defs["Problem"] = Problem.model_json_schema(ref_template=_REF)
    return defs


def _body(schema: dict[str, Any], examples: dict[str, Any]) -> dict[str, Any]:
    content = {"application/json": {"schema": schema, "examples": examples}}
    return {"requestBody": {"required": True, "content": content}}


def register_body() -> dict[str, Any]:
    return _body({"$ref": _REF.format(model="RegisterAccount")}, REGISTER_EXAMPLES)


def event_body() -> dict[str, Any]:
    events = {k: c for k, c in COMMANDS.items() if c is not RegisterAccount}
    refs = {k: _REF.format(model=c.__name__) for k, c in events.items()}
    schema = {
        "oneOf": [{"$ref": r} for r in refs.values()],
        "discriminator": {"propertyName": "type", "mapping": refs},
    }
    return _body(schema, EVENT_EXAMPLES)


_STATUS_TEXT = {
    400: "The body is not JSON.",
    401: "No valid token (send `Authorization: Bearer <token>`).",
    403: "The token's role or offices do not allow this.",
    404: "Nothing of that name, or not at that time.",
    409: "Conflicts with other state (a handle or platform account id held elsewhere).",
    412: "`If-Match` names a version that is no longer current.",
    413: "The body is larger than the server accepts.",
    415: "The body is not sent as `application/json`, or is compressed.",
    422: "Input that fails validation or a custody rule.",
    503: "The database is unreachable or the read models are behind; retry after `Retry-After`.",
}


def problems(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses` entries for problem+json errors."""
    schema = {"$ref": _REF.format(model="Problem")}
    return {
        s: {"description": _STATUS_TEXT[s], "content": {PROBLEM_JSON: {"schema": schema}}}
        for s in statuses
    }

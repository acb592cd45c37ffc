"""Response models of the office answers and the findings (`projections.queries.offices`)."""

from __future__ import annotations

from datetime import datetime
from typing import Literal
from uuid import UUID

from pydantic import Field

from api.http.schemas import AudienceOut, HolderOut, HolderRef, Out, ProvenanceOut
from ledger.oversight import KINDS
from projections.queries import views

_AT_TEXT = "Valid time the answer is for (RFC 3339, UTC)."
_KNOWN_AT_TEXT = "Record time the answer is as of (RFC 3339, UTC); null: as known now."
_FROM_TEXT = "Valid time it begins, inclusive (RFC 3339, UTC)."
_TO_TEXT = "Valid time it ends, exclusive (RFC 3339, UTC); null while it lasts."
_OFFICE = "pk-dg-ispr"
_BAJWA = {"id": "asim-saleem-bajwa", "name": "Asim Saleem Bajwa"}
_GHAFOOR = {"id": "asif-ghafoor", "name": "Asif Ghafoor"}
_OFFICE_PROVENANCE = {
    "version": 2,
    "type": "holder_assigned",
    "recorded_at": "2012-05-01T01:00:00Z",
    "actor": "demo:records-office",
    "position": 50,
}
_OBSERVED = {
    "account_id": "6a2f7f2e-1d55-4d0c-9d0c-6a7f4b2c8e11",
    "platform": "x",
    "handle": "AsimBajwaISPR",
    "ownership": "personal",
    "owner": _BAJWA,
    "audience": {
        "followers": 3050000,
        "observed_at": "2016-12-26T00:00:00Z",
        "established_by": [{**_OFFICE_PROVENANCE, "type": "audience_observed"}],
    },
}
_CITED = {"account_id": None, "office": _OFFICE, **_OFFICE_PROVENANCE}
_FINDING = {
    "kind": "audience-departed",
    "office": _OFFICE,
    "account_id": _OBSERVED["account_id"],
    "handle": "AsimBajwaISPR",
    "holder": _BAJWA,
    "from": "2016-12-25T00:00:00Z",
    "to": None,
    "followers": 3050000,
    "detail": "@AsimBajwaISPR left with Asim Saleem Bajwa at the handover to Asif Ghafoor; "
    "3,050,000 followers observed 2016-12-26",
    "established_by": [_CITED],
}

OfficeKey = Field(description="The office's key.", examples=[_OFFICE])


class CitedOut(Out):
    """One event behind an answer that draws on several streams: an account's or an office's."""

    view = views.Cited
    account_id: UUID | None = Field(
        default=None,
        description="The account whose stream holds the event; null for an office's.",
        examples=[None],
    )
    office: str | None = Field(
        default=None,
        description="The office whose stream holds the event; null for an account's.",
        examples=[_OFFICE],
    )
    version: int = Field(description="The event's version in its stream.", examples=[2])
    type: str = Field(description="The event type.", examples=["holder_assigned"])
    recorded_at: datetime = Field(
        description="Record time (RFC 3339, UTC).", examples=["2012-05-01T01:00:00Z"]
    )
    actor: str = Field(description="The token that recorded it.", examples=["demo:records-office"])
    position: int = Field(description="The event's position in the global log.", examples=[50])


class ObservedOut(Out):
    """An account with its ownership and the audience observation that goes with the answer."""

    view = views.ObservedView
    account_id: UUID = Field(description="The account's id.", examples=[_OBSERVED["account_id"]])
    platform: str = Field(description="The platform.", examples=["x"])
    handle: str = Field(description="Its handle then, without the `@`.", examples=["AsimBajwaISPR"])
    ownership: Literal["office", "personal"] = Field(
        description="Whose the account is.", examples=["personal"]
    )
    owner: HolderRef | None = Field(
        description="The owner of a personal account.", examples=[_BAJWA]
    )
    audience: AudienceOut | None = Field(
        description="The audience observation that goes with the answer (see the endpoint); "
        "null if there is none.",
        examples=[_OBSERVED["audience"]],
    )


class FindingOut(Out):
    """A finding: derived from the record, never recorded by hand."""

    view = views.FindingView
    kind: Literal[KINDS] = Field(  # type: ignore[valid-type]
        description="`no-office-account`, `personal-account-in-official-use`, "
        "`audience-departed`, `account-not-with-office-holder` or `office-handle-taken`.",
        examples=["audience-departed"],
    )
    office: str = OfficeKey
    account_id: UUID | None = Field(
        description="The account it is about (null for `no-office-account`).",
        examples=[_FINDING["account_id"]],
    )
    handle: str | None = Field(
        description="The account's handle, without the `@`.", examples=["AsimBajwaISPR"]
    )
    holder: HolderRef | None = Field(
        description="The person it is about: the office's holder, the owner of a personal "
        "account, or who held the office's account.",
        examples=[_BAJWA],
    )
    valid_from: datetime = Field(alias="from", description=_FROM_TEXT, examples=[_FINDING["from"]])
    valid_to: datetime | None = Field(
        default=None, alias="to", description=_TO_TEXT, examples=[None]
    )
    followers: int | None = Field(
        description="The audience the finding concerns, where observed; null if not.",
        examples=[3050000],
    )
    detail: str = Field(description="The finding in a sentence.", examples=[_FINDING["detail"]])
    established_by: list[CitedOut] = Field(
        description="The events, of the office's and the accounts' streams, it rests on.",
        examples=[[_CITED]],
    )


class OfficeOut(Out):
    """An office at `at` as known at `known_at`."""

    view = views.OfficeView
    office: str = OfficeKey
    registered: bool = Field(
        description="False for an office that accounts name but nobody registered.",
        examples=[True],
    )
    name: str | None = Field(
        description="The office's name.",
        examples=["Director General, Inter-Services Public Relations"],
    )
    jurisdiction: str | None = Field(description="ISO 3166 code.", examples=["PK"])
    tenure_known: bool = Field(
        description="False before the office's registration, or if it is not registered: "
        "`holder` is then unknown, not vacant.",
        examples=[True],
    )
    holder: HolderOut | None = Field(
        description="Who held the office at `at`; null if vacant (or unknown).",
        examples=[{**_GHAFOOR, "since": "2016-12-25T00:00:00Z"}],
    )
    accounts: list[ObservedOut] = Field(
        description="Every account speaking for the office at `at`: its own and personal "
        "ones, each with its latest audience observation at or before `at`.",
        examples=[[_OBSERVED]],
    )
    findings: list[FindingOut] = Field(
        description="The findings about the office in effect at `at`.", examples=[[_FINDING]]
    )
    at: datetime = Field(description=_AT_TEXT, examples=["2016-01-01T00:00:00Z"])
    known_at: datetime | None = Field(description=_KNOWN_AT_TEXT, examples=[None])
    established_by: list[ProvenanceOut] = Field(
        description="The office stream's events the holder rests on.",
        examples=[[_OFFICE_PROVENANCE]],
    )


class OfficeSummaryOut(Out):
    view = views.OfficeSummary
    office: str = OfficeKey
    name: str = Field(description="The office's name.", examples=["Director General, ISPR"])
    jurisdiction: str = Field(description="ISO 3166 code.", examples=["PK"])
    holder: HolderOut | None = Field(
        description="Who held the office at `at`; null if vacant.", examples=[None]
    )


class OfficesOut(Out):
    """The registered offices at `at`, by key."""

    offices: list[OfficeSummaryOut] = Field(description="The offices.", examples=[[]])


class TenureOut(Out):
    view = views.TenureView
    holder: HolderRef = Field(description="Who held the office.", examples=[_BAJWA])
    valid_from: datetime = Field(
        alias="from", description=_FROM_TEXT, examples=["2012-05-01T00:00:00Z"]
    )
    valid_to: datetime | None = Field(
        alias="to", description=_TO_TEXT, examples=["2016-12-25T00:00:00Z"]
    )
    accounts: list[ObservedOut] = Field(
        description="The accounts that spoke for the office during the tenure, each with the "
        "latest audience observation within it.",
        examples=[[_OBSERVED]],
    )
    established_by: list[ProvenanceOut] = Field(
        description="The office events that began and ended it.", examples=[[_OFFICE_PROVENANCE]]
    )


class TenuresOut(Out):
    view = views.Tenures
    office: str = OfficeKey
    known_at: datetime | None = Field(description=_KNOWN_AT_TEXT, examples=[None])
    tenures: list[TenureOut] = Field(description="In valid-time order.", examples=[[]])


class SideOut(Out):
    view = views.SideView
    accounts: list[ObservedOut] = Field(
        description="The accounts, each with the audience observation nearest the handover "
        "within the window (CUSTODY_AUDIENCE_WINDOW_DAYS), null if none.",
        examples=[[_OBSERVED]],
    )
    followers: int = Field(description="The sum of what was observed.", examples=[3050000])
    unobserved: int = Field(
        description="How many of the accounts had no observation near the handover.",
        examples=[0],
    )


class HandoverOut(Out):
    view = views.HandoverView
    at: datetime = Field(description="When the holder changed.", examples=["2016-12-25T00:00:00Z"])
    outgoing: HolderRef | None = Field(description="Null after a vacancy.", examples=[_BAJWA])
    incoming: HolderRef | None = Field(
        description="Null when the office falls vacant.", examples=[_GHAFOOR]
    )
    retained: SideOut = Field(
        description="The office's own accounts that stay with it.",
        examples=[{"accounts": [], "followers": 0, "unobserved": 0}],
    )
    departed: SideOut = Field(
        description="The outgoing holder's personal accounts that spoke for the office during "
        "the tenure, and leave with them.",
        examples=[{"accounts": [_OBSERVED], "followers": 3050000, "unobserved": 0}],
    )
    established_by: list[ProvenanceOut] = Field(
        description="The office events of the two tenures.", examples=[[_OFFICE_PROVENANCE]]
    )


class HandoversOut(Out):
    view = views.Handovers
    office: str = OfficeKey
    known_at: datetime | None = Field(description=_KNOWN_AT_TEXT, examples=[None])
    handovers: list[HandoverOut] = Field(description="In valid-time order.", examples=[[]])


class FindingsPageOut(Out):
    view = views.FindingsPage
    findings: list[FindingOut] = Field(
        description="By office key, then valid time, kind and account.", examples=[[_FINDING]]
    )
    next_after: str | None = Field(
        description="Pass as `after` for the next page; null on the last.", examples=[None]
    )

"""Response models of how an answer changed (`projections.queries.changes`): for a window of
valid time, each record time at which the answer changed, the answer from then on, and the
event records that changed it."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from pydantic import AliasPath, Field

from api.http.schemas import (
    CustodyIntervalOut,
    EventRecordOut,
    HandleIntervalOut,
    HolderRef,
    Out,
    ProvenanceOut,
    WindowOut,
)
from projections.queries import views

# The demo's @CMRuritania (see the README's Concepts): the handover to Boris Kade recorded on
# 12 June 2021 as of 10 June, retracted on 1 July. The handle's and the office's examples tell
# the same fictional story of a rename and of the office's own stream.
_ACCOUNT_ID = "540ac008-9006-47b7-99b2-87d9305174d5"
_OFFICE = "ruritania-chief-minister"
_OFFICE_STREAM = "fc98290f-4388-5531-b178-1903f1650e8b"  # ledger.domain.office_id(_OFFICE)
_WINDOW = {"from": "2021-06-01T00:00:00Z", "to": "2021-07-01T00:00:00Z"}
_KNOWN_AT = "2021-06-12T08:00:00Z"
_CUT = "2021-06-10T09:00:00Z"
_ANNA = {"id": "anna-vale", "name": "Anna Vale"}
_BORIS = {"id": "boris-kade", "name": "Boris Kade"}
_ACTOR = "demo:records-office"
_BEFORE = {"version": 2, "type": "holder_assigned", "recorded_at": "2018-03-01T10:00:01Z",
           "actor": _ACTOR, "position": 60}  # fmt: skip
_CHANGE = {**_BEFORE, "version": 3, "recorded_at": _KNOWN_AT, "position": 61}
_PLACE = {"handles": ["CMRuritania"], "offices": [_OFFICE]}
_CUSTODY = [
    {"holder": _ANNA, "from": _WINDOW["from"], "to": _CUT, **_PLACE,
     "established_by": [_BEFORE, _CHANGE]},
    {"holder": _BORIS, "from": _CUT, "to": _WINDOW["to"], **_PLACE, "established_by": [_CHANGE]},
]  # fmt: skip
# FastAPI leaves an object's null members out of the document: no nulls in required fields.
_RECORD = {
    "account_id": _ACCOUNT_ID,
    "version": 3,
    "position": 61,
    "type": "holder_assigned",
    "effective_at": _CUT,
    "recorded_at": _KNOWN_AT,
    "actor": _ACTOR,
    "reason": "FICTIONAL. Handover to Boris Kade (recorded with the wrong date).",
    "evidence": [],
    "data": {"holder": _BORIS},
    "retracted_by": 4,
}
_CARRIED = {
    "account_id": _ACCOUNT_ID,
    "handle": "CMRuritania",
    "from": _WINDOW["from"],
    "to": _CUT,
    "established_by": [{**_BEFORE, "version": 1, "type": "account_registered",
                        "recorded_at": "2018-03-01T10:00:00Z", "position": 59},
                       {**_CHANGE, "type": "handle_renamed"}],
}  # fmt: skip
_RENAMED = {
    **_RECORD,
    "type": "handle_renamed",
    "reason": "FICTIONAL. Renamed @CMRuritaniaArchive (on the wrong account).",
    "data": {"handle": "CMRuritaniaArchive"},
}
_TENURES = [
    {"holder": _ANNA, "from": _WINDOW["from"], "to": _CUT,
     "established_by": [{**_BEFORE, "position": 58}, {**_CHANGE, "position": 62}]},
    {"holder": _BORIS, "from": _CUT, "to": _WINDOW["to"],
     "established_by": [{**_CHANGE, "position": 62}]},
]  # fmt: skip
_OFFICE_RECORD = {**_RECORD, "account_id": _OFFICE_STREAM, "office": _OFFICE, "position": 62}

_KNOWN_AT_TEXT = "Record time from which the ledger gave this answer (RFC 3339, UTC)."
_CHANGED_BY_TEXT = (
    "The event records that changed the answer at `known_at`: those recorded then, and those "
    "whose retraction was recorded then, by stream and version."
)
_VERSIONS_TEXT = (
    "Each record time at which the answer for the window changed, oldest first; none if no "
    "record time ever gave one (an account nobody held in the window, say)."
)


class TenureSpanOut(Out):
    """One holder's tenure of the office over `[from, to)`, cut to the window."""

    view = views.TenureSpanView
    holder: HolderRef = Field(description="Who held the office.", examples=[_BORIS])
    valid_from: datetime = Field(
        alias="from",
        description="Valid time the tenure begins, or the window does if later (RFC 3339, UTC).",
        examples=[_CUT],
    )
    valid_to: datetime = Field(
        alias="to",
        description="Valid time the tenure ends, or the window does if earlier (RFC 3339, UTC).",
        examples=[_WINDOW["to"]],
    )
    established_by: list[ProvenanceOut] = Field(
        description="The office's events that began and ended the tenure, in version order.",
        examples=[[{**_CHANGE, "position": 62}]],
    )


class CustodyVersionOut(Out):
    """The account's custody in the window as known from `known_at` on."""

    view = views.ChangeVersion
    known_at: datetime = Field(description=_KNOWN_AT_TEXT, examples=[_KNOWN_AT])
    custody: list[CustodyIntervalOut] = Field(
        validation_alias=AliasPath("intervals"),
        description="The holders' intervals that overlap the window, cut to it, in valid-time "
        "order; an interval open at the window's end ends at `to`.",
        examples=[_CUSTODY],
    )
    changed_by: list[EventRecordOut] = Field(description=_CHANGED_BY_TEXT, examples=[[_RECORD]])


class CustodyChangesOut(Out):
    """How the account's custody in a window of valid time changed over record time."""

    view = views.CustodyChanges
    account_id: UUID = Field(
        description="The account's id, as in `/v1/accounts/{account_id}`.", examples=[_ACCOUNT_ID]
    )
    window: WindowOut = Field(description="The window asked about.", examples=[_WINDOW])
    versions: list[CustodyVersionOut] = Field(
        description=_VERSIONS_TEXT,
        examples=[[{"known_at": _KNOWN_AT, "custody": _CUSTODY, "changed_by": [_RECORD]}]],
    )  # fmt: skip


class HandleVersionOut(Out):
    """The accounts carrying the handle in the window as known from `known_at` on."""

    view = views.ChangeVersion
    known_at: datetime = Field(description=_KNOWN_AT_TEXT, examples=[_KNOWN_AT])
    intervals: list[HandleIntervalOut] = Field(
        description="Each account's intervals with the handle that overlap the window, cut to "
        "it, in valid-time order; an interval open at the window's end ends at `to`.",
        examples=[[_CARRIED]],
    )
    changed_by: list[EventRecordOut] = Field(
        description=_CHANGED_BY_TEXT + " Of every account that ever carried the handle.",
        examples=[[_RENAMED]],
    )  # fmt: skip


class HandleChangesOut(Out):
    """How the accounts carrying a handle in a window of valid time changed over record time."""

    view = views.HandleChanges
    platform: str = Field(description="The platform the handle is on.", examples=["x"])
    handle: str = Field(
        description="The handle asked about, without the `@`.", examples=["CMRuritania"]
    )
    window: WindowOut = Field(description="The window asked about.", examples=[_WINDOW])
    versions: list[HandleVersionOut] = Field(
        description=_VERSIONS_TEXT,
        examples=[[{"known_at": _KNOWN_AT, "intervals": [_CARRIED], "changed_by": [_RENAMED]}]],
    )  # fmt: skip


class TenureVersionOut(Out):
    """The office's tenures in the window as known from `known_at` on."""

    view = views.ChangeVersion
    known_at: datetime = Field(description=_KNOWN_AT_TEXT, examples=[_KNOWN_AT])
    tenures: list[TenureSpanOut] = Field(
        validation_alias=AliasPath("intervals"),
        description="The tenures that overlap the window, cut to it, in valid-time order; a "
        "tenure open at the window's end ends at `to`.",
        examples=[_TENURES],
    )
    changed_by: list[EventRecordOut] = Field(
        description=_CHANGED_BY_TEXT + " Of the office's stream.", examples=[[_OFFICE_RECORD]]
    )


class TenureChangesOut(Out):
    """How an office's tenures in a window of valid time changed over record time."""

    view = views.TenureChanges
    office: str = Field(description="The office's key.", examples=[_OFFICE])
    window: WindowOut = Field(description="The window asked about.", examples=[_WINDOW])
    versions: list[TenureVersionOut] = Field(
        description=_VERSIONS_TEXT,
        examples=[[{"known_at": _KNOWN_AT, "tenures": _TENURES,
                    "changed_by": [_OFFICE_RECORD]}]],
    )  # fmt: skip

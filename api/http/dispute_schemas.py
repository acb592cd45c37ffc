"""Response bodies about disputes: a dispute, a listing, a dispute noted on another answer."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal
from uuid import UUID

from pydantic import Field, model_validator

from api.http.schemas import (
    _CLAIM,
    _CLAIM_TEXT,
    _DISPUTE_ID,
    _DISPUTE_ID_TEXT,
    _OPENED_AT,
    _OPENED_TEXT,
    _WINDOW,
    _WINDOW_TEXT,
    EventRecordOut,
    Out,
    WindowOut,
    nested_window,
)
from projections.queries import views

_ACCOUNT = "3b6d7be1-b2fa-4ac0-94e3-21774eebbea7"
_OPENING: dict[str, Any] = {
    "account_id": None,
    "office": None,
    "dispute_id": _DISPUTE_ID,
    "version": 1,
    "position": 41,
    "type": "dispute_opened",
    "effective_at": _OPENED_AT,
    "recorded_at": _OPENED_AT,
    "actor": "office-of-the-president",
    "reason": "",
    "evidence": [{"url": "https://archive.org/details/example", "sha256": None}],
    "data": {
        "subject": {"account_id": _ACCOUNT},
        "window": _WINDOW,
        "claim": _CLAIM,
        "contested": [{"account_id": _ACCOUNT, "version": 4}],
    },
    "retracted_by": None,
}
_CORRECTION: dict[str, Any] = {
    "account_id": _ACCOUNT,
    "office": None,
    "dispute_id": None,
    "version": 5,
    "position": 57,
    "type": "event_retracted",
    "effective_at": "2017-01-20T17:00:00Z",
    "recorded_at": "2017-02-27T10:00:00Z",
    "actor": "appeals-panel",
    "reason": f"Correction ordered in dispute {_DISPUTE_ID}.",
    "evidence": [],
    "data": {"event_version": 4},
    "retracted_by": None,
}
_STATUSES = Literal["open", "withdrawn", "resolved"]


class DisputeSummaryOut(Out):
    """A dispute in a listing, as known now."""

    dispute_id: UUID = Field(description=_DISPUTE_ID_TEXT, examples=[_DISPUTE_ID])
    subject: dict[str, str] = Field(
        description="What it is about: `{account_id}` or `{office}`.",
        examples=[{"account_id": _ACCOUNT}],
    )
    window: WindowOut = Field(description=_WINDOW_TEXT, examples=[_WINDOW])
    claim: str = Field(description=_CLAIM_TEXT, examples=[_CLAIM])
    status: _STATUSES = Field(
        description="open, withdrawn (by its party) or resolved (by a panel).", examples=["open"]
    )
    outcome: Literal["upheld", "rejected"] | None = Field(
        default=None,
        description="A resolved dispute's outcome; null otherwise.",
        examples=[None, "upheld"],
    )
    opened_at: datetime = Field(description=_OPENED_TEXT, examples=[_OPENED_AT])
    opened_by: str = Field(
        description="The token that opened it (the contesting party).",
        examples=["office-of-the-president"],
    )

    @model_validator(mode="before")
    @classmethod
    def _from_view(cls, value: Any) -> Any:
        return _subject(nested_window(value))


def _subject(fields: Any) -> Any:
    """A view's `subject_account`/`subject_office` as the body's `subject`."""
    if isinstance(fields, dict) and "subject" not in fields:
        account, office = fields.pop("subject_account", None), fields.pop("subject_office", None)
        fields["subject"] = {"account_id": str(account)} if account else {"office": office}
    return fields


_SUMMARY = {
    "dispute_id": _DISPUTE_ID,
    "subject": {"account_id": _ACCOUNT},
    "window": _WINDOW,
    "claim": _CLAIM,
    "status": "open",
    "outcome": None,
    "opened_at": _OPENED_AT,
    "opened_by": "office-of-the-president",
}


class DisputePageOut(Out):
    """A page of disputes."""

    view = views.DisputePage
    disputes: list[DisputeSummaryOut] = Field(
        description="Oldest opened first.", examples=[[_SUMMARY]]
    )
    next_cursor: str | None = Field(
        description="Pass as `after` for the next page; null on the last page.",
        examples=[None, f"1485507600000000/{_DISPUTE_ID}"],
    )


class ContestedOut(Out):
    """One contested event."""

    stream: str = Field(
        description="The account id, or the office key, whose event it is.", examples=[_ACCOUNT]
    )
    version: int = Field(description="The event's version in that stream.", examples=[4])


class DisputeOut(DisputeSummaryOut):
    """A dispute as known at `known_at` (null: now), with its events known then."""

    known_at: datetime | None = Field(
        description="Record time the answer is as of; null: now.", examples=[None]
    )
    contested: list[ContestedOut] = Field(
        description="The recorded events it contests.",
        examples=[[{"stream": _ACCOUNT, "version": 4}]],
    )
    ruling: str | None = Field(
        description="The panel's ruling, once resolved; null before.",
        examples=[None, "The rename was not the office's; it is retracted."],
    )
    closed_at: datetime | None = Field(
        description="When it was withdrawn or resolved; null while open.", examples=[None]
    )
    corrections: list[dict[str, Any]] = Field(
        description="The events the resolution wrote, `{stream_id, version, type}` each (in "
        "the same transaction as the resolution).",
        examples=[[], [{"stream_id": _ACCOUNT, "version": 5, "type": "event_retracted"}]],
    )
    version: int = Field(
        description="The dispute stream's version (the `ETag`, for `If-Match`).", examples=[1]
    )
    events: list[EventRecordOut] = Field(
        description="The dispute's events known then, oldest first.", examples=[[_OPENING]]
    )

    @model_validator(mode="before")
    @classmethod
    def _from_view(cls, value: Any) -> Any:
        return _contested(_subject(nested_window(value)))


def _contested(fields: Any) -> Any:
    """A view's (stream, version) pairs as the body's objects."""
    contested = fields.get("contested") if isinstance(fields, dict) else None
    if contested and isinstance(contested[0], tuple):
        fields["contested"] = [{"stream": s, "version": v} for s, v in contested]
    return fields


class DisputeEventOut(Out):
    """A dispute's new event, and the corrections written with it (a resolution's)."""

    event: EventRecordOut = Field(description="The dispute's new event.", examples=[_OPENING])
    corrections: list[EventRecordOut] = Field(
        description="The records of the corrections written atomically with the resolution.",
        examples=[[], [_CORRECTION]],
    )

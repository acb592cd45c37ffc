"""The dossier as JSON (`custody-dossier/v1`): what `custody verify DOSSIER.json` checks, and
what the PROV document and the printable page are rendered from."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import Field

from api.http import plain
from api.http.change_schemas import CustodyChangesOut, TenureChangesOut
from api.http.dispute_schemas import DisputeOut, DisputeSummaryOut
from api.http.schemas import (
    AccountOut,
    AnswerProofOut,
    CustodyIntervalOut,
    EventRecordOut,
    HandleIntervalOut,
    Out,
    WindowOut,
)
from projections.dossier import FORMAT, Dossier
from projections.queries.views import CustodyIntervalView

_WINDOW = {"from": "2021-06-01T00:00:00Z", "to": "2021-07-01T00:00:00Z"}


class DossierAnswerOut(Out):
    """The custody in the window as known at one record time that matters."""

    known_at: datetime | None = Field(
        description="The record time; null: now.", examples=["2021-06-20T00:00:00Z"]
    )
    label: Literal["complaint", "change", "now"] = Field(
        description="Why this time matters: the dispute was opened then, the answer changed "
        "then, or it is now.",
        examples=["change"],
    )
    custody: list[CustodyIntervalOut] = Field(
        description="The holders' intervals in the window then, cut to it.", examples=[[]]
    )


class DossierHandlesOut(Out):
    """Which accounts carried one of the subject's handles in the window, as known then."""

    known_at: datetime | None = Field(
        description="The record time (the complaint's); null: now.", examples=[None]
    )
    handle: str = Field(description="The handle.", examples=["CMRuritania"])
    intervals: list[HandleIntervalOut] = Field(
        description="Each account's carrying of it that meets the window, cut to it.",
        examples=[[]],
    )


class DossierOfficeOut(Out):
    """How the tenures of an office the account belonged to in the window changed."""

    tenures: TenureChangesOut = Field(
        description="As `GET /v1/offices/{office}/tenures/changes` over the window.",
        examples=[{"office": "ru-chief-minister", "window": _WINDOW, "versions": []}],
    )
    proof: AnswerProofOut | None = Field(
        description="The office stream's entries in a signed checkpoint; null where the log "
        "signs none or the office is not registered.",
        examples=[None],
    )


class DossierOut(Out):
    """Everything a panel needs about an account over a window, and the proofs behind it."""

    format: Literal["custody-dossier/v1"] = Field(
        description="This document's format.", examples=[FORMAT]
    )
    generated_at: datetime = Field(
        description="When the ledger assembled it.", examples=["2026-03-05T10:00:00Z"]
    )
    subject: dict[str, str] = Field(
        description="What it is about: `{account_id}`.",
        examples=[{"account_id": "540ac008-9006-47b7-99b2-87d9305174d5"}],
    )
    window: WindowOut = Field(description="The valid-time window.", examples=[_WINDOW])
    account: AccountOut | None = Field(
        description="The account at the window's last instant, as known now (null if it did "
        "not exist then).",
        examples=[None],
    )
    dispute: DisputeOut | None = Field(
        description="The dispute the dossier is for; null for an account's.", examples=[None]
    )
    answers: list[DossierAnswerOut] = Field(
        description="The custody in the window as known at the complaint's date, at each "
        "change, and now.",
        examples=[[]],
    )
    handles: list[DossierHandlesOut] = Field(
        description="Who carried the subject's handles in the window, as known at the "
        "complaint's date and now (a look-alike that took a handle shows here).",
        examples=[[]],
    )
    offices: list[DossierOfficeOut] = Field(
        description="The tenures of the offices the account belonged to in the window.",
        examples=[[]],
    )
    changes: CustodyChangesOut = Field(
        description="How the custody in the window changed (as "
        "`GET /v1/accounts/{id}/custody/changes`).",
        examples=[{"account_id": "540ac008-9006-47b7-99b2-87d9305174d5", "window": _WINDOW,
                   "versions": []}],
    )  # fmt: skip
    events: list[EventRecordOut] = Field(
        description="Every event of the account's stream, with actor, reason and evidence.",
        examples=[[]],
    )
    disputes: list[DisputeSummaryOut] = Field(
        description="Other disputes about the account whose window meets this one.",
        examples=[[]],
    )
    proof: AnswerProofOut | None = Field(
        description="The account stream's entries and their inclusion in a signed checkpoint; "
        "null where the verifiable log is turned off.",
        examples=[None],
    )
    dispute_proof: AnswerProofOut | None = Field(
        description="The same for the dispute's own stream.", examples=[None]
    )


def dossier_out(dossier: Dossier) -> DossierOut:
    """The dossier's response body, validated field by field (the reference for
    `dossier_body`, which the tests hold to it)."""
    return DossierOut.model_validate(
        {
            "format": FORMAT,
            "generated_at": dossier.generated_at,
            "subject": {"account_id": str(dossier.account_id)},
            "window": dossier.window,
            "account": dossier.account,
            "dispute": dossier.dispute,
            "answers": dossier.answers,
            "handles": dossier.handles,
            "offices": [{"tenures": o.changes, "proof": o.proof} for o in dossier.offices],
            "changes": dossier.changes,
            "events": dossier.events,
            "disputes": dossier.disputes,
            "proof": dossier.proof,
            "dispute_proof": dossier.dispute_proof,
        }
    )


def dossier_body(dossier: Dossier) -> dict[str, Any]:
    """The dossier as JSON-ready values, what every rendering starts from: `dossier_out`'s
    values, built directly. A dossier holds thousands of event records and intervals, and
    validating each through its model cost several times the rest of the dossier; the small
    parts still go through their models."""

    def small(model: type[Out], value: Any) -> Any:
        return None if value is None else _dumped(model.model_validate(value))

    changes = plain.custody_changes(dossier.changes)
    # The answer at each change is that version's custody (the same intervals): built once.
    built = {
        id(v.intervals): out["custody"]
        for v, out in zip(dossier.changes.versions, changes["versions"], strict=True)
    }

    def custody(intervals: tuple[CustodyIntervalView, ...]) -> list[dict[str, Any]]:
        found = built.get(id(intervals))
        return found if found is not None else [plain.interval(iv) for iv in intervals]

    return {
        "format": FORMAT,
        "generated_at": plain.timestamp(dossier.generated_at),
        "subject": {"account_id": str(dossier.account_id)},
        "window": plain.window(dossier.window),
        "account": small(AccountOut, dossier.account),
        "dispute": small(DisputeOut, dossier.dispute),
        "answers": [
            {"known_at": plain.time_text(a.known_at), "label": a.label,
             "custody": custody(a.custody)}
            for a in dossier.answers
        ],
        "handles": [
            {"known_at": plain.time_text(h.known_at), "handle": h.handle,
             "intervals": [plain.carried(iv) for iv in h.intervals]}
            for h in dossier.handles
        ],
        "offices": [
            {"tenures": _dumped(TenureChangesOut.model_validate(o.changes)),
             "proof": small(AnswerProofOut, o.proof)}
            for o in dossier.offices
        ],
        "changes": changes,
        "events": [plain.record(r) for r in dossier.events],
        "disputes": [_dumped(DisputeSummaryOut.model_validate(d)) for d in dossier.disputes],
        "proof": small(AnswerProofOut, dossier.proof),
        "dispute_proof": small(AnswerProofOut, dossier.dispute_proof),
    }  # fmt: skip


def _dumped(out: Out) -> Any:
    return out.model_dump(mode="json", by_alias=True)

"""The dossier as JSON (`custody-dossier/v1`): what `custody verify DOSSIER.json` checks, and
what the PROV document and the printable page are rendered from. One format for both subjects:
a reader tells an account's dossier (`subject: {account_id}`) from an office's
(`subject: {office}`) by the subject's key; the fields that do not apply to one are null or
empty."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any, Literal
from uuid import UUID

from pydantic import Field

from api.http import plain
from api.http.change_schemas import CustodyChangesOut, TenureChangesOut, TenureSpanOut
from api.http.dispute_schemas import DisputeOut, DisputeSummaryOut
from api.http.schemas import (
    AccountOut,
    AnswerProofOut,
    CustodyIntervalOut,
    EventRecordOut,
    HandleIntervalOut,
    HolderRef,
    Out,
    WindowOut,
)
from projections.dossier import FORMAT, Dossier, OfficeDossier, Speaking
from projections.queries.views import ChangeVersion

_WINDOW = {"from": "2021-06-01T00:00:00Z", "to": "2021-07-01T00:00:00Z"}
_ACCOUNT_ID = "540ac008-9006-47b7-99b2-87d9305174d5"
_OFFICE = "ru-chief-minister"
_LABEL = Field(
    description="Why this time matters: the dispute was opened then, the answer changed then, "
    "or it is now.",
    examples=["change"],
)


class AccountSubjectOut(Out):
    """An account's dossier is about the account."""

    account_id: UUID = Field(description="The account's id.", examples=[_ACCOUNT_ID])


class OfficeSubjectOut(Out):
    """An office's dossier (of a dispute about an office) is about the office."""

    office: str = Field(description="The office's key.", examples=[_OFFICE])


class DossierAnswerOut(Out):
    """The custody in the window as known at one record time that matters."""

    known_at: datetime | None = Field(
        description="The record time; null: now.", examples=["2021-06-20T00:00:00Z"]
    )
    label: Literal["complaint", "change", "now"] = _LABEL
    custody: list[CustodyIntervalOut] = Field(
        description="The holders' intervals in the window then, cut to it.", examples=[[]]
    )


class DossierTenureAnswerOut(Out):
    """The office's tenures in the window as known at one record time that matters."""

    known_at: datetime | None = Field(
        description="The record time; null: now.", examples=["2026-01-27T09:00:00Z"]
    )
    label: Literal["complaint", "change", "now"] = _LABEL
    tenures: list[TenureSpanOut] = Field(
        description="The tenures in the window then, cut to it, with the office's events that "
        "began and ended each (as `GET /v1/offices/{office}/tenures/changes` gives them).",
        examples=[[]],
    )


class DossierSpeakerOut(Out):
    """An account that spoke for the office in the window, as known then: shown, not proved
    (its stream is not in the office's dossier; its own dossier proves it)."""

    view = Speaking
    known_at: datetime | None = Field(
        description="The record time (the complaint's); null: now.", examples=[None]
    )
    account_id: UUID = Field(
        description="The account's id: `GET /v1/accounts/{account_id}/dossier?from=&to=` is "
        "its dossier.",
        examples=[_ACCOUNT_ID],
    )
    platform: str = Field(description="The platform.", examples=["x"])
    handles: list[str] = Field(
        description="The handles it spoke for the office under in the window, in order.",
        examples=[["CMRuritania"]],
    )
    ownership: Literal["office", "personal"] = Field(
        description="Whose the account is (at the last instant it spoke for the office).",
        examples=["office"],
    )
    owner: HolderRef | None = Field(
        description="The owner of a personal account; null for an office's.", examples=[None]
    )
    valid_from: datetime = Field(
        alias="from",
        description="The first instant in the window it spoke for the office.",
        examples=[_WINDOW["from"]],
    )
    valid_to: datetime = Field(
        alias="to",
        description="The end of its last speaking for the office in the window (exclusive).",
        examples=[_WINDOW["to"]],
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
    """Everything a panel needs about an account, or an office, over a window, and the proofs
    behind it."""

    format: Literal["custody-dossier/v1"] = Field(
        description="This document's format.", examples=[FORMAT]
    )
    generated_at: datetime = Field(
        description="When the ledger assembled it.", examples=["2026-03-05T10:00:00Z"]
    )
    subject: AccountSubjectOut | OfficeSubjectOut = Field(
        description="What it is about: `{account_id}` (an account's dossier) or `{office}` (an "
        "office's, for a dispute about the office).",
        examples=[{"account_id": _ACCOUNT_ID}, {"office": _OFFICE}],
    )
    window: WindowOut = Field(description="The valid-time window.", examples=[_WINDOW])
    account: AccountOut | None = Field(
        description="The account at the window's last instant, as known now (null if it did "
        "not exist then, and in an office's dossier).",
        examples=[None],
    )
    dispute: DisputeOut | None = Field(
        description="The dispute the dossier is for; null for an account's.", examples=[None]
    )
    answers: list[DossierAnswerOut] | list[DossierTenureAnswerOut] = Field(
        description="The custody in the window (an office's dossier: the office's tenures) as "
        "known at the complaint's date, at each change, and now.",
        examples=[[]],
    )
    handles: list[DossierHandlesOut] = Field(
        description="Who carried the subject's handles in the window, as known at the "
        "complaint's date and now (a look-alike that took a handle shows here); empty in an "
        "office's dossier.",
        examples=[[]],
    )
    offices: list[DossierOfficeOut] = Field(
        description="The tenures of the offices the account belonged to in the window; empty "
        "in an office's dossier (its tenures are its `changes`).",
        examples=[[]],
    )
    accounts: list[DossierSpeakerOut] = Field(
        description="An office's dossier: the accounts that spoke for the office in the "
        "window, as known at the complaint's date and now, to ask for their own dossiers; "
        "shown, not proved. Empty in an account's dossier.",
        examples=[[]],
    )
    changes: CustodyChangesOut | TenureChangesOut = Field(
        description="How the answer in the window changed: an account's custody (as "
        "`GET /v1/accounts/{id}/custody/changes`), an office's tenures (as "
        "`GET /v1/offices/{office}/tenures/changes`).",
        examples=[{"account_id": _ACCOUNT_ID, "window": _WINDOW, "versions": []},
                  {"office": _OFFICE, "window": _WINDOW, "versions": []}],
    )  # fmt: skip
    events: list[EventRecordOut] = Field(
        description="Every event of the subject's stream (the account's, or the office's own), "
        "with actor, reason and evidence.",
        examples=[[]],
    )
    disputes: list[DisputeSummaryOut] = Field(
        description="Other disputes about the subject whose window meets this one.",
        examples=[[]],
    )
    proof: AnswerProofOut | None = Field(
        description="The subject stream's entries and their inclusion in a signed "
        "checkpoint; null where the verifiable log is turned off.",
        examples=[None],
    )
    dispute_proof: AnswerProofOut | None = Field(
        description="The same for the dispute's own stream.", examples=[None]
    )


def dossier_out(dossier: Dossier | OfficeDossier) -> DossierOut:
    """The dossier's response body, validated field by field (the reference for
    `dossier_body`, which the tests hold to it)."""
    common = {
        "format": FORMAT,
        "generated_at": dossier.generated_at,
        "window": dossier.window,
        "dispute": dossier.dispute,
        "answers": dossier.answers,
        "changes": dossier.changes,
        "events": dossier.events,
        "disputes": dossier.disputes,
        "proof": dossier.proof,
        "dispute_proof": dossier.dispute_proof,
    }
    if isinstance(dossier, OfficeDossier):
        return DossierOut.model_validate(
            common | {"subject": {"office": dossier.office}, "account": None, "handles": [],
                      "offices": [], "accounts": dossier.accounts}
        )  # fmt: skip
    return DossierOut.model_validate(
        common
        | {
            "subject": {"account_id": str(dossier.account_id)},
            "account": dossier.account,
            "handles": dossier.handles,
            "offices": [{"tenures": o.changes, "proof": o.proof} for o in dossier.offices],
            "accounts": [],
        }
    )


def dossier_body(dossier: Dossier | OfficeDossier) -> dict[str, Any]:
    """The dossier as JSON-ready values, what every rendering starts from: `dossier_out`'s
    values, built directly. A dossier holds thousands of event records and intervals, and
    validating each through its model cost several times the rest of the dossier; the small
    parts still go through their models."""
    if isinstance(dossier, OfficeDossier):
        changes = plain.tenure_changes(dossier.changes)
        key, subject, account = "tenures", {"office": dossier.office}, None
        handles: list[Any] = []
        offices: list[Any] = []
        accounts = [_dumped(DossierSpeakerOut.model_validate(a)) for a in dossier.accounts]
        one: Callable[[Any], dict[str, Any]] = plain.tenure
        answered: list[tuple[Any, tuple[Any, ...]]] = [(a, a.tenures) for a in dossier.answers]
    else:
        changes = plain.custody_changes(dossier.changes)
        key, subject = "custody", {"account_id": str(dossier.account_id)}
        account = _small(AccountOut, dossier.account)
        handles = [
            {"known_at": plain.time_text(h.known_at), "handle": h.handle,
             "intervals": [plain.carried(iv) for iv in h.intervals]}
            for h in dossier.handles
        ]  # fmt: skip
        offices = [
            {"tenures": plain.tenure_changes(o.changes), "proof": _small(AnswerProofOut, o.proof)}
            for o in dossier.offices
        ]  # fmt: skip
        accounts, one = [], plain.interval
        answered = [(a, a.custody) for a in dossier.answers]
    # The answer at each change is that version's intervals (the same tuple): built once.
    versions: tuple[ChangeVersion[Any], ...] = dossier.changes.versions
    built = {id(v.intervals): out[key]
             for v, out in zip(versions, changes["versions"], strict=True)}  # fmt: skip

    def intervals(given: tuple[Any, ...]) -> list[dict[str, Any]]:
        found = built.get(id(given))
        return found if found is not None else [one(iv) for iv in given]

    return {
        "format": FORMAT,
        "generated_at": plain.timestamp(dossier.generated_at),
        "subject": subject,
        "window": plain.window(dossier.window),
        "account": account,
        "dispute": _small(DisputeOut, dossier.dispute),
        "answers": [
            {"known_at": plain.time_text(a.known_at), "label": a.label,
             key: intervals(given)}
            for a, given in answered
        ],
        "handles": handles,
        "offices": offices,
        "accounts": accounts,
        "changes": changes,
        "events": [plain.record(r) for r in dossier.events],
        "disputes": [_dumped(DisputeSummaryOut.model_validate(d)) for d in dossier.disputes],
        "proof": _small(AnswerProofOut, dossier.proof),
        "dispute_proof": _small(AnswerProofOut, dossier.dispute_proof),
    }  # fmt: skip


def _small(model: type[Out], value: Any) -> Any:
    return None if value is None else _dumped(model.model_validate(value))


def _dumped(out: Out) -> Any:
    return out.model_dump(mode="json", by_alias=True)

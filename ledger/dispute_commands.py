"""What a party or a panel asks of a dispute: open it, add evidence, withdraw it, resolve it.

Values validated as strictly as custody commands (`ledger.commands.Value`); their fields go
into the dispute's events as JSON (`data`). A resolution's corrections stay raw JSON objects
here: each is parsed as the custody command it names when the ledger stages it, so a broken
one is named with its place in the list.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, ClassVar, Literal
from uuid import UUID

from pydantic import AfterValidator, Field, model_validator

from ledger.commands import Evidence, Office, Reason, UtcTime, Value, _bounded_evidence
from ledger.dispute_fold import EVIDENCE_ADDED, OPENED, RESOLVED, WITHDRAWN

MAX_CONTESTED = 64
MAX_CORRECTIONS = 64


def _said(value: str) -> str:
    if not value:
        raise ValueError("must not be empty")
    return value


Said = Annotated[Reason, AfterValidator(_said)]
Sources = Annotated[tuple[Evidence, ...], AfterValidator(_bounded_evidence)]


class Subject(Value):
    """What a dispute is about: one account, or one office."""

    account_id: UUID | None = Field(
        default=None,
        description="The account contested.",
        examples=["3b6d7be1-b2fa-4ac0-94e3-21774eebbea7"],
    )
    office: Office | None = Field(
        default=None, description="Or the office contested.", examples=["pk-dg-ispr"]
    )

    @model_validator(mode="after")
    def _one(self) -> Subject:
        if (self.account_id is None) == (self.office is None):
            raise ValueError("name exactly one of account_id and office")
        return self

    def data(self) -> dict[str, str]:
        if self.account_id is not None:
            return {"account_id": str(self.account_id)}
        assert self.office is not None
        return {"office": self.office}


class Window(Value):
    """A valid-time window [from, to)."""

    from_: UtcTime = Field(
        alias="from", description="Start (inclusive), RFC 3339.", examples=["2017-01-01T00:00:00Z"]
    )
    to: UtcTime = Field(
        description="End (exclusive), RFC 3339; after `from`.", examples=["2017-02-01T00:00:00Z"]
    )

    @model_validator(mode="after")
    def _ordered(self) -> Window:
        if self.to <= self.from_:
            raise ValueError("`to` must be after `from`")
        return self

    def data(self) -> dict[str, str]:
        return {"from": _text(self.from_), "to": _text(self.to)}


class Contested(Value):
    """One recorded event the dispute contests: an account's, or the subject office's own."""

    account_id: UUID | None = Field(
        default=None,
        description="The account whose event it is.",
        examples=["3b6d7be1-b2fa-4ac0-94e3-21774eebbea7"],
    )
    office: Office | None = Field(
        default=None, description="Or the office whose own event it is.", examples=[None]
    )
    version: Annotated[int, Field(ge=1, strict=True)] = Field(
        description="The event's version in that stream.", examples=[4]
    )

    @model_validator(mode="after")
    def _one(self) -> Contested:
        if (self.account_id is None) == (self.office is None):
            raise ValueError("name exactly one of account_id and office")
        return self

    def data(self) -> dict[str, Any]:
        key = {"account_id": str(self.account_id)} if self.account_id else {"office": self.office}
        return {**key, "version": self.version}


class DisputeCommand(Value):
    type: ClassVar[str]
    evidence: Sources = Field(
        default=(),
        description="Sources (at most 32).",
        examples=[[{"url": "https://archive.org/details/example"}]],
    )

    def data(self) -> dict[str, Any]:
        """The event's own fields (evidence and reason travel beside them)."""
        return {}


class OpenDispute(DisputeCommand):
    type: ClassVar[str] = OPENED
    model_config = {**Value.model_config, "populate_by_name": True}

    subject: Subject = Field(
        description="What the dispute is about: `{account_id}` or `{office}`.",
        examples=[{"account_id": "3b6d7be1-b2fa-4ac0-94e3-21774eebbea7"}],
    )
    window: Window = Field(
        description="The valid-time window contested, [from, to).",
        examples=[{"from": "2017-01-01T00:00:00Z", "to": "2017-02-01T00:00:00Z"}],
    )
    claim: Said = Field(
        description="What the party says the record gets wrong (<= 4 KiB).",
        examples=["The account was renamed away from the office before the handover."],
    )
    contested: Annotated[tuple[Contested, ...], Field(max_length=MAX_CONTESTED)] = Field(
        default=(),
        description=f"The recorded events contested (at most {MAX_CONTESTED}).",
        examples=[[{"account_id": "3b6d7be1-b2fa-4ac0-94e3-21774eebbea7", "version": 4}]],
    )

    def data(self) -> dict[str, Any]:
        return {
            "subject": self.subject.data(),
            "window": self.window.data(),
            "claim": self.claim,
            "contested": [c.data() for c in self.contested],
        }


class AddEvidence(DisputeCommand):
    type: ClassVar[str] = EVIDENCE_ADDED
    evidence: Annotated[Sources, Field(min_length=1)] = Field(
        description="The new sources (1 to 32).",
        examples=[[{"url": "https://archive.org/details/example"}]],
    )
    note: Reason = Field(
        default="",
        description="What the evidence shows.",
        examples=["The platform's own notice of the rename."],
    )

    def data(self) -> dict[str, Any]:
        return {"note": self.note}


class Withdraw(DisputeCommand):
    type: ClassVar[str] = WITHDRAWN
    note: Reason = Field(
        default="",
        description="Why the party withdraws it.",
        examples=["Settled with the office."],
    )

    def data(self) -> dict[str, Any]:
        return {"note": self.note}


class Resolve(DisputeCommand):
    type: ClassVar[str] = RESOLVED
    outcome: Literal["upheld", "rejected"] = Field(
        description="The panel's decision.", examples=["upheld"]
    )
    ruling: Said = Field(
        description="The ruling, as the panel gave it (<= 4 KiB).",
        examples=["The rename was not the office's; it is retracted."],
    )
    corrections: Annotated[tuple[dict[str, Any], ...], Field(max_length=MAX_CORRECTIONS)] = Field(
        default=(),
        description="Account or office event requests written with the resolution, all "
        "or none: each `{account_id | office, type, ...fields, expected_version?}`.",
        examples=[
            [
                {
                    "account_id": "3b6d7be1-b2fa-4ac0-94e3-21774eebbea7",
                    "type": "event_retracted",
                    "event_version": 4,
                    "effective_at": "2017-01-20T17:00:00Z",
                }
            ]
        ],
    )

    @model_validator(mode="after")
    def _only_upheld(self) -> Resolve:
        if self.corrections and self.outcome != "upheld":
            raise ValueError("only an upheld dispute corrects the record")
        return self

    def data(self) -> dict[str, Any]:
        # `corrections` is filled in by the ledger with what it wrote.
        return {"outcome": self.outcome, "ruling": self.ruling}


DISPUTE_COMMANDS: dict[str, type[DisputeCommand]] = {
    cls.type: cls for cls in (AddEvidence, Withdraw, Resolve)
}


def _text(value: datetime) -> str:
    return value.isoformat().replace("+00:00", "Z")

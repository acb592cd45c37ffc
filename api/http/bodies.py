"""Request bodies: JSON to the ledger's own command models (`ledger.commands`), so the rules
live in one place, and their OpenAPI documentation, from the same models."""

from __future__ import annotations

from typing import Any, TypeVar

from pydantic.json_schema import models_json_schema

from api.http.schemas import REF, Problem
from ledger.commands import (
    COMMANDS,
    OFFICE_COMMANDS,
    Command,
    RegisterAccount,
    RegisterOffice,
    parse_command,
)
from ledger.dispute_commands import DISPUTE_COMMANDS, DisputeCommand, OpenDispute
from ledger.errors import InvalidInput

CommandT = TypeVar("CommandT", bound=Command)
_REF = REF


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


def office_registration(payload: Any) -> RegisterOffice:
    """The office registration a JSON body describes (no `type` field: the route says it)."""
    return _validate(RegisterOffice, payload)


OFFICE_EVENTS = {k: c for k, c in OFFICE_COMMANDS.items() if c is not RegisterOffice}


def office_event(payload: Any) -> Command:
    """The office event a JSON body names by its `type`: holder_assigned, holder_released or
    event_retracted."""
    return parse_command(payload, commands=OFFICE_EVENTS)


def dispute_opening(payload: Any) -> OpenDispute:
    """The dispute a JSON body opens (no `type` field: the route says it)."""
    if not isinstance(payload, dict):
        raise InvalidInput("the request body must be a JSON object")
    return OpenDispute.parse(payload)


def dispute_event(payload: Any) -> DisputeCommand:
    """The dispute event a JSON body names by its `type`: evidence_added, withdrawn or
    resolved."""
    if not isinstance(payload, dict):
        raise InvalidInput("the request body must be a JSON object")
    kind = payload.get("type")
    cls = DISPUTE_COMMANDS.get(kind) if isinstance(kind, str) else None
    if cls is None:
        raise InvalidInput(
            f"unknown dispute event type {kind!r}; expected one of: "
            + ", ".join(sorted(DISPUTE_COMMANDS)),
            field="type",
        )
    return cls.parse({k: v for k, v in payload.items() if k != "type"})


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

OFFICE_EXAMPLES: dict[str, dict[str, Any]] = {
    "office_registered": {
        "summary": "Register an office",
        "value": {
            "office": "pk-dg-ispr",
            "name": "Director General, Inter-Services Public Relations",
            "jurisdiction": "PK",
            "effective_at": "2012-05-01T00:00:00Z",
            "reason": "The office's record starts with Asim Saleem Bajwa's tenure.",
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
    "ownership_changed": {
        "summary": "A personal account passes to the office (or an account becomes personal)",
        "value": {
            "type": "ownership_changed",
            "ownership": "office",
            "office": "pk-dg-ispr",
            "effective_at": _WHEN,
        },
    },
    "official_use_started": {
        "summary": "A personal account starts speaking for an office",
        "value": {"type": "official_use_started", "office": "pk-dg-ispr", "effective_at": _WHEN},
    },
    "official_use_ended": {
        "summary": "A personal account stops speaking for its office",
        "value": {"type": "official_use_ended", "effective_at": _WHEN},
    },
    "audience_observed": {
        "summary": "An observation of the account's audience, with its source",
        "value": {
            "type": "audience_observed",
            "followers": 3050000,
            "effective_at": "2016-12-26T00:00:00Z",
            "evidence": [{"url": "https://example.org/report-2016-12"}],
        },
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
    every: dict[str, Any] = {**COMMANDS, **OFFICE_COMMANDS, **DISPUTE_COMMANDS}
    models = [*every.values(), OpenDispute]
    _, top = models_json_schema([(cls, "validation") for cls in models], ref_template=_REF)
    defs: dict[str, Any] = top["$defs"]
    for kind, cls in every.items():
        if cls in (RegisterAccount, RegisterOffice):
            continue
        schema = defs[cls.__name__]
        kind_of = {"const": kind, "type": "string", "description": "The event type.",
                   "examples": [kind]}  # fmt: skip
        schema["properties"] = {"type": kind_of, **schema["properties"]}
        schema["required"] = ["type", *schema.get("required", [])]
    defs["Problem"] = Problem.model_json_schema(ref_template=_REF)
    return defs


def _body(schema: dict[str, Any], examples: dict[str, Any]) -> dict[str, Any]:
    content = {"application/json": {"schema": schema, "examples": examples}}
    return {"requestBody": {"required": True, "content": content}}


def register_body() -> dict[str, Any]:
    return _body({"$ref": _REF.format(model="RegisterAccount")}, REGISTER_EXAMPLES)


def office_body() -> dict[str, Any]:
    return _body({"$ref": _REF.format(model="RegisterOffice")}, OFFICE_EXAMPLES)


def dispute_body() -> dict[str, Any]:
    return _body({"$ref": _REF.format(model="OpenDispute")}, DISPUTE_EXAMPLES)


def dispute_event_body() -> dict[str, Any]:
    refs = {k: _REF.format(model=c.__name__) for k, c in DISPUTE_COMMANDS.items()}
    schema = {
        "oneOf": [{"$ref": r} for r in refs.values()],
        "discriminator": {"propertyName": "type", "mapping": refs},
    }
    return _body(schema, DISPUTE_EVENT_EXAMPLES)


_ACCOUNT = "3b6d7be1-b2fa-4ac0-94e3-21774eebbea7"
DISPUTE_EXAMPLES = {
    "account": {
        "summary": "Contest a handover recorded for an account",
        "value": {
            "subject": {"account_id": _ACCOUNT},
            "window": {"from": "2017-01-01T00:00:00Z", "to": "2017-02-01T00:00:00Z"},
            "claim": "The account was renamed away from the office before the handover.",
            "contested": [{"account_id": _ACCOUNT, "version": 4}],
            "evidence": [{"url": "https://www.whitehouse.gov/briefing-room/"}],
        },
    }
}
DISPUTE_EVENT_EXAMPLES = {
    "evidence_added": {
        "summary": "Add evidence",
        "value": {
            "type": "evidence_added",
            "evidence": [{"url": "https://archive.org/details/example"}],
            "note": "The platform's own notice of the rename.",
        },
    },
    "resolved": {
        "summary": "Uphold it, with a correction written with the ruling",
        "value": {
            "type": "resolved",
            "outcome": "upheld",
            "ruling": "The rename was not the office's; it is retracted.",
            "corrections": [
                {
                    "account_id": _ACCOUNT,
                    "type": "event_retracted",
                    "event_version": 4,
                    "effective_at": "2017-01-20T17:00:00Z",
                }
            ],
        },
    },
}


def office_event_body() -> dict[str, Any]:
    return event_body(OFFICE_EVENTS)


def event_body(commands: dict[str, type[Command]] | None = None) -> dict[str, Any]:
    events = commands or {k: c for k, c in COMMANDS.items() if c is not RegisterAccount}
    refs = {k: _REF.format(model=c.__name__) for k, c in events.items()}
    schema = {
        "oneOf": [{"$ref": r} for r in refs.values()],
        "discriminator": {"propertyName": "type", "mapping": refs},
    }
    return _body(schema, {k: v for k, v in EVENT_EXAMPLES.items() if k in events})

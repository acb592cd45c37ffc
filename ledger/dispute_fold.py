"""A dispute's state from its stream: who contests what, and what became of it.

A dispute lives in record time only (it is opened, added to, withdrawn or resolved when the
ledger records it), so its fold takes `known_at` and no valid time:
  1. keep the facts recorded at or before `known_at` (all of them when `known_at` is None);
  2. the first opens it; `evidence_added` adds sources while it is open; `withdrawn` or
     `resolved` close it, for good.
The ledger refuses any event on a closed dispute, so every kept fact applies.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from ledger.fold import Fact

OPENED = "dispute_opened"
EVIDENCE_ADDED = "evidence_added"
WITHDRAWN = "withdrawn"
RESOLVED = "resolved"
TYPES = (OPENED, EVIDENCE_ADDED, WITHDRAWN, RESOLVED)

OPEN = "open"
STATUSES = (OPEN, WITHDRAWN, RESOLVED)
OUTCOMES = ("upheld", "rejected")


@dataclass(frozen=True, slots=True)
class DisputeState:
    """A dispute as known at one record time."""

    subject_account: str | None
    subject_office: str | None
    window_from: datetime
    window_to: datetime
    claim: str
    contested: tuple[tuple[str, int], ...]  # (account id or office key, version)
    status: str
    opened_at: datetime
    opened_by: str
    version: int
    outcome: str | None = None
    ruling: str | None = None
    closed_at: datetime | None = None
    corrections: tuple[dict[str, Any], ...] = ()

    @property
    def subject(self) -> dict[str, str]:
        if self.subject_account is not None:
            return {"account_id": self.subject_account}
        assert self.subject_office is not None
        return {"office": self.subject_office}

    def overlaps(self, start: datetime, end: datetime | None) -> bool:
        """Whether its window meets the valid-time range [start, end)."""
        return self.window_from < (end or datetime.max.replace(tzinfo=start.tzinfo)) and (
            start < self.window_to
        )


def dispute(facts: Sequence[Fact], known_at: datetime | None = None) -> DisputeState | None:
    """The dispute as known at `known_at`; None before it was opened."""
    state: DisputeState | None = None
    for fact in facts:
        if known_at is not None and fact.recorded_at > known_at:
            break
        state = apply(state, fact)
    return state


def apply(state: DisputeState | None, fact: Fact) -> DisputeState:
    d = fact.data
    if state is None:
        if fact.type != OPENED:
            raise ValueError(f"a dispute's stream begins with {OPENED}, not {fact.type}")
        subject = d["subject"]
        return DisputeState(
            subject_account=subject.get("account_id"),
            subject_office=subject.get("office"),
            window_from=_time(d["window"]["from"]),
            window_to=_time(d["window"]["to"]),
            claim=d["claim"],
            contested=tuple(
                (str(c.get("account_id") or c.get("office")), int(c["version"]))
                for c in d.get("contested", ())
            ),
            status=OPEN,
            opened_at=fact.recorded_at,
            opened_by=fact.actor,
            version=fact.version,
        )
    if fact.type == EVIDENCE_ADDED:
        return replace(state, version=fact.version)
    if fact.type == WITHDRAWN:
        return replace(state, version=fact.version, status=WITHDRAWN, closed_at=fact.recorded_at)
    if fact.type == RESOLVED:
        return replace(
            state,
            version=fact.version,
            status=RESOLVED,
            outcome=d["outcome"],
            ruling=d["ruling"],
            closed_at=fact.recorded_at,
            corrections=tuple(d.get("corrections", ())),
        )
    raise ValueError(f"{fact.type} is not an event of a dispute")


def why_refused(state: DisputeState, type_: str) -> str | None:
    """Why an event of `type_` cannot be added to the dispute (None: it can)."""
    if type_ not in TYPES[1:]:
        return f"a dispute takes {', '.join(TYPES[1:])}, not {type_}"
    if state.status != OPEN:
        return f"the dispute is {state.status}; only an open dispute takes {type_}"
    return None


def _time(text: str) -> datetime:
    value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if value.tzinfo is None:
        raise ValueError(f"{text!r} has no time zone")
    return value

"""The dossier's renderings: W3C PROV (`prov`), a printable page (`html`) and its PDF (`pdf`).

Each reads the verifiable JSON dossier (`custody-dossier/v1`) as parsed JSON and nothing else.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any


def when(value: Any) -> datetime | None:
    """A dossier timestamp as an aware UTC datetime; None when absent or unreadable."""
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed.astimezone(UTC) if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def registration(dossier: Mapping[str, Any]) -> Mapping[str, Any]:
    """What an office's registration, among its dossier's events, says (name, jurisdiction);
    empty if it is not there."""
    for record in dossier.get("events") or []:
        if isinstance(record, Mapping) and record.get("type") == "office_registered":
            data = record.get("data")
            return data if isinstance(data, Mapping) else {}
    return {}

"""The dossier's renderings: W3C PROV (`prov`), a printable page (`html`) and its PDF (`pdf`).

Each reads the verifiable JSON dossier (`custody-dossier/v1`) as parsed JSON and nothing else.
"""

from __future__ import annotations

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

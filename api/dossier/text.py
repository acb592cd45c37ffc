"""Text of the dossier's page: escaping, times, links and sections (every string from the
dossier is escaped; only http(s) URLs become links: they come from users)."""

from __future__ import annotations

from collections.abc import Mapping
from html import escape
from typing import Any

from api.dossier import registration, when


def esc(value: Any) -> str:
    """Escaped text (for element content and attribute values alike)."""
    return "" if value is None else escape(str(value), quote=True)


def moment(value: Any, missing: str = "open") -> str:
    """A timestamp as people read it, in UTC (the header says so): `2026-01-20 12:00`."""
    moment = when(value)
    if moment is None:
        return missing if value is None else str(value)
    return moment.strftime("%Y-%m-%d %H:%M" + (":%S" if moment.second else ""))


def window_text(window: Any) -> str:
    window = window if isinstance(window, Mapping) else {}
    return f"{moment(window.get('from'), 'the start')} to {moment(window.get('to'))}"


def handle_text(handle: Any) -> str:
    return "" if not handle else str(handle) if str(handle).startswith("@") else f"@{handle}"


def office_of(dossier: Mapping[str, Any]) -> str | None:
    """The office an office's dossier is about (None: an account's)."""
    subject = dossier.get("subject")
    office = subject.get("office") if isinstance(subject, Mapping) else None
    return None if office is None else str(office)


def intervals_of(view: Mapping[str, Any]) -> list[Any]:
    """An answer's or a change's intervals: an account's custody, an office's tenures."""
    return list(view.get("custody") or view.get("tenures") or [])


def subject_text(dossier: Mapping[str, Any]) -> str:
    account, subject = dossier.get("account") or {}, dossier.get("subject") or {}
    if account.get("handle"):
        return f"{handle_text(account['handle'])} on {account.get('platform') or 'its platform'}"
    if subject.get("office"):
        named = registration(dossier)
        name = f"{named['name']} (office {subject['office']})" if named.get("name") else ""
        return name or f"office {subject['office']}"
    return f"account {subject.get('account_id') or account.get('account_id')}"


def link(url: str, text: str | None = None) -> str:
    """A link for an http(s) URL; any other string stays text (no javascript: links)."""
    shown = esc(url if text is None else text)
    label = "" if text is None else f' title="{esc(url)}" aria-label="{esc(f"{text}: {url}")}"'
    if url.lower().startswith(("https://", "http://")):
        return f'<a href="{esc(url)}"{label}>{shown}</a>'
    return f'<span class="url"{label}>{shown}</span>'


def section(key: str, heading: str, body: str) -> str:
    return (
        f'<section id="{key}" aria-labelledby="{key}-h">'
        f'<h2 id="{key}-h">{esc(heading)}</h2>{body}</section>'
    )

"""The JSON values of the views answers hold by the thousand (event records, custody and
handle intervals, provenance), built directly: equal to their response models' dumps (the
tests hold them to it), at a fraction of the cost of validating each through its model."""

from __future__ import annotations

from datetime import datetime
from functools import lru_cache
from typing import Any

from ledger.changes import Window
from ledger.dispute_fold import TYPES as DISPUTE_TYPES
from ledger.records import EventRecord
from ledger.tlog.entry import timestamp as _timestamp
from projections.queries.views import (
    CustodyChanges,
    CustodyIntervalView,
    HandleIntervalView,
    Provenance,
    TenureChanges,
    TenureSpanView,
)


@lru_cache(maxsize=1 << 14)
def timestamp(value: datetime) -> str:
    """The API's text of a time; the same few record times recur through a dossier's
    versions and provenance thousands of times."""
    return _timestamp(value)


def time_text(value: datetime | None) -> str | None:
    return None if value is None else timestamp(value)


def window(window: Window) -> dict[str, str]:
    return {"from": timestamp(window.valid_from), "to": timestamp(window.valid_to)}


def cited(p: Provenance) -> dict[str, Any]:
    """`ProvenanceOut`'s values."""
    return {"version": p.version, "type": p.type, "recorded_at": timestamp(p.recorded_at),
            "actor": p.actor, "position": p.position}  # fmt: skip


def interval(iv: CustodyIntervalView) -> dict[str, Any]:
    """`CustodyIntervalOut`'s values."""
    return {
        "holder": {"id": iv.holder.id, "name": iv.holder.name},
        "from": timestamp(iv.valid_from),
        "to": time_text(iv.valid_to),
        "handles": list(iv.handles),
        "offices": list(iv.offices),
        "established_by": [cited(p) for p in iv.established_by],
    }


def carried(iv: HandleIntervalView) -> dict[str, Any]:
    """`HandleIntervalOut`'s values."""
    return {"account_id": str(iv.account_id), "handle": iv.handle,
            "from": timestamp(iv.valid_from), "to": time_text(iv.valid_to),
            "established_by": [cited(p) for p in iv.established_by]}  # fmt: skip


def tenure(t: TenureSpanView) -> dict[str, Any]:
    """`TenureSpanOut`'s values."""
    return {"holder": {"id": t.holder.id, "name": t.holder.name},
            "from": timestamp(t.valid_from), "to": time_text(t.valid_to),
            "established_by": [cited(p) for p in t.established_by]}  # fmt: skip


def record(r: EventRecord) -> dict[str, Any]:
    """`EventRecordOut`'s values: a dispute's event names its stream `dispute_id`, an
    office's `office`, an account's `account_id`."""
    dispute = r.type in DISPUTE_TYPES
    return {
        "account_id": None if dispute or r.office is not None else str(r.account_id),
        "office": r.office,
        "dispute_id": str(r.account_id) if dispute else None,
        "version": r.version,
        "position": r.position,
        "type": r.type,
        "effective_at": timestamp(r.effective_at),
        "recorded_at": timestamp(r.recorded_at),
        "actor": r.actor,
        "attributed_to": r.attributed_to,
        "reason": r.reason,
        "evidence": [{"url": e["url"], "sha256": e.get("sha256")} for e in r.evidence],
        "data": r.data,
        "retracted_by": r.retracted_by,
    }


def custody_changes(changes: CustodyChanges) -> dict[str, Any]:
    """`CustodyChangesOut`'s values."""
    return {
        "account_id": str(changes.account_id),
        "window": window(changes.window),
        "versions": [
            {"known_at": timestamp(v.known_at), "custody": [interval(iv) for iv in v.intervals],
             "changed_by": [record(r) for r in v.changed_by]}
            for v in changes.versions
        ],
    }  # fmt: skip


def tenure_changes(changes: TenureChanges) -> dict[str, Any]:
    """`TenureChangesOut`'s values."""
    return {
        "office": changes.office,
        "window": window(changes.window),
        "versions": [
            {"known_at": timestamp(v.known_at), "tenures": [tenure(t) for t in v.intervals],
             "changed_by": [record(r) for r in v.changed_by]}
            for v in changes.versions
        ],
    }  # fmt: skip

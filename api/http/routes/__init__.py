"""One router per resource; `ROUTERS` is what the app includes."""

from __future__ import annotations

from fastapi import APIRouter

from api.http.routes import (
    accounts,
    changes,
    disputes,
    dossiers,
    events,
    findings,
    handles,
    health,
    holders,
    log,
    offices,
)

ROUTERS: tuple[APIRouter, ...] = (
    accounts.router,
    events.router,
    handles.router,
    holders.router,
    health.router,
    log.router,
    offices.router,
    findings.router,
    disputes.router,
    changes.router,
    dossiers.router,
)

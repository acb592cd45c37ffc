"""One router per resource; `ROUTERS` is what the app includes."""

from __future__ import annotations

from fastapi import APIRouter

from api.http.routes import accounts, events, handles, health, holders, log

ROUTERS: tuple[APIRouter, ...] = (
    accounts.router,
    events.router,
    handles.router,
    holders.router,
    health.router,
    log.router,
)

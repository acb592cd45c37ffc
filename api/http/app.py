"""The HTTP door: `create_app` wires the routers, the error mapping and the lifespan.

uvicorn --factory api.http.app:create_app          (one process: serves and projects)
uvicorn --factory api.http.app:create_serving_app  (serves only: `custody project`, or the process that
                                              runs `custody serve --workers N`, projects)
"""

from __future__ import annotations

import asyncio
import ctypes
import os
import signal
import sys
import threading
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from fastapi_offline import FastAPIOffline

from api.bootstrap import Container, build
from api.http import errors, page
from api.http.bodies import request_components
from api.http.routes import ROUTERS
from ledger.errors import StoreUnavailable
from ledger.settings import Settings

PR_SET_PDEATHSIG = 1  # linux/prctl.h

DESCRIPTION = """\
An append-only, bitemporal ledger of who held custody of official social-media accounts.

Times are RFC 3339 with an offset. `at` is valid time (when something was true) and
`known_at` record time (what the ledger knew then); both default to now. Every error is
`application/problem+json`. Writes need a recorder or admin token; reads need a token unless
the server runs with public reads.
"""


def create_app(
    container: Container | None = None,
    settings: Settings | None = None,
    *,
    run_worker: bool = True,
    wait_for_store: bool = False,
) -> FastAPI:
    """The app. At startup it builds its container (unless one is given) and, unless
    `run_worker` is false (a separate `custody project` runs), starts the read-model worker;
    at shutdown it closes the container. With `wait_for_store`, a store that cannot be opened
    at startup is tried again every second instead of failing the startup (`_opened`)."""
    settings = container.settings if container is not None else (settings or Settings())

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        current = container if container is not None else await _opened(settings, wait_for_store)
        app.state.container = current
        if run_worker:
            current.start_worker()
        try:
            yield
        finally:
            current.close()

    # /docs and /redoc load Swagger UI and ReDoc from the package, not from a CDN: they work
    # on a machine without internet, and the page makes no third-party requests.
    app = FastAPIOffline(
        title="Custody ledger",
        version="1",
        description=DESCRIPTION,
        lifespan=lifespan,
    )
    for router in (*ROUTERS, page.router):
        app.include_router(router)
    errors.install(app, max_body_bytes=settings.max_body_bytes)
    app.openapi = _openapi(app)  # type: ignore[method-assign]
    return app


def create_serving_app() -> FastAPI:
    """The app of one API worker process under `custody serve --workers N`: settings from
    the environment; the supervising process runs the read-model worker. A worker that starts
    while the database is unreachable waits for it: uvicorn stops the whole server when a
    worker fails its startup, and the others would otherwise answer 503 until it returns."""
    settings = Settings()
    if settings.supervisor_pid is not None:
        end_with_supervisor(settings.supervisor_pid)
    return create_app(settings=settings, run_worker=False, wait_for_store=True)


async def _opened(settings: Settings, wait: bool) -> Container:
    """The container built from `settings`; StoreUnavailable at once unless `wait`, which
    tries again every second until the store opens (the worker does not serve meanwhile)."""
    while True:
        try:
            return build(settings)
        except StoreUnavailable as e:
            if not wait:
                raise
            print(f"custody serve: {e.detail}; trying again in a second", file=sys.stderr)
            await asyncio.sleep(1.0)


def end_with_supervisor(supervisor: int) -> None:
    """End this worker process when the supervisor `custody serve --workers N` ends, however
    it ends (kill -9 included): a worker left behind would accept writes that nobody projects
    and hold the port. On Linux the kernel sends SIGTERM on the parent's death (the worker
    then shuts down like on Ctrl-C); elsewhere, and in case the parent died before that was
    set up, a watchdog thread looks once a second."""
    if sys.platform == "linux":
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM)

    def watch() -> None:
        while os.getppid() == supervisor:
            time.sleep(1.0)
        os.kill(os.getpid(), signal.SIGTERM)

    threading.Thread(target=watch, name="custody-supervisor-watch", daemon=True).start()


def _openapi(app: FastAPI) -> Callable[[], dict[str, Any]]:
    """The generated schema, plus the command models that document the request bodies."""

    def schema() -> dict[str, Any]:
        if app.openapi_schema is None:
            document = get_openapi(
                title=app.title,
                version=app.version,
                description=app.description,
                routes=app.routes,
            )
            components = document.setdefault("components", {}).setdefault("schemas", {})
            components.update(request_components())
            app.openapi_schema = document
        return app.openapi_schema

    return schema

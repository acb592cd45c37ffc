"""The witness's HTTP door (c2sp.org/tlog-witness): `POST /add-checkpoint` (the submission
prefix is the server's root) and the monitoring `GET /<sha256 of origin>/checkpoint`.

It speaks the protocol's text: a 200 is cosignature lines, a 409 the size the witness holds
(`text/x.tlog.size`), any other refusal one short line of plain text, never problem+json.
The cosignature is given only after the new state is committed.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable
from typing import Annotated

from fastapi import APIRouter, Depends, FastAPI, HTTPException, Request, Response
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import ClientDisconnect

from api.witness.state import WitnessState
from ledger.tlog.witness import (
    Inconsistent,
    Malformed,
    Refused,
    UnknownLog,
    Untrusted,
    Witness,
    WrongOldSize,
)

MAX_BODY_BYTES = 64 * 1024  # 63 proof lines and a checkpoint with 100 signatures fit easily
ATTEMPTS = 5  # decide-and-swap rounds before giving up on a log other requests keep moving
TEXT = "text/plain; charset=utf-8"
SIZE = "text/x.tlog.size"  # exactly this: no charset parameter
STATUS: dict[type[Refused], int] = {
    Malformed: 400,
    Untrusted: 403,
    UnknownLog: 404,
    WrongOldSize: 409,
    Inconsistent: 422,
}

Clock = Callable[[], int]


def posix_now() -> int:
    """The time in whole POSIX seconds: a cosignature's timestamp."""
    return int(time.time())


class Busy(Exception):
    """The log's state kept moving under this request, or could not be written (503)."""


def add_checkpoint(witness: Witness, state: WitnessState, body: bytes, now: Clock) -> str:
    """The cosignature line(s) for an add-checkpoint body, once the new state is committed."""
    submission = witness.open(body)
    for _ in range(ATTEMPTS):
        last = state.last(submission.origin)
        cosigning = witness.decide(submission, last, now())
        # Another request may have moved the log since `last` was read: then decide again
        # from what it holds now (usually a 409).
        if state.advance(cosigning.old_size, cosigning.new):
            return cosigning.lines
    raise Busy("the log's state kept changing; try again")


# -- the door ------------------------------------------------------------------------------


async def request_body(request: Request) -> bytes:
    """The body, refused with 413 past MAX_BODY_BYTES, declared or streamed."""
    declared = request.headers.get("content-length", "")
    if (
        declared.isascii()
        and declared.isdigit()
        and (len(declared) > 9 or int(declared) > MAX_BODY_BYTES)
    ):
        raise HTTPException(413, f"the body is larger than {MAX_BODY_BYTES} bytes")
    body = bytearray()
    try:
        async for chunk in request.stream():
            body += chunk
            if len(body) > MAX_BODY_BYTES:
                raise HTTPException(413, f"the body is larger than {MAX_BODY_BYTES} bytes")
    except ClientDisconnect:
        raise HTTPException(400, "the client went away before the body ended") from None
    return bytes(body)


def witness_of(request: Request) -> Witness:
    witness: Witness = request.app.state.witness
    return witness


def state_of(request: Request) -> WitnessState:
    state: WitnessState = request.app.state.witness_state
    return state


def clock_of(request: Request) -> Clock:
    clock: Clock = request.app.state.clock
    return clock


Body = Annotated[bytes, Depends(request_body)]
WitnessDep = Annotated[Witness, Depends(witness_of)]
StateDep = Annotated[WitnessState, Depends(state_of)]
ClockDep = Annotated[Clock, Depends(clock_of)]

router = APIRouter(tags=["witness"])


@router.post("/add-checkpoint")
def post_add_checkpoint(
    body: Body, witness: WitnessDep, state: StateDep, now: ClockDep
) -> Response:
    """Cosign a checkpoint that extends what this witness last cosigned for its log."""
    return Response(add_checkpoint(witness, state, body, now), headers={"content-type": TEXT})


@router.get("/{digest}/checkpoint")
def get_checkpoint(digest: str, state: StateDep) -> Response:
    """The log's checkpoint as last cosigned here, with the log's and this witness's lines."""
    cosigned = state.by_origin_hash(digest)
    if cosigned is None:
        raise HTTPException(404, "this witness has never cosigned a log with that origin hash")
    return Response(cosigned.note, headers={"content-type": TEXT})


def _text(status: int, detail: str) -> Response:
    return Response(detail.rstrip("\n") + "\n", status_code=status, headers={"content-type": TEXT})


def on_refused(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, Refused)
    if isinstance(exc, WrongOldSize):
        return Response(f"{exc.size}\n", status_code=409, headers={"content-type": SIZE})
    status = next(code for kind, code in STATUS.items() if isinstance(exc, kind))
    return _text(status, exc.detail)


def on_busy(request: Request, exc: Exception) -> Response:
    if isinstance(exc, sqlite3.Error):
        return _text(503, "the witness could not record its state; nothing was cosigned")
    return _text(503, str(exc))


def on_http_exception(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    response = _text(exc.status_code, str(exc.detail))
    response.headers.update(exc.headers or {})
    return response


def create_app(witness: Witness, state: WitnessState, *, now: Clock = posix_now) -> FastAPI:
    """The witness's app: no docs pages, no JSON, the protocol's two routes."""
    app = FastAPI(title="custody witness", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.witness = witness
    app.state.witness_state = state
    app.state.clock = now
    app.include_router(router)
    app.add_exception_handler(Refused, on_refused)
    app.add_exception_handler(Busy, on_busy)
    app.add_exception_handler(sqlite3.Error, on_busy)
    app.add_exception_handler(StarletteHTTPException, on_http_exception)
    return app

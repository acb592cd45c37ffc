"""Handles: which account carried a handle at a time, and every account that ever did."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Response

from api.http.deps import LogServiceDep, ProofParam, ReadAt, ReadKnownAt
from api.http.errors import NotInEffect, utc_text
from api.http.schemas import (
    HandleHistoryOut,
    HandleIntervalOut,
    HandleOut,
    HandleProvedOut,
    problems,
)
from ledger.commands import PLATFORM_RE, normalize_handle
from ledger.errors import HandleNotFound
from projections.tlog.service import LogNotFound

router = APIRouter(prefix="/v1/handles", tags=["handles"])

PlatformKey = Annotated[
    str,
    Path(pattern=PLATFORM_RE.pattern, description="The platform the handle is on.", examples=["x"]),
]
HandleParam = Annotated[
    str,
    Path(
        description="The handle, with or without its leading `@`; case-insensitive.",
        examples=["POTUS"],
    ),
]


@router.get(
    "/{platform}/{handle}",
    response_model=HandleOut,
    summary="The account that carried the handle at a time (with `proof=true`, the proof)",
    responses={
        200: {
            "model": HandleProvedOut,
            "description": "The account; with `proof=true`, its `proof` too.",
        },
        **problems(401, 403, 404, 422, 503),
    },
)
def handle_at(
    platform: PlatformKey,
    handle: HandleParam,
    read: ReadAt,
    log: LogServiceDep,
    proof: ProofParam = False,
) -> Response:
    known_at = read.known_at
    answer = read.queries.handle_at(platform, handle, read.at, known_at)
    if answer.account is None:
        raise NotInEffect(
            "handle-not-in-effect",
            f"No account on {platform} carried @{answer.handle} at {utc_text(answer.at)} "
            f"as known {'at ' + utc_text(known_at) if known_at else 'now'}; "
            "its history is at /history.",
        )
    if not proof:
        return HandleOut.model_validate(answer).response()
    if log is None:
        raise LogNotFound("the verifiable log is turned off here (CUSTODY_LOG_ENABLED=false)")
    body = HandleOut.model_validate(answer).model_dump(mode="json", by_alias=True)
    body["proof"] = log.stream_proof(answer.account.account_id, answer.account.version)
    return HandleProvedOut.model_validate(body).response()


@router.get(
    "/{platform}/{handle}/history",
    response_model=HandleHistoryOut,
    summary="Every account that carried the handle, and when",
    responses=problems(401, 403, 404, 422, 503),
)
def handle_history(
    platform: PlatformKey, handle: HandleParam, read: ReadKnownAt
) -> HandleHistoryOut:
    intervals = read.queries.handle_history(platform, handle, read.known_at)
    if not intervals and (
        read.known_at is None or not read.queries.handle_history(platform, handle, None)
    ):  # never carried as known now (an earlier record that held nothing yet is an answer)
        raise HandleNotFound(platform, normalize_handle(handle))
    return HandleHistoryOut(
        platform=platform,
        handle=normalize_handle(handle),
        known_at=read.known_at,
        intervals=[HandleIntervalOut.model_validate(iv) for iv in intervals],
    )

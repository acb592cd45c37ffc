"""Custody events: append one to an account, read a stream, read the global log."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Response

from api.http.bodies import event_body
from api.http.deps import NewEvent, Read, new_event
from api.http.routes.accounts import AccountIdParam
from api.http.schemas import EventRecordOut, LogPageOut, problems
from projections.queries import MAX_PAGE

router = APIRouter(prefix="/v1", tags=["events"])

MAX_POSITION = 2**63 - 1  # log positions are 64-bit integers in both stores


@router.post(
    "/accounts/{account_id}/events",
    status_code=201,
    response_model=EventRecordOut,
    summary="Append a custody event to an account",
    openapi_extra=event_body(),
    responses={
        201: {
            "description": "The event record.",
            "headers": {"ETag": {"description": "The stream version after the write."}},
        },
        **problems(400, 401, 403, 404, 409, 412, 413, 415, 422, 503),
    },
)
def append_event(
    account_id: AccountIdParam, write: Annotated[NewEvent, Depends(new_event)]
) -> Response:
    record = write.ledger.append(
        account_id,
        write.command,  # type: ignore[arg-type]  # a registration is refused by the ledger
        actor=write.principal.name,
        expected_version=write.expected_version,
        idempotency_key=write.idempotency_key,
        offices=write.offices,
    )
    return EventRecordOut.model_validate(record).response(201, {"ETag": f'"{record.version}"'})


@router.get(
    "/accounts/{account_id}/events",
    response_model=list[EventRecordOut],
    summary="The account stream's event records, oldest first",
    responses=problems(401, 403, 404, 422, 503),
)
def account_events(account_id: AccountIdParam, read: Read) -> list[EventRecordOut]:
    return [EventRecordOut.model_validate(e) for e in read.queries.events(account_id)]


@router.get(
    "/events",
    response_model=LogPageOut,
    summary="The global log of custody events, in order",
    responses=problems(401, 403, 422, 503),
)
def global_log(
    read: Read,
    after: Annotated[
        int,
        Query(
            ge=0,
            le=MAX_POSITION,
            description="An exclusive log position: `next_after` of the previous page; 0 for "
            "the start of the log.",
            examples=[2],
        ),
    ] = 0,
    limit: Annotated[
        int,
        Query(
            ge=1,
            le=MAX_PAGE,
            description=f"The most events to return on a page (1 to {MAX_PAGE}).",
            examples=[100],
        ),
    ] = 100,
) -> LogPageOut:
    return LogPageOut.model_validate(read.queries.log(after, limit))

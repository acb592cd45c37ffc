"""Accounts: register one, read its state at a time, its custody timeline, list them."""

from __future__ import annotations

from typing import Annotated, Literal
from uuid import UUID

from fastapi import APIRouter, Depends, Path, Query, Response

from api.http.bodies import register_body
from api.http.deps import (
    LogServiceDep,
    NewAccount,
    ProofParam,
    ReadAt,
    ReadKnownAt,
    new_account,
)
from api.http.errors import NotInEffect, utc_text
from api.http.schemas import (
    AccountOut,
    AccountPageOut,
    AccountProvedOut,
    CustodyOut,
    EventRecordOut,
    problems,
)
from ledger.commands import OFFICE_RE, PLATFORM_RE
from projections.queries import MAX_PAGE
from projections.tlog.service import LogNotFound

router = APIRouter(prefix="/v1/accounts", tags=["accounts"])

READ_ERRORS = problems(401, 403, 404, 422, 503)
CREATED_HEADERS = {
    "Location": {"description": "The new account's URL.", "schema": {"type": "string"}},
    "ETag": {"description": "The stream version after the write.", "schema": {"type": "string"}},
}
AccountIdParam = Annotated[
    UUID,
    Path(
        description="The account's id, as returned by its registration.",
        examples=["3b6d7be1-b2fa-4ac0-94e3-21774eebbea7"],
    ),
]


@router.post(
    "",
    status_code=201,
    response_model=EventRecordOut,
    summary="Register an official account",
    openapi_extra=register_body(),
    responses={
        201: {"description": "The registration's event record.", "headers": CREATED_HEADERS},
        **problems(400, 401, 403, 409, 413, 415, 422, 503),
    },
)
def register_account(write: Annotated[NewAccount, Depends(new_account)]) -> Response:
    record = write.ledger.register_account(
        write.command, actor=write.principal.name, idempotency_key=write.idempotency_key
    )
    return EventRecordOut.model_validate(record).response(
        201, {"Location": f"/v1/accounts/{record.account_id}", "ETag": f'"{record.version}"'}
    )


@router.get(
    "",
    response_model=AccountPageOut,
    summary="List the accounts matching filters, at a time",
    responses=problems(401, 403, 422, 503),
)
def list_accounts(
    read: ReadAt,
    office: Annotated[
        str | None,
        Query(
            pattern=OFFICE_RE.pattern,
            description="Only accounts that belonged to this office at `at`.",
            examples=["us-president"],
        ),
    ] = None,
    platform: Annotated[
        str | None,
        Query(
            pattern=PLATFORM_RE.pattern,
            description="Only accounts on this platform.",
            examples=["x"],
        ),
    ] = None,
    status: Annotated[
        Literal["active", "closed"] | None,
        Query(description="Only accounts with this status at `at`.", examples=["active"]),
    ] = None,
    limit: Annotated[
        int,
        Query(
            ge=1,
            le=MAX_PAGE,
            description=f"The most accounts to return on a page (1 to {MAX_PAGE}).",
            examples=[50],
        ),
    ] = 50,
    cursor: Annotated[
        str | None,
        Query(
            description="`next_cursor` of the previous page; leave out for the first page.",
            examples=["3b6d7be1-b2fa-4ac0-94e3-21774eebbea7"],
        ),
    ] = None,
) -> AccountPageOut:
    page = read.queries.accounts(
        office=office,
        platform=platform,
        status=status,
        at=read.at,
        known_at=read.known_at,
        limit=limit,
        cursor=cursor,
    )
    return AccountPageOut.model_validate(page)


@router.get(
    "/{account_id}",
    response_model=AccountOut,
    summary="The account's state at a time, as known at a time (with `proof=true`, the proof)",
    responses={
        200: {
            "model": AccountProvedOut,
            "description": "The account's state; with `proof=true`, its `proof` too.",
            "headers": {"ETag": {"description": "The stream's current version."}},
        },
        **READ_ERRORS,
    },
)
def get_account(
    account_id: AccountIdParam,
    read: ReadAt,
    log: LogServiceDep,
    proof: ProofParam = False,
) -> Response:
    queries, at, known_at = read.queries, read.at, read.known_at
    view = queries.account_at(account_id, at, known_at)
    if view is None:
        raise NotInEffect(
            "account-not-in-effect",
            f"Account {account_id} did not exist at {utc_text(at) if at else 'the present time'}"
            f" as known {'at ' + utc_text(known_at) if known_at else 'now'}.",
        )
    current = view.version if known_at is None else queries.current_version(account_id)
    headers = {"ETag": f'"{current}"'}
    if not proof:
        return AccountOut.model_validate(view).response(headers=headers)
    if log is None:
        raise LogNotFound("the verifiable log is turned off here (CUSTODY_LOG_ENABLED=false)")
    body = AccountOut.model_validate(view).model_dump(mode="json", by_alias=True)
    body["proof"] = log.stream_proof(account_id, view.version)
    return AccountProvedOut.model_validate(body).response(headers=headers)


@router.get(
    "/{account_id}/custody",
    response_model=CustodyOut,
    summary="The holder intervals in valid time, as known at a time",
    responses=READ_ERRORS,
)
def custody_timeline(account_id: AccountIdParam, read: ReadKnownAt) -> CustodyOut:
    return CustodyOut.model_validate(read.queries.custody_timeline(account_id, read.known_at))

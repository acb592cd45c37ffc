"""Disputes: a party contests the record; a panel resolves it, correcting the record with it."""

from __future__ import annotations

from typing import Annotated, Literal
from uuid import UUID

from fastapi import APIRouter, Depends, Path, Query, Response

from api.http.bodies import dispute_body, dispute_event_body
from api.http.deps import DisputeWrite, Read, ReadKnownAt, new_dispute, new_dispute_event
from api.http.dispute_schemas import DisputeEventOut, DisputeOut, DisputePageOut
from api.http.errors import Forbidden
from api.http.schemas import problems
from ledger.commands import OFFICE_RE
from ledger.dispute_commands import OpenDispute, Withdraw
from projections.queries import MAX_PAGE

router = APIRouter(prefix="/v1/disputes", tags=["disputes"])

DisputeIdParam = Annotated[
    UUID,
    Path(
        description="The dispute's id, as returned when it was opened.",
        examples=["0b5e6c1e-2f4a-4d8e-9c3b-7a1f2e3d4c5b"],
    ),
]


@router.post(
    "",
    status_code=201,
    response_model=DisputeOut,
    summary="Open a dispute about an account or an office over a window of valid time",
    openapi_extra=dispute_body(),
    responses={
        201: {"description": "The dispute, open."},
        **problems(400, 401, 403, 404, 409, 413, 415, 422, 503),
    },
)
def open_dispute(write: Annotated[DisputeWrite, Depends(new_dispute)]) -> Response:
    assert isinstance(write.command, OpenDispute)
    record = write.ledger.open_dispute(
        write.command, actor=write.principal.name, idempotency_key=write.idempotency_key
    )
    view = write.queries.disputes.dispute(record.account_id)
    return DisputeOut.model_validate(view).response(
        201, {"Location": f"/v1/disputes/{record.account_id}", "ETag": f'"{record.version}"'}
    )


@router.post(
    "/{dispute_id}/events",
    status_code=201,
    response_model=DisputeEventOut,
    summary="Add evidence to a dispute, withdraw it, or resolve it (with its corrections)",
    openapi_extra=dispute_event_body(),
    responses={
        201: {"description": "The event's record, and the corrections' records."},
        **problems(400, 401, 403, 404, 409, 412, 413, 415, 422, 503),
    },
)
def append_dispute_event(
    dispute_id: DisputeIdParam, write: Annotated[DisputeWrite, Depends(new_dispute_event)]
) -> Response:
    if isinstance(write.command, Withdraw) and write.principal.role != "admin":
        opened_by = write.queries.disputes.dispute(dispute_id).opened_by
        if opened_by != write.principal.name:
            raise Forbidden(
                f"Dispute {dispute_id} was opened by {opened_by!r}; only it (or an admin) "
                "withdraws it."
            )
    assert not isinstance(write.command, OpenDispute)
    record, corrections = write.ledger.append_dispute(
        dispute_id,
        write.command,
        actor=write.principal.name,
        expected_version=write.expected_version,
        idempotency_key=write.idempotency_key,
    )
    body = DisputeEventOut.model_validate({"event": record, "corrections": corrections})
    return body.response(201, {"ETag": f'"{record.version}"'})


@router.get(
    "",
    response_model=DisputePageOut,
    summary="List disputes (as known now), oldest opened first",
    responses=problems(401, 403, 422, 503),
)
def list_disputes(
    read: Read,
    status: Annotated[
        Literal["open", "withdrawn", "resolved"] | None,
        Query(description="Only disputes with this status now.", examples=["open"]),
    ] = None,
    account_id: Annotated[
        UUID | None,
        Query(
            description="Only disputes about this account.",
            examples=["3b6d7be1-b2fa-4ac0-94e3-21774eebbea7"],
        ),
    ] = None,
    office: Annotated[
        str | None,
        Query(
            pattern=OFFICE_RE.pattern,
            description="Only disputes about this office.",
            examples=["us-president"],
        ),
    ] = None,
    after: Annotated[
        str | None,
        Query(
            description="`next_cursor` of the previous page; leave out for the first page.",
            examples=["1485507600000000/0b5e6c1e-2f4a-4d8e-9c3b-7a1f2e3d4c5b"],
        ),
    ] = None,
    limit: Annotated[
        int,
        Query(
            ge=1, le=MAX_PAGE, description=f"At most this many (1 to {MAX_PAGE}).", examples=[50]
        ),
    ] = 50,
) -> Response:
    page = read.queries.disputes.disputes(
        status=status, account_id=account_id, office=office, after=after, limit=limit
    )
    return DisputePageOut.model_validate(page).response()


@router.get(
    "/{dispute_id}",
    response_model=DisputeOut,
    summary="A dispute, its status and events, as known at a record time",
    responses=problems(401, 403, 404, 422, 503),
)
def get_dispute(dispute_id: DisputeIdParam, read: ReadKnownAt) -> Response:
    view = read.queries.disputes.dispute(dispute_id, read.known_at)
    return DisputeOut.model_validate(view).response(headers={"ETag": f'"{view.version}"'})

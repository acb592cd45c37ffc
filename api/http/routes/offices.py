"""Offices: register one, record who holds it, and what oversight asks of it at a time."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Response

from api.http.bodies import office_body, office_event_body
from api.http.deps import NewEvent, Read, ReadAt, ReadKnownAt, new_office, new_office_event
from api.http.office_schemas import HandoversOut, OfficeOut, OfficesOut, TenuresOut
from api.http.schemas import EventRecordOut, problems
from ledger.commands import JURISDICTION_RE, OFFICE_RE, RegisterOffice

router = APIRouter(prefix="/v1/offices", tags=["offices"])

READ_ERRORS = problems(401, 403, 404, 422, 503)
OfficeParam = Annotated[
    str,
    Path(
        pattern=OFFICE_RE.pattern,
        description="The office's key, as registered (or as accounts name it).",
        examples=["pk-dg-ispr"],
    ),
]


@router.post(
    "",
    status_code=201,
    response_model=EventRecordOut,
    summary="Register an office",
    openapi_extra=office_body(),
    responses={
        201: {"description": "The registration's event record."},
        **problems(400, 401, 403, 409, 413, 415, 422, 503),
    },
)
def register_office(write: Annotated[NewEvent, Depends(new_office)]) -> Response:
    assert isinstance(write.command, RegisterOffice)
    record = write.ledger.register_office(
        write.command,
        actor=write.principal.name,
        idempotency_key=write.idempotency_key,
        offices=write.offices,
    )
    return EventRecordOut.model_validate(record).response(
        201, {"Location": f"/v1/offices/{record.office}", "ETag": f'"{record.version}"'}
    )


@router.post(
    "/{office}/events",
    status_code=201,
    response_model=EventRecordOut,
    summary="Record a holder taking office or leaving it, or retract an office event",
    openapi_extra=office_event_body(),
    responses={
        201: {"description": "The event record."},
        **problems(400, 401, 403, 404, 409, 412, 413, 415, 422, 503),
    },
)
def append_office_event(
    office: OfficeParam, write: Annotated[NewEvent, Depends(new_office_event)]
) -> Response:
    record = write.ledger.append_office(
        office,
        write.command,  # type: ignore[arg-type]  # parsed as an office event
        actor=write.principal.name,
        expected_version=write.expected_version,
        idempotency_key=write.idempotency_key,
        offices=write.offices,
    )
    return EventRecordOut.model_validate(record).response(201, {"ETag": f'"{record.version}"'})


@router.get(
    "",
    response_model=OfficesOut,
    summary="The registered offices at a time (of one jurisdiction)",
    responses=problems(401, 403, 422, 503),
)
def list_offices(
    read: ReadAt,
    jurisdiction: Annotated[
        str | None,
        Query(
            pattern=JURISDICTION_RE.pattern,
            description="Only offices of this ISO 3166 country (its subdivisions too) or subdivision.",
            examples=["PK"],
        ),
    ] = None,
) -> OfficesOut:
    found = read.queries.offices.offices(jurisdiction, read.at, read.known_at)
    return OfficesOut.model_validate({"offices": found})


@router.get(
    "/{office}",
    response_model=OfficeOut,
    summary="The office at a time: holder, accounts speaking for it, findings in effect",
    responses=READ_ERRORS,
)
def get_office(office: OfficeParam, read: ReadAt) -> Response:
    view = read.queries.offices.office_at(office, read.at, read.known_at)
    return OfficeOut.model_validate(view).response()


@router.get(
    "/{office}/events",
    response_model=list[EventRecordOut],
    summary="The office stream's event records, oldest first",
    responses=READ_ERRORS,
)
def office_events(office: OfficeParam, read: Read) -> list[EventRecordOut]:
    return [EventRecordOut.model_validate(e) for e in read.queries.office_events(office)]


@router.get(
    "/{office}/tenures",
    response_model=TenuresOut,
    summary="Each holder's tenure with the accounts that spoke for the office meanwhile",
    responses=READ_ERRORS,
)
def tenures(office: OfficeParam, read: ReadKnownAt) -> TenuresOut:
    return TenuresOut.model_validate(read.queries.offices.tenures(office, read.known_at))


@router.get(
    "/{office}/handovers",
    response_model=HandoversOut,
    summary="At each change of holder: the accounts and audience retained and departed",
    responses=READ_ERRORS,
)
def handovers(office: OfficeParam, read: ReadKnownAt) -> HandoversOut:
    return HandoversOut.model_validate(read.queries.offices.handovers(office, read.known_at))

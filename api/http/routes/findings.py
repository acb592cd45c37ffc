"""Findings: what the record shows about offices and their accounts, derived, never recorded."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query, Response

from api.http.deps import ReadAt
from api.http.office_schemas import FindingsPageOut
from api.http.schemas import problems
from ledger.commands import JURISDICTION_RE, OFFICE_RE
from ledger.oversight import KINDS
from projections.queries import MAX_PAGE

router = APIRouter(prefix="/v1/findings", tags=["findings"])


@router.get(
    "",
    response_model=FindingsPageOut,
    summary="The findings about offices (in effect at `at`, if given), a page at a time",
    responses=problems(401, 403, 422, 503),
)
def findings(
    read: ReadAt,
    jurisdiction: Annotated[
        str | None,
        Query(
            pattern=JURISDICTION_RE.pattern,
            description="Only offices of this ISO 3166 country (its subdivisions too) or subdivision.",
            examples=["PK"],
        ),
    ] = None,
    office: Annotated[
        str | None,
        Query(pattern=OFFICE_RE.pattern, description="Only this office.", examples=["pk-dg-ispr"]),
    ] = None,
    kind: Annotated[
        Literal[KINDS] | None,  # type: ignore[valid-type]
        Query(description="Only findings of this kind.", examples=["audience-departed"]),
    ] = None,
    after: Annotated[
        str | None,
        Query(
            max_length=200,
            description="`next_after` of the previous page; leave out for the first.",
            examples=[
                "pk-dg-ispr/1479945600000000/audience-departed/5f0c9d1e2b3a4c5d6e7f8091a2b3c4d5"
            ],
        ),
    ] = None,
    limit: Annotated[
        int, Query(ge=1, le=MAX_PAGE, description="The most findings on a page.", examples=[50])
    ] = 50,
) -> Response:
    page = read.queries.offices.findings(
        jurisdiction=jurisdiction,
        office=office,
        kind=kind,
        at=read.at,
        known_at=read.known_at,
        after=after,
        limit=limit,
    )
    return FindingsPageOut.model_validate(page).response()

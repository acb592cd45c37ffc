"""Holders: every account a person held, and when."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path

from api.http.deps import ReadKnownAt
from api.http.schemas import HolderCustodyOut, problems
from ledger.commands import HOLDER_ID_RE

router = APIRouter(prefix="/v1/holders", tags=["holders"])


@router.get(
    "/{holder_id}/custody",
    response_model=HolderCustodyOut,
    summary="Every account the holder held, and when, as known at a time",
    responses=problems(401, 403, 404, 422, 503),
)
def holder_custody(
    holder_id: Annotated[
        str,
        Path(
            pattern=HOLDER_ID_RE.pattern,
            description="The holder's id, as in `holder.id` of an account.",
            examples=["barack-obama"],
        ),
    ],
    read: ReadKnownAt,
) -> HolderCustodyOut:
    return HolderCustodyOut.model_validate(read.queries.holder_custody(holder_id, read.known_at))

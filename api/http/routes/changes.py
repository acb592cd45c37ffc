"""How an answer changed: for a window of valid time, each record time at which the answer
about an account's custody, a handle's carriers or an office's tenures changed, and the events
that changed it."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import orjson
from fastapi import APIRouter, Query, Response

from api.http import plain
from api.http.change_schemas import CustodyChangesOut, HandleChangesOut, TenureChangesOut
from api.http.deps import Read
from api.http.routes.accounts import AccountIdParam
from api.http.routes.handles import HandleParam, PlatformKey
from api.http.routes.offices import OfficeParam
from api.http.schemas import problems
from ledger.commands import require_utc

router = APIRouter(prefix="/v1", tags=["changes"])

READ_ERRORS = problems(401, 403, 404, 422, 503)
FromParam = Annotated[
    str,
    Query(
        alias="from",
        description="Valid time the window begins, inclusive (RFC 3339 with an offset).",
        examples=["2021-06-01T00:00:00Z"],
        json_schema_extra={"format": "date-time"},
    ),
]
ToParam = Annotated[
    str,
    Query(
        description="Valid time the window ends, exclusive (RFC 3339 with an offset); after "
        "`from`.",
        examples=["2021-07-01T00:00:00Z"],
        json_schema_extra={"format": "date-time"},
    ),
]


@router.get(
    "/accounts/{account_id}/custody/changes",
    response_model=CustodyChangesOut,
    summary="How the account's holders in a window of valid time changed, record time by "
    "record time",
    responses=READ_ERRORS,
)
def custody_changes(
    account_id: AccountIdParam, read: Read, from_: FromParam, to: ToParam
) -> Response:
    answer = read.queries.custody_changes(account_id, *window_of(from_, to))
    # Fifty versions of a busy window hold thousands of intervals: their values are built
    # directly (`plain`, held to CustodyChangesOut by the tests), not validated one by one.
    return Response(orjson.dumps(plain.custody_changes(answer)), media_type="application/json")


@router.get(
    "/handles/{platform}/{handle}/changes",
    response_model=HandleChangesOut,
    summary="How the accounts carrying the handle in a window of valid time changed, record "
    "time by record time",
    responses=READ_ERRORS,
)
def handle_changes(
    platform: PlatformKey, handle: HandleParam, read: Read, from_: FromParam, to: ToParam
) -> Response:
    answer = read.queries.handle_changes(platform, handle, *window_of(from_, to))
    return HandleChangesOut.model_validate(answer).response()


@router.get(
    "/offices/{office}/tenures/changes",
    response_model=TenureChangesOut,
    summary="How the office's tenures in a window of valid time changed, record time by record "
    "time",
    responses=READ_ERRORS,
)
def tenure_changes(office: OfficeParam, read: Read, from_: FromParam, to: ToParam) -> Response:
    answer = read.queries.tenure_changes(office, *window_of(from_, to))
    return TenureChangesOut.model_validate(answer).response()


def window_of(from_: str, to: str) -> tuple[datetime, datetime]:
    """The window's ends, parsed as every query time is (422 naming the parameter); the query
    service checks that `to` comes after `from`."""
    return require_utc(from_, "from"), require_utc(to, "to")

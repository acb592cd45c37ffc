"""The verifiable log: the signed checkpoint and tiles as C2SP tlog-tiles clients read them,
JSON proofs for clients that do not speak tiles, and offline receipts."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Response

from api.http.deps import LogRead
from api.http.routes.events import MAX_POSITION
from api.http.schemas import ConsistencyProofOut, InclusionProofOut, problems
from ledger.errors import InvalidInput
from ledger.tlog.tiles import TilePathError, parse_tile_path

router = APIRouter(tags=["log"])

TEXT = "text/plain; charset=utf-8"
IMMUTABLE = "public, max-age=31536000, immutable"  # a full tile never changes
SHORT = "public, max-age=1"  # a partial tile or a checkpoint is replaced as the log grows
MAX_SIZE = 2**52


class BadTilePath(InvalidInput):
    code = "bad-tile-path"


def _text(body: str, cache: str, headers: dict[str, str] | None = None) -> Response:
    return Response(body, media_type=TEXT, headers={"Cache-Control": cache, **(headers or {})})


@router.get(
    "/log/checkpoint",
    summary="The latest published checkpoint (C2SP tlog-checkpoint), with cosignatures",
    response_class=Response,
    responses={200: {"content": {TEXT: {}}}, **problems(401, 403, 404, 503)},
)
def checkpoint(log: LogRead) -> Response:
    return _text(log.checkpoint().cosigned_note, "no-cache")


@router.get(
    "/log/tile/{path:path}",
    summary="A C2SP tlog-tiles hash tile (`<L>/<N>[.p/<W>]`) or entry bundle "
    "(`entries/<N>[.p/<W>]`)",
    response_class=Response,
    responses={
        200: {"content": {"application/octet-stream": {}}},
        **problems(401, 403, 404, 422, 503),
    },
)
def tile(
    log: LogRead,
    path: Annotated[
        str,
        Path(
            description="The tile path: `<L>/<N>[.p/<W>]` or `entries/<N>[.p/<W>]`.",
            examples=["0/000.p/74"],
        ),
    ],
) -> Response:
    try:
        ref = parse_tile_path(path)
    except TilePathError as e:
        raise BadTilePath(str(e)) from None
    return Response(
        log.tile(ref),
        media_type="application/octet-stream",
        headers={"Cache-Control": IMMUTABLE if ref.width is None else SHORT},
    )


@router.get(
    "/v1/log/proofs/inclusion",
    response_model=InclusionProofOut,
    summary="An inclusion proof of one entry in a tree size (RFC 6962)",
    responses=problems(401, 403, 404, 422, 503),
)
def inclusion(
    log: LogRead,
    index: Annotated[int, Query(ge=0, lt=MAX_SIZE, description="The leaf index.", examples=[5])],
    tree_size: Annotated[
        int | None,
        Query(
            ge=1,
            le=MAX_SIZE,
            description="The tree size; the current one if omitted.",
            examples=[74],
        ),
    ] = None,
) -> InclusionProofOut:
    return InclusionProofOut.model_validate(log.inclusion(index, tree_size))


@router.get(
    "/v1/log/proofs/consistency",
    response_model=ConsistencyProofOut,
    summary="A consistency proof between two tree sizes (RFC 6962)",
    responses=problems(401, 403, 404, 422, 503),
)
def consistency(
    log: LogRead,
    first: Annotated[
        int, Query(alias="from", ge=0, le=MAX_SIZE, description="The smaller size.", examples=[10])
    ],
    second: Annotated[
        int | None,
        Query(
            alias="to",
            ge=0,
            le=MAX_SIZE,
            description="The larger size; the current one if omitted.",
            examples=[74],
        ),
    ] = None,
) -> ConsistencyProofOut:
    return ConsistencyProofOut.model_validate(log.consistency(first, second))


@router.get(
    "/v1/events/{position}/receipt",
    summary="An offline receipt (C2SP tlog-proof@v1) of the event at a log position",
    response_class=Response,
    responses={200: {"content": {TEXT: {}}}, **problems(401, 403, 404, 422, 503)},
)
def receipt(
    log: LogRead,
    position: Annotated[
        int, Path(ge=1, le=MAX_POSITION, description="The event's log position.", examples=[2])
    ],
) -> Response:
    found = log.receipt(position)
    return _text(
        str(found),
        "no-cache",
        {"Content-Disposition": f'attachment; filename="event-{position}.tlog-proof"'},
    )

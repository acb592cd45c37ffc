"""Dossiers: a dispute's, or an account's over a window, as verifiable JSON, W3C PROV-JSON or a
printable page, chosen by `Accept` or `?format=`."""

from __future__ import annotations

from typing import Annotated, Literal
from uuid import UUID

import orjson
from fastapi import APIRouter, Path, Query, Request, Response

from api.dossier.html import to_html
from api.dossier.prov import prov_json
from api.http.deps import Dossiers
from api.http.dossier_schemas import DossierOut, dossier_body
from api.http.errors import NotAcceptable
from api.http.routes.changes import FromParam, ToParam, window_of
from api.http.schemas import problems
from projections.dossier import Dossier, OfficeDossier

router = APIRouter(tags=["disputes"])

Format = Literal["json", "prov", "html"]
FORMATS: dict[Format, str] = {
    "json": "application/json",
    "prov": "application/prov+json",
    "html": "text/html",
}
FormatParam = Annotated[
    Format | None,
    Query(
        description="json (verifiable: `custody verify`), prov (W3C PROV-JSON) or html (a "
        "printable page); overrides `Accept`.",
        examples=["html"],
    ),
]
RESPONSES = {
    200: {
        "description": "The dossier, in the format asked for.",
        "content": {
            "application/prov+json": {"schema": {"type": "object"}},
            "text/html": {"schema": {"type": "string"}},
        },
    },
    **problems(401, 403, 404, 406, 422, 503),
}


@router.get(
    "/v1/disputes/{dispute_id}/dossier",
    response_model=DossierOut,
    summary="A dispute's dossier: its subject over its window, as known then and now",
    responses=RESPONSES,
)
def dispute_dossier(
    dispute_id: Annotated[
        UUID,
        Path(description="The dispute's id.", examples=["0b5e6c1e-2f4a-4d8e-9c3b-7a1f2e3d4c5b"]),
    ],
    request: Request,
    dossiers: Dossiers,
    format: FormatParam = None,
) -> Response:
    chosen = _format(format, request.headers.get("accept"))
    return _rendered(dossiers.for_dispute(dispute_id), chosen)


@router.get(
    "/v1/accounts/{account_id}/dossier",
    response_model=DossierOut,
    summary="An account's dossier over a window of valid time",
    responses=RESPONSES,
)
def account_dossier(
    account_id: Annotated[
        UUID,
        Path(description="The account's id.", examples=["540ac008-9006-47b7-99b2-87d9305174d5"]),
    ],
    request: Request,
    dossiers: Dossiers,
    from_: FromParam,
    to: ToParam,
    format: FormatParam = None,
) -> Response:
    chosen = _format(format, request.headers.get("accept"))
    return _rendered(dossiers.for_account(account_id, *window_of(from_, to)), chosen)


def _format(asked: Format | None, accept: str | None) -> Format:
    """`?format=` if given, else the first of `Accept`'s media types we serve (JSON for
    none, or for a wildcard); 406 when it names only others."""
    if asked is not None:
        return asked
    if not accept:
        return "json"
    for part in accept.split(","):
        media, *parameters = (p.strip().lower() for p in part.split(";"))
        if any(p.replace(" ", "") in ("q=0", "q=0.0", "q=0.00", "q=0.000") for p in parameters):
            continue  # "not acceptable" (RFC 9110 12.4.2)
        if media in ("*/*", "application/*", "application/json"):
            return "json"
        for name, served in FORMATS.items():
            if media == served or (media == "text/*" and name == "html"):
                return name
    raise NotAcceptable(
        f"A dossier is served as {', '.join(FORMATS.values())}; Accept asks for {accept[:80]!r} "
        "(or pass ?format=json|prov|html)."
    )


def _rendered(dossier: Dossier | OfficeDossier, chosen: Format) -> Response:
    body = dossier_body(dossier)
    if chosen == "json":
        return Response(orjson.dumps(body), media_type="application/json")
    if chosen == "prov":
        return Response(prov_json(body), media_type=FORMATS["prov"])
    return Response(to_html(body), media_type="text/html; charset=utf-8")

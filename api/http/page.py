"""The custody timeline page: one static file, no build step, no third-party assets."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import FileResponse

PAGE = Path(__file__).with_name("static") / "index.html"

router = APIRouter(tags=["page"])


@router.api_route("/", methods=["GET", "HEAD"], include_in_schema=False)
def timeline_page() -> FileResponse:
    return FileResponse(PAGE, media_type="text/html; charset=utf-8")

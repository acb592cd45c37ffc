"""Every error the API returns, as RFC 9457 problem+json, decided here and nowhere else.

Routes and dependencies raise (ledger errors, or the few HTTP-only problems below); the
handlers registered by `install` turn them into responses. `BodyLimit` refuses oversized bodies.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ledger.commands import field_errors
from ledger.errors import (
    Conflict,
    IdempotencyKeyReused,
    InvalidInput,
    LedgerError,
    NotFound,
    OfficeNotAllowed,
    RuleViolation,
    StaleVersion,
    StoreUnavailable,
    UnreadableEvent,
    WouldInvalidateLaterEvents,
)

log = logging.getLogger(__name__)

PROBLEM_BASE = "https://custody-ledger.example/problems/"
PROBLEM_JSON = "application/problem+json"
RETRY_AFTER = {"Retry-After": "1"}

# Most specific first: the first class in an error's MRO that is listed decides the status.
STATUS: dict[type[LedgerError], int] = {
    StaleVersion: 412,
    IdempotencyKeyReused: 422,
    InvalidInput: 422,
    RuleViolation: 422,
    NotFound: 404,
    OfficeNotAllowed: 403,
    Conflict: 409,
    StoreUnavailable: 503,
    UnreadableEvent: 503,
}


class ApiProblem(Exception):
    """A refusal that belongs to HTTP itself (auth, body framing), not to the ledger."""

    status = 400
    code = "bad-request"
    headers: dict[str, str] | None = None

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


class Unauthorized(ApiProblem):
    status = 401
    code = "unauthorized"
    headers = {"WWW-Authenticate": "Bearer"}


class Forbidden(ApiProblem):
    status = 403
    code = "forbidden"


class MalformedJson(ApiProblem):
    status = 400
    code = "malformed-json"


class UnsupportedMediaType(ApiProblem):
    status = 415
    code = "unsupported-media-type"


class ClientGone(ApiProblem):
    """The client closed the connection mid-body: nobody reads this answer, nothing is logged."""

    status = 400
    code = "client-disconnected"


class NotAcceptable(ApiProblem):
    status = 406
    code = "not-acceptable"


class BodyTooLarge(ApiProblem):
    status = 413
    code = "body-too-large"


def utc_text(when: datetime) -> str:
    """A UTC time in a message as the API writes times everywhere else: 2017-01-20T17:00:00Z."""
    return when.isoformat().replace("+00:00", "Z")


class NotInEffect(ApiProblem):
    """The thing exists in the ledger, but not at the asked time as known at the asked time."""

    status = 404

    def __init__(self, code: str, detail: str) -> None:
        super().__init__(detail)
        self.code = code


def title_of(code: str) -> str:
    return code.replace("-", " ").capitalize()


def problem(
    status: int,
    code: str,
    detail: str,
    *,
    headers: Mapping[str, str] | None = None,
    **extra: Any,
) -> JSONResponse:
    body = {
        "type": PROBLEM_BASE + code,
        "title": title_of(code),
        "status": status,
        "detail": detail,
        **{k: v for k, v in extra.items() if v is not None},
    }
    return JSONResponse(
        body, status_code=status, headers=dict(headers or {}), media_type=PROBLEM_JSON
    )


def _status_of(exc: LedgerError) -> int:
    for cls in type(exc).__mro__:
        if cls in STATUS:
            return STATUS[cls]
    return 422


def _extras(exc: LedgerError) -> dict[str, Any]:
    if isinstance(exc, InvalidInput) and exc.errors:
        return {
            "errors": [
                {
                    "loc": [p if isinstance(p, int) else str(p) for p in loc],
                    "msg": msg,
                    "type": exc.code,
                }
                for loc, msg in exc.errors
            ]
        }
    if isinstance(exc, StaleVersion):
        return {"expected_version": exc.expected, "current_version": exc.actual}
    if isinstance(exc, WouldInvalidateLaterEvents):
        return {"versions": list(exc.versions)}
    return {}


async def on_ledger_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, LedgerError)
    status = _status_of(exc)
    headers = RETRY_AFTER if status == 503 else None
    if status == 503:
        log.warning("store unavailable: %s", exc.detail)
    return problem(status, exc.code, exc.detail, headers=headers, **_extras(exc))


async def on_api_problem(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ApiProblem)
    return problem(exc.status, exc.code, exc.detail, headers=exc.headers)


async def on_request_validation(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = list(exc.errors())
    if any(e.get("type") == "json_invalid" for e in errors):
        return problem(400, MalformedJson.code, "The request body is not valid JSON.")
    fields = [
        {"loc": [p if isinstance(p, int) else str(p) for p in loc], "msg": message,
         "type": str(e.get("type", "invalid"))}
        for (loc, message), e in zip(field_errors(errors), errors, strict=True)
    ]  # fmt: skip
    detail = "; ".join(f"{'.'.join(map(str, f['loc']))}: {f['msg']}" for f in fields)
    return problem(422, InvalidInput.code, detail or "invalid request", errors=fields)


async def on_http_exception(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    code = {404: "no-such-route", 405: "method-not-allowed"}.get(exc.status_code, "http-error")
    return problem(exc.status_code, code, str(exc.detail), headers=exc.headers)


async def on_unexpected(request: Request, exc: Exception) -> JSONResponse:
    log.exception("unhandled error on %s %s", request.method, request.url.path)
    return problem(500, "internal-error", "The server failed unexpectedly; nothing was recorded.")


def install(app: FastAPI, *, max_body_bytes: int) -> None:
    """Register every handler, and the body-size limit, on the app."""
    app.add_exception_handler(LedgerError, on_ledger_error)
    app.add_exception_handler(ApiProblem, on_api_problem)
    app.add_exception_handler(RequestValidationError, on_request_validation)
    app.add_exception_handler(StarletteHTTPException, on_http_exception)
    app.add_exception_handler(Exception, on_unexpected)
    app.add_middleware(BodyLimit, max_bytes=max_body_bytes)


class BodyLimit:
    """Refuse a body over `max_bytes`: by its Content-Length up front, or while it streams."""

    def __init__(self, app: ASGIApp, *, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None:
            refusal = self._check_declared(declared)
            if refusal is not None:
                await refusal(scope, receive, send)
                return
        seen = 0

        async def limited() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_bytes:
                    raise BodyTooLarge(self._too_large())
            return message

        await self.app(scope, limited, send)

    def _check_declared(self, declared: bytes) -> JSONResponse | None:
        try:
            length = int(declared)
        except ValueError:
            return problem(400, "bad-content-length", "Content-Length is not a number.")
        if length > self.max_bytes:
            return problem(413, BodyTooLarge.code, self._too_large())
        return None

    def _too_large(self) -> str:
        return f"The request body is larger than the limit of {self.max_bytes} bytes."

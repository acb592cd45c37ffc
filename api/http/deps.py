"""What the routes depend on: the container, the caller, query times, bodies and write headers.

Authentication and authorisation happen here, in dependency order, before a body is read:
a request without a valid token is refused with 401 whatever its body holds. (One refusal
comes earlier, from the middleware: a body declared larger than the server accepts is 413
before anyone is asked who is sending it.)

Dependencies are `async def`: FastAPI would otherwise run each in the thread pool (a hop per
dependency per request). What touches the database (the token directory when its cache is
stale, the account's office for an office-limited recorder) is sent to a thread explicitly.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any, NoReturn

from fastapi import Depends, Header, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.requests import ClientDisconnect

from api.bootstrap import Container
from api.http import bodies
from api.http.errors import ClientGone, Forbidden, MalformedJson, Unauthorized, UnsupportedMediaType
from ledger.access import Principal
from ledger.application import CustodyLedger
from ledger.commands import Command, RegisterAccount, parse_json, require_utc, shown
from ledger.dispute_commands import DisputeCommand, OpenDispute, Resolve
from ledger.errors import InvalidInput
from ledger.guards import NO_OFFICE
from projections.dossier import DossierService
from projections.queries import QueryService
from projections.tlog.service import LogNotFound, LogService

WRITE_ROLES = ("recorder", "admin")
ADJUDICATOR = "adjudicator"
VERSION_RE = re.compile(r'(?:"([0-9]{1,18})"|([0-9]{1,18}))')


async def get_container(request: Request) -> Container:
    return request.app.state.container  # type: ignore[no-any-return]


ContainerDep = Annotated[Container, Depends(get_container)]


# -- who is calling ----------------------------------------------------------------------------

bearer = HTTPBearer(
    auto_error=False,
    description="A token from `custody token create`; its name is recorded as the actor.",
)


Credentials = Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]


async def _principal(
    container: Container, credentials: HTTPAuthorizationCredentials | None
) -> Principal | None:
    """The token's principal; None without a token; 401 for an unknown or revoked one.
    Checked on the event loop against the cached token directory; a thread reads the
    directory from the database when the cache is stale."""
    if credentials is None:
        return None
    access, secret = container.access, credentials.credentials
    cached, principal = access.authenticate_cached(secret)
    if not cached:
        principal = await run_in_threadpool(access.authenticate, secret)
    if principal is None:
        raise Unauthorized("The bearer token is unknown or has been revoked.")
    return principal


def _no_token() -> NoReturn:
    raise Unauthorized("This needs a token: send `Authorization: Bearer <token>`.")


async def _check_reader(
    container: Container, credentials: HTTPAuthorizationCredentials | None
) -> None:
    principal = await _principal(container, credentials)
    if principal is None:
        if container.settings.public_reads:
            return
        _no_token()
    if not principal.can_read():
        raise Forbidden(f"Token {principal.name!r} may not read.")


def _may_write(principal: Principal | None) -> Principal:
    if principal is None:
        _no_token()
    if principal.role not in WRITE_ROLES:
        raise Forbidden(
            f"Token {principal.name!r} has the {principal.role} role; recording needs "
            "the recorder or admin role."
        )
    return principal


def _require_office(principal: Principal, office: str, what: str) -> None:
    if not principal.can_record_for(office):
        allowed = ", ".join(principal.offices) or "none"
        raise Forbidden(
            f"Token {principal.name!r} may record only for the offices {allowed}; "
            f"{what} is office {office!r}."
        )


def _unrestricted(principal: Principal) -> bool:
    """Admins and recorders without an office list may record for any office."""
    return principal.role == "admin" or (principal.role == "recorder" and not principal.offices)


# -- writes ------------------------------------------------------------------------------------
# Each write route takes one flat dependency. FastAPI solves every node of a dependency tree on
# every request; for an append, a tree of eight (caller, writer, body, command, ledger,
# headers) cost more CPU than the ledger's own work. The order of the checks is the contract:
# the caller (401, 403) before the body is read (400, 415, 422), then the headers (422); the
# ledger then checks the event against the account (404, 412, 422, 409) and, for a recorder
# limited to offices, which offices' history it changes (403).

IfMatch = Annotated[
    str | None,
    Header(
        description='The stream version the client expects, e.g. `"3"`; a stale one is refused '
        "with 412.",
        examples=['"3"'],
    ),
]
IdempotencyKey = Annotated[
    str | None,
    Header(
        description="Retrying with the same key and body returns the original response; the "
        "same key with a different body is refused with 422.",
        examples=["3f2c9a1e-7d4b-4e0f-9c1a-2b5d8e6f0a13"],
    ),
]


@dataclass(frozen=True)
class NewAccount:
    """A registration request, checked: who registers what."""

    ledger: CustodyLedger
    principal: Principal
    command: RegisterAccount
    idempotency_key: str | None


@dataclass(frozen=True)
class NewEvent:
    """A custody-event request, checked: who records what, against which version."""

    ledger: CustodyLedger
    principal: Principal
    command: Command
    expected_version: int | None
    idempotency_key: str | None

    @property
    def offices(self) -> tuple[str, ...] | None:
        """The offices the caller may record for; None for any."""
        return None if _unrestricted(self.principal) else self.principal.offices


async def new_account(
    request: Request, credentials: Credentials, idempotency_key: IdempotencyKey = None
) -> NewAccount:
    """The registration in the body, if the caller may register for its office."""
    container: Container = request.app.state.container
    principal = _may_write(await _principal(container, credentials))
    command = bodies.registration(await _read_json(request))
    # A personal account that speaks for no office is no office's: only for any office.
    _require_office(principal, command.office or NO_OFFICE, "the new account")
    return NewAccount(container.ledger, principal, command, idempotency_key)


async def new_event(
    request: Request,
    credentials: Credentials,
    if_match: IfMatch = None,
    idempotency_key: IdempotencyKey = None,
) -> NewEvent:
    """The custody event in the body, from a caller who may record. Which offices' history
    the event may change is the ledger's to check, against the account as it is when the event
    is staged (`NewEvent.offices`). A caller without a valid token learns nothing else about
    its request."""
    container: Container = request.app.state.container
    principal = _may_write(await _principal(container, credentials))
    command = bodies.custody_event(await _read_json(request))
    return NewEvent(container.ledger, principal, command, _version(if_match), idempotency_key)


async def new_office(
    request: Request, credentials: Credentials, idempotency_key: IdempotencyKey = None
) -> NewEvent:
    """An office registration from a caller who may record (the ledger checks its offices)."""
    container: Container = request.app.state.container
    principal = _may_write(await _principal(container, credentials))
    command = bodies.office_registration(await _read_json(request))
    return NewEvent(container.ledger, principal, command, None, idempotency_key)


async def new_office_event(
    request: Request,
    credentials: Credentials,
    if_match: IfMatch = None,
    idempotency_key: IdempotencyKey = None,
) -> NewEvent:
    """An office event (a holder assigned or released, a retraction) from a caller who may
    record (the ledger checks its offices)."""
    container: Container = request.app.state.container
    principal = _may_write(await _principal(container, credentials))
    command = bodies.office_event(await _read_json(request))
    return NewEvent(container.ledger, principal, command, _version(if_match), idempotency_key)


@dataclass(frozen=True)
class DisputeWrite:
    """A dispute request, checked: who opens it or adds to it, against which version."""

    ledger: CustodyLedger
    queries: QueryService
    principal: Principal
    command: OpenDispute | DisputeCommand
    expected_version: int | None
    idempotency_key: str | None


async def new_dispute(
    request: Request, credentials: Credentials, idempotency_key: IdempotencyKey = None
) -> DisputeWrite:
    """A dispute to open, from any recorder (whatever its offices: the party contesting the
    record is often not the office that wrote it) or admin."""
    container: Container = request.app.state.container
    principal = _may_write(await _principal(container, credentials))
    command = bodies.dispute_opening(await _read_json(request))
    return DisputeWrite(
        container.ledger, container.queries, principal, command, None, idempotency_key
    )


async def new_dispute_event(
    request: Request,
    credentials: Credentials,
    if_match: IfMatch = None,
    idempotency_key: IdempotencyKey = None,
) -> DisputeWrite:
    """Evidence or a withdrawal from a recorder or admin; a resolution from an adjudicator
    (or admin)."""
    container: Container = request.app.state.container
    principal = await _principal(container, credentials)
    if principal is None:
        _no_token()
    if principal.role not in (*WRITE_ROLES, ADJUDICATOR):
        raise Forbidden(
            f"Token {principal.name!r} has the {principal.role} role; it may not write."
        )
    command = bodies.dispute_event(await _read_json(request))
    if isinstance(command, Resolve):
        if principal.role not in (ADJUDICATOR, "admin"):
            raise Forbidden(
                f"Token {principal.name!r} has the {principal.role} role; resolving a dispute "
                "needs the adjudicator role."
            )
    elif principal.role == ADJUDICATOR:
        raise Forbidden(
            f"Token {principal.name!r} is an adjudicator: it resolves disputes; evidence and "
            "withdrawals come from the parties (a recorder or admin)."
        )
    return DisputeWrite(
        container.ledger,
        container.queries,
        principal,
        command,
        _version(if_match),
        idempotency_key,
    )


async def _read_json(request: Request) -> Any:
    """The body parsed as JSON (400 if it is not); read only after the caller is known."""
    media = request.headers.get("content-type", "application/json").partition(";")[0]
    media = media.strip().lower()
    if media != "application/json" and not media.endswith("+json"):
        raise UnsupportedMediaType(
            f"The request body must be application/json, not {shown(media)}; send "
            "Content-Type: application/json."
        )
    encoding = request.headers.get("content-encoding", "identity").strip().lower()
    if encoding != "identity":
        raise UnsupportedMediaType(
            f"Content-Encoding {shown(encoding)} is not accepted; send the body uncompressed."
        )
    try:
        raw = await request.body()
    except ClientDisconnect:
        raise ClientGone("The client went away before sending the whole body.") from None
    try:
        return parse_json(raw)
    except ValueError as e:
        raise MalformedJson(
            f"The request body is not valid JSON ({e}); send one JSON object (Content-Type: "
            "application/json)."
        ) from None


def _version(if_match: str | None) -> int | None:
    if if_match is None:
        return None
    match = VERSION_RE.fullmatch(if_match.strip())
    if match is None:
        raise InvalidInput(
            f'If-Match must be one stream version, e.g. "3"; got {if_match[:40]!r}',
            field="If-Match",
        )
    return int(match.group(1) or match.group(2))


# -- reads ---------------------------------------------------------------------------------------
# Like the writes, each read route takes one flat dependency: the caller is checked (401, 403)
# before the query times are parsed (422). A tree of five (reader, queries, container, at,
# known_at) cost about 0.2 ms of CPU per request.

_TIME_EXAMPLE = "2017-01-20T17:00:00Z"
AtParam = Annotated[
    str | None,
    Query(
        description="Valid time (RFC 3339 with an offset); default now.",
        examples=[_TIME_EXAMPLE],
        json_schema_extra={"format": "date-time"},
    ),
]
KnownAtParam = Annotated[
    str | None,
    Query(
        description="Record time: answer as the ledger knew it then (RFC 3339 with an "
        "offset); default now.",
        examples=[_TIME_EXAMPLE],
        json_schema_extra={"format": "date-time"},
    ),
]


@dataclass(frozen=True)
class Reading:
    """A read request, checked: the query service, and the times it asks about (None: now)."""

    queries: QueryService
    at: datetime | None = None
    known_at: datetime | None = None


async def reading(request: Request, credentials: Credentials) -> Reading:
    """A read that takes no times."""
    return Reading(await _queries(request, credentials))


async def reading_known_at(
    request: Request, credentials: Credentials, known_at: KnownAtParam = None
) -> Reading:
    """A read as known at a record time."""
    queries = await _queries(request, credentials)
    return Reading(queries, known_at=_time(known_at, "known_at"))


async def reading_at(
    request: Request,
    credentials: Credentials,
    at: AtParam = None,
    known_at: KnownAtParam = None,
) -> Reading:
    """A read at a valid time, as known at a record time."""
    queries = await _queries(request, credentials)
    return Reading(queries, _time(at, "at"), _time(known_at, "known_at"))


async def _queries(
    request: Request, credentials: HTTPAuthorizationCredentials | None
) -> QueryService:
    """The query service, once the caller is known to be allowed to read (401, 403)."""
    container: Container = request.app.state.container
    await _check_reader(container, credentials)
    return container.queries


def _time(value: str | None, name: str) -> datetime | None:
    return None if value is None else require_utc(value, name)


async def dossier_service(request: Request, credentials: Credentials) -> DossierService:
    """Dossiers, once the caller is known to be allowed to read (401, 403)."""
    container: Container = request.app.state.container
    await _check_reader(container, credentials)
    return container.dossiers


Read = Annotated[Reading, Depends(reading)]
Dossiers = Annotated[DossierService, Depends(dossier_service)]
ReadKnownAt = Annotated[Reading, Depends(reading_known_at)]
ReadAt = Annotated[Reading, Depends(reading_at)]


async def log_reading(request: Request, credentials: Credentials) -> LogService:
    """The verifiable log's answers, once the caller may read (the rule of every read)."""
    container: Container = request.app.state.container
    await _check_reader(container, credentials)
    if container.log_service is None:
        raise LogNotFound("the verifiable log is turned off here (CUSTODY_LOG_ENABLED=false)")
    return container.log_service


LogRead = Annotated[LogService, Depends(log_reading)]


def log_service(container: ContainerDep) -> LogService | None:
    """The verifiable log's answers, if it is on (the caller's read is checked elsewhere)."""
    return container.log_service


LogServiceDep = Annotated[LogService | None, Depends(log_service)]
ProofParam = Annotated[
    bool,
    Query(
        description="Add the proof behind the answer: the latest published checkpoint and every "
        "entry of the account's stream in it with its inclusion proof (`custody verify` "
        "checks it offline).",
        examples=[True],
    ),
]

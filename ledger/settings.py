"""The one settings object: it reads the environment, nothing else does."""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlparse
from uuid import uuid4

from pydantic import Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from ledger.errors import InvalidInput

URL_FORMS = (
    "sqlite:///PATH (a file), sqlite:// (in memory) or "
    "postgresql://USER[:PASSWORD]@HOST[:PORT]/DATABASE[?schema=NAME]"
)
# The library names the schema unquoted in one lookup: a plain lower-case SQL name only.
SCHEMA_RE = re.compile(r"[a-z_][a-z0-9_]{0,62}")


class InvalidSettings(InvalidInput):
    """A setting (a CUSTODY_* variable or an override) is malformed; nothing was opened."""

    code = "invalid-settings"


@dataclass(frozen=True)
class StoreConfig:
    """Where the log lives: `kind` is 'sqlite' or 'postgres'."""

    kind: str
    env: dict[str, str]
    description: str


class Settings(BaseSettings):
    """Configuration, from `CUSTODY_*` environment variables or keyword arguments."""

    model_config = SettingsConfigDict(env_prefix="CUSTODY_", extra="ignore")

    database_url: str = "sqlite:///custody.db"
    public_reads: bool = False
    aggregate_cache_size: int = Field(default=10_000, ge=0)
    pool_size: int = Field(default=5, ge=1)
    # Bounds on every database call (docs: README, Configuration): opening a connection (and
    # waiting for one from the pool), a statement (PostgreSQL: on the server, and the client
    # stops waiting for an answer a second later), waiting for a lock.
    connect_timeout_seconds: int = Field(default=3, ge=1, le=3600)
    statement_timeout_seconds: float = Field(default=5.0, gt=0, le=86_400)
    lock_timeout_seconds: int = Field(default=5, ge=0)
    read_wait_seconds: float = Field(default=5.0, ge=0)
    # /health says "degraded" once the read models have stayed behind the log this long
    # without moving, or their worker has been failing this long.
    health_stall_seconds: float = Field(default=30.0, gt=0)
    embedded_projections: bool = True
    max_body_bytes: int = Field(default=1_000_000, ge=1024)
    # One event's fields, encoded; at most 64,000, so its log entry stays within 65,535 bytes.
    max_event_bytes: int = Field(default=64_000, ge=1024, le=64_000)
    # Findings: how far from a handover an audience observation still counts, and how long an
    # office's account may stay with someone other than the office's holder.
    audience_window_days: int = Field(default=30, ge=0, le=3650)
    holder_grace_days: int = Field(default=30, ge=0, le=3650)
    # The verifiable log (docs/adr/0005-verifiable-log.md): custody events become entries of
    # an RFC 6962 Merkle tree; with a signing key, checkpoints are signed (C2SP signed notes)
    # and given to the witnesses ("URL VKEY" each); a checkpoint counts as published once
    # `log_witness_quorum` of them have cosigned it.
    log_enabled: bool = True
    log_origin: str = Field(default="localhost/custody-ledger", pattern=r"^[^\s+]+$")
    log_key_file: Path = Path("custody-log.key")
    log_witnesses: list[str] = Field(default_factory=list)
    log_witness_quorum: int = Field(default=0, ge=0)
    # The Chromium that prints a dossier as PDF (`custody dossier --pdf`); None: look on PATH.
    chromium: str | None = None
    # Set by `custody serve --workers N` for its worker processes, which end with it.
    supervisor_pid: int | None = Field(default=None, ge=1)

    def __init__(self, **values: Any) -> None:
        try:
            super().__init__(**values)
        except ValidationError as e:
            raise InvalidSettings(_describe(e)) from None

    @field_validator("log_witnesses")
    @classmethod
    def _valid_witnesses(cls, value: list[str]) -> list[str]:
        for spec in value:
            url, _, vkey = spec.strip().partition(" ")
            if not url.startswith(("http://", "https://")) or not vkey.strip():
                raise ValueError(
                    "CUSTODY_LOG_WITNESSES is a JSON list of 'URL VKEY' strings (a witness's "
                    "http(s) submission URL, a space, its verifier key)"
                )
        return value

    @field_validator("database_url")
    @classmethod
    def _valid_url(cls, value: str) -> str:
        _check_url(value)
        return value

    def export_to_environment(self, **changes: object) -> None:
        """Write these settings, with `changes`, to the CUSTODY_* variables, so that processes
        started from this one (API worker processes) build the same configuration."""
        for name, value in {**self.model_dump(), **changes}.items():
            variable = f"CUSTODY_{name.upper()}"
            if value is None:  # unset: the setting's default, not the text "None"
                os.environ.pop(variable, None)
                continue
            if isinstance(value, bool):
                os.environ[variable] = str(value).lower()
            elif isinstance(value, list):  # read back as JSON
                os.environ[variable] = json.dumps(value)
            else:
                os.environ[variable] = str(value)

    def store(self) -> StoreConfig:
        """Translate the database URL into the eventsourcing library's environment."""
        url = self.database_url
        common = {
            "AGGREGATE_CACHE_MAXSIZE": str(self.aggregate_cache_size),
            "AGGREGATE_CACHE_FASTFORWARD": "n",
            "DEEPCOPY_FROM_AGGREGATE_CACHE": "y",
        }
        if url.startswith("sqlite://"):
            path = url.removeprefix("sqlite://").removeprefix("/")
            if path in ("", ":memory:"):
                # A private, shared-cache in-memory database: every pooled connection sees it.
                name = f"file:custody-{uuid4().hex}?mode=memory&cache=shared"
            else:
                name = str(Path(path))
            return StoreConfig(
                "sqlite",
                {
                    **common,
                    # eventsourcing's factory; readers never queue behind writers that
                    # wait for a lock (ledger/sqlitebounds.py).
                    "PERSISTENCE_MODULE": "ledger.sqlitebounds:LedgerSQLiteFactory",
                    "SQLITE_DBNAME": name,
                    "SQLITE_LOCK_TIMEOUT": str(max(self.lock_timeout_seconds, 1)),
                },
                f"sqlite:{name}",
            )
        parsed = urlparse(url)
        query = parse_qs(parsed.query)
        schema = query.get("schema", [""])[0]
        env = {
            **common,
            # eventsourcing's factory, with every call bounded (ledger/pgbounds.py).
            "PERSISTENCE_MODULE": "ledger.pgbounds:LedgerPostgresFactory",
            "POSTGRES_DBNAME": unquote(parsed.path.strip("/")),
            "POSTGRES_HOST": parsed.hostname or "localhost",
            "POSTGRES_PORT": str(parsed.port or 5432),
            "POSTGRES_USER": unquote(parsed.username or "postgres"),
            "POSTGRES_PASSWORD": unquote(parsed.password or ""),
            # Up to 2 x pool_size connections as before, but only one kept open when idle: the
            # pool hands idle connections out in turn (first in, first out), and cycling through
            # several server processes slows a sequential writer (docs/benchmarks.md).
            "POSTGRES_POOL_SIZE": "1",
            "POSTGRES_MAX_OVERFLOW": str(2 * self.pool_size - 1),
            "POSTGRES_CONNECT_TIMEOUT": str(self.connect_timeout_seconds),
            "POSTGRES_STATEMENT_TIMEOUT": str(self.statement_timeout_seconds),
            "POSTGRES_LOCK_TIMEOUT": str(self.lock_timeout_seconds),
            "POSTGRES_PRE_PING": "y",
            # One round trip per save, same ordering lock; it also makes the pre-ping free for
            # idle, healthy connections (see ledger/pgrecorder.py).
            "APPLICATION_RECORDER_TOPIC": "ledger.pgrecorder:LedgerPostgresRecorder",
        }
        if schema:
            env["POSTGRES_SCHEMA"] = schema
        where = f"postgresql://{parsed.hostname}:{parsed.port or 5432}/{parsed.path.strip('/')}"
        return StoreConfig("postgres", env, where + (f"?schema={schema}" if schema else ""))


def _check_url(url: str) -> None:
    """Raise ValueError, saying what is accepted, unless `url` names a store we can open.
    The URL itself is never repeated: it may hold a password."""
    scheme, sep, _ = url.partition("://")
    if not sep or scheme not in ("sqlite", "postgresql", "postgres"):
        got = f", not a {scheme}:// URL" if sep and scheme else ""
        raise ValueError(f"CUSTODY_DATABASE_URL must be {URL_FORMS}{got}")
    if scheme == "sqlite":
        return
    parsed = urlparse(url)
    try:
        valid_port = parsed.port != 0  # .port raises for a non-number or one above 65535
    except ValueError:
        valid_port = False
    if not valid_port:
        raise ValueError(
            f"CUSTODY_DATABASE_URL has a port that is not a number from 1 to 65535; "
            f"expected {URL_FORMS}"
        )
    if not parsed.path.strip("/"):
        raise ValueError(f"CUSTODY_DATABASE_URL names no database; expected {URL_FORMS}")
    schema = parse_qs(parsed.query).get("schema", [""])[0]
    if schema and not SCHEMA_RE.fullmatch(schema):
        raise ValueError(
            "the schema in CUSTODY_DATABASE_URL (?schema=NAME) must be a lower-case SQL name: "
            "letters a-z, digits and '_', not starting with a digit, at most 63 characters"
        )


def _describe(error: ValidationError) -> str:
    """One line per bad setting, named as its environment variable; values are not repeated."""
    lines = []
    for e in error.errors():
        if e["type"] == "value_error":  # our own validators' messages name the variable
            lines.append(str(e["ctx"]["error"]))
        else:
            name = "_".join(str(part) for part in e["loc"]).upper()
            lines.append(f"CUSTODY_{name}: {e['msg']}")
    return "; ".join(lines)

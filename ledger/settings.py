"""The one settings object: it reads the environment, nothing else does."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlparse
from uuid import uuid4

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from ledger.errors import InvalidInput


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
    lock_timeout_seconds: int = Field(default=5, ge=0)
    read_wait_seconds: float = Field(default=5.0, ge=0)
    embedded_projections: bool = True
    max_body_bytes: int = Field(default=1_000_000, ge=1024)

    @field_validator("database_url")
    @classmethod
    def _known_scheme(cls, value: str) -> str:
        if not value.startswith(("sqlite://", "postgresql://", "postgres://")):
            raise ValueError("CUSTODY_DATABASE_URL must start with sqlite:// or postgresql://")
        return value

    def export_to_environment(self, **changes: object) -> None:
        """Write these settings, with `changes`, to the CUSTODY_* variables, so that processes
        started from this one (API worker processes) build the same configuration."""
        for name, value in {**self.model_dump(), **changes}.items():
            text = str(value).lower() if isinstance(value, bool) else str(value)
            os.environ[f"CUSTODY_{name.upper()}"] = text

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
                    "PERSISTENCE_MODULE": "eventsourcing.sqlite",
                    "SQLITE_DBNAME": name,
                    "SQLITE_LOCK_TIMEOUT": str(max(self.lock_timeout_seconds, 1)),
                },
                f"sqlite:{name}",
            )
        parsed = urlparse(url)
        if not parsed.path.strip("/"):
            raise InvalidInput("CUSTODY_DATABASE_URL names no database, e.g. postgresql://u@h/db")
        query = parse_qs(parsed.query)
        schema = query.get("schema", [""])[0]
        env = {
            **common,
            "PERSISTENCE_MODULE": "eventsourcing.postgres",
            "POSTGRES_DBNAME": unquote(parsed.path.strip("/")),
            "POSTGRES_HOST": parsed.hostname or "localhost",
            "POSTGRES_PORT": str(parsed.port or 5432),
            "POSTGRES_USER": unquote(parsed.username or "postgres"),
            "POSTGRES_PASSWORD": unquote(parsed.password or ""),
            # Up to 2 x pool_size connections as before, but only one kept open when idle: the
            # pool hands idle connections out in turn (first in, first out), and cycling through
            # several server processes costs a sequential writer about 15% (bench/).
            "POSTGRES_POOL_SIZE": "1",
            "POSTGRES_MAX_OVERFLOW": str(2 * self.pool_size - 1),
            "POSTGRES_CONNECT_TIMEOUT": "2",
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

"""Fault fixtures: the real PostgreSQL server behind a proxy that can cut or black-hole it."""

from __future__ import annotations

from collections.abc import Iterator
from urllib.parse import urlsplit, urlunsplit

import pytest

from tests.faults.proxy import FaultProxy


@pytest.fixture
def proxied(pg_url: str) -> Iterator[tuple[str, FaultProxy]]:
    """A fresh schema's URL through a FaultProxy (forwarding), and the proxy."""
    parts = urlsplit(pg_url)
    proxy = FaultProxy((parts.hostname or "127.0.0.1", parts.port or 5432))
    auth = parts.netloc.rpartition("@")[0] or "postgres"
    try:
        yield urlunsplit(parts._replace(netloc=f"{auth}@127.0.0.1:{proxy.port}")), proxy
    finally:
        proxy.stop()

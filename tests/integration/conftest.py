"""Integration fixtures, on each store: a store holding a known history (`US_HISTORY`), a
container on a clock under the test's control, and one whose record time moves only when the
test moves it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from api.bootstrap import Container, build
from api.cli import EXIT_OK
from ledger.settings import Settings
from tests.support import US_HISTORY, FakeClock, HeldClock, cli


@pytest.fixture
def demo_url(store_url: str) -> str:
    """A store holding the US presidency history (restored from its file, record times kept)."""
    assert cli(store_url, "import", str(US_HISTORY), "--restore") == EXIT_OK
    return store_url


@pytest.fixture
def held(store_url: str) -> Iterator[Container]:
    """A container on a `HeldClock`: consecutive writes share a record time."""
    c = build(Settings(database_url=store_url), clock=HeldClock())
    yield c
    c.close()


@pytest.fixture
def container(store_url: str) -> Iterator[Container]:
    """A container on a `FakeClock` (each reading a millisecond on)."""
    c = build(Settings(database_url=store_url), clock=FakeClock())
    yield c
    c.close()

"""Integration fixtures: a store holding a known history (`US_HISTORY`), on each store."""

from __future__ import annotations

import pytest

from api.cli import EXIT_OK
from tests.support import US_HISTORY, cli


@pytest.fixture
def demo_url(store_url: str) -> str:
    """A store holding the US presidency history (restored from its file, record times kept)."""
    assert cli(store_url, "import", str(US_HISTORY), "--restore") == EXIT_OK
    return store_url

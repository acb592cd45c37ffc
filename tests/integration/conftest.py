"""Integration fixtures: a store holding the demo, on each store."""

from __future__ import annotations

import pytest

from api.cli import EXIT_OK
from api.demo import DEMO_FILE
from tests.support import cli


@pytest.fixture
def demo_url(store_url: str) -> str:
    """A store holding the demo (restored from its file, record times kept)."""
    assert cli(store_url, "import", str(DEMO_FILE), "--restore") == EXIT_OK
    return store_url

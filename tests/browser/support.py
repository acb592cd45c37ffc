"""What the browser tests share: where Chromium is (and whether it must be), how it starts,
and the demo served on a new SQLite file."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import ModuleType

import pytest

from api.bootstrap import Container, build, load_demo
from ledger.settings import Settings
from tests.support import serving

CHROMIUM = os.environ.get("CUSTODY_CHROMIUM", "/usr/bin/chromium")
REQUIRE = os.environ.get("CUSTODY_REQUIRE_BROWSER", "") not in ("", "0", "no", "false")
# A folder for the README's pictures (handle.png, phone.png, office.png):
# `CUSTODY_SCREENSHOTS=docs`.
SCREENSHOTS = os.environ.get("CUSTODY_SCREENSHOTS")

sync_api: ModuleType = (
    pytest.importorskip("playwright.sync_api")
    if not REQUIRE
    else __import__("playwright.sync_api", fromlist=["sync_playwright"])
)
if not shutil.which(CHROMIUM) and not Path(CHROMIUM).exists():
    if REQUIRE:
        raise RuntimeError(f"CUSTODY_REQUIRE_BROWSER is set but {CHROMIUM} is missing")
    pytest.skip(f"no Chromium at {CHROMIUM}", allow_module_level=True)

ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@contextmanager
def serve_demo(tmp_path: Path, *, public: bool) -> Iterator[tuple[str, Container]]:
    """The demo on a new SQLite file, served on a loopback port: its URL and container."""
    container = build(Settings(database_url=f"sqlite:///{tmp_path}/demo.db", public_reads=public))
    try:
        load_demo(container)
        with serving(container) as (host, port):
            yield f"http://{host}:{port}", container
    finally:
        container.close()

"""The one settings object: what it hands to processes it starts, and where it is documented."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from ledger.settings import Settings


def test_settings_pass_to_worker_processes_through_the_environment_unset_ones_unset(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name in Settings.model_fields:
        monkeypatch.delenv(f"CUSTODY_{name.upper()}", raising=False)  # restored after the test
    parent = Settings(database_url="sqlite:///x.db", max_event_bytes=4096)
    monkeypatch.setenv("CUSTODY_SUPERVISOR_PID", "1234")  # left over from an earlier start
    parent.export_to_environment(embedded_projections=False)
    child = Settings()  # what a worker process builds from the environment
    assert (child.database_url, child.max_event_bytes, child.embedded_projections) == (
        "sqlite:///x.db",
        4096,
        False,
    )
    assert child.supervisor_pid is None  # not the text "None", and not the stale 1234
    parent.export_to_environment(supervisor_pid=99)
    assert Settings().supervisor_pid == 99


def test_every_setting_is_documented_and_every_documented_one_exists() -> None:
    doc = (Path(__file__).parents[2] / "docs" / "configuration.md").read_text()
    documented = set(re.findall(r"^\| `(CUSTODY_\w+)` \|", doc, re.MULTILINE))
    names = {f"CUSTODY_{name.upper()}" for name in Settings.model_fields}
    assert documented == names - {"CUSTODY_SUPERVISOR_PID"}
    assert "CUSTODY_SUPERVISOR_PID" in doc  # said not to be set by hand

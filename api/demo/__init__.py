"""Demo data: the US presidency's X accounts across the 2017 and 2021 transitions, plus two
fictional offices showing a back-dated correction, a retraction, a vacancy and a closure."""

from __future__ import annotations

from pathlib import Path
from typing import Any

DEMO_FILE = Path(__file__).with_name("us_presidency.jsonl")


def load_demo(container: Any) -> str:
    """Load the demo into an empty store (keeping its record times); leave a non-empty one alone."""
    from api.transfer import import_file

    if container.ledger.head() != 0:
        return "store not empty; demo not loaded"
    report = import_file(container.ledger, DEMO_FILE, actor="demo", restore=True)
    container.projector.catch_up()
    return f"loaded {report.written} demo events for {len(report.accounts)} accounts"

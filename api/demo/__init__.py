"""Demo data: the US presidency's X accounts across the 2017 and 2021 transitions, plus two
fictional offices showing a back-dated correction, a retraction, a vacancy and a closure.
Shipped in the wheel as package data; `api.bootstrap.load_demo` loads it."""

from __future__ import annotations

from pathlib import Path

DEMO_FILE = Path(__file__).with_name("us_presidency.jsonl")

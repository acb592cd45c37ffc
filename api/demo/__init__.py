"""Demo data: the US presidency's X accounts across the 2017 and 2021 transitions and its
offices, two fictional offices showing a back-dated correction, a retraction, a vacancy and a
closure, and the seed's two Pakistan cases (DG ISPR, and the Chief Minister of Punjab later
Prime Minister) with personal accounts and audience observations. Shipped in the wheel as
package data; `api.bootstrap.load_demo` loads it."""

from __future__ import annotations

from pathlib import Path

DEMO_FILE = Path(__file__).with_name("demo.jsonl")

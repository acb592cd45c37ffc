"""Where an import's time goes: each phase of `custody import`'s path, per event.

Imports the same kind of file as bench_import.py (registrations, then handovers) several times
into one growing store (empty, or holding --preload events at the start) and times, per event:
reading the file (whole, here: the import itself reads it as it stages), staging every line
(the rules), the log's commit, and the read models' catch-up (their rows derived and written,
with tracking, in one transaction).

    python bench/bench_import_phases.py [--rounds 6] [--accounts 500] [--handovers 10]
                                        [--preload 0] [--database-url sqlite:///...]
"""

from __future__ import annotations

import argparse
import itertools
import statistics
import tempfile
import time
from pathlib import Path

from bench_import import write_history

from api.bootstrap import build
from ledger.backfill import ImportReport, read_lines, stage
from ledger.bulk import collector_paused
from ledger.settings import Settings

PHASES = ("read", "stage", "log commit", "read models", "total")


def one_import(url: str, path: Path) -> dict[str, float]:
    """Microseconds per event of each phase."""
    c = build(Settings(database_url=url))
    ledger, projector = c.ledger, c.projector
    try:
        t0 = time.perf_counter()
        with collector_paused():  # as import_file does
            parsed = read_lines(path)
            t1 = time.perf_counter()
            report = ImportReport()
            with ledger.batch(by_stream=True) as batch:  # an import's log order
                stage(ledger, batch, parsed, actor="bench", restore=False, report=report,
                      progress=lambda done, total: None)  # fmt: skip
                assert not report.errors, report.errors[:3]
                t2 = time.perf_counter()
            t3 = time.perf_counter()  # the batch is committed as its block ends
            c.catch_up_import()
            t4 = time.perf_counter()
        assert projector.lag() == 0
    finally:
        c.close()
    n = len(batch.records) / 1e6
    times = [t0, t1, t2, t3, t4]
    spans = [(b - a) / n for a, b in itertools.pairwise(times)]
    return dict(zip(PHASES, [*spans, (t4 - t0) / n], strict=True))


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--rounds", type=int, default=6)
    ap.add_argument("--accounts", type=int, default=500)
    ap.add_argument("--handovers", type=int, default=10)
    ap.add_argument("--database-url", help="default: a new SQLite file")
    ap.add_argument("--preload", type=int, default=0,
                    help="events imported first, untimed (the store's size at the start)")  # fmt: skip
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        url = args.database_url or f"sqlite:///{tmp}/phases.db"
        if args.preload:
            path = Path(tmp) / "preload.jsonl"
            write_history(path, -(-args.preload // (args.handovers + 1)), args.handovers, "pre_")
            one_import(url, path)
        rows = []
        for r in range(args.rounds):
            path = Path(tmp) / f"{r}.jsonl"
            write_history(path, args.accounts, args.handovers, f"p{r}_")
            phases = one_import(url, path)
            rows.append(phases)
            shown = "  ".join(f"{k} {v:,.0f}" for k, v in phases.items())
            print(f"round {r + 1}: {shown}")
    print("median µs per event: " + "  ".join(
        f"{k} {statistics.median(p[k] for p in rows):,.0f}" for k in PHASES
    ))  # fmt: skip


if __name__ == "__main__":
    main()

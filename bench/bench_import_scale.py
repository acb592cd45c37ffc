"""Import at scale (issue 22): does `custody import`'s rate per event hold from a small file to a
large one, with memory that does not grow with the file?

For each store (PostgreSQL in a fresh schema of the `test` database; SQLite in a temporary
file) and each size (10,000 and 1,000,000 events by default: accounts with --per-account events
each, registrations first, then each round of handovers across all the accounts, as
bench_import.py writes them), it writes the file line by line, then imports it into an empty
store in a child process of its own, along `custody import`'s path: every line checked, one
transaction, then the read models brought up to date. The child reports the time to the
commit (reading, checking, staging, writing the log) and to the read models' catch-up, and its
peak resident memory (VmHWM, which starts again at exec, unlike `ru_maxrss`, which a child
inherits from the process that started it), so each import's memory is its own.

    python bench/bench_import_scale.py                          # 10k and 1M, both stores
    python bench/bench_import_scale.py --sizes 10000,100000 --stores sqlite
    python bench/bench_import_scale.py --rounds 3               # medians of 3

Target (issue 22): the large file's events/s at least 1/1.5 of the small file's, on each store.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import psycopg
from bench_import import write_history
from psycopg.sql import SQL, Identifier

from api.bootstrap import build
from ledger.backfill import import_file
from ledger.settings import Settings

PG_DATABASE = "postgresql://postgres@127.0.0.1:5432/test"


def memory_mib(field: str) -> float:
    """This process's VmRSS (resident now) or VmHWM (its peak), from /proc; else its
    `ru_maxrss` (a peak, which may include its parent's)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def one(url: str, path: Path) -> dict[str, float]:
    """Import `path` into the (empty) store at `url`, as `custody import` does; in the child."""
    c = build(Settings(database_url=url))
    marks: dict[str, float] = {}

    def catch_up() -> object:
        marks["committed"] = time.perf_counter()
        marks["rss_committed"] = memory_mib("VmRSS")
        return c.catch_up_import()

    try:
        started = time.perf_counter()
        report = import_file(c.ledger, path, actor="import:bench", catch_up=catch_up)
        ended = time.perf_counter()
        assert report.behind is None and not report.errors and c.projector.lag() == 0
    finally:
        c.close()
    return {
        "events": report.written,
        "seconds": ended - started,
        "to_commit": marks["committed"] - started,
        "catch_up": ended - marks["committed"],
        "rss_committed_mib": marks["rss_committed"],
        "peak_rss_mib": memory_mib("VmHWM"),
    }


def in_child(url: str, path: Path) -> dict[str, float]:
    out = subprocess.run(
        [sys.executable, __file__, "--one", url, str(path)],
        check=True,
        capture_output=True,
        text=True,
    )
    result: dict[str, float] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def pg(statement: str, schema: str) -> None:
    with psycopg.connect(PG_DATABASE, autocommit=True) as conn:
        conn.execute(SQL(statement).format(Identifier(schema)))


def measure(store: str, path: Path, folder: Path) -> dict[str, float]:
    """One import of `path` into a new, empty store of the kind `store`."""
    if store == "sqlite":
        db = folder / f"{uuid.uuid4().hex[:8]}.db"
        try:
            return in_child(f"sqlite:///{db}", path)
        finally:
            for suffix in ("", "-wal", "-shm"):
                Path(f"{db}{suffix}").unlink(missing_ok=True)
    schema = f"bench_scale_{uuid.uuid4().hex[:8]}"
    pg("CREATE SCHEMA {}", schema)
    try:
        return in_child(f"{PG_DATABASE}?schema={schema}", path)
    finally:
        pg("DROP SCHEMA {} CASCADE", schema)


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--sizes", default="10000,1000000", help="events per file, comma-separated")
    ap.add_argument("--per-account", type=int, default=10, help="events per account")
    ap.add_argument("--stores", default="pg,sqlite")
    ap.add_argument("--rounds", type=int, default=1)
    ap.add_argument("--one", nargs=2, metavar=("URL", "FILE"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.one:
        print(json.dumps(one(args.one[0], Path(args.one[1]))))
        return
    sizes = [int(s) for s in args.sizes.split(",")]
    stores = args.stores.split(",")
    results: dict[str, dict[int, list[dict[str, float]]]] = {
        s: {n: [] for n in sizes} for s in stores
    }
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        files = {}
        for n in sizes:
            files[n] = folder / f"history-{n}.jsonl"
            write_history(files[n], n // args.per_account, args.per_account - 1, f"s{n}_")
        for r in range(args.rounds):
            for store in stores if r % 2 == 0 else reversed(stores):
                for n in sizes:  # each import on a store of its own, empty
                    result = measure(store, files[n], folder)
                    results[store][n].append(result)
                    print(f"round {r + 1} {store} {n:,} events: "
                          f"{result['events'] / result['seconds']:,.0f}/s, "
                          f"peak {result['peak_rss_mib']:,.0f} MiB", flush=True)  # fmt: skip
    print(f"\nimport of {args.per_account} events per account into an empty store, "
          f"median of {args.rounds} round(s)")  # fmt: skip
    print(f"{'store':<8}{'events':>11}{'events/s':>10}{'to commit':>11}{'catch-up':>10}"
          f"{'RSS at commit':>15}{'peak RSS':>10}{'small ÷ this':>14}")  # fmt: skip
    summary: dict[str, dict[str, dict[str, float]]] = {}
    for store in stores:
        base = None
        for n in sizes:
            runs = results[store][n]
            med = {k: statistics.median(run[k] for run in runs) for k in runs[0]}
            rate = statistics.median(run["events"] / run["seconds"] for run in runs)
            med["rate"] = rate
            base = base or rate
            summary.setdefault(store, {})[str(n)] = med
            print(f"{store:<8}{n:>11,}{rate:>10,.0f}"
                  f"{med['to_commit'] / n * 1e6:>8,.0f} µs{med['catch_up'] / n * 1e6:>7,.0f} µs"
                  f"{med['rss_committed_mib']:>11,.0f} MiB{med['peak_rss_mib']:>6,.0f} MiB"
                  f"{base / rate:>13.2f}x")  # fmt: skip
    print("target (issue 22): the largest file's 'small ÷ this' at most 1.50x on each store;"
          " 'to commit' and 'catch-up' are per event")  # fmt: skip
    print(json.dumps({"per_account": args.per_account, "medians": summary, "rounds": results}))


if __name__ == "__main__":
    main()

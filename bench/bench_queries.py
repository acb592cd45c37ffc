"""Read-model scale benchmark on PostgreSQL (issue 3).

Bulk-loads generated custody histories straight into the log (COPY of events serialised by the
ledger's own mapper: the histories are valid by construction; the handle index aggregates are
not written, since nothing writes after the load), rebuilds the read models from the log, and
measures each query at the query-service level at two sizes. Also measures rebuild throughput
and peak RSS of a rebuild process at 100,000 and at 1,000,000 events.

    python bench/bench_queries.py                      # 10k vs 1M events (2 to 15 minutes)
    python bench/bench_queries.py --accounts 10000     # a quicker 10k vs 100k run
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
from psycopg.sql import SQL, Identifier

from api.bootstrap import build
from ledger.domain import EVENT_CLASSES, Account
from ledger.settings import Settings

PG = "postgresql://postgres@127.0.0.1:5432/test"
EVENTS_PER_ACCOUNT = 10
ACCOUNTS_PER_OFFICE = 100  # constant at every scale, so a listing page is as full at 10k as at 1M
T0 = datetime(2010, 1, 1, tzinfo=UTC)


def history(
    n: int, rng: random.Random, recorded: datetime
) -> Iterator[tuple[str, dict[str, Any], datetime, datetime]]:
    """One account's events: (type, data, effective_at, recorded_at); valid by construction."""
    office = f"office-{n // ACCOUNTS_PER_OFFICE}"
    t = T0 + timedelta(days=rng.randrange(3000))
    yield (
        "account_registered",
        {
            "platform": "x",
            "platform_account_id": str(10**12 + n),
            "handle": f"acct{n}",
            "office": office,
        },
        t,
        recorded,
    )
    holder = 0
    # People pair up on accounts, so a portfolio (and an office's page of accounts) has the
    # same size at every scale and the latency ratio compares answers of the same size.
    yield (
        "holder_assigned",
        {"holder": {"id": f"person-{n // 2}", "name": f"Person {n // 2}"}},
        t,
        recorded,
    )
    for k in range(EVENTS_PER_ACCOUNT - 2):
        t += timedelta(days=rng.randrange(1, 400))
        recorded += timedelta(seconds=1)
        kind = rng.choice(
            (
                "holder_assigned",
                "holder_assigned",
                "history_archived",
                "handle_renamed",
                "office_transferred",
            )
        )
        if kind == "holder_assigned":
            holder += 1
            pid = f"{n // 2}-{holder}"
            data: dict[str, Any] = {"holder": {"id": f"person-{pid}", "name": f"Person {pid}"}}
        elif kind == "history_archived":
            data = {
                "archive": {
                    "ref": f"https://archive.example/acct{n}/{k}",
                    "sha256": None,
                    "items": k * 100,
                }
            }
        elif kind == "handle_renamed":
            data = {"handle": f"acct{n}_{k}"}
        else:
            office = f"office-{n // ACCOUNTS_PER_OFFICE}-{k}"
            data = {"office": office}
        yield kind, data, t, recorded


def load(url: str, first: int, count: int, seed: int = 7) -> int:
    """Append `count` accounts' histories to the log with COPY; return events written."""
    container = build(Settings(database_url=url, aggregate_cache_size=0))
    mapper = container.ledger.mapper
    rng = random.Random(seed + first)
    recorded = datetime(2026, 1, 1, tzinfo=UTC) + timedelta(seconds=first)
    db = container.projector.db
    written = 0
    # Interleave streams in chunks so positions mix accounts as real traffic does.
    with db.datastore.get_connection() as conn, conn.cursor() as curs:
        copy = SQL("COPY {} (originator_id, originator_version, topic, state) FROM STDIN").format(
            Identifier(db.schema, db.events_table)
        )
        for start in range(first, first + count, 1000):
            # Generated chunk by chunk: this process stays small, so the rebuild process it
            # starts does not inherit a large peak RSS from it.
            chunk = [
                (
                    uuid.uuid5(uuid.NAMESPACE_URL, f"bench-account-{n}"),
                    list(history(n, rng, recorded)),
                )
                for n in range(start, min(start + 1000, first + count))
            ]
            with conn.transaction(), curs.copy(copy) as writer:
                for version in range(1, EVENTS_PER_ACCOUNT + 1):
                    for aid, events in chunk:
                        kind, data, eff, rec = events[version - 1]
                        cls = EVENT_CLASSES[kind]
                        common: dict[str, Any] = dict(
                            originator_id=aid,
                            originator_version=version,
                            timestamp=rec,
                            effective_at=eff,
                            actor="bench",
                            reason="",
                            evidence=[],
                            data=data,
                        )
                        if cls is Account.Registered:
                            event: Any = cls(originator_topic="ledger.domain:Account", **common)
                        else:
                            event = cls(**common)
                        stored = mapper.to_stored_event(event)
                        writer.write_row(
                            (
                                stored.originator_id,
                                stored.originator_version,
                                stored.topic,
                                stored.state,
                            )
                        )
                        written += 1
    container.close()
    return written


REBUILD = """
import json, os, threading, time
from api.bootstrap import build
from ledger.settings import Settings
from projections.rebuild import Rebuilder

def kb(pid, key):
    try:
        with open(f"/proc/{pid}/status") as f:
            return next(int(line.split()[1]) for line in f if line.startswith(key))
    except (OSError, StopIteration):
        return 0

peak = {"workers": 0}
def sample():  # the largest RSS any rebuild worker reaches
    while True:
        for pid in os.popen(f"pgrep -P {os.getpid()}").read().split():
            peak["workers"] = max(peak["workers"], kb(int(pid), "VmRSS"))
        time.sleep(0.5)

threading.Thread(target=sample, daemon=True).start()
c = build(Settings(database_url=URL))
t = time.perf_counter()
position = Rebuilder(c.projector).rebuild()
seconds = time.perf_counter() - t
# VmHWM is this process's own high-water mark (unlike ru_maxrss, it is reset at exec).
rss = max(kb(os.getpid(), "VmHWM"), peak["workers"]) / 1024
print(json.dumps({"seconds": seconds, "peak_rss_mb": rss, "position": position}))
"""


def rebuild_in_subprocess(url: str) -> dict[str, float]:
    """Rebuild all read models in a fresh process; its peak RSS is the largest of the process
    and its workers."""
    code = REBUILD.replace("URL", repr(url))
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    if out.returncode != 0:
        raise RuntimeError(f"rebuild failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def measure(url: str, accounts: int, samples: int, seed: int = 11) -> dict[str, dict[str, float]]:
    container = build(Settings(database_url=url, aggregate_cache_size=0))
    q = container.queries
    rng = random.Random(seed)

    def some_account() -> tuple[uuid.UUID, int]:
        n = rng.randrange(accounts)
        return uuid.uuid5(uuid.NAMESPACE_URL, f"bench-account-{n}"), n

    def some_time() -> datetime:
        return T0 + timedelta(days=rng.randrange(6000))

    def known() -> datetime | None:
        return (
            None
            if rng.random() < 0.5
            else datetime(2026, 1, 1, tzinfo=UTC) + timedelta(seconds=rng.randrange(accounts + 10))
        )

    queries: dict[str, Callable[[], Any]] = {
        "account_at": lambda: q.account_at(some_account()[0], some_time(), known()),
        "custody_timeline": lambda: q.custody_timeline(some_account()[0], known()),
        "handle_at": lambda: q.handle_at("x", f"acct{some_account()[1]}", some_time(), known()),
        "holder_custody": lambda: q.holder_custody(f"person-{rng.randrange(accounts // 2)}"),
        "accounts_by_office": lambda: q.accounts(
            office=f"office-{rng.randrange(accounts // ACCOUNTS_PER_OFFICE)}",
            at=some_time(),
            limit=50,
        ),
        "events": lambda: q.events(some_account()[0]),
    }
    results = {name: timed(fn, samples) for name, fn in queries.items()}
    container.close()
    return results


def timed(ask: Callable[[], Any], samples: int, warm: int = 50) -> dict[str, float]:
    """p50 and p99 of `samples` calls of `ask`, in milliseconds, after `warm` calls that warm
    caches and prepared statements."""
    for _ in range(warm):
        ask()
    timings = []
    for _ in range(samples):
        t = time.perf_counter()
        ask()
        timings.append((time.perf_counter() - t) * 1000)
    timings.sort()
    return {
        "p50_ms": statistics.median(timings),
        "p99_ms": timings[int(len(timings) * 0.99) - 1],
    }


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument(
        "--accounts", type=int, default=100_000, help="accounts at the large size (10 events each)"
    )
    ap.add_argument("--small", type=int, default=1_000, help="accounts at the small size")
    ap.add_argument("--samples", type=int, default=2_000)
    ap.add_argument("--url", default=PG)
    args = ap.parse_args()

    schema = f"bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(args.url, autocommit=True) as conn:
        conn.execute(SQL("CREATE SCHEMA {}").format(Identifier(schema)))
    url = f"{args.url}?schema={schema}"
    report: dict[str, Any] = {"accounts_large": args.accounts, "accounts_small": args.small}
    try:
        loaded = load(url, 0, args.small)
        rebuild_small = rebuild_in_subprocess(url)
        small = measure(url, args.small, args.samples)
        mid_accounts = max(args.accounts // 10, args.small)
        loaded += load(url, args.small, mid_accounts - args.small)
        rebuild_mid = rebuild_in_subprocess(url)
        t = time.perf_counter()
        loaded += load(url, mid_accounts, args.accounts - mid_accounts)
        load_seconds = time.perf_counter() - t
        with psycopg.connect(args.url, autocommit=True) as conn:
            conn.execute(
                SQL("ANALYZE {}.{}").format(Identifier(schema), Identifier("custody_events"))
            )
        rebuild_large = rebuild_in_subprocess(url)
        large = measure(url, args.accounts, args.samples)
        report.update(
            events_small=args.small * EVENTS_PER_ACCOUNT,
            events_mid=mid_accounts * EVENTS_PER_ACCOUNT,
            events_large=loaded,
            load_events_per_s=(args.accounts - mid_accounts) * EVENTS_PER_ACCOUNT / load_seconds,
            rebuild={
                "small": rebuild_small,
                "mid": rebuild_mid,
                "large": rebuild_large,
                "large_events_per_s": loaded / rebuild_large["seconds"],
                "rss_ratio_large_over_mid": rebuild_large["peak_rss_mb"]
                / rebuild_mid["peak_rss_mb"],
            },
            queries={
                name: {
                    "small": small[name],
                    "large": large[name],
                    "p50_ratio": large[name]["p50_ms"] / small[name]["p50_ms"],
                }
                for name in small
            },
        )
    finally:
        with psycopg.connect(args.url, autocommit=True) as conn:
            conn.execute(SQL("DROP SCHEMA {} CASCADE").format(Identifier(schema)))
    small_n, large_n = report["events_small"], report["events_large"]
    print(f"\nread models at {small_n:,} vs {large_n:,} events (PostgreSQL, query-service level)")
    head = ("query", "p50 small", "p99 small", "p50 large", "p99 large", "p50 ratio")
    print(f"{head[0]:<20}" + "".join(f"{h:>11}" for h in head[1:]))
    for name, r in report["queries"].items():
        cells = [
            r["small"]["p50_ms"],
            r["small"]["p99_ms"],
            r["large"]["p50_ms"],
            r["large"]["p99_ms"],
        ]
        print(f"{name:<20}" + "".join(f"{c:>9.2f}ms" for c in cells) + f"{r['p50_ratio']:>11.2f}")
    rb = report["rebuild"]
    mid_rss, large_rss = rb["mid"]["peak_rss_mb"], rb["large"]["peak_rss_mb"]
    print(f"rebuild: {rb['large_events_per_s']:,.0f} events/s at {large_n:,} events")
    print(
        f"rebuild peak RSS: {mid_rss:.0f} MB at {report['events_mid']:,} events, "
        f"{large_rss:.0f} MB at {large_n:,} (ratio {rb['rss_ratio_large_over_mid']:.2f})"
    )
    print(json.dumps(report))


if __name__ == "__main__":
    main()

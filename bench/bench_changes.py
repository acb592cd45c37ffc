"""How an answer changed, at scale on PostgreSQL (issue 20).

Bulk-loads generated histories (`bench_queries.load`: 10 events per account) and rebuilds the
read models, then records through the ledger one account whose custody in a window changes 50
times (handovers, every fifth retracted), an account whose handle moves 50 times, and an office
with 50 holders, and times `custody_changes`, `handle_changes` and `tenure_changes` over that
window at the query-service level, read-your-writes check included.

    python bench/bench_changes.py                     # 1M events (100,000 accounts)
    python bench/bench_changes.py --accounts 10000    # 100k events
"""

from __future__ import annotations

import argparse
import json
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any

import psycopg
from bench_queries import PG, load, rebuild_in_subprocess, timed
from psycopg.sql import SQL, Identifier

from api.bootstrap import build
from ledger.commands import (
    AssignHolder,
    Holder,
    RegisterAccount,
    RegisterOffice,
    RenameHandle,
    RetractEvent,
)
from ledger.settings import Settings

VERSIONS = 50
START = datetime(2030, 1, 1, tzinfo=UTC)  # after every generated history
WINDOW = (START, START + timedelta(days=VERSIONS + 1))


def subjects(url: str) -> dict[str, Callable[[Any], Any]]:
    """Record the three subjects; the queries that ask about them."""
    c = build(Settings(database_url=url, aggregate_cache_size=0))
    ledger, actor = c.ledger, "bench"
    day = [START + timedelta(days=n) for n in range(VERSIONS + 1)]
    account = ledger.register_account(
        RegisterAccount(platform="x", handle="@BenchChanges", office="bench-office",
                        effective_at=START),
        actor=actor,
    ).account_id  # fmt: skip
    for n in range(1, VERSIONS + 1):
        who = Holder(id=f"holder-{n}", name=f"Holder {n}")
        record = ledger.append(account, AssignHolder(holder=who, effective_at=day[n]), actor=actor)
        if n % 5 == 0:  # retracted: the answer goes back to the one before
            ledger.append(
                account,
                RetractEvent(event_version=record.version, effective_at=day[n]),
                actor=actor,
            )
    mover = ledger.register_account(
        RegisterAccount(platform="x", handle="@BenchMoving", office="bench-office",
                        effective_at=START),
        actor=actor,
    ).account_id  # fmt: skip
    for n in range(1, VERSIONS + 1):
        handle = "BenchMoving" if n % 2 == 0 else f"BenchAway{n}"
        ledger.append(mover, RenameHandle(handle=handle, effective_at=day[n]), actor=actor)
    office = "bench-changes-office"
    ledger.register_office(
        RegisterOffice(office=office, name="Bench office", jurisdiction="US", effective_at=START),
        actor=actor,
    )
    for n in range(1, VERSIONS + 1):
        who = Holder(id=f"holder-{n}", name=f"Holder {n}")
        ledger.append_office(office, AssignHolder(holder=who, effective_at=day[n]), actor=actor)
    c.close()
    return {
        "custody_changes": lambda q: q.custody_changes(account, *WINDOW),
        "handle_changes": lambda q: q.handle_changes("x", "BenchMoving", *WINDOW),
        "tenure_changes": lambda q: q.tenure_changes(office, *WINDOW),
    }


def measure(url: str, queries: dict[str, Callable[[Any], Any]], samples: int) -> dict[str, Any]:
    c = build(Settings(database_url=url, aggregate_cache_size=0))
    out = {}
    for name, ask in queries.items():
        versions = len(ask(c.queries).versions)
        out[name] = {"versions": versions, **timed(partial(ask, c.queries), samples)}
    c.close()
    return out


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--accounts", type=int, default=100_000, help="accounts (10 events each)")
    ap.add_argument("--samples", type=int, default=1_000)
    ap.add_argument("--url", default=PG)
    args = ap.parse_args()

    schema = f"bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(args.url, autocommit=True) as conn:
        conn.execute(SQL("CREATE SCHEMA {}").format(Identifier(schema)))
    url = f"{args.url}?schema={schema}"
    try:
        loaded = load(url, 0, args.accounts)
        rebuild_in_subprocess(url)
        queries = subjects(url)
        with psycopg.connect(args.url, autocommit=True) as conn:
            conn.execute(SQL("SET search_path TO {}").format(Identifier(schema)))
            conn.execute("ANALYZE")
        results = measure(url, queries, args.samples)
    finally:
        with psycopg.connect(args.url, autocommit=True) as conn:
            conn.execute(SQL("DROP SCHEMA {} CASCADE").format(Identifier(schema)))
    print(f"\nhow an answer changed, at {loaded:,} events (PostgreSQL, query-service level)")
    print(f"{'query':<20}{'versions':>10}{'p50':>11}{'p99':>11}")
    for name, r in results.items():
        print(f"{name:<20}{r['versions']:>10}{r['p50_ms']:>9.2f}ms{r['p99_ms']:>9.2f}ms")
    print(json.dumps({"events": loaded, "queries": results}))


if __name__ == "__main__":
    main()

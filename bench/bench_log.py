"""The verifiable log's costs (issue 19), each side by side with its baseline in one run.

appends   appends/s with the log on (integration and checkpoints running in the same
          process, as `custody serve` runs them) vs off, on SQLite and PostgreSQL; the
          order turns each round; medians. Target: on >= 0.9x off.
scale     a store of --entries custody events on PostgreSQL (imported, then integrated):
          the integration rate, `verify --store` entries/s (target >= 100,000/s at 1M),
          inclusion and consistency proofs at the service level (p50/p99; target p99 <=
          5 ms at 1M), and over HTTP: hash-tile and entry-tile requests/s vs `/health`
          requests/s (one keep-alive client).

  python bench/bench_log.py [--appends 1500] [--rounds 3] [--entries 1000000] [--only appends|scale]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
from bench_http import Connection, Server
from psycopg.sql import SQL, Identifier

from api.bootstrap import Container, build
from ledger.backfill import import_file
from ledger.commands import AssignHolder, Holder, RegisterAccount
from ledger.settings import Settings
from ledger.tlog.keyfile import create_key
from ledger.tlog.tiles import encode_index
from projections.tlog.audit import audit_store

PG = "postgresql://postgres@127.0.0.1:5432/test"
T0 = datetime(2015, 1, 1, tzinfo=UTC)
ORIGIN = "bench.example/log"


def fresh_pg() -> tuple[str, Callable[[], None]]:
    schema = f"bench_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(PG, autocommit=True) as conn:
        conn.execute(SQL("CREATE SCHEMA {}").format(Identifier(schema)))

    def drop() -> None:
        with psycopg.connect(PG, autocommit=True) as conn:
            conn.execute(SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(Identifier(schema)))

    return f"{PG}?schema={schema}", drop


def settings(url: str, key: Path, on: bool) -> Settings:
    return Settings(database_url=url, log_enabled=on, log_key_file=key, log_origin=ORIGIN)


def appends_per_second(url: str, key: Path, on: bool, n: int) -> tuple[float, float]:
    """n appends from one writer, the workers running: the rate while they run, and the
    process's CPU time per append (the writer's and the workers' threads; less noisy)."""
    container = build(settings(url, key, on))
    try:
        container.start_worker()
        ledger = container.ledger
        tag = uuid.uuid4().hex[:8]
        accounts = [
            ledger.register_account(
                RegisterAccount(
                    platform="x", handle=f"b{tag}{i}", office=f"office-{i}", effective_at=T0
                ),
                actor="bench",
            ).account_id
            for i in range(50)
        ]
        started, cpu = time.perf_counter(), time.process_time()
        for k in range(n):
            aid = accounts[k % len(accounts)]
            ledger.append(
                aid,
                AssignHolder(
                    holder=Holder(id=f"p{k}", name=f"Person {k}"),
                    effective_at=T0 + timedelta(days=1 + k),
                ),
                actor="bench",
            )
        took, cpu = time.perf_counter() - started, time.process_time() - cpu
        if on:  # the log catches up (not part of the rate; shown for completeness)
            assert container.integrator is not None
            container.integrator.integrate()
        return n / took, cpu / n
    finally:
        container.close()


def bench_appends(args: argparse.Namespace, folder: Path) -> None:
    key = folder / "log.key"
    if not key.exists():
        create_key(key, ORIGIN)
    for store in ("sqlite", "postgres"):
        rates: dict[bool, list[float]] = {True: [], False: []}
        cpus: dict[bool, list[float]] = {True: [], False: []}
        for r in range(args.rounds):
            for on in (True, False) if r % 2 == 0 else (False, True):
                if store == "sqlite":
                    url, drop = f"sqlite:///{folder}/a-{uuid.uuid4().hex}.db", lambda: None
                else:
                    url, drop = fresh_pg()
                try:
                    rate, cpu = appends_per_second(url, key, on, args.appends)
                    rates[on].append(rate)
                    cpus[on].append(cpu)
                finally:
                    drop()
        with_log, without = statistics.median(rates[True]), statistics.median(rates[False])
        cpu_on, cpu_off = statistics.median(cpus[True]), statistics.median(cpus[False])
        print(
            f"appends {store}: log on {with_log:,.0f}/s, off {without:,.0f}/s, "
            f"ratio {with_log / without:.2f}; CPU per append on {cpu_on * 1e6:,.0f} µs, "
            f"off {cpu_off * 1e6:,.0f} µs, off ÷ on {cpu_off / cpu_on:.2f} "
            f"(medians of {args.rounds}; on {[round(x) for x in rates[True]]}, "
            f"off {[round(x) for x in rates[False]]})",
            flush=True,
        )


def history(path: Path, entries: int) -> None:
    """`entries` events: accounts of 10 events each (a registration, nine handovers)."""
    with path.open("w") as out:
        for a in range(entries // 10):
            aid = str(uuid.uuid4())
            out.write(
                json.dumps(
                    {
                        "type": "account_registered",
                        "account_id": aid,
                        "platform": "x",
                        "handle": f"h{a}",
                        "office": f"office-{a % 1000}",
                        "effective_at": T0.isoformat(),
                    }
                )
                + "\n"
            )
            for k in range(9):
                out.write(
                    json.dumps(
                        {
                            "type": "holder_assigned",
                            "account_id": aid,
                            "holder": {"id": f"p{a}-{k}", "name": f"Person {a} {k}"},
                            "effective_at": (T0 + timedelta(days=k + 1)).isoformat(),
                        }
                    )
                    + "\n"
                )


def percentiles(samples: list[float]) -> str:
    samples = sorted(samples)
    p50 = samples[len(samples) // 2]
    p99 = samples[min(len(samples) - 1, int(len(samples) * 0.99))]
    return f"p50 {p50 * 1000:.2f} ms, p99 {p99 * 1000:.2f} ms"


def requests_per_second(conn: Connection, paths: list[str], seconds: float) -> float:
    done, started = 0, time.perf_counter()
    while time.perf_counter() - started < seconds:
        status, _ = conn.request("GET", paths[done % len(paths)])
        assert status == 200, (status, paths[done % len(paths)])
        done += 1
    return done / (time.perf_counter() - started)


def bench_scale(args: argparse.Namespace, folder: Path) -> None:
    key = args.key or folder / "log.key"
    if not key.exists():
        create_key(key, ORIGIN)
    if args.schema:
        url, drop = f"{PG}?schema={args.schema}", lambda: None
    else:
        url, drop = fresh_pg()
        if args.keep:
            print(f"scale: the store is kept: --schema {url.rsplit('=', 1)[1]}", flush=True)
    try:
        container: Container = build(settings(url, key, True))
        try:
            if not args.schema:
                build_scale(container, folder, args.entries)
            assert container.log is not None and container.log_service is not None
            # One process, then one per core (as the CLI) three times: the median and range.
            for processes, repeats in ((1, 1), (None, 3)):
                rates = []
                for _ in range(repeats):
                    started = time.perf_counter()
                    audit = audit_store(
                        container.ledger, container.log, None, database_url=url, processes=processes
                    )
                    took = time.perf_counter() - started
                    assert audit.finding is None, audit.finding
                    rates.append(audit.entries / took)
                print(
                    f"scale: verify --store ({'one process' if processes else 'per core'}) "
                    f"{audit.entries:,} entries and {audit.nodes:,} nodes at "
                    f"{statistics.median(rates):,.0f} entries/s"
                    + (
                        f" (median of {repeats}: {sorted(round(r) for r in rates)})"
                        if repeats > 1
                        else ""
                    ),
                    flush=True,
                )
            service, size = container.log_service, audit.entries
            rng = random.Random(7)
            for name, call in (
                ("inclusion", lambda: service.inclusion(rng.randrange(size), None)),
                ("consistency", lambda: service.consistency(rng.randrange(1, size), None)),
            ):
                samples = []
                for _ in range(2000):
                    t = time.perf_counter()
                    call()
                    samples.append(time.perf_counter() - t)
                print(f"scale: {name} proof at {size:,}: {percentiles(samples)}", flush=True)
        finally:
            container.close()
        os.environ.update(
            CUSTODY_PUBLIC_READS="true", CUSTODY_LOG_KEY_FILE=str(key), CUSTODY_LOG_ORIGIN=ORIGIN
        )
        server = Server(url, folder / "serve.log", 1)
        try:
            server.wait_ready()
            with Connection(server.base_url, {}) as conn:
                full = size // 256
                tiles = [f"/log/tile/0/{encode_index(rng.randrange(full))}" for _ in range(100)]
                entries = [
                    f"/log/tile/entries/{encode_index(rng.randrange(full))}" for _ in range(100)
                ]
                health = requests_per_second(conn, ["/health"], 5)
                hashes = requests_per_second(conn, tiles, 5)
                bundles = requests_per_second(conn, entries, 5)
            print(
                f"scale: HTTP /health {health:,.0f}/s, hash tiles {hashes:,.0f}/s "
                f"({hashes / health:.2f}x), entry tiles {bundles:,.0f}/s "
                f"({bundles / health:.2f}x)",
                flush=True,
            )
        finally:
            server.stop()
    finally:
        if not args.keep:
            drop()


def build_scale(container: Container, folder: Path, entries: int) -> None:
    """Import `entries` custody events, integrate them and sign the tree."""
    source = folder / "history.jsonl"
    history(source, entries)
    started = time.perf_counter()
    import_file(container.ledger, source, actor="bench", catch_up=None)
    print(f"scale: imported {entries:,} events in {time.perf_counter() - started:.0f}s", flush=True)
    assert container.integrator is not None and container.checkpointer is not None
    started = time.perf_counter()
    added = container.integrator.integrate()
    took = time.perf_counter() - started
    container.checkpointer.checkpoint()
    print(f"scale: integrated {added:,} entries at {added / took:,.0f}/s", flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--appends", type=int, default=1500)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--entries", type=int, default=1_000_000)
    parser.add_argument("--only", choices=["appends", "scale"])
    keep = parser.add_mutually_exclusive_group()
    keep.add_argument("--keep", action="store_true", help="leave the scale store in place")
    keep.add_argument("--schema", help="measure the scale store left by --keep in this schema")
    parser.add_argument("--key", type=Path, help="that store's log key file (to serve it)")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        if args.only in (None, "appends"):
            bench_appends(args, folder)
        if args.only in (None, "scale"):
            bench_scale(args, folder)
    return 0


if __name__ == "__main__":
    sys.exit(main())

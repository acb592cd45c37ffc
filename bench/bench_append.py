"""Appends per second: the ledger on PostgreSQL and on SQLite, against raw psycopg INSERTs.

    python bench/bench_append.py [--events N] [--rounds R] [--accounts A] [--stock]

In one run, against one PostgreSQL server, it measures
  raw              one autocommit single-row INSERT per transaction (psycopg, prepared after
                   the first few executions) of the same bytes the ledger stores for an event
                   (uuid, version, topic, state), into a table shaped like the library's stored
                   events table (bigserial position, primary key (originator_id, version));
  ledger/pg        CustodyLedger.append(AssignHolder(...)) on PostgreSQL, as Settings.store()
                   configures it;
  ledger/pg-stock  (with --stock) the same with the configuration before the tuning: the
                   library's own recorder, a pre-ping per checkout, pool_size kept open;
  ledger/sqlite    the same on SQLite (a temporary file).
Each append is a real command, built, validated, checked against the account's rules and
recorded; the holder alternates on each of many pre-registered accounts (so the streams grow
by events x rounds / accounts over the run, and the rule check with them). The targets are
interleaved round by round, the order rotating, so noise on a shared machine hits them alike.
Rounds are short and many, so a slow spell of the machine spans few of them. It prints per
target the median over rounds of appends/s, the ratio of medians to raw, the median of the
per-round ratios and the client's CPU time per append, as a table and as one JSON line. The script makes its own
PostgreSQL schemas and SQLite file and removes them.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import psycopg
from psycopg.sql import SQL, Identifier

from ledger.application import CustodyLedger
from ledger.commands import AssignHolder, Holder, RegisterAccount
from ledger.settings import Settings

DEFAULT_PG = "postgresql://postgres@127.0.0.1:5432/test"
HOLDERS = (Holder(id="alice", name="Alice Example"), Holder(id="bob", name="Bob Example"))
START = datetime(2020, 1, 1, tzinfo=UTC)
ACTOR = "bench"


class LedgerTarget:
    """Appends AssignHolder commands round-robin over pre-registered accounts."""

    def __init__(self, app: CustodyLedger, accounts: int) -> None:
        self.app = app
        self.accounts = [
            app.register_account(
                RegisterAccount(
                    platform="bench",
                    handle=f"acct{i}",
                    office=f"office-{i}",
                    effective_at=START,
                ),
                actor=ACTOR,
            ).account_id
            for i in range(accounts)
        ]
        self.count = 0

    def run(self, n: int) -> None:
        append, accounts, count = self.app.append, self.accounts, self.count
        width = len(accounts)
        for k in range(count, count + n):
            i, turn = divmod(k, width)
            command = AssignHolder(
                holder=HOLDERS[i % 2],
                effective_at=START + timedelta(seconds=k + 1),
                reason="bench",
            )
            append(accounts[turn], command, actor=ACTOR)
        self.count = count + n


class RawTarget:
    """One autocommit INSERT per transaction into a stored-events-shaped table."""

    def __init__(self, url: str, schema: str, topic: str, state: bytes) -> None:
        self.conn = psycopg.connect(url, autocommit=True)
        table = Identifier(schema, "raw_events")
        self.conn.execute(
            SQL(
                "CREATE TABLE {} (originator_id uuid NOT NULL, originator_version bigint NOT NULL,"
                " topic text, state bytea, notification_id bigserial,"
                " PRIMARY KEY (originator_id, originator_version))"
            ).format(table)
        )
        self.conn.execute(SQL("CREATE UNIQUE INDEX ON {} (notification_id ASC)").format(table))
        self.insert = (
            SQL(
                "INSERT INTO {} (originator_id, originator_version, topic, state)"
                " VALUES (%s, %s, %s, %s)"
            )
            .format(table)
            .as_bytes(self.conn)
        )
        self.topic, self.state = topic, state
        self.ids = [uuid.uuid4() for _ in range(1000)]
        self.count = 0

    def run(self, n: int) -> None:
        execute, ids, count = self.conn.execute, self.ids, self.count
        width = len(ids)
        for k in range(count, count + n):
            version, turn = divmod(k, width)
            execute(self.insert, (ids[turn], version + 1, self.topic, self.state))
        self.count = count + n

    def close(self) -> None:
        self.conn.close()


def stored_payload(app: CustodyLedger, account_id: uuid.UUID) -> tuple[str, bytes]:
    """The topic and state bytes of the last stored event of an account."""
    stored = app.recorder.select_events(account_id, desc=True, limit=1)[0]
    return stored.topic, stored.state


def stock_env(env: dict[str, str], pool_size: int) -> dict[str, str]:
    """The env as Settings.store() built it before the tuning: the library's own recorder, a full
    pre-ping on every checkout, `pool_size` connections kept open."""
    stock = {k: v for k, v in env.items() if k != "APPLICATION_RECORDER_TOPIC"}
    stock.update(
        POSTGRES_PRE_PING="y",
        POSTGRES_POOL_SIZE=str(pool_size),
        POSTGRES_MAX_OVERFLOW=str(pool_size),
    )
    return stock


def timed(run: Callable[[int], None], n: int) -> tuple[float, float]:
    """Appends per second, and this process's CPU microseconds per append."""
    started, cpu = time.perf_counter(), time.process_time()
    run(n)
    return n / (time.perf_counter() - started), (time.process_time() - cpu) * 1e6 / n


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=250, help="appends per round and store")
    parser.add_argument("--rounds", type=int, default=48)
    parser.add_argument("--accounts", type=int, default=1000, help="pre-registered accounts")
    parser.add_argument(
        "--stock",
        action="store_true",
        help="also measure the ledger on PostgreSQL as configured before the tuning (library "
        "recorder, full pre-ping, pool kept at pool_size)",
    )
    parser.add_argument(
        "--database-url",
        default=DEFAULT_PG,
        help="a PostgreSQL database the script may create and drop schemas in",
    )
    args = parser.parse_args(argv)

    tag = uuid.uuid4().hex[:12]
    schemas = {"ledger/pg": f"bench_{tag}"}
    if args.stock:
        schemas["ledger/pg-stock"] = f"bench_{tag}_stock"
    with psycopg.connect(args.database_url, autocommit=True) as conn:
        for schema in schemas.values():
            conn.execute(SQL("CREATE SCHEMA {}").format(Identifier(schema)))
    tmp = tempfile.TemporaryDirectory(prefix="custody-bench-")
    sep = "&" if "?" in args.database_url else "?"
    settings = {
        name: Settings(database_url=f"{args.database_url}{sep}schema={schema}")
        for name, schema in schemas.items()
    }
    envs = {name: s.store().env for name, s in settings.items()}
    if "ledger/pg-stock" in envs:
        envs["ledger/pg-stock"] = stock_env(
            envs["ledger/pg-stock"], settings["ledger/pg-stock"].pool_size
        )
    envs["ledger/sqlite"] = Settings(database_url=f"sqlite:///{tmp.name}/bench.db").store().env
    apps: list[CustodyLedger] = []
    raw: RawTarget | None = None
    try:
        started = time.perf_counter()
        ledgers: dict[str, LedgerTarget] = {}
        for name, env in envs.items():
            apps.append(CustodyLedger(env))
            ledgers[name] = LedgerTarget(apps[-1], args.accounts)
            ledgers[name].run(min(args.accounts, 200))  # warm up: caches, prepared statements
        topic, state = stored_payload(apps[0], ledgers["ledger/pg"].accounts[0])
        raw = RawTarget(args.database_url, schemas["ledger/pg"], topic, state)
        raw.run(200)
        targets = {"raw": raw.run, **{name: target.run for name, target in ledgers.items()}}
        total = min(args.accounts, 200) + args.events * args.rounds
        print(
            f"{args.accounts} accounts per store, {args.events} appends per round and store, "
            f"{args.rounds} rounds (streams grow to about {1 + total / args.accounts:.0f} "
            f"events); stored event: {len(state)} state bytes, topic {topic!r}; "
            f"setup {time.perf_counter() - started:.1f}s",
            file=sys.stderr,
        )
        rates: dict[str, list[float]] = {name: [] for name in targets}
        cpu: dict[str, list[float]] = {name: [] for name in targets}
        names = list(targets)
        for r in range(args.rounds):
            order = names[r % len(names) :] + names[: r % len(names)]
            for name in order:
                rate, cpu_us = timed(targets[name], args.events)
                rates[name].append(rate)
                cpu[name].append(cpu_us)
            print(
                f"round {r + 1}: " + ", ".join(f"{n} {rates[n][-1]:.0f}/s" for n in names),
                file=sys.stderr,
            )
    finally:
        for app in apps:
            app.close()
        if raw is not None:
            raw.close()
        with psycopg.connect(args.database_url, autocommit=True) as conn:
            for schema in schemas.values():
                conn.execute(SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(Identifier(schema)))
        tmp.cleanup()

    medians = {name: statistics.median(values) for name, values in rates.items()}
    # The ratio within each round too: rounds are short and adjacent, so a slow spell of the
    # machine that spans a round cancels out of it.
    paired = {
        name: statistics.median(v / w for v, w in zip(values, rates["raw"], strict=True))
        for name, values in rates.items()
    }
    base = medians["raw"]
    print(
        f"{'target':<17}{'median /s':>10}{'min':>7}{'max':>7}{'x raw':>7}"
        f"{'per-round x raw':>17}{'client CPU us':>15}"
    )
    for name, values in rates.items():
        print(
            f"{name:<17}{medians[name]:>10.0f}{min(values):>7.0f}{max(values):>7.0f}"
            f"{medians[name] / base:>7.2f}{paired[name]:>17.2f}"
            f"{statistics.median(cpu[name]):>15.0f}"
        )
    figures: dict[str, object] = {
        "events_per_round": args.events,
        "rounds": args.rounds,
        "accounts": args.accounts,
    }
    for name, median in medians.items():
        key = name.replace("/", "_").replace("-", "_")
        figures[f"{key}_per_s"] = round(median, 1)
        figures[f"{key}_cpu_us"] = round(statistics.median(cpu[name]), 1)
        if name != "raw":
            short = key.removeprefix("ledger_")
            figures[f"ratio_{short}"] = round(median / base, 3)
            figures[f"ratio_{short}_paired"] = round(paired[name], 3)
    print(json.dumps(figures))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

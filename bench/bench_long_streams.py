"""Long streams (issue 22, item 7): what an append costs on a stream of 10, 1,000 and 10,000
events, with out-of-order effective times.

    python bench/bench_long_streams.py [--store sqlite|postgres|both] [--lengths 10,1000,10000]
        [--appends N] [--rounds R] [--mix dense|daily] [--profile]

Per store (SQLite in a temporary file; PostgreSQL in a fresh schema) and per length, one office
(registered, four tenures over the stream's span) and one account of the office, whose stream is
built through the ledger's batch (`ledger.batch()`, 1,000 events a transaction, the read models
caught up after each, as `custody import` does). The stream has the same mix at every length,
one event a day on average: with --mix dense (the default), 80% audience observations, 10%
handovers (each to a new holder), 10% renames (each to a new handle); with --mix daily, daily
observations and a handover every few years (a back-dated handover then changes every day up
to the next one: its rows grow with the gap). Each batch is staged in shuffled order, so its
events come out of effective-time order. Then, in rounds that turn over the lengths, it
appends --appends events to each stream, each on its own (the ledger call timed: decide and
save), then lets the projector apply it (`projector.catch_up()`, in-process as an embedded
store does; timed): a mix of audience observations (60%), handovers (20%) and renames (20%),
each effective at a random instant of the stream's past. It prints per store and length the
p50 (and p90) of decide+save, of projection and of both, and the ratio of each p50 to the
shortest stream's, then one JSON line. With --profile, cProfile's top entries for the appends
to the longest stream.

The verifiable log is off (`log_enabled=False`): its integration runs behind appends and none of
this measures it. The script makes its schema and file and removes them.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import pstats
import random
import statistics
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
from psycopg.sql import SQL, Identifier

from api.bootstrap import Container, build
from ledger.commands import (
    AssignHolder,
    Command,
    Holder,
    ObserveAudience,
    RegisterAccount,
    RegisterOffice,
    RenameHandle,
)
from ledger.settings import Settings

PG = "postgresql://postgres@127.0.0.1:5432/test"
T0 = datetime(1990, 1, 1, tzinfo=UTC)
DAY = timedelta(days=1)
BATCH = 1000  # events staged per transaction while building a stream
PARTS = ("decide", "project", "both")


@dataclass
class Stream:
    """One office and one account of it, with `length` events in the account's stream."""

    length: int
    office: str
    account: uuid.UUID
    end: datetime  # every event of the stream is effective before this
    count: int = 0  # events appended (timed) so far, for unique holders and handles
    timings: dict[str, list[float]] = field(default_factory=lambda: {p: [] for p in PARTS})


def holder(tag: str) -> Holder:
    return Holder(id=f"p-{tag}", name=f"Person {tag}")


MIXES = {  # a built stream's share of handovers and of renames (the rest: observations)
    "dense": (0.1, 0.1),  # the same mix at every length: a change's stretch is as long
    "daily": (0.001, 0.0005),  # daily observations, a handover every ~3 years
}


def history(length: int, rng: random.Random, mix: str) -> tuple[list[Command], datetime]:
    """The account's events after its registration (`length - 1` of them, one a day on
    average), in effective-time order, and the end of their span."""
    events: list[Command] = []
    when = T0
    handovers, renames = MIXES[mix]
    for k in range(1, length):
        when += timedelta(seconds=rng.randrange(1, 2 * 86_400))
        draw = rng.random()
        if draw < handovers:
            events.append(AssignHolder(holder=holder(f"b{k}"), effective_at=when))
        elif draw < handovers + renames:
            events.append(RenameHandle(handle=f"b{length}x{k}", effective_at=when))
        else:
            events.append(ObserveAudience(followers=rng.randrange(10**7), effective_at=when))
    return events, when + DAY


def build_stream(c: Container, length: int, rng: random.Random, mix: str = "dense") -> Stream:
    """Register the office and the account, then stage the account's history in batches of
    `BATCH` events, each shuffled, the read models caught up after each."""
    office = f"office-{length}-{uuid.uuid4().hex[:6]}"
    events, end = history(length, rng, mix)
    span = end - T0
    ledger = c.ledger
    ledger.register_office(
        RegisterOffice(office=office, name=f"Office {length}", jurisdiction="PK", effective_at=T0),
        actor="bench",
    )
    for n in range(4):  # four tenures over the span, whatever its length
        ledger.append_office(
            office,
            AssignHolder(holder=holder(f"o{n}"), effective_at=T0 + span * n / 4),
            actor="bench",
        )
    account = ledger.register_account(
        RegisterAccount(platform="bench", handle=f"b{length}x0", office=office, effective_at=T0),
        actor="bench",
    ).account_id
    for begin in range(0, len(events), BATCH):
        chunk = events[begin : begin + BATCH]
        rng.shuffle(chunk)
        with ledger.batch() as batch:
            for command in chunk:
                ledger.append(account, command, actor="bench", batch=batch)  # type: ignore[arg-type]
        c.projector.catch_up()
    c.projector.catch_up()
    return Stream(length, office, account, end)


def next_command(stream: Stream, rng: random.Random) -> Command:
    """An audience observation, a handover or a rename, effective at a random past instant."""
    stream.count += 1
    tag = f"t{stream.length}x{stream.count}"
    when = T0 + timedelta(seconds=rng.randrange(1, int((stream.end - T0).total_seconds())))
    draw = rng.random()
    if draw < 0.2:
        return AssignHolder(holder=holder(tag), effective_at=when)
    if draw < 0.4:
        return RenameHandle(handle=tag, effective_at=when)
    return ObserveAudience(followers=rng.randrange(10**7), effective_at=when)


def append_timed(c: Container, stream: Stream, rng: random.Random, keep: bool = True) -> None:
    """One append, then the projector applying it: each timed (milliseconds)."""
    command = next_command(stream, rng)
    t0 = time.perf_counter()
    c.ledger.append(stream.account, command, actor="bench")  # type: ignore[arg-type]
    t1 = time.perf_counter()
    applied = c.projector.catch_up()
    t2 = time.perf_counter()
    assert applied == 1, applied
    if keep:
        stream.timings["decide"].append((t1 - t0) * 1000)
        stream.timings["project"].append((t2 - t1) * 1000)
        stream.timings["both"].append((t2 - t0) * 1000)


def p(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(int(len(ordered) * q), len(ordered) - 1)]


def run_store(name: str, url: str, args: argparse.Namespace) -> dict[str, Any]:
    rng = random.Random(args.seed)
    c = build(Settings(database_url=url, log_enabled=False))
    try:
        streams: list[Stream] = []
        for length in args.lengths:
            started = time.perf_counter()
            streams.append(build_stream(c, length, rng, args.mix))
            print(
                f"{name}: built a stream of {length:,} events in "
                f"{time.perf_counter() - started:.1f}s",
                file=sys.stderr,
                flush=True,
            )
        for stream in streams:  # warm up: caches, prepared statements
            for _ in range(5):
                append_timed(c, stream, rng, keep=False)
        for r in range(args.rounds):
            order = streams[r % len(streams) :] + streams[: r % len(streams)]
            for stream in order:
                for _ in range(args.appends):
                    append_timed(c, stream, rng)
            print(
                f"{name} round {r + 1}: "
                + ", ".join(
                    f"{s.length:,} {statistics.median(s.timings['both'][-args.appends :]):.2f} ms"
                    for s in streams
                ),
                file=sys.stderr,
                flush=True,
            )
        if args.profile:
            profiler = cProfile.Profile()
            longest = streams[-1]
            profiler.enable()
            for _ in range(args.appends):
                append_timed(c, longest, rng, keep=False)
            profiler.disable()
            text = io.StringIO()
            pstats.Stats(profiler, stream=text).sort_stats("cumulative").print_stats(40)
            print(
                f"\n== {name}: {args.appends} appends to {longest.length:,} events\n",
                text.getvalue(),
            )
    finally:
        c.close()
    base = streams[0]
    out: dict[str, Any] = {}
    for s in streams:
        row: dict[str, Any] = {"events": s.length + s.count}
        for part in PARTS:
            row[f"{part}_p50_ms"] = round(statistics.median(s.timings[part]), 3)
            row[f"{part}_p90_ms"] = round(p(s.timings[part], 0.9), 3)
            row[f"{part}_ratio"] = round(
                statistics.median(s.timings[part]) / statistics.median(base.timings[part]), 2
            )
        out[str(s.length)] = row
    return out


def show(results: dict[str, dict[str, Any]], lengths: list[int]) -> None:
    print(
        f"{'store':<10}{'stream':>8}"
        + "".join(f"{part + ' p50 / p90':>22}" for part in PARTS)
        + "".join(f"{part + ' ratio':>14}" for part in PARTS)
    )
    for store, rows in results.items():
        for length in lengths:
            r = rows[str(length)]
            print(
                f"{store:<10}{length:>8,}"
                + "".join(
                    f"{r[f'{part}_p50_ms']:>11.2f} / {r[f'{part}_p90_ms']:>6.2f} ms"
                    for part in PARTS
                )
                + "".join(f"{r[f'{part}_ratio']:>14.2f}" for part in PARTS)
            )


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--store", choices=("sqlite", "postgres", "both"), default="both")
    ap.add_argument("--lengths", default="10,1000,10000", help="stream lengths, shortest first")
    ap.add_argument("--appends", type=int, default=20, help="appends per stream and round")
    ap.add_argument("--rounds", type=int, default=10)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument(
        "--mix",
        choices=sorted(MIXES),
        default="dense",
        help="the built streams: 10%% handovers and 10%% renames at every length (dense), or "
        "daily observations with a handover every few years (daily)",
    )
    ap.add_argument("--profile", action="store_true")
    ap.add_argument("--url", default=PG, help="a PostgreSQL database to make a schema in")
    args = ap.parse_args(argv)
    args.lengths = sorted(int(n) for n in args.lengths.split(","))

    results: dict[str, dict[str, Any]] = {}
    if args.store in ("sqlite", "both"):
        with tempfile.TemporaryDirectory(prefix="custody-bench-") as folder:
            results["sqlite"] = run_store("sqlite", f"sqlite:///{folder}/long.db", args)
    if args.store in ("postgres", "both"):
        schema = f"bench_{uuid.uuid4().hex[:10]}"
        with psycopg.connect(args.url, autocommit=True) as conn:
            conn.execute(SQL("CREATE SCHEMA {}").format(Identifier(schema)))
        sep = "&" if "?" in args.url else "?"
        try:
            results["postgres"] = run_store("postgres", f"{args.url}{sep}schema={schema}", args)
        finally:
            with psycopg.connect(args.url, autocommit=True) as conn:
                conn.execute(SQL("DROP SCHEMA {} CASCADE").format(Identifier(schema)))
    show(results, args.lengths)
    report = {"appends": args.appends, "rounds": args.rounds, "mix": args.mix, "stores": results}
    print(json.dumps(report))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Offices at scale (issue 18): the office answer, the handovers answer and a findings page, at
10,000 and 1,000,000 events; and appends beside the code before offices.

    python bench/bench_offices.py                      # both parts, 10k vs 1M (10 to 15 minutes)
    python bench/bench_offices.py --only queries --large-offices 1000   # 10k vs 100k, quicker
    python bench/bench_offices.py --only appends --rounds 24

queries  builds generated office histories through the ledger's batch import (`ledger.batch()`,
         --batch-events a transaction, read models caught up after each, as `custody import`
         does), on PostgreSQL in a schema per scale, and on SQLite at the small scale unless
         --no-sqlite. Per office: a registration and 3 to 5 tenures (sometimes a vacancy); an
         office-owned account whose custody follows the holders (sometimes months late, or
         registered years after the office); 1 or 2 personal accounts of holders, in official
         use during their tenure and for a while after (some handed over to the office); now and
         then a second office account, an archive, a renamed handle taken by a stranger; the
         rest of its ~100 events audience observations. Offices lie in countries and their
         subdivisions: --large-offices / 200 countries (at most 50), so a country holds ~200
         offices at 1M and every office of the small store (--small-offices) at 10k; answers
         have the same size at both scales. Then it times, at the query-service level and over
         HTTP (`custody serve --workers 2`, read-model worker in the supervising process, one
         keep-alive client, one request at a time), in rounds whose order turns over the stores:
           office     QueryService.offices.office_at / GET /v1/offices/{office}?at=
                      (a random office, a random time since its registration);
           handovers  .handovers / GET /v1/offices/{office}/handovers;
           findings   .findings(jurisdiction=, after=, limit=50) / GET /v1/findings?...: a page of
                      50 for a random country, starting at a random office in its first half.
         Targets: p50 <= 5 ms over HTTP at 1M; p50(1M) / p50(10k) <= 1.5.
appends  appends/s of plain account appends (AssignHolder, holder alternating, on 1,000
         pre-registered accounts), of the code before offices (--baseline, 5236a9f, extracted
         with `git archive`) and of this code (--current: `.`, this checkout as it is, or a
         commit), each run in a process of its own that imports only its tree, side by side:
         rounds of --appends appends timed alone (the ledger), then the read models caught up
         timed (`projector.catch_up()`, in-process as an embedded store does); "with read
         models" is appends / (append time + catch-up time). On PostgreSQL, and SQLite unless
         --no-sqlite; the order turns each round; medians. Target: new / old >= 0.9.

The verifiable log is off throughout (`log_enabled=False`): its integration would run behind
the measurements, and none of the answers measured reads it. Schemas, files and servers are
removed at the end (--keep keeps the built stores and prints how to reuse them with --reuse).
--profile N prints cProfile's top entries for N service-level calls of each office query.
"""

from __future__ import annotations

import argparse
import cProfile
import hashlib
import io
import json
import os
import pstats
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.parse
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
from bench_http import Connection, Server, percentile
from psycopg.sql import SQL, Identifier

from api.bootstrap import Container, build
from ledger.application import CustodyLedger
from ledger.commands import (
    Archive,
    ArchiveHistory,
    AssignHolder,
    ChangeOwnership,
    Command,
    EndOfficialUse,
    Holder,
    ObserveAudience,
    RegisterAccount,
    RegisterOffice,
    ReleaseHolder,
    RenameHandle,
    StartOfficialUse,
)
from ledger.domain import office_id
from ledger.oversight import KINDS
from ledger.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
PG = "postgresql://postgres@127.0.0.1:5432/test"
T0 = datetime(2000, 1, 1, tzinfo=UTC)
HORIZON = datetime(2026, 1, 1, tzinfo=UTC)  # every generated event is effective before this
DAY = timedelta(days=1)
COUNTRIES = (
    "PK", "IN", "US", "GB", "FR", "DE", "IT", "ES", "PT", "NL", "BE", "PL", "SE", "NO", "FI",
    "DK", "IE", "AT", "CH", "CZ", "HU", "RO", "GR", "TR", "EG", "NG", "KE", "ZA", "ET", "GH",
    "BR", "AR", "CL", "CO", "PE", "MX", "CA", "AU", "NZ", "JP", "KR", "ID", "MY", "PH", "TH",
    "VN", "BD", "LK", "NP", "SA",
)  # fmt: skip
SUBDIVISIONS = 4  # half of a country's offices lie in one of its subdivisions
OFFICES_PER_COUNTRY = 200
QUERIES = ("office", "handovers", "findings")
BASELINE = "5236a9f"  # the last commit before offices


# -- the generated histories ---------------------------------------------------------------------

Stream = str | uuid.UUID  # an office's key, or an account's id
Step = tuple[Stream, Command]


def account_uuid(office: int, n: int) -> uuid.UUID:
    """A deterministic random-form (version 4) id: the ledger takes only those from callers."""
    digest = hashlib.md5(f"bench-offices/{office}/{n}".encode()).digest()
    return uuid.UUID(bytes=digest, version=4)


def office_key(i: int) -> str:
    return f"office-{i:05d}"


def countries_for(offices: int) -> int:
    return max(1, min(len(COUNTRIES), offices // OFFICES_PER_COUNTRY))


def jurisdiction(i: int, countries: int) -> str:
    country, turn = COUNTRIES[i % countries], i // countries
    return country if turn % 2 == 0 else f"{country}-S{turn // 2 % SUBDIVISIONS + 1}"


def registered_at(i: int, seed: int) -> datetime:
    """An office's registration (the first draw of its generator)."""
    return T0 + DAY * random.Random(seed * 1_000_003 + i).randrange(3650)


@dataclass
class _Account:
    id: uuid.UUID
    registered: datetime
    steps: list[tuple[datetime, int, Command]] = field(default_factory=list)

    def add(self, when: datetime, command: Command) -> None:
        self.steps.append((when, len(self.steps), command))


def office_history(i: int, countries: int, per_office: int, seed: int) -> list[Step]:
    """Office i's stream and its accounts' streams, each in effective order; valid by
    construction (every command passes the ledger's rules)."""
    rng = random.Random(seed * 1_000_003 + i)
    reg = T0 + DAY * rng.randrange(3650)  # registered_at(i) draws the same
    key = office_key(i)
    people = [Holder(id=f"p{i}-{k}", name=f"Person {i}-{k}") for k in range(5)]
    # Tenures [start, end) (end None: in office at the horizon), some with a vacancy after.
    tenures: list[tuple[Holder, datetime, datetime | None]] = []
    office: list[tuple[datetime, Command]] = []
    start = reg
    last = rng.randint(3, 5) - 1
    for k in range(last + 1):
        office.append((start, AssignHolder(holder=people[k], effective_at=start)))
        end = start + DAY * rng.randrange(700, 1800)
        if k == last or end >= HORIZON:
            tenures.append((people[k], start, None))
            break
        tenures.append((people[k], start, end))
        if rng.random() < 0.2:  # vacant for a while
            office.append((end, ReleaseHolder(effective_at=end)))
            end += DAY * rng.randrange(30, 200)
            if end >= HORIZON:
                break
        start = end
    steps: list[Step] = [
        (
            key,
            RegisterOffice(
                office=key,
                name=f"Office {i}",
                jurisdiction=jurisdiction(i, countries),
                effective_at=reg,
            ),
        ),
        *((key, command) for _, command in office),
    ]
    accounts: list[_Account] = []

    def office_account(n: int, platform: str, since: datetime, late: float) -> _Account:
        """An office-owned account whose custody follows the holders (late, sometimes)."""
        acct = _Account(account_uuid(i, n), since)
        acct.add(
            since,
            RegisterAccount(platform=platform, handle=f"o{i}_{n}", office=key, effective_at=since),
        )
        held: str | None = None
        for holder, t_from, t_to in tenures:
            if t_to is not None and t_to <= since:
                continue
            when = max(t_from, since) + DAY * (
                rng.randrange(60, 200) if rng.random() < late else rng.randrange(0, 10)
            )
            if t_to is not None and when >= t_to:
                continue
            acct.add(when, AssignHolder(holder=holder, effective_at=when))
            held = holder.id
            if t_to is not None and not any(t[1] == t_to for t in tenures):  # a vacancy
                acct.add(t_to, ReleaseHolder(effective_at=t_to))
                held = None
        if held is not None and rng.random() < 0.3:  # the last handover's archive
            when = max(tenures[-1][1], since) + DAY * rng.randrange(10, 60)
            if when < HORIZON:
                acct.add(
                    when,
                    ArchiveHistory(
                        archive=Archive(ref=f"https://archive.example/{key}/{n}", items=n + 100),
                        effective_at=when,
                    ),
                )
        return acct

    # The office's own account: from the start, or (a quarter of offices) years later.
    own_since = reg + DAY * (rng.randrange(400, 1500) if rng.random() < 0.25 else rng.randrange(30))
    own = office_account(0, "x", min(own_since, HORIZON - 400 * DAY), late=0.15)
    accounts.append(own)
    if rng.random() < 0.3:  # a second office account, on another platform
        accounts.append(office_account(1, "fb", reg + DAY * rng.randrange(2000), late=0.0))
    # Personal accounts of holders, in official use during their tenure and a while after.
    for n, (holder, t_from, t_to) in enumerate(
        rng.sample(tenures, k=min(len(tenures), rng.choice((1, 1, 2)))), start=2
    ):
        # Half speak for the office from registration; half are older, put to official use.
        at_once = rng.random() < 0.5
        since = t_from if at_once else t_from - DAY * rng.randrange(100, 1000)
        acct = _Account(account_uuid(i, n), since)
        acct.add(
            since,
            RegisterAccount(
                platform="x", handle=f"p{i}_{n}", ownership="personal", owner=holder,
                office=key if at_once else None, effective_at=since,
            ),
        )  # fmt: skip
        if not at_once:
            when = t_from + DAY * rng.randrange(60)
            acct.add(when, StartOfficialUse(office=key, effective_at=when))
        if t_to is not None:
            when = t_to + DAY * rng.randrange(0, 120)
            if when < HORIZON and rng.random() < 0.15:  # handed over to the office
                acct.add(when, ChangeOwnership(ownership="office", office=key, effective_at=when))
            elif when < HORIZON and rng.random() < 0.7:
                acct.add(when, EndOfficialUse(effective_at=when))
        accounts.append(acct)
    if rng.random() < 0.05:  # the office account is renamed; a stranger takes its old handle
        when = own.registered + DAY * rng.randrange(100, 1000)
        if when < HORIZON - 400 * DAY:
            own.add(when, RenameHandle(handle=f"o{i}_0_new", effective_at=when))
            taken = when + DAY * rng.randrange(10, 300)
            stranger = _Account(account_uuid(i, 9), taken)
            stranger.add(
                taken,
                RegisterAccount(
                    platform="x", handle=f"o{i}_0", ownership="personal",
                    owner=Holder(id=f"stranger{i}", name=f"Stranger {i}"), effective_at=taken,
                ),
            )  # fmt: skip
            accounts.append(stranger)
    # The rest: audience observations, spread over the accounts' lives.
    budget = per_office + rng.randrange(-per_office // 5, per_office // 5 + 1)
    budget -= len(steps) + sum(len(a.steps) for a in accounts)
    for _ in range(max(budget, 0)):
        acct = rng.choice(accounts)
        span = (HORIZON - acct.registered).days
        when = acct.registered + DAY * rng.randrange(1, max(span, 2))
        followers = rng.randrange(10_000) * rng.choice((1, 10, 100, 1000))
        acct.add(when, ObserveAudience(followers=followers, effective_at=when))
    for acct in accounts:
        acct.steps.sort(key=lambda s: (s[0], s[1]))
        steps += [(acct.id, command) for _, _, command in acct.steps]
    return steps


def stage(ledger: CustodyLedger, steps: list[Step]) -> int:
    """Stage `steps` in one batch and write it (one transaction); return events written."""
    with ledger.batch() as batch:
        ledger.prefetch(
            batch,
            (
                (office_id(s) if isinstance(s, str) else s, c)
                for s, c in steps
                if isinstance(c, RegisterAccount | RegisterOffice)
            ),
        )
        for stream, command in steps:
            if isinstance(stream, str):
                if isinstance(command, RegisterOffice):
                    ledger.register_office(command, actor="bench", batch=batch)
                else:
                    ledger.append_office(stream, command, actor="bench", batch=batch)  # type: ignore[arg-type]
            elif isinstance(command, RegisterAccount):
                ledger.register_account(command, actor="bench", account_id=stream, batch=batch)
            else:
                ledger.append(stream, command, actor="bench", batch=batch)  # type: ignore[arg-type]
    return len(batch.records)


def settings(url: str) -> Settings:
    return Settings(database_url=url, log_enabled=False)


def build_store(
    url: str, offices: int, countries: int, args: argparse.Namespace, label: str
) -> dict[str, float]:
    """Import `offices` offices' histories in batches of about --batch-events events, the read
    models caught up after each batch; return events, seconds and the rates."""
    container = build(settings(url))
    ledger, projector = container.ledger, container.projector
    events = 0
    stage_s = project_s = 0.0
    started = time.perf_counter()
    pending: list[Step] = []
    try:
        for i in range(offices + 1):
            if i < offices:
                pending += office_history(i, countries, args.events_per_office, args.seed)
            if pending and (len(pending) >= args.batch_events or i == offices):
                t = time.perf_counter()
                events += stage(ledger, pending)
                t2 = time.perf_counter()
                projector.catch_up()
                stage_s += t2 - t
                project_s += time.perf_counter() - t2
                pending = []
                if sys.stderr.isatty() or i % max(offices // 10, 1) < 100:
                    print(
                        f"{label}: {i}/{offices} offices, {events:,} events, "
                        f"{events / (time.perf_counter() - started):,.0f}/s",
                        file=sys.stderr,
                        flush=True,
                    )
        assert projector.lag() == 0
    finally:
        container.close()
    seconds = time.perf_counter() - started
    return {
        "events": events,
        "seconds": round(seconds, 1),
        "events_per_s": round(events / seconds),
        "write_us_per_event": round(stage_s * 1e6 / events, 1),
        "project_us_per_event": round(project_s * 1e6 / events, 1),
    }


# -- one store under measurement -----------------------------------------------------------------


@dataclass
class Store:
    """A built store: its URL, its container (service level) and its server (HTTP)."""

    label: str  # "pg 10k", ...
    url: str
    offices: int
    countries: int
    seed: int
    container: Container | None = None
    server: Server | None = None
    client: Connection | None = None

    def open(self, folder: Path, workers: int) -> None:
        self.container = build(settings(self.url))
        token = self.container.access.issue(f"bench-offices-{uuid.uuid4().hex[:6]}", "admin")
        sqlite = self.url.startswith("sqlite")
        log = folder / f"serve-{self.label.replace(' ', '-')}.log"
        os.environ["CUSTODY_LOG_ENABLED"] = "false"  # the server's settings, from its env
        self.server = Server(self.url, log, 1 if sqlite else workers)
        self.server.wait_ready()
        self.client = Connection(self.server.base_url, {"Authorization": f"Bearer {token}"})

    def close(self) -> None:
        if self.client is not None:
            self.client.sock.close()
        if self.server is not None:
            self.server.stop()
        if self.container is not None:
            self.container.close()

    def samples(self, n: int, rng: random.Random) -> list[tuple[str, dict[str, Any]]]:
        """n requests of each query, interleaved: (query, its arguments)."""
        out: list[tuple[str, dict[str, Any]]] = []
        by_country: dict[int, list[int]] = {}
        for i in range(self.offices):
            by_country.setdefault(i % self.countries, []).append(i)
        for _ in range(n):
            i = rng.randrange(self.offices)
            since = registered_at(i, self.seed)
            at = since + (HORIZON - since) * rng.random()
            out.append(("office", {"office": office_key(i), "at": at}))
            out.append(("handovers", {"office": office_key(i)}))
            c = rng.randrange(self.countries)
            first_half = by_country[c][: max(len(by_country[c]) // 2, 1)]
            start = office_key(rng.choice(first_half))
            out.append(("findings", {"jurisdiction": COUNTRIES[c], "after": first_of(start)}))
        return out

    def call(self, query: str, a: dict[str, Any]) -> int:
        """The query at the service level; the size of its answer (accounts, handovers,
        findings)."""
        assert self.container is not None
        offices = self.container.queries.offices
        if query == "office":
            return len(offices.office_at(a["office"], a["at"]).accounts)
        if query == "handovers":
            return len(offices.handovers(a["office"]).handovers)
        return len(
            offices.findings(jurisdiction=a["jurisdiction"], after=a["after"], limit=50).findings
        )

    def get(self, query: str, a: dict[str, Any]) -> int:
        """The query over HTTP; the response's size in bytes."""
        assert self.client is not None
        if query == "office":
            path, params = f"/v1/offices/{a['office']}", {"at": a["at"].isoformat()}
        elif query == "handovers":
            path, params = f"/v1/offices/{a['office']}/handovers", {}
        else:
            path = "/v1/findings"
            params = {"jurisdiction": a["jurisdiction"], "after": a["after"], "limit": "50"}
        status, body = self.client.request(
            "GET", f"{path}?{urllib.parse.urlencode(params)}" if params else path
        )
        if status != 200:
            raise RuntimeError(f"{self.label}: GET {path}: {status} {body[:300]!r}")
        return len(body)


def first_of(office: str) -> str:
    """A findings cursor just before the office's first finding."""
    return f"{office}/0/{KINDS[0]}/{'0' * 32}"


def measure(stores: list[Store], args: argparse.Namespace) -> dict[str, Any]:
    """Rounds over the stores, the order turning; per store, level and query: every latency."""
    rng = random.Random(args.seed + 1)
    lat: dict[str, dict[str, dict[str, list[float]]]] = {
        s.label: {lv: {q: [] for q in QUERIES} for lv in ("service", "http")} for s in stores
    }
    sizes: dict[str, dict[str, list[int]]] = {s.label: {q: [] for q in QUERIES} for s in stores}
    for s in stores:  # warm up: connections, prepared statements, caches
        for q, a in s.samples(20, rng):
            s.call(q, a)
            s.get(q, a)
    for r in range(args.rounds):
        order = stores[r % len(stores) :] + stores[: r % len(stores)]
        for s in order:
            for level, run in (("service", s.call), ("http", s.get)):
                for q, a in s.samples(args.samples, rng):
                    t = time.perf_counter()
                    size = run(q, a)
                    lat[s.label][level][q].append((time.perf_counter() - t) * 1000)
                    if level == "service":
                        sizes[s.label][q].append(size)
        print(
            f"round {r + 1}: "
            + "; ".join(
                f"{s.label} "
                + " ".join(
                    f"{q} {statistics.median(lat[s.label]['http'][q][-args.samples :]):.1f}"
                    for q in QUERIES
                )
                for s in stores
            )
            + " (HTTP p50 ms this round)",
            file=sys.stderr,
            flush=True,
        )
    out: dict[str, Any] = {}
    for s in stores:
        out[s.label] = {
            level: {
                q: {
                    "p50_ms": round(statistics.median(v), 3),
                    "p99_ms": round(percentile(sorted(v), 0.99), 3),
                    "p50_ms_rounds": [
                        round(statistics.median(v[k : k + args.samples]), 2)
                        for k in range(0, len(v), args.samples)
                    ],
                    "samples": len(v),
                }
                for q, v in lat[s.label][level].items()
            }
            for level in ("service", "http")
        }
        out[s.label]["answer_size"] = {q: statistics.mean(v) for q, v in sizes[s.label].items()}
    return out


def profile(store: Store, n: int, seed: int) -> None:
    """cProfile's top entries for n service-level calls of each query."""
    rng = random.Random(seed + 2)
    work = store.samples(n, rng)
    for query in QUERIES:
        prof = cProfile.Profile()
        calls = [a for q, a in work if q == query]
        prof.enable()
        for a in calls:
            store.call(query, a)
        prof.disable()
        text = io.StringIO()
        stats = pstats.Stats(prof, stream=text).strip_dirs()
        stats.sort_stats("cumulative").print_stats(25)
        stats.sort_stats("tottime").print_stats(20)
        print(f"\n== profile of {query} on {store.label}, {n} calls\n{text.getvalue()}")


# -- appends, old code and new side by side ---------------------------------------------------

DRIVER = r"""
import json, sys, time
from datetime import UTC, datetime, timedelta
from api.bootstrap import build
from ledger.commands import AssignHolder, Holder, RegisterAccount
from ledger.settings import Settings
import ledger

args = json.loads(sys.argv[1])
c = build(Settings(database_url=args["url"], log_enabled=False))
start = datetime(2020, 1, 1, tzinfo=UTC)
holders = (Holder(id="alice", name="Alice Example"), Holder(id="bob", name="Bob Example"))
accounts = [
    c.ledger.register_account(
        RegisterAccount(platform="bench", handle=f"acct{i}", office=f"office-{i}",
                        effective_at=start),
        actor="bench",
    ).account_id
    for i in range(args["accounts"])
]
c.projector.catch_up()
count = 0

def run(n):
    global count
    append, width = c.ledger.append, len(accounts)
    cpu, t = time.process_time(), time.perf_counter()
    for k in range(count, count + n):
        i, turn = divmod(k, width)
        append(accounts[turn], AssignHolder(holder=holders[i % 2],
               effective_at=start + timedelta(seconds=k + 1), reason="bench"), actor="bench")
    t2, cpu2 = time.perf_counter(), time.process_time()
    applied = c.projector.catch_up()
    t3, cpu3 = time.perf_counter(), time.process_time()
    count += n
    assert applied == n, (applied, n)
    return {"append_s": t2 - t, "project_s": t3 - t2, "append_cpu": cpu2 - cpu,
            "project_cpu": cpu3 - cpu2}

run(min(len(accounts), 200))  # warm up: caches, prepared statements
print(json.dumps({"ready": ledger.__file__}), flush=True)
for line in sys.stdin:
    print(json.dumps(run(int(line))), flush=True)
c.close()
"""


class Driver:
    """One code tree's ledger in a process of its own, appending when told."""

    def __init__(self, tree: Path, url: str, accounts: int) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith("CUSTODY_")}
        env["PYTHONPATH"] = str(tree)
        spec = json.dumps({"url": url, "accounts": accounts})
        self.process = subprocess.Popen(
            [sys.executable, "-c", DRIVER, spec],
            cwd=tree,
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        ready = self._read()
        if not str(ready["ready"]).startswith(str(tree)):
            raise RuntimeError(f"the driver for {tree} imported {ready['ready']}")

    def _read(self) -> dict[str, Any]:
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        if not line:
            raise RuntimeError(f"a driver exited ({self.process.wait()})")
        return json.loads(line)  # type: ignore[no-any-return]

    def run(self, n: int) -> dict[str, float]:
        assert self.process.stdin is not None
        self.process.stdin.write(f"{n}\n")
        self.process.stdin.flush()
        return self._read()

    def close(self) -> None:
        if self.process.stdin is not None:
            self.process.stdin.close()
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def extract(ref: str, folder: Path, repo: Path) -> Path:
    """The tree of commit `ref` of `repo` (`.`: this checkout as it is), as a folder to import
    from."""
    if ref == ".":
        return ROOT
    tree = folder / f"tree-{ref}"
    tree.mkdir()
    archive = subprocess.run(
        ["git", "-C", str(repo), "archive", ref], check=True, capture_output=True
    ).stdout
    subprocess.run(["tar", "-x", "-C", str(tree)], input=archive, check=True)
    return tree


def bench_appends(args: argparse.Namespace, folder: Path, schemas: list[str]) -> dict[str, Any]:
    trees = {
        "old": extract(args.baseline, folder, args.repo),
        "new": extract(args.current, folder, args.repo),
    }
    stores = ["pg"] + ([] if args.no_sqlite else ["sqlite"])
    drivers: dict[str, Driver] = {}
    try:
        for version, tree in trees.items():
            for store in stores:
                if store == "pg":
                    url = new_schema(args.url, f"bench_off_{version}", schemas)
                else:
                    url = f"sqlite:///{folder}/appends-{version}.db"
                drivers[f"{version} {store}"] = Driver(tree, url, args.append_accounts)
        results: dict[str, list[dict[str, float]]] = {name: [] for name in drivers}
        names = list(drivers)
        for r in range(args.rounds):
            order = names[r % len(names) :] + names[: r % len(names)]
            for name in order:
                results[name].append(drivers[name].run(args.appends))
            print(
                f"round {r + 1}: "
                + ", ".join(
                    f"{n} {args.appends / results[n][-1]['append_s']:.0f}/s "
                    f"({args.appends / (results[n][-1]['append_s'] + results[n][-1]['project_s']):.0f}/s"
                    " with read models)"
                    for n in names
                ),
                file=sys.stderr,
                flush=True,
            )
    finally:
        for d in drivers.values():
            d.close()
    n = args.appends
    out: dict[str, Any] = {"trees": {k: str(v) for k, v in trees.items()}}
    for store in stores:
        per: dict[str, dict[str, Any]] = {}
        for version in ("old", "new"):
            rs = results[f"{version} {store}"]
            alone = [n / x["append_s"] for x in rs]
            both = [n / (x["append_s"] + x["project_s"]) for x in rs]
            per[version] = {
                "appends_per_s": round(statistics.median(alone)),
                "with_read_models_per_s": round(statistics.median(both)),
                "append_range": [round(min(alone)), round(max(alone))],
                "with_read_models_range": [round(min(both)), round(max(both))],
                "append_cpu_us": round(statistics.median(x["append_cpu"] for x in rs) * 1e6 / n),
                "project_cpu_us": round(statistics.median(x["project_cpu"] for x in rs) * 1e6 / n),
            }
        old, new = results[f"old {store}"], results[f"new {store}"]
        out[store] = {
            **per,
            "ratio_appends": round(per["new"]["appends_per_s"] / per["old"]["appends_per_s"], 3),
            "ratio_with_read_models": round(
                per["new"]["with_read_models_per_s"] / per["old"]["with_read_models_per_s"], 3
            ),
            # Adjacent in each round: a slow spell of the machine cancels out of these.
            "ratio_appends_paired": round(
                statistics.median(
                    o["append_s"] / w["append_s"] for o, w in zip(old, new, strict=True)
                ),
                3,
            ),
            "ratio_with_read_models_paired": round(
                statistics.median(
                    (o["append_s"] + o["project_s"]) / (w["append_s"] + w["project_s"])
                    for o, w in zip(old, new, strict=True)
                ),
                3,
            ),
        }
    return out


# -- the run ----------------------------------------------------------------------------------


def new_schema(url: str, prefix: str, schemas: list[str]) -> str:
    schema = f"{prefix}_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(SQL("CREATE SCHEMA {}").format(Identifier(schema)))
    schemas.append(schema)
    return f"{url}{'&' if '?' in url else '?'}schema={schema}"


def analyse(url: str) -> None:
    """ANALYZE the schema's tables, as autovacuum would in time after a bulk load."""
    base, _, query = url.partition("?")
    schema = urllib.parse.parse_qs(query)["schema"][0]
    with psycopg.connect(base, autocommit=True) as conn:
        tables = conn.execute(
            "SELECT tablename FROM pg_tables WHERE schemaname = %s", (schema,)
        ).fetchall()
        for (table,) in tables:
            conn.execute(SQL("ANALYZE {}").format(Identifier(schema, table)))


def built(
    args: argparse.Namespace, label: str, url: str, offices: int, countries: int,
    reuse: bool, report: dict[str, Any],
) -> Store:  # fmt: skip
    if not reuse:
        report.setdefault("build", {})[label] = build_store(url, offices, countries, args, label)
        print(f"{label}: built {report['build'][label]}", file=sys.stderr, flush=True)
    if url.startswith("postgresql"):
        analyse(url)
    return Store(label, url, offices, countries, args.seed)


def show(report: dict[str, Any]) -> None:
    q = report.get("queries")
    if q:
        print("\noffice answers, p50 / p99 in ms (service level | HTTP, one client)")
        labels = list(q)
        print(f"{'query':<11}" + "".join(f"{label:>32}" for label in labels))
        for query in QUERIES:
            cells = []
            for label in labels:
                sv, ht = q[label]["service"][query], q[label]["http"][query]
                cells.append(
                    f"{sv['p50_ms']:6.2f} /{sv['p99_ms']:6.2f} | {ht['p50_ms']:6.2f} /{ht['p99_ms']:6.2f}"
                )
            print(f"{query:<11}" + "".join(f"{c:>32}" for c in cells))
        for name, ratio in report.get("ratios", {}).items():
            print(
                f"p50 ratio large/small {name}: "
                + ", ".join(f"{k} {v:.2f}" for k, v in ratio.items())
            )
    a = report.get("appends")
    if a:
        print("\nappends/s, old code (before offices) vs new, medians of rounds")
        for store in ("pg", "sqlite"):
            if store in a:
                s = a[store]
                print(
                    f"{store}: ledger old {s['old']['appends_per_s']}, new {s['new']['appends_per_s']}"
                    f" (x{s['ratio_appends']}, paired x{s['ratio_appends_paired']}); with read "
                    f"models old {s['old']['with_read_models_per_s']}, new "
                    f"{s['new']['with_read_models_per_s']} (x{s['ratio_with_read_models']}, paired "
                    f"x{s['ratio_with_read_models_paired']}); CPU us/append old "
                    f"{s['old']['append_cpu_us']}+{s['old']['project_cpu_us']}, new "
                    f"{s['new']['append_cpu_us']}+{s['new']['project_cpu_us']}"
                )
    print(json.dumps(report))


def bench_queries(
    args: argparse.Namespace, folder: Path, schemas: list[str], stores: list[Store],
    report: dict[str, Any],
) -> dict[str, Any]:  # fmt: skip
    """Build (or reuse) the stores of each scale, serve them, and time the office answers;
    the p50 ratios large/small go into `report`. `stores` collects what is opened."""
    reuse = dict(r.split("=", 1) for r in args.reuse)
    scales = {"small": args.small_offices, "large": args.large_offices}
    for scale, offices in scales.items():
        if args.scale not in (scale, "both"):
            continue
        for kind in ["pg"] + ([] if args.no_sqlite or scale == "large" else ["sqlite"]):
            label = f"{kind} {scale}"
            if label in reuse:
                url = reuse[label]
            elif kind == "pg":
                url = new_schema(args.url, f"bench_off_{scale}", schemas)
            else:
                url = f"sqlite:///{folder}/{scale}.db"
            stores.append(
                built(args, label, url, offices, countries_for(offices), label in reuse, report)
            )
    for s in stores:
        s.open(folder, args.workers)
    for s in stores if args.profile else []:
        profile(s, args.profile, args.seed)
    q = measure(stores, args)
    for kind in ("pg", "sqlite"):
        small, large = q.get(f"{kind} small"), q.get(f"{kind} large")
        if small and large:
            report.setdefault("ratios", {})[kind] = {
                f"{level} {query}": large[level][query]["p50_ms"] / small[level][query]["p50_ms"]
                for level in ("service", "http")
                for query in QUERIES
            }
    return q


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--only", choices=("queries", "appends"), help="run one part")
    ap.add_argument("--scale", choices=("small", "large", "both"), default="both")
    ap.add_argument("--small-offices", type=int, default=100, help="offices at the small scale")
    ap.add_argument("--large-offices", type=int, default=10_000, help="offices at the large scale")
    ap.add_argument("--events-per-office", type=int, default=100)
    ap.add_argument("--batch-events", type=int, default=10_000, help="events per import batch")
    ap.add_argument("--rounds", type=int, default=8, help="rounds of each part")
    ap.add_argument("--samples", type=int, default=60, help="per query, store, level and round")
    ap.add_argument("--workers", type=int, default=2, help="`custody serve --workers`")
    ap.add_argument("--no-sqlite", action="store_true", help="PostgreSQL only")
    ap.add_argument("--appends", type=int, default=400, help="appends per round and target")
    ap.add_argument("--append-accounts", type=int, default=1000)
    ap.add_argument("--baseline", default=BASELINE, help="the commit before offices")
    ap.add_argument("--current", default=".", help="`.` (this checkout as it is) or a commit")
    ap.add_argument("--repo", type=Path, default=ROOT, help="the git repository of the commits")
    ap.add_argument("--profile", type=int, default=0, help="cProfile N calls of each query")
    ap.add_argument("--keep", action="store_true", help="keep the built stores")
    ap.add_argument(
        "--reuse", action="append", default=[], metavar="LABEL=URL",
        help="measure a store built by an earlier --keep run instead of building it",
    )  # fmt: skip
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--url", default=PG, help="a database the script may create schemas in")
    args = ap.parse_args(argv)

    schemas: list[str] = []
    folder = Path(tempfile.mkdtemp(prefix="custody-bench-offices-"))
    stores: list[Store] = []
    report: dict[str, Any] = {
        "events_per_office": args.events_per_office,
        "small_offices": args.small_offices,
        "large_offices": args.large_offices,
    }
    try:
        if args.only in (None, "queries"):
            report["queries"] = bench_queries(args, folder, schemas, stores, report)
        if args.only in (None, "appends"):
            report["appends"] = bench_appends(args, folder, schemas)
    finally:
        for s in stores:
            s.close()
        kept = args.keep and args.only != "appends"
        if kept:
            for s in stores:
                print(f"kept: --reuse '{s.label}={s.url}'", file=sys.stderr)
        with psycopg.connect(args.url, autocommit=True) as conn:
            for schema in schemas:
                if kept and schema.startswith(("bench_off_small", "bench_off_large")):
                    continue
                conn.execute(SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(Identifier(schema)))
        if not kept:
            shutil.rmtree(folder, ignore_errors=True)
        show(report)  # what was measured, even if a later part failed
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""HTTP benchmark (issue 4): appends/s and query latency through `custody serve` on PostgreSQL.

    python bench/bench_http.py                    # 1,000,000 events (100,000 accounts)
    python bench/bench_http.py --accounts 2000    # a quick end-to-end check (20,000 events)

In its own PostgreSQL schema it bulk-loads generated custody histories (bench_queries.load,
10 events per account), rebuilds the read models, issues an admin token and starts
`python -m api.cli serve` (read-model worker in-process, as deployed on one node) on a free
loopback port. Then, in rounds whose order rotates so a noisy spell of the machine hits all
three alike, it measures
  library      CustodyLedger.append(AssignHolder(...)) in this process, one after another, on
               its own share of the loaded accounts (the library-level append rate);
  http append  the same count of POST /v1/accounts/{id}/events (holder_assigned) from --clients
               processes at once, each on its own accounts, over one keep-alive connection;
  raw insert   the same count of single-row INSERT transactions (a row of an append's size,
               one commit each) from the same client processes, each on a connection of its
               own: what the database alone does, the baseline issue 22 sets HTTP appends
               against (target >= 0.5x);
  queries      GET /v1/handles/x/acct{n}?at=&known_at= and GET /v1/accounts/{id}?at= from
               --clients processes at once (closed loop: each sends its next request when the
               last is answered), on random loaded accounts at a valid time where the answer
               exists (every answer a 200 with a body), timing each request.
Holders alternate on each account and effective_at increases, so every append is a real
handover checked against the account's rules. After each phase it waits until /health shows
the read models at the log head (reported: the projection backlog a write phase leaves), so
no phase pays for the projection of another's writes (it does pay for what the server projects
while it runs) and reads never wait for it.

It prints the median over rounds of appends/s, their ratio (also the median of per-round
ratios), p50/p99 over all requests of each query (and the median of per-round p99s), as a
table and one JSON line. The schema is dropped and the server stopped at the end.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.parse
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from multiprocessing.queues import Queue
from multiprocessing.synchronize import Barrier
from pathlib import Path
from typing import Any

import httpx
import psycopg
from bench_queries import EVENTS_PER_ACCOUNT, PG, T0, history, load
from psycopg.sql import SQL, Identifier

from api.bootstrap import Container, build
from ledger.commands import AssignHolder, Holder
from ledger.settings import Settings
from projections.rebuild import Rebuilder

ROOT = Path(__file__).resolve().parent.parent
HOLDERS = (Holder(id="alice", name="Alice Example"), Holder(id="bob", name="Bob Example"))
START = datetime(2030, 1, 1, tzinfo=UTC)  # after every loaded event's effective_at
LOADED_AT = datetime(2026, 1, 1, tzinfo=UTC)  # bench_queries.load records from here
LOAD_SEED = 7  # bench_queries.load's default seed
HORIZON = T0 + timedelta(days=6000)  # bench_queries draws valid times up to here
TOKEN_NAME = "bench-http"
RAW_TABLE = "bench_raw_inserts"
QUERIES = ("handle_at", "account_at")
PHASE_TIMEOUT = 600.0  # seconds any one phase may take before the run is abandoned
REQUEST_TIMEOUT = 30.0


def account_id(n: int) -> uuid.UUID:
    """The id bench_queries.load gives loaded account n (its handle is f"acct{n}")."""
    return uuid.uuid5(uuid.NAMESPACE_URL, f"bench-account-{n}")


def spans(accounts: int) -> list[tuple[float, float, float]]:
    """Per loaded account, as POSIX seconds: its registration, and when its first handle
    (f"acct{n}") stopped being carried (its first rename; HORIZON if never renamed). Replays
    bench_queries.load's generator with the same seed, in the same order."""
    rng = random.Random(LOAD_SEED)
    out = []
    for n in range(accounts):
        events = list(history(n, rng, LOADED_AT))
        registered = events[0][2]
        renamed = next((e[2] for e in events if e[0] == "handle_renamed"), HORIZON)
        out.append((registered.timestamp(), min(renamed, HORIZON).timestamp(), HORIZON.timestamp()))
    return out


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a process and its live descendants so far (Linux /proc),
    so `custody serve --workers N` is counted with its worker processes."""
    stats: dict[int, tuple[int, float]] = {}  # pid -> (parent pid, CPU seconds)
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    fields = f.read().rsplit(")", 1)[1].split()
            except OSError:
                continue  # exited meanwhile
            cpu = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
            stats[int(entry)] = (int(fields[1]), cpu)
    total, todo = 0.0, [pid]
    while todo:
        current = todo.pop()
        total += stats.get(current, (0, 0.0))[1]
        todo += [child for child, (parent, _) in stats.items() if parent == current]
    return total


def percentile(sorted_values: list[float], share: float) -> float:
    """Nearest-rank percentile of an ascending list."""
    index = max(int(len(sorted_values) * share + 0.999999) - 1, 0)
    return sorted_values[min(index, len(sorted_values) - 1)]


# -- the appenders -----------------------------------------------------------------------------


class Appends:
    """The k-th append goes to accounts[k % width], holder alternating per pass over them,
    effective_at START + k + 1 seconds: a handover on every append, each later than the last."""

    def __init__(self, accounts: list[uuid.UUID]) -> None:
        self.accounts = accounts
        self.count = 0

    def take(self, n: int) -> list[tuple[uuid.UUID, Holder, datetime]]:
        width = len(self.accounts)
        out = []
        for k in range(self.count, self.count + n):
            passes, turn = divmod(k, width)
            out.append((self.accounts[turn], HOLDERS[passes % 2], START + timedelta(seconds=k + 1)))
        self.count += n
        return out


def library_appends(container: Container, appends: Appends, n: int) -> tuple[float, float]:
    """Appends per second through the library, in this process, and this process's CPU
    seconds."""
    append = container.ledger.append
    work = [
        (aid, AssignHolder(holder=holder, effective_at=when, reason="bench"))
        for aid, holder, when in appends.take(n)
    ]
    cpu, started = time.process_time(), time.perf_counter()
    for aid, command in work:
        append(aid, command, actor="bench")
    return n / (time.perf_counter() - started), time.process_time() - cpu


# -- the HTTP client processes -----------------------------------------------------------------


def raw_inserts(
    conn: psycopg.Connection[Any], schema: str, appends: Appends, n: int
) -> dict[str, Any]:
    """n single-row INSERT transactions (autocommit: a commit each) of the body an HTTP append
    sends, on a connection of their own."""
    query = SQL("INSERT INTO {} (account, body) VALUES (%s, %s)").format(
        Identifier(schema, RAW_TABLE)
    )
    work = [(aid, json.dumps(append_body(holder, when))) for aid, holder, when in appends.take(n)]
    cpu, started = time.process_time(), time.perf_counter()
    for aid, body in work:
        conn.execute(query, (aid, body), prepare=True)
    ended = time.perf_counter()
    return {"started": started, "ended": ended, "cpu": time.process_time() - cpu, "n": n}


def append_body(holder: Holder, when: datetime) -> dict[str, Any]:
    return {
        "type": "holder_assigned",
        "holder": holder.model_dump(mode="json"),
        "effective_at": when.isoformat(),
        "reason": "bench",
    }


def client_main(
    index: int,
    base_url: str,
    database: tuple[str, str],
    token: str,
    own: list[int],
    when: list[tuple[float, float, float]],
    seed: int,
    barrier: Barrier,
    tasks: Queue[tuple[str, int] | None],
    results: Queue[dict[str, Any]],
) -> None:
    """One client process: runs the tasks it is given on one keep-alive connection."""
    appends = Appends([account_id(n) for n in own])
    # The raw phase has a counter of its own: taking its rows from `appends` would shift the
    # holders' alternation, and the next HTTP append would hand an account to its holder.
    raw = Appends([account_id(n) for n in own])
    rng = random.Random(seed)
    headers = {"Authorization": f"Bearer {token}"}
    conninfo, schema = database
    with Connection(base_url, headers) as client, psycopg.connect(conninfo, autocommit=True) as db:
        while True:
            task = tasks.get(timeout=PHASE_TIMEOUT)
            if task is None:
                return
            kind, n = task
            try:
                barrier.wait(timeout=PHASE_TIMEOUT)
                if kind == "append":
                    report = http_appends(client, appends, n)
                elif kind == "raw":
                    report = raw_inserts(db, schema, raw, n)
                else:
                    report = http_queries(client, rng, when, n)
            except Exception as e:  # reported to the parent, which stops the run
                report = {"error": f"{type(e).__name__}: {e}"}
            results.put({"client": index, **report})


class Connection:
    """One keep-alive HTTP/1.1 connection on a plain socket: a load generator should spend as
    little CPU as it can on a machine it shares with the server, whose two cores the clients'
    CPU is taken from. Client CPU per append request, building the body included, in this
    script's runs here: httpx about 1.2 ms, http.client about 0.4 ms, this about 0.15 ms. It
    speaks only what `custody serve` answers: a status line, headers and a body of
    Content-Length bytes, on a kept-alive connection; anything else is an error."""

    def __init__(self, base_url: str, headers: dict[str, str]) -> None:
        parts = urllib.parse.urlsplit(base_url)
        self.address = (parts.hostname or "127.0.0.1", parts.port or 80)
        self.headers = f"Host: {self.address[0]}:{self.address[1]}\r\n" + "".join(
            f"{name}: {value}\r\n" for name, value in headers.items()
        )
        self.sock = self._connect()
        self.unread = b""  # bytes received past the last response
        self.used = time.monotonic()

    def _connect(self) -> socket.socket:
        sock = socket.create_connection(self.address, timeout=REQUEST_TIMEOUT)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return sock

    def _reopen_if_idle(self) -> None:
        """uvicorn closes a connection idle for 5 s (between phases): reconnect after 2 s idle
        rather than race it."""
        if time.monotonic() - self.used > 2.0:
            self.sock.close()
            self.sock, self.unread = self._connect(), b""

    def __enter__(self) -> Connection:
        return self

    def __exit__(self, *exc: object) -> None:
        self.sock.close()

    def request(self, method: str, path: str, body: bytes | None = None) -> tuple[int, bytes]:
        self._reopen_if_idle()
        head = f"{method} {path} HTTP/1.1\r\n{self.headers}"
        if body is not None:
            head += f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n"
        self.sock.sendall(head.encode("latin-1") + b"\r\n" + (body or b""))
        return self._response()

    def post(self, path: str, payload: Any) -> tuple[int, bytes]:
        return self.request("POST", path, json.dumps(payload).encode())

    def get(self, path: str, params: dict[str, str]) -> tuple[int, bytes]:
        return self.request("GET", f"{path}?{urllib.parse.urlencode(params)}")

    def _response(self) -> tuple[int, bytes]:
        data = self.unread
        while (end := data.find(b"\r\n\r\n")) < 0:
            data += self._recv()
        status_line, *lines = data[:end].decode("latin-1").split("\r\n")
        version, status = status_line.split(" ", 2)[:2]  # the reason phrase is optional
        length = None
        for line in lines:
            name, _, value = line.partition(":")
            name = name.lower()
            if name == "content-length":
                length = int(value)
            elif name == "transfer-encoding" or (name == "connection" and "close" in value):
                raise RuntimeError(f"unexpected response header {line!r}")
        if version != "HTTP/1.1" or length is None:
            raise RuntimeError(f"unexpected response {status_line!r} (Content-Length {length})")
        start = end + 4
        while len(data) < start + length:
            data += self._recv()
        self.unread = data[start + length :]
        self.used = time.monotonic()
        return int(status), data[start : start + length]

    def _recv(self) -> bytes:
        chunk = self.sock.recv(65536)
        if not chunk:
            raise ConnectionError("the server closed the connection")
        return chunk


def http_appends(client: Connection, appends: Appends, n: int) -> dict[str, Any]:
    work = [
        (f"/v1/accounts/{aid}/events", append_body(holder, when))
        for aid, holder, when in appends.take(n)
    ]
    cpu, started = time.process_time(), time.perf_counter()
    for path, body in work:
        status, text = client.post(path, body)
        if status != 201:
            return {"error": f"POST {path}: {status} {text[:500]!r}"}
    ended = time.perf_counter()
    return {"started": started, "ended": ended, "cpu": time.process_time() - cpu, "n": n}


def http_queries(
    client: Connection, rng: random.Random, when: list[tuple[float, float, float]], n: int
) -> dict[str, Any]:
    """n requests on random loaded accounts, the two queries alternating. Valid time is drawn
    where the answer exists (the handle: between registration and first rename; the account:
    after registration), so each answer is a 200 with a body; record time for the handle query
    as bench_queries draws it (streams were recorded within their first 8 seconds, so partly
    known at the earliest of these times)."""
    work: list[tuple[str, str, dict[str, str]]] = []
    for i in range(n):
        k = rng.randrange(len(when))
        registered, renamed, horizon = when[k]
        if i % 2 == 0:
            at = datetime.fromtimestamp(rng.uniform(registered, renamed), UTC).isoformat()
            known = (LOADED_AT + timedelta(seconds=rng.randrange(len(when) + 10))).isoformat()
            work.append(("handle_at", f"/v1/handles/x/acct{k}", {"at": at, "known_at": known}))
        else:
            at = datetime.fromtimestamp(rng.uniform(registered, horizon), UTC).isoformat()
            work.append(("account_at", f"/v1/accounts/{account_id(k)}", {"at": at}))
    latencies: dict[str, list[float]] = {name: [] for name in QUERIES}
    statuses: dict[str, int] = {}
    cpu, started = time.process_time(), time.perf_counter()
    for name, path, params in work:
        t = time.perf_counter()
        status, text = client.get(path, params)
        latencies[name].append((time.perf_counter() - t) * 1000)
        key = f"{name} {status}"
        statuses[key] = statuses.get(key, 0) + 1
        if status not in (200, 404):
            return {"error": f"GET {path}: {status} {text[:500]!r}"}
    ended = time.perf_counter()
    return {
        "started": started,
        "ended": ended,
        "cpu": time.process_time() - cpu,
        "n": n,
        "latencies": latencies,
        "statuses": statuses,
    }


class Clients:
    """K client processes, started once (spawned, so they share nothing with this one)."""

    def __init__(
        self,
        k: int,
        base_url: str,
        database: tuple[str, str],
        token: str,
        shares: list[list[int]],
        when: list[tuple[float, float, float]],
        seed: int,
    ) -> None:
        context = multiprocessing.get_context("spawn")
        self.barrier = context.Barrier(k)
        self.tasks: list[Queue[tuple[str, int] | None]] = [context.Queue() for _ in range(k)]
        self.results: Queue[dict[str, Any]] = context.Queue()
        self.processes = [
            context.Process(
                target=client_main,
                args=(
                    i,
                    base_url,
                    database,
                    token,
                    shares[i],
                    when,
                    seed + i,
                    self.barrier,
                    self.tasks[i],
                    self.results,
                ),
                name=f"bench-client-{i}",
            )
            for i in range(k)
        ]
        for p in self.processes:
            p.start()

    def run(self, kind: str, per_client: list[int]) -> list[dict[str, Any]]:
        for queue, n in zip(self.tasks, per_client, strict=True):
            queue.put((kind, n))
        reports = []
        deadline = time.monotonic() + PHASE_TIMEOUT
        for _ in self.processes:
            report = self.results.get(timeout=max(deadline - time.monotonic(), 1.0))
            if "error" in report:
                raise RuntimeError(f"client {report['client']}: {report['error']}")
            reports.append(report)
        return reports

    def close(self) -> None:
        for queue in self.tasks:
            queue.put(None)
        for p in self.processes:
            p.join(timeout=10)
            if p.is_alive():
                p.terminate()
                p.join(timeout=5)


def split(total: int, k: int) -> list[int]:
    return [total // k + (1 if i < total % k else 0) for i in range(k)]


# -- the server --------------------------------------------------------------------------------


class Server:
    """`custody serve` in a subprocess on a free loopback port."""

    def __init__(self, url: str, log: Path, workers: int | None) -> None:
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.log_path = log
        self.log = open(log, "wb")  # noqa: SIM115  # closed in stop()
        command = [sys.executable, "-m", "api.cli", "--database-url", url, "serve"]
        command += ["--host", "127.0.0.1", "--port", str(self.port)]
        command += [] if workers is None else ["--workers", str(workers)]
        self.process = subprocess.Popen(
            command,
            cwd=ROOT,
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )
        self.http = httpx.Client(base_url=self.base_url, timeout=REQUEST_TIMEOUT)

    def health(self) -> dict[str, Any]:
        return self.http.get("/health").json()  # type: ignore[no-any-return]

    def wait_ready(self, seconds: float = 120.0) -> dict[str, Any]:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(
                    f"custody serve exited ({self.process.returncode}):\n{self.tail()}"
                )
            try:
                return self.health()
            except httpx.TransportError:
                time.sleep(0.2)
        raise RuntimeError(
            f"custody serve did not answer /health in {seconds:.0f}s:\n{self.tail()}"
        )

    def settle(self, seconds: float = 300.0) -> float:
        """Wait until every read model is at the log head; return the seconds waited."""
        started = time.perf_counter()
        deadline = time.monotonic() + seconds
        while True:
            health = self.health()
            if health["lag"] == 0:
                return time.perf_counter() - started
            if health["worker"]["last_error"]:
                raise RuntimeError(f"read-model worker: {health['worker']['last_error']}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"read models still {health['lag']} events behind")
            time.sleep(0.05)

    def cpu(self) -> float:
        return cpu_seconds(self.process.pid)

    def tail(self) -> str:
        self.log.flush()
        return self.log_path.read_text(errors="replace")[-3000:]

    def stop(self) -> None:
        self.http.close()
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        self.log.close()


# -- the run -----------------------------------------------------------------------------------


def prepare(url: str, accounts: int) -> tuple[str, float, float]:
    """Load the log, issue the admin token, rebuild the read models; return the token and the
    load and rebuild seconds."""
    started = time.perf_counter()
    loaded = load(url, 0, accounts)
    load_seconds = time.perf_counter() - started
    container = build(Settings(database_url=url))
    try:
        db = container.projector.db
        with psycopg.connect(url.split("?", 1)[0], autocommit=True) as conn:
            conn.execute(SQL("ANALYZE {}").format(Identifier(db.schema, db.events_table)))
        token = container.access.issue(TOKEN_NAME, "admin")
        print(f"loaded {loaded:,} events in {load_seconds:.0f}s; rebuilding", file=sys.stderr)
        started = time.perf_counter()
        Rebuilder(container.projector).rebuild()
        rebuild_seconds = time.perf_counter() - started
    finally:
        container.close()
    return token, load_seconds, rebuild_seconds


def measure(args: argparse.Namespace, url: str, token: str, server: Server) -> dict[str, Any]:
    k = args.clients
    width = min(args.append_accounts, args.accounts // 2)
    per_client = width // k
    if per_client < 1:
        raise SystemExit("--accounts too small for the append accounts and clients")
    # Disjoint shares of the loaded accounts: [0, width) for the library, then one per client.
    library = Appends([account_id(n) for n in range(width)])
    shares = [list(range(width + i * per_client, width + (i + 1) * per_client)) for i in range(k)]
    container = build(Settings(database_url=url))
    conninfo, schema = url.split("?", 1)[0], container.projector.db.schema
    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute(
            SQL(
                "CREATE TABLE IF NOT EXISTS {} (id BIGSERIAL PRIMARY KEY, account UUID NOT NULL, "
                "body JSONB NOT NULL, recorded_at TIMESTAMPTZ NOT NULL DEFAULT now())"
            ).format(Identifier(schema, RAW_TABLE))
        )
    database = (conninfo, schema)
    clients = Clients(k, server.base_url, database, token, shares, spans(args.accounts), args.seed)
    try:
        # Warm-up: one pass over every appender's accounts (loads them into the write caches)
        # and a few queries per client (connections, prepared statements).
        library_appends(container, library, width)
        clients.run("append", [per_client] * k)
        clients.run("raw", [per_client] * k)
        server.settle()  # reads do not wait for the projection of the warm-up's writes
        clients.run("query", [200] * k)
        server.settle()
        rounds: list[dict[str, Any]] = []

        def run_library() -> dict[str, float]:
            cpu = server.cpu()
            rate, own_cpu = library_appends(container, library, args.appends)
            return {
                "rate": rate,
                "server_cpu_us": (server.cpu() - cpu) * 1e6 / args.appends,
                "client_cpu_us": own_cpu * 1e6 / args.appends,
            }

        def run_raw() -> dict[str, float]:
            reports = clients.run("raw", split(args.appends, k))
            seconds = max(r["ended"] for r in reports) - min(r["started"] for r in reports)
            return {
                "rate": args.appends / seconds,
                "client_cpu_us": sum(r["cpu"] for r in reports) * 1e6 / args.appends,
            }

        def run_http() -> dict[str, float]:
            cpu = server.cpu()
            reports = clients.run("append", split(args.appends, k))
            seconds = max(r["ended"] for r in reports) - min(r["started"] for r in reports)
            return {
                "rate": args.appends / seconds,
                "server_cpu_us": (server.cpu() - cpu) * 1e6 / args.appends,
                "client_cpu_us": sum(r["cpu"] for r in reports) * 1e6 / args.appends,
            }

        def run_queries() -> dict[str, Any]:
            cpu = server.cpu()
            total = args.queries * k
            reports = clients.run("query", [args.queries] * k)
            seconds = max(r["ended"] for r in reports) - min(r["started"] for r in reports)
            statuses: dict[str, int] = {}
            for r in reports:
                for key, count in r["statuses"].items():
                    statuses[key] = statuses.get(key, 0) + count
            return {
                "rate": total / seconds,
                "server_cpu_us": (server.cpu() - cpu) * 1e6 / total,
                "client_cpu_us": sum(r["cpu"] for r in reports) * 1e6 / total,
                "latencies": {q: [x for r in reports for x in r["latencies"][q]] for q in QUERIES},
                "statuses": statuses,
            }

        phases: dict[str, Callable[[], dict[str, Any]]] = {
            "library": run_library,
            "http": run_http,
            "raw": run_raw,
            "queries": run_queries,
        }
        names = list(phases)
        run_started = time.monotonic()
        for r in range(args.rounds):
            if r and time.monotonic() - run_started > args.max_seconds:
                print(f"stopping after {r} rounds: --max-seconds reached", file=sys.stderr)
                break
            order = names[r % len(names) :] + names[: r % len(names)]
            results: dict[str, Any] = {}
            for name in order:
                results[name] = phases[name]()
                # The projection tail of this phase's writes, off the clock of the next one.
                results[name]["settle_s"] = server.settle()
            rounds.append(results)
            q = results["queries"]["latencies"]
            print(
                f"round {r + 1}: library {results['library']['rate']:.0f}/s, "
                f"http {results['http']['rate']:.0f}/s, raw {results['raw']['rate']:.0f}/s, "
                + ", ".join(
                    f"{name} p50 {statistics.median(q[name]):.1f}ms "
                    f"p99 {percentile(sorted(q[name]), 0.99):.1f}ms"
                    for name in QUERIES
                ),
                file=sys.stderr,
            )
    finally:
        clients.close()
        container.close()
    return summarise(args, rounds, width, per_client)


def summarise(
    args: argparse.Namespace, rounds: list[dict[str, Any]], width: int, per_client: int
) -> dict[str, Any]:
    def median(phase: str, key: str) -> float:
        return statistics.median(r[phase][key] for r in rounds)

    library = [r["library"]["rate"] for r in rounds]
    http = [r["http"]["rate"] for r in rounds]
    raw = [r["raw"]["rate"] for r in rounds]
    figures: dict[str, Any] = {
        "events_loaded": args.accounts * EVENTS_PER_ACCOUNT,
        "accounts": args.accounts,
        "clients": args.clients,
        "rounds": len(rounds),
        "appends_per_round": args.appends,
        "queries_per_round": args.queries * args.clients,
        "library_accounts": width,
        "http_accounts_per_client": per_client,
        "library_appends_per_s": statistics.median(library),
        "http_appends_per_s": statistics.median(http),
        "library_min_max": [min(library), max(library)],
        "http_min_max": [min(http), max(http)],
        "ratio_http_over_library": statistics.median(http) / statistics.median(library),
        "ratio_paired": statistics.median(h / lib for h, lib in zip(http, library, strict=True)),
        "raw_inserts_per_s": statistics.median(raw),
        "raw_min_max": [min(raw), max(raw)],
        "ratio_http_over_raw": statistics.median(http) / statistics.median(raw),
        "ratio_http_over_raw_paired": statistics.median(
            h / w for h, w in zip(http, raw, strict=True)
        ),
        "server_cpu_us_per_append": {
            "library": median("library", "server_cpu_us"),
            "http": median("http", "server_cpu_us"),
        },
        "client_cpu_us_per_request": {
            "library_append": median("library", "client_cpu_us"),
            "http_append": median("http", "client_cpu_us"),
            "raw_insert": median("raw", "client_cpu_us"),
            "query": median("queries", "client_cpu_us"),
        },
        "server_cpu_us_per_query": median("queries", "server_cpu_us"),
        "queries_per_s": median("queries", "rate"),
        "read_models_settle_s": {
            "after_library": median("library", "settle_s"),
            "after_http": median("http", "settle_s"),
            "max": max(r[p]["settle_s"] for r in rounds for p in r if "settle_s" in r[p]),
        },
        "queries": {},
    }
    statuses: dict[str, int] = {}
    for r in rounds:
        for key, count in r["queries"]["statuses"].items():
            statuses[key] = statuses.get(key, 0) + count
    figures["query_statuses"] = statuses
    for name in QUERIES:
        pooled = sorted(x for r in rounds for x in r["queries"]["latencies"][name])
        figures["queries"][name] = {
            "samples": len(pooled),
            "p50_ms": statistics.median(pooled),
            "p99_ms": percentile(pooled, 0.99),
            "p99_ms_median_of_rounds": statistics.median(
                percentile(sorted(r["queries"]["latencies"][name]), 0.99) for r in rounds
            ),
            "max_ms": pooled[-1],
        }
    return figures


def show(f: dict[str, Any]) -> None:
    lib, http = f["library_appends_per_s"], f["http_appends_per_s"]
    server, client = f["server_cpu_us_per_append"], f["client_cpu_us_per_request"]
    print(
        f"\nHTTP vs library on PostgreSQL at {f['events_loaded']:,} loaded events: "
        f"{f['clients']} client processes, {f['rounds']} rounds of {f['appends_per_round']} "
        f"appends per target and {f['queries_per_round']} queries"
    )
    print(
        f"{'appends':<22}{'median /s':>10}{'min':>7}{'max':>7}"
        f"{'server CPU us':>15}{'caller CPU us':>15}"
    )
    print(
        f"{'library (in-process)':<22}{lib:>10.0f}{f['library_min_max'][0]:>7.0f}"
        f"{f['library_min_max'][1]:>7.0f}{server['library']:>15.0f}"
        f"{client['library_append']:>15.0f}"
    )
    print(
        f"{'HTTP POST events':<22}{http:>10.0f}{f['http_min_max'][0]:>7.0f}"
        f"{f['http_min_max'][1]:>7.0f}{server['http']:>15.0f}{client['http_append']:>15.0f}"
    )
    print(
        f"{'raw INSERT (psql)':<22}{f['raw_inserts_per_s']:>10.0f}{f['raw_min_max'][0]:>7.0f}"
        f"{f['raw_min_max'][1]:>7.0f}{'':>15}{client['raw_insert']:>15.0f}"
    )
    print(
        f"HTTP / library: {f['ratio_http_over_library']:.2f} (ratio of medians), "
        f"{f['ratio_paired']:.2f} (median of per-round ratios)"
    )
    print(
        f"HTTP / raw INSERT: {f['ratio_http_over_raw']:.2f} (ratio of medians), "
        f"{f['ratio_http_over_raw_paired']:.2f} (median of per-round ratios); target >= 0.5"
    )
    print(f"{'query (HTTP)':<22}{'p50':>10}{'p99':>10}{'p99 rounds':>12}{'max':>10}{'samples':>9}")
    for name, q in f["queries"].items():
        print(
            f"{name:<22}{q['p50_ms']:>8.2f}ms{q['p99_ms']:>8.2f}ms"
            f"{q['p99_ms_median_of_rounds']:>10.2f}ms{q['max_ms']:>8.1f}ms{q['samples']:>9}"
        )
    print(
        f"queries: {f['queries_per_s']:.0f}/s in all, server CPU {f['server_cpu_us_per_query']:.0f}"
        f" us and client CPU {client['query']:.0f} us per query; target p99 <= 20 ms"
    )
    settle = f["read_models_settle_s"]
    print(
        f"read models reached the log head {settle['after_library']:.2f}s after a library round"
        f" and {settle['after_http']:.2f}s after an HTTP round ended (medians)"
    )
    print(
        "server CPU: the `custody serve` process (for library appends, only its read-model "
        "worker); caller CPU: this process (library) or all client processes (HTTP)"
    )
    print(json.dumps(f))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument(
        "--accounts", type=int, default=100_000, help="accounts loaded (10 events each)"
    )
    ap.add_argument("--clients", type=int, default=4, help="HTTP client processes")
    ap.add_argument(
        "--workers",
        type=int,
        default=None,
        help="`custody serve --workers`: API processes (default: serve's own, one per CPU on "
        "PostgreSQL)",
    )
    ap.add_argument("--rounds", type=int, default=20)
    ap.add_argument("--appends", type=int, default=400, help="appends per round, per target")
    ap.add_argument("--queries", type=int, default=250, help="queries per round, per client")
    ap.add_argument(
        "--append-accounts",
        type=int,
        default=1000,
        help="accounts the library appends to; the clients share as many again",
    )
    ap.add_argument(
        "--max-seconds", type=float, default=600.0, help="stop starting rounds after this"
    )
    ap.add_argument("--seed", type=int, default=11)
    ap.add_argument("--url", default=PG, help="a database the script may create a schema in")
    args = ap.parse_args(argv)
    if args.accounts < 2 * args.clients:
        ap.error("--accounts must be at least twice --clients")

    schema = f"bench_http_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(args.url, autocommit=True) as conn:
        conn.execute(SQL("CREATE SCHEMA {}").format(Identifier(schema)))
    sep = "&" if "?" in args.url else "?"
    url = f"{args.url}{sep}schema={schema}"
    server: Server | None = None
    tmp = tempfile.TemporaryDirectory(prefix="custody-bench-http-")
    try:
        token, load_s, rebuild_s = prepare(url, args.accounts)
        server = Server(url, Path(tmp.name) / "serve.log", args.workers)
        health = server.wait_ready()
        print(
            f"rebuilt in {rebuild_s:.0f}s; custody serve on {server.base_url} "
            f"(log head {health['log_head']}, lag {health['lag']})",
            file=sys.stderr,
        )
        figures = measure(args, url, token, server)
        figures.update(load_s=round(load_s, 1), rebuild_s=round(rebuild_s, 1))
    finally:
        if server is not None:
            server.stop()
        with psycopg.connect(args.url, autocommit=True) as conn:
            conn.execute(SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(Identifier(schema)))
        tmp.cleanup()
    show(figures)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
